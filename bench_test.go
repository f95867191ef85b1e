package session_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/internal/cputime"
)

// The benchmarks below drive handler.ServeHTTP directly with a recorder and
// a prepared request, so that they measure the middleware and the session,
// not the network. Each middleware benchmark has a bare twin: the same
// handler without the middleware, writing the same bytes.
//
//	go test -run '^$' -bench . -benchmem -count 6 .
//
// The default pipeline (WithSecret) encrypts stored sessions with
// AES-256-GCM; the Plain variants sign the cookie (WithCookieKeys) but store
// sessions unencrypted.

var benchSecret = []byte("0123456789abcdef0123456789abcdef-bench-secret")

type benchItem struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Price     int    `json:"price"`
	Quantity  int    `json:"quantity"`
}

type benchCart struct {
	Items []benchItem `json:"items"`
}

// newBenchCart returns the 5-item cart of the read-only workload.
func newBenchCart() benchCart {
	c := benchCart{Items: make([]benchItem, 0, 5)}
	for i := range 5 {
		c.Items = append(c.Items, benchItem{
			ProductID: "sku-" + strconv.Itoa(1000+i),
			Name:      "Product " + strconv.Itoa(i),
			Price:     100 * (i + 1),
			Quantity:  i + 1,
		})
	}
	return c
}

// benchCartValue is the cart the bare read-only handler writes. It is built
// once, so the baseline pays only for the JSON encoding and the response.
var benchCartValue = newBenchCart()

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// benchHandlers are the handlers of the workload, with and without the
// session.
var benchHandlers = map[string]http.HandlerFunc{
	"Untouched": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	},
	"ReadOnly": func(w http.ResponseWriter, r *http.Request) {
		c, _, err := session.Get[benchCart](session.MustFromContext(r.Context()), "cart")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, c)
	},
	"Write": func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("visited", r.URL.Path); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	},
}

var bareHandlers = map[string]http.HandlerFunc{
	"Untouched": benchHandlers["Untouched"],
	"ReadOnly": func(w http.ResponseWriter, r *http.Request) {
		c := benchCartValue // the same cart, already in memory
		writeJSON(w, c)
	},
	"Write": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	},
}

var benchCases = []string{"Untouched", "ReadOnly", "Write"}

// newBenchManager returns a manager with a quiet logger and a memstore, and
// a request that carries the cookie of a stored session holding the cart.
func newBenchManager(b *testing.B, opts ...session.Option) (*session.Manager, *http.Request) {
	b.Helper()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	all := append([]session.Option{
		session.WithStore(store),
		session.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	m, err := session.New(all...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })

	setup := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("cart", newBenchCart()); err != nil {
			b.Fatal(err)
		}
	}))
	rec := httptest.NewRecorder()
	setup.ServeHTTP(rec, httptest.NewRequest("GET", "/setup", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("setup request set %d cookies, want 1", len(cookies))
	}
	req := httptest.NewRequest("GET", "/cart", nil)
	req.AddCookie(cookies[0])
	return m, req
}

// checkResponse fails the benchmark unless one request gives status 200 and
// the expected body. Run before the timer starts.
func checkResponse(b *testing.B, h http.Handler, req *http.Request, want string) {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || (want != "" && rec.Body.String() != want) {
		b.Fatalf("status %d, body %q; want 200, %q", rec.Code, rec.Body.String(), want)
	}
}

func expectedBody(b *testing.B, name string, req *http.Request) string {
	b.Helper()
	rec := httptest.NewRecorder()
	bareHandlers[name].ServeHTTP(rec, req)
	return rec.Body.String()
}

func runRequests(b *testing.B, h http.Handler, req *http.Request) {
	cputime.Loop(b, func() { h.ServeHTTP(httptest.NewRecorder(), req) })
}

// BenchmarkBare is the workload without the middleware: the baseline.
func BenchmarkBare(b *testing.B) {
	_, req := newBenchManager(b, session.WithSecret(benchSecret))
	for _, name := range benchCases {
		b.Run(name, func(b *testing.B) {
			h := bareHandlers[name]
			checkResponse(b, h, req, expectedBody(b, name, req))
			runRequests(b, h, req)
		})
	}
}

