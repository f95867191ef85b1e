package cookies_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/sessionkit/session/cookies"
)

func TestNewSignerRejectsBadConfig(t *testing.T) {
	short := make([]byte, cookies.MinKeyLen-1)
	tests := []struct {
		name   string
		keys   [][]byte
		maxAge time.Duration
	}{
		{"nil keys", nil, time.Hour},
		{"empty keys", [][]byte{}, time.Hour},
		{"nil key", [][]byte{nil}, time.Hour},
		{"short key", [][]byte{short}, time.Hour},
		{"short old key", [][]byte{keyA, short}, time.Hour},
		{"negative max age", [][]byte{keyA}, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := cookies.NewSigner(tt.keys, tt.maxAge)
			if err == nil || s != nil {
				t.Fatalf("NewSigner = %v, %v; want nil, error", s, err)
			}
			if !errors.Is(err, cookies.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewSignerCopiesKeys(t *testing.T) {
	key := append([]byte(nil), keyA...)
	s := mustSigner(t, time.Hour, key)
	v := mustSign(t, s, "session", testID)
	key[0] ^= 0xff // the caller reuses its buffer
	if id, err := s.Verify("session", v); err != nil || id != testID {
		t.Fatalf("Verify after caller changed key = %q, %v; want %q, nil", id, err, testID)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	ids := []string{
		testID,
		"x",
		"with|pipes|inside",
		"bytes\x00\xff\x01|\n",
		"ünïcödé",
		strings.Repeat("z", 2000),
	}
	for _, id := range ids {
		v := mustSign(t, s, "session", id)
		if len(v) > cookies.MaxValueLen {
			t.Errorf("len(Sign(%.20q)) = %d > %d", id, len(v), cookies.MaxValueLen)
		}
		if err := (&http.Cookie{Name: "session", Value: v}).Valid(); err != nil {
			t.Errorf("Sign(%.20q) is not a valid cookie value: %v", id, err)
		}
		got, err := s.Verify("session", v)
		if err != nil || got != id {
			t.Errorf("Verify(Sign(%.20q)) = %.20q, %v", id, got, err)
		}
	}
}

// Values of every length around the size where Verify switches to larger
// decoding buffers verify, and so do their tampered forms' refusals.
func TestVerifyAroundBufferSizes(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	seen := map[bool]bool{}
	for n := 250; n <= 450; n++ {
		id := strings.Repeat("q", n)
		v := mustSign(t, s, "session", id)
		seen[len(v) <= 512] = true
		if got, err := s.Verify("session", v); err != nil || got != id {
			t.Fatalf("Verify(Sign(%d bytes)), value of %d bytes = %d bytes, %v", n, len(v), len(got), err)
		}
		if _, err := s.Verify("other", v); !errors.Is(err, cookies.ErrTampered) {
			t.Fatalf("Verify under another name, value of %d bytes: err = %v, want ErrTampered", len(v), err)
		}
	}
	if !seen[true] || !seen[false] {
		t.Fatalf("values covered only one side of 512 bytes: %v", seen)
	}
}

// The wire format is securecookie's: a plain securecookie codec with the
// same key reads what Signer writes, and forge (used by the expiry tests)
// writes what Signer reads.
func TestWireFormatIsSecurecookie(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	sc := securecookie.New(keyA, nil).SetSerializer(securecookie.NopEncoder{})
	var b []byte
	if err := sc.Decode("session", mustSign(t, s, "session", testID), &b); err != nil || string(b) != testID {
		t.Fatalf("securecookie.Decode(Sign) = %q, %v", b, err)
	}
	v, err := sc.Encode("session", []byte(testID))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.Verify("session", v); err != nil || id != testID {
		t.Fatalf("Verify(securecookie.Encode) = %q, %v", id, err)
	}
	if id, err := s.Verify("session", forge(keyA, "session", testID, now())); err != nil || id != testID {
		t.Fatalf("Verify(forge) = %q, %v", id, err)
	}
}

func TestSignRejectsUnsignableIDs(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	for _, id := range []string{"", strings.Repeat("z", 3000)} {
		if v, err := s.Sign("session", id); err == nil {
			t.Errorf("Sign(%d-byte id) = %.20q, nil; want error", len(id), v)
		}
	}
}

func TestVerifyHostileInputs(t *testing.T) {
	const name = "session"
	s := mustSigner(t, time.Hour, keyA, keyB) // keyA newest
	valid := mustSign(t, s, name, testID)
	n := now()

	tests := []struct {
		name  string
		value string
		want  error // nil: must verify to testID
	}{
		{"valid", valid, nil},
		{"valid, old key still listed", forge(keyB, name, testID, n), nil},
		{"future within clock skew", forge(keyA, name, testID, n+30), nil},

		{"empty", "", cookies.ErrMalformed},
		{"garbage", "not a cookie at all!", cookies.ErrMalformed},
		{"standard base64 alphabet", strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+/+/", cookies.ErrMalformed},
		{"base64 without fields", "aGVsbG8gd29ybGQ=", cookies.ErrMalformed},
		{"padding inside", "YQ==" + valid, cookies.ErrMalformed},
		{"truncated by one", valid[:len(valid)-1], cookies.ErrMalformed},
		{"truncated to a quantum", valid[:len(valid)-4], cookies.ErrMalformed},
		{"truncated to half", valid[:len(valid)/2], cookies.ErrMalformed},
		{"oversized", strings.Repeat("A", cookies.MaxValueLen+4), cookies.ErrMalformed},
		{"oversized valid prefix", valid + strings.Repeat("A", cookies.MaxValueLen), cookies.ErrMalformed},
		{"non-numeric timestamp", forgeRaw(keyA, name, "12x4", "YWJj"), cookies.ErrMalformed},
		{"signed id not base64", forgeRaw(keyA, name, "1234", "a*c="), cookies.ErrMalformed},
		{"signed empty id", forgeRaw(keyA, name, fmt.Sprint(n), ""), cookies.ErrMalformed},
		{"short MAC", reencode(t, valid, func(b []byte) []byte { return b[:len(b)-1] }), cookies.ErrMalformed},

		{"bit flipped in MAC", reencode(t, valid, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), cookies.ErrTampered},
		{"bit flipped in timestamp", reencode(t, valid, func(b []byte) []byte { b[0] ^= 1; return b }), cookies.ErrTampered},
		{"id swapped", reencode(t, valid, func(b []byte) []byte {
			i := strings.IndexByte(string(b), '|')
			copy(b[i+1:], "QUJD") // another, valid base64 quantum
			return b
		}), cookies.ErrTampered},
		{"signed for another name", mustSign(t, s, "other", testID), cookies.ErrTampered},
		{"signed with unknown key", forge(keyC, name, testID, n), cookies.ErrTampered},
		{"expired, unknown key", forge(keyC, name, testID, n-7200), cookies.ErrTampered},
		{"future, unknown key", forge(keyC, name, testID, n+7200), cookies.ErrTampered},

		{"expired", forge(keyA, name, testID, n-7200), cookies.ErrExpired},
		{"expired, old key", forge(keyB, name, testID, n-7200), cookies.ErrExpired},
		{"future timestamp", forge(keyA, name, testID, n+7200), cookies.ErrExpired},
		{"far future timestamp", forge(keyA, name, testID, 1<<40), cookies.ErrExpired},
	}
	reasons := []error{cookies.ErrMalformed, cookies.ErrTampered, cookies.ErrExpired}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.Verify(name, tt.value)
			if tt.want == nil {
				if err != nil || id != testID {
					t.Fatalf("Verify = %q, %v; want %q, nil", id, err, testID)
				}
				return
			}
			if id != "" {
				t.Errorf("Verify returned id %q with error", id)
			}
			var e *cookies.Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error %v (%T) is not a *cookies.Error", err, err)
			}
			if e.Reason != tt.want {
				t.Errorf("Reason = %v; want %v (err: %v)", e.Reason, tt.want, err)
			}
			for _, r := range reasons {
				if got := errors.Is(fmt.Errorf("wrapped: %w", err), r); got != (r == tt.want) {
					t.Errorf("errors.Is(wrapped err, %v) = %v", r, got)
				}
			}
			if tt.value != "" && strings.Contains(err.Error(), tt.value) || strings.Contains(err.Error(), testID) {
				t.Errorf("error message %q leaks the value or the ID", err)
			}
		})
	}
}

// Every possible truncation of a valid value is malformed: either it is no
// longer base64 or the MAC is short. None may verify or look tampered.
func TestVerifyEveryTruncationIsMalformed(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	v := mustSign(t, s, "session", testID)
	for i := range len(v) {
		if _, err := s.Verify("session", v[:i]); !errors.Is(err, cookies.ErrMalformed) {
			t.Errorf("Verify(value[:%d]) error = %v; want ErrMalformed", i, err)
		}
	}
}

// Every single-bit change to a valid value is rejected.
func TestVerifyEveryBitFlipIsRejected(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	v := mustSign(t, s, "session", testID)
	for i := range len(v) {
		for bit := range 8 {
			b := []byte(v)
			b[i] ^= 1 << bit
			if id, err := s.Verify("session", string(b)); err == nil {
				t.Fatalf("flipping bit %d of byte %d verified as %q", bit, i, id)
			} else if errors.Is(err, cookies.ErrExpired) {
				t.Fatalf("flipping bit %d of byte %d reported as expired: %v", bit, i, err)
			}
		}
	}
}

func TestKeyRotation(t *testing.T) {
	const name = "session"
	before := mustSigner(t, time.Hour, keyB)       // only the old key
	during := mustSigner(t, time.Hour, keyA, keyB) // new key first, old kept
	after := mustSigner(t, time.Hour, keyA)        // old key removed

	old := mustSign(t, before, name, testID)
	if id, err := during.Verify(name, old); err != nil || id != testID {
		t.Fatalf("after rotation, old value: Verify = %q, %v; want %q, nil", id, err, testID)
	}
	if _, err := after.Verify(name, old); !errors.Is(err, cookies.ErrTampered) {
		t.Fatalf("after removing the old key, old value: error = %v; want ErrTampered", err)
	}

	fresh := mustSign(t, during, name, testID)
	if id, err := after.Verify(name, fresh); err != nil || id != testID {
		t.Fatalf("value signed during rotation is not signed with the new key: Verify = %q, %v", id, err)
	}
	if _, err := before.Verify(name, fresh); !errors.Is(err, cookies.ErrTampered) {
		t.Fatalf("old-key-only signer accepted a new-key value: %v", err)
	}
}

func TestMaxAgeZeroMeansNoAgeLimit(t *testing.T) {
	s := mustSigner(t, 0, keyA)
	tenYears := now() - 10*365*24*3600
	if id, err := s.Verify("session", forge(keyA, "session", testID, tenYears)); err != nil || id != testID {
		t.Fatalf("10-year-old value with maxAge 0: Verify = %q, %v", id, err)
	}
	future := now() + 2*int64(cookies.MaxClockSkew/time.Second)
	if _, err := s.Verify("session", forge(keyA, "session", testID, future)); !errors.Is(err, cookies.ErrExpired) {
		t.Fatalf("future value with maxAge 0: error = %v; want ErrExpired", err)
	}
}

// One test on the real clock: a value signed now expires after maxAge.
// securecookie timestamps have one-second resolution.
func TestVerifyExpiresOnTheClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps 2s")
	}
	s := mustSigner(t, time.Second, keyA)
	v := mustSign(t, s, "session", testID)
	if _, err := s.Verify("session", v); err != nil {
		t.Fatalf("fresh value: %v", err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := s.Verify("session", v); !errors.Is(err, cookies.ErrExpired) {
		t.Fatalf("value after 2.1s with maxAge 1s: error = %v; want ErrExpired", err)
	}
}

func TestErrorUnwrap(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA)
	_, err := s.Verify("session", forge(keyC, "session", testID, now()))
	if !errors.Is(err, securecookie.ErrMacInvalid) {
		t.Errorf("tampered error %v does not match the securecookie cause", err)
	}
	var e *cookies.Error
	if !errors.As(fmt.Errorf("ctx: %w", err), &e) || e.Err == nil {
		t.Fatalf("errors.As through a wrapper failed: %v", err)
	}
	if !strings.HasPrefix(err.Error(), cookies.ErrTampered.Error()) {
		t.Errorf("Error() = %q; want it to start with the reason", err)
	}

	// Hand-built values do not panic.
	for _, e := range []*cookies.Error{{}, {Reason: cookies.ErrExpired}, {Err: errors.New("x")}} {
		_ = e.Error()
		_ = e.Unwrap()
	}
	if !errors.Is(&cookies.Error{Reason: cookies.ErrExpired}, cookies.ErrExpired) {
		t.Error("Error without Err does not match its Reason")
	}
}

func TestSignerConcurrentUse(t *testing.T) {
	s := mustSigner(t, time.Hour, keyA, keyB)
	old := forge(keyB, "session", testID, now())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("id-%d-%d", g, i)
				v, err := s.Sign("session", id)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Verify("session", v); err != nil || got != id {
					t.Errorf("Verify = %q, %v; want %q", got, err, id)
					return
				}
				if _, err := s.Verify("session", old); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Verify("session", v[1:]); err == nil {
					t.Error("truncated value verified")
					return
				}
			}
		})
	}
	wg.Wait()
}

