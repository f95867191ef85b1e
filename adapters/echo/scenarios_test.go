package sessionecho_test

// The scenarios in this file are the same in every adapter module
// (adapters/chi, adapters/echo, adapters/echov4, adapters/gin); only the
// package clause differs, and TestScenariosInSync checks the copies. Each
// module supplies, in router_test.go:
//
//	newRouter(t, m) http.Handler   a router of its framework serving the routes below
//	writeCases                     the ways its handlers produce a body
//
// Routes every router serves, through the adapter's middleware:
//
//	GET  /untouched      "hello", never touches the session
//	POST /cart/{item}    appends item to the cart, answers the cart as JSON
//	GET  /cart           the cart as JSON: {"items":[...]}
//	GET  /value/{key}    the string stored under key, or "-"
//	POST /login/{user}   Renew and SetUser, "welcome"
//	POST /logout         Destroy, "bye"
//	GET  /me             behind the adapter's RequireUser: the user ID
//	GET  /write/{how}    sets "how" to {how}, then answers as writeCases[how] says;
//	                     "string" writes "body" with status 200 the framework's usual way

import (
	"bytes"
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/degrade"
)

var testSecret = []byte("adapter-tests-0123456789abcdef-0123456789abcdef")

// writeCase is what GET /write/{how} answers.
type writeCase struct {
	status int
	body   string
}

// countingStore is a memstore that counts the calls the manager makes.
type countingStore struct {
	*memstore.Store
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

func newMemstore(t testing.TB) *memstore.Store {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

// syncBuffer collects server and manager logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	t      *testing.T
	m      *session.Manager
	srv    *httptest.Server
	logs   *syncBuffer // the manager's log
	srvLog *syncBuffer // net/http's log: superfluous WriteHeader calls and the like
}

// newEnv serves the module's router over TLS with a manager on store.
func newEnv(t *testing.T, store backends.Store, opts ...session.Option) *env {
	t.Helper()
	ev := &env{t: t, logs: &syncBuffer{}, srvLog: &syncBuffer{}}
	all := append([]session.Option{
		session.WithSecret(testSecret),
		session.WithStore(store),
		session.WithLogger(slog.New(slog.NewTextHandler(ev.logs, nil))),
	}, opts...)
	m, err := session.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	ev.m = m
	ev.srv = httptest.NewUnstartedServer(newRouter(t, m))
	ev.srv.Config.ErrorLog = log.New(ev.srvLog, "", 0)
	ev.srv.StartTLS()
	t.Cleanup(func() {
		ev.srv.Close()
		for _, line := range strings.Split(ev.srvLog.String(), "\n") {
			// Handshakes cut short by Close are not the handlers' doing.
			if line != "" && !strings.Contains(line, "TLS handshake error") {
				t.Errorf("server log: %s", line)
			}
		}
	})
	return ev
}

// browser returns an httpexpect instance with its own cookie jar, and the
// jar's client.
func (ev *env) browser() (*httpexpect.Expect, *http.Client) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Transport: ev.srv.Client().Transport,
		Jar:       jar,
		Timeout:   20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return ev.expect(c), c
}

func (ev *env) expect(c *http.Client) *httpexpect.Expect {
	return httpexpect.WithConfig(httpexpect.Config{
		TestName: ev.t.Name(),
		BaseURL:  ev.srv.URL,
		Client:   c,
		Reporter: httpexpect.NewAssertReporter(ev.t),
	})
}

// withCookie returns a client without a jar that always sends the session
// cookie value v.
func (ev *env) withCookie(v string) *httpexpect.Expect {
	_, c := ev.browser()
	c.Jar = nil
	return ev.expect(c).Builder(func(r *httpexpect.Request) { r.WithCookie("session", v) })
}

