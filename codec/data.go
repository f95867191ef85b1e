package codec

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Data is the decoded content of one stored session: its metadata and its
// values, each value serialized on its own so that readers decode only what
// they ask for and concurrent change sets can be merged key by key.
type Data struct {
	// Created is when the session was first created. It survives renewal.
	Created time.Time
	// Deadline is the absolute deadline: the session is dead after it,
	// however active it is. Never zero in a stored record.
	Deadline time.Time
	// IdleTimeout overrides the manager's idle timeout for this session
	// when not zero (remember me).
	IdleTimeout time.Duration
	// Persistent reports whether the ID cookie carries Max-Age/Expires
	// (remember me) rather than being a browser-session cookie.
	Persistent bool
	// UserID is the user the session is bound to, or "".
	UserID string
	// Values maps each key to its serialized value.
	Values map[string][]byte
}

// Serializer turns one session value into bytes and back. Implementations
// must be safe for concurrent use.
type Serializer interface {
	// Name identifies the serializer in the stored format. A pipeline
	// reads blobs written with its own serializer, and blobs written with
	// another one when its serializer is a Converter that converts from it;
	// it refuses the others with ErrSerializerMismatch.
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// A Converter is a Serializer that can take over the values of sessions
// written with another serializer, so that changing the serializer of a
// running application does not make existing sessions unreadable. When a
// pipeline decodes a blob written with the serializer named from, it
// passes every value through the function ConvertFrom(from) returns; the
// session is written back with the pipeline's serializer on its next save.
//
// ConvertFrom returns nil when it cannot convert from that serializer. The
// function it returns must give a value that Unmarshal decodes into any Go
// type exactly as the serializer named from would have decoded the
// original (CBOR embeds JSON values as they are, for example). A pipeline
// calls ConvertFrom once per blob and the function it returns from one
// goroutine, for the values of that blob only; ConvertFrom itself must be
// safe for concurrent use.
type Converter interface {
	ConvertFrom(from string) func(value []byte) ([]byte, error)
}

// JSON is a Serializer using encoding/json: values readable from other
// languages, at several times the decoding cost of CBOR.
//
// JSON also reads the values of sessions written with CBOR (see Converter),
// so an application can move back from CBOR to JSON without losing its
// sessions: values that came from JSON sessions are unwrapped to their
// original JSON; the others are converted to the JSON that encoding/json
// would have written for what they hold (byte strings become base64
// strings, times RFC 3339 strings). A session holding a value without a
// JSON form (a map with non-string keys, a NaN) is refused with
// ErrSerializerMismatch.
type JSON struct{}

// Name returns "json".
func (JSON) Name() string { return "json" }

// Marshal encodes v with encoding/json.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data into v with encoding/json.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// ConvertFrom converts values written with CBOR to JSON; it returns nil for
// any other serializer.
func (JSON) ConvertFrom(name string) func([]byte) ([]byte, error) {
	if name != (CBOR{}).Name() {
		return nil
	}
	return cborToJSON
}

// cborToJSON converts one CBOR value to JSON.
func cborToJSON(v []byte) ([]byte, error) {
	if j, ok := embeddedJSON(v); ok {
		if !json.Valid(j) {
			return nil, fmt.Errorf("%w: embedded JSON is not valid", errNotJSON)
		}
		return j, nil
	}
	var x any
	if err := cborAnyDec.Unmarshal(v, &x); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotJSON, err)
	}
	x, err := jsonValue(x)
	if err != nil {
		return nil, err
	}
	j, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotJSON, err)
	}
	return j, nil
}

// jsonValue turns a value decoded from CBOR into one that encoding/json
// writes as the JSON of the original: embedded JSON items (tag 262) become
// the JSON they hold, and map keys strings, integers in decimal as
// encoding/json writes the keys of integer maps.
func jsonValue(x any) (any, error) {
	var err error
	switch x := x.(type) {
	case cbor.Tag:
		if b, ok := x.Content.([]byte); ok && x.Number == embeddedJSONTag && json.Valid(b) {
			return json.RawMessage(b), nil
		}
		return nil, fmt.Errorf("%w: tag %d", errNotJSON, x.Number)
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			var ks string
			switch k := k.(type) {
			case string:
				ks = k
			case int64, uint64:
				ks = fmt.Sprint(k)
			default:
				return nil, fmt.Errorf("%w: map key of type %T", errNotJSON, k)
			}
			if m[ks], err = jsonValue(v); err != nil {
				return nil, err
			}
		}
		return m, nil
	case []any:
		for i, v := range x {
			if x[i], err = jsonValue(v); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}
