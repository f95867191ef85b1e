package benchmarks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2/memstore"
	redigo "github.com/gomodule/redigo/redis"
	gorillaredis "github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session"
	skredis "github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// The cart workload of the Redis comparison: read a 5-item cart, and add a
// line to a 20-item cart. Each has its own kind of session, created by seed.
type cartWorkload struct{ name, method, path, seed string }

var cartWorkloads = []cartWorkload{
	{"GetCart", "GET", "/cart", "/seed"},
	{"AddItem", "POST", "/add", "/seed20"},
}

// A cartTarget is one library, with one store, serving the cart workload.
type cartTarget struct {
	name    string // library and store, as in the tables
	store   string // "none", "memory" or "Redis"
	handler http.Handler
	// prefix is the prefix of the Redis keys the library writes.
	prefix string
}

// Names of the targets, in the order of the tables.
const (
	tBare          = "Bare"
	tSessionkitMem = "Sessionkit (memory)"
	tSCSMem        = "SCS (memstore)"
	tSessionkit    = "Sessionkit"
	tSessionkitFO  = "Sessionkit+Failover"
	tSessionkitNC  = "Sessionkit+NearCache"
	tSCS           = "SCS"
	tGorilla       = "Gorilla"
)

// newCartTargets returns the bare handler, the libraries with their
// in-memory stores, and the libraries on srv, each configured as its
// documentation shows.
func newCartTargets(tb testing.TB, srv *redistest.Server) []cartTarget {
	tb.Helper()
	return []cartTarget{
		{name: tBare, store: "none", handler: newBare()},
		{name: tSessionkitMem, store: "memory", handler: newSessionkit(tb)},
		{name: tSCSMem, store: "memory", handler: newSCS(memstore.NewWithCleanupInterval(0))},
		{name: tSessionkit, store: "Redis", handler: newSessionkitRedis(tb, srv, false), prefix: "session:"},
		{name: tSessionkitFO, store: "Redis", handler: newSessionkitRedis(tb, srv, true), prefix: "session:"},
		{name: tSessionkitNC, store: "Redis", handler: newSessionkitNearCache(tb, srv), prefix: "nc:session:"},
		{name: tSCS, store: "Redis", handler: newSCSRedis(tb, srv, 10), prefix: "scs:session:"},
		{name: tGorilla, store: "Redis", handler: newGorillaRedis(tb, srv), prefix: "gorilla:"},
	}
}

