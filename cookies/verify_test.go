package cookies_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/sessionkit/session/cookies"
)

// TestVerifyAgreesWithSecurecookie checks Verify against securecookie's
// Decode with the same keys and age limits, on values signed by
// securecookie and forged at chosen times: Verify accepts exactly the
// values one of the keys' codecs accepts, with the same ID, and tells a
// genuine but expired value from a tampered one.
func TestVerifyAgreesWithSecurecookie(t *testing.T) {
	const name, maxAge = "session", time.Hour
	keys := [][]byte{keyA, keyB}
	s := mustSigner(t, maxAge, keys...)
	codec := func(key []byte, timed bool) *securecookie.SecureCookie {
		c := securecookie.New(key, nil).HashFunc(sha256.New).SetSerializer(securecookie.NopEncoder{}).MaxLength(cookies.MaxValueLen)
		if timed {
			return c.MaxAge(int(maxAge / time.Second)).MinAge(-int(cookies.MaxClockSkew / time.Second))
		}
		return c.MaxAge(0).MinAge(0)
	}
	ids := []string{"x", testID, "with|pipes|inside", "ünïcödé", strings.Repeat("i", 2200)}
	var values []string
	for _, id := range ids {
		for _, key := range append(keys, keyC) {
			v, err := codec(key, true).Encode(name, []byte(id))
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, v)
			n := now()
			for _, ts := range []int64{n - 2*3600, n - 3590, n + 30, n + 120, 0} {
				values = append(values, forge(key, name, id, ts))
			}
		}
	}
	for _, v := range values {
		id, err := s.Verify(name, v)
		var want []byte
		accepted, genuine := false, false
		for _, key := range keys {
			if codec(key, true).Decode(name, v, &want) == nil {
				accepted = true
				break
			}
			if codec(key, false).Decode(name, v, &want) == nil {
				genuine = true
			}
		}
		switch {
		case accepted:
			if err != nil || id != string(want) {
				t.Errorf("securecookie accepts %q as %.20q; Verify = %.20q, %v", v[:20], want, id, err)
			}
		case genuine:
			if !errors.Is(err, cookies.ErrExpired) {
				t.Errorf("securecookie finds %q genuine but out of age; Verify = %.20q, %v, want ErrExpired", v[:20], id, err)
			}
		default:
			if !errors.Is(err, cookies.ErrTampered) {
				t.Errorf("securecookie refuses %q under every key; Verify = %.20q, %v, want ErrTampered", v[:20], id, err)
			}
		}
	}
}

// TestVerifyAllocatesOnlyTheID checks that verifying a valid value, under
// the newest key or an older one, allocates nothing but the returned ID.
func TestVerifyAllocatesOnlyTheID(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries")
	}
	s := mustSigner(t, time.Hour, keyA, keyB)
	for _, v := range []string{mustSign(t, s, "session", testID), forge(keyB, "session", testID, now())} {
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := s.Verify("session", v); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("Verify allocates %v times per valid value, want 1 (the ID)", allocs)
		}
	}
}
