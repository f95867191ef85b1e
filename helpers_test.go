package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/sessiontest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// countingStore is the shared counting memstore (sessiontest.CountingStore:
// it counts the calls the manager makes and checks that no record is ever
// written without an expiry), under the names this package's tests use.
type countingStore struct {
	*sessiontest.CountingStore
	saves, renews *atomic.Int64 // the shared store's Saves and Renews
}

func newCountingStore(t testing.TB) *countingStore {
	s := sessiontest.NewCountingStore(t)
	return &countingStore{CountingStore: s, saves: &s.Saves, renews: &s.Renews}
}

func (c *countingStore) calls() int64 { return c.Calls() }

type env struct {
	t      *testing.T
	m      *session.Manager
	store  *countingStore
	srv    *httptest.Server
	logs   *sessiontest.LogBuffer
	srvLog *sessiontest.LogBuffer
}

// newEnv starts an HTTPS test server running the test app behind a manager
// configured with opts (after the test defaults).
func newEnv(t *testing.T, opts ...session.Option) *env {
	t.Helper()
	return newEnvProto(t, false, opts...)
}

// newEnvProto is newEnv over HTTP/2 when h2 is set, else HTTP/1.1.
func newEnvProto(t *testing.T, h2 bool, opts ...session.Option) *env {
	t.Helper()
	ev := &env{t: t, store: newCountingStore(t), logs: &sessiontest.LogBuffer{}, srvLog: &sessiontest.LogBuffer{}}
	logger := slog.New(slog.NewTextHandler(ev.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]session.Option{
		session.WithSecret(testSecret),
		session.WithStore(ev.store),
		session.WithLogger(logger),
		session.WithMaxLifetime(30 * 24 * time.Hour), // remember me (/login?remember=1)
	}, opts...)
	m, err := session.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	ev.m = m
	ev.srv = httptest.NewUnstartedServer(withManager(m, m.Middleware(testApp(t))))
	ev.srv.Config.ErrorLog = log.New(ev.srvLog, "", 0)
	ev.srv.EnableHTTP2 = h2
	ev.srv.StartTLS()
	t.Cleanup(ev.srv.Close)
	return ev
}

// client returns a client of the test server with its own cookie jar.
func (ev *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport: ev.srv.Client().Transport,
		Jar:       jar,
		Timeout:   20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// expect returns an httpexpect instance for a new browser (its own jar).
func (ev *env) expect() *httpexpect.Expect {
	return ev.expectWith(ev.client())
}

func (ev *env) expectWith(c *http.Client) *httpexpect.Expect {
	return httpexpect.WithConfig(httpexpect.Config{
		TestName: ev.t.Name(),
		BaseURL:  ev.srv.URL,
		Client:   c,
		Reporter: httpexpect.NewAssertReporter(ev.t),
	})
}

// sessionCookie returns the session cookie the jar of c holds, or nil.
func (ev *env) sessionCookie(c *http.Client) *http.Cookie {
	req, _ := http.NewRequest("GET", ev.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == "session" {
			return ck
		}
	}
	return nil
}

type cartItem struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Price     int    `json:"price"`
	Quantity  int    `json:"quantity"`
}

type cart struct {
	Items []cartItem `json:"items"`
}

// gates lets a test hold a request inside the handler: /slow-* handlers
// signal "loaded" and wait for "release".
type gate struct {
	loaded  chan struct{}
	release chan struct{}
}

var gates sync.Map // name -> *gate

var gateSeq atomic.Int64

// newGate returns a gate and the name to put in a /slow/{gate}/... path.
func newGate() (*gate, string) {
	g := &gate{loaded: make(chan struct{}), release: make(chan struct{})}
	name := "g" + strconv.FormatInt(gateSeq.Add(1), 10)
	gates.Store(name, g)
	return g, name
}

