package storetest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

func init() {
	register("",
		testCase{name: "Load/Missing", fn: testLoadMissing},
		testCase{name: "Save/Create", fn: testSaveCreate},
		testCase{name: "Save/Update", fn: testSaveUpdate},
		testCase{name: "Save/WrongVersion", fn: testSaveWrongVersion},
		testCase{name: "Save/CreateExisting", fn: testSaveCreateExisting},
		testCase{name: "Save/UpdateMissing", fn: testSaveUpdateMissing},
		testCase{name: "Save/ZeroExpiry", fn: testSaveZeroExpiry},
		testCase{name: "Save/PastExpiryDeletes", fn: testSavePastExpiry},
		testCase{name: "Save/DeleteIfVersion", fn: testSaveDeleteIfVersion},
		testCase{name: "Save/DeleteIfVersionRace", fn: testSaveDeleteIfVersionRace},
		testCase{name: "Save/AfterDelete", fn: testSaveAfterDelete},
		testCase{name: "Expiry/Returned", fn: testExpiryReturned},
		testCase{name: "Expiry/RecordsDisappear", fn: testRecordsDisappear},
		testCase{name: "Touch/Extends", fn: testTouchExtends},
		testCase{name: "Touch/PastExpiry", fn: testTouchPast},
		testCase{name: "Touch/Missing", fn: testTouchMissing},
		testCase{name: "Touch/ZeroExpiry", fn: testTouchZeroExpiry},
		testCase{name: "Load/ReadYourWrites", fn: testReadYourWrites},
		testCase{name: "Load/FreshRead", fn: testFreshRead},
		testCase{name: "Delete/Existing", fn: testDeleteExisting},
		testCase{name: "Delete/Missing", fn: testDeleteMissing},
		testCase{name: "Blob/NotAliased", fn: testBlobNotAliased},
		testCase{name: "Blob/AllByteValues", fn: testBlobAllBytes},
		testCase{name: "Blob/Empty", fn: testBlobEmpty},
		testCase{name: "Blob/OneMiB", fn: testBlobLarge},
		testCase{name: "Keys/Characters", fn: testKeyCharacters},
		testCase{name: "Context/Canceled", fn: testContextCanceled},
		testCase{name: "Context/DeadlineExceeded", fn: testContextDeadline},
		testCase{name: "Concurrency/CompareAndSet", fn: testConcurrentCAS},
		testCase{name: "Concurrency/CreateRace", fn: testConcurrentCreate},
		testCase{name: "Concurrency/DistinctKeys", fn: testConcurrentDistinct},
	)
}

func testLoadMissing(t *testing.T, s backends.Store) {
	rec, found, err := s.Load(t.Context(), "missing")
	if err != nil {
		t.Fatalf("Load(missing) error = %v, want nil: not found is not an error", err)
	}
	if found {
		t.Fatalf("Load(missing) found = true (version %d)", rec.Version)
	}
	if rec.Version != 0 || rec.Blob != nil || !rec.Expiry.IsZero() {
		t.Errorf("Load(missing) = %+v, want the zero Record", rec)
	}
}

func testSaveCreate(t *testing.T, s backends.Store) {
	exp := hour()
	save(t, s, "k", []byte("v1"), exp, 0)
	rec := mustLoad(t, s, "k", 1, []byte("v1"))
	wantExpiry(t, "k", rec.Expiry, exp)
}

func testSaveUpdate(t *testing.T, s backends.Store) {
	save(t, s, "k", []byte("v1"), hour(), 0)
	save(t, s, "k", []byte("v2"), hour(), 1)
	mustLoad(t, s, "k", 2, []byte("v2"))
	save(t, s, "k", []byte("v3"), hour(), 2)
	mustLoad(t, s, "k", 3, []byte("v3"))
}

