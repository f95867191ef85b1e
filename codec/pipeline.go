package codec

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Defaults of a Pipeline built by New without options.
const (
	// DefaultCompressionThreshold is the payload size in bytes from which a
	// payload is compressed: 512 bytes. On the cart workload (see
	// docs/benchmarks.md) a 10-line cart (about 580 bytes in CBOR) shrinks
	// by two thirds for about 2 µs per write and 0.5 µs per read; a 5-line
	// cart (about 310 bytes) would save 150 bytes at the same cost per
	// read, and is stored as it is.
	DefaultCompressionThreshold = 512
	// DefaultMaxSize is the default maximum payload size in bytes: 1 MiB.
	DefaultMaxSize = 1 << 20
	// MaxPaddingBucket is the largest bucket WithPadding accepts: 64 KiB.
	MaxPaddingBucket = 64 << 10
	// maxMaxSize is the largest value WithMaxSize accepts: 1 GiB.
	maxMaxSize = 1 << 30
)

// Stored format constants (see the package documentation).
const (
	magic         = 0xC5
	formatVersion = 1

	flagZstd      = 0x01
	flagPadded    = 0x02
	flagEncrypted = 0x04
	knownFlags    = flagZstd | flagPadded | flagEncrypted

	crcSize = 4
	tagSize = 16 // both AEADs
	// maxHeader bounds the header: magic, version, flags, name length, a
	// 255-byte serializer name, cipher, key ID, a 24-byte nonce.
	maxHeader = 4 + 255 + 1 + 4 + 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type config struct {
	serializer Serializer
	compress   bool
	threshold  int
	padding    int
	maxSize    int
	keyring    *Keyring
}

// Option configures a Pipeline. Options are applied in order by New, which
// reports the first invalid one.
type Option func(*config) error

// WithSerializer sets the Serializer that the session's values are written
// with; the default is CBOR{}. The serializer's name is stored in every
// blob. Decode reads blobs written with another serializer when s is a
// Converter from it (CBOR and JSON convert from each other, so sessions
// written before a change between them stay valid and are written back
// with s on their next save); it refuses the others with
// ErrSerializerMismatch, which makes those sessions fresh. The name must be
// 1 to 255 bytes long.
func WithSerializer(s Serializer) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("codec: WithSerializer(nil)")
		}
		if n := len(s.Name()); n == 0 || n > 255 {
			return fmt.Errorf("codec: serializer name %q must be 1 to 255 bytes", s.Name())
		}
		c.serializer = s
		return nil
	}
}

// WithCompression compresses (zstd) every payload of at least threshold
// bytes; smaller payloads are stored as they are. The default is on, with a
// threshold of 512 bytes (DefaultCompressionThreshold). threshold 0 compresses every payload. A payload
// that does not get smaller is stored uncompressed. Decode reads compressed
// blobs whatever this setting.
//
// Security: compression makes the blob's length depend on the content. When
// a session holds both a secret (a CSRF token, an API token, personal data)
// and values an attacker can influence (a search term, a form field echoed
// into the session), an attacker who can make many requests and observe the
// stored size or the encrypted blob's length can guess the secret byte by
// byte, as in the CRIME and BREACH attacks on TLS and HTTP compression.
// Encryption does not prevent this, because it preserves length. WithPadding
// blurs the length to a bucket and makes the attack much more expensive, but
// does not remove it. For sessions that mix secrets with attacker-influenced
// data, use WithoutCompression.
func WithCompression(threshold int) Option {
	return func(c *config) error {
		if threshold < 0 {
			return fmt.Errorf("codec: compression threshold %d is negative", threshold)
		}
		c.compress = true
		c.threshold = threshold
		return nil
	}
}

// WithoutCompression disables compression of new blobs (see WithCompression
// for when that is needed). Compressed blobs written earlier remain readable.
func WithoutCompression() Option {
	return func(c *config) error {
		c.compress = false
		return nil
	}
}

