package replicate_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/replicate"
	"github.com/sessionkit/session/backends/storetest"
	"github.com/sessionkit/session/internal/redistest"
)

func newMem(t *testing.T) *memstore.Store {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRep(t *testing.T, primary backends.Store, standbys []backends.Store, opts ...replicate.Option) *replicate.Store {
	r, err := replicate.New(primary, standbys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return newRep(t, newMem(t), []backends.Store{newMem(t), newMem(t)})
	})
}

var prefixes atomic.Int64

func redisStore(t *testing.T, c *redis.Client, prefix string) *redisstore.Store {
	s, err := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func redisClient(t *testing.T, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, PoolSize: 64, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformanceRedis(t *testing.T) {
	redistest.Require(t)
	a, b := redisClient(t, redistest.StartServer(t)), redisClient(t, redistest.StartServer(t))
	storetest.Run(t, func(t *testing.T) backends.Store {
		p := fmt.Sprintf("t%d:", prefixes.Add(1))
		return newRep(t, redisStore(t, a, p), []backends.Store{redisStore(t, b, p)})
	})
}

// TestStandbysConverge drives concurrent writes, renewals and deletions
// through a queue of one item, so that most changes are dropped, and checks
// that anti-entropy passes make the standby equal to the primary: same
// keys, versions, blobs and expiries, and nothing the primary lacks.
func TestStandbysConverge(t *testing.T) {
	ctx := t.Context()
	primary, standby := newMem(t), newMem(t)
	r := newRep(t, primary, []backends.Store{standby}, replicate.WithQueueSize(1), replicate.WithAntiEntropy(0, 50))

	// A record the standby holds at a higher version than the primary (a
	// write it got elsewhere) is never replaced by the primary's older one.
	exp := time.Now().Add(time.Hour)
	if _, err := primary.Save(ctx, "ahead", []byte("primary v1"), exp, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := standby.Import(ctx, "ahead", backends.Record{Blob: []byte("standby v5"), Version: 5, Expiry: exp}, false); err != nil {
		t.Fatal(err)
	}
	// A record only the standby holds is an orphan: deleted.
	if _, err := standby.Save(ctx, "orphan", []byte("x"), exp, 0); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				key := fmt.Sprintf("g%d-k%d", g, i%10)
				rec, _, err := r.Load(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				switch i % 7 {
				case 5:
					_ = r.Delete(ctx, key)
				case 6:
					_ = r.Renew(ctx, key, rec.Version, key+"-r", []byte("renewed"), exp, "", time.Time{})
				default:
					_, _ = r.Save(ctx, key, fmt.Appendf(nil, "%d", i), exp.Add(time.Duration(i)*time.Second), rec.Version)
				}
			}
		}()
	}
	wg.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Dropped == 0 {
		t.Fatalf("no change dropped by a queue of one (%+v): the test exercises nothing", st)
	}
	for range 20 {
		if _, err := r.AntiEntropy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]bool{}
	_ = primary.Keys(ctx, func(k string) bool { keys[k] = true; return true })
	_ = standby.Keys(ctx, func(k string) bool { keys[k] = true; return true })
	for k := range keys {
		p, pf, _ := primary.Load(ctx, k)
		s, sf, _ := standby.Load(ctx, k)
		if k == "ahead" {
			if string(s.Blob) != "standby v5" {
				t.Errorf("standby's newer record replaced by %q", s.Blob)
			}
			continue
		}
		if pf != sf || p.Version != s.Version || string(p.Blob) != string(s.Blob) || !p.Expiry.Equal(s.Expiry) {
			t.Errorf("%s: primary %v %d %q %v, standby %v %d %q %v", k, pf, p.Version, p.Blob, p.Expiry, sf, s.Version, s.Blob, s.Expiry)
		}
	}
	t.Logf("stats: %+v", r.Stats())
}

func TestTouchReachesTheStandby(t *testing.T) {
	ctx := t.Context()
	primary, standby := newMem(t), newMem(t)
	r := newRep(t, primary, []backends.Store{standby}, replicate.WithAntiEntropy(0, 10))
	exp := time.Now().Add(time.Hour).Round(time.Millisecond)
	if _, err := r.Save(ctx, "k", []byte("x"), exp, 0); err != nil {
		t.Fatal(err)
	}
	later := exp.Add(30 * time.Minute)
	if err := r.Touch(ctx, "k", later); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, found, err := standby.Load(ctx, "k")
	if err != nil || !found || !rec.Expiry.Equal(later) || rec.Version != 1 {
		t.Fatalf("standby: %v %v v%d expiry %v, want v1 expiry %v", found, err, rec.Version, rec.Expiry, later)
	}
}
