package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/codec"
)

// The golden blobs in testdata/golden were written by the release whose
// default value serializer was JSON (format version 1, serializer "json").
// They must stay readable by every later release: sessions stored before an
// upgrade stay valid after it. Regenerating them with a later release would
// defeat the test; -golden.write exists to document how they were made.
var goldenWrite = flag.Bool("golden.write", false, "rewrite testdata/golden with the current code (only for a new format)")

// goldenAAD is the associated data (session ID hash) the blobs are bound to.
var goldenAAD = []byte("golden-session-id-hash")

type goldenItem struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Price     int    `json:"price"`
	Quantity  int    `json:"quantity"`
}

type goldenCart struct {
	Items []goldenItem `json:"items"`
}

func goldenCartOf(n int) goldenCart {
	c := goldenCart{Items: []goldenItem{}}
	for i := range n {
		c.Items = append(c.Items, goldenItem{
			ProductID: "sku-" + strconv.Itoa(1000+i),
			Name:      "Product " + strconv.Itoa(i),
			Price:     100 * (i%50 + 1),
			Quantity:  i%5 + 1,
		})
	}
	return c
}

// money has only unexported fields and its own JSON form: a serializer that
// ignored json.Marshaler would lose it.
type money struct {
	cents    int64
	currency string
}

func (m money) MarshalJSON() ([]byte, error) {
	return json.Marshal(fmt.Sprintf("%d.%02d %s", m.cents/100, m.cents%100, m.currency))
}

func (m *money) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	var units, cents int64
	if _, err := fmt.Sscanf(s, "%d.%02d %s", &units, &cents, &m.currency); err != nil {
		return err
	}
	m.cents = units*100 + cents
	return nil
}

// goldenValues are the typed values of the golden sessions, as session.Set
// stored them: each one serialized on its own with JSON.
func goldenValues(cartItems int) map[string]any {
	return map[string]any{
		"cart":    goldenCartOf(cartItems),
		"count":   42,
		"ratio":   12.5,
		"name":    "Zoë <&>",
		"raw":     []byte{0, 1, 2, 0xff},
		"when":    time.Date(2026, 11, 30, 12, 34, 56, 789000000, time.FixedZone("", 3600)),
		"tags":    map[string]int{"a": 1, "b": 2},
		"ids":     map[int]string{1: "one", 20: "twenty"},
		"flag":    true,
		"nothing": (*string)(nil),
		"price":   money{cents: 1999, currency: "EUR"},
		"csrf":    "k7bA2m9Qx1R4tZ8wV0yH3nC6pL5sD2fG",
	}
}

func goldenData(cartItems int) *codec.Data {
	d := &codec.Data{
		Created:     time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC),
		Deadline:    time.Date(2026, 12, 30, 12, 0, 0, 123456789, time.UTC),
		IdleTimeout: 90 * time.Minute,
		Persistent:  true,
		UserID:      "user-42",
		Values:      map[string][]byte{},
	}
	for k, v := range goldenValues(cartItems) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		d.Values[k] = b
	}
	return d
}

// goldenKeyrings are the keyrings of the golden pipelines, by name.
func goldenKeyring(t testing.TB, name string) *codec.Keyring {
	switch name {
	case "aesgcm":
		return mustKeyring(t, codec.AESGCM, codec.Key{ID: 7, Secret: secret(7)})
	case "xchacha":
		return mustKeyring(t, codec.XChaCha20Poly1305, codec.Key{ID: 9, Secret: secret(9)})
	}
	return nil
}

// goldenCase is one golden blob: how it was written.
type goldenCase struct {
	file      string
	cartItems int
	keyring   string // "", "aesgcm", "xchacha"
	opts      []codec.Option
	flags     byte // format flags the blob must carry
}

var goldenCases = []goldenCase{
	{file: "plain-5.blob", cartItems: 5, opts: []codec.Option{codec.WithoutCompression()}},
	{file: "default-20.blob", cartItems: 20, flags: codec.FlagZstd},
	{file: "zstd-5.blob", cartItems: 5, opts: []codec.Option{codec.WithCompression(0)}, flags: codec.FlagZstd},
	{file: "aesgcm-5.blob", cartItems: 5, keyring: "aesgcm", flags: codec.FlagEncrypted},
	{file: "aesgcm-zstd-20.blob", cartItems: 20, keyring: "aesgcm", flags: codec.FlagEncrypted | codec.FlagZstd},
	{file: "aesgcm-zstd-padded-20.blob", cartItems: 20, keyring: "aesgcm", opts: []codec.Option{codec.WithPadding(256)},
		flags: codec.FlagEncrypted | codec.FlagZstd | codec.FlagPadded},
	{file: "xchacha-zstd-5.blob", cartItems: 5, keyring: "xchacha", opts: []codec.Option{codec.WithCompression(0)},
		flags: codec.FlagEncrypted | codec.FlagZstd},
}

