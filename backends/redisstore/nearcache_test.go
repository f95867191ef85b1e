package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// nearClient returns a RESP3 client with go-redis's client-side cache, as
// an application would configure one. drain is the cache's DrainInterval
// (0: go-redis's default); a long one leaves invalidations unread on idle
// connections, so that a stale copy stays served until staleness ends.
func nearClient(t testing.TB, addr string, staleness, drain time.Duration) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: addr, Protocol: 3, ContextTimeoutEnabled: true, PoolSize: 1,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{
			MaxEntries: 1000, MaxStaleness: staleness, DrainInterval: drain,
		},
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// serverReads returns how many HMGETs the server has run.
func serverReads(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	return srv.CommandStats(t.Context())["hmget"]
}

// eventually calls cond until it holds or limit has passed, and returns how
// long that took. It fails the test at limit.
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// slack is added to the staleness bound where a test waits for it: the
// bound is go-redis's, and a busy machine may run the test late.
const slack = 5 * time.Second

// TestNearCacheCoherence runs two stores, A and B, on separate clients
// with client-side caching against one server, sharing their keys.
func TestNearCacheCoherence(t *testing.T) {
	srv := redistest.StartServer(t)
	const bound = 500 * time.Millisecond
	p := newPrefix()
	a := newStore(t, nearClient(t, srv.Addr(), bound, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout))
	b := newStore(t, nearClient(t, srv.Addr(), bound, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout))
	if a.MaxStaleness() != bound {
		t.Fatalf("MaxStaleness = %v, want %v", a.MaxStaleness(), bound)
	}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := b.Save(ctx, "k", []byte("v1"), exp, 0); err != nil {
		t.Fatal(err)
	}

	// A's first read goes to the server, the next ones do not.
	n := serverReads(t, srv)
	mustRecord(t, a, "k", 1, "v1", exp)
	mustRecord(t, a, "k", 1, "v1", exp)
	mustRecord(t, a, "k", 1, "v1", exp)
	if got := serverReads(t, srv) - n; got != 1 {
		t.Errorf("three reads by A: the server ran %d HMGETs, want 1 (then 0 per read)", got)
	}

	// A fresh read goes to the server.
	n = serverReads(t, srv)
	if rec, found, err := a.Load(backends.WithFreshRead(ctx), "k"); err != nil || !found || rec.Version != 1 {
		t.Fatalf("fresh Load = %+v %v %v", rec, found, err)
	}
	if got := serverReads(t, srv) - n; got != 1 {
		t.Errorf("a fresh read: the server ran %d HMGETs, want 1", got)
	}

	// B writes: A sees it within the bound (the invalidation usually
	// arrives long before).
	if _, err := b.Save(ctx, "k", []byte("v2"), exp, 1); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "A sees B's write", bound+slack, func() bool {
		rec, _, err := a.Load(ctx, "k")
		return err == nil && rec.Version == 2 && string(rec.Blob) == "v2"
	})
	t.Logf("A saw B's write after %v", took)

	// B deletes (a logout or a revocation): A sees it within the bound.
	mustRecord(t, a, "k", 2, "v2", exp) // cached again
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, "A sees B's delete", bound+slack, func() bool {
		_, found, err := a.Load(ctx, "k")
		return err == nil && !found
	})
	t.Logf("A saw B's delete after %v", took)

	// A reads its own writes at once, whatever the invalidation does.
	if _, err := a.Save(ctx, "own", []byte("w1"), exp, 0); err != nil {
		t.Fatal(err)
	}
	mustRecord(t, a, "own", 1, "w1", exp)
	if _, err := a.Save(ctx, "own", []byte("w2"), exp, 1); err != nil {
		t.Fatal(err)
	}
	mustRecord(t, a, "own", 2, "w2", exp)
}

// TestNearCacheStaleWriteConflicts leaves B's invalidation unread on A's
// idle connection (a drain interval of an hour), so that A's cached copy
// is stale: A's reads show the old record until the staleness bound
// passes, a write based on it loses the compare-and-set on the server, and
// the read after the conflict goes around the cache.
func TestNearCacheStaleWriteConflicts(t *testing.T) {
	srv := redistest.StartServer(t)
	const bound = 2 * time.Second
	p := newPrefix()
	a := newStore(t, nearClient(t, srv.Addr(), bound, time.Hour), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout))
	b := newStore(t, nearClient(t, srv.Addr(), bound, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout))
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	for _, k := range []string{"k", "expires"} {
		if _, err := b.Save(ctx, k, []byte("v1"), exp, 0); err != nil {
			t.Fatal(err)
		}
		mustRecord(t, a, k, 1, "v1", exp) // A caches it
	}
	for _, k := range []string{"k", "expires"} {
		if _, err := b.Save(ctx, k, []byte("v2"), exp, 1); err != nil {
			t.Fatal(err)
		}
	}
	n := serverReads(t, srv)
	stale := time.Now()
	rec, found, err := a.Load(ctx, "k")
	if err != nil || !found {
		t.Fatalf("Load = %v %v", found, err)
	}
	if rec.Version != 1 {
		t.Fatalf("A's copy is version %d, want the stale 1: the invalidation was read although no command used A's connection", rec.Version)
	}
	if got := serverReads(t, srv) - n; got != 0 {
		t.Errorf("a cached read sent %d HMGETs", got)
	}

	// The stale copy never serves past the bound.
	took := eventually(t, "the stale copy ends", bound+slack, func() bool {
		rec, _, err := a.Load(ctx, "expires")
		return err == nil && rec.Version == 2
	})
	if since := time.Since(stale); since < bound/2 {
		t.Logf("the stale copy ended after %v, before the bound: an invalidation was read", since)
	}
	t.Logf("the stale copy ended after %v (bound %v)", took, bound)

	// A writes on its stale copy of k: the server refuses.
	if _, err := a.Save(ctx, "k", []byte("from a stale copy"), exp, 1); !backends.IsConflict(err) {
		t.Fatalf("Save on a stale copy = %v, want a conflict", err)
	}
	// The read after the conflict goes to the server and sees B's record.
	n = serverReads(t, srv)
	mustRecord(t, a, "k", 2, "v2", exp)
	if got := serverReads(t, srv) - n; got != 1 {
		t.Errorf("the read after a conflict sent %d HMGETs, want 1", got)
	}
	if _, err := a.Save(ctx, "k", []byte("merged"), exp, 2); err != nil {
		t.Fatalf("Save on the fresh copy: %v", err)
	}
	mustRecord(t, b, "k", 3, "merged", exp)
}

