package migrate_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storetest"
	"github.com/sessionkit/session/internal/redistest"
)

// states are the states the conformance suite runs in: every phase, and a
// half rollout into each of the three later ones.
var states = []migrate.State{
	{Phase: migrate.OldOnly},
	{Phase: migrate.WriteBoth, Rollout: 0},
	{Phase: migrate.WriteBoth, Rollout: 50},
	{Phase: migrate.WriteBoth, Rollout: 100},
	{Phase: migrate.ReadNew, Rollout: 50},
	{Phase: migrate.ReadNew, Rollout: 100},

	{Phase: migrate.NewOnly, Rollout: 100},
}

func newMem(t *testing.T) *memstore.Store {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceMemory(t *testing.T) {
	for _, st := range states {
		t.Run(st.String(), func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) backends.Store {
				m, err := migrate.New(newMem(t), newMem(t), st)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			})
		})
	}
}

var prefixes atomic.Int64

// redisPair returns two redisstore stores, one per server, under a prefix
// no other test uses.
func redisPair(t *testing.T, a, b *redis.Client) (old, new *redisstore.Store) {
	return redisPairOn(t, a, b, fmt.Sprintf("t%d:", prefixes.Add(1)))
}

func redisPairOn(t *testing.T, a, b *redis.Client, p string) (old, new *redisstore.Store) {
	var err error
	if old, err = redisstore.New(a, redisstore.WithPrefix(p), redisstore.WithTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if new, err = redisstore.New(b, redisstore.WithPrefix(p), redisstore.WithTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	return old, new
}

func redisClient(t *testing.T, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformanceRedis(t *testing.T) {
	redistest.Require(t)
	a, b := redisClient(t, redistest.StartServer(t)), redisClient(t, redistest.StartServer(t))
	for _, st := range states {
		t.Run(st.String(), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) backends.Store {
				old, new := redisPair(t, a, b)
				m, err := migrate.New(old, new, st)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return m
			})
		})
	}
}
