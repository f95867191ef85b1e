package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// redisEnv runs the test app against a real redis-server started for the
// test, counting the client's round trips with a go-redis hook.
func redisEnv(t *testing.T, opts ...session.Option) (*env, *redistest.Server, *redistest.RoundTrips) {
	t.Helper()
	redistest.Require(t)
	srv := redistest.StartServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	rt := &redistest.RoundTrips{}
	client.AddHook(rt)
	store, err := redisstore.New(client, redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Load the Lua scripts up front, as a warm server has them: the
	// counts below are the steady state, not the first EVALSHA miss.
	if err := store.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev := newEnv(t, append([]session.Option{session.WithStore(store)}, opts...)...)
	return ev, srv, rt
}

// commandDelta runs fn and returns the commands Redis executed meanwhile,
// from INFO commandstats (the INFO calls themselves left out).
func commandDelta(t *testing.T, srv *redistest.Server, fn func()) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	before := srv.CommandStats(ctx)
	fn()
	after := srv.CommandStats(ctx)
	d := redistest.Delta(before, after)
	delete(d, "info")
	return d
}

var redisWrites = []string{"hset", "set", "pexpireat", "del", "zadd", "zrem", "unlink"}

// Round trips per request with Redis, from the table: untouched 0,
// read-only 1, write 2, login with renewal 2, touch 1 at most once per touch
// interval. These counts are part of the contract: keep them.
func TestRedisRoundTripsPerRequest(t *testing.T) {
	ev, srv, rt := redisEnv(t, session.WithTouchInterval(300*time.Millisecond))
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200) // the session exists

	count := func(name string, want int64, fn func()) map[string]int64 {
		t.Helper()
		rt.Reset()
		d := commandDelta(t, srv, fn)
		if got := rt.Trips(); got != want {
			t.Errorf("%s: %d round trips, want %d (commands %v)", name, got, want, d)
		}
		return d
	}

	d := count("untouched", 0, func() { e.GET("/untouched").Expect().Status(200) })
	if len(d) != 0 {
		t.Errorf("untouched: Redis ran %v, want nothing", d)
	}

	d = count("read-only", 1, func() { e.GET("/get/a").Expect().Body().IsEqual("1") })
	if d["hmget"] != 1 || d["evalsha"] != 0 {
		t.Errorf("read-only: commands %v, want one HMGET and no script", d)
	}
	for _, w := range redisWrites {
		if d[w] != 0 {
			t.Errorf("read-only request wrote to Redis: %v", d)
		}
	}

	count("write", 2, func() { e.POST("/set/b/2").Expect().Status(200) })
	count("login with renewal", 2, func() { e.POST("/login/alice").Expect().Status(200) })

	time.Sleep(400 * time.Millisecond) // past the touch interval
	d = count("read with touch", 2, func() { e.GET("/get/a").Expect().Body().IsEqual("1") })
	// The touch script sets the record's expiry field and PEXPIREAT; it
	// reads nothing back and leaves the version and the data alone.
	if d["evalsha"] != 1 || d["pexpireat"] != 1 || d["hset"] != 1 || d["hmget"] != 1 {
		t.Errorf("touch: commands %v, want one HMGET and one touch script (HSET e, PEXPIREAT)", d)
	}
	count("read within touch interval", 1, func() { e.GET("/get/a").Expect().Body().IsEqual("1") })
}

// The whole lifecycle against Redis: renew, logout, user index, and a
// session that survives a new manager (an application restart).
func TestRedisLifecycle(t *testing.T) {
	ev, _, _ := redisEnv(t)
	c := ev.client()
	e := ev.expectWith(c)
	e.POST("/set/item/lamp").Expect().Status(200)
	e.POST("/login/alice").Expect().Status(200)
	other := ev.expect()
	other.POST("/login/alice").Expect().Status(200)
	e.GET("/sessions").Expect().Status(200).JSON().Array().Length().IsEqual(2)
	e.POST("/revoke-others").Expect().Body().IsEqual("1")
	other.GET("/me").Expect().Status(http.StatusUnauthorized)
	e.GET("/get/item").Expect().Body().IsEqual("lamp")
	e.POST("/logout").Expect().Status(200)
	e.GET("/me").Expect().Status(http.StatusUnauthorized)
}

func BenchmarkRedisMiddleware(b *testing.B) {
	redistest.Require(b)
	srv := redistest.StartServer(b)
	store, err := redisstore.NewFromURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(store))
	if err != nil {
		b.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if r.Method == http.MethodPost {
			if err := s.Set("n", r.URL.Path); err != nil {
				b.Error(err)
			}
			return
		}
		if _, _, err := session.Get[cart](s, "cart"); err != nil {
			b.Error(err)
		}
	}))
	// One request creates the session with a 5-item cart.
	seed := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cart{}
		for i := range 5 {
			c.Items = append(c.Items, cartItem{ProductID: "p", Name: "Product", Price: 100 * i, Quantity: i + 1})
		}
		session.MustFromContext(r.Context()).Set("cart", c)
	}))
	rec := httptest.NewRecorder()
	seed.ServeHTTP(rec, httptest.NewRequest("POST", "https://example.com/", nil))
	cookie := rec.Result().Cookies()[0]

	for _, method := range []string{"GET", "POST"} {
		name := map[string]string{"GET": "ReadOnly", "POST": "Write"}[method]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(method, "https://example.com/x", nil)
				req.AddCookie(cookie)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// A key holding a value some other program wrote is not a session: the
// request gets a fresh session, not an error.
func TestRedisForeignValueGivesFreshSession(t *testing.T) {
	ev, srv, _ := redisEnv(t)
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200)
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer client.Close()
	keys, err := client.Keys(ctx, "session:*").Result() // a test server: KEYS is fine here
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if err := client.Del(ctx, keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Set(ctx, keys[0], "not a session", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	e.GET("/get/a").Expect().Status(200).Body().IsEqual("-")
	if !strings.Contains(ev.logs.String(), "stored session cannot be decoded") {
		t.Errorf("no security event logged: %s", ev.logs.String())
	}
	e.POST("/set/b/2").Expect().Status(200)
	e.GET("/get/b").Expect().Body().IsEqual("2")
}

// Without a fallback, a Redis that cannot be reached is reported by New;
// with WithFailover the manager starts degraded and recovers when Redis
// appears.
func TestStartWithRedisDown(t *testing.T) {
	redistest.Require(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	store, err := redisstore.NewFromURL(url, redisstore.WithTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	start := time.Now()
	_, err = session.New(session.WithSecret(testSecret), session.WithStore(store))
	if err == nil || !errorsIs(err, session.ErrStore) || !session.IsUnavailable(err) {
		t.Fatalf("New with Redis down: %v, want an unavailable store error", err)
	}
	if time.Since(start) > session.StartupPingTimeout+2*time.Second {
		t.Fatalf("New took %v", time.Since(start))
	}

	m, err := session.New(session.WithSecret(testSecret), session.WithFailover(store))
	if err != nil {
		t.Fatalf("New with fail-over while Redis is down: %v", err)
	}
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Set("a", 1)
	}))
	resp := do(h, "POST", "https://example.com/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Session-Degraded") != "true" {
		t.Fatalf("status %d, degraded %q", resp.StatusCode, resp.Header.Get("X-Session-Degraded"))
	}
}
