package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

func init() {
	register("Importer",
		testCase{name: "VersionsOnlyMoveUp", fn: testImportVersions},
		testCase{name: "EmptyBlob", fn: testImportEmptyBlob},
		testCase{name: "ExpiredRecordIsAbsent", fn: testImportOverExpired},
		testCase{name: "Refused", fn: testImportRefused},
		testCase{name: "ConcurrentWithSaves", fn: testImportConcurrent},
	)
}

// importExpiry is the expiry the Import tests give their records. It is
// whole milliseconds, which every store keeps exactly: Import must return
// the expiry it was given, not one derived from a TTL.
func importExpiry() time.Time { return time.Now().Add(longTTL).Truncate(time.Millisecond) }

// importRec calls Import and fails the test unless it returns written and
// no error.
func importRec(t *testing.T, s backends.Store, key string, rec backends.Record, onlyIfAbsent, written bool) {
	t.Helper()
	w, err := s.(backends.Importer).Import(t.Context(), key, rec, onlyIfAbsent)
	if err != nil {
		t.Fatalf("Import(%q, version %d, onlyIfAbsent %v): %v", key, rec.Version, onlyIfAbsent, err)
	}
	if w != written {
		t.Fatalf("Import(%q, version %d, onlyIfAbsent %v) = written %v, want %v", key, rec.Version, onlyIfAbsent, w, written)
	}
}

// mustLoadImported loads key and fails the test unless it holds version,
// blob and exactly the expiry exp.
func mustLoadImported(t *testing.T, s backends.Store, key string, version uint64, blob string, exp time.Time) {
	t.Helper()
	rec := mustLoad(t, s, key, version, []byte(blob))
	if !rec.Expiry.Equal(exp) {
		t.Errorf("Load(%q).Expiry = %v, want the imported %v", key, rec.Expiry, exp)
	}
}

func testImportVersions(t *testing.T, s backends.Store) {
	exp := importExpiry()
	rec := func(blob string, v uint64) backends.Record {
		return backends.Record{Blob: []byte(blob), Version: v, Expiry: exp}
	}
	importRec(t, s, "k", rec("a", 5), false, true) // a free key
	mustLoadImported(t, s, "k", 5, "a", exp)
	importRec(t, s, "k", rec("older", 4), false, false)
	importRec(t, s, "k", rec("same", 5), false, false)
	importRec(t, s, "k", rec("newer", 6), true, false) // onlyIfAbsent over a record
	mustLoadImported(t, s, "k", 5, "a", exp)
	importRec(t, s, "k", rec("newer", 10), false, true)
	mustLoadImported(t, s, "k", 10, "newer", exp)

	// The compare-and-set goes on from the imported version.
	if _, err := s.Save(t.Context(), "k", []byte("stale"), exp, 9); !backends.IsConflict(err) {
		t.Fatalf("Save at the version before the import: %v, want a conflict", err)
	}
	mustLoadImported(t, s, "k", 10, "newer", exp)
	save(t, s, "k", []byte("saved"), exp, 10)
	mustLoad(t, s, "k", 11, []byte("saved"))
}

func testImportEmptyBlob(t *testing.T, s backends.Store) {
	exp := importExpiry()
	importRec(t, s, "empty", backends.Record{Version: 3, Expiry: exp}, true, true)
	mustLoadImported(t, s, "empty", 3, "", exp)
}

// testImportOverExpired: a record that has expired counts as absent, even
// for onlyIfAbsent, and whatever its version.
func testImportOverExpired(t *testing.T, s backends.Store) {
	dying := time.Now().Add(100 * time.Millisecond)
	v := save(t, s, "x", []byte("dying"), dying, 0)
	save(t, s, "x", []byte("dying"), dying, v)
	time.Sleep(time.Until(dying) + 20*time.Millisecond)
	exp := importExpiry()
	importRec(t, s, "x", backends.Record{Blob: []byte("fresh"), Version: 1, Expiry: exp}, true, true)
	mustLoadImported(t, s, "x", 1, "fresh", exp)
}

func testImportRefused(t *testing.T, s backends.Store) {
	im := s.(backends.Importer)
	ctx := t.Context()
	if _, err := im.Import(ctx, "z", backends.Record{Blob: []byte("x"), Version: 1}, false); !errors.Is(err, backends.ErrNoExpiry) {
		t.Errorf("Import without expiry: %v, want ErrNoExpiry", err)
	}
	if _, err := im.Import(ctx, "z", backends.Record{Blob: []byte("x"), Expiry: importExpiry()}, false); err == nil {
		t.Error("Import of version 0 accepted")
	}
	mustMiss(t, s, "z")
	// An expiry that is not in the future writes nothing, and is no error.
	importRec(t, s, "p", backends.Record{Blob: []byte("x"), Version: 1, Expiry: time.Now().Add(-time.Second)}, false, false)
	mustMiss(t, s, "p")
}

// testImportConcurrent: goroutines import versions 1 to n of one key in
// random order, beside writers that save over what they load: the record
// ends at a version no lower than n, its blob the one written with that
// version, and no import ever lowers the version a reader sees.
func testImportConcurrent(t *testing.T, s backends.Store) {
	const n = 60
	im := s.(backends.Importer)
	ctx := t.Context()
	exp := hour()
	blob := func(v uint64) []byte { return fmt.Appendf(nil, "version %d", v) }
	var wg sync.WaitGroup
	for _, v := range rand.Perm(n) {
		wg.Go(func() {
			if _, err := im.Import(ctx, "k", backends.Record{Blob: blob(uint64(v + 1)), Version: uint64(v + 1), Expiry: exp}, false); err != nil {
				t.Error(err)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			var last uint64
			for range 20 {
				rec, found, err := s.Load(ctx, "k")
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
				if v, err := s.Save(ctx, "k", blob(rec.Version+1), exp, rec.Version); err == nil {
					last = v
				} else if !backends.IsConflict(err) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rec, found := load(t, s, "k")
	if !found || rec.Version < n || !bytes.Equal(rec.Blob, blob(rec.Version)) {
		t.Fatalf("after the imports: %q v%d found %v; want version %d or later with its blob", rec.Blob, rec.Version, found, n)
	}
}
