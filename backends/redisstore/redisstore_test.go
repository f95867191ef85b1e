package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storetest"
	"github.com/sessionkit/session/internal/redistest"
)

// prefixes gives every store of a test its own key space on a shared server.
var prefixes atomic.Int64

func newPrefix() string { return "test" + strconv.FormatInt(prefixes.Add(1), 10) + ":" }

// client returns a go-redis client for srv the way an application would
// configure one: deadlines from the context are honored.
func client(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newStore(t testing.TB, c redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(newPrefix())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// suiteTimeout replaces the 500 ms default in the conformance runs: the
// suite checks the contract, and a loaded test machine must not turn a slow
// scheduler into a failure. Timeouts have their own tests.
const suiteTimeout = 5 * time.Second

func TestConformance(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	t.Run("ContextTimeoutEnabled", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			return newStore(t, c, redisstore.WithTimeout(suiteTimeout))
		})
	})
	// A client that ignores context deadlines takes the goroutine path.
	plain := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = plain.Close() })
	t.Run("PlainClient", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store {
			return newStore(t, plain, redisstore.WithTimeout(suiteTimeout))
		})
	})
	// A client with go-redis's client-side cache.
	t.Run("NearCache", func(t *testing.T) {
		near := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 3, ContextTimeoutEnabled: true,
			ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxStaleness: time.Second}})
		t.Cleanup(func() { _ = near.Close() })
		storetest.Run(t, func(t *testing.T) backends.Store {
			return newStore(t, near, redisstore.WithTimeout(suiteTimeout))
		})
	})
}

func TestExpiryIsSetInRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	s := newStore(t, c)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour + 1234*time.Millisecond)
	if _, err := s.Save(ctx, "k", []byte("x"), exp, 0); err != nil {
		t.Fatal(err)
	}
	key := s.Prefix() + "k"
	got, err := c.PExpireTime(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := exp.UnixMilli(); got.Milliseconds() != want {
		t.Errorf("PEXPIRETIME = %d, want %d", got.Milliseconds(), want)
	}
	exp2 := time.Now().Add(2 * time.Hour)
	if err := s.Touch(ctx, "k", exp2); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.PExpireTime(ctx, key).Result(); got.Milliseconds() != exp2.UnixMilli() {
		t.Errorf("PEXPIRETIME after Touch = %d, want %d", got.Milliseconds(), exp2.UnixMilli())
	}
	// The stored layout: a hash {v, d, e}, e equal to the key's expiry.
	h, err := c.HGetAll(ctx, key).Result()
	if want := strconv.FormatInt(exp2.UnixMilli(), 10); err != nil || h["v"] != "1" || h["d"] != "x" || h["e"] != want || len(h) != 3 {
		t.Errorf("stored hash = %v, %v; want v 1, d x, e %s", h, err, want)
	}

	// The user index expires with its latest deadline.
	deadline := time.Now().Add(24 * time.Hour)
	if err := s.AddUserKey(ctx, "alice", "k", deadline); err != nil {
		t.Fatal(err)
	}
	var idx string
	for _, k := range c.Keys(ctx, s.Prefix()+"user:*").Val() {
		idx = k
	}
	if got, _ := c.PExpireTime(ctx, idx).Result(); got.Milliseconds() != deadline.UnixMilli() {
		t.Errorf("index %q PEXPIRETIME = %d, want %d", idx, got.Milliseconds(), deadline.UnixMilli())
	}
}

