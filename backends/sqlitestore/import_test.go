package sqlitestore_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

func TestImport(t *testing.T) {
	t.Run("Contract", func(t *testing.T) { testImport(t, open(t, filepath.Join(t.TempDir(), "s.db"))) })
	t.Run("Concurrent", func(t *testing.T) { testImportConcurrent(t, open(t, filepath.Join(t.TempDir(), "s.db"))) })
}

// importer is a store with backends.Importer.
type importer interface {
	backends.Store
	backends.Importer
}

// testImport checks the backends.Importer contract on st.
func testImport(t *testing.T, st importer) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	rec := func(blob string, v uint64) backends.Record {
		return backends.Record{Blob: []byte(blob), Version: v, Expiry: exp}
	}
	expect := func(what string, key, blob string, v uint64) {
		t.Helper()
		got, found, err := st.Load(ctx, key)
		if err != nil || !found || string(got.Blob) != blob || got.Version != v || !got.Expiry.Equal(exp) {
			t.Fatalf("%s: Load = %q v%d %v %v %v, want %q v%d %v", what, got.Blob, got.Version, got.Expiry, found, err, blob, v, exp)
		}
	}
	if w, err := st.Import(ctx, "k", rec("a", 5), false); err != nil || !w {
		t.Fatalf("Import into a free key = %v, %v", w, err)
	}
	expect("imported", "k", "a", 5)
	if w, err := st.Import(ctx, "k", rec("older", 4), false); err != nil || w {
		t.Fatalf("Import of a lower version = %v, %v", w, err)
	}
	if w, err := st.Import(ctx, "k", rec("same", 5), false); err != nil || w {
		t.Fatalf("Import of the same version = %v, %v", w, err)
	}
	if w, err := st.Import(ctx, "k", rec("newer", 6), true); err != nil || w {
		t.Fatalf("Import onlyIfAbsent over a record = %v, %v", w, err)
	}
	expect("kept", "k", "a", 5)
	if w, err := st.Import(ctx, "k", rec("newer", 10), false); err != nil || !w {
		t.Fatalf("Import of a higher version = %v, %v", w, err)
	}
	expect("replaced", "k", "newer", 10)
	// The compare-and-set goes on from the imported version.
	if _, err := st.Save(ctx, "k", []byte("stale"), exp, 9); !backends.IsConflict(err) {
		t.Fatalf("Save at the version before the import: %v, want a conflict", err)
	}
	if v, err := st.Save(ctx, "k", []byte("saved"), exp, 10); err != nil || v != 11 {
		t.Fatalf("Save after Import = %d, %v", v, err)
	}
	// An empty blob round-trips.
	if w, err := st.Import(ctx, "empty", backends.Record{Version: 3, Expiry: exp}, true); err != nil || !w {
		t.Fatalf("Import of an empty blob = %v, %v", w, err)
	}
	if got, found, err := st.Load(ctx, "empty"); err != nil || !found || len(got.Blob) != 0 || got.Version != 3 {
		t.Fatalf("empty blob: Load = %q v%d %v %v", got.Blob, got.Version, found, err)
	}

	// A record that has expired counts as absent, even for onlyIfAbsent,
	// and whatever its version.
	dying := time.Now().Add(50 * time.Millisecond)
	v, err := st.Save(ctx, "x", []byte("dying"), dying, 0)
	if err == nil {
		_, err = st.Save(ctx, "x", []byte("dying"), dying, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(dying) + 20*time.Millisecond)
	if w, err := st.Import(ctx, "x", rec("fresh", 1), true); err != nil || !w {
		t.Fatalf("Import over an expired record = %v, %v", w, err)
	}
	expect("over expired", "x", "fresh", 1)

	if _, err := st.Import(ctx, "z", backends.Record{Blob: []byte("x"), Version: 1}, false); !errors.Is(err, backends.ErrNoExpiry) {
		t.Fatalf("Import without expiry: %v", err)
	}
	if w, err := st.Import(ctx, "p", backends.Record{Blob: []byte("x"), Version: 1, Expiry: time.Now().Add(-time.Second)}, false); err != nil || w {
		t.Fatalf("Import of an expired record = %v, %v", w, err)
	}
	if _, found, _ := st.Load(ctx, "p"); found {
		t.Fatal("expired record imported")
	}
	if _, err := st.Import(ctx, "z", backends.Record{Blob: []byte("x"), Expiry: exp}, false); err == nil {
		t.Fatal("Import of version 0 accepted")
	}
	if _, err := st.Import(ctx, "z", backends.Record{Blob: []byte("x"), Version: 1 << 63, Expiry: exp}, false); err == nil {
		t.Fatal("Import of a version beyond 2^63-1 accepted")
	}
	if _, found, _ := st.Load(ctx, "z"); found {
		t.Fatal("a refused import wrote")
	}
}

// testImportConcurrent: goroutines import versions 1 to n of one key in
// random order, beside writers that save over what they load: the record
// ends at a version no lower than n, its blob the one written with that
// version, and no import ever lowers the version a reader sees.
func testImportConcurrent(t *testing.T, st importer) {
	const n = 60
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	blob := func(v uint64) []byte { return fmt.Appendf(nil, "version %d", v) }
	var wg sync.WaitGroup
	for _, v := range rand.Perm(n) {
		wg.Go(func() {
			if _, err := st.Import(ctx, "k", backends.Record{Blob: blob(uint64(v + 1)), Version: uint64(v + 1), Expiry: exp}, false); err != nil {
				t.Error(err)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			var last uint64
			for range 20 {
				rec, found, err := st.Load(ctx, "k")
				if err != nil {
					t.Error(err)
					return
				}
				if !found {
					continue
				}
				if rec.Version < last {
					t.Errorf("version went back from %d to %d", last, rec.Version)
				}
				last = rec.Version
				if !bytes.Equal(rec.Blob, blob(rec.Version)) {
					t.Errorf("version %d holds %q", rec.Version, rec.Blob)
				}
				if v, err := st.Save(ctx, "k", blob(rec.Version+1), exp, rec.Version); err == nil {
					last = v
				} else if !backends.IsConflict(err) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rec, found, err := st.Load(ctx, "k")
	if err != nil || !found || rec.Version < n || !bytes.Equal(rec.Blob, blob(rec.Version)) {
		t.Fatalf("after the imports: %q v%d %v %v; want version %d or later with its blob", rec.Blob, rec.Version, found, err, n)
	}
}