// WithPadding pads the (compressed) payload to a multiple of bucket bytes
// before encryption, so that the blob length only reveals the size bucket of
// the session, not its exact size. This mitigates length side channels, in
// particular the compression side channel described at WithCompression, at
// the price of up to bucket bytes of storage per session. The default is no
// padding; bucket 0 also means no padding. bucket must be at most 65536
// (MaxPaddingBucket). Padding is only meaningful together with a keyring:
// without encryption the content is readable anyway.
func WithPadding(bucket int) Option {
	return func(c *config) error {
		if bucket < 0 || bucket > MaxPaddingBucket {
			return fmt.Errorf("codec: padding bucket %d out of range [0, %d]", bucket, MaxPaddingBucket)
		}
		c.padding = bucket
		return nil
	}
}

// WithMaxSize sets the maximum payload size in bytes: the size of the
// serialized session before compression (metadata, keys and values). The
// default is 1 MiB (DefaultMaxSize); n must be between 1 and 1 GiB.
//
// Encode refuses a larger session with ErrTooLarge. Decode refuses, with
// ErrTooLarge, a blob longer than the maximum plus the format overhead
// (header, tag or checksum, compression framing and padding bucket) and a
// blob whose decompressed payload would exceed the maximum; it stops before
// allocating more than about the maximum, so a compression bomb costs at
// most that much memory.
func WithMaxSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxMaxSize {
			return fmt.Errorf("codec: max size %d out of range [1, %d]", n, maxMaxSize)
		}
		c.maxSize = n
		return nil
	}
}

// WithKeyring encrypts every new blob with the keyring's newest key and
// decrypts with any of its keys. Without a keyring (the default) blobs are
// not encrypted and not authenticated: whoever can read the store reads the
// session values, and whoever can write it can forge sessions. A pipeline
// with a keyring refuses unencrypted blobs (ErrAuthFailed), so enabling
// encryption makes existing unencrypted sessions fresh.
func WithKeyring(k *Keyring) Option {
	return func(c *config) error {
		if k == nil {
			return errors.New("codec: WithKeyring(nil)")
		}
		c.keyring = k
		return nil
	}
}

// Pipeline turns session Data into stored blobs and back: serialize, then
// compress (above a threshold), pad, encrypt; and in reverse on Decode, with
// authentication before any decompression. A Pipeline is immutable after New
// and safe for concurrent use.
type Pipeline struct {
	ser       Serializer
	compress  bool
	threshold int
	padding   int
	maxSize   int
	maxBlob   int
	keyring   *Keyring
	// hdr is the header of new blobs with the flags byte holding only
	// flagEncrypted and the nonce left zero.
	hdr []byte

	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error
}

// New returns a Pipeline configured by opts. Without options it serializes
// with CBOR, compresses payloads of 512 bytes and more, does not pad, does not
// encrypt, and refuses payloads over 1 MiB. New reports invalid options; a
// Pipeline never fails later because of its configuration.
func New(opts ...Option) (*Pipeline, error) {
	c := config{
		serializer: CBOR{},
		compress:   true,
		threshold:  DefaultCompressionThreshold,
		maxSize:    DefaultMaxSize,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	p := &Pipeline{
		ser:       c.serializer,
		compress:  c.compress,
		threshold: c.threshold,
		padding:   c.padding,
		maxSize:   c.maxSize,
		keyring:   c.keyring,
	}
	name := c.serializer.Name()
	hdr := make([]byte, 0, maxHeader)
	hdr = append(hdr, magic, formatVersion, 0, byte(len(name)))
	hdr = append(hdr, name...)
	if k := c.keyring; k != nil {
		hdr[2] = flagEncrypted
		hdr = append(hdr, k.cipher.id())
		hdr = binary.BigEndian.AppendUint32(hdr, k.keys[0].id)
		hdr = append(hdr, make([]byte, k.cipher.nonceSize())...)
	}
	p.hdr = hdr
	// Incompressible payloads are stored raw, so a valid blob is at most the
	// payload, the header, a tag or checksum and the padding.
	p.maxBlob = c.maxSize + maxHeader + tagSize + crcSize + c.padding + 1
	return p, nil
}

// Serializer returns the Serializer the pipeline's values are written
// with, which also decodes the values Decode returns, converted ones
// included.
func (p *Pipeline) Serializer() Serializer { return p.ser }

// MaxSize returns the maximum payload size in bytes.
func (p *Pipeline) MaxSize() int { return p.maxSize }

var encoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		// The fastest level, and no entropy coding of literals: on
		// session-sized payloads Huffman coding of the literals almost
		// never pays, and trying costs more than the rest of the
		// compression (docs/benchmarks.md).
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithNoEntropyCompression(true),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		// Encrypted blobs are authenticated and plain ones carry a
		// CRC-32C of their own.
		zstd.WithEncoderCRC(false),
		// Single-segment frames always record the content size, which
		// lets Decode allocate exactly once.
		zstd.WithSingleSegment(true),
	)
})

