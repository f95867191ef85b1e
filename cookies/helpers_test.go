package cookies_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/cookies"
)

// Test keys. Real keys come from crypto/rand.
var (
	keyA = bytes.Repeat([]byte{0xA1}, 32)
	keyB = bytes.Repeat([]byte{0xB2}, 32)
	keyC = bytes.Repeat([]byte{0xC3}, 64)
)

const testID = "Yk3n0fQ2x7lq9mR4tZ8vW1sP6uE5cA0bD3gH2jK7LmN" // 43 chars, like a 256-bit ID

func mustSigner(tb testing.TB, maxAge time.Duration, keys ...[]byte) *cookies.Signer {
	tb.Helper()
	s, err := cookies.NewSigner(keys, maxAge)
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustSign(tb testing.TB, s *cookies.Signer, name, id string) string {
	tb.Helper()
	v, err := s.Sign(name, id)
	if err != nil {
		tb.Fatalf("Sign(%q, %q): %v", name, id, err)
	}
	return v
}

// forge builds a value in securecookie's wire format,
// base64url(ts|base64url(id)|HMAC-SHA256(key, name|ts|base64url(id))),
// with a chosen timestamp, so tests can produce expired and future values
// without waiting or touching the clock.
func forge(key []byte, name, id string, ts int64) string {
	return forgeRaw(key, name, strconv.FormatInt(ts, 10), base64.URLEncoding.EncodeToString([]byte(id)))
}

func forgeRaw(key []byte, name, ts, inner string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name + "|" + ts + "|" + inner))
	blob := append([]byte(ts+"|"+inner+"|"), m.Sum(nil)...)
	return base64.URLEncoding.EncodeToString(blob)
}

// reencode decodes v, lets f change the raw blob, and encodes it again.
func reencode(tb testing.TB, v string, f func([]byte) []byte) string {
	tb.Helper()
	b, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		tb.Fatalf("decode %q: %v", v, err)
	}
	return base64.URLEncoding.EncodeToString(f(b))
}

func now() int64 { return time.Now().Unix() }
