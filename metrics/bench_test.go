package metrics_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/metrics"
)

// BenchmarkMiddleware measures what the Prometheus observer adds to a
// request: the same middleware and handler with no observer and with
// metrics.New, driven through ServeHTTP with a recorder. "read" loads the
// session and reads a value (one store load); "write" also changes a value
// (a load and a compare-and-set save, plus the size histogram).
//
//	go test -run '^$' -bench BenchmarkMiddleware -benchmem -count 6 ./metrics > bench.txt
//	benchstat -col /observer bench.txt
func BenchmarkMiddleware(b *testing.B) {
	for _, op := range []string{"read", "write"} {
		for _, obs := range []string{"none", "prometheus"} {
			b.Run("op="+op+"/observer="+obs, func(b *testing.B) {
				h, req := benchSetup(b, obs == "prometheus")
				b.ReportAllocs()
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
}

// benchSetup returns the middleware-wrapped handler and a request that
// carries the cookie of an existing session.
func benchSetup(b *testing.B, withMetrics bool) (http.Handler, *http.Request) {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ms.Close() })
	opts := []session.Option{
		session.WithSecret(testSecret),
		session.WithStore(ms),
		session.WithLogger(slog.New(slog.DiscardHandler)),
	}
	if withMetrics {
		mx, err := metrics.New(prometheus.NewRegistry(), metrics.WithBackend("memory"))
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, session.WithObserver(mx))
	}
	m, err := session.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		v, _, err := session.Get[string](s, "user")
		if err != nil {
			b.Error(err)
		}
		if r.Method == http.MethodPost {
			n++
			if err := s.Set("n", strconv.Itoa(n)); err != nil {
				b.Error(err)
			}
		}
		io.WriteString(w, v)
	}))

	// Create the session.
	init := httptest.NewRequest(http.MethodPost, "https://example.com/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, init)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("%d cookies after creating the session", len(cookies))
	}
	method := http.MethodGet
	if strings.Contains(b.Name(), "op=write") {
		method = http.MethodPost
	}
	req := httptest.NewRequest(method, "https://example.com/", nil)
	req.AddCookie(cookies[0])
	return h, req
}

// BenchmarkObserverCalls measures the calls the manager makes on the
// observer for one write request: a load and a save (counter and
// histogram each) and the size histogram.
func BenchmarkObserverCalls(b *testing.B) {
	mx, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		mx.StoreOp("load", nil, 80*time.Microsecond)
		mx.StoreOp("save", nil, 120*time.Microsecond)
		mx.Saved(350)
	}
}
