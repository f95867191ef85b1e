package faultstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/internal/faultstore"
)

func newMem(t *testing.T) *memstore.Store {
	t.Helper()
	ms, err := memstore.New(memstore.Options{JanitorInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

func newStore(t *testing.T) (*faultstore.Store, *memstore.Store) {
	t.Helper()
	ms := newMem(t)
	fs, err := faultstore.New(ms, func() (faultstore.Inner, error) { return newMem(t), nil })
	if err != nil {
		t.Fatal(err)
	}
	return fs, ms
}

var ctx = context.Background()

func exp() time.Time { return time.Now().Add(time.Hour) }

func mustSave(t *testing.T, s backends.Store, key, blob string, expected uint64) uint64 {
	t.Helper()
	v, err := s.Save(ctx, key, []byte(blob), exp(), expected)
	if err != nil {
		t.Fatalf("Save(%q): %v", key, err)
	}
	return v
}

func blobOf(t *testing.T, s backends.Store, key string) string {
	t.Helper()
	rec, found, err := s.Load(ctx, key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	if !found {
		return ""
	}
	return string(rec.Blob)
}

func isInjectedOutage(err error) bool {
	return errors.Is(err, faultstore.ErrInjected) && backends.IsUnavailable(err)
}

// A store without every optional capability is refused rather than
// wrapped by a value that would claim capabilities it lacks.
func TestNewRefusesAStoreWithoutTheCapabilities(t *testing.T) {
	type plain struct{ backends.Store }
	_, err := faultstore.New(plain{newMem(t)}, nil)
	if err == nil {
		t.Fatal("New accepted a store without UserIndex, Renewer, ...")
	}
	if _, err := faultstore.New(nil, nil); err == nil {
		t.Fatal("New accepted a nil store")
	}
}

func TestPassesCallsThrough(t *testing.T) {
	fs, ms := newStore(t)
	v := mustSave(t, fs, "k", "one", 0)
	if got := blobOf(t, ms, "k"); got != "one" {
		t.Fatalf("inner holds %q, want one", got)
	}
	if _, err := fs.Save(ctx, "k", []byte("two"), exp(), v+5); !backends.IsConflict(err) {
		t.Fatalf("stale Save: %v, want a conflict from the inner store", err)
	}
	if err := fs.AddUserKey(ctx, "u", "k", exp()); err != nil {
		t.Fatal(err)
	}
	keys, err := fs.UserKeys(ctx, "u")
	if err != nil || !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("UserKeys = %v, %v", keys, err)
	}
	if err := fs.Renew(ctx, "k", v, "k2", []byte("two"), exp(), "u", exp()); err != nil {
		t.Fatal(err)
	}
	if got := blobOf(t, fs, "k2"); got != "two" {
		t.Fatalf("renewed record %q", got)
	}
	if n, err := fs.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if err := fs.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if fs.Injected() != 0 {
		t.Fatalf("Injected = %d without faults", fs.Injected())
	}
}

func TestFailNextFailsExactlyKCalls(t *testing.T) {
	fs, _ := newStore(t)
	fs.FailNext(2)
	for i := range 2 {
		if _, _, err := fs.Load(ctx, "k"); !isInjectedOutage(err) {
			t.Fatalf("call %d: %v, want an injected outage", i, err)
		}
	}
	if _, _, err := fs.Load(ctx, "k"); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if fs.Injected() != 2 {
		t.Fatalf("Injected = %d, want 2", fs.Injected())
	}
}

func TestDownAndFlap(t *testing.T) {
	fs, _ := newStore(t)
	fs.SetDown(true)
	if err := fs.Ping(ctx); !isInjectedOutage(err) {
		t.Fatalf("Ping while down: %v", err)
	}
	if down := fs.Flap(); down {
		t.Fatal("Flap from down should bring the store up")
	}
	if err := fs.Ping(ctx); err != nil {
		t.Fatalf("Ping after Flap: %v", err)
	}
	if down := fs.Flap(); !down || !fs.Down() {
		t.Fatal("second Flap should take the store down")
	}
	fs.Heal()
	if err := fs.Ping(ctx); err != nil {
		t.Fatalf("Ping after Heal: %v", err)
	}
}

func TestHangBlocksUntilTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs, _ := newStore(t)
		fs.HangNext(1)
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := fs.Load(c, "k")
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, faultstore.ErrInjected) {
			t.Fatalf("hung Load: %v, want the context's deadline", err)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Fatalf("hung for %v, want until the deadline (3s)", waited)
		}
		if _, _, err := fs.Load(ctx, "k"); err != nil {
			t.Fatalf("next Load: %v", err)
		}
	})
}