func (ev *env) cookie(c *http.Client) string {
	u, _ := http.NewRequest("GET", ev.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(u.URL) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}

func TestUntouchedSessionCostsNothing(t *testing.T) {
	store := &countingStore{Store: newMemstore(t)}
	ev := newEnv(t, store)
	e, _ := ev.browser()
	e.POST("/cart/apple").Expect().Status(http.StatusOK)
	before := store.calls.Load()
	r := e.GET("/untouched").Expect().Status(http.StatusOK)
	r.Body().IsEqual("hello")
	r.Header("Set-Cookie").IsEmpty()
	if n := store.calls.Load() - before; n != 0 {
		t.Fatalf("a request that did not touch its session made %d store calls", n)
	}
}

func TestAnonymousCart(t *testing.T) {
	ev := newEnv(t, newMemstore(t))
	e, c := ev.browser()
	e.GET("/cart").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEmpty()
	r := e.POST("/cart/apple").Expect().Status(http.StatusOK)
	r.Cookie("session").Value().NotEmpty()
	if ck := r.Cookie("session").Raw(); ck == nil || !ck.HttpOnly || !ck.Secure {
		t.Errorf("session cookie %v is not HttpOnly and Secure", ck)
	}
	r.Header("Cache-Control").IsEqual("no-store")
	first := ev.cookie(c)
	e.POST("/cart/pear").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEqual([]string{"apple", "pear"})
	e.GET("/cart").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEqual([]string{"apple", "pear"})
	if ev.cookie(c) != first {
		t.Error("the cookie changed without a renewal")
	}
	// Another browser has its own cart.
	other, _ := ev.browser()
	other.GET("/cart").Expect().JSON().Object().Value("items").Array().IsEmpty()
}

func TestLoginRenewsCookie(t *testing.T) {
	ev := newEnv(t, newMemstore(t))
	e, c := ev.browser()
	e.POST("/cart/book").Expect().Status(http.StatusOK)
	old := ev.cookie(c)
	e.GET("/me").Expect().Status(http.StatusUnauthorized)

	r := e.POST("/login/alice").Expect().Status(http.StatusOK)
	r.Body().IsEqual("welcome")
	renewed := r.Cookie("session").Value().NotEmpty().Raw()
	if renewed == old {
		t.Fatal("login did not change the session cookie")
	}
	e.GET("/me").Expect().Status(http.StatusOK).Body().IsEqual("alice")
	e.GET("/cart").Expect().JSON().Object().Value("items").Array().IsEqual([]string{"book"})

	// The cookie from before the login carries neither the user nor the data.
	stale := ev.withCookie(old)
	stale.GET("/me").Expect().Status(http.StatusUnauthorized)
	stale.GET("/cart").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEmpty()
}

func TestLogoutExpiresCookie(t *testing.T) {
	ev := newEnv(t, newMemstore(t))
	e, c := ev.browser()
	e.POST("/login/alice").Expect().Status(http.StatusOK)
	e.POST("/cart/book").Expect().Status(http.StatusOK)
	old := ev.cookie(c)

	r := e.POST("/logout").Expect().Status(http.StatusOK)
	r.Body().IsEqual("bye")
	ck := r.Cookie("session")
	ck.Value().IsEmpty()
	ck.MaxAge().Le(0)
	if v := ev.cookie(c); v != "" {
		t.Fatalf("the browser kept the session cookie %q after logout", v)
	}
	e.GET("/me").Expect().Status(http.StatusUnauthorized)
	stale := ev.withCookie(old)
	stale.GET("/me").Expect().Status(http.StatusUnauthorized)
	stale.GET("/cart").Expect().JSON().Object().Value("items").Array().IsEmpty()
}

// The cookie reaches the client however the handler produces its response:
// a body written or streamed early, a status sent without a body, an abort.
func TestCookieOnEveryWritePath(t *testing.T) {
	ev := newEnv(t, newMemstore(t))
	hows := make([]string, 0, len(writeCases))
	for how := range writeCases {
		hows = append(hows, how)
	}
	sort.Strings(hows)
	for _, how := range hows {
		want := writeCases[how]
		t.Run(how, func(t *testing.T) {
			e, _ := ev.browser()
			r := e.GET("/write/" + how).Expect().Status(want.status)
			r.Body().IsEqual(want.body)
			r.Cookie("session").Value().NotEmpty()
			e.GET("/value/how").Expect().Status(http.StatusOK).Body().IsEqual(how)
		})
	}
}

// A cookie whose signature or format is wrong gives a fresh session: never a
// 5xx, and the first change replaces the cookie.
func TestTamperedCookieGivesFreshSession(t *testing.T) {
	ev := newEnv(t, newMemstore(t))
	e, c := ev.browser()
	e.POST("/login/alice").Expect().Status(http.StatusOK)
	e.POST("/cart/book").Expect().Status(http.StatusOK)
	good := ev.cookie(c)

	flipped := []byte(good)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	foreign, err := session.New(session.WithSecret([]byte("another-secret-0123456789abcdef-0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	foreignCookie := cookieFrom(t, foreign)

	cases := map[string]string{
		"flipped byte":     string(flipped),
		"truncated":        good[:len(good)-4],
		"garbage":          "not-a-session-cookie",
		"other secret":     foreignCookie,
		"very long":        strings.Repeat("A", 3000),
		"url-encoded junk": "%00%ff%2e%2e",
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			bad := ev.withCookie(v)
			bad.GET("/me").Expect().Status(http.StatusUnauthorized)
			bad.GET("/cart").Expect().Status(http.StatusOK).
				JSON().Object().Value("items").Array().IsEmpty()
			r := bad.POST("/cart/apple").Expect().Status(http.StatusOK)
			r.JSON().Object().Value("items").Array().IsEqual([]string{"apple"})
			if got := r.Cookie("session").Value().NotEmpty().Raw(); got == v {
				t.Error("the tampered cookie was kept")
			}
		})
	}
	if !strings.Contains(ev.logs.String(), "rejected session token") {
		t.Errorf("no security event logged; log:\n%s", ev.logs.String())
	}
	// The genuine session is untouched.
	e.GET("/me").Expect().Status(http.StatusOK).Body().IsEqual("alice")
}

// cookieFrom returns a valid session cookie issued by m.
func cookieFrom(t *testing.T, m *session.Manager) string {
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("k", "v"); err != nil {
			t.Fatal(err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	t.Fatal("no cookie issued")
	return ""
}

func TestDegradedHeaderWhenStoreFailsOver(t *testing.T) {
	ev := newEnv(t, newFailoverStore(t))
	e, _ := ev.browser()
	r := e.POST("/cart/apple").Expect().Status(http.StatusOK)
	r.Header("X-Session-Degraded").IsEqual("true")
	r.Cookie("session").Value().NotEmpty()
	r = e.GET("/cart").Expect().Status(http.StatusOK)
	r.Header("X-Session-Degraded").IsEqual("true")
	r.JSON().Object().Value("items").Array().IsEqual([]string{"apple"})
	e.POST("/login/alice").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
	e.GET("/me").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
	// A request that does not use its session is not marked.
	e.GET("/untouched").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEmpty()
}

func TestDegradedHeaderNameIsConfigurable(t *testing.T) {
	ev := newEnv(t, newFailoverStore(t), session.WithDegradedHeader("X-Fallback"))
	e, _ := ev.browser()
	r := e.POST("/cart/apple").Expect().Status(http.StatusOK)
	r.Header("X-Fallback").IsEqual("true")
	r.Header("X-Session-Degraded").IsEmpty()
}

// newFailoverStore returns the fail-over store of package degrade over a
// primary that is down (every call fails as an unreachable backend does):
// every session operation is served by its in-memory fallback.
func newFailoverStore(t *testing.T) backends.Store {
	s, err := degrade.New(brokenStore{},
		degrade.WithFallback(newMemstore(t)),
		degrade.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A store that fails outright is the error handler's business: the
// response is its 500, never the handler's output with a lost session.
func TestStoreFailureAnswersWithErrorHandler(t *testing.T) {
	ev := newEnv(t, brokenStore{}, session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		if !session.IsUnavailable(err) {
			t.Errorf("error handler got %v", err)
		}
		http.Error(w, "session store down", http.StatusServiceUnavailable)
	}))
	e, _ := ev.browser()
	// A fresh session is created, then saving it fails.
	r := e.GET("/write/string").Expect().Status(http.StatusServiceUnavailable)
	r.Body().IsEqual("session store down\n")
	r.Header("Set-Cookie").IsEmpty()
	e.GET("/untouched").Expect().Status(http.StatusOK).Body().IsEqual("hello")
}

// brokenStore fails every operation as an unreachable backend does.
// Alone, it makes every request that saves a session fail; as the primary
// of a degrade.Store, it makes the store fail over.
type brokenStore struct{}

var errDown = backends.Unavailable(errors.New("down"))

func (brokenStore) Load(context.Context, string) (backends.Record, bool, error) {
	return backends.Record{}, false, errDown
}

func (brokenStore) Save(context.Context, string, []byte, time.Time, uint64) (uint64, error) {
	return 0, errDown
}
func (brokenStore) Touch(context.Context, string, time.Time) error { return errDown }
func (brokenStore) Delete(context.Context, string) error           { return errDown }

// TestScenariosInSync checks that the copies of this file in the other
// adapter modules match this one, when the checkout has them.
func TestScenariosInSync(t *testing.T) {
	self, err := os.ReadFile("scenarios_test.go")
	if err != nil {
		t.Fatal(err)
	}
	others, _ := filepath.Glob("../*/scenarios_test.go")
	for _, p := range others {
		other, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dropPackageClause(self), dropPackageClause(other)) {
			t.Errorf("%s differs from this module's scenarios_test.go", p)
		}
	}
}

func dropPackageClause(b []byte) []byte {
	_, rest, _ := bytes.Cut(b, []byte("\n"))
	return rest
}
