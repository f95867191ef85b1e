package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sessionkit/session/codec"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustKeyring(t testing.TB, c codec.Cipher, keys ...codec.Key) *codec.Keyring {
	t.Helper()
	kr, err := codec.NewKeyring(c, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustNew(t testing.TB, opts ...codec.Option) *codec.Pipeline {
	t.Helper()
	p, err := codec.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// equalData compares two Data; a nil Values map equals an empty one.
func equalData(a, b *codec.Data) error {
	if !a.Created.Equal(b.Created) || !a.Deadline.Equal(b.Deadline) ||
		a.IdleTimeout != b.IdleTimeout || a.Persistent != b.Persistent || a.UserID != b.UserID {
		return fmt.Errorf("metadata differs:\n got  %v %v %v %v %q\n want %v %v %v %v %q",
			a.Created, a.Deadline, a.IdleTimeout, a.Persistent, a.UserID,
			b.Created, b.Deadline, b.IdleTimeout, b.Persistent, b.UserID)
	}
	if len(a.Values) != len(b.Values) {
		return fmt.Errorf("%d values, want %d", len(a.Values), len(b.Values))
	}
	for k, v := range b.Values {
		got, ok := a.Values[k]
		if !ok || !bytes.Equal(got, v) {
			return fmt.Errorf("value %q = %q (present %v), want %q", k, got, ok, v)
		}
	}
	return nil
}

type cartItem struct {
	ID    string
	Name  string
	Price int64
	Qty   int
	Tags  []string
}

// randomData builds a session whose values are typed Go values serialized
// with s; it returns the typed values too.
func randomData(t testing.TB, r *rand.Rand, s codec.Serializer) (*codec.Data, map[string]any) {
	t.Helper()
	d := &codec.Data{
		IdleTimeout: time.Duration(r.Int64N(int64(48 * time.Hour))),
		Persistent:  r.IntN(2) == 0,
	}
	if r.IntN(4) != 0 {
		d.Created = time.Unix(0, r.Int64N(4e18)-1e18)
		d.Deadline = d.Created.Add(time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
	}
	if r.IntN(2) == 0 {
		d.UserID = fmt.Sprintf("user-%d-ü", r.IntN(1e6))
	}
	typed := map[string]any{}
	n := r.IntN(12)
	if r.IntN(10) == 0 {
		n = 200 + r.IntN(200)
	}
	for i := range n {
		var v any
		switch r.IntN(5) {
		case 0:
			v = strings.Repeat(string(rune('a'+r.IntN(26))), r.IntN(3000))
		case 1:
			v = r.Int64()
		case 2:
			v = cartItem{ID: fmt.Sprint(r.Uint64()), Name: "Ünïcode \x00 name", Price: r.Int64N(1e6), Qty: r.IntN(9), Tags: []string{"a", "b"}}
		case 3:
			b := make([]byte, r.IntN(500))
			for j := range b {
				b[j] = byte(r.UintN(256))
			}
			v = b
		case 4:
			v = ""
		}
		key := fmt.Sprintf("k%d-%d", i, r.IntN(1000))
		if i == 0 && r.IntN(3) == 0 {
			key = "" // the empty key is a valid key
		}
		typed[key] = v
	}
	d.Values = make(map[string][]byte, len(typed))
	for k, v := range typed {
		b, err := s.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d.Values[k] = b
	}
	return d, typed
}

type combo struct {
	name string
	opts []codec.Option
}

func combos(t testing.TB) []combo {
	var out []combo
	for _, ser := range []codec.Serializer{codec.CBOR{}, codec.JSON{}, codec.Gob{}} {
		for _, comp := range []bool{false, true} {
			for _, ciph := range []string{"none", "aes", "xchacha"} {
				for _, pad := range []int{0, 256} {
					opts := []codec.Option{codec.WithSerializer(ser), codec.WithPadding(pad)}
					if comp {
						opts = append(opts, codec.WithCompression(64))
					} else {
						opts = append(opts, codec.WithoutCompression())
					}
					switch ciph {
					case "aes":
						opts = append(opts, codec.WithKeyring(mustKeyring(t, codec.AESGCM, codec.Key{ID: 7, Secret: secret(7)})))
					case "xchacha":
						opts = append(opts, codec.WithKeyring(mustKeyring(t, codec.XChaCha20Poly1305, codec.Key{ID: 9, Secret: secret(9)})))
					}
					out = append(out, combo{fmt.Sprintf("%s/zstd=%v/%s/pad=%d", ser.Name(), comp, ciph, pad), opts})
				}
			}
		}
	}
	return out
}

func TestRoundTripEveryCombination(t *testing.T) {
	for _, c := range combos(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, c.opts...)
			r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			for i := range 60 {
				d, typed := randomData(t, r, p.Serializer())
				aad := []byte(fmt.Sprintf("session-hash-%d", i))
				blob, err := p.Encode(d, aad)
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.Decode(blob, aad)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if err := equalData(got, d); err != nil {
					t.Fatal(err)
				}
				for k, want := range typed {
					switch want.(type) {
					case cartItem:
						var v cartItem
						if err := p.Serializer().Unmarshal(got.Values[k], &v); err != nil {
							t.Fatal(err)
						}
						if fmt.Sprint(v) != fmt.Sprint(want) {
							t.Fatalf("value %q = %v, want %v", k, v, want)
						}
					case int64:
						var v int64
						if err := p.Serializer().Unmarshal(got.Values[k], &v); err != nil || v != want {
							t.Fatalf("value %q = %v (%v), want %v", k, v, err, want)
						}
					}
				}
			}
		})
	}
}