// A hung call also ends when the release channel says so, as a timeout.
func TestHangRelease(t *testing.T) {
	fs, _ := newStore(t)
	release := make(chan struct{})
	fs.SetHangRelease(release, 2)
	fs.HangNext(1)
	done := make(chan error, 1)
	go func() {
		_, _, err := fs.Load(ctx, "k")
		done <- err
	}()
	release <- struct{}{}
	select {
	case err := <-done:
		t.Fatalf("the hang ended after one of two releases: %v", err)
	default:
	}
	release <- struct{}{}
	if err := <-done; !isInjectedOutage(err) {
		t.Fatalf("released hang: %v, want an injected outage", err)
	}
}

func TestFailKeysFailsOnlyThoseKeys(t *testing.T) {
	fs, _ := newStore(t)
	fs.FailKeys(func(k string) bool { return k == "bad" })
	if _, err := fs.Save(ctx, "bad", []byte("x"), exp(), 0); !isInjectedOutage(err) {
		t.Fatalf("Save of a failing key: %v", err)
	}
	mustSave(t, fs, "good", "x", 0)
	// A renewal involves both keys.
	if err := fs.Renew(ctx, "good", 1, "bad", []byte("y"), exp(), "", time.Time{}); !isInjectedOutage(err) {
		t.Fatalf("Renew into a failing key: %v", err)
	}
	fs.FailKeys(nil)
	mustSave(t, fs, "bad", "x", 0)
}

// A deferred write tells the caller it timed out, changes nothing until
// ApplyDeferred, and is then applied as it was made: a compare-and-set
// against the version of the time it was made.
func TestDeferredWritesApplyLater(t *testing.T) {
	fs, ms := newStore(t)
	v := mustSave(t, fs, "a", "a1", 0)
	mustSave(t, fs, "b", "b1", 0)
	fs.DeferNext(3)
	if _, _, err := fs.Load(ctx, "a"); err != nil {
		t.Fatalf("a read is not deferred: %v", err)
	}
	_, err := fs.Save(ctx, "a", []byte("a2"), exp(), v)
	if !isInjectedOutage(err) || !errors.Is(err, faultstore.ErrTimedOut) {
		t.Fatalf("deferred Save: %v, want a timeout", err)
	}
	if _, err := fs.Save(ctx, "b", []byte("b-stale"), exp(), 7); err == nil {
		t.Fatal("deferred Save reported success")
	}
	if err := fs.Delete(ctx, "c"); err == nil {
		t.Fatal("deferred Delete reported success")
	}
	if got := blobOf(t, ms, "a"); got != "a1" {
		t.Fatalf("before ApplyDeferred the inner store holds %q", got)
	}
	if fs.Pending() != 3 {
		t.Fatalf("Pending = %d, want 3", fs.Pending())
	}
	errs := fs.ApplyDeferred(ctx)
	if len(errs) != 3 || errs[0] != nil || !backends.IsConflict(errs[1]) || errs[2] != nil {
		t.Fatalf("ApplyDeferred = %v, want [nil conflict nil]", errs)
	}
	if got := blobOf(t, ms, "a"); got != "a2" {
		t.Fatalf("after ApplyDeferred the inner store holds %q, want a2", got)
	}
	if fs.Pending() != 0 {
		t.Fatalf("Pending = %d after ApplyDeferred", fs.Pending())
	}
}

