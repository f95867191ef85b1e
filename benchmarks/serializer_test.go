package benchmarks

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessionkit/session/codec"
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
	{"codec.CBOR (the default)", codec.CBOR{}.Marshal, codec.CBOR{}.Unmarshal},
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
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := s.marshal(cart); err != nil {
				b.Fatal(err)
			}
		}
	}
	decode = func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var c Cart
			if err := s.unmarshal(blob, &c); err != nil {
				b.Fatal(err)
			}
		}
	}
	return encode, decode, len(blob)
}

// processCPU returns the CPU time (user and system, all threads) the
// process has used, from /proc/self/stat in clock ticks of 10 ms; false
// where that file does not exist (outside Linux).
func processCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command name (which may hold spaces) start
	// with the state; utime and stime are the 12th and 13th of them.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// reportCPU starts measuring the process's CPU time and returns the
// function that reports it per iteration (cpu-ns/op): on a shared machine
// wall-clock time includes the time other processes held the CPU, CPU time
// does not. Its resolution is 10 ms over the whole benchmark.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkSerializer encodes and decodes the 5- and 20-item carts with
// every candidate; B/blob is the size of the encoded cart.
//
//	go test -run '^$' -bench Serializer -benchmem -count 6 .
func BenchmarkSerializer(b *testing.B) {
	for _, n := range []int{5, cartMax} {
		for _, s := range serializers {
			enc, dec, size := serializerBench(s, n)
			name := fmt.Sprintf("items=%d/%s", n, benchName(s.name))
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
}

// hostileInput is data shaped to hurt a decoder, in one candidate's format.
type hostileInput struct {
	name string
	data []byte
	// child: decode it in a child process, because it kills the process
	// that decodes it.
	child bool
}

func nested(open []byte, n int, end ...byte) []byte {
	return append(bytes.Repeat(open, n), end...)
}

// hostileInputs returns, by candidate name, inputs in its format: deep
// nesting, lengths that claim far more than the input holds, truncated and
// corrupted carts.
func hostileInputs(s valueSerializer) []hostileInput {
	valid, err := s.marshal(newCart(cartMax))
	if err != nil {
		panic(err)
	}
	flipped := bytes.Clone(valid)
	for i := 0; i < len(flipped); i += 7 {
		flipped[i] ^= 0x5a
	}
	common := []hostileInput{
		{"truncated cart", valid[:len(valid)/2], false},
		{"corrupted cart", flipped, false},
	}
	var own []hostileInput
	switch {
	case strings.Contains(s.name, "json"):
		own = []hostileInput{
			{"nesting 1 MiB", nested([]byte("["), 1<<20), false},
			{"nesting 9000", append(nested([]byte("["), 9000), bytes.Repeat([]byte("]"), 9000)...), false},
			{"number 1e999999", []byte(`{"items":[{"price":1e999999}]}`), false},
		}
	case strings.Contains(s.name, "cbor") || strings.Contains(s.name, "CBOR"):
		own = []hostileInput{
			{"nesting 1 MiB", nested([]byte{0x81}, 1<<20, 0), false},
			{"nesting 9000", nested([]byte{0x81}, 9000, 0), false},
			{"array claims 2^31-1", []byte{0xa1, 0x65, 'i', 't', 'e', 'm', 's', 0x9a, 0x7f, 0xff, 0xff, 0xff, 0}, false},
			{"map claims 2^31-1", []byte{0xba, 0x7f, 0xff, 0xff, 0xff, 0, 0}, false},
			{"bytes claim 4 GiB", []byte{0x5a, 0xff, 0xff, 0xff, 0xff, 0}, false},
			{"unterminated indefinite", []byte{0x9f, 1, 2}, false},
		}
	case strings.Contains(s.name, "msgpack"):
		own = []hostileInput{
			{"nesting 1 MiB", nested([]byte{0x91}, 1<<20, 0xc0), false},
			{"nesting 9000", nested([]byte{0x91}, 9000, 0xc0), false},
			{"array claims 2^32-1", []byte{0x81, 0xa5, 'i', 't', 'e', 'm', 's', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, true},
			{"map claims 2^32-1", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}, true},
			{"bytes claim 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0}, true},
		}
	case strings.Contains(s.name, "gob"):
		own = []hostileInput{
			{"length claims 2^62", append([]byte{0xf8, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, valid...), false},
		}
	}
	return append(own, common...)
}

// hostileOutcome is what one decode of a hostile input did.
type hostileOutcome struct {
	err       error
	panicked  any
	allocated uint64
}

func decodeHostile(s valueSerializer, data []byte, v any) (out hostileOutcome) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	defer func() {
		runtime.ReadMemStats(&after)
		out.allocated = after.TotalAlloc - before.TotalAlloc
		out.panicked = recover()
	}()
	out.err = s.unmarshal(data, v)
	return out
}

// hostileChildEnv names the serializer and input a child process of
// TestSerializersHostileInput decodes.
const hostileChildEnv = "SESSIONKIT_HOSTILE_DECODE"

// TestHostileDecodeChild is the child: it decodes one hostile input into a
// Cart and exits; run by TestSerializersHostileInput for the inputs that
// can kill the process (a fatal out-of-memory error cannot be recovered).
func TestHostileDecodeChild(t *testing.T) {
	spec := os.Getenv(hostileChildEnv)
	if spec == "" {
		t.Skip("run by TestSerializersHostileInput")
	}
	ser, input, _ := strings.Cut(spec, "|")
	for _, s := range serializers {
		for _, in := range hostileInputs(s) {
			if s.name == ser && in.name == input {
				o := decodeHostile(s, in.data, new(Cart))
				fmt.Printf("outcome err=%v panic=%v allocated=%d\n", o.err, o.panicked, o.allocated)
				return
			}
		}
	}
	t.Fatalf("no input %q", spec)
}

// decodeInChild decodes one input in a child process and reports how it
// ended.
func decodeInChild(t *testing.T, s valueSerializer, in hostileInput) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileDecodeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), hostileChildEnv+"="+s.name+"|"+in.name)
	out, err := cmd.CombinedOutput()
	switch {
	case bytes.Contains(out, []byte("out of memory")):
		return "process died: out of memory"
	case err != nil:
		return "process died: " + err.Error()
	case bytes.Contains(out, []byte("err=<nil>")):
		return "decoded"
	}
	return "error"
}