func goldenOpts(t testing.TB, c goldenCase, extra ...codec.Option) []codec.Option {
	opts := append([]codec.Option{}, c.opts...)
	if kr := goldenKeyring(t, c.keyring); kr != nil {
		opts = append(opts, codec.WithKeyring(kr))
	}
	return append(opts, extra...)
}

func TestWriteGolden(t *testing.T) {
	if !*goldenWrite {
		t.Skip("run with -golden.write to rewrite testdata/golden")
	}
	for _, c := range goldenCases {
		p := mustNew(t, goldenOpts(t, c, codec.WithSerializer(codec.JSON{}))...)
		blob, err := p.Encode(goldenData(c.cartItems), goldenAAD)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "golden", c.file), blob, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readGolden(t *testing.T, c goldenCase) []byte {
	t.Helper()
	blob, err := os.ReadFile(filepath.Join("testdata", "golden", c.file))
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) < 8 || !bytes.Equal(blob[3:8], []byte("\x04json")) {
		t.Fatalf("%s is not a json blob", c.file)
	}
	if blob[2] != c.flags {
		t.Fatalf("%s has flags %#02x, want %#02x", c.file, blob[2], c.flags)
	}
	return blob
}

// checkGoldenValues decodes every value of d with ser, into the type it was
// stored from, and compares it with the original.
func checkGoldenValues(t *testing.T, ser codec.Serializer, d *codec.Data, cartItems int) {
	t.Helper()
	want := goldenValues(cartItems)
	if len(d.Values) != len(want) {
		t.Fatalf("%d values, want %d", len(d.Values), len(want))
	}
	for k, w := range want {
		raw, ok := d.Values[k]
		if !ok {
			t.Fatalf("value %q missing", k)
		}
		got := reflect.New(reflect.TypeOf(w))
		if err := ser.Unmarshal(raw, got.Interface()); err != nil {
			t.Fatalf("value %q: %v", k, err)
		}
		g := got.Elem().Interface()
		if tw, ok := w.(time.Time); ok {
			tg := g.(time.Time)
			_, wo := tw.Zone()
			_, gotOff := tg.Zone()
			if !tg.Equal(tw) || wo != gotOff {
				t.Fatalf("value %q = %v, want %v", k, tg, tw)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("value %q = %#v, want %#v", k, g, w)
		}
	}
	m := goldenData(cartItems)
	m.Values = d.Values
	if err := equalData(d, m); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenBlobsStayReadable decodes the blobs written by the JSON release
// with a pipeline of today's defaults (and the same keyring), reads every
// value back into its Go type through the pipeline's serializer, as
// session.Get does, then writes the session again with the pipeline's own
// serializer and reads that back too.
func TestGoldenBlobsStayReadable(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.file, func(t *testing.T) {
			for _, ser := range []codec.Serializer{nil, codec.JSON{}} {
				var extra []codec.Option
				name := "default"
				if ser != nil {
					extra = append(extra, codec.WithSerializer(ser))
					name = ser.Name()
				}
				t.Run(name, func(t *testing.T) {
					p := mustNew(t, goldenOpts(t, c, extra...)...)
					d, err := p.Decode(readGolden(t, c), goldenAAD)
					if err != nil {
						t.Fatal(err)
					}
					checkGoldenValues(t, p.Serializer(), d, c.cartItems)
					// The next write uses the pipeline's serializer.
					again, err := p.Encode(d, goldenAAD)
					if err != nil {
						t.Fatal(err)
					}
					if n := p.Serializer().Name(); !bytes.Equal(again[4:4+len(n)], []byte(n)) || int(again[3]) != len(n) {
						t.Fatalf("re-encoded blob names serializer %q, want %q", again[4:4+int(again[3])], n)
					}
					d2, err := p.Decode(again, goldenAAD)
					if err != nil {
						t.Fatal(err)
					}
					checkGoldenValues(t, p.Serializer(), d2, c.cartItems)
				})
			}
		})
	}
}

// TestGoldenBlobsAuthenticated checks that the golden blobs are still bound
// to their session: another ID hash or another key does not open them.
func TestGoldenBlobsAuthenticated(t *testing.T) {
	for _, c := range goldenCases {
		if c.keyring == "" {
			continue
		}
		p := mustNew(t, goldenOpts(t, c)...)
		if _, err := p.Decode(readGolden(t, c), []byte("another-session")); !errors.Is(err, codec.ErrAuthFailed) {
			t.Fatalf("%s under another ID hash: %v, want ErrAuthFailed", c.file, err)
		}
	}
}