func (p *Pipeline) decoder() (*zstd.Decoder, error) {
	p.decOnce.Do(func() {
		p.dec, p.decErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(p.maxSize)),
			zstd.WithDecoderMaxWindow(uint64(max(p.maxSize, zstd.MinWindowSize))),
			zstd.WithDecodeAllCapLimit(true),
		)
	})
	return p.dec, p.decErr
}

// bufPool holds scratch buffers for compression. Buffers over maxPooled are
// not kept.
var bufPool sync.Pool

const maxPooled = 256 << 10

func getBuf() *[]byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

func putBuf(b *[]byte) {
	if cap(*b) > maxPooled {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// Encode serializes d into a new blob. aad is the associated data the blob
// is bound to (the hash of the session ID): with a keyring, Decode fails
// with ErrAuthFailed unless it is given the same aad. Without a keyring aad
// is ignored. Encode returns ErrTooLarge when the payload exceeds the
// maximum size, and an error when d is nil or a time in d is outside the
// years 1678 to 2261 (the range of int64 Unix nanoseconds).
func (p *Pipeline) Encode(d *Data, aad []byte) ([]byte, error) {
	if d == nil {
		return nil, errors.New("codec: Encode(nil)")
	}
	n, err := envelopeSize(d, p.maxSize)
	if err != nil {
		return nil, err
	}
	hl := len(p.hdr)
	var flags byte
	var content []byte // pooled; nil: write the envelope directly
	var envBuf, zBuf *[]byte
	if p.compress && n >= p.threshold {
		enc, err := encoder()
		if err != nil {
			return nil, fmt.Errorf("codec: zstd: %w", err)
		}
		envBuf = getBuf()
		env := appendEnvelope(*envBuf, d)
		*envBuf = env
		zBuf = getBuf()
		z := enc.EncodeAll(env, *zBuf)
		*zBuf = z
		if len(z) < len(env) {
			content = z
			flags |= flagZstd
		} else {
			content = env
		}
		n = len(content)
	}
	bodyLen := n
	if p.padding > 0 {
		flags |= flagPadded
		bodyLen = paddedLen(n, p.padding)
	}
	var aead aeadSealer
	extra := crcSize
	if p.keyring != nil {
		aead = p.keyring.keys[0].aead
		extra = aead.Overhead()
	}
	out := make([]byte, hl, hl+bodyLen+extra)
	copy(out, p.hdr)
	out[2] |= flags
	if content != nil {
		out = append(out, content...)
		putBuf(envBuf)
		putBuf(zBuf)
	} else {
		out = appendEnvelope(out, d)
	}
	if p.padding > 0 {
		out = append(out, 0x80)
		out = append(out, make([]byte, hl+bodyLen-len(out))...)
	}
	if aead == nil {
		return appendCRC(out), nil
	}
	return p.seal(out, hl, aad), nil
}

func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// seal fills the nonce at the end of the header out[:hl] and encrypts
// out[hl:] in place with the newest key, authenticating the header and aad.
func (p *Pipeline) seal(out []byte, hl int, aad []byte) []byte {
	nonce := out[hl-p.keyring.cipher.nonceSize() : hl]
	rand.Read(nonce)
	adp := getBuf()
	ad := append(append(*adp, out[:hl]...), aad...)
	out = p.keyring.keys[0].aead.Seal(out[:hl], nonce, out[hl:], ad)
	*adp = ad
	putBuf(adp)
	return out
}

type aeadSealer interface {
	Overhead() int
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
}

// paddedLen returns the length of n bytes of content followed by the 0x80
// marker and zeros up to a multiple of bucket.
func paddedLen(n, bucket int) int {
	n++
	if r := n % bucket; r != 0 {
		n += bucket - r
	}
	return n
}

func corruptf(format string, args ...any) error {
	return decodeErr(fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
}

// Decode reads a blob written by Encode, with the same aad. It takes
// ownership of blob: Decode may decrypt in place, and the returned Data's
// values may alias blob, so the caller must not use or modify blob
// afterwards. The returned values are the caller's to keep; they do not
// alias any buffer that is reused.
//
// A blob written with another serializer is read when the pipeline's
// serializer is a Converter from it: the returned values are converted,
// so that the pipeline's Serializer decodes them, and the next Encode
// writes the session with the pipeline's serializer.
//
// Every error caused by the blob satisfies IsCorrupt and matches one of
// ErrCorrupt, ErrUnsupportedVersion, ErrSerializerMismatch (a serializer
// the pipeline's cannot convert from, or a value it cannot convert),
// ErrUnknownKey, ErrAuthFailed or ErrTooLarge. With a keyring, the blob is authenticated
// before anything in it is decompressed or parsed; only the header is read
// first.
func (p *Pipeline) Decode(blob, aad []byte) (*Data, error) {
	if len(blob) > p.maxBlob {
		return nil, decodeErr(fmt.Errorf("%w: blob is %d bytes, max %d", ErrTooLarge, len(blob), p.maxBlob))
	}
	if len(blob) < 4 {
		return nil, corruptf("blob too short (%d bytes)", len(blob))
	}
	if blob[0] != magic {
		return nil, corruptf("not a session blob")
	}
	if blob[1] != formatVersion {
		return nil, decodeErr(fmt.Errorf("%w: %d", ErrUnsupportedVersion, blob[1]))
	}
	flags := blob[2]
	if flags&^knownFlags != 0 {
		return nil, decodeErr(fmt.Errorf("%w: unknown flags %#02x", ErrUnsupportedVersion, flags&^knownFlags))
	}
	nl := int(blob[3])
	hl := 4 + nl
	if nl == 0 || len(blob) < hl {
		return nil, corruptf("bad serializer name")
	}
	convert, err := p.converter(blob[4:hl])
	if err != nil {
		return nil, err
	}
	var inner []byte
	if flags&flagEncrypted != 0 {
		k := p.keyring
		if k == nil {
			return nil, decodeErr(fmt.Errorf("%w: blob is encrypted, pipeline has no keyring", ErrUnknownKey))
		}
		if len(blob) < hl+5 {
			return nil, corruptf("truncated header")
		}
		if cid := blob[hl]; cid != k.cipher.id() {
			if cid != AESGCM.id() && cid != XChaCha20Poly1305.id() {
				return nil, decodeErr(fmt.Errorf("%w: unknown cipher %d", ErrUnsupportedVersion, cid))
			}
			return nil, decodeErr(fmt.Errorf("%w: blob encrypted with %v, keyring uses %v", ErrUnknownKey, Cipher(cid-1), k.cipher))
		}
		id := binary.BigEndian.Uint32(blob[hl+1:])
		ns := k.cipher.nonceSize()
		end := hl + 5 + ns
		if len(blob) < end+tagSize {
			return nil, corruptf("truncated ciphertext")
		}
		aead := k.lookup(id)
		if aead == nil {
			return nil, decodeErr(fmt.Errorf("%w: key ID %d", ErrUnknownKey, id))
		}
		adp := getBuf()
		ad := append(append(*adp, blob[:end]...), aad...)
		pt, err := aead.Open(blob[end:end], blob[hl+5:end], blob[end:], ad)
		*adp = ad
		putBuf(adp)
		if err != nil {
			return nil, decodeErr(fmt.Errorf("%w: key ID %d", ErrAuthFailed, id))
		}
		inner = pt
	} else {
		if p.keyring != nil {
			return nil, decodeErr(fmt.Errorf("%w: unencrypted blob refused by a pipeline with a keyring", ErrAuthFailed))
		}
		if len(blob) < hl+crcSize {
			return nil, corruptf("truncated blob")
		}
		end := len(blob) - crcSize
		if crc32.Checksum(blob[:end], castagnoli) != binary.BigEndian.Uint32(blob[end:]) {
			return nil, corruptf("checksum mismatch")
		}
		inner = blob[hl:end]
	}
	if flags&flagPadded != 0 {
		i := len(inner) - 1
		for i >= 0 && inner[i] == 0 {
			i--
		}
		if i < 0 || inner[i] != 0x80 {
			return nil, corruptf("bad padding")
		}
		inner = inner[:i]
	}
	payload := inner
	if flags&flagZstd != 0 {
		if payload, err = p.decompress(inner); err != nil {
			return nil, err
		}
	} else if len(payload) > p.maxSize {
		return nil, decodeErr(fmt.Errorf("%w: payload is %d bytes, max %d", ErrTooLarge, len(payload), p.maxSize))
	}
	d, err := parseEnvelope(payload)
	if err != nil {
		return nil, decodeErr(err)
	}
	if convert != nil {
		for k, v := range d.Values {
			c, err := convert(v)
			if err != nil {
				return nil, decodeErr(fmt.Errorf("%w: value %q from %q: %v", ErrSerializerMismatch, k, blob[4:hl], err))
			}
			d.Values[k] = c
		}
	}
	return d, nil
}

// converter returns nil for a blob written with the pipeline's serializer,
// the conversion of its values for a blob written with a serializer the
// pipeline's converts from, and ErrSerializerMismatch otherwise.
func (p *Pipeline) converter(name []byte) (func([]byte) ([]byte, error), error) {
	if string(name) == p.ser.Name() {
		return nil, nil
	}
	if c, ok := p.ser.(Converter); ok {
		if f := c.ConvertFrom(string(name)); f != nil {
			return f, nil
		}
	}
	return nil, decodeErr(fmt.Errorf("%w: blob uses %q, pipeline %q", ErrSerializerMismatch, name, p.ser.Name()))
}

// decompress decodes one zstd payload into a new buffer of at most maxSize
// bytes (plus at most one block of overshoot inside the decoder before it
// stops).
func (p *Pipeline) decompress(src []byte) ([]byte, error) {
	dec, err := p.decoder()
	if err != nil {
		return nil, decodeErr(fmt.Errorf("codec: zstd: %w", err))
	}
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, corruptf("zstd header: %v", err)
	}
	if h.Skippable {
		return nil, corruptf("zstd skippable frame")
	}
	size := p.maxSize
	if h.HasFCS {
		if h.FrameContentSize > uint64(p.maxSize) {
			return nil, decodeErr(fmt.Errorf("%w: compressed payload declares %d bytes, max %d", ErrTooLarge, h.FrameContentSize, p.maxSize))
		}
		size = int(h.FrameContentSize)
	}
	out, err := dec.DecodeAll(src, make([]byte, 0, size))
	switch {
	case err == nil:
	case h.HasFCS && errors.Is(err, zstd.ErrDecoderSizeExceeded):
		// More output than the frame declared.
		return nil, corruptf("zstd: %v", err)
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, decodeErr(fmt.Errorf("%w: decompressed payload over %d bytes", ErrTooLarge, p.maxSize))
	default:
		return nil, corruptf("zstd: %v", err)
	}
	if len(out) > p.maxSize {
		return nil, decodeErr(fmt.Errorf("%w: decompressed payload over %d bytes", ErrTooLarge, p.maxSize))
	}
	return out, nil
}