// TestNearCacheEmptiedByRestart caches a record, restarts Redis without its
// data, and checks that the record is gone for the store: the cache does
// not outlive the connections it was filled on.
func TestNearCacheEmptiedByRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	p := newPrefix()
	a := newStore(t, nearClient(t, srv.Addr(), time.Minute, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout))
	b := newStore(t, client(t, srv.Addr()), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout))
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := b.Save(ctx, "k", []byte("v1"), exp, 0); err != nil {
		t.Fatal(err)
	}
	mustRecord(t, a, "k", 1, "v1", exp)
	n := serverReads(t, srv)
	mustRecord(t, a, "k", 1, "v1", exp)
	if got := serverReads(t, srv) - n; got != 0 {
		t.Fatalf("the record is not cached: a read sent %d HMGETs", got)
	}
	srv.Restart(false)
	var last error
	took := eventually(t, "the record is gone after the restart", slack, func() bool {
		_, found, err := a.Load(ctx, "k")
		if err != nil {
			if !backends.IsUnavailable(err) {
				t.Fatalf("Load after restart: %v", err)
			}
			last = err
			return false
		}
		return !found
	})
	t.Logf("the cache was empty %v after the restart (last error: %v)", took, last)
	// Nothing serves it later either.
	for range 20 {
		if _, found, err := a.Load(ctx, "k"); found || err != nil {
			t.Fatalf("Load after restart = found %v, %v", found, err)
		}
	}
}

// TestNearCacheConfiguration covers the clients New takes or refuses and
// the URL forms WithNearCache works with.
func TestNearCacheConfiguration(t *testing.T) {
	srv := redistest.StartServer(t)
	unbounded := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 3,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: 10}})
	t.Cleanup(func() { _ = unbounded.Close() })
	if _, err := redisstore.New(unbounded); !errors.Is(err, redisstore.ErrNearCacheUnbounded) {
		t.Errorf("New on a cache without MaxStaleness = %v, want ErrNearCacheUnbounded", err)
	}
	if _, err := redisstore.New(client(t, srv.Addr()), redisstore.WithNearCache(redisstore.NearCache{})); err == nil {
		t.Error("New took WithNearCache")
	}
	plain, err := redisstore.New(client(t, srv.Addr()))
	if err != nil || plain.MaxStaleness() != 0 {
		t.Errorf("New on a plain client: MaxStaleness %v, %v", plain.MaxStaleness(), err)
	}

	s, err := redisstore.NewFromURL(srv.URL(), redisstore.WithNearCache(redisstore.NearCache{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.MaxStaleness() != redisstore.DefaultMaxStaleness {
		t.Errorf("default MaxStaleness = %v", s.MaxStaleness())
	}
	o := s.Client().(*redis.Client).Options()
	if o.Protocol != 3 || o.ClientSideCacheConfig == nil || o.ClientSideCacheConfig.MaxEntries != 10000 {
		t.Errorf("client options: protocol %d, cache %+v", o.Protocol, o.ClientSideCacheConfig)
	}
	for _, u := range []string{
		"redis://" + srv.Addr() + "/1",
		"redis://" + srv.Addr() + "/0?protocol=2",
		"redis+cluster://" + srv.Addr(),
		"redis+sentinel://" + srv.Addr() + "/mymaster",
	} {
		if _, err := redisstore.NewFromURL(u, redisstore.WithNearCache(redisstore.NearCache{})); !errors.Is(err, redisstore.ErrNearCacheTopology) {
			t.Errorf("NewFromURL(%s) with a near-cache = %v, want ErrNearCacheTopology", u, err)
		}
	}
	if _, err := redisstore.NewFromURL(srv.URL(), redisstore.WithNearCache(redisstore.NearCache{MaxStaleness: -1})); err == nil {
		t.Error("a negative MaxStaleness was taken")
	}
}