// TestConcurrentWritersNoLostUpdate has 100 goroutines increment one
// session's counter with load, compare-and-set and retry.
func TestConcurrentWritersNoLostUpdate(t *testing.T) {
	srv := redistest.StartServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, PoolSize: 100})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, redisstore.WithTimeout(5*time.Second))
	ctx := t.Context()
	if _, err := s.Save(ctx, "counter", []byte("0"), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	const writers, each, maxTries = 100, 5, 100000
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for range each {
				for try := 0; ; try++ {
					if try == maxTries {
						t.Errorf("writer %d gave up", w)
						return
					}
					rec, found, err := s.Load(ctx, "counter")
					if err != nil || !found {
						t.Errorf("Load: %v %v", found, err)
						return
					}
					n, _ := strconv.Atoi(string(rec.Blob))
					_, err = s.Save(ctx, "counter", []byte(strconv.Itoa(n+1)), time.Now().Add(time.Hour), rec.Version)
					if backends.IsConflict(err) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("Save: %v", err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	rec, _, err := s.Load(ctx, "counter")
	if err != nil || string(rec.Blob) != strconv.Itoa(writers*each) || rec.Version != writers*each+1 {
		t.Fatalf("counter = %q version %d, %v; want %d version %d", rec.Blob, rec.Version, err, writers*each, writers*each+1)
	}
	t.Logf("%d increments, %d conflicts retried", writers*each, conflicts.Load())
}

// TestRoundTrips pins the number of round trips (client side, by a hook) and
// of commands the server ran (INFO commandstats) for each operation.
func TestRoundTrips(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	var rt redistest.RoundTrips
	c.AddHook(&rt)
	s := newStore(t, c)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	// The scripts are in the server's cache, as in a running application.
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		op    func() error
		trips int64
		cmds  map[string]int64 // top-level commands the server ran
	}{
		{"Save/create", func() error { _, err := s.Save(ctx, "k", []byte("v1"), exp, 0); return err }, 1,
			map[string]int64{"evalsha": 1}},
		{"Load", func() error { _, _, err := s.Load(ctx, "k"); return err }, 1,
			map[string]int64{"hmget": 1}},
		{"Load/missing", func() error { _, _, err := s.Load(ctx, "nope"); return err }, 1,
			map[string]int64{"hmget": 1}},
		{"Save/update", func() error { _, err := s.Save(ctx, "k", []byte("v2"), exp, 1); return err }, 1,
			map[string]int64{"evalsha": 1}},
		{"Touch", func() error { return s.Touch(ctx, "k", exp.Add(time.Minute)) }, 1,
			map[string]int64{"evalsha": 1}},
		{"AddUserKey", func() error { return s.AddUserKey(ctx, "alice", "k", day) }, 1,
			map[string]int64{"evalsha": 1}},
		{"Renew", func() error { return s.Renew(ctx, "k", 2, "k2", []byte("v3"), exp, "alice", day) }, 1,
			map[string]int64{"evalsha": 1}},
		{"Delete", func() error { return s.Delete(ctx, "k2") }, 1,
			map[string]int64{"del": 1}},
	} {
		before := srv.CommandStats(ctx)
		rt.Reset()
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		trips := rt.Trips()
		delta := redistest.Delta(before, srv.CommandStats(ctx))
		if trips != tc.trips {
			t.Errorf("%s: %d round trips, want %d", tc.name, trips, tc.trips)
		}
		for cmd, n := range tc.cmds {
			if delta[cmd] != n {
				t.Errorf("%s: server ran %s %d times, want %d (all: %v)", tc.name, cmd, delta[cmd], n, delta)
			}
		}
		for _, cmd := range []string{"eval", "script|load", "evalsha", "del", "pexpireat", "hmget", "pexpiretime"} {
			if _, want := tc.cmds[cmd]; !want && delta[cmd] != 0 && !insideScript(tc.cmds, cmd) {
				t.Errorf("%s: unexpected %s ×%d (all: %v)", tc.name, cmd, delta[cmd], delta)
			}
		}
		t.Logf("%-12s %d round trip(s), server commands %v", tc.name, trips, delta)
	}
}

// insideScript reports whether cmd may have been run by a script of the
// operation (commandstats counts those too).
func insideScript(top map[string]int64, cmd string) bool {
	return top["evalsha"] > 0 && (cmd == "del" || cmd == "pexpireat" || cmd == "hmget")
}

func TestRestartWithDataLost(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newStore(t, client(t, srv.Addr()))
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	for i := range 10 {
		if _, err := s.Save(ctx, "k"+strconv.Itoa(i), []byte("x"), exp, 0); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(false)
	// The pool's connections died with the server; go-redis notices the
	// dead connection, redials and retries (MaxRetries), so no error is
	// expected. Should one happen, it must be ErrUnavailable and short-lived.
	var err error
	for i := range 10 {
		if i > 0 {
			t.Logf("Load after restart, attempt %d: %v", i, err)
		}
		var found bool
		_, found, err = s.Load(ctx, "k0")
		if err == nil {
			if found {
				t.Fatal("a session survived a restart without data")
			}
			break
		}
		if !backends.IsUnavailable(err) {
			t.Fatalf("Load after restart: %v (not ErrUnavailable)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Load after restart: %v", err)
	}
	for i := range 10 {
		_, found, err := s.Load(ctx, "k"+strconv.Itoa(i))
		if err != nil || found {
			t.Fatalf("Load(k%d) after restart = found %v, %v; want not found, nil", i, found, err)
		}
	}
	// A stale writer cannot resurrect a lost session, a new one can start.
	if _, err := s.Save(ctx, "k1", []byte("stale"), exp, 1); !backends.IsConflict(err) {
		t.Errorf("stale Save after restart = %v, want conflict", err)
	}
	if v, err := s.Save(ctx, "k1", []byte("fresh"), exp, 0); err != nil || v != 1 {
		t.Errorf("Save after restart = %d, %v", v, err)
	}
}

func TestScriptFlushSurvived(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	s := newStore(t, c)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	if _, err := s.Save(ctx, "k", []byte("v1"), exp, 0); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		op   func() error
	}{
		{"Load", func() error { _, _, err := s.Load(ctx, "k"); return err }},
		{"Save", func() error { _, err := s.Save(ctx, "k", []byte("v2"), exp, 1); return err }},
		{"AddUserKey", func() error { return s.AddUserKey(ctx, "u", "k", day) }},
		{"Renew", func() error { return s.Renew(ctx, "k", 2, "k2", []byte("v3"), exp, "u", day) }},
	}
	for _, st := range steps {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := st.op(); err != nil {
			t.Fatalf("%s after SCRIPT FLUSH: %v", st.name, err)
		}
	}
	rec, found, err := s.Load(ctx, "k2")
	if err != nil || !found || string(rec.Blob) != "v3" {
		t.Fatalf("Load(k2) = %q %v %v", rec.Blob, found, err)
	}
	keys, err := s.UserKeys(ctx, "u")
	if err != nil || len(keys) != 1 || keys[0] != "k2" {
		t.Fatalf("UserKeys = %q, %v", keys, err)
	}
}

func TestForeignValue(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	s := newStore(t, c)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	p := s.Prefix()
	c.Set(ctx, p+"string", "someone else's", 0)
	c.RPush(ctx, p+"list", "a", "b")
	c.HSet(ctx, p+"hash", "name", "not a session")
	c.HSet(ctx, p+"noversion", "d", "blob", "e", strconv.FormatInt(exp.UnixMilli(), 10))
	c.HSet(ctx, p+"badversion", "v", "x1", "d", "blob")
	c.HSet(ctx, p+"badexpiry", "v", "1", "d", "blob", "e", "soon")
	c.HSet(ctx, p+"noexpiry", "v", "1", "d", "blob")
	// A hash with none of the fields v, d and e reads as missing: one HMGET
	// cannot tell it from a missing key. Save still refuses it.
	if _, found, err := s.Load(ctx, "hash"); err != nil || found {
		t.Errorf("Load(hash) = found %v, %v; want not found", found, err)
	}
	if _, err := s.Save(ctx, "hash", []byte("mine"), exp, 0); !errors.Is(err, redisstore.ErrForeignValue) {
		t.Errorf("Save(hash) = %v, want ErrForeignValue", err)
	}
	for _, k := range []string{"string", "list", "noversion", "badversion", "badexpiry", "noexpiry"} {
		_, found, err := s.Load(ctx, k)
		if !errors.Is(err, redisstore.ErrForeignValue) || found {
			t.Errorf("Load(%s) = found %v, %v; want ErrForeignValue", k, found, err)
		}
		var oe *backends.OpError
		if !errors.As(err, &oe) || oe.Op != "load" || oe.Backend != "redis" {
			t.Errorf("Load(%s) error %v is not an OpError for load", k, err)
		}
		if backends.IsUnavailable(err) {
			t.Errorf("Load(%s): a foreign value is not an outage: %v", k, err)
		}
		if k == "badversion" || k == "badexpiry" || k == "noexpiry" {
			continue // a hash with a v field: Save compares versions
		}
		if _, err := s.Save(ctx, k, []byte("mine"), exp, 0); !errors.Is(err, redisstore.ErrForeignValue) {
			t.Errorf("Save(%s) = %v, want ErrForeignValue", k, err)
		}
	}
	if v, _ := c.Get(ctx, p+"string").Result(); v != "someone else's" {
		t.Errorf("foreign value changed to %q", v)
	}
	// A foreign user index.
	ui := s
	if err := ui.AddUserKey(ctx, "alice", "k", exp); err != nil {
		t.Fatal(err)
	}
	for _, k := range c.Keys(ctx, p+"user:*").Val() {
		c.Del(ctx, k)
		c.Set(ctx, k, "x", 0)
	}
	if err := ui.AddUserKey(ctx, "alice", "k", exp); !errors.Is(err, redisstore.ErrForeignValue) {
		t.Errorf("AddUserKey on a foreign index = %v, want ErrForeignValue", err)
	}
}

func TestClosed(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := t.Context()

	// The store closed: ErrClosed, the user's client still works.
	c := client(t, srv.Addr())
	s := newStore(t, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := s.Load(ctx, "k")
	if !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Load on a closed store = %v, want ErrClosed", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("Close closed the caller's client: %v", err)
	}

	// The user's client closed under the store.
	c2 := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	s2 := newStore(t, c2)
	_ = c2.Close()
	_, err = s2.Save(ctx, "k", []byte("x"), time.Now().Add(time.Hour), 0)
	if !errors.Is(err, backends.ErrClosed) || !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Save with a closed client = %v, want ErrClosed", err)
	}
	if backends.IsUnavailable(err) {
		t.Errorf("a closed client is a permanent error, not an outage: %v", err)
	}
	t.Logf("closed client: %v", err)

	// NewFromURL owns its client.
	s3, err := redisstore.NewFromURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s3.Close()
	if err := s3.Client().Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("client after Close of a NewFromURL store: %v, want closed", err)
	}
}

// TestHungServer stops the server with SIGSTOP: every operation must fail
// within the timeout with an error matching ErrUnavailable.
func TestHungServer(t *testing.T) {
	srv := redistest.StartServer(t)
	const timeout = 200 * time.Millisecond
	fromURL, err := redisstore.NewFromURL(srv.URL(), redisstore.WithTimeout(timeout), redisstore.WithPrefix(newPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fromURL.Close() })
	// A client with go-redis defaults (no ContextTimeoutEnabled, 3 s reads).
	plain := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = plain.Close() })
	stores := map[string]*redisstore.Store{
		"NewFromURL":  fromURL,
		"PlainClient": newStore(t, plain, redisstore.WithTimeout(timeout)),
	}
	ctx := t.Context()
	for _, s := range stores {
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	defer srv.Cont()
	for name, s := range stores {
		ops := map[string]func() error{
			"load":  func() error { _, _, err := s.Load(ctx, "k"); return err },
			"save":  func() error { _, err := s.Save(ctx, "k", []byte("x"), time.Now().Add(time.Hour), 0); return err },
			"touch": func() error { return s.Touch(ctx, "k", time.Now().Add(time.Hour)) },
			"ping":  func() error { return s.Ping(ctx) },
		}
		for op, fn := range ops {
			start := time.Now()
			err := fn()
			took := time.Since(start)
			if !backends.IsUnavailable(err) {
				t.Errorf("%s %s on a hung server = %v, want ErrUnavailable", name, op, err)
			}
			// Well under go-redis's own 3 s read timeout (times retries).
			if took > 10*timeout {
				t.Errorf("%s %s took %v with a timeout of %v", name, op, took, timeout)
			}
			t.Logf("%s %s: %v after %v", name, op, err, took.Round(time.Millisecond))
		}
	}

	// The caller giving up is not an outage.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, _, err = fromURL.Load(cctx, "k")
	if !errors.Is(err, context.Canceled) || backends.IsUnavailable(err) {
		t.Errorf("Load canceled by the caller = %v, want context.Canceled and not ErrUnavailable", err)
	}
}

