package pgstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/storetest"
	"github.com/sessionkit/session/internal/pgtest"
)

// startServer returns a cluster of its own for t, and a pool on it closed
// when t ends.
func startServer(t *testing.T) (*pgtest.Server, *pgxpool.Pool) {
	t.Helper()
	pgtest.Require(t)
	srv := pgtest.Start(t)
	pool, err := pgxpool.New(context.Background(), srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return srv, pool
}

var prefixes atomic.Int64

// freshPrefix returns a table prefix no other store of the test binary uses,
// so that stores on one cluster start empty.
func freshPrefix() string { return fmt.Sprintf("t%d_", prefixes.Add(1)) }

func newStore(t *testing.T, pool *pgxpool.Pool, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(pool, append([]pgstore.Option{pgstore.WithPrefix(freshPrefix()), pgstore.WithTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store conformance suite with the janitor on (a
// short interval, so it runs during the expiry tests).
func TestConformance(t *testing.T) {
	_, pool := startServer(t)
	storetest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, pool, pgstore.WithJanitor(100*time.Millisecond, 10))
	})
}

// TestConformanceWithoutJanitor: expiry holds with the janitor off.
func TestConformanceWithoutJanitor(t *testing.T) {
	_, pool := startServer(t)
	storetest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, pool, pgstore.WithJanitor(-1, 0))
	})
}
