package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// CBOR is the default Serializer: RFC 8949 CBOR through
// github.com/fxamacker/cbor/v2. On session values it decodes several times
// faster than encoding/json and its output is about a fifth smaller (see
// docs/benchmarks.md). Like JSON, it needs no type registration: Get[T]
// decodes into T, using the same struct tags as encoding/json (`cbor`
// tags, else `json` tags: names, omitempty, "-").
//
// Go values map to CBOR as follows. Integers and floats keep their kind
// (an int stays an integer, unlike JSON numbers); []byte is a byte string;
// time.Time is an RFC 3339 text string with nanoseconds and its UTC offset,
// as encoding/json writes it; types that implement encoding.TextMarshaler
// or encoding.BinaryMarshaler are stored in that form; a type that
// implements json.Marshaler (and not cbor.Marshaler) is stored as the JSON
// it produces, embedded in CBOR tag 262, and decoded with its
// UnmarshalJSON, so custom JSON types keep working. Decoded into an any,
// maps become map[string]any, integers int64 or uint64, floats float64.
//
// Decoding is bounded for data that someone else could have written:
// nesting is limited to 10000 levels (as in encoding/json), well-formedness
// is checked before anything is allocated, so array and map lengths cannot
// claim more elements than the payload holds, and a malformed value is an
// error, never a panic. Strings with invalid UTF-8 are kept as they are.
//
// CBOR also reads the values of sessions written with JSON (see
// Converter): a pipeline that uses CBOR decodes blobs written by a JSON
// pipeline, and its serializer decodes their values with encoding/json, so
// a value keeps the exact meaning it had, and the session is written back
// in CBOR.
type CBOR struct{}

// embeddedJSONTag is the CBOR tag of embedded JSON (a byte string holding
// a JSON text): 262 in the IANA CBOR tags registry.
const embeddedJSONTag = 262

// cborEmbeddedJSON is the head of a tag-262 data item: 0xD9 (tag, 2-byte
// number) 0x01 0x06.
var cborEmbeddedJSON = []byte{0xd9, 0x01, 0x06}

// cborMaxNesting is the nesting limit of decoded values, the same as
// encoding/json's.
const cborMaxNesting = 10000

// jsonEmbedder transcodes a json.Marshaler's output into a tag-262 item
// and back.
type jsonEmbedder struct{}

func (jsonEmbedder) Transcode(dst io.Writer, src io.Reader) error {
	j, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	_, err = dst.Write(appendEmbeddedJSON(nil, j))
	return err
}

// jsonExtractor hands UnmarshalJSON the JSON embedded in a tag-262 item,
// and any other CBOR item converted to JSON (a type that implements only
// json.Unmarshaler was stored in its plain CBOR form).
type jsonExtractor struct{}

func (jsonExtractor) Transcode(dst io.Writer, src io.Reader) error {
	item, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	j, err := cborToJSON(item)
	if err != nil {
		return err
	}
	_, err = dst.Write(j)
	return err
}

var cborEnc = func() cbor.EncMode {
	em, err := cbor.EncOptions{
		Time:                    cbor.TimeRFC3339Nano,
		TextMarshaler:           cbor.TextMarshalerTextString,
		JSONMarshalerTranscoder: jsonEmbedder{},
	}.EncMode()
	if err != nil {
		panic(fmt.Sprintf("codec: cbor encoder options: %v", err))
	}
	return em
}()

var cborDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:           cborMaxNesting,
		MaxArrayElements:          math.MaxInt32,
		MaxMapPairs:               math.MaxInt32,
		DefaultMapType:            reflect.TypeFor[map[string]any](),
		UTF8:                      cbor.UTF8DecodeInvalid,
		TextUnmarshaler:           cbor.TextUnmarshalerTextString,
		JSONUnmarshalerTranscoder: jsonExtractor{},
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("codec: cbor decoder options: %v", err))
	}
	return dm
}()

// cborAnyDec decodes CBOR into the generic values that the conversion to
// JSON walks: maps of any keys.
var cborAnyDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  cborMaxNesting,
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
		UTF8:             cbor.UTF8DecodeInvalid,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("codec: cbor decoder options: %v", err))
	}
	return dm
}()

// Name returns "cbor".
func (CBOR) Name() string { return "cbor" }

// Marshal encodes v as one CBOR data item.
func (CBOR) Marshal(v any) ([]byte, error) { return cborEnc.Marshal(v) }

// Unmarshal decodes the CBOR data item data into v, which must be a
// pointer. A value converted from a JSON session (embedded JSON, tag 262)
// is decoded with encoding/json.
func (CBOR) Unmarshal(data []byte, v any) error {
	if j, ok := embeddedJSON(data); ok {
		return json.Unmarshal(j, v)
	}
	return cborDec.Unmarshal(data, v)
}

// ConvertFrom converts values written with JSON: each one is embedded, as
// it is, in a tag-262 data item, which Unmarshal decodes with
// encoding/json. It returns nil for any other serializer. A pipeline calls
// it once per blob; the function it returns is not safe for concurrent use.
func (CBOR) ConvertFrom(name string) func([]byte) ([]byte, error) {
	if name != (JSON{}).Name() {
		return nil
	}
	// The values of one blob share buffers of at least 1 KiB rather than
	// taking one allocation each.
	var arena []byte
	return func(v []byte) ([]byte, error) {
		need := len(cborEmbeddedJSON) + 9 + len(v)
		if cap(arena)-len(arena) < need {
			arena = make([]byte, 0, max(need, 1024))
		}
		start := len(arena)
		arena = appendEmbeddedJSON(arena, v)
		return arena[start:len(arena):len(arena)], nil
	}
}

// appendEmbeddedJSON appends j as a tag-262 byte string.
func appendEmbeddedJSON(b, j []byte) []byte {
	b = append(b, cborEmbeddedJSON...)
	b = appendCBORHead(b, 0x40, uint64(len(j)))
	return append(b, j...)
}

// appendCBORHead appends the head of a CBOR item of major type major (its
// top three bits, already shifted) and argument n, in the shortest form.
func appendCBORHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, major|27), n)
}

// embeddedJSON returns the JSON text of item if item is exactly one
// tag-262 byte string.
func embeddedJSON(item []byte) ([]byte, bool) {
	if !bytes.HasPrefix(item, cborEmbeddedJSON) || len(item) < 4 {
		return nil, false
	}
	rest := item[3:]
	if rest[0]>>5 != 2 { // not a byte string
		return nil, false
	}
	n, hl, ok := cborArg(rest)
	if !ok || n != uint64(len(rest)-hl) {
		return nil, false
	}
	return rest[hl:], true
}

// cborArg reads the argument of the head at the start of b: its value and
// the head's length.
func cborArg(b []byte) (n uint64, headLen int, ok bool) {
	ai := b[0] & 0x1f
	switch {
	case ai < 24:
		return uint64(ai), 1, true
	case ai == 24 && len(b) >= 2:
		return uint64(b[1]), 2, true
	case ai == 25 && len(b) >= 3:
		return uint64(binary.BigEndian.Uint16(b[1:])), 3, true
	case ai == 26 && len(b) >= 5:
		return uint64(binary.BigEndian.Uint32(b[1:])), 5, true
	case ai == 27 && len(b) >= 9:
		return binary.BigEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}

// errNotJSON reports a CBOR value that JSON cannot carry.
var errNotJSON = errors.New("codec: cbor value has no JSON form")
