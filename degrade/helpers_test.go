package degrade_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-degrade-test")

// Timing of the fault tests: short, so that the suite is fast, but never
// asserted tightly.
const (
	opTimeout     = 200 * time.Millisecond
	probeInterval = 100 * time.Millisecond
	// slack is how much longer than opTimeout a request may take while
	// the primary hangs.
	slack = 2 * time.Second
)

// countingStore is the Redis store, counting the session operations it
// gets (the probe's Ping is not one).
type countingStore struct {
	*redisstore.Store
	calls atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	c.calls.Add(1)
	return c.Store.Load(ctx, key)
}

func (c *countingStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	c.calls.Add(1)
	return c.Store.Save(ctx, key, blob, exp, v)
}

func (c *countingStore) Touch(ctx context.Context, key string, exp time.Time) error {
	c.calls.Add(1)
	return c.Store.Touch(ctx, key, exp)
}

func (c *countingStore) Delete(ctx context.Context, key string) error {
	c.calls.Add(1)
	return c.Store.Delete(ctx, key)
}

func (c *countingStore) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, userID string, deadline time.Time) error {
	c.calls.Add(1)
	return c.Store.Renew(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
}

func (c *countingStore) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	c.calls.Add(1)
	return c.Store.AddUserKey(ctx, userID, key, deadline)
}

func (c *countingStore) RemoveUserKey(ctx context.Context, userID, key string) error {
	c.calls.Add(1)
	return c.Store.RemoveUserKey(ctx, userID, key)
}

func (c *countingStore) UserKeys(ctx context.Context, userID string) ([]string, error) {
	c.calls.Add(1)
	return c.Store.UserKeys(ctx, userID)
}

type env struct {
	t       *testing.T
	redis   *redistest.Server
	primary *countingStore
	store   *degrade.Store
	m       *session.Manager
	srv     *httptest.Server
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// go-redis logs failed dials of its pool: expected here, and noisy.
type nopRedisLogger struct{}

func (nopRedisLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(nopRedisLogger{}) }

// newEnv starts a redis-server and the test app behind a manager whose
// store is a degrade.Store on it.
func newEnv(t *testing.T, redisOpts []redistest.ServerOption, opts ...degrade.Option) *env {
	t.Helper()
	redistest.Require(t)
	return newEnvOn(t, redistest.StartServer(t, redisOpts...), opts...)
}

// newEnvOn builds the app on rs, which may be down.
func newEnvOn(t *testing.T, rs *redistest.Server, opts ...degrade.Option) *env {
	t.Helper()
	rst, err := redisstore.NewFromURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, redis: rs, primary: &countingStore{Store: rst}}
	all := append([]degrade.Option{
		degrade.WithTimeout(opTimeout),
		degrade.WithProbeInterval(probeInterval),
		degrade.WithFailureThreshold(2),
		degrade.WithLogger(quiet),
	}, opts...)
	e.store, err = degrade.New(e.primary, all...)
	if err != nil {
		t.Fatal(err)
	}
	e.m, err = session.New(session.WithSecret(testSecret), session.WithStore(e.store), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewTLSServer(e.m.Middleware(testApp()))
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.srv.Close()
	e.m.Close()
	e.store.Close()
	e.primary.Close()
}

// waitRecovered waits until the circuit is closed and the journal empty.
func (e *env) waitRecovered() {
	e.t.Helper()
	waitFor(e.t, 15*time.Second, "the circuit to close and the journal to drain", func() bool {
		st := e.store.Status()
		return st.State == degrade.StateClosed && st.Pending == 0
	})
}

func (e *env) waitState(want degrade.State) {
	e.t.Helper()
	waitFor(e.t, 15*time.Second, "state "+want.String(), func() bool { return e.store.State() == want })
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is one client with its own cookie jar.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{
		Transport: e.srv.Client().Transport,
		Jar:       jar,
		Timeout:   15 * time.Second,
	}}
}

type response struct {
	status   int
	body     string
	degraded bool
	took     time.Duration
}

func (r response) ok() bool { return r.status >= 200 && r.status < 300 }

// do sends a request. Transport errors are reported with t.Errorf (safe
// from any goroutine) and give status 0.
func (b *browser) do(method, path string) response {
	start := time.Now()
	req, err := http.NewRequest(method, b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Errorf("%s %s: %v", method, path, err)
		return response{}
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Errorf("%s %s: %v", method, path, err)
		return response{}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{
		status:   res.StatusCode,
		body:     strings.TrimSpace(string(body)),
		degraded: res.Header.Get(session.DefaultDegradedHeader) == "true",
		took:     time.Since(start),
	}
}

func (b *browser) post(path string) response { return b.do("POST", path) }
func (b *browser) get(path string) response  { return b.do("GET", path) }

// must sends a request and fails the test unless it answers 2xx with the
// degraded header as wanted.
func (b *browser) must(method, path string, degraded bool) response {
	b.e.t.Helper()
	r := b.do(method, path)
	if !r.ok() {
		b.e.t.Fatalf("%s %s = %d %q, want 2xx", method, path, r.status, r.body)
	}
	if r.degraded != degraded {
		b.e.t.Fatalf("%s %s: degraded header %v, want %v", method, path, r.degraded, degraded)
	}
	return r
}

// cookie returns the value of the session cookie the browser holds.
func (b *browser) cookie() string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

// withCookie returns a new browser holding only the session cookie value.
func (e *env) withCookie(value string) *browser {
	b := e.browser()
	u, _ := url.Parse(e.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: value, Path: "/"}})
	return b
}

func testApp() http.Handler {
	mux := http.NewServeMux()
	sess := func(r *http.Request) *session.Session { return session.MustFromContext(r.Context()) }
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), http.StatusInternalServerError) }
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set(r.PathValue("k"), r.PathValue("v")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /get/{k}", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := session.Get[string](sess(r), r.PathValue("k"))
		if err != nil {
			fail(w, err)
			return
		}
		if !ok {
			v = "-"
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		keys, err := sess(r).Keys()
		if err != nil {
			fail(w, err)
			return
		}
		json.NewEncoder(w).Encode(keys)
	})
	mux.HandleFunc("POST /cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		cart, _, err := session.Get[[]string](s, "cart")
		if err == nil {
			err = s.Set("cart", append(cart, r.PathValue("item")))
		}
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		cart, _, err := session.Get[[]string](sess(r), "cart")
		if err != nil {
			fail(w, err)
			return
		}
		json.NewEncoder(w).Encode(cart)
	})
	mux.HandleFunc("POST /login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		err := s.Renew()
		if err == nil {
			err = s.SetUser(r.PathValue("user"))
		}
		if err != nil {
			fail(w, err)
			return
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
	mux.HandleFunc("GET /handle", func(w http.ResponseWriter, r *http.Request) {
		h, err := sess(r).Handle()
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, h)
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
	return mux
}

func decodeList(t *testing.T, body string) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return l
}
