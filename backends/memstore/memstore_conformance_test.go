package memstore_test

import (
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/storetest"
)

// TestConformance runs the shared suite against several configurations:
// the defaults, a single shard (every multi-key operation on one lock), and
// a janitor that runs all the time.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts memstore.Options
	}{
		{"Defaults", memstore.Options{}},
		{"OneShardNoJanitor", memstore.Options{Shards: 1, JanitorInterval: -1}},
		{"BusyJanitor", memstore.Options{Shards: 3, JanitorInterval: 5 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) backends.Store {
				s, err := memstore.New(tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