// BenchmarkMiddleware is the workload through the middleware with the
// default pipeline (WithSecret: signed cookie, AES-256-GCM in the store),
// and with a plain pipeline (signed cookie, unencrypted store).
func BenchmarkMiddleware(b *testing.B) {
	configs := []struct {
		prefix string
		opt    session.Option
	}{
		{"", session.WithSecret(benchSecret)},
		{"Plain/", session.WithCookieKeys(benchSecret)},
	}
	for _, cfg := range configs {
		for _, name := range benchCases {
			b.Run(cfg.prefix+name, func(b *testing.B) {
				m, req := newBenchManager(b, cfg.opt)
				h := m.Middleware(benchHandlers[name])
				checkResponse(b, h, req, expectedBody(b, name, req))
				runRequests(b, h, req)
			})
		}
	}
}

// newCartBench returns the cart of n lines of the cart workloads.
func newCartBench(n int) benchCart {
	c := benchCart{Items: make([]benchItem, 0, n)}
	for i := range n {
		c.Items = append(c.Items, cartLine(i))
	}
	return c
}

func cartLine(i int) benchItem {
	return benchItem{
		ProductID: "sku-" + strconv.Itoa(1000+i),
		Name:      "Product " + strconv.Itoa(i),
		Price:     100 * (i%50 + 1),
		Quantity:  i%5 + 1,
	}
}

// addLine adds one line to c, dropping the oldest when c holds 20, so that
// every add does the same work.
func addLine(c benchCart, it benchItem) benchCart {
	if len(c.Items) < 20 {
		c.Items = append(c.Items, it)
		return c
	}
	copy(c.Items, c.Items[1:])
	c.Items[len(c.Items)-1] = it
	return c
}

// cartHandlers are the handlers of the cart workload: GetCart reads a
// 5-item cart and writes it as JSON; AddItem reads a 20-item cart, adds a
// line and stores the cart.
var cartHandlers = map[string]http.HandlerFunc{
	"GetCart": func(w http.ResponseWriter, r *http.Request) {
		c, _, err := session.Get[benchCart](session.MustFromContext(r.Context()), "cart")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, c)
	},
	"AddItem": func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		c, _, err := session.Get[benchCart](s, "cart")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		c = addLine(c, cartLine(len(c.Items)))
		if err := s.Set("cart", c); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]int{"items": len(c.Items)})
	},
}

// bareCartHandlers do the same work on a cart kept in memory.
func bareCartHandlers() map[string]http.HandlerFunc {
	c5, c20 := newCartBench(5), newCartBench(20)
	return map[string]http.HandlerFunc{
		"GetCart": func(w http.ResponseWriter, r *http.Request) { writeJSON(w, c5) },
		"AddItem": func(w http.ResponseWriter, r *http.Request) {
			c20 = addLine(c20, cartLine(len(c20.Items)))
			writeJSON(w, map[string]int{"items": len(c20.Items)})
		},
	}
}

// cartSizes gives the number of lines of the cart each workload starts with.
var cartSizes = map[string]int{"GetCart": 5, "AddItem": 20}

// newCartManager returns a manager on a memstore and a request carrying the
// cookie of a session that holds a cart of n lines.
func newCartManager(b *testing.B, n int, opts ...session.Option) (*session.Manager, *http.Request) {
	b.Helper()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	all := append([]session.Option{
		session.WithStore(store),
		session.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	m, err := session.New(all...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	setup := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("cart", newCartBench(n)); err != nil {
			b.Fatal(err)
		}
	}))
	rec := httptest.NewRecorder()
	setup.ServeHTTP(rec, httptest.NewRequest("GET", "/setup", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("setup request set %d cookies, want 1", len(cookies))
	}
	req := httptest.NewRequest("GET", "/cart", nil)
	req.AddCookie(cookies[0])
	return m, req
}

// BenchmarkCart is the cart workload of the benchmarks module in process,
// on the in-memory store with the default pipeline (WithSecret), and its
// bare twin: GET a 5-item cart, add a line to a 20-item cart.
//
//	go test -run '^$' -bench '^BenchmarkCart$' -benchmem -count 5 .
func BenchmarkCart(b *testing.B) {
	bare := bareCartHandlers()
	for _, name := range []string{"GetCart", "AddItem"} {
		b.Run("Bare/"+name, func(b *testing.B) {
			_, req := newCartManager(b, cartSizes[name], session.WithSecret(benchSecret))
			checkResponse(b, bare[name], req, "")
			runRequests(b, bare[name], req)
		})
		b.Run("Session/"+name, func(b *testing.B) {
			m, req := newCartManager(b, cartSizes[name], session.WithSecret(benchSecret))
			h := m.Middleware(cartHandlers[name])
			checkResponse(b, h, req, "")
			runRequests(b, h, req)
		})
	}
}
