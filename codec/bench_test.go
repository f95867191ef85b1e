package codec_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sessionkit/session/codec"
)

// benchData builds a session of about size bytes of JSON values that look
// like real session content: cart lines, a CSRF token, flash messages,
// preferences.
func benchData(size int) *codec.Data {
	r := rand.New(rand.NewPCG(42, uint64(size)))
	d := &codec.Data{
		Created:     time.Unix(1767225600, 0),
		Deadline:    time.Unix(1767225600, 0).Add(30 * 24 * time.Hour),
		IdleTimeout: 2 * time.Hour,
		UserID:      "user-1842",
		Values:      map[string][]byte{},
	}
	d.Values["csrf"], _ = json.Marshal(fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()))
	d.Values["theme"] = []byte(`"dark"`)
	total := 0
	for _, v := range d.Values {
		total += len(v) + 8
	}
	for i := 0; total < size-60; i++ {
		item, _ := json.Marshal(cartLine(r, i))
		if total+len(item)+8 > size {
			item = item[:max(size-total-8, 1)]
		}
		k := fmt.Sprintf("item:%d", i)
		d.Values[k] = item
		total += len(item) + len(k) + 2
	}
	return d
}

type benchLine struct {
	ProductID string  `json:"product_id"`
	Name      string  `json:"name"`
	Price     float64 `json:"price"`
	Currency  string  `json:"currency"`
	Quantity  int     `json:"quantity"`
	AddedAt   string  `json:"added_at"`
}

var productNames = []string{
	"Organic Cotton T-Shirt", "Stainless Steel Water Bottle 750ml", "Wireless Noise-Cancelling Headphones",
	"Ceramic Pour-Over Coffee Dripper", "Merino Wool Hiking Socks (3 pack)", "LED Desk Lamp with USB-C",
	"Recycled Paper Notebook A5", "Bamboo Cutting Board Large", "Running Shoes Men's 42", "Cast Iron Skillet 26cm",
}

func cartLine(r *rand.Rand, i int) benchLine {
	return benchLine{
		ProductID: fmt.Sprintf("SKU-%06d", r.IntN(1e6)),
		Name:      productNames[r.IntN(len(productNames))],
		Price:     float64(r.IntN(20000)) / 100,
		Currency:  "EUR",
		Quantity:  1 + r.IntN(4),
		AddedAt:   time.Unix(1767225600+int64(i)*97, 0).UTC().Format(time.RFC3339),
	}
}

var benchSizes = []struct {
	name string
	size int
}{{"200B", 200}, {"2KiB", 2 << 10}, {"20KiB", 20 << 10}, {"200KiB", 200 << 10}}

func benchModes(b *testing.B) []combo {
	kr := mustKeyring(b, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)})
	return []combo{
		{"plain", []codec.Option{codec.WithoutCompression()}},
		{"zstd", []codec.Option{codec.WithCompression(0)}},
		{"aesgcm", []codec.Option{codec.WithoutCompression(), codec.WithKeyring(kr)}},
		{"zstd+aesgcm", []codec.Option{codec.WithCompression(0), codec.WithKeyring(kr)}},
	}
}

func payloadSize(b *testing.B, d *codec.Data) int {
	p := mustNew(b, codec.WithoutCompression())
	blob, err := p.Encode(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	return len(blob)
}

func BenchmarkEncode(b *testing.B) {
	aad := []byte("0123456789abcdef0123456789abcdef")
	for _, s := range benchSizes {
		d := benchData(s.size)
		n := payloadSize(b, d)
		for _, m := range benchModes(b) {
			b.Run(s.name+"/"+m.name, func(b *testing.B) {
				p := mustNew(b, m.opts...)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Encode(d, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	aad := []byte("0123456789abcdef0123456789abcdef")
	for _, s := range benchSizes {
		d := benchData(s.size)
		n := payloadSize(b, d)
		for _, m := range benchModes(b) {
			b.Run(s.name+"/"+m.name, func(b *testing.B) {
				p := mustNew(b, m.opts...)
				blob, err := p.Encode(d, aad)
				if err != nil {
					b.Fatal(err)
				}
				// Decode takes ownership of its input (it may decrypt in
				// place), as it would of a blob fresh from the store; the
				// copy is part of what is measured only for encrypted blobs.
				buf := make([]byte, len(blob))
				encrypted := m.name == "aesgcm" || m.name == "zstd+aesgcm"
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					in := blob
					if encrypted {
						copy(buf, blob)
						in = buf
					}
					if _, err := p.Decode(in, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// shoppingCart is the example app's cart with 30 items, stored as one JSON
// value, plus the usual small values.
func shoppingCart() *codec.Data {
	r := rand.New(rand.NewPCG(7, 30))
	lines := make([]benchLine, 30)
	for i := range lines {
		lines[i] = cartLine(r, i)
	}
	cart, _ := json.Marshal(lines)
	return &codec.Data{
		Created: time.Unix(1767225600, 0), Deadline: time.Unix(1769817600, 0), UserID: "user-1842",
		Values: map[string][]byte{
			"cart":  cart,
			"csrf":  []byte(`"9f86d081884c7d659a2feaa0c55ad015"`),
			"flash": []byte(`"Added to cart"`),
		},
	}
}

func BenchmarkShoppingCartRatio(b *testing.B) {
	d := shoppingCart()
	raw := payloadSize(b, d)
	p := mustNew(b, codec.WithCompression(0))
	blob, err := p.Encode(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(raw))
	for b.Loop() {
		if _, err := p.Encode(d, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(raw), "raw-B")
	b.ReportMetric(float64(len(blob)), "stored-B")
	b.ReportMetric(float64(raw)/float64(len(blob)), "ratio")
}

func TestShoppingCartCompressionRatio(t *testing.T) {
	d := shoppingCart()
	plain, _ := mustNew(t, codec.WithoutCompression()).Encode(d, nil)
	comp, _ := mustNew(t).Encode(d, nil)
	t.Logf("30-item cart: %d bytes uncompressed, %d compressed, ratio %.2f", len(plain), len(comp), float64(len(plain))/float64(len(comp)))
	if len(comp) >= len(plain) {
		t.Fatalf("cart did not compress: %d >= %d", len(comp), len(plain))
	}
}
