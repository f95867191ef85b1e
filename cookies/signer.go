package cookies

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

const (
	// MinKeyLen is the minimum length, in bytes, of a signing key. 32 bytes
	// is the output size of SHA-256; shorter keys weaken the HMAC. Generate
	// keys with crypto/rand (or derive them with HKDF from an application
	// secret) and never use a password as a key.
	MinKeyLen = 32

	// MaxValueLen is the longest signed cookie value, in bytes, that Sign
	// produces and Verify accepts. It is the value-size limit browsers
	// honour; longer values are rejected as ErrMalformed before any MAC is
	// computed.
	MaxValueLen = 4096

	// MaxClockSkew is how far in the future a signing timestamp may lie
	// before Verify rejects it as ErrExpired. It absorbs clock differences
	// between the servers that share the keys. A value only ever carries a
	// future timestamp if one of those servers' clocks is wrong or a key
	// holder forged it.
	MaxClockSkew = time.Minute
)

// Signer signs session IDs for a cookie and verifies them in the format of
// github.com/gorilla/securecookie with HMAC-SHA256. A signed value is
// URL-safe base64 of "timestamp|base64(id)|mac", where the MAC covers the
// cookie name, the timestamp (seconds) and the ID. The ID is authenticated,
// not encrypted: whoever holds the cookie can read the ID and the time it was
// signed. Values are the raw ID bytes (securecookie's NopEncoder); no gob or
// JSON decoding ever runs on cookie input.
//
// Sign uses securecookie itself. Verify checks the same format without it:
// securecookie builds a new HMAC for every value it decodes, while Verify
// reuses HMAC states from a pool per key and allocates nothing but the ID
// it returns. Values securecookie signs with the same key and settings
// verify, and the reverse.
//
// A Signer is immutable and safe for concurrent use.
type Signer struct {
	// signer signs with the newest key.
	signer *securecookie.SecureCookie
	// keys verify, newest first.
	keys []*macKey
	// maxAge is the oldest signing timestamp accepted, in seconds; 0 means
	// no limit. skew is MaxClockSkew in seconds.
	maxAge, skew int64
}

// macKey is one verification key and a pool of HMAC states keyed with it.
type macKey struct {
	pool sync.Pool // of *macState
}

// macState is an HMAC-SHA256 keyed with one key, and scratch space for
// the MAC input and output, reused from one Verify to the next.
type macState struct {
	h   hash.Hash
	msg []byte
	sum []byte
}

func newMACKey(key []byte) *macKey {
	k := &macKey{}
	k.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, key), sum: make([]byte, 0, sha256.Size)}
	}
	return k
}

// verify reports in constant time whether mac is the MAC of
// name|signed under the key.
func (k *macKey) verify(name string, signed, mac []byte) bool {
	st := k.pool.Get().(*macState)
	st.msg = append(append(append(st.msg[:0], name...), '|'), signed...)
	st.h.Reset()
	st.h.Write(st.msg)
	st.sum = st.h.Sum(st.sum[:0])
	ok := hmac.Equal(st.sum, mac)
	if cap(st.msg) <= 2*MaxValueLen {
		k.pool.Put(st)
	}
	return ok
}

// NewSigner returns a Signer that signs with hashKeys[0] and accepts values
// signed with any of hashKeys, newest first. To rotate keys, put the new key
// first and keep the old one until every cookie it signed has expired (maxAge,
// or the longest cookie lifetime if maxAge is 0); then remove it, after which
// its values fail as ErrTampered. Each key must be at least MinKeyLen bytes;
// the keys are copied, so later changes to the slices have no effect.
//
// maxAge is the oldest signing timestamp Verify accepts, rounded up to whole
// seconds (the timestamp's resolution); older values fail as ErrExpired.
// 0 means no age limit, which leaves a stolen cookie valid for as long as the
// server-side session lives; a positive value bounds that window even if the
// store forgets to expire the session. Because the timestamp is the time of
// signing, the caller must re-sign (issue a new cookie) more often than maxAge
// for a session to outlive it. Timestamps more than MaxClockSkew in the
// future are always rejected. A negative maxAge is an error.
//
// Every error returned wraps ErrInvalidConfig.
func NewSigner(hashKeys [][]byte, maxAge time.Duration) (*Signer, error) {
	if len(hashKeys) == 0 {
		return nil, fmt.Errorf("%w: no hash keys", ErrInvalidConfig)
	}
	if maxAge < 0 {
		return nil, fmt.Errorf("%w: negative max age %v", ErrInvalidConfig, maxAge)
	}
	for i, k := range hashKeys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("%w: hash key %d is %d bytes, want at least %d",
				ErrInvalidConfig, i, len(k), MinKeyLen)
		}
	}
	// Clamped to what an int holds on every platform (68 years).
	secs := int(min(ceilSeconds(maxAge), math.MaxInt32))
	skew := int(MaxClockSkew / time.Second)

	s := &Signer{
		keys:   make([]*macKey, len(hashKeys)),
		maxAge: int64(secs),
		skew:   int64(skew),
	}
	for i, k := range hashKeys {
		k = append([]byte(nil), k...)
		s.keys[i] = newMACKey(k)
		if i == 0 {
			s.signer = newCodec(k).MaxAge(secs).
				// securecookie rejects a value whose age is below
				// MinAge. A negative minimum age therefore rejects
				// timestamps more than that many seconds in the future.
				MinAge(-skew)
		}
	}
	return s, nil
}

