package degrade_test

import (
	"testing"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/storetest"
	"github.com/sessionkit/session/degrade"
)

// TestConformance runs the store contract against a Store whose primary is
// healthy: fail-over must be invisible then.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		p, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		s, err := degrade.New(p, degrade.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