// TestSerializersHostileInput decodes inputs shaped to hurt each decoder
// into a typed cart and, except for gob, into an any, and logs what
// happened: an error, a panic, the bytes allocated. The session's
// serializer (codec.CBOR) must return an error without panicking and
// allocate at most a small multiple of the input; the other candidates are
// reported, not judged.
//
//	go test -run TestSerializersHostileInput -v .
func TestSerializersHostileInput(t *testing.T) {
	t.Logf("%-32s %-26s %-8s %-8s %12s", "serializer", "input", "target", "outcome", "allocated")
	for _, s := range serializers {
		for _, in := range hostileInputs(s) {
			if in.child {
				t.Logf("%-32s %-26s %-8s %s", s.name, in.name, "Cart", decodeInChild(t, s, in))
				continue
			}
			targets := []any{new(Cart), new(any)}
			if strings.Contains(s.name, "gob") {
				targets = targets[:1]
			}
			for _, v := range targets {
				o := decodeHostile(s, in.data, v)
				outcome := "error"
				switch {
				case o.panicked != nil:
					outcome = "PANIC"
				case o.err == nil:
					outcome = "decoded"
				}
				target := "Cart"
				if _, ok := v.(*any); ok {
					target = "any"
				}
				t.Logf("%-32s %-26s %-8s %-8s %12d", s.name, in.name, target, outcome, o.allocated)
				if s.name != "codec.CBOR (the default)" {
					continue
				}
				if o.panicked != nil || (o.err == nil && in.name != "nesting 9000") {
					t.Errorf("%s, %s into %s: %s (%v)", s.name, in.name, target, outcome, o.err)
				}
				if limit := uint64(64*len(in.data) + 64<<10); o.allocated > limit {
					t.Errorf("%s, %s into %s: allocated %d bytes, more than %d", s.name, in.name, target, o.allocated, limit)
				}
			}
		}
	}
}

// A zstdVariant is an encoder configuration measured on the cart payload.
type zstdVariant struct {
	name string
	opts []zstd.EOption
}

