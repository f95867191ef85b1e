package degrade

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/changeset"
)

// copyingReplayer is a fieldReplayer that reports the record it wrote, as
// the session manager's replayer does: the store keeps it as the key's
// last known copy.
type copyingReplayer struct{ fieldReplayer }

func (r *copyingReplayer) Replay(ctx context.Context, st backends.Store, key string, bases []string, cs *changeset.Set) (changeset.Result, error) {
	res, err := r.fieldReplayer.Replay(ctx, st, key, bases, cs)
	if err != nil {
		return res, err
	}
	rec, found, err := st.Load(ctx, key)
	if err != nil {
		return changeset.Result{}, err
	}
	if found {
		res.Record = rec
	}
	return res, nil
}

// failingDeletes is a faultStore whose deletes of one key fail as an
// outage would while failing is set, counting the failures.
type failingDeletes struct {
	*faultStore
	key     string
	failing atomic.Bool
	failed  atomic.Int64
}

func (f *failingDeletes) Delete(ctx context.Context, key string) error {
	if key == f.key && f.failing.Load() {
		f.failed.Add(1)
		return &backends.OpError{Backend: "fault", Op: "delete", Err: errDown}
	}
	return f.faultStore.Delete(ctx, key)
}

// loadDegraded loads key from s while the primary is down and checks that
// the fallback served it.
func loadDegraded(t *testing.T, s *Store, key string) (fields map[string]string, found, stale bool) {
	t.Helper()
	ctx, r := degradedCtx(t)
	rec, found, err := s.Load(ctx, key)
	if err != nil {
		t.Fatalf("Load(%s) during the outage: %v", key, err)
	}
	if !r.Degraded() {
		t.Fatalf("Load(%s) during the outage was not marked degraded", key)
	}
	return parseFields(rec.Blob), found, r.Stale()
}

// loadHealthy loads key from s while the primary serves.
func loadHealthy(t *testing.T, s *Store, key string) backends.Record {
	t.Helper()
	ctx, r := degradedCtx(t)
	rec, found, err := s.Load(ctx, key)
	if err != nil || !found || r.Degraded() {
		t.Fatalf("Load(%s): found %v, degraded %v, %v", key, found, r.Degraded(), err)
	}
	return rec
}

// TestCopyKeptByReplayOfATouch: a session only read and touched during an
// outage leaves a touch in the journal. Its replay extends the primary's
// record and leaves the record as it is: the last known copy stays, and
// the next outage serves it (stale) rather than an empty session. A
// session the primary lost meanwhile (logged out by another instance)
// loses its copy with the replay.
func TestCopyKeptByReplayOfATouch(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	for _, k := range []string{"kept", "gone"} {
		if _, err := p.Store.Save(ctx, k, formatFields(map[string]string{"user": "alice", "a": "1"}), exp, 0); err != nil {
			t.Fatal(err)
		}
		loadHealthy(t, s, k)
	}

	trip(t, s, p)
	for _, k := range []string{"kept", "gone"} {
		if _, found, stale := loadDegraded(t, s, k); !found || !stale {
			t.Fatalf("Load(%s) in the first outage: found %v, stale %v; want its copy", k, found, stale)
		}
		if err := s.Touch(ctx, k, exp.Add(time.Hour)); err != nil {
			t.Fatalf("Touch(%s) during the outage: %v", k, err)
		}
	}
	if err := p.Store.Delete(ctx, "gone"); err != nil { // another instance logs it out
		t.Fatal(err)
	}
	p.mode.Store(faultOK)
	waitDrained(t, s)
	if rec, found, err := p.Store.Load(ctx, "kept"); err != nil || !found || rec.Expiry.Before(exp.Add(time.Hour)) {
		t.Fatalf("primary record after the replay: expiry %v, found %v, %v; want the touch applied", rec.Expiry, found, err)
	}

	trip(t, s, p)
	m, found, stale := loadDegraded(t, s, "kept")
	if !found || !stale || m["user"] != "alice" || m["a"] != "1" {
		t.Errorf("Load(kept) in the second outage: %v, found %v, stale %v; want its last known copy, stale", m, found, stale)
	}
	if m, found, _ := loadDegraded(t, s, "gone"); found {
		t.Errorf("Load(gone) in the second outage: %v; the primary had no record at the replay, want none", m)
	}
}

