package degrade_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// BenchmarkRequest measures one request through the manager's middleware
// (ServeHTTP, no network between client and server) for a session that
// exists: "read" loads it, "write" loads it and saves a change. Healthy:
// Redis serves. Open: Redis is down and the circuit open, the in-memory
// fallback serves.
func BenchmarkRequest(b *testing.B) {
	redistest.Require(b)
	for _, mode := range []string{"Healthy", "Open"} {
		b.Run(mode, func(b *testing.B) {
			rs := redistest.StartServer(b)
			primary, err := redisstore.NewFromURL(rs.URL())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { primary.Close() })
			store, err := degrade.New(primary, degrade.WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			m, err := session.New(session.WithSecret(testSecret), session.WithStore(store), session.WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			h := m.Middleware(testApp())
			if mode == "Open" {
				rs.Kill()
				for store.State() != degrade.StateOpen {
					h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/set/k/v", nil))
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/set/k/v", nil))
			cookie := rec.Result().Cookies()[0]
			for _, path := range []string{"/get/k", "/set/k/v2"} {
				name, method := "read", "GET"
				if path != "/get/k" {
					name, method = "write", "POST"
				}
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						req := httptest.NewRequest(method, path, nil)
						req.AddCookie(cookie)
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s %s = %d %s", method, path, rec.Code, rec.Body)
						}
					}
				})
			}
		})
	}
}
