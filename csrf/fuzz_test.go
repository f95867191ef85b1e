package csrf

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/internal/sessiontest"
)

// FuzzToken feeds untrusted strings to the token parser and to the
// middleware, as the token of a session whose secret is known: the parser
// accepts only tokens in canonical form, and the middleware lets a request
// through exactly when the string unmasks to the session's secret.
func FuzzToken(f *testing.F) {
	secret := make([]byte, 32)
	rand.Read(secret)
	m, err := session.New(session.WithSecret(secret), session.WithStore(sessiontest.NewMemstore(f)), session.WithAuditLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	p, err := New()
	if err != nil {
		f.Fatal(err)
	}
	var valid string
	h := m.Middleware(p.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			var err error
			if valid, err = Token(r); err != nil {
				f.Fatal(err)
			}
		}
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		f.Fatalf("cookies %v, want the session's", cookies)
	}
	sessionSecret, ok := unmask(valid)
	if !ok {
		f.Fatalf("Token's own token %q does not parse", valid)
	}

	f.Add(valid)
	f.Add(mask(sessionSecret))
	f.Add(mask(make([]byte, secretLen)))
	f.Add("")
	f.Add(strings.Repeat("A", TokenLength))
	f.Add(strings.Repeat("=", TokenLength))
	f.Add(valid[:TokenLength-1] + "B") // non-canonical trailing bits
	f.Add(strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "==")
	f.Add(valid + valid)
	f.Add("\x00\xff" + valid[2:])

	f.Fuzz(func(t *testing.T, tok string) {
		got, ok := unmask(tok)
		if ok {
			if len(tok) != TokenLength || len(got) != secretLen {
				t.Fatalf("accepted %q (%d characters), secret of %d bytes", tok, len(tok), len(got))
			}
			// Canonical: the token decodes and encodes back to itself.
			raw, err := encoding.DecodeString(tok)
			if err != nil || encoding.EncodeToString(raw) != tok {
				t.Fatalf("accepted %q, which is not canonical (%v)", tok, err)
			}
			// And it unmasks as documented: pad, then secret XOR pad.
			for i := range secretLen {
				if got[i] != raw[i]^raw[secretLen+i] {
					t.Fatalf("unmask(%q) is not pad XOR masked secret", tok)
				}
			}
		} else if got != nil {
			t.Fatalf("refused %q but returned a secret", tok)
		}

		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.AddCookie(cookies[0])
		req.Header.Set(DefaultHeader, tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		wantPass := ok && bytes.Equal(got, sessionSecret)
		if pass := rec.Code == http.StatusOK; pass != wantPass {
			t.Fatalf("token %q: status %d, want pass=%v", tok, rec.Code, wantPass)
		}
		if !wantPass && rec.Code != http.StatusForbidden {
			t.Fatalf("token %q: status %d, want 403", tok, rec.Code)
		}
	})
}

func TestMaskRoundTrip(t *testing.T) {
	for range 100 {
		secret := make([]byte, secretLen)
		rand.Read(secret)
		tok := mask(secret)
		got, ok := unmask(tok)
		if !ok || !bytes.Equal(got, secret) || len(tok) != TokenLength {
			t.Fatalf("mask/unmask of %x: %q -> %x, %v", secret, tok, got, ok)
		}
	}
}
