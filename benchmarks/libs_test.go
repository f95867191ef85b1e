package benchmarks

import (
	"encoding/gob"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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
//	/seed       stores the 5-item cart (run once per client to get a session);
//	/seed20     stores a 20-item cart (the session /add works on);
//	/login      (sessionkit only) renews the session's ID and binds it to a
//	            user, as a login does;
//	/add        adds one line to the cart and stores it; a cart holds at most
//	            cartMax lines, so adding to a full cart drops its oldest line
//	            and every add does the same work; it writes {"items":n}.

// Item is one line of the cart.
// The msgpack tags give msgpack the JSON field names (cbor reads the json
// tags by itself).
type Item struct {
	ProductID string `json:"productId" msgpack:"productId"`
	Name      string `json:"name" msgpack:"name"`
	Price     int    `json:"price" msgpack:"price"`
	Quantity  int    `json:"quantity" msgpack:"quantity"`
}

// Cart is the value the cart workloads read and write.
type Cart struct {
	Items []Item `json:"items" msgpack:"items"`
}

func init() {
	// scs and gorilla/sessions store values with encoding/gob, which
	// needs concrete types registered.
	gob.Register(Cart{})
}

// cartMax is the number of lines a cart holds at most.
const cartMax = 20

// newCart returns a cart of n lines.
func newCart(n int) Cart {
	c := Cart{Items: make([]Item, 0, n)}
	for i := range n {
		c.Items = append(c.Items, newItem(i))
	}
	return c
}

func newItem(i int) Item {
	return Item{
		ProductID: "sku-" + strconv.Itoa(1000+i),
		Name:      "Product " + strconv.Itoa(i),
		Price:     100 * (i%50 + 1),
		Quantity:  i%5 + 1,
	}
}

// addItem adds one line to c, dropping the oldest when c is full. It
// reuses c's array: c must be the caller's own copy.
func addItem(c Cart, it Item) Cart {
	if len(c.Items) < cartMax {
		c.Items = append(c.Items, it)
		return c
	}
	n := copy(c.Items, c.Items[len(c.Items)-cartMax+1:])
	c.Items = append(c.Items[:n], it)
	return c
}

// itemCounter numbers the lines /add adds. Every handler has its own;
// the numbers cycle so that every added line has the same size.
type itemCounter struct{ n atomic.Int64 }

func (c *itemCounter) next() Item { return newItem(100 + int(c.n.Add(1)%900)) }

// addResult is the body of /add.
type addResult struct {
	Items int `json:"items"`
}

// cartValue is the cart the bare handler writes: already in memory.
var cartValue = newCart(5)

var (
	secret   = []byte("0123456789abcdef0123456789abcdef-bench-secret")
	hashKey  = []byte("0123456789abcdef0123456789abcdef") // 32 bytes, HMAC-SHA256
	blockKey = []byte("fedcba9876543210fedcba9876543210") // 32 bytes, AES-256
)

// countItems returns the number of lines of a cart written as JSON.
func countItems(tb testing.TB, body []byte) int {
	tb.Helper()
	var c Cart
	if err := json.Unmarshal(body, &c); err != nil {
		tb.Fatalf("cart body %q: %v", body, err)
	}
	return len(c.Items)
}

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
		{"SCS", newSCS(memstore.NewWithCleanupInterval(0))},
		{"GorillaCookie", newGorilla(sessions.NewCookieStore(hashKey, blockKey))},
		{"GorillaFS", newGorilla(newFilesystemStore(tb))},
	}
}

func newBare() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/seed20", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/untouched", hello)
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		c := cartValue
		writeJSON(w, c)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	// The bare handler adds to one cart that it keeps in memory.
	var (
		mu    sync.Mutex
		cart  = newCart(cartMax)
		items itemCounter
	)
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cart = addItem(cart, items.next())
		n := len(cart.Items)
		mu.Unlock()
		writeJSON(w, addResult{Items: n})
	})
	return mux
}

// newSessionkit uses the default pipeline (WithSecret: signed cookie,
// AES-256-GCM) and, unless opts choose another, the default in-memory store.
func newSessionkit(tb testing.TB, opts ...session.Option) http.Handler {
	opts = append([]session.Option{session.WithSecret(secret), session.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	m, err := session.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	seed := func(n int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := session.MustFromContext(r.Context()).Set("cart", newCart(n)); err != nil {
				fail(w, err)
			}
		}
	}
	var items itemCounter
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", seed(5))
	mux.HandleFunc("/seed20", seed(cartMax))
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
	// /login is a login on an existing session: a new ID (Renew) and the
	// user's binding, which adds the session to the user's index.
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Renew(); err != nil {
			fail(w, err)
			return
		}
		if err := s.SetUser("shopper"); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		c, _, err := session.Get[Cart](s, "cart")
		if err != nil {
			fail(w, err)
			return
		}
		c = addItem(c, items.next())
		if err := s.Set("cart", c); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, addResult{Items: len(c.Items)})
	})
	return m.Middleware(mux)
}

// newSCS uses scs's defaults (gob codec) with store.
func newSCS(store scs.Store) http.Handler {
	sm := scs.New()
	sm.Store = store
	var items itemCounter
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "cart", newCart(5))
	})
	mux.HandleFunc("/seed20", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "cart", newCart(cartMax))
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
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		c, _ := sm.Get(r.Context(), "cart").(Cart)
		c = addItem(c, items.next())
		sm.Put(r.Context(), "cart", c)
		writeJSON(w, addResult{Items: len(c.Items)})
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
	seed := func(n int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s, err := store.Get(r, "session")
			if err != nil {
				fail(w, err)
				return
			}
			s.Values["cart"] = newCart(n)
			if err := s.Save(r, w); err != nil {
				fail(w, err)
			}
		}
	}
	var items itemCounter
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", seed(5))
	mux.HandleFunc("/seed20", seed(cartMax))
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
	mux.HandleFunc("/add", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "session")
		if err != nil {
			fail(w, err)
			return
		}
		c, _ := s.Values["cart"].(Cart)
		c = addItem(c, items.next())
		s.Values["cart"] = c
		if err := s.Save(r, w); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, addResult{Items: len(c.Items)})
	})
	return mux
}