// TestCopyKeptByResumedReplay: a replay cut short by an outage after its
// change set was merged resumes later with what is left (deleting the key
// the session was renewed from). The resumed replay writes nothing to the
// session's key: the copy of the record the first replay wrote stays, and
// the next outage serves it rather than an empty session.
func TestCopyKeptByResumedReplay(t *testing.T) {
	p := &failingDeletes{faultStore: newFaultStore(t), key: "old"}
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &copyingReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := p.Store.Save(ctx, "old", formatFields(map[string]string{"user": "alice", "a": "1"}), exp, 0); err != nil {
		t.Fatal(err)
	}
	v := loadHealthy(t, s, "old").Version

	// A login during the outage renews old to new.
	trip(t, s, p.faultStore)
	if err := s.RenewChanges(ctx, "old", v, "new", formatFields(map[string]string{"user": "alice", "a": "1", "b": "2"}),
		exp, "alice", exp, changeset.Write{Set: puts("b", "2"), Replayer: rp}); err != nil {
		t.Fatalf("RenewChanges during the outage: %v", err)
	}

	// The replay merges the change set, then fails to delete old: the
	// circuit opens again. Once old can be deleted, the replay resumes.
	p.failing.Store(true)
	p.mode.Store(faultOK)
	waitFor(t, 10*time.Second, "a replay to fail deleting the old key", func() bool { return p.failed.Load() > 0 })
	if n := rp.replays(); n != 1 {
		t.Fatalf("%d change sets replayed before the failure, want 1", n)
	}
	p.failing.Store(false)
	waitDrained(t, s)
	if n := rp.replays(); n != 1 {
		t.Errorf("%d change sets replayed, want 1 (the resumed replay has none left)", n)
	}
	if _, found, _ := p.Store.Load(ctx, "old"); found {
		t.Error("the old key is still on the primary after the replay")
	}
	if rec, found, _ := p.Store.Load(ctx, "new"); !found || parseFields(rec.Blob)["b"] != "2" {
		t.Fatalf("primary record of new after the replay: %q, found %v", rec.Blob, found)
	}

	trip(t, s, p.faultStore)
	m, found, stale := loadDegraded(t, s, "new")
	if !found || !stale || m["user"] != "alice" || m["a"] != "1" || m["b"] != "2" {
		t.Errorf("Load(new) in the next outage: %v, found %v, stale %v; want the copy the replay wrote (user alice, a=1, b=2), stale", m, found, stale)
	}
	if m, found, _ := loadDegraded(t, s, "old"); found {
		t.Errorf("Load(old) in the next outage: %v; the renewed-away key must serve nothing", m)
	}
}

// TestCopyPutByLoadThatReplaysTheKey: a load after the outage replays the
// key's pending entry first, then reads the primary. What it reads is
// current (the replay came before it) and becomes the key's copy, served
// in the next outage.
func TestCopyPutByLoadThatReplaysTheKey(t *testing.T) {
	p := newFaultStore(t)
	// One session a second: the load below comes before the background
	// replay (were it after, the entry would be gone and the load would
	// put its copy all the same).
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1))
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := p.Store.Save(ctx, "k", formatFields(map[string]string{"user": "alice", "a": "1"}), exp, 0); err != nil {
		t.Fatal(err)
	}
	v := loadHealthy(t, s, "k").Version

	// A plain save during the outage journals its blob, written on
	// recovery only where the primary has no record.
	trip(t, s, p)
	if _, err := s.Save(ctx, "k", formatFields(map[string]string{"user": "alice", "a": "2"}), exp, v); err != nil {
		t.Fatalf("Save during the outage: %v", err)
	}
	p.mode.Store(faultOK)
	waitFor(t, 5*time.Second, "the circuit to close", func() bool { return s.State() != StateOpen })
	if m := parseFields(loadHealthy(t, s, "k").Blob); m["a"] != "1" {
		t.Fatalf("Load(k) after the outage: %v, want the primary's record (a=1)", m)
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}

	trip(t, s, p)
	m, found, stale := loadDegraded(t, s, "k")
	if !found || !stale || m["user"] != "alice" || m["a"] != "1" {
		t.Errorf("Load(k) in the next outage: %v, found %v, stale %v; want the copy of its last healthy read, stale", m, found, stale)
	}
}

// TestCopyKeptByConflictOfAFallbackVersion: a request that loaded a
// session from the fallback writes it back after recovery, when its
// pending entry is replayed first: the fallback's version conflicts before
// the primary is asked, and the caller reloads. The copy that the replay
// put is not dropped by that conflict: when the reload finds the primary
// down again, it is served (stale) rather than an empty session.
func TestCopyKeptByConflictOfAFallbackVersion(t *testing.T) {
	p := newFaultStore(t)
	// One session a second: the writes below come before the background
	// replay and replay their key first (were the replay first, the copy
	// would be there all the same).
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1))
	rp := &copyingReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)

	trip(t, s, p)
	fields := map[string]string{"user": "alice", "a": "1"}
	saved := saveCS(t, s, rp, "saved", 0, puts("user", "alice", "a", "1"), fields)
	renewed := saveCS(t, s, rp, "renewed", 0, puts("user", "alice", "a", "1"), fields)
	p.mode.Store(faultOK)
	waitFor(t, 5*time.Second, "the circuit to close", func() bool { return s.State() != StateOpen })

	// Versions of the fallback's copies, loaded during the outage.
	_, err := s.SaveChanges(ctx, "saved", formatFields(map[string]string{"user": "alice", "a": "1", "b": "2"}), exp, saved,
		changeset.Write{Set: puts("b", "2"), Replayer: rp})
	if !backends.IsConflict(err) {
		t.Fatalf("SaveChanges with a version of the fallback after recovery: %v, want a conflict", err)
	}
	err = s.RenewChanges(ctx, "renewed", renewed, "renewed2", formatFields(fields), exp, "alice", exp,
		changeset.Write{Set: puts(), Replayer: rp})
	if !backends.IsConflict(err) {
		t.Fatalf("RenewChanges with a version of the fallback after recovery: %v, want a conflict", err)
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}

	trip(t, s, p)
	for _, k := range []string{"saved", "renewed"} {
		m, found, stale := loadDegraded(t, s, k)
		if !found || !stale || m["user"] != "alice" || m["a"] != "1" {
			t.Errorf("Load(%s) in the next outage: %v, found %v, stale %v; want the copy of its replay, stale", k, m, found, stale)
		}
	}
}