// newSessionkitRedis serves the workload from a redisstore.Store made by
// NewFromURL (go-redis defaults), directly or behind WithFailover with its
// default options.
func newSessionkitRedis(tb testing.TB, srv *redistest.Server, failover bool) http.Handler {
	tb.Helper()
	st, err := skredis.NewFromURL(srv.URL())
	if err != nil {
		tb.Fatalf("redisstore.NewFromURL: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	if failover {
		return newSessionkit(tb, session.WithFailover(st))
	}
	return newSessionkit(tb, session.WithStore(st))
}

// newSessionkitNearCache is newSessionkitRedis with go-redis's
// client-side cache (redisstore.WithNearCache, default settings: 10000
// entries, 1 s staleness bound), under a prefix of its own.
func newSessionkitNearCache(tb testing.TB, srv *redistest.Server) http.Handler {
	tb.Helper()
	st, err := skredis.NewFromURL(srv.URL(), skredis.WithPrefix("nc:session:"), skredis.WithNearCache(skredis.NearCache{}))
	if err != nil {
		tb.Fatalf("redisstore.NewFromURL: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return newSessionkit(tb, session.WithStore(st))
}

// newSCSRedis is scs with scs/redisstore on a redigo pool as in the
// redisstore README: MaxIdle 10 there, no limit on active connections (a
// connection returned while maxIdle are idle is closed).
func newSCSRedis(tb testing.TB, srv *redistest.Server, maxIdle int) http.Handler {
	tb.Helper()
	addr := srv.Addr()
	pool := &redigo.Pool{
		MaxIdle: maxIdle,
		Dial:    func() (redigo.Conn, error) { return redigo.Dial("tcp", addr) },
	}
	tb.Cleanup(func() { pool.Close() })
	return newSCS(redisstore.New(pool))
}

// newGorillaRedis is gorilla/sessions with rbcervilla/redisstore on a
// go-redis client with default options, as in that store's README (the
// key prefix is set so that its keys are told apart from sessionkit's).
func newGorillaRedis(tb testing.TB, srv *redistest.Server) http.Handler {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { client.Close() })
	store, err := gorillaredis.NewRedisStore(context.Background(), client)
	if err != nil {
		tb.Fatalf("rbcervilla/redisstore: %v", err)
	}
	store.KeyPrefix("gorilla:")
	return newGorilla(store)
}

// cartRequest returns a request for wl carrying cookies.
func cartRequest(wl cartWorkload, cookies []*http.Cookie) *http.Request {
	req := httptest.NewRequest(wl.method, wl.path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

// seedCart runs wl's seed request once and returns the cookies of the new
// session.
func seedCart(tb testing.TB, tg cartTarget, wl cartWorkload) []*http.Cookie {
	tb.Helper()
	rec := httptest.NewRecorder()
	tg.handler.ServeHTTP(rec, httptest.NewRequest("POST", wl.seed, nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("%s %s: status %d: %s", tg.name, wl.seed, rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if tg.store != "none" && len(cookies) != 1 {
		tb.Fatalf("%s %s: %d cookies, want 1", tg.name, wl.seed, len(cookies))
	}
	return cookies
}

// TestCartWorkloadsAgree checks that every library, in memory and on
// Redis, answers the cart workload as the bare handler does, that an add
// keeps a full cart full, and that the add is stored: a GET after adds to a
// 5-item cart sees the new lines.
func TestCartWorkloadsAgree(t *testing.T) {
	srv := redistest.StartServer(t)
	targets := newCartTargets(t, srv)
	want := map[string]string{}
	for _, tg := range targets {
		for _, wl := range cartWorkloads {
			cookies := seedCart(t, tg, wl)
			for range 3 {
				rec := httptest.NewRecorder()
				serve(tg.handler, rec, cartRequest(wl, cookies))
				if rec.Code != http.StatusOK {
					t.Fatalf("%s %s: status %d: %s", tg.name, wl.path, rec.Code, rec.Body)
				}
				if tg.name == tBare {
					want[wl.path] = rec.Body.String()
				} else if got := rec.Body.String(); got != want[wl.path] {
					t.Fatalf("%s %s: body %q, want %q", tg.name, wl.path, got, want[wl.path])
				}
			}
		}
		if tg.store == "none" {
			continue
		}
		// Two adds to a 5-item cart make it 7 items long.
		get, add := cartWorkloads[0], cartWorkloads[1]
		cookies := seedCart(t, tg, get)
		for range 2 {
			serve(tg.handler, httptest.NewRecorder(), cartRequest(add, cookies))
		}
		rec := httptest.NewRecorder()
		serve(tg.handler, rec, cartRequest(get, cookies))
		if got, wantPrefix := rec.Body.String(), `{"items":[`; len(got) < len(wantPrefix) || got[:len(wantPrefix)] != wantPrefix {
			t.Fatalf("%s: cart body %q", tg.name, got)
		}
		if n := countItems(t, rec.Body.Bytes()); n != 7 {
			t.Fatalf("%s: cart has %d items after two adds to 5, want 7", tg.name, n)
		}
	}
}

// BenchmarkCart runs the cart workload through every target, in memory and
// on a redis-server that it starts. Sub-benchmarks are named
// Target/Workload.
//
//	go test -run '^$' -bench Cart -benchmem -count 6 .
func BenchmarkCart(b *testing.B) {
	srv := redistest.StartServer(b)
	for _, tg := range newCartTargets(b, srv) {
		for _, wl := range cartWorkloads {
			cookies := seedCart(b, tg, wl)
			b.Run(benchName(tg.name)+"/"+wl.name, func(b *testing.B) {
				req := cartRequest(wl, cookies)
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					serve(tg.handler, rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
