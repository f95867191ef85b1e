package benchmarks

import (
	"encoding/gob"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"

	"github.com/sessionkit/session"
)

// The workload, the same for every library:
//
//	/untouched  writes "hello" and never touches the session;
//	/cart       reads the 5-item cart from the session and writes it as JSON;
//	/write      sets one small value in the session that holds the cart;
//	/seed       stores the cart (run once per client to get a session).

// Item is one line of the cart.
type Item struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Price     int    `json:"price"`
	Quantity  int    `json:"quantity"`
}

// Cart is the value the read-only workload reads.
type Cart struct {
	Items []Item `json:"items"`
}

func init() {
	// scs and gorilla/sessions store values with encoding/gob, which
	// needs concrete types registered.
	gob.Register(Cart{})
}

func newCart() Cart {
	c := Cart{Items: make([]Item, 0, 5)}
	for i := range 5 {
		c.Items = append(c.Items, Item{
			ProductID: "sku-" + strconv.Itoa(1000+i),
			Name:      "Product " + strconv.Itoa(i),
			Price:     100 * (i + 1),
			Quantity:  i + 1,
		})
	}
	return c
}

// cartValue is the cart the bare handler writes: already in memory.
var cartValue = newCart()

var (
	secret   = []byte("0123456789abcdef0123456789abcdef-bench-secret")
	hashKey  = []byte("0123456789abcdef0123456789abcdef") // 32 bytes, HMAC-SHA256
	blockKey = []byte("fedcba9876543210fedcba9876543210") // 32 bytes, AES-256
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

func fail(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// workloads are the request kinds measured, by path.
var workloads = []struct{ name, path string }{
	{"Untouched", "/untouched"},
	{"ReadOnly", "/cart"},
	{"Write", "/write"},
}

// A target is one library serving the workload.
type target struct {
	name string
	// handler serves /seed, /untouched, /cart and /write.
	handler http.Handler
}

// newTargets returns the libraries under comparison, each with its own
// store, in the order of the tables.
func newTargets(tb testing.TB) []target {
	return []target{
		{"Bare", newBare()},
		{"Sessionkit", newSessionkit(tb)},
		{"SCS", newSCS(tb)},
		{"GorillaCookie", newGorilla(sessions.NewCookieStore(hashKey, blockKey))},
		{"GorillaFS", newGorilla(newFilesystemStore(tb))},
	}
}

func newBare() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/untouched", hello)
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		c := cartValue
		writeJSON(w, c)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	return mux
}

// newSessionkit uses the default pipeline (WithSecret: signed cookie,
// AES-256-GCM) and the default in-memory store.
func newSessionkit(tb testing.TB) http.Handler {
	m, err := session.New(session.WithSecret(secret), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("cart", newCart()); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("/untouched", hello)
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := session.Get[Cart](session.MustFromContext(r.Context()), "cart")
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, c)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("visited", r.URL.Path); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	return m.Middleware(mux)
}

// newSCS uses scs's defaults (gob codec) with its memstore.
func newSCS(tb testing.TB) http.Handler {
	sm := scs.New()
	sm.Store = memstore.NewWithCleanupInterval(0)
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "cart", newCart())
	})
	mux.HandleFunc("/untouched", hello)
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		c, _ := sm.Get(r.Context(), "cart").(Cart)
		writeJSON(w, c)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "visited", r.URL.Path)
		io.WriteString(w, "ok")
	})
	return sm.LoadAndSave(mux)
}

func newFilesystemStore(tb testing.TB) sessions.Store {
	s := sessions.NewFilesystemStore(tb.TempDir(), hashKey, blockKey)
	return s
}

// newGorilla uses gorilla/sessions with store (gob values; the cookie store
// signs with HMAC-SHA256 and encrypts with AES-CTR). gorilla/sessions has no
// middleware: an untouched request costs nothing.
func newGorilla(store sessions.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "session")
		if err != nil {
			fail(w, err)
			return
		}
		s.Values["cart"] = newCart()
		if err := s.Save(r, w); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("/untouched", hello)
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "session")
		if err != nil {
			fail(w, err)
			return
		}
		c, _ := s.Values["cart"].(Cart)
		writeJSON(w, c)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "session")
		if err != nil {
			fail(w, err)
			return
		}
		s.Values["visited"] = r.URL.Path
		if err := s.Save(r, w); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	return mux
}