func testSaveWrongVersion(t *testing.T, s backends.Store) {
	exp := hour()
	save(t, s, "k", []byte("v1"), exp, 0)
	save(t, s, "k", []byte("v2"), exp, 1)
	for _, expected := range []uint64{1, 3, 100} {
		_, err := s.Save(t.Context(), "k", []byte("lost"), exp.Add(time.Hour), expected)
		wantErr(t, err, "save", backends.ErrConflict)
		if !backends.IsConflict(err) {
			t.Errorf("IsConflict(%v) = false", err)
		}
	}
	rec := mustLoad(t, s, "k", 2, []byte("v2"))
	wantExpiry(t, "k", rec.Expiry, exp)
}

func testSaveCreateExisting(t *testing.T, s backends.Store) {
	save(t, s, "k", []byte("first"), hour(), 0)
	_, err := s.Save(t.Context(), "k", []byte("second"), hour(), 0)
	wantErr(t, err, "save", backends.ErrConflict)
	mustLoad(t, s, "k", 1, []byte("first"))
}

func testSaveUpdateMissing(t *testing.T, s backends.Store) {
	for _, expected := range []uint64{1, 7} {
		_, err := s.Save(t.Context(), "k", []byte("x"), hour(), expected)
		wantErr(t, err, "save", backends.ErrConflict)
		mustMiss(t, s, "k")
	}
}

func testSaveZeroExpiry(t *testing.T, s backends.Store) {
	_, err := s.Save(t.Context(), "new", []byte("x"), time.Time{}, 0)
	wantErr(t, err, "save", backends.ErrNoExpiry)
	mustMiss(t, s, "new")

	exp := hour()
	save(t, s, "old", []byte("v1"), exp, 0)
	_, err = s.Save(t.Context(), "old", []byte("v2"), time.Time{}, 1)
	wantErr(t, err, "save", backends.ErrNoExpiry)
	rec := mustLoad(t, s, "old", 1, []byte("v1"))
	wantExpiry(t, "old", rec.Expiry, exp)
}

func testSavePastExpiry(t *testing.T, s backends.Store) {
	past := time.Now().Add(-time.Minute)

	// Matching version: the record is deleted and version 0 returned.
	save(t, s, "k", []byte("v1"), hour(), 0)
	save(t, s, "k", []byte("v2"), hour(), 1)
	v, err := s.Save(t.Context(), "k", []byte("v3"), past, 2)
	if err != nil || v != 0 {
		t.Fatalf("Save(k, past expiry, expected 2) = %d, %v; want 0, nil", v, err)
	}
	mustMiss(t, s, "k")

	// Wrong version: a conflict, and the record stays.
	save(t, s, "j", []byte("v1"), hour(), 0)
	_, err = s.Save(t.Context(), "j", []byte("v2"), past, 5)
	wantErr(t, err, "save", backends.ErrConflict)
	mustLoad(t, s, "j", 1, []byte("v1"))

	// Missing key, expected 0: nothing to delete, nothing created.
	v, err = s.Save(t.Context(), "m", []byte("x"), past, 0)
	if err != nil || v != 0 {
		t.Fatalf("Save(missing, past expiry, expected 0) = %d, %v; want 0, nil", v, err)
	}
	mustMiss(t, s, "m")
}