// ceilSeconds returns d in whole seconds, rounded up so that a limit of 1.5s
// is not enforced as 1s, and clamped so that the result times time.Second
// does not overflow.
func ceilSeconds(d time.Duration) time.Duration {
	const limit = math.MaxInt64 / time.Second
	secs := d / time.Second
	if d%time.Second > 0 && secs < limit {
		secs++
	}
	return secs
}

func newCodec(key []byte) *securecookie.SecureCookie {
	return securecookie.New(key, nil).
		HashFunc(sha256.New).
		SetSerializer(securecookie.NopEncoder{}).
		MaxLength(MaxValueLen)
}

// Sign returns the signed cookie value carrying id for the cookie called name
// (pass Config.CookieName()). The value is bound to name: Verify with another
// name fails as ErrTampered. It fails if id is empty, if name contains '|'
// (the MAC input separator, which would make names ambiguous), or if the
// signed value would exceed MaxValueLen bytes (an id of more than about 2,200
// bytes).
func (s *Signer) Sign(name, id string) (string, error) {
	if id == "" {
		return "", errors.New("cookies: empty session ID")
	}
	if strings.IndexByte(name, '|') >= 0 {
		return "", fmt.Errorf("cookies: %w", errNamePipe)
	}
	v, err := s.signer.Encode(name, []byte(id))
	if err != nil {
		return "", fmt.Errorf("cookies: signing session ID: %w", err)
	}
	return v, nil
}

// Verify checks value, a cookie value produced by Sign for the cookie called
// name, and returns the session ID it carries. Any failure is an *Error whose
// Reason is ErrMalformed, ErrTampered or ErrExpired; callers should treat the
// cookie as absent in every case and may log the reason as a security event.
//
// The structure is checked before any MAC is computed, so garbage costs no
// HMAC work; a well-formed value costs one HMAC per key tried, newest key
// first, compared in constant time. The age limits are checked only on a
// value whose MAC verifies.
func (s *Signer) Verify(name, value string) (id string, err error) {
	if strings.IndexByte(name, '|') >= 0 {
		return "", &Error{Reason: ErrMalformed, Err: errNamePipe}
	}
	// Checked here, outside the frame that holds the decoding buffers:
	// setting them up costs more than refusing most garbage.
	if err := checkLength(value); err != nil {
		return "", &Error{Reason: ErrMalformed, Err: err}
	}
	return s.verify(name, value)
}

// smallValueLen bounds the values that verify decodes in small buffers:
// a session cookie's value is about 180 bytes, and zeroing buffers sized
// for MaxValueLen costs more than the rest of the parsing.
const smallValueLen = 512

// verify is Verify of a value of a possible length.
func (s *Signer) verify(name, value string) (string, error) {
	if len(value) <= smallValueLen {
		var buf, idBuf [smallValueLen / 4 * 3]byte
		return s.verifyIn(buf[:], idBuf[:], name, value)
	}
	return s.verifyLarge(name, value)
}

// verifyLarge is verify of a value longer than smallValueLen, with buffers
// in a frame of its own.
func (s *Signer) verifyLarge(name, value string) (string, error) {
	var buf, idBuf [MaxValueLen / 4 * 3]byte
	return s.verifyIn(buf[:], idBuf[:], name, value)
}

