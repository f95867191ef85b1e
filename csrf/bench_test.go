package csrf_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/csrf"
	"github.com/sessionkit/session/internal/sessiontest"
)

// BenchmarkCheck measures a POST through the session and CSRF middleware
// with a valid token in the header (an in-memory store, no network), and
// the same request without the CSRF middleware, for comparison.
func BenchmarkCheck(b *testing.B) {
	m, err := session.New(session.WithSecret(newSecret(b)), session.WithStore(sessiontest.NewMemstore(b)),
		session.WithAuditLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	p, err := csrf.New()
	if err != nil {
		b.Fatal(err)
	}
	var token string
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			token, _ = csrf.Token(r)
			return
		}
		// What a handler typically does: read its session.
		if _, err := session.MustFromContext(r.Context()).User(); err != nil {
			b.Fatal(err)
		}
	})
	protected := m.Middleware(p.Middleware(ok))
	rec := httptest.NewRecorder()
	protected.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookie := rec.Result().Cookies()[0]

	for name, h := range map[string]http.Handler{"token": protected, "session only": m.Middleware(ok)} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			req.AddCookie(cookie)
			req.Header.Set(csrf.DefaultHeader, token)
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkToken measures Token for a session that has its secret: one
// masked token per response.
func BenchmarkToken(b *testing.B) {
	m, err := session.New(session.WithSecret(newSecret(b)), session.WithStore(sessiontest.NewMemstore(b)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := csrf.Token(r); err != nil {
			b.Fatal(err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