func TestDropDeferredForgetsWrites(t *testing.T) {
	fs, ms := newStore(t)
	fs.DeferNext(1)
	if _, err := fs.Save(ctx, "a", []byte("x"), exp(), 0); err == nil {
		t.Fatal("deferred Save reported success")
	}
	if n := fs.DropDeferred(); n != 1 {
		t.Fatalf("DropDeferred = %d, want 1", n)
	}
	if errs := fs.ApplyDeferred(ctx); len(errs) != 0 {
		t.Fatalf("ApplyDeferred after a drop applied %d writes", len(errs))
	}
	if got := blobOf(t, ms, "a"); got != "" {
		t.Fatalf("dropped write reached the store: %q", got)
	}
}

// The blob of a deferred write is copied: the caller may reuse its buffer.
func TestDeferredWriteKeepsItsOwnBlob(t *testing.T) {
	fs, ms := newStore(t)
	buf := []byte("first")
	fs.DeferNext(1)
	fs.Save(ctx, "a", buf, exp(), 0)
	copy(buf, "XXXXX")
	fs.ApplyDeferredN(ctx, 1)
	if got := blobOf(t, ms, "a"); got != "first" {
		t.Fatalf("applied %q, want first", got)
	}
}

func TestRestartEmptySwapsTheInnerStore(t *testing.T) {
	fs, ms := newStore(t)
	mustSave(t, fs, "a", "x", 0)
	fs.DeferNext(1)
	fs.Save(ctx, "b", []byte("late"), exp(), 0)
	old, err := fs.RestartEmpty()
	if err != nil {
		t.Fatal(err)
	}
	if old != ms {
		t.Fatal("RestartEmpty did not return the old inner store")
	}
	if got := blobOf(t, fs, "a"); got != "" {
		t.Fatalf("after a restart the store still holds %q", got)
	}
	fs.ApplyDeferred(ctx)
	if got := blobOf(t, fs, "b"); got != "late" {
		t.Fatalf("a deferred write is applied to the restarted store: got %q", got)
	}
	noFresh, _ := faultstore.New(newMem(t), nil)
	if _, err := noFresh.RestartEmpty(); err == nil {
		t.Fatal("RestartEmpty without a fresh function succeeded")
	}
}

// Faults set from one goroutine apply to calls made from others: each of
// k failures is consumed by exactly one call.
func TestCountedFaultsAreSharedByConcurrentCalls(t *testing.T) {
	fs, _ := newStore(t)
	fs.FailNext(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if err := fs.Ping(ctx); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if failed != 10 {
		t.Fatalf("%d calls failed, want 10", failed)
	}
}

func TestWrittenTracksRecordWritesThatReachTheStore(t *testing.T) {
	fs, _ := newStore(t)
	fs.FailNext(1)
	if _, err := fs.Save(ctx, "failed", []byte("x"), exp(), 0); err == nil {
		t.Fatal("failed Save reported success")
	}
	mustSave(t, fs, "saved", "x", 0)
	fs.DeferNext(1)
	if _, err := fs.Save(ctx, "deferred", []byte("x"), exp(), 0); err == nil {
		t.Fatal("deferred Save reported success")
	}
	if err := fs.Renew(ctx, "saved", 1, "renewed", []byte("y"), exp(), "", time.Time{}); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if err := fs.AddUserKey(ctx, "u", "indexed", exp()); err != nil {
		t.Fatalf("AddUserKey: %v", err)
	}
	if _, _, err := fs.Load(ctx, "loaded"); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for key, want := range map[string]bool{"failed": false, "saved": true, "deferred": true, "renewed": true, "indexed": false, "loaded": false} {
		if got := fs.Written(key); got != want {
			t.Errorf("Written(%q) = %v, want %v", key, got, want)
		}
	}
}
