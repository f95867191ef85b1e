package pgstore_test

import (
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

// The backends.Importer contract, concurrent imports included, is checked
// by the conformance suite (storetest); this test checks the limit of the
// version column.

// TestImportVersionLimit: versions are stored as a signed 64-bit integer, so
// an import with a version beyond 2^63-1 is refused and writes nothing.
func TestImportVersionLimit(t *testing.T) {
	_, pool := startServer(t)
	s := newStore(t, pool)
	exp := time.Now().Add(time.Hour)
	if _, err := s.Import(t.Context(), "z", backends.Record{Blob: []byte("x"), Version: 1 << 63, Expiry: exp}, false); err == nil {
		t.Fatal("Import of a version beyond 2^63-1 accepted")
	}
	if _, found, err := s.Load(t.Context(), "z"); err != nil || found {
		t.Fatalf("a refused import wrote: found %v, %v", found, err)
	}
	// The largest version that fits is kept as it is.
	if w, err := s.Import(t.Context(), "z", backends.Record{Blob: []byte("x"), Version: 1<<63 - 1, Expiry: exp}, false); err != nil || !w {
		t.Fatalf("Import of version 2^63-1 = %v, %v", w, err)
	}
	if rec, found, err := s.Load(t.Context(), "z"); err != nil || !found || rec.Version != 1<<63-1 {
		t.Fatalf("Load after Import of version 2^63-1 = v%d %v %v", rec.Version, found, err)
	}
}
