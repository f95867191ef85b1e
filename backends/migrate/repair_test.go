package migrate_test

import (
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/migrate"
)

// TestReadNewRepairs checks what read-new does with records one store
// lacks or holds behind: it serves the higher version and copies it to the
// other store, with its version, so that compare-and-set goes on.
func TestReadNewRepairs(t *testing.T) {
	ctx := t.Context()
	old, new := newMem(t), newMem(t)
	m, err := migrate.New(old, new, migrate.State{Phase: migrate.ReadNew, Rollout: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	exp := time.Now().Add(time.Hour)
	put := func(st backends.Importer, key, blob string, v uint64) {
		t.Helper()
		if _, err := st.Import(ctx, key, backends.Record{Blob: []byte(blob), Version: v, Expiry: exp}, false); err != nil {
			t.Fatal(err)
		}
	}
	check := func(st backends.Store, name, key, blob string, v uint64) {
		t.Helper()
		rec, found, err := st.Load(ctx, key)
		if err != nil || !found || string(rec.Blob) != blob || rec.Version != v {
			t.Fatalf("%s store, %s: %q v%d %v %v; want %q v%d", name, key, rec.Blob, rec.Version, found, err, blob, v)
		}
	}
	put(old, "only-old", "o", 3)   // never copied (no backfill)
	put(old, "old-ahead", "o5", 5) // the new copy missed a write
	put(new, "old-ahead", "n4", 4)
	put(new, "new-ahead", "n7", 7) // an instance in new-only wrote it
	put(old, "new-ahead", "o6", 6)

	for _, c := range []struct {
		key, blob string
		v         uint64
	}{{"only-old", "o", 3}, {"old-ahead", "o5", 5}, {"new-ahead", "n7", 7}} {
		check(m, "migrating", c.key, c.blob, c.v)
		check(old, "old", c.key, c.blob, c.v)
		check(new, "new", c.key, c.blob, c.v)
		// The compare-and-set goes on from the served version.
		if v, err := m.Save(ctx, c.key, []byte("next"), exp, c.v); err != nil || v != c.v+1 {
			t.Fatalf("Save after repair of %s = %d, %v", c.key, v, err)
		}
		check(new, "new", c.key, "next", c.v+1)
	}
	if got := m.Status().Counters.Repairs; got != 3 {
		t.Errorf("Repairs = %d, want 3", got)
	}

	// A record deleted through the migrating store stays deleted in both.
	if err := m.Delete(ctx, "only-old"); err != nil {
		t.Fatal(err)
	}
	for _, st := range []backends.Store{m, old, new} {
		if _, found, _ := st.Load(ctx, "only-old"); found {
			t.Fatal("deleted record still found")
		}
	}
}