// verifyIn is verify with the decoding buffers buf and idBuf, each at
// least len(value)/4*3 bytes.
func (s *Signer) verifyIn(buf, idBuf []byte, name, value string) (string, error) {
	v, err := parseValue(buf, idBuf, value)
	if err != nil {
		return "", &Error{Reason: ErrMalformed, Err: err}
	}
	for _, k := range s.keys {
		if !k.verify(name, v.signed, v.mac) {
			continue // not this key; try the next
		}
		now := time.Now().Unix()
		switch {
		case v.timestamp > now+s.skew:
			return "", &Error{Reason: ErrExpired, Err: errTooNew}
		case s.maxAge != 0 && v.timestamp < now-s.maxAge:
			return "", &Error{Reason: ErrExpired, Err: errTooOld}
		case len(v.id) == 0:
			return "", &Error{Reason: ErrMalformed, Err: errEmptyID}
		}
		return string(v.id), nil
	}
	return "", &Error{Reason: ErrTampered, Err: securecookie.ErrMacInvalid}
}

var (
	errEmpty     = errors.New("empty value")
	errTooLong   = fmt.Errorf("value longer than %d bytes", MaxValueLen)
	errBase64    = errors.New("value is not padded URL-safe base64")
	errFields    = errors.New(`value is not of the form "timestamp|value|mac"`)
	errTimestamp = errors.New("timestamp is not a decimal number")
	errMACLen    = fmt.Errorf("MAC is not %d bytes", sha256.Size)
	errInner     = errors.New("signed value is not padded URL-safe base64")
	errEmptyID   = errors.New("empty session ID")
	errNamePipe  = errors.New(`cookie name contains "|"`)
	errTooNew    = fmt.Errorf("signed more than %v in the future", MaxClockSkew)
	errTooOld    = errors.New("signed longer ago than the maximum age")
)

// checkLength refuses values whose length no value produced by Sign has.
func checkLength(value string) error {
	switch {
	case value == "":
		return errEmpty
	case len(value) > MaxValueLen:
		return errTooLong
	case len(value)%4 != 0:
		return errBase64
	}
	return nil
}

// signedValue is a value of the form Sign produces, decoded: the bytes the
// MAC covers after the name, the MAC, the signing timestamp and the ID.
type signedValue struct {
	signed, mac []byte
	timestamp   int64
	id          []byte
}

// parseValue checks that value has the structure of a value produced by
// Sign, without touching any key, and decodes it into buf and the ID into
// idBuf, which must each hold MaxValueLen/4*3 bytes. It does not allocate.
func parseValue(buf, idBuf []byte, value string) (signedValue, error) {
	if err := checkLength(value); err != nil {
		return signedValue{}, err
	}
	n, ok := decodeBase64(buf, value)
	if !ok {
		return signedValue{}, errBase64
	}
	b := buf[:n]

	// timestamp
	i := indexByte(b, '|')
	if i < 0 {
		return signedValue{}, errFields
	}
	if i == 0 || i > 18 || !allDigits(b[:i]) {
		return signedValue{}, errTimestamp
	}
	var ts int64
	for _, c := range b[:i] {
		ts = ts*10 + int64(c-'0')
	}
	rest := b[i+1:]

	// base64(id)
	i = indexByte(rest, '|')
	if i < 0 {
		return signedValue{}, errFields
	}
	inner := rest[:i]
	if len(inner) == 0 || len(inner)%4 != 0 {
		return signedValue{}, errInner
	}
	m, ok := decodeBase64Bytes(idBuf, inner)
	if !ok {
		return signedValue{}, errInner
	}

	// mac: the rest, raw bytes that may themselves contain '|'.
	mac := rest[i+1:]
	if len(mac) != sha256.Size {
		return signedValue{}, errMACLen
	}
	return signedValue{signed: b[:len(b)-len(mac)-1], mac: mac, timestamp: ts, id: idBuf[:m]}, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// strictBase64 is the encoding Sign produces, decoded strictly: unused
// trailing bits must be zero and line breaks are not skipped. Lenient
// decoding, as securecookie does it, accepts several spellings of one signed
// value; checking strictly first keeps every valid value canonical.
var strictBase64 = base64.URLEncoding.Strict()

// decodeBase64 decodes s into dst, which must be large enough. The compiler
// makes the string conversion zero-copy because the bytes are neither
// retained nor modified.
func decodeBase64(dst []byte, s string) (int, bool) {
	n, err := strictBase64.Decode(dst, []byte(s))
	return n, err == nil
}

func decodeBase64Bytes(dst, src []byte) (int, bool) {
	n, err := strictBase64.Decode(dst, src)
	return n, err == nil
}