// The MAC input is "name|timestamp|value", so a name containing '|' could
// accept a value signed for a shorter name: the value signed for "a" at
// timestamp 123 would verify for "a|1" with timestamp "23". Such names are
// refused everywhere.
func TestNamesWithPipeAreRefused(t *testing.T) {
	s := mustSigner(t, 0, keyA)
	if _, err := s.Sign("a|1", testID); err == nil {
		t.Error("Sign with a '|' in the name succeeded")
	}
	inner := "YWJj" // base64("abc")
	confusable := forgeRaw(keyA, "a", "123", inner)
	shifted := reencode(t, confusable, func(b []byte) []byte { return b[1:] }) // "23|YWJj|mac"
	if _, err := s.Verify("a|1", shifted); !errors.Is(err, cookies.ErrMalformed) {
		t.Errorf("Verify under a '|' name: error = %v; want ErrMalformed", err)
	}
	if err := (cookies.Config{Name: "a|1"}).WithDefaults().Validate(); !errors.Is(err, cookies.ErrInvalidConfig) {
		t.Errorf("Validate of a '|' name = %v; want ErrInvalidConfig", err)
	}
}

func TestHugeMaxAge(t *testing.T) {
	s := mustSigner(t, math.MaxInt64, keyA)
	old := forge(keyA, "session", testID, 1)
	if id, err := s.Verify("session", old); err != nil || id != testID {
		t.Errorf("maxAge MaxInt64, value from 1970: Verify = %q, %v", id, err)
	}
	ck := cookies.Config{}.WithDefaults().New("v", math.MaxInt64, false)
	if ck.MaxAge <= 0 || ck.Expires.Before(time.Now()) {
		t.Errorf("New with maxAge MaxInt64: MaxAge %d, Expires %v", ck.MaxAge, ck.Expires)
	}
}
