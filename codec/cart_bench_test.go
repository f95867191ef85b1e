package codec_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessionkit/session/codec"
)

// cartSession returns a session as the middleware stores it for the cart
// workload: metadata, a user ID, a CSRF token and a cart of n lines, each
// value serialized with ser.
func cartSession(b *testing.B, ser codec.Serializer, n int) *codec.Data {
	d := &codec.Data{
		Created:     time.Unix(1767225600, 0),
		Deadline:    time.Unix(1767225600, 0).Add(30 * 24 * time.Hour),
		IdleTimeout: 2 * time.Hour,
		Values:      map[string][]byte{},
	}
	for k, v := range map[string]any{"cart": goldenCartOf(n)} {
		raw, err := ser.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		d.Values[k] = raw
	}
	return d
}

// BenchmarkCartPipeline is what the codec costs one request of the cart
// workload with the default pipeline of the middleware (WithSecret:
// AES-256-GCM, default serializer, compression and threshold):
//
//   - Load: Decode the stored blob and read the cart (Unmarshal into the
//     typed cart, as session.Get does);
//   - Save: serialize the cart (as Session.Set does) and Encode the session.
//
// B/blob is the size of the stored blob.
//
//	go test -run '^$' -bench CartPipeline -benchmem -count 5 ./codec
func BenchmarkCartPipeline(b *testing.B) {
	kr := mustKeyring(b, codec.AESGCM, codec.Key{ID: 1, Secret: secret(1)})
	p := mustNew(b, codec.WithKeyring(kr))
	aad := []byte("0123456789abcdef0123456789abcdef")
	for _, n := range []int{5, 20} {
		d := cartSession(b, p.Serializer(), n)
		blob, err := p.Encode(d, aad)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("items=%d/Load", n), func(b *testing.B) {
			b.ReportAllocs()
			scratch := make([]byte, len(blob))
			for b.Loop() {
				copy(scratch, blob) // Decode takes ownership
				got, err := p.Decode(scratch, aad)
				if err != nil {
					b.Fatal(err)
				}
				var c goldenCart
				if err := p.Serializer().Unmarshal(got.Values["cart"], &c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(blob)), "B/blob")
		})
		b.Run(fmt.Sprintf("items=%d/Save", n), func(b *testing.B) {
			b.ReportAllocs()
			c := goldenCartOf(n)
			for b.Loop() {
				raw, err := p.Serializer().Marshal(c)
				if err != nil {
					b.Fatal(err)
				}
				d.Values["cart"] = raw
				if _, err := p.Encode(d, aad); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(blob)), "B/blob")
		})
	}
}