func TestDecodedValuesAreIndependent(t *testing.T) {
	p := mustNew(t, codec.WithoutCompression())
	blob, err := p.Encode(&codec.Data{Values: map[string][]byte{"a": []byte("1"), "b": []byte("2")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Decode(blob, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to one value must not overwrite the next entry.
	_ = append(d.Values["a"], "xxxxxxxx"...)
	_ = append(d.Values["b"], "yyyyyyyy"...)
	if string(d.Values["a"]) != "1" || string(d.Values["b"]) != "2" || len(d.Values) != 2 {
		t.Fatalf("values changed: %q", d.Values)
	}
}

func TestPlaintextDoesNotAppearInEncryptedBlob(t *testing.T) {
	const token = "csrf-7f3a9c2e5b1d4f60a8e2c9d7b3f1a5e4"
	for _, c := range combos(t) {
		if strings.Contains(c.name, "none") {
			continue
		}
		p := mustNew(t, c.opts...)
		v, _ := p.Serializer().Marshal(token)
		d := &codec.Data{UserID: "alice@example.com", Values: map[string][]byte{"csrf_token": v, "pad": bytes.Repeat([]byte("x"), 2000)}}
		blob, err := p.Encode(d, []byte("h"))
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{token, token[:8], "csrf_token", "alice@example.com", "xxxxxxxx"} {
			if bytes.Contains(blob, []byte(needle)) {
				t.Errorf("%s: blob contains %q", c.name, needle)
			}
		}
	}
}

func TestKeyRotation(t *testing.T) {
	for _, ciph := range []codec.Cipher{codec.AESGCM, codec.XChaCha20Poly1305} {
		t.Run(ciph.String(), func(t *testing.T) {
			oldKey := codec.Key{ID: 1, Secret: secret(1)}
			newKey := codec.Key{ID: 2, Secret: secret(2)}
			d := &codec.Data{UserID: "u", Values: map[string][]byte{"a": []byte(`"old"`)}}
			aad := []byte("sid-hash")

			before := mustNew(t, codec.WithKeyring(mustKeyring(t, ciph, oldKey)))
			oldBlob, err := before.Encode(d, aad)
			if err != nil {
				t.Fatal(err)
			}

			rotated := mustNew(t, codec.WithKeyring(mustKeyring(t, ciph, newKey, oldKey)))
			got, err := rotated.Decode(clone(oldBlob), aad)
			if err != nil {
				t.Fatalf("old blob unreadable after rotation: %v", err)
			}
			if err := equalData(got, d); err != nil {
				t.Fatal(err)
			}
			newBlob, err := rotated.Encode(d, aad)
			if err != nil {
				t.Fatal(err)
			}
			// New writes name key 2: the old pipeline cannot read them.
			if _, err := before.Decode(clone(newBlob), aad); !errors.Is(err, codec.ErrUnknownKey) {
				t.Fatalf("old pipeline reading a new blob: %v, want ErrUnknownKey", err)
			}

			retired := mustNew(t, codec.WithKeyring(mustKeyring(t, ciph, newKey)))
			if _, err := retired.Decode(clone(newBlob), aad); err != nil {
				t.Fatal(err)
			}
			_, err = retired.Decode(clone(oldBlob), aad)
			if !errors.Is(err, codec.ErrUnknownKey) || !codec.IsCorrupt(err) {
				t.Fatalf("blob of a removed key: %v, want ErrUnknownKey", err)
			}

			// Same ID, different secret: authentication fails.
			reused := mustNew(t, codec.WithKeyring(mustKeyring(t, ciph, codec.Key{ID: 1, Secret: secret(3)})))
			if _, err := reused.Decode(clone(oldBlob), aad); !errors.Is(err, codec.ErrAuthFailed) {
				t.Fatalf("reused key ID: %v, want ErrAuthFailed", err)
			}
		})
	}
}

func TestWrongAADFailsAuthentication(t *testing.T) {
	for _, c := range combos(t) {
		if strings.Contains(c.name, "none") {
			continue
		}
		p := mustNew(t, c.opts...)
		blob, err := p.Encode(&codec.Data{Values: map[string][]byte{"k": []byte("1")}}, []byte("session-A"))
		if err != nil {
			t.Fatal(err)
		}
		for _, aad := range [][]byte{[]byte("session-B"), nil, []byte("session-A\x00")} {
			_, err := p.Decode(clone(blob), aad)
			if !errors.Is(err, codec.ErrAuthFailed) || !codec.IsCorrupt(err) {
				t.Fatalf("%s: aad %q: %v, want ErrAuthFailed", c.name, aad, err)
			}
		}
	}
}

func TestRefusalsBetweenConfigurations(t *testing.T) {
	aes := mustKeyring(t, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)})
	xc := mustKeyring(t, codec.XChaCha20Poly1305, codec.Key{ID: 1, Secret: secret(1)})
	plain := mustNew(t)
	gob := mustNew(t, codec.WithSerializer(codec.Gob{}))
	withAES := mustNew(t, codec.WithKeyring(aes))
	withX := mustNew(t, codec.WithKeyring(xc))
	d := &codec.Data{Values: map[string][]byte{"k": []byte("1")}}
	enc := func(p *codec.Pipeline) []byte {
		b, err := p.Encode(d, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		w, r *codec.Pipeline
		want error
	}{
		{"plain blob, keyring pipeline", plain, withAES, codec.ErrAuthFailed},
		{"encrypted blob, no keyring", withAES, plain, codec.ErrUnknownKey},
		{"AES blob, XChaCha keyring", withAES, withX, codec.ErrUnknownKey},
		{"cbor blob, gob pipeline", plain, gob, codec.ErrSerializerMismatch},
		{"gob blob, cbor pipeline", gob, plain, codec.ErrSerializerMismatch},
		{"gob blob, json pipeline", gob, mustNew(t, codec.WithSerializer(codec.JSON{})), codec.ErrSerializerMismatch},
	}
	for _, c := range cases {
		_, err := c.r.Decode(enc(c.w), nil)
		if !errors.Is(err, c.want) || !codec.IsCorrupt(err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestUnknownVersionAndFlags(t *testing.T) {
	p := mustNew(t)
	blob, err := p.Encode(&codec.Data{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(b []byte){
		func(b []byte) { b[1] = 2 },
		func(b []byte) { b[1] = 0 },
		func(b []byte) { b[2] |= 0x40 },
	} {
		b := clone(blob)
		mut(b)
		_, err := p.Decode(b, nil)
		if !errors.Is(err, codec.ErrUnsupportedVersion) || !codec.IsCorrupt(err) {
			t.Errorf("%v, want ErrUnsupportedVersion", err)
		}
	}
	for _, foreign := range [][]byte{nil, {}, []byte(`{"a":1}`), []byte("\xc5"), []byte("MTY5ODc2NTQzMnxEdi1CQkFFQ180SUFBUkFCRUFBQUJQXy1BQUE9fA==")} {
		_, err := p.Decode(foreign, nil)
		if !errors.Is(err, codec.ErrCorrupt) || !codec.IsCorrupt(err) {
			t.Errorf("foreign data %q: %v, want ErrCorrupt", foreign, err)
		}
	}
}

// TestEveryBitFlipIsDetected flips each bit of blobs of every combination:
// Decode must return an error (the AEAD tag or the CRC-32C catches it),
// never panic and never return data.
func TestEveryBitFlipIsDetected(t *testing.T) {
	for _, c := range combos(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, c.opts...)
			d := &codec.Data{Created: time.Unix(1700000000, 5), UserID: "u", Values: map[string][]byte{
				"a": []byte(`"hello"`), "b": bytes.Repeat([]byte("0123456789"), 20),
			}}
			blob, err := p.Encode(d, []byte("aad"))
			if err != nil {
				t.Fatal(err)
			}
			for i := range len(blob) * 8 {
				b := clone(blob)
				b[i/8] ^= 1 << (i % 8)
				got, err := p.Decode(b, []byte("aad"))
				if err == nil {
					t.Fatalf("flip of bit %d accepted: %+v", i, got)
				}
				if !codec.IsCorrupt(err) {
					t.Fatalf("flip of bit %d: IsCorrupt(%v) = false", i, err)
				}
			}
			for n := range len(blob) {
				if _, err := p.Decode(clone(blob[:n]), []byte("aad")); err == nil || !codec.IsCorrupt(err) {
					t.Fatalf("truncation to %d bytes: %v", n, err)
				}
			}
		})
	}
}

func TestPaddingHidesExactLength(t *testing.T) {
	kr := mustKeyring(t, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)})
	p := mustNew(t, codec.WithKeyring(kr), codec.WithPadding(512), codec.WithCompression(0))
	lengths := map[int]bool{}
	for n := range 300 {
		blob, err := p.Encode(&codec.Data{Values: map[string][]byte{"v": []byte(strings.Repeat("q", n) + fmt.Sprint(n*7919))}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		lengths[len(blob)] = true
	}
	if len(lengths) != 1 {
		t.Fatalf("blob lengths %v, want a single bucket", lengths)
	}
}

func TestEncodeTooLarge(t *testing.T) {
	p := mustNew(t, codec.WithMaxSize(4096))
	d := &codec.Data{Values: map[string][]byte{"big": make([]byte, 4096)}}
	_, err := p.Encode(d, nil)
	if !errors.Is(err, codec.ErrTooLarge) {
		t.Fatalf("%v, want ErrTooLarge", err)
	}
	if codec.IsCorrupt(err) {
		t.Fatal("IsCorrupt true for an Encode error")
	}
	d.Values["big"] = make([]byte, 4000)
	if _, err := p.Encode(d, nil); err != nil {
		t.Fatalf("payload under the limit: %v", err)
	}
	// A larger pipeline's blob is refused by the smaller one.
	big := mustNew(t, codec.WithoutCompression())
	blob, err := big.Encode(&codec.Data{Values: map[string][]byte{"big": make([]byte, 8000)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Decode(blob, nil); !errors.Is(err, codec.ErrTooLarge) || !codec.IsCorrupt(err) {
		t.Fatalf("oversized blob: %v, want ErrTooLarge", err)
	}
}

func TestEncodeRejectsUnrepresentableTime(t *testing.T) {
	p := mustNew(t)
	_, err := p.Encode(&codec.Data{Deadline: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, nil)
	if err == nil {
		t.Fatal("year 3000 accepted")
	}
	if _, err := p.Encode(nil, nil); err == nil {
		t.Fatal("nil Data accepted")
	}
}

// zstdBomb compresses n zero bytes; withSize records the content size in
// the frame header, otherwise the size is unknown until decoded.
func zstdBomb(t testing.TB, n int64, withSize bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if withSize {
		w.ResetContentSize(&buf, n)
	} else {
		w.Reset(&buf)
	}
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(zeros)) {
		if _, err := w.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns how many bytes of heap f allocated.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestZstdBombIsRefusedWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 1 GiB")
	}
	const gib = 1 << 30
	bombs := map[string][]byte{
		"declared size": zstdBomb(t, gib, true),
		"unknown size":  zstdBomb(t, gib, false),
	}
	kr := mustKeyring(t, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)})
	pipelines := map[string]*codec.Pipeline{
		"plain":     mustNew(t),
		"encrypted": mustNew(t, codec.WithKeyring(kr)),
	}
	for bn, bomb := range bombs {
		for pn, p := range pipelines {
			t.Run(bn+"/"+pn, func(t *testing.T) {
				t.Logf("bomb: %d bytes compressed", len(bomb))
				blob := p.SealRaw(codec.FlagZstd, bomb, []byte("aad"))
				// Warm up the pipeline's decoder with a legitimate blob.
				warm, err := p.Encode(&codec.Data{Values: map[string][]byte{"v": make([]byte, 4096)}}, []byte("aad"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Decode(warm, []byte("aad")); err != nil {
					t.Fatal(err)
				}
				var derr error
				n := allocated(func() { _, derr = p.Decode(blob, []byte("aad")) })
				if !errors.Is(derr, codec.ErrTooLarge) || !codec.IsCorrupt(derr) {
					t.Fatalf("Decode: %v, want ErrTooLarge", derr)
				}
				t.Logf("allocated %d bytes (max size %d)", n, p.MaxSize())
				if n > 3*uint64(p.MaxSize()) {
					t.Fatalf("allocated %d bytes decoding a bomb, max size is %d", n, p.MaxSize())
				}
			})
		}
	}
}

func TestDecodeAllocations(t *testing.T) {
	d := &codec.Data{Created: time.Now(), Deadline: time.Now().Add(time.Hour), UserID: "user-42", Values: map[string][]byte{
		"csrf": []byte(`"abcdef0123456789"`), "cart": []byte(`[1,2,3]`), "flash": []byte(`"saved"`), "theme": []byte(`"dark"`),
	}}
	plain := mustNew(t)
	blob, err := plain.Encode(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := plain.Decode(blob, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("plain decode: %.0f allocs", allocs)
	if allocs > 4 {
		t.Errorf("plain decode of a small session: %.0f allocations, want at most 4", allocs)
	}
	kr := mustKeyring(t, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)})
	enc := mustNew(t, codec.WithKeyring(kr))
	eblob, err := enc.Encode(d, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(eblob))
	allocs = testing.AllocsPerRun(200, func() {
		copy(buf, eblob) // Decode decrypts in place
		if _, err := enc.Decode(buf, []byte("aad")); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("encrypted decode: %.0f allocs", allocs)
	if allocs > 4 {
		t.Errorf("encrypted decode of a small session: %.0f allocations, want at most 4", allocs)
	}
	allocs = testing.AllocsPerRun(200, func() {
		if _, err := enc.Encode(d, []byte("aad")); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("encrypted encode: %.0f allocs", allocs)
	if allocs > 1 {
		t.Errorf("encrypted encode of a small session: %.0f allocations, want 1", allocs)
	}
}

func TestConcurrentUse(t *testing.T) {
	kr := mustKeyring(t, codec.XChaCha20Poly1305, codec.Key{ID: 1, Secret: secret(1)})
	p := mustNew(t, codec.WithKeyring(kr), codec.WithCompression(0), codec.WithPadding(128))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for range 50 {
				d, _ := randomData(t, r, p.Serializer())
				blob, err := p.Encode(d, []byte{byte(g)})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := p.Decode(blob, []byte{byte(g)})
				if err != nil {
					t.Error(err)
					return
				}
				if err := equalData(got, d); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewValidatesOptions(t *testing.T) {
	for name, opt := range map[string]codec.Option{
		"nil serializer":     codec.WithSerializer(nil),
		"empty name":         codec.WithSerializer(namedSerializer("")),
		"long name":          codec.WithSerializer(namedSerializer(strings.Repeat("n", 256))),
		"negative threshold": codec.WithCompression(-1),
		"negative padding":   codec.WithPadding(-1),
		"huge padding":       codec.WithPadding(codec.MaxPaddingBucket + 1),
		"zero max size":      codec.WithMaxSize(0),
		"huge max size":      codec.WithMaxSize(2 << 30),
		"nil keyring":        codec.WithKeyring(nil),
	} {
		if _, err := codec.New(opt); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

type namedSerializer string

func (n namedSerializer) Name() string              { return string(n) }
func (namedSerializer) Marshal(any) ([]byte, error) { return nil, nil }
func (namedSerializer) Unmarshal([]byte, any) error { return nil }

func TestNewKeyringValidates(t *testing.T) {
	ok := codec.Key{ID: 1, Secret: secret(1)}
	for name, f := range map[string]func() (*codec.Keyring, error){
		"no keys": func() (*codec.Keyring, error) { return codec.NewKeyring(codec.AESGCM) },
		"short secret": func() (*codec.Keyring, error) {
			return codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: make([]byte, 16)})
		},
		"long secret": func() (*codec.Keyring, error) {
			return codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: make([]byte, 33)})
		},
		"duplicate ID": func() (*codec.Keyring, error) {
			return codec.NewKeyring(codec.AESGCM, ok, codec.Key{ID: 1, Secret: secret(2)})
		},
		"bad cipher": func() (*codec.Keyring, error) { return codec.NewKeyring(codec.Cipher(9), ok) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	kr := mustKeyring(t, codec.XChaCha20Poly1305, codec.Key{ID: 5, Secret: secret(5)}, ok)
	if ids := kr.KeyIDs(); len(ids) != 2 || ids[0] != 5 || ids[1] != 1 || kr.Cipher() != codec.XChaCha20Poly1305 {
		t.Fatalf("KeyIDs %v, cipher %v", ids, kr.Cipher())
	}
}

func TestDeriveKey(t *testing.T) {
	s := secret(42)
	a, err := codec.DeriveKey(s, "cookie-signing")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := codec.DeriveKey(s, "store-encryption")
	a2, _ := codec.DeriveKey(s, "cookie-signing")
	if len(a) != 32 || len(b) != 32 || bytes.Equal(a, b) || !bytes.Equal(a, a2) {
		t.Fatalf("keys %x %x %x", a, b, a2)
	}
	if _, err := codec.DeriveKey(make([]byte, 31), "x"); err == nil {
		t.Error("31-byte secret accepted")
	}
	if _, err := codec.DeriveKey(s, ""); err == nil {
		t.Error("empty purpose accepted")
	}
	if _, err := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: b}); err != nil {
		t.Fatal(err)
	}
}

func TestIsCorruptWhenWrapped(t *testing.T) {
	p := mustNew(t)
	_, err := p.Decode([]byte("garbage!"), nil)
	wrapped := fmt.Errorf("load session: %w", err)
	if !codec.IsCorrupt(wrapped) || !errors.Is(wrapped, codec.ErrCorrupt) {
		t.Fatalf("wrapped %v", wrapped)
	}
	for _, e := range []error{codec.ErrUnsupportedVersion, codec.ErrUnknownKey, codec.ErrAuthFailed, codec.ErrCorrupt, codec.ErrSerializerMismatch} {
		if !codec.IsCorrupt(fmt.Errorf("x: %w", e)) {
			t.Errorf("IsCorrupt(%v) = false", e)
		}
	}
	if codec.IsCorrupt(nil) || codec.IsCorrupt(io.EOF) || codec.IsCorrupt(codec.ErrTooLarge) {
		t.Error("IsCorrupt true for an unrelated error")
	}
}
