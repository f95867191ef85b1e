package cookies_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/cookies"
)

// FuzzVerify feeds arbitrary cookie values to Verify. It must never panic;
// every failure carries exactly one reason; and whatever verifies must
// survive a fresh Sign/Verify round trip unchanged.
func FuzzVerify(f *testing.F) {
	const name = "session"
	s := mustSigner(f, time.Hour, keyA, keyB)
	valid := mustSign(f, s, name, testID)
	n := now()
	seeds := []string{
		valid,
		forge(keyB, name, testID, n),
		forge(keyA, name, testID, n-7200),
		forge(keyA, name, testID, n+7200),
		forge(keyC, name, testID, n),
		forgeRaw(keyA, name, "12x4", "YWJj"),
		forgeRaw(keyA, name, "1234", ""),
		reencode(f, valid, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		reencode(f, valid, func(b []byte) []byte { return b[:len(b)-1] }),
		valid[:len(valid)-1],
		valid[:len(valid)/2],
		"",
		"garbage",
		"||||",
		"fHx8",
		"MTIzfGFiY3w=",
		strings.Repeat("A", cookies.MaxValueLen+4),
	}
	for _, v := range seeds {
		f.Add(v)
	}
	reasons := []error{cookies.ErrMalformed, cookies.ErrTampered, cookies.ErrExpired}
	f.Fuzz(func(t *testing.T, value string) {
		id, err := s.Verify(name, value)
		if err != nil {
			if id != "" {
				t.Fatalf("Verify returned id %q with error %v", id, err)
			}
			matched := 0
			for _, r := range reasons {
				if errors.Is(err, r) {
					matched++
				}
			}
			if matched != 1 {
				t.Fatalf("error %v matches %d reasons; want exactly 1", err, matched)
			}
			return
		}
		if id == "" {
			t.Fatal("Verify succeeded with an empty id")
		}
		v, err := s.Sign(name, id)
		if err != nil {
			t.Fatalf("re-Sign of verified id: %v", err)
		}
		again, err := s.Verify(name, v)
		if err != nil || again != id {
			t.Fatalf("re-signed id: Verify = %q, %v; want %q", again, err, id)
		}
	})
}

// FuzzConfig checks that any Config that passes Validate yields cookies that
// net/http accepts, under the name CookieName reports.
func FuzzConfig(f *testing.F) {
	f.Add("session", "", "/", 2, 0, true, false, false)
	f.Add("sid", "", "/", 4, 1, true, true, true)
	f.Add("__Host-x", "example.com", "/app", 3, 2, false, false, true)
	f.Add("a b", "exa mple", "/;", 9, 7, false, true, false)
	f.Fuzz(func(t *testing.T, name, domain, path string, sameSite, secure int, httpOnly, partitioned, hostPrefix bool) {
		c := cookies.Config{
			Name: name, Domain: domain, Path: path, HttpOnly: httpOnly,
			SameSite: http.SameSite(sameSite), Partitioned: partitioned,
			HostPrefix: hostPrefix, Secure: cookies.SecureMode(secure),
		}
		if err := c.Validate(); err != nil {
			if !errors.Is(err, cookies.ErrInvalidConfig) {
				t.Fatalf("Validate error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		for _, tls := range []bool{false, true} {
			for _, ck := range []*http.Cookie{c.New("dmFsdWU=", time.Hour, tls), c.New("dmFsdWU=", 0, tls), c.Expired(tls)} {
				if err := ck.Valid(); err != nil {
					t.Fatalf("valid config %+v made invalid cookie %v: %v", c, ck, err)
				}
				if ck.Name != c.CookieName() {
					t.Fatalf("cookie name %q; want %q", ck.Name, c.CookieName())
				}
				if c.HostPrefix && (!ck.Secure || ck.Path != "/" || ck.Domain != "") {
					t.Fatalf("__Host- cookie breaks the prefix rules: %v", ck)
				}
			}
		}
	})
}
