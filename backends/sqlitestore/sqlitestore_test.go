package sqlitestore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/backends/storetest"
)

func open(t *testing.T, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path, append([]sqlitestore.Option{sqlitestore.WithTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store conformance suite, each subtest on a new
// file, with the janitor on (a short interval, so it runs during the
// expiry tests).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return open(t, filepath.Join(t.TempDir(), "sessions.db"), sqlitestore.WithJanitor(100*time.Millisecond, 10))
	})
}

// TestConformanceWithoutJanitor: expiry holds with the janitor off.
func TestConformanceWithoutJanitor(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return open(t, filepath.Join(t.TempDir(), "with space?and#odd%chars.db"), sqlitestore.WithJanitor(-1, 0))
	})
}