// testSaveDeleteIfVersion checks the cases of a Save with a past expiry
// that testSavePastExpiry leaves out. Step-wise renewals depend on every one
// of them: "delete the old record if it is still at the version loaded" must
// never delete a newer record, nor create one.
func testSaveDeleteIfVersion(t *testing.T, s backends.Store) {
	ctx := t.Context()
	past := time.Now().Add(-time.Second)

	// Expected 0 on an existing key: the key is not free, a conflict.
	exp := hour()
	save(t, s, "k", []byte("v1"), exp, 0)
	_, err := s.Save(ctx, "k", nil, past, 0)
	wantErr(t, err, "save", backends.ErrConflict)
	rec := mustLoad(t, s, "k", 1, []byte("v1"))
	wantExpiry(t, "k", rec.Expiry, exp)

	// A version ahead of the stored one, on an existing and a missing key.
	_, err = s.Save(ctx, "k", nil, past, 2)
	wantErr(t, err, "save", backends.ErrConflict)
	mustLoad(t, s, "k", 1, []byte("v1"))
	_, err = s.Save(ctx, "missing", nil, past, 3)
	wantErr(t, err, "save", backends.ErrConflict)
	mustMiss(t, s, "missing")

	// A record deleted (a logout) since it was loaded at version 1: the
	// stale delete conflicts, and a later create under the key is not
	// touched by it.
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = s.Save(ctx, "k", nil, past, 1)
	wantErr(t, err, "save", backends.ErrConflict)
	mustMiss(t, s, "k")
	save(t, s, "k", []byte("again"), hour(), 0)
	save(t, s, "k", []byte("again v2"), hour(), 1)
	_, err = s.Save(ctx, "k", nil, past, 1)
	wantErr(t, err, "save", backends.ErrConflict)
	mustLoad(t, s, "k", 2, []byte("again v2"))

	// The matching version deletes, whatever the blob, and the key can be
	// created afresh.
	if v, err := s.Save(ctx, "k", []byte("ignored"), past, 2); err != nil || v != 0 {
		t.Fatalf("Save(k, past expiry, expected 2) = %d, %v; want 0, nil", v, err)
	}
	mustMiss(t, s, "k")
	save(t, s, "k", []byte("fresh"), hour(), 0)
}

// testSaveDeleteIfVersionRace races an update and a delete-if-version of
// the same version: exactly one wins, and the record shows which.
func testSaveDeleteIfVersionRace(t *testing.T, s backends.Store) {
	const rounds = 10
	var deleted, updated int
	for r := range rounds {
		key := "race-" + strconv.Itoa(r)
		save(t, s, key, []byte("v1"), hour(), 0)
		winners := race(t, 2, "Save", func(w int) error {
			expiry := hour()
			if w == 0 {
				expiry = time.Now().Add(-time.Second)
			}
			_, err := s.Save(t.Context(), key, []byte("v2"), expiry, 1)
			return err
		})
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of an update and a delete of version 1 succeeded (%v), want exactly 1", r, len(winners), winners)
		}
		if winners[0] == 0 {
			deleted++
			mustMiss(t, s, key)
		} else {
			updated++
			mustLoad(t, s, key, 2, []byte("v2"))
		}
	}
	t.Logf("delete won %d times, update %d times", deleted, updated)
}

func testSaveAfterDelete(t *testing.T, s backends.Store) {
	save(t, s, "k", []byte("v1"), hour(), 0)
	save(t, s, "k", []byte("v2"), hour(), 1)
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// A writer that loaded version 2 before the delete must not resurrect it.
	_, err := s.Save(t.Context(), "k", []byte("stale"), hour(), 2)
	wantErr(t, err, "save", backends.ErrConflict)
	mustMiss(t, s, "k")
	save(t, s, "k", []byte("new"), hour(), 0)
	mustLoad(t, s, "k", 1, []byte("new"))
}

func testExpiryReturned(t *testing.T, s backends.Store) {
	// An expiry with sub-second digits catches stores that keep seconds.
	exp := time.Now().Add(longTTL + 123456789*time.Nanosecond)
	save(t, s, "k", []byte("x"), exp, 0)
	rec := mustLoad(t, s, "k", 1, []byte("x"))
	wantExpiry(t, "k", rec.Expiry, exp)

	exp2 := exp.Add(2*time.Hour + 987*time.Millisecond)
	save(t, s, "k", []byte("y"), exp2, 1)
	rec = mustLoad(t, s, "k", 2, []byte("y"))
	wantExpiry(t, "k", rec.Expiry, exp2)
}