// zstdVariants are the encoder configurations measured, the codec's first:
// its fastest level without entropy coding of literals (codec/pipeline.go),
// then the fastest and the default level with it.
var zstdVariants = []zstdVariant{
	{"SpeedFastest, no entropy (codec)", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithNoEntropyCompression(true)}},
	{"SpeedFastest", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest)}},
	{"SpeedDefault", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault)}},
}

// cartSizes are the cart lengths of the compression measurements: their
// payloads span the codec's compression threshold.
var cartSizes = []int{1, 3, 5, 10, 20}

// newZstd returns an encoder of variant v with the codec's framing options
// (no checksum, single segment), and a decoder with the codec's limits.
func newZstd(v zstdVariant) (*zstd.Encoder, *zstd.Decoder, error) {
	opts := append([]zstd.EOption{
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true),
	}, v.opts...)
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("zstd encoder %s: %w", v.name, err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(codec.DefaultMaxSize), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return enc, dec, nil
}

// cartData is the session the middleware stores for a cart of n lines:
// its metadata and the cart serialized with the codec's default
// serializer (CBOR).
func cartData(n int) (*codec.Data, error) {
	raw, err := codec.CBOR{}.Marshal(newCart(n))
	if err != nil {
		return nil, err
	}
	created := time.Unix(1767225600, 0)
	return &codec.Data{
		Created:     created,
		Deadline:    created.Add(24 * time.Hour),
		IdleTimeout: 2 * time.Hour,
		Values:      map[string][]byte{"cart": raw},
	}, nil
}

// blobContent returns what a blob of a pipeline without keyring holds
// between its header and its checksum: the payload, compressed or not.
func blobContent(p *codec.Pipeline, d *codec.Data) ([]byte, error) {
	blob, err := p.Encode(d, nil)
	if err != nil {
		return nil, err
	}
	return blob[4+len(p.Serializer().Name()) : len(blob)-4], nil
}

// cartPayload returns the payload the codec compresses for a cart of n
// lines (the envelope: metadata and CBOR values).
func cartPayload(n int) ([]byte, error) {
	d, err := cartData(n)
	if err != nil {
		return nil, err
	}
	p, err := codec.New(codec.WithoutCompression())
	if err != nil {
		return nil, err
	}
	return blobContent(p, d)
}

// TestZstdVariantIsTheCodecs checks that the first variant compresses the
// cart payload to the very bytes the codec stores, so that the published
// table measures the codec's configuration.
func TestZstdVariantIsTheCodecs(t *testing.T) {
	p, err := codec.New(codec.WithCompression(0))
	if err != nil {
		t.Fatal(err)
	}
	enc, _, err := newZstd(zstdVariants[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{10, cartMax} {
		d, err := cartData(n)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := blobContent(p, d)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := cartPayload(n)
		if err != nil {
			t.Fatal(err)
		}
		if z := enc.EncodeAll(payload, nil); !bytes.Equal(z, stored) {
			t.Errorf("%d lines: %s gives %d bytes, the codec stores %d other bytes", n, zstdVariants[0].name, len(z), len(stored))
		}
	}
}

// zstdBench returns the compression and decompression benchmarks of the
// payload of an n-line cart session with variant v, and the payload's and
// the compressed sizes.
func zstdBench(v zstdVariant, n int) (compress, decompress func(*testing.B), raw, packed int, err error) {
	enc, dec, err := newZstd(v)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	src, err := cartPayload(n)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	z := enc.EncodeAll(src, nil)
	compress = func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		buf := make([]byte, 0, 2*len(src))
		for b.Loop() {
			buf = enc.EncodeAll(src, buf[:0])
		}
	}
	decompress = func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
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

// BenchmarkZstd compresses and decompresses the payload of cart sessions
// of several lengths (CBOR values) with each encoder configuration; B/blob
// is the compressed size, B/raw the payload's.
//
//	go test -run '^$' -bench Zstd -benchmem -count 6 .
func BenchmarkZstd(b *testing.B) {
	for _, v := range zstdVariants {
		for _, n := range cartSizes {
			c, d, raw, packed, err := zstdBench(v, n)
			if err != nil {
				b.Fatal(err)
			}
			name := fmt.Sprintf("%s/items=%d", benchName(v.name), n)
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
