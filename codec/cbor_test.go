package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/sessionkit/session/codec"
)

// sameValue compares a decoded value with the original; times compare by
// instant and UTC offset.
func sameValue(t *testing.T, key string, got, want any) {
	t.Helper()
	if tw, ok := want.(time.Time); ok {
		tg := got.(time.Time)
		_, wo := tw.Zone()
		_, gotOff := tg.Zone()
		if !tg.Equal(tw) || wo != gotOff {
			t.Fatalf("value %q = %v, want %v", key, tg, tw)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("value %q = %#v, want %#v", key, got, want)
	}
}

func TestCBORRoundTripsGoValues(t *testing.T) {
	vals := goldenValues(20)
	vals["big"] = uint64(math.MaxUint64)
	vals["neg"] = int64(math.MinInt64)
	vals["badUTF8"] = "a\xffb"
	vals["nested"] = map[string]any{"a": []any{"x", true, nil}}
	vals["ptr"] = &goldenItem{ProductID: "p"}
	for k, v := range vals {
		b, err := codec.CBOR{}.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		got := reflect.New(reflect.TypeOf(v))
		if err := (codec.CBOR{}).Unmarshal(b, got.Interface()); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		sameValue(t, k, got.Elem().Interface(), v)
	}
}

// TestCBORAnyIsJSONLike checks what a value decodes to in an any: maps
// with string keys, integers as integers.
func TestCBORAnyIsJSONLike(t *testing.T) {
	b, err := codec.CBOR{}.Marshal(map[string]any{"n": 3, "m": map[string]int{"a": 1}, "f": 1.5, "s": []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := (codec.CBOR{}).Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": uint64(3), "m": map[string]any{"a": uint64(1)}, "f": 1.5, "s": []any{"x"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

// TestCBORKeepsJSONTypes checks that a type with its own JSON form (and no
// exported fields) survives CBOR, embedded as JSON.
func TestCBORKeepsJSONTypes(t *testing.T) {
	type order struct {
		Total money  `json:"total"`
		Note  string `json:"note"`
	}
	in := order{Total: money{cents: 12345, currency: "CHF"}, Note: "n"}
	b, err := codec.CBOR{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"123.45 CHF"`)) {
		t.Fatalf("the json.Marshaler's output is not embedded: %x", b)
	}
	var out order
	if err := (codec.CBOR{}).Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("got %+v, want %+v", out, in)
	}
}

// TestJSONReadsCBORSessions is the way back: a JSON pipeline reads blobs
// written with CBOR, both values that came from JSON sessions (unwrapped
// to their original bytes) and values written in CBOR (converted).
func TestJSONReadsCBORSessions(t *testing.T) {
	kr := goldenKeyring(t, "aesgcm")
	cb := mustNew(t, codec.WithKeyring(kr))
	js := mustNew(t, codec.WithKeyring(kr), codec.WithSerializer(codec.JSON{}))

	// Values written in CBOR.
	d := goldenData(20)
	for k, v := range goldenValues(20) {
		b, err := codec.CBOR{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d.Values[k] = b
	}
	blob, err := cb.Encode(d, goldenAAD)
	if err != nil {
		t.Fatal(err)
	}
	got, err := js.Decode(blob, goldenAAD)
	if err != nil {
		t.Fatal(err)
	}
	checkGoldenValues(t, codec.JSON{}, got, 20)

	// A JSON session that went through CBOR comes back byte for byte.
	orig := goldenData(5)
	jblob, err := js.Encode(orig, goldenAAD)
	if err != nil {
		t.Fatal(err)
	}
	viaCBOR, err := cb.Decode(jblob, goldenAAD)
	if err != nil {
		t.Fatal(err)
	}
	cblob, err := cb.Encode(viaCBOR, goldenAAD)
	if err != nil {
		t.Fatal(err)
	}
	back, err := js.Decode(cblob, goldenAAD)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalData(back, goldenData(5)); err != nil {
		t.Fatal(err)
	}
}

// TestJSONRefusesValuesWithoutJSONForm checks that a CBOR session holding a
// value JSON cannot carry is refused as a whole, with an error that makes
// the session fresh, rather than read with the value changed.
func TestJSONRefusesValuesWithoutJSONForm(t *testing.T) {
	js := mustNew(t, codec.WithSerializer(codec.JSON{}))
	for name, v := range map[string]any{
		"NaN":       math.NaN(),
		"float key": map[float64]int{1.5: 1},
		"bool key":  map[bool]int{true: 1},
	} {
		b, err := codec.CBOR{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := mustNew(t).Encode(&codec.Data{Values: map[string][]byte{"v": b}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = js.Decode(blob, nil)
		if !errors.Is(err, codec.ErrSerializerMismatch) || !codec.IsCorrupt(err) {
			t.Errorf("%s: %v, want ErrSerializerMismatch", name, err)
		}
	}
}

// hostileCBOR are values shaped to hurt a decoder: deep nesting, lengths
// that claim more than the data holds, unterminated indefinite lengths,
// broken embedded JSON.
func hostileCBOR() map[string][]byte {
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n), 0x00) }
	return map[string][]byte{
		"empty":                  {},
		"nesting 20000":          deep(20000),
		"nesting 1 MiB":          deep(1 << 20),
		"array of 2^31-1":        {0x9a, 0x7f, 0xff, 0xff, 0xff, 0x00},
		"array of 2^64-1":        {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"map of 2^31-1":          {0xba, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x00},
		"bytes of 2^32-1":        {0x5a, 0xff, 0xff, 0xff, 0xff, 0x00},
		"unterminated indef":     {0x9f, 0x01, 0x02},
		"indef map nested":       append(bytes.Repeat([]byte{0xbf, 0x61, 'a'}, 5000), 0x00),
		"trailing bytes":         {0x01, 0x02},
		"reserved head":          {0x1c},
		"break alone":            {0xff},
		"tag 262 truncated":      {0xd9, 0x01, 0x06, 0x45, '{', '}'},
		"tag 262 not JSON":       {0xd9, 0x01, 0x06, 0x42, '{', 'x'},
		"tag 262 deep JSON":      append(append([]byte{0xd9, 0x01, 0x06, 0x5a, 0x00, 0x00, 0x4e, 0x21}, bytes.Repeat([]byte("["), 20001)...), 0x5d),
		"tag 262 of text string": {0xd9, 0x01, 0x06, 0x62, '{', '}'},
		"nested tags":            append(bytes.Repeat([]byte{0xc6}, 30000), 0x00),
	}
}

type hostileTarget struct {
	Items []goldenItem `json:"items"`
	Any   any          `json:"any"`
}

// TestCBORHostileValues decodes each hostile value into an any, a typed
// cart and a slice: each is an error (or a bounded value), never a panic,
// and no decode allocates more than a small multiple of its input.
func TestCBORHostileValues(t *testing.T) {
	for name, b := range hostileCBOR() {
		targets := []any{new(any), new(hostileTarget), new([]int), new(map[string]string)}
		for _, v := range targets {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := codec.CBOR{}.Unmarshal(b, v)
			runtime.ReadMemStats(&after)
			if name != "tag 262 of text string" && err == nil {
				t.Errorf("%s into %T: no error", name, v)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > uint64(64*len(b)+64<<10) {
				t.Errorf("%s into %T: allocated %d bytes for %d bytes of input", name, v, n, len(b))
			}
		}
	}
	// Nesting within the limit decodes.
	var v any
	if err := (codec.CBOR{}).Unmarshal(append(bytes.Repeat([]byte{0x81}, 5000), 0x00), &v); err != nil {
		t.Fatalf("nesting 5000: %v", err)
	}
}

// TestCBORTag262TextIsNotJSON checks that only a byte string in tag 262 is
// taken for embedded JSON.
func TestCBORTag262TextIsNotJSON(t *testing.T) {
	var v any
	if err := (codec.CBOR{}).Unmarshal([]byte{0xd9, 0x01, 0x06, 0x62, '{', '}'}, &v); err != nil {
		t.Fatal(err)
	}
	if _, isMap := v.(map[string]any); isMap {
		t.Fatalf("a tag-262 text string was decoded as JSON: %#v", v)
	}
}

func FuzzCBORUnmarshal(f *testing.F) {
	for _, b := range hostileCBOR() {
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	for k, v := range goldenValues(5) {
		b, err := codec.CBOR{}.Marshal(v)
		if err != nil {
			f.Fatal(k, err)
		}
		f.Add(b)
		j, _ := json.Marshal(v)
		conv := codec.CBOR{}.ConvertFrom("json")
		e, _ := conv(j)
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if err := (codec.CBOR{}).Unmarshal(b, &v); err == nil {
			// What decodes encodes again.
			if _, err := (codec.CBOR{}).Marshal(v); err != nil {
				t.Fatalf("re-encode of %#v: %v", v, err)
			}
		}
		var c hostileTarget
		_ = codec.CBOR{}.Unmarshal(b, &c)
		var j json.RawMessage
		toJSON := codec.JSON{}.ConvertFrom("cbor")
		if conv, err := toJSON(b); err == nil {
			if err := json.Unmarshal(conv, &j); err != nil {
				t.Fatalf("conversion to JSON gave invalid JSON %q: %v", conv, err)
			}
		}
	})
}