func testRecordsDisappear(t *testing.T, s backends.Store) {
	start := time.Now()
	exp := start.Add(shortTTL)
	save(t, s, "short", []byte("x"), exp, 0)
	save(t, s, "long", []byte("y"), hour(), 0)
	rec, found := load(t, s, "short")
	if time.Since(start) < shortTTL-earlyMargin {
		if !found {
			t.Fatalf("Load(short) right after Save: not found, want found (expiry in %v)", time.Until(exp))
		}
		wantExpiry(t, "short", rec.Expiry, exp)
	} else {
		t.Logf("Save+Load took %v: presence before expiry not checked", time.Since(start))
	}
	eventuallyGone(t, s, "short")
	if time.Now().Before(exp) {
		t.Errorf("record disappeared %v before its expiry", time.Until(exp))
	}
	mustLoad(t, s, "long", 1, []byte("y"))

	// An expired record counts as missing for compare-and-set.
	_, err := s.Save(t.Context(), "short", []byte("stale"), hour(), 1)
	wantErr(t, err, "save", backends.ErrConflict)
	save(t, s, "short", []byte("again"), hour(), 0)
	mustLoad(t, s, "short", 1, []byte("again"))
}

func testTouchExtends(t *testing.T, s backends.Store) {
	start := time.Now()
	save(t, s, "k", []byte("v1"), start.Add(shortTTL), 0)
	save(t, s, "k", []byte("v2"), start.Add(shortTTL), 1)
	newExp := time.Now().Add(longTTL)
	if err := s.Touch(t.Context(), "k", newExp); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	rec := mustLoad(t, s, "k", 2, []byte("v2"))
	wantExpiry(t, "k", rec.Expiry, newExp)

	// Well after the original expiry the record is still there, unchanged.
	time.Sleep(time.Until(start.Add(shortTTL + earlyMargin)))
	rec = mustLoad(t, s, "k", 2, []byte("v2"))
	wantExpiry(t, "k", rec.Expiry, newExp)

	// Touch did not change the version: a CAS on version 2 still works.
	save(t, s, "k", []byte("v3"), hour(), 2)
}

func testTouchPast(t *testing.T, s backends.Store) {
	save(t, s, "k", []byte("x"), hour(), 0)
	if err := s.Touch(t.Context(), "k", time.Now().Add(-time.Minute)); err != nil {
		t.Fatalf("Touch(past expiry): %v", err)
	}
	mustMiss(t, s, "k")
}

func testTouchMissing(t *testing.T, s backends.Store) {
	if err := s.Touch(t.Context(), "missing", hour()); err != nil {
		t.Fatalf("Touch(missing) = %v, want nil", err)
	}
	mustMiss(t, s, "missing")
	// Nor is it created in a way a later create would notice.
	save(t, s, "missing", []byte("x"), hour(), 0)
}

func testTouchZeroExpiry(t *testing.T, s backends.Store) {
	exp := hour()
	save(t, s, "k", []byte("x"), exp, 0)
	wantErr(t, s.Touch(t.Context(), "k", time.Time{}), "touch", backends.ErrNoExpiry)
	rec := mustLoad(t, s, "k", 1, []byte("x"))
	wantExpiry(t, "k", rec.Expiry, exp)
	wantErr(t, s.Touch(t.Context(), "missing", time.Time{}), "touch", backends.ErrNoExpiry)
	mustMiss(t, s, "missing")
}

func testDeleteExisting(t *testing.T, s backends.Store) {
	save(t, s, "k", []byte("x"), hour(), 0)
	save(t, s, "other", []byte("y"), hour(), 0)
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatalf("Delete(k): %v", err)
	}
	mustMiss(t, s, "k")
	mustLoad(t, s, "other", 1, []byte("y"))
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatalf("second Delete(k) = %v, want nil", err)
	}
}

func testDeleteMissing(t *testing.T, s backends.Store) {
	if err := s.Delete(t.Context(), "never-saved"); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
	mustMiss(t, s, "never-saved")
}

