package benchmarks

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"
)

// A valueSerializer is a candidate for the serializer of session values,
// measured on a typed cart round trip.
type valueSerializer struct {
	name      string
	marshal   func(v any) ([]byte, error)
	unmarshal func(data []byte, v any) error
}

// cborDecoder decodes with limits suited to data read back from a store
// that someone else could have written: bounded nesting and lengths, no
// duplicate map keys, no indefinite lengths, no tags.
var cborDecoder = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

var cborEncoder = func() cbor.EncMode {
	em, err := cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

var serializers = []valueSerializer{
	{"encoding/json", json.Marshal, json.Unmarshal},
	{"json v2 (go-json-experiment)", func(v any) ([]byte, error) { return jsonv2.Marshal(v) },
		func(b []byte, v any) error { return jsonv2.Unmarshal(b, v) }},
	{"cbor (fxamacker, limits)", cborEncoder.Marshal, cborDecoder.Unmarshal},
	{"msgpack (vmihailenco)", msgpack.Marshal, msgpack.Unmarshal},
	{"encoding/gob (as scs, gorilla)", gobMarshal, gobUnmarshal},
}

// gobMarshal encodes v as one gob stream, type description included, as
// scs and gorilla/sessions store each session.
func gobMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

func gobUnmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// TestSerializersRoundTrip checks that every candidate gives back the cart
// it was given, and that the CBOR decoder refuses what its limits forbid.
func TestSerializersRoundTrip(t *testing.T) {
	in := newCart(cartMax)
	for _, s := range serializers {
		b, err := s.marshal(in)
		if err != nil {
			t.Fatalf("%s: marshal: %v", s.name, err)
		}
		var out Cart
		if err := s.unmarshal(b, &out); err != nil {
			t.Fatalf("%s: unmarshal: %v", s.name, err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: round trip gave %+v", s.name, out)
		}
	}
	long := Cart{Items: make([]Item, 5000)}
	b, err := cborEncoder.Marshal(long)
	if err != nil {
		t.Fatal(err)
	}
	var out Cart
	var lenErr *cbor.MaxArrayElementsError
	if err := cborDecoder.Unmarshal(b, &out); !errors.As(err, &lenErr) {
		t.Fatalf("5000-element array decoded with error %v, want MaxArrayElementsError", err)
	}
}

// serializerBench returns the encode and decode benchmarks of s on a cart
// of n lines, and the size of its blob.
func serializerBench(s valueSerializer, n int) (encode, decode func(*testing.B), size int) {
	cart := newCart(n)
	blob, err := s.marshal(cart)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", s.name, err))
	}
	encode = func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.marshal(cart); err != nil {
				b.Fatal(err)
			}
		}
	}
	decode = func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Cart
			if err := s.unmarshal(blob, &c); err != nil {
				b.Fatal(err)
			}
		}
	}
	return encode, decode, len(blob)
}

// BenchmarkSerializer encodes and decodes the 20-item cart with every
// candidate; B/blob is the size of the encoded cart.
//
//	go test -run '^$' -bench Serializer -benchmem -count 6 .
func BenchmarkSerializer(b *testing.B) {
	for _, s := range serializers {
		enc, dec, size := serializerBench(s, cartMax)
		name := benchName(s.name)
		b.Run(name+"/Encode", func(b *testing.B) {
			enc(b)
			b.ReportMetric(float64(size), "B/blob")
		})
		b.Run(name+"/Decode", func(b *testing.B) {
			dec(b)
			b.ReportMetric(float64(size), "B/blob")
		})
	}
}

// zstdLevels are the encoder levels measured.
var zstdLevels = []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression}

// cartSizes are the cart lengths of the compression measurements: they
// span the JSON sizes around a compression threshold.
var cartSizes = []int{1, 3, 5, 10, 20}

// newZstd returns an encoder with the options of the codec package's, at
// level, and a decoder.
func newZstd(level zstd.EncoderLevel) (*zstd.Encoder, *zstd.Decoder, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return enc, dec, nil
}

// zstdBench returns the compression and decompression benchmarks of the
// JSON of an n-line cart at level, and the JSON and compressed sizes.
func zstdBench(level zstd.EncoderLevel, n int) (compress, decompress func(*testing.B), raw, packed int, err error) {
	enc, dec, err := newZstd(level)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	src, err := json.Marshal(newCart(n))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	z := enc.EncodeAll(src, nil)
	compress = func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2*len(src))
		for b.Loop() {
			buf = enc.EncodeAll(src, buf[:0])
		}
	}
	decompress = func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2*len(src))
		for b.Loop() {
			var err error
			if buf, err = dec.DecodeAll(z, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
	return compress, decompress, len(src), len(z), nil
}

// BenchmarkZstd compresses and decompresses the JSON of carts of several
// lengths at each level; B/blob is the compressed size, B/raw the JSON's.
//
//	go test -run '^$' -bench Zstd -benchmem -count 6 .
func BenchmarkZstd(b *testing.B) {
	for _, level := range zstdLevels {
		for _, n := range cartSizes {
			c, d, raw, packed, err := zstdBench(level, n)
			if err != nil {
				b.Fatal(err)
			}
			name := fmt.Sprintf("%s/items=%d", level, n)
			for _, op := range []struct {
				name string
				f    func(*testing.B)
			}{{"Compress", c}, {"Decompress", d}} {
				f := op.f
				b.Run(name+"/"+op.name, func(b *testing.B) {
					f(b)
					b.ReportMetric(float64(packed), "B/blob")
					b.ReportMetric(float64(raw), "B/raw")
				})
			}
		}
	}
}

// benchName turns a table name into a sub-benchmark name.
func benchName(s string) string {
	r := strings.NewReplacer(" (", "-", ")", "", " ", "-", "/", "-", ",", "")
	return r.Replace(s)
}
