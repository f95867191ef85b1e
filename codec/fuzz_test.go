package codec_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/sessionkit/session/codec"
)

// fuzzMaxSize is the maximum payload size of the fuzzed pipelines.
const fuzzMaxSize = 64 << 10

// fuzzAllocBudget bounds what one Decode may allocate: the maximum size
// plus the zstd decoder's per-block scratch.
const fuzzAllocBudget = 2*fuzzMaxSize + 256<<10

func fuzzPipelines(t testing.TB) []*codec.Pipeline {
	aes := mustKeyring(t, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)}, codec.Key{ID: 2, Secret: secret(2)})
	xc := mustKeyring(t, codec.XChaCha20Poly1305, codec.Key{ID: 3, Secret: secret(3)})
	return []*codec.Pipeline{
		mustNew(t, codec.WithMaxSize(fuzzMaxSize), codec.WithCompression(32)),
		mustNew(t, codec.WithMaxSize(fuzzMaxSize), codec.WithCompression(32), codec.WithPadding(64), codec.WithKeyring(aes)),
		mustNew(t, codec.WithMaxSize(fuzzMaxSize), codec.WithoutCompression(), codec.WithKeyring(xc)),
		mustNew(t, codec.WithMaxSize(fuzzMaxSize), codec.WithSerializer(codec.Gob{})),
		mustNew(t, codec.WithMaxSize(fuzzMaxSize), codec.WithCompression(32), codec.WithSerializer(codec.JSON{})),
	}
}

var fuzzAAD = []byte("fuzz-session")

func FuzzDecode(f *testing.F) {
	ps := fuzzPipelines(f)
	seeds := []*codec.Data{
		{},
		{Created: time.Unix(1700000000, 0), Deadline: time.Unix(1800000000, 0), Persistent: true, UserID: "u",
			Values: map[string][]byte{"a": []byte(`"x"`), "": nil, "b": bytes.Repeat([]byte("ab"), 100)}},
		{Values: map[string][]byte{"big": bytes.Repeat([]byte("0123456789"), 500)}},
	}
	// Sessions of real values in each serializer, so that the fuzzer
	// starts from blobs whose values decode (CBOR carts, the JSON a
	// release before CBOR wrote, which CBOR pipelines convert).
	for _, ser := range []codec.Serializer{codec.CBOR{}, codec.JSON{}} {
		d := goldenData(5)
		for k, v := range goldenValues(5) {
			b, err := ser.Marshal(v)
			if err != nil {
				f.Fatal(err)
			}
			d.Values[k] = b
		}
		for _, p := range ps {
			w := mustNew(f, codec.WithMaxSize(fuzzMaxSize), codec.WithSerializer(ser), codec.WithCompression(32))
			if p.Serializer().Name() == ser.Name() {
				w = p
			}
			if blob, err := w.Encode(d, fuzzAAD); err == nil {
				f.Add(blob)
			}
		}
	}
	for _, p := range ps {
		for _, d := range seeds {
			blob, err := p.Encode(d, fuzzAAD)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(blob)
			f.Add(blob[:len(blob)/2])
			f.Add(blob[:len(blob)-1])
			for _, i := range []int{0, 1, 2, 3, 8, len(blob) / 2, len(blob) - 1} {
				b := clone(blob)
				b[i] ^= 0x10
				f.Add(b)
			}
		}
		// Compressed content sealed with a known key, so the fuzzer can
		// reach the decompressor behind the authentication.
		f.Add(p.SealRaw(codec.FlagZstd, zstdBomb(f, 1<<20, false), fuzzAAD))
		f.Add(p.SealRaw(codec.FlagZstd, zstdBomb(f, 1<<20, true), fuzzAAD))
		f.Add(p.SealRaw(0, []byte{0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01}, fuzzAAD))
	}
	f.Add([]byte{})
	f.Add([]byte{0xC5, 1, 0, 4, 'j', 's', 'o', 'n'})
	// Warm up each pipeline's decoder so the measurement below sees only
	// what one Decode allocates.
	for _, p := range ps {
		blob, err := p.Encode(seeds[2], fuzzAAD)
		if err != nil {
			f.Fatal(err)
		}
		if _, err := p.Decode(blob, fuzzAAD); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, blob []byte) {
		for _, p := range ps {
			in := clone(blob) // Decode takes ownership
			var d *codec.Data
			var err error
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d, err = p.Decode(in, fuzzAAD)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > fuzzAllocBudget {
				t.Fatalf("Decode of %d bytes allocated %d bytes", len(blob), n)
			}
			if err != nil {
				if !codec.IsCorrupt(err) {
					t.Fatalf("error not IsCorrupt: %v", err)
				}
				if d != nil {
					t.Fatal("data returned with an error")
				}
				continue
			}
			// Values decode with the pipeline's serializer, or fail with an
			// error; they never panic.
			for _, v := range d.Values {
				if p.Serializer().Name() == "gob" {
					break
				}
				var a any
				_ = p.Serializer().Unmarshal(v, &a)
				var c goldenCart
				_ = p.Serializer().Unmarshal(v, &c)
			}
			// Whatever decodes must encode again and decode to the same.
			again, err := p.Encode(d, fuzzAAD)
			if err != nil {
				if errors.Is(err, codec.ErrTooLarge) {
					continue
				}
				t.Fatalf("re-encode: %v", err)
			}
			d2, err := p.Decode(again, fuzzAAD)
			if err != nil {
				t.Fatalf("decode of re-encoded blob: %v", err)
			}
			if err := equalData(d2, d); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	ps := fuzzPipelines(f)
	f.Add("user", []byte("key"), []byte("value"), int64(1700000000000000000), int64(3600e9), true)
	f.Add("", []byte{}, []byte{}, int64(0), int64(-1), false)
	f.Fuzz(func(t *testing.T, user string, key, value []byte, created, idle int64, persistent bool) {
		d := &codec.Data{
			UserID:      user,
			IdleTimeout: time.Duration(idle),
			Persistent:  persistent,
			Values:      map[string][]byte{string(key): value, string(key) + "/2": bytes.Repeat(value, 3)},
		}
		if created != 0 {
			d.Created = time.Unix(0, created)
		}
		for _, p := range ps {
			blob, err := p.Encode(d, fuzzAAD)
			if err != nil {
				if errors.Is(err, codec.ErrTooLarge) {
					continue
				}
				t.Fatal(err)
			}
			got, err := p.Decode(blob, fuzzAAD)
			if err != nil {
				t.Fatal(err)
			}
			if err := equalData(got, d); err != nil {
				t.Fatal(err)
			}
		}
	})
}