func testBlobNotAliased(t *testing.T, s backends.Store) {
	in := []byte("original")
	save(t, s, "k", in, hour(), 0)
	copy(in, "XXXXXXXX")
	rec := mustLoad(t, s, "k", 1, []byte("original"))

	copy(rec.Blob, "YYYYYYYY")
	rec2 := mustLoad(t, s, "k", 1, []byte("original"))
	if len(rec2.Blob) > 0 && len(rec.Blob) > 0 && &rec.Blob[0] == &rec2.Blob[0] {
		t.Errorf("two Loads returned the same backing array")
	}

	// An update does not keep the caller's slice either.
	in2 := []byte("second")
	save(t, s, "k", in2, hour(), 1)
	copy(in2, "ZZZZZZ")
	mustLoad(t, s, "k", 2, []byte("second"))
}

func testBlobAllBytes(t *testing.T, s backends.Store) {
	blob := make([]byte, 0, 512)
	for i := range 256 {
		blob = append(blob, byte(i))
	}
	for i := 255; i >= 0; i-- {
		blob = append(blob, byte(i))
	}
	save(t, s, "k", blob, hour(), 0)
	mustLoad(t, s, "k", 1, blob)
}

func testBlobEmpty(t *testing.T, s backends.Store) {
	for _, tc := range []struct {
		key  string
		blob []byte
	}{{"empty", []byte{}}, {"nil", nil}} {
		save(t, s, tc.key, tc.blob, hour(), 0)
		rec := mustLoad(t, s, tc.key, 1, nil)
		if len(rec.Blob) != 0 {
			t.Errorf("Load(%q).Blob has %d bytes, want 0", tc.key, len(rec.Blob))
		}
		// An empty blob is a record like any other: it can be updated.
		save(t, s, tc.key, []byte("now full"), hour(), 1)
		mustLoad(t, s, tc.key, 2, []byte("now full"))
		save(t, s, tc.key, tc.blob, hour(), 2)
		mustLoad(t, s, tc.key, 3, nil)
	}
}

func testBlobLarge(t *testing.T, s backends.Store) {
	blob := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	save(t, s, "big", blob, hour(), 0)
	rec, found := load(t, s, "big")
	if !found {
		t.Fatal("Load(big): not found")
	}
	if !bytes.Equal(rec.Blob, blob) {
		t.Fatalf("Load(big): %d bytes, differ from the %d saved", len(rec.Blob), len(blob))
	}
}

