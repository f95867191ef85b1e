package metrics_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/metrics"
)

func Example() {
	reg := prometheus.NewRegistry() // never the global one implicitly
	mx, err := metrics.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	m, err := session.New(
		session.WithSecret([]byte("example secret: use 32+ random bytes in production")),
		session.WithObserver(mx),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Set("cart", []string{"lamp"})
	})
	h := m.Middleware(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "https://example.com/cart", nil))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, `session_events_total{event="created"}`) ||
			strings.HasPrefix(line, `session_store_operations_total{backend="default",operation="save",result="ok"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// session_events_total{event="created"} 1
	// session_store_operations_total{backend="default",operation="save",result="ok"} 1
}
