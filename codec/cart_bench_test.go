package codec_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/cputime"
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
			scratch := make([]byte, len(blob))
			cputime.Loop(b, func() {
				copy(scratch, blob) // Decode takes ownership
				got, err := p.Decode(scratch, aad)
				if err != nil {
					b.Fatal(err)
				}
				var c goldenCart
				if err := p.Serializer().Unmarshal(got.Values["cart"], &c); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(len(blob)), "B/blob")
		})
		b.Run(fmt.Sprintf("items=%d/Save", n), func(b *testing.B) {
			c := goldenCartOf(n)
			cputime.Loop(b, func() {
				raw, err := p.Serializer().Marshal(c)
				if err != nil {
					b.Fatal(err)
				}
				d.Values["cart"] = raw
				if _, err := p.Encode(d, aad); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(len(blob)), "B/blob")
		})
	}
}

// envelopeOf returns the payload the pipeline compresses for d (the
// envelope): the blob of a pipeline without compression and keyring, less
// its header and checksum.
func envelopeOf(b *testing.B, ser codec.Serializer, d *codec.Data) []byte {
	blob, err := mustNew(b, codec.WithSerializer(ser), codec.WithoutCompression()).Encode(d, nil)
	if err != nil {
		b.Fatal(err)
	}
	return blob[4+len(ser.Name()) : len(blob)-4]
}

// zstdVariant is an encoder configuration measured for the cart payload.
type zstdVariant struct {
	name string
	opts []zstd.EOption
}

var zstdVariants = []zstdVariant{
	{"fastest", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest)}},
	{"fastest-noentropy", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithNoEntropyCompression(true)}},
	{"default", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault)}},
	{"better", []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedBetterCompression)}},
}

// BenchmarkCartCompression compresses and decompresses the payload of a
// cart session of 1 to 20 lines (CBOR and JSON values) with each encoder
// configuration, with the pipeline's other encoder and decoder options.
// B/raw is the payload, B/zstd the compressed payload: the figures that
// place the compression threshold and pick the level.
//
//	go test -run '^$' -bench CartCompression -benchmem -count 5 ./codec
func BenchmarkCartCompression(b *testing.B) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(codec.DefaultMaxSize), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	for _, ser := range []codec.Serializer{codec.CBOR{}, codec.JSON{}} {
		for _, n := range []int{1, 3, 5, 10, 20} {
			env := envelopeOf(b, ser, cartSession(b, ser, n))
			for _, v := range zstdVariants {
				opts := append([]zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true)}, v.opts...)
				enc, err := zstd.NewWriter(nil, opts...)
				if err != nil {
					b.Fatal(err)
				}
				z := enc.EncodeAll(env, nil)
				name := fmt.Sprintf("%s/items=%d/%s", ser.Name(), n, v.name)
				b.Run(name+"/Compress", func(b *testing.B) {
					buf := make([]byte, 0, 2*len(env))
					cputime.Loop(b, func() { buf = enc.EncodeAll(env, buf[:0]) })
					b.ReportMetric(float64(len(env)), "B/raw")
					b.ReportMetric(float64(len(z)), "B/zstd")
				})
				b.Run(name+"/Decompress", func(b *testing.B) {
					buf := make([]byte, 0, len(env))
					cputime.Loop(b, func() {
						if buf, err = dec.DecodeAll(z, buf[:0]); err != nil {
							b.Fatal(err)
						}
					})
					b.ReportMetric(float64(len(env)), "B/raw")
					b.ReportMetric(float64(len(z)), "B/zstd")
				})
			}
		}
	}
}