func testKeyCharacters(t *testing.T, s backends.Store) {
	keys := []string{
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"sess:abc:def",
		"{user42}:sessions",
		"{", "}", "{}",
		"a/b/c", "/leading", "trailing/",
		"with space",
		"tab\there",
		"ключ-сессии",
		"セッション",
		"emoji-🔑",
		"*?[]^$.\\",
		"%00%ff",
		strings.Repeat("long", 64),
	}
	for i, k := range keys {
		save(t, s, k, []byte("value "+strconv.Itoa(i)), hour(), 0)
	}
	for i, k := range keys {
		mustLoad(t, s, k, 1, []byte("value "+strconv.Itoa(i)))
	}
	// Keys that are prefixes of each other, or glob patterns, must not
	// reach other keys.
	if err := s.Delete(t.Context(), "*?[]^$.\\"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(t.Context(), "{"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for i, k := range keys {
		if k == "*?[]^$.\\" || k == "{" {
			mustMiss(t, s, k)
			continue
		}
		mustLoad(t, s, k, 1, []byte("value "+strconv.Itoa(i)))
	}
}

// testContextCanceled checks that every operation, including those of the
// optional capabilities, fails with context.Canceled and does nothing.
func testContextCanceled(t *testing.T, s backends.Store) {
	testContextDone(t, s, canceled(t), context.Canceled)
}

func testContextDeadline(t *testing.T, s backends.Store) {
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	testContextDone(t, s, ctx, context.DeadlineExceeded)
}

func testContextDone(t *testing.T, s backends.Store, ctx context.Context, want error) {
	exp := hour()
	save(t, s, "k", []byte("v1"), exp, 0)

	_, _, err := s.Load(ctx, "k")
	wantErr(t, err, "load", want)
	_, err = s.Save(ctx, "k", []byte("v2"), hour(), 1)
	wantErr(t, err, "save", want)
	_, err = s.Save(ctx, "new", []byte("v2"), hour(), 0)
	wantErr(t, err, "save", want)
	wantErr(t, s.Touch(ctx, "k", exp.Add(time.Hour)), "touch", want)
	wantErr(t, s.Delete(ctx, "k"), "delete", want)

	rec := mustLoad(t, s, "k", 1, []byte("v1"))
	wantExpiry(t, "k", rec.Expiry, exp)
	mustMiss(t, s, "new")

	if ui, ok := s.(backends.UserIndex); ok {
		wantErr(t, ui.AddUserKey(ctx, "u", "k", day()), "", want)
		wantErr(t, ui.RemoveUserKey(ctx, "u", "k"), "", want)
		_, err := ui.UserKeys(ctx, "u")
		wantErr(t, err, "", want)
		keys, err := ui.UserKeys(t.Context(), "u")
		if err != nil || len(keys) != 0 {
			t.Errorf("UserKeys(u) after a canceled AddUserKey = %q, %v; want none", keys, err)
		}
	}
	if l, ok := s.(backends.UserLimiter); ok {
		if ui, ok := s.(backends.UserIndex); ok {
			addUserKey(t, ui, "u", "k", day())
			victims, err := l.LimitUserKeys(ctx, "u", "", 0)
			wantErr(t, err, "", want)
			if len(victims) != 0 {
				t.Errorf("LimitUserKeys with a done context returned %q", victims)
			}
			mustLoad(t, s, "k", 1, []byte("v1"))
			wantUserKeys(t, ui, "u", "k")
			removeUserKey(t, ui, "u", "k")
		}
	}
	if r, ok := s.(backends.Renewer); ok {
		wantErr(t, r.Renew(ctx, "k", 1, "renewed", []byte("v2"), hour(), "", day()), "renew", want)
		mustLoad(t, s, "k", 1, []byte("v1"))
		mustMiss(t, s, "renewed")
	}
	if it, ok := s.(backends.Iterator); ok {
		calls := 0
		err := it.Keys(ctx, func(string) bool { calls++; return true })
		wantErr(t, err, "", want)
		if calls != 0 {
			t.Errorf("Keys with a done context called fn %d times", calls)
		}
	}
	if c, ok := s.(backends.Counter); ok {
		_, err := c.Count(ctx)
		wantErr(t, err, "", want)
	}
	if p, ok := s.(backends.Pinger); ok {
		wantErr(t, p.Ping(ctx), "", want)
	}
}

// testConcurrentCAS has many goroutines increment one counter by load,
// compare-and-set and retry on conflict. Not one increment may be lost.
func testConcurrentCAS(t *testing.T, s backends.Store) {
	const (
		workers    = 32
		increments = 20
		maxRetries = 100000
	)
	save(t, s, "counter", []byte("0"), hour(), 0)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range increments {
				for try := 0; ; try++ {
					if try == maxRetries {
						t.Errorf("worker %d increment %d: gave up after %d conflicts", w, i, maxRetries)
						return
					}
					rec, found, err := s.Load(ctx, "counter")
					if err != nil || !found {
						t.Errorf("worker %d: Load = found %v, %v", w, found, err)
						return
					}
					n, err := strconv.Atoi(string(rec.Blob))
					if err != nil {
						t.Errorf("worker %d: stored counter %q: %v", w, rec.Blob, err)
						return
					}
					v, err := s.Save(ctx, "counter", []byte(strconv.Itoa(n+1)), hour(), rec.Version)
					if errors.Is(err, backends.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("worker %d: Save: %v", w, err)
						return
					}
					if v != rec.Version+1 {
						t.Errorf("worker %d: Save returned version %d, want %d", w, v, rec.Version+1)
					}
					break
				}
			}
		})
	}
	wg.Wait()
	const total = workers * increments
	mustLoad(t, s, "counter", total+1, []byte(strconv.Itoa(total)))
}