func testApp(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	sess := func(r *http.Request) *session.Session { return session.MustFromContext(r.Context()) }
	fail := func(w http.ResponseWriter, err error) {
		t.Errorf("handler: %v", err)
		http.Error(w, err.Error(), 599)
	}
	mux.HandleFunc("GET /untouched", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("GET /get/{key}", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := session.Get[string](sess(r), r.PathValue("key"))
		if err != nil {
			fail(w, err)
			return
		}
		if !ok {
			v = "-"
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("POST /set/{key}/{val}", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set(r.PathValue("key"), r.PathValue("val")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		keys, err := sess(r).Keys()
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(keys)
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		c := cart{}
		for i := range 5 {
			c.Items = append(c.Items, cartItem{ProductID: "p" + strconv.Itoa(i), Name: "Product " + strconv.Itoa(i), Price: 100 * (i + 1), Quantity: i + 1})
		}
		if err := sess(r).Set("cart", c); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := session.Get[cart](sess(r), "cart")
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c)
	})
	mux.HandleFunc("POST /flash", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set("flash", "saved!"); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("GET /flash", func(w http.ResponseWriter, r *http.Request) {
		v, _, err := session.Pop[string](sess(r), "flash")
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("POST /login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		if err := s.Renew(); err != nil {
			fail(w, err)
			return
		}
		if err := s.SetUser(r.PathValue("user")); err != nil {
			fail(w, err)
			return
		}
		if r.URL.Query().Get("remember") != "" {
			if err := s.SetLifetime(time.Hour, 30*24*time.Hour); err != nil {
				fail(w, err)
				return
			}
		}
		io.WriteString(w, "welcome")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Destroy(); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, err := sess(r).User()
		if err != nil {
			fail(w, err)
			return
		}
		if u == "" {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, u)
	})
	mux.HandleFunc("GET /handle", func(w http.ResponseWriter, r *http.Request) {
		h, err := sess(r).Handle()
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, h)
	})
	// /slow/{gate}/{action}: load the session, signal, wait, then act.
	mux.HandleFunc("POST /slow/{gate}/{action}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		if _, err := s.Keys(); err != nil { // loads the session
			fail(w, err)
			return
		}
		gv, ok := gates.Load(r.PathValue("gate"))
		if !ok {
			fail(w, fmt.Errorf("no gate %q", r.PathValue("gate")))
			return
		}
		g := gv.(*gate)
		close(g.loaded)
		<-g.release
		switch r.PathValue("action") {
		case "set":
			if err := s.Set("late", "write"); err != nil {
				fail(w, err)
				return
			}
		case "read": // read only: the middleware may touch
		case "renew": // a privilege change of the session it loaded
			if err := s.Renew(); err != nil {
				fail(w, err)
				return
			}
		}
		io.WriteString(w, "done")
	})
	// Response-writer paths: each sets a value, then produces its body a
	// different way.
	mux.HandleFunc("GET /write/{how}", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set("how", r.PathValue("how")); err != nil {
			fail(w, err)
			return
		}
		switch r.PathValue("how") {
		case "write":
			w.Write([]byte("body"))
		case "writestring":
			io.WriteString(w, "body")
		case "readfrom":
			if _, ok := w.(io.ReaderFrom); !ok && r.ProtoMajor == 1 {
				t.Error("wrapped writer lost io.ReaderFrom") // HTTP/2's writer has none
			}
			io.Copy(w, io.LimitReader(strings.NewReader("body"), 4))
		case "flush-first":
			w.(http.Flusher).Flush()
			io.WriteString(w, "body")
		case "stream":
			for i := range 3 {
				fmt.Fprintf(w, "chunk%d;", i)
				w.(http.Flusher).Flush()
			}
		case "controller":
			rc := http.NewResponseController(w)
			if err := rc.Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("ResponseController.SetWriteDeadline: %v", err)
			}
			io.WriteString(w, "body")
		case "status":
			w.WriteHeader(http.StatusAccepted)
		case "early-hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "body")
		case "nothing":
		}
	})
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set("k", "v"); err != nil {
			fail(w, err)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	})
	mux.HandleFunc("GET /cache/{mode}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("mode") {
		case "public":
			w.Header().Set("Cache-Control", "public, max-age=60")
		case "nostore":
			w.Header().Set("Cache-Control", "no-store, must-revalidate")
		}
		if err := sess(r).Set("k", "v"); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		u, _ := s.User()
		m := managerOf(r)
		infos, err := m.UserSessions(r.Context(), u)
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(infos)
	})
	mux.HandleFunc("POST /revoke-others", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		u, _ := s.User()
		h, _ := s.Handle()
		n, err := managerOf(r).RevokeUser(r.Context(), u, h)
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, n)
	})
	return mux
}

type managerKey struct{}

func managerOf(r *http.Request) *session.Manager {
	return r.Context().Value(managerKey{}).(*session.Manager)
}

// withManager puts m into each request's context, for managerOf.
func withManager(m *session.Manager, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), managerKey{}, m)))
	})
}

type (
	httpexpectRequest = httpexpect.Request
	httpexpectExpect  = httpexpect.Expect
)

var errorsIs = errors.Is

func newPlainServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// keepingStore never forgets a record, even past its expiry: it stands for
// a backend whose TTLs failed, to show that the manager enforces timeouts
// itself.
type keepingStore struct {
	mu   sync.Mutex
	recs map[string]backends.Record
}

func newKeepingStore() *keepingStore { return &keepingStore{recs: map[string]backends.Record{}} }

func (k *keepingStore) records() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.recs)
}

func (k *keepingStore) Load(_ context.Context, key string) (backends.Record, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.recs[key]
	r.Blob = bytes.Clone(r.Blob)
	return r, ok, nil
}

func (k *keepingStore) Save(_ context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if exp.IsZero() {
		return 0, backends.ErrNoExpiry
	}
	if k.recs[key].Version != v {
		return 0, backends.ErrConflict
	}
	k.recs[key] = backends.Record{Blob: bytes.Clone(blob), Version: v + 1, Expiry: exp}
	return v + 1, nil
}

func (k *keepingStore) Touch(_ context.Context, key string, exp time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.recs[key]; ok {
		r.Expiry = exp
		k.recs[key] = r
	}
	return nil
}

func (k *keepingStore) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.recs, key)
	return nil
}