func TestKilledServerIsUnavailable(t *testing.T) {
	srv := redistest.StartServer(t)
	s, err := redisstore.NewFromURL(srv.URL(), redisstore.WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	srv.Kill()
	_, _, err = s.Load(t.Context(), "k")
	if !backends.IsUnavailable(err) {
		t.Fatalf("Load with the server down = %v, want ErrUnavailable", err)
	}
	var oe *backends.OpError
	if !errors.As(err, &oe) || oe.Op != "load" || oe.Backend != "redis" {
		t.Errorf("error %v does not name the operation", err)
	}
}

func TestNewValidation(t *testing.T) {
	if _, err := redisstore.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := redisstore.New(c, redisstore.WithTimeout(-time.Second)); err == nil {
		t.Error("negative timeout accepted")
	}
	// Construction does no I/O: a server that is down does not matter...
	if _, err := redisstore.New(c); err != nil {
		t.Errorf("New with the server down: %v", err)
	}
	// ...unless asked.
	if _, err := redisstore.New(c, redisstore.WithPingOnStart(), redisstore.WithTimeout(200*time.Millisecond)); !backends.IsUnavailable(err) {
		t.Errorf("WithPingOnStart with the server down = %v, want ErrUnavailable", err)
	}
	for _, o := range []*redis.ClusterOptions{
		{Addrs: []string{"127.0.0.1:1"}, ReadOnly: true},
		{Addrs: []string{"127.0.0.1:1"}, RouteByLatency: true},
		{Addrs: []string{"127.0.0.1:1"}, RouteRandomly: true},
	} {
		cc := redis.NewClusterClient(o)
		if _, err := redisstore.New(cc); !errors.Is(err, redisstore.ErrReplicaReads) {
			t.Errorf("cluster client %+v: %v, want ErrReplicaReads", o, err)
		}
		_ = cc.Close()
	}
}

func TestNewFromURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		kind string // "single", "cluster", "failover", or "" for an error
		addr string
		db   int
		user string
		pass string
		tls  bool
	}{
		{url: "redis://127.0.0.1:6380/3", kind: "single", addr: "127.0.0.1:6380", db: 3},
		{url: "redis://u:p%40ss@localhost", kind: "single", addr: "localhost:6379", user: "u", pass: "p@ss"},
		{url: "rediss://:secret@cache.example:6390/1?dial_timeout=2s", kind: "single", addr: "cache.example:6390", db: 1, pass: "secret", tls: true},
		{url: "unix:///run/redis.sock?db=2", kind: "single", addr: "/run/redis.sock", db: 2},
		{url: "redis://h1:7000?addr=h2:7001&addr=h3:7002", kind: "cluster", addr: "h1:7000,h2:7001,h3:7002"},
		{url: "redis+cluster://u:p@h1:7000,h2,h3:7002", kind: "cluster", addr: "h1:7000,h2:6379,h3:7002", user: "u", pass: "p"},
		{url: "rediss+cluster://h1:7000", kind: "cluster", addr: "h1:7000", tls: true},
		{url: "redis+sentinel://u:p@s1:26379,s2,s3:26380/mymaster/4?sentinel_password=sp", kind: "failover", addr: "s1:26379,s2:26379,s3:26380", db: 4, user: "u", pass: "p"},
		{url: "redis://s1:26379?master_name=mymaster&addr=s2:26379", kind: "failover", addr: "s1:26379,s2:26379"},
		{url: "http://h1"},
		{url: "redis://h1/notanumber"},
		{url: "redis://h1?no_such_option=1"},
		{url: "redis+sentinel://s1"},
		{url: "redis+sentinel://s1/m/x"},
		{url: "redis+cluster://h1/2"},
		{url: "redis://h1:7000?addr=h2:7001&read_only=true"},
		{url: "redis://s1?master_name=m&route_randomly=true"},
		{url: "redis://user:hunter2@h1:99999999999/x"},
	} {
		s, err := redisstore.NewFromURL(tc.url)
		if tc.kind == "" {
			if err == nil {
				_ = s.Close()
				t.Errorf("NewFromURL(%q) succeeded", tc.url)
			} else if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats the password: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewFromURL(%q): %v", tc.url, err)
			continue
		}
		var (
			addr, user, pass string
			db               int
			tlsOn, ctxOn     bool
			kind             string
		)
		switch c := s.Client().(type) {
		case *redis.Client:
			o := c.Options()
			addr, db, user, pass, tlsOn, ctxOn = o.Addr, o.DB, o.Username, o.Password, o.TLSConfig != nil, o.ContextTimeoutEnabled
			kind = "single"
			if o.Addr == "FailoverClient" {
				kind = "failover"
			}
		case *redis.ClusterClient:
			o := c.Options()
			addr, user, pass, tlsOn, ctxOn = strings.Join(o.Addrs, ","), o.Username, o.Password, o.TLSConfig != nil, o.ContextTimeoutEnabled
			kind = "cluster"
		}
		if kind == "failover" {
			// The sentinel addresses are not visible on the client; check
			// what is.
			addr = tc.addr
		}
		if kind != tc.kind || addr != tc.addr || db != tc.db || user != tc.user || pass != tc.pass || tlsOn != tc.tls || !ctxOn {
			t.Errorf("NewFromURL(%q) = %s addr %q db %d user %q pass %q tls %v ctx %v; want %s %q %d %q %q %v true",
				tc.url, kind, addr, db, user, pass, tlsOn, ctxOn, tc.kind, tc.addr, tc.db, tc.user, tc.pass, tc.tls)
		}
		_ = s.Close()
	}
}