// testConcurrentCreate has many goroutines create the same key: exactly one
// may win.
func testConcurrentCreate(t *testing.T, s backends.Store) {
	winners := race(t, 16, "Save", func(w int) error {
		_, err := s.Save(t.Context(), "k", []byte(strconv.Itoa(w)), hour(), 0)
		return err
	})
	if len(winners) != 1 {
		t.Fatalf("%d creates of one key succeeded (%v), want exactly 1", len(winners), winners)
	}
	mustLoad(t, s, "k", 1, []byte(strconv.Itoa(winners[0])))
}

// testConcurrentDistinct runs every operation from many goroutines on
// their own keys: nothing may leak between keys.
func testConcurrentDistinct(t *testing.T, s backends.Store) {
	const (
		workers = 16
		rounds  = 25
	)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			key := "worker-" + strconv.Itoa(w)
			for r := range rounds {
				var version uint64
				for i := range 3 {
					blob := []byte(key + "/" + strconv.Itoa(r) + "/" + strconv.Itoa(i))
					v, err := s.Save(ctx, key, blob, hour(), version)
					if err != nil || v != version+1 {
						t.Errorf("%s: Save(expected %d) = %d, %v", key, version, v, err)
						return
					}
					version = v
					rec, found, err := s.Load(ctx, key)
					if err != nil || !found || rec.Version != v || !bytes.Equal(rec.Blob, blob) {
						t.Errorf("%s: Load = %q v%d found %v, %v; want %q v%d", key, rec.Blob, rec.Version, found, err, blob, v)
						return
					}
				}
				if err := s.Touch(ctx, key, hour()); err != nil {
					t.Errorf("%s: Touch: %v", key, err)
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					t.Errorf("%s: Delete: %v", key, err)
					return
				}
				if _, found, err := s.Load(ctx, key); err != nil || found {
					t.Errorf("%s: Load after Delete = found %v, %v", key, found, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// race runs op for workers goroutines released at once and returns the
// workers whose op succeeded. An error other than ErrConflict fails the
// test.
func race(t *testing.T, workers int, name string, op func(w int) error) []int {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
	)
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			switch err := op(w); {
			case err == nil:
				mu.Lock()
				winners = append(winners, w)
				mu.Unlock()
			case errors.Is(err, backends.ErrConflict):
			default:
				t.Errorf("worker %d: %s: %v", w, name, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return winners
}

// testReadYourWrites checks that a Load sees every write the same store
// completed before it, also on stores that keep a copy of records near the
// application (a Redis client-side cache).
func testReadYourWrites(t *testing.T, s backends.Store) {
	exp := hour()
	save(t, s, "k", []byte("v1"), exp, 0)
	mustLoad(t, s, "k", 1, []byte("v1"))
	mustLoad(t, s, "k", 1, []byte("v1"))
	save(t, s, "k", []byte("v2"), exp, 1)
	mustLoad(t, s, "k", 2, []byte("v2"))
	later := exp.Add(time.Hour)
	if err := s.Touch(t.Context(), "k", later); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	rec := mustLoad(t, s, "k", 2, []byte("v2"))
	wantExpiry(t, "k", rec.Expiry, later)
	if _, err := s.Save(t.Context(), "k", []byte("stale"), exp, 1); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("Save with a stale version = %v, want ErrConflict", err)
	}
	mustLoad(t, s, "k", 2, []byte("v2"))
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustMiss(t, s, "k")
}

// testFreshRead checks that a Load whose context carries
// backends.WithFreshRead reads like any other.
func testFreshRead(t *testing.T, s backends.Store) {
	ctx := backends.WithFreshRead(t.Context())
	save(t, s, "k", []byte("v1"), hour(), 0)
	for range 2 {
		rec, found, err := s.Load(ctx, "k")
		if err != nil || !found || rec.Version != 1 || string(rec.Blob) != "v1" {
			t.Fatalf("fresh Load = %+v, %v, %v; want version 1, v1", rec, found, err)
		}
	}
	if _, found, err := s.Load(ctx, "missing"); found || err != nil {
		t.Fatalf("fresh Load(missing) = %v, %v", found, err)
	}
}
