// Package sessiontest holds the helpers that the tests of several packages
// and modules of this repository share: an in-memory store closed with the
// test, a memstore that counts the calls the manager makes, and a log
// buffer safe for concurrent use.
//
// It is imported by tests only, never by the library itself.
package sessiontest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

// NewMemstore returns an in-memory store that is closed when t ends.
func NewMemstore(t testing.TB) *memstore.Store {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

// CountingStore is a memstore that counts the calls the manager makes and
// checks that no record is ever written without an expiry: a Save, Touch
// or Renew with a zero expiry fails the test.
type CountingStore struct {
	*memstore.Store
	t testing.TB

	Loads, Saves, Touches, Deletes, Renews atomic.Int64
}

// NewCountingStore returns a CountingStore over a memstore that is closed
// when t ends.
func NewCountingStore(t testing.TB) *CountingStore {
	t.Helper()
	return &CountingStore{Store: NewMemstore(t), t: t}
}

// Calls returns the number of calls made so far, of every kind.
func (c *CountingStore) Calls() int64 {
	return c.Loads.Load() + c.Saves.Load() + c.Touches.Load() + c.Deletes.Load() + c.Renews.Load()
}

func (c *CountingStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	c.Loads.Add(1)
	return c.Store.Load(ctx, key)
}

func (c *CountingStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	c.Saves.Add(1)
	if exp.IsZero() {
		c.t.Errorf("Save of %s without expiry", key)
	}
	return c.Store.Save(ctx, key, blob, exp, v)
}

func (c *CountingStore) Touch(ctx context.Context, key string, exp time.Time) error {
	c.Touches.Add(1)
	if exp.IsZero() {
		c.t.Errorf("Touch of %s without expiry", key)
	}
	return c.Store.Touch(ctx, key, exp)
}

func (c *CountingStore) Delete(ctx context.Context, key string) error {
	c.Deletes.Add(1)
	return c.Store.Delete(ctx, key)
}

func (c *CountingStore) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, userID string, deadline time.Time) error {
	c.Renews.Add(1)
	if exp.IsZero() {
		c.t.Errorf("Renew to %s without expiry", newKey)
	}
	return c.Store.Renew(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
}

// LogBuffer collects log output (of a slog handler, or of an http.Server's
// ErrorLog) and is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
