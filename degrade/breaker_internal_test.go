package degrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/changeset"
)

// faultStore is a memstore whose calls can be made to fail or hang, and
// which counts the calls it gets (Ping apart).
type faultStore struct {
	*memstore.Store
	mode  atomic.Int32 // faultOK, faultDown, faultHang
	calls atomic.Int64
	pings atomic.Int64
	// onDelete, when set, is called with every deleted key.
	onDelete func(key string)
	// afterUserKeys, when set, is called by UserKeys after it read the
	// index, before it returns.
	afterUserKeys func()
	// lateRenew makes Renew carry the renewal out and then report an
	// outage: a command that timed out on the client and ran on the
	// server all the same.
	lateRenew atomic.Bool
	// failDeleteOf, when it holds a key, makes the deletes of that key
	// fail as an outage would.
	failDeleteOf atomic.Value
}

const (
	faultOK int32 = iota
	faultDown
	faultHang
	faultRefused // the primary refuses its configuration
)

var (
	errDown    = backends.Unavailable(syscall.ECONNREFUSED)
	errRefused = fmt.Errorf("%w: NOAUTH Authentication required", backends.ErrMisconfigured)
)

func newFaultStore(t testing.TB) *faultStore {
	ms, err := memstore.New(memstore.Options{JanitorInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &faultStore{Store: ms}
}

func (f *faultStore) fault(ctx context.Context) error {
	switch f.mode.Load() {
	case faultDown:
		return &backends.OpError{Backend: "fault", Op: "x", Err: errDown}
	case faultHang:
		<-ctx.Done()
		return ctx.Err()
	case faultRefused:
		return &backends.OpError{Backend: "fault", Op: "x", Err: errRefused}
	}
	return nil
}

func (f *faultStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return backends.Record{}, false, err
	}
	return f.Store.Load(ctx, key)
}

func (f *faultStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return 0, err
	}
	return f.Store.Save(ctx, key, blob, exp, v)
}

func (f *faultStore) Touch(ctx context.Context, key string, exp time.Time) error {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return err
	}
	return f.Store.Touch(ctx, key, exp)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return err
	}
	if k, _ := f.failDeleteOf.Load().(string); k == key {
		return &backends.OpError{Backend: "fault", Op: "delete", Err: errDown}
	}
	if f.onDelete != nil {
		f.onDelete(key)
	}
	return f.Store.Delete(ctx, key)
}

func (f *faultStore) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, userID string, deadline time.Time) error {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return err
	}
	err := f.Store.Renew(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
	if err == nil && f.lateRenew.Load() {
		return &backends.OpError{Backend: "fault", Op: "renew", Err: backends.Unavailable(context.DeadlineExceeded)}
	}
	return err
}

func (f *faultStore) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return err
	}
	return f.Store.AddUserKey(ctx, userID, key, deadline)
}

func (f *faultStore) RemoveUserKey(ctx context.Context, userID, key string) error {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return err
	}
	return f.Store.RemoveUserKey(ctx, userID, key)
}

func (f *faultStore) UserKeys(ctx context.Context, userID string) ([]string, error) {
	f.calls.Add(1)
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	keys, err := f.Store.UserKeys(ctx, userID)
	if f.afterUserKeys != nil {
		f.afterUserKeys()
	}
	return keys, err
}

func (f *faultStore) Ping(ctx context.Context) error {
	f.pings.Add(1)
	if err := f.fault(ctx); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu          sync.Mutex
	transitions []string
	failovers   int
	replayed    int
	replayErrs  int
	full        int
	// calls the primary did not serve, by PrimaryFailed's error
	shortCircuited, unavailable, refused int
}

func (r *recorder) PrimaryFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, ErrOpen):
		r.shortCircuited++
	case backends.IsMisconfigured(err):
		r.refused++
	case backends.IsUnavailable(err):
		r.unavailable++
	default:
		panic(fmt.Sprintf("PrimaryFailed(%v): not an outage", err))
	}
}

// primaryFailures returns the calls the primary did not serve, by reason.
func (r *recorder) primaryFailures() (shortCircuited, unavailable, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shortCircuited, r.unavailable, r.refused
}

func (r *recorder) StateChanged(from, to State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.transitions = append(r.transitions, from.String()+">"+to.String())
}
func (r *recorder) FailedOver(string) { r.mu.Lock(); r.failovers++; r.mu.Unlock() }
func (r *recorder) Replayed(int)      { r.mu.Lock(); r.replayed++; r.mu.Unlock() }
func (r *recorder) ReplayFailed(error) {
	r.mu.Lock()
	r.replayErrs++
	r.mu.Unlock()
}
func (r *recorder) JournalFull() { r.mu.Lock(); r.full++; r.mu.Unlock() }

func (r *recorder) get() (transitions []string, failovers, replayed, replayErrs, full int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.transitions...), r.failovers, r.replayed, r.replayErrs, r.full
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newTestStore(t *testing.T, primary backends.Store, opts ...Option) *Store {
	t.Helper()
	all := append([]Option{WithLogger(quiet), WithTimeout(100 * time.Millisecond), WithProbeInterval(20 * time.Millisecond)}, opts...)
	s, err := New(primary, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond every 10ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func degradedCtx(t *testing.T) (context.Context, *backends.Report) {
	r := &backends.Report{}
	return backends.WithReport(t.Context(), r), r
}

// TestOutageClassification is the table of which errors of the primary
// count as an outage (fail over, trip the breaker) and which do not.
func TestOutageClassification(t *testing.T) {
	const cap = 50 * time.Millisecond
	s := &Store{cfg: config{timeout: cap}}
	waitDone := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, tc := range []struct {
		name   string
		caller func(t *testing.T) context.Context
		fn     func(ctx context.Context) error
		want   bool
	}{
		{"success", nil, func(context.Context) error { return nil }, false},
		{"ErrUnavailable", nil, func(context.Context) error { return backends.ErrUnavailable }, true},
		{"connection refused, wrapped by the store", nil, func(context.Context) error {
			return &backends.OpError{Backend: "redis", Op: "load", Err: backends.Unavailable(syscall.ECONNREFUSED)}
		}, true},
		{"network timeout, wrapped by the store", nil, func(context.Context) error {
			return backends.Unavailable(&net.OpError{Op: "read", Err: errors.New("i/o timeout")})
		}, true},
		{"LOADING reply, wrapped by the store", nil, func(context.Context) error {
			return backends.Unavailable(errors.New("LOADING Redis is loading the dataset in memory"))
		}, true},
		{"own timeout", nil, waitDone, true},
		{"own timeout, wrapped", nil, func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("redis: %w", ctx.Err())
		}, true},
		{"not found is not an error", nil, func(context.Context) error { return nil }, false},
		{"conflict", nil, func(context.Context) error { return &backends.OpError{Op: "save", Err: backends.ErrConflict} }, false},
		{"no expiry", nil, func(context.Context) error { return backends.ErrNoExpiry }, false},
		{"too large", nil, func(context.Context) error { return backends.ErrTooLarge }, false},
		{"closed store", nil, func(context.Context) error { return backends.ErrClosed }, false},
		{"foreign value", nil, func(context.Context) error {
			return &backends.OpError{Backend: "redis", Op: "load", Err: fmt.Errorf("%w: not a session hash", redisstore.ErrForeignValue)}
		}, false},
		{"misconfigured: the primary refuses its configuration", nil, func(context.Context) error {
			return &backends.OpError{Backend: "redis", Op: "load", Err: fmt.Errorf("%w: WRONGPASS invalid username-password pair", backends.ErrMisconfigured)}
		}, true},
		{"other error", nil, func(context.Context) error { return errors.New("decode: bad blob") }, false},
		{"deadline error not caused by the own timeout", nil, func(context.Context) error { return context.DeadlineExceeded }, false},
		{"caller canceled", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, func(ctx context.Context) error { return ctx.Err() }, false},
		{"caller canceled, store says unavailable", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, func(ctx context.Context) error { return backends.Unavailable(ctx.Err()) }, false},
		{"caller's own deadline, shorter than the cap", func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, waitDone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.caller != nil {
				ctx = tc.caller(t)
			}
			err := s.do(ctx, tc.fn)
			if got := outage(ctx, err); got != tc.want {
				t.Errorf("outage(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(3), WithProbeInterval(time.Hour), WithObserver(rec))
	p.mode.Store(faultDown)
	for i := range 2 {
		ctx, r := degradedCtx(t)
		if _, _, err := s.Load(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if !r.Degraded() {
			t.Errorf("load %d served by the fallback was not marked degraded", i)
		}
		if s.State() != StateClosed {
			t.Fatalf("state after %d failures = %v, want closed", i+1, s.State())
		}
	}
	// A success resets the count.
	p.mode.Store(faultOK)
	if _, _, err := s.Load(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	p.mode.Store(faultDown)
	for range 2 {
		s.Load(t.Context(), "k")
	}
	if s.State() != StateClosed {
		t.Fatalf("state after fail, fail, ok, fail, fail = %v, want closed", s.State())
	}
	s.Load(t.Context(), "k")
	if s.State() != StateOpen {
		t.Fatalf("state after 3 consecutive failures = %v, want open", s.State())
	}
	before := p.calls.Load()
	for range 20 {
		ctx, r := degradedCtx(t)
		if _, err := s.Save(ctx, "k", []byte("x"), time.Now().Add(time.Hour), 0); err != nil && !backends.IsConflict(err) {
			t.Fatal(err)
		}
		s.Load(ctx, "k")
		if !r.Degraded() {
			t.Error("operation while open not marked degraded")
		}
	}
	if n := p.calls.Load() - before; n != 0 {
		t.Errorf("primary got %d calls while the circuit was open, want 0", n)
	}
	tr, fo, _, _, _ := rec.get()
	if len(tr) != 1 || tr[0] != "closed>open" {
		t.Errorf("transitions = %v, want [closed>open]", tr)
	}
	if fo < 45 {
		t.Errorf("FailedOver reported %d times, want at least 45", fo)
	}
	if st := s.Status(); st.State != StateOpen || st.Pending != 1 || st.ChangeSets != 1 {
		t.Errorf("Status = %+v", st)
	}
}

func TestNonOutageErrorsDoNotTrip(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1))
	exp := time.Now().Add(time.Hour)
	if _, err := s.Save(t.Context(), "k", []byte("a"), exp, 0); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		ctx, r := degradedCtx(t)
		_, err := s.Save(ctx, "k", []byte("b"), exp, 7)
		if !backends.IsConflict(err) {
			t.Fatalf("Save with a wrong version: %v, want a conflict", err)
		}
		if r.Degraded() {
			t.Fatal("a conflict was served by the fallback")
		}
		if _, err := s.Save(ctx, "k", []byte("b"), time.Time{}, 1); !errors.Is(err, backends.ErrNoExpiry) {
			t.Fatalf("Save without expiry: %v", err)
		}
		if _, found, err := s.Load(ctx, "missing"); err != nil || found {
			t.Fatalf("Load(missing) = %v, %v", found, err)
		}
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	p.mode.Store(faultHang)
	if _, _, err := s.Load(canceled, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a canceled context: %v", err)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel2()
	if _, _, err := s.Load(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load past the caller's deadline: %v", err)
	}
	if s.State() != StateClosed {
		t.Fatalf("state = %v after non-outage errors, want closed", s.State())
	}
	// The store's own timeout is an outage.
	ctx, r := degradedCtx(t)
	start := time.Now()
	if _, _, err := s.Load(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if !r.Degraded() || s.State() != StateOpen {
		t.Fatalf("hung primary: degraded %v, state %v", r.Degraded(), s.State())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Load against a hung primary took %v", d)
	}
}

// fieldReplayer is the changeset.Replayer of these tests, over blobs made
// of "name=value;" fields: a Put sets a field, a Delete removes it, a
// Clear removes them all, and a user binding sets the field "user" (the
// user the record is bound to, reported in the Result). A key without a
// record is built on the first of its bases that has one, else on nothing.
// It merges by compare-and-set, counts its replays and keeps the bases
// each key was last replayed with.
type fieldReplayer struct {
	mu    sync.Mutex
	calls int
	bases map[string][]string
}

func (r *fieldReplayer) Replay(ctx context.Context, st backends.Store, key string, bases []string, cs *changeset.Set) (changeset.Result, error) {
	r.mu.Lock()
	r.calls++
	if r.bases == nil {
		r.bases = map[string][]string{}
	}
	r.bases[key] = slices.Clone(bases)
	r.mu.Unlock()
	for range 16 {
		rec, found, err := st.Load(ctx, key)
		if err != nil {
			return changeset.Result{}, err
		}
		m := map[string]string{}
		if found {
			m = parseFields(rec.Blob)
		} else {
			for _, b := range bases {
				base, ok, err := st.Load(ctx, b)
				if err != nil {
					return changeset.Result{}, err
				}
				if ok {
					m = parseFields(base.Blob)
					break
				}
			}
		}
		res := changeset.Result{BaseUser: m["user"]}
		applyFields(m, cs)
		exp := time.Now().Add(time.Hour)
		_, err = st.Save(ctx, key, formatFields(m), exp, rec.Version)
		if err == nil {
			res.User, res.Deadline = m["user"], exp
			return res, nil
		}
		if !backends.IsConflict(err) {
			return changeset.Result{}, err
		}
	}
	return changeset.Result{}, errors.New("too many conflicts")
}

// replays returns how many change sets were replayed.
func (r *fieldReplayer) replays() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// basesOf returns the bases of key's last replay.
func (r *fieldReplayer) basesOf(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bases[key]
}

// applyFields applies cs to the fields m.
func applyFields(m map[string]string, cs *changeset.Set) {
	for _, op := range cs.Ops {
		switch op.Kind {
		case changeset.Put:
			m[op.Key] = string(op.Value)
		case changeset.Delete:
			delete(m, op.Key)
		case changeset.Clear:
			clear(m)
		}
	}
	if cs.UserSet {
		m["user"] = cs.User
	}
}

// puts returns the change set that sets the fields name, value, ...
func puts(kv ...string) *changeset.Set {
	cs := &changeset.Set{}
	for i := 0; i+1 < len(kv); i += 2 {
		cs.Add(changeset.Op{Kind: changeset.Put, Key: kv[i], Value: []byte(kv[i+1])})
	}
	return cs
}

func parseFields(b []byte) map[string]string {
	m := map[string]string{}
	var k, v []byte
	inVal := false
	for _, c := range b {
		switch {
		case c == '=' && !inVal:
			inVal = true
		case c == ';':
			m[string(k)] = string(v)
			k, v, inVal = nil, nil, false
		case inVal:
			v = append(v, c)
		default:
			k = append(k, c)
		}
	}
	return m
}

func formatFields(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // stable blobs
	var b []byte
	for _, k := range keys {
		b = append(b, k+"="+m[k]+";"...)
	}
	return b
}

// saveCS saves the fields m through s with the change set cs that led to
// them, as the manager does, and returns the new version.
func saveCS(t *testing.T, s *Store, rp changeset.Replayer, key string, expected uint64, cs *changeset.Set, m map[string]string) uint64 {
	t.Helper()
	v, err := s.SaveChanges(t.Context(), key, formatFields(m), time.Now().Add(time.Hour), expected, changeset.Write{Set: cs, Replayer: rp})
	if err != nil {
		t.Fatalf("SaveChanges(%s): %v", key, err)
	}
	return v
}

// waitDrained waits until the circuit is closed and the journal empty.
func waitDrained(t *testing.T, s *Store) {
	t.Helper()
	waitFor(t, 10*time.Second, "the circuit to close and the journal to drain", func() bool {
		return s.State() == StateClosed && s.Status().Pending == 0
	})
}

// trip opens the circuit of s (threshold 1) by taking p down.
func trip(t *testing.T, s *Store, p *faultStore) {
	t.Helper()
	p.mode.Store(faultDown)
	s.Load(t.Context(), "trip")
	if s.State() != StateOpen {
		t.Fatalf("state = %v after a failure, want open", s.State())
	}
}

func TestRecoveryAppliesTombstonesFirstAndMerges(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(1), WithObserver(rec), WithReplayRate(1000))
	rp := &fieldReplayer{}
	exp := time.Now().Add(time.Hour)
	ctx := t.Context()
	// Before the outage: "merged" has a=1, "loggedout" exists.
	if _, err := p.Store.Save(ctx, "merged", formatFields(map[string]string{"a": "1"}), exp, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store.Save(ctx, "loggedout", []byte("x"), exp, 0); err != nil {
		t.Fatal(err)
	}
	p.Store.AddUserKey(ctx, "u", "loggedout", exp)

	var stateAtDelete sync.Map
	p.onDelete = func(key string) { stateAtDelete.Store(key, s.State()) }
	trip(t, s, p)
	// During the outage: "merged" gets b=2 (its load found nothing, the
	// manager kept the ID), "new" is created and saved twice, "loggedout"
	// is deleted.
	saveCS(t, s, rp, "merged", 0, puts("b", "2"), map[string]string{"b": "2"})
	v := saveCS(t, s, rp, "new", 0, puts("c", "3"), map[string]string{"c": "3"})
	if v&FallbackVersion == 0 {
		t.Errorf("version %d served by the fallback lacks FallbackVersion", v)
	}
	saveCS(t, s, rp, "new", v, puts("d", "4"), map[string]string{"c": "3", "d": "4"})
	if err := s.Delete(ctx, "loggedout"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUserKey(ctx, "u", "loggedout"); err != nil {
		t.Fatal(err)
	}
	// A load of the deleted key is authoritative: not found, not degraded.
	lctx, r := degradedCtx(t)
	if _, found, _ := s.Load(lctx, "loggedout"); found || r.Degraded() {
		t.Errorf("Load(loggedout) during the outage: found %v, degraded %v", found, r.Degraded())
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	if st, ok := stateAtDelete.Load("loggedout"); !ok || st.(State) != StateOpen {
		t.Errorf("the tombstone was applied in state %v (applied: %v), want open", st, ok)
	}
	got := func(key string) map[string]string {
		r, found, err := p.Store.Load(ctx, key)
		if err != nil || !found {
			t.Fatalf("primary Load(%s): found %v, %v", key, found, err)
		}
		return parseFields(r.Blob)
	}
	if m := got("merged"); m["a"] != "1" || m["b"] != "2" {
		t.Errorf("merged = %v, want a=1 (before) and b=2 (during)", m)
	}
	if m := got("new"); m["c"] != "3" || m["d"] != "4" {
		t.Errorf("new = %v, want c=3 d=4", m)
	}
	if _, found, _ := p.Store.Load(ctx, "loggedout"); found {
		t.Error("the session deleted during the outage is back in the primary")
	}
	if keys, _ := p.Store.UserKeys(ctx, "u"); len(keys) != 0 {
		t.Errorf("user index still lists %v", keys)
	}
	for _, k := range []string{"merged", "new"} {
		if _, found, _ := s.fallback.Load(ctx, k); found {
			t.Errorf("%s still in the fallback after its replay", k)
		}
	}
	tr, _, replayed, _, _ := rec.get()
	want := []string{"closed>open", "open>recovering", "recovering>closed"}
	if fmt.Sprint(tr) != fmt.Sprint(want) {
		t.Errorf("transitions = %v, want %v", tr, want)
	}
	if replayed != 2 {
		t.Errorf("Replayed reported %d sessions, want 2", replayed)
	}
	// The two saves of "new" were compacted into one change set.
	if n := rp.replays(); n != 2 {
		t.Errorf("%d change sets replayed, want 2 (one per session)", n)
	}
}

func TestPendingKeyReplayedBeforeUse(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1))
	rp := &fieldReplayer{}
	ctx := t.Context()
	trip(t, s, p)
	for i := range 5 {
		saveCS(t, s, rp, fmt.Sprint("s", i), 0, puts("v", "outage"), map[string]string{"v": "outage"})
	}
	p.mode.Store(faultOK)
	waitFor(t, 5*time.Second, "the circuit to close", func() bool { return s.State() != StateOpen })
	if st := s.Status(); st.Pending < 3 {
		t.Fatalf("pending = %d, want most sessions still pending at 1 replay/s", st.Pending)
	}
	lctx, r := degradedCtx(t)
	rec, found, err := s.Load(lctx, "s4")
	if err != nil || !found || parseFields(rec.Blob)["v"] != "outage" || r.Degraded() {
		t.Fatalf("Load of a pending session: %q found %v err %v degraded %v", rec.Blob, found, err, r.Degraded())
	}
	if rec.Version&FallbackVersion != 0 {
		t.Error("served by the fallback after recovery")
	}
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Pending != 0 || st.State != StateClosed {
		t.Fatalf("after Drain: %+v", st)
	}
}

// TestJournalLimitRefuses: at its entry limit the journal refuses, with
// ErrJournalFull, every write the fallback would serve that needs a new
// entry (a save, a deletion, a renewal to a new key), and writes nothing;
// writes to sessions already journaled go on. What was accepted is
// replayed.
func TestJournalLimitRefuses(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(1), WithJournalLimit(2), WithObserver(rec), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	trip(t, s, p)
	v0 := saveCS(t, s, rp, "s0", 0, puts("v", "x"), map[string]string{"v": "x"})
	saveCS(t, s, rp, "s1", 0, puts("v", "x"), map[string]string{"v": "x"})

	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrJournalFull) {
			t.Errorf("%s beyond the journal limit: %v, want ErrJournalFull", what, err)
		}
		if backends.IsUnavailable(err) {
			t.Errorf("%s: ErrJournalFull matches ErrUnavailable", what)
		}
	}
	_, err := s.SaveChanges(ctx, "s2", []byte("v=x;"), exp, 0, changeset.Write{Set: puts("v", "x"), Replayer: rp})
	refused("save", err)
	refused("delete", s.Delete(ctx, "gone"))
	refused("renewal", s.RenewChanges(ctx, "s0", v0, "s3", []byte("v=x;"), exp, "", time.Time{}, changeset.Write{Set: puts(), Replayer: rp}))
	for _, k := range []string{"s2", "s3"} {
		if _, found, _ := s.fallback.Load(ctx, k); found {
			t.Errorf("refused write of %s reached the fallback", k)
		}
	}
	if _, found, _ := s.fallback.Load(ctx, "s0"); !found {
		t.Error("a refused renewal removed the old key from the fallback")
	}
	// A session already journaled takes more changes, compacted.
	saveCS(t, s, rp, "s0", v0, puts("w", "y"), map[string]string{"v": "x", "w": "y"})

	st := s.Status()
	if st.Entries != 2 || st.Pending != 2 || st.ChangeSets != 2 || st.Refused != 3 || st.Dropped != 0 {
		t.Fatalf("Status = %+v, want 2 entries, 2 pending, 2 change sets, 3 refused, 0 dropped", st)
	}
	if _, _, _, _, full := rec.get(); full != 3 {
		t.Errorf("JournalFull reported %d times, want 3", full)
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	if r, found, _ := p.Store.Load(ctx, "s0"); !found || string(r.Blob) != "v=x;w=y;" {
		t.Errorf("s0 on the primary = %q (found %v), want v=x;w=y;", r.Blob, found)
	}
	if _, found, _ := p.Store.Load(ctx, "s1"); !found {
		t.Error("s1 not replayed")
	}
	for _, k := range []string{"s2", "s3"} {
		if _, found, _ := p.Store.Load(ctx, k); found {
			t.Errorf("refused write of %s reached the primary", k)
		}
	}
	if st := s.Status(); st.Dropped != 0 || st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("after recovery: %+v", st)
	}
}

// TestSavesOfOneKeyCompact: a thousand saves of one session during an
// outage keep the journal at one entry whose size is that of one change set
// of the session's fields, replayed once.
func TestSavesOfOneKeyCompact(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	trip(t, s, p)
	fields := map[string]string{}
	var v uint64
	var one int64
	for i := range 1000 {
		name, val := fmt.Sprint("f", i%5), fmt.Sprintf("%06d", i)
		fields[name] = val
		v = saveCS(t, s, rp, "k", v, puts(name, val), fields)
		if i == 4 {
			one = s.Status().Bytes // every field set once
		}
	}
	st := s.Status()
	if st.Entries != 1 || st.Pending != 1 || st.ChangeSets != 1 {
		t.Errorf("Status = %+v, want one entry", st)
	}
	if st.Bytes != one || one <= 0 || one > 1<<10 {
		t.Errorf("journal holds %d bytes after 1000 saves, %d after the first 5; want the same, under 1 KiB", st.Bytes, one)
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	r, found, err := p.Store.Load(ctx, "k")
	if err != nil || !found || string(r.Blob) != string(formatFields(fields)) {
		t.Errorf("primary k = %q (found %v, %v), want %q", r.Blob, found, err, formatFields(fields))
	}
	if n := rp.replays(); n != 1 {
		t.Errorf("%d change sets replayed, want 1", n)
	}
}

// TestPlainSaveJournalsBlob: a Save without a change set is journaled as
// its blob, which replay writes only where the primary has no record; a
// save expecting no record conflicts with a record it finds, with or
// without a change set (nothing is merged).
func TestPlainSaveJournalsBlob(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := p.Store.Save(ctx, "p", []byte("a=1;"), exp, 0); err != nil {
		t.Fatal(err)
	}
	trip(t, s, p)
	if _, err := s.Save(ctx, "p", []byte("b=2;"), exp, 0); err != nil {
		t.Fatalf("Save of a key the fallback does not hold: %v", err)
	}
	if _, err := s.Save(ctx, "p", []byte("c=3;"), exp, 0); !backends.IsConflict(err) {
		t.Errorf("Save expecting no record onto the fallback's copy: %v, want a conflict", err)
	}
	if _, err := s.SaveChanges(ctx, "p", []byte("c=3;"), exp, 0, changeset.Write{Set: puts("c", "3"), Replayer: rp}); !backends.IsConflict(err) {
		t.Errorf("SaveChanges expecting no record onto the fallback's copy: %v, want a conflict", err)
	}
	if r, _, _ := s.Load(ctx, "p"); string(r.Blob) != "b=2;" {
		t.Errorf("fallback's p = %q, want b=2;", r.Blob)
	}
	if _, err := s.Save(ctx, "n", []byte("x=1;"), exp, 0); err != nil {
		t.Fatal(err)
	}
	p.mode.Store(faultOK)
	waitDrained(t, s)
	for k, want := range map[string]string{"p": "a=1;", "n": "x=1;"} {
		if r, found, _ := p.Store.Load(ctx, k); !found || string(r.Blob) != want {
			t.Errorf("primary %s = %q (found %v), want %q", k, r.Blob, found, want)
		}
	}
	if _, err := s.Save(ctx, "p", []byte("z=9;"), exp, 0); !backends.IsConflict(err) {
		t.Errorf("Save expecting no record onto the primary's record: %v, want a conflict", err)
	}
	if st := s.Status(); st.Dropped != 0 || rp.replays() != 0 {
		t.Errorf("dropped %d, %d change sets replayed; want none", st.Dropped, rp.replays())
	}
}

func TestStateMachineFlapping(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(2), WithObserver(rec))
	rp := &fieldReplayer{}
	ctx := t.Context()
	for round := range 3 {
		p.mode.Store(faultDown)
		for range 2 {
			s.Load(ctx, "x")
		}
		if s.State() != StateOpen {
			t.Fatalf("round %d: not open", round)
		}
		k := fmt.Sprint("k", round)
		saveCS(t, s, rp, k, 0, puts("v", "x"), map[string]string{"v": "x"})
		p.mode.Store(faultOK)
		waitFor(t, 5*time.Second, "recovery", func() bool { return s.State() == StateClosed })
		if _, found, _ := p.Store.Load(ctx, k); !found {
			t.Errorf("round %d: %s not replayed", round, k)
		}
	}
	tr, _, _, _, _ := rec.get()
	if len(tr) != 9 {
		t.Errorf("transitions = %v, want 3 rounds of closed>open>recovering>closed", tr)
	}
}

func TestNewValidates(t *testing.T) {
	p := newFaultStore(t)
	for _, tc := range []struct {
		name string
		opt  Option
	}{
		{"zero timeout", WithTimeout(0)},
		{"threshold 0", WithFailureThreshold(0)},
		{"probe 1ms", WithProbeInterval(time.Millisecond)},
		{"rate 0", WithReplayRate(0)},
		{"journal 0", WithJournalLimit(0)},
		{"journal bytes 1 KiB", WithJournalBytes(1 << 10)},
		{"nil fallback", WithFallback(nil)},
		{"nil observer", WithObserver(nil)},
		{"nil logger", WithLogger(nil)},
		{"fallback is primary", WithFallback(p)},
		{"fallback without user index", WithFallback(plainStore{p.Store})},
	} {
		if s, err := New(p, tc.opt); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// plainStore hides every optional interface of a store.
type plainStore struct{ backends.Store }

func TestPrimaryWithoutCapabilities(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, plainStore{p})
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := s.Save(ctx, "a", []byte("x"), exp, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "a", 1, "b", []byte("y"), exp, "", time.Time{}); err != nil {
		t.Fatalf("Renew on a primary without Renewer: %v", err)
	}
	if _, found, _ := p.Store.Load(ctx, "a"); found {
		t.Error("old key kept")
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping on a primary without Pinger: %v", err)
	}
	if _, err := s.UserKeys(ctx, "u"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("UserKeys: %v, want ErrUnsupported", err)
	}
	if _, err := s.Count(ctx); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Count: %v, want ErrUnsupported", err)
	}
}

func TestCloseStopsBackground(t *testing.T) {
	p := newFaultStore(t)
	s, err := New(p, WithLogger(quiet), WithProbeInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(t.Context(), "k"); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

// TestRenewalDuringOutageIsAMove: renewals made during the outage (a chain
// of two, the first after a save of the old key) are replayed as moves:
// the last key holds the primary's data of the first plus every change of
// the outage, built on the newest live base, and the old keys are deleted
// only then; a renewal followed by a deletion of the new key deletes the
// old key before the circuit closes.
func TestRenewalDuringOutageIsAMove(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	for k, blob := range map[string]string{"a": "before=1;", "d": "d=1;"} {
		if _, err := p.Store.Save(ctx, k, []byte(blob), exp, 0); err != nil {
			t.Fatal(err)
		}
		p.Store.AddUserKey(ctx, "u", k, exp)
	}
	var stateAtDelete sync.Map
	p.onDelete = func(key string) { stateAtDelete.LoadOrStore(key, s.State()) }
	trip(t, s, p)

	renew := func(oldKey string, oldVersion uint64, newKey string, cs *changeset.Set, m map[string]string) {
		t.Helper()
		if err := s.RenewChanges(ctx, oldKey, oldVersion, newKey, formatFields(m), exp, "u", exp, changeset.Write{Set: cs, Replayer: rp}); err != nil {
			t.Fatalf("RenewChanges(%s, %s): %v", oldKey, newKey, err)
		}
	}
	fallbackVersion := func(key string) uint64 {
		t.Helper()
		r, found, err := s.Load(ctx, key)
		if err != nil || !found || r.Version&FallbackVersion == 0 {
			t.Fatalf("Load(%s) during the outage: version %x, found %v, %v", key, r.Version, found, err)
		}
		return r.Version
	}
	// a: saved during the outage (its load found nothing), then renewed
	// to b, which is saved and renewed to c.
	va := saveCS(t, s, rp, "a", 0, puts("x", "1"), map[string]string{"x": "1"})
	renew("a", va, "b", puts(), map[string]string{"x": "1"})
	vb := saveCS(t, s, rp, "b", fallbackVersion("b"), puts("y", "2"), map[string]string{"x": "1", "y": "2"})
	renew("b", vb, "c", puts(), map[string]string{"x": "1", "y": "2"})
	// d: renewed (its load found nothing), then e logged out.
	renew("d", 0, "e", puts(), nil)
	if err := s.Delete(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "d", "e"} {
		lctx, r := degradedCtx(t)
		if _, found, err := s.Load(lctx, k); found || err != nil || r.Degraded() {
			t.Errorf("Load(%s) during the outage: found %v, err %v, degraded %v; want absent with authority", k, found, err, r.Degraded())
		}
	}
	// The old keys are never written again, nor renewed.
	if _, err := s.SaveChanges(ctx, "a", []byte("z=3;"), exp, 0, changeset.Write{Set: puts("z", "3"), Replayer: rp}); !backends.IsConflict(err) {
		t.Errorf("Save of a key renewed away: %v, want a conflict", err)
	}
	if err := s.Renew(ctx, "a", 0, "f", []byte("f"), exp, "", exp); !backends.IsConflict(err) {
		t.Errorf("Renew of a key renewed away: %v, want a conflict", err)
	}
	// One entry per session (c, and e's tombstone), one per key renewed
	// away (a, b, d).
	if st := s.Status(); st.Pending != 2 || st.Entries != 5 {
		t.Errorf("Status = %+v, want 2 pending, 5 entries", st)
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	if st, ok := stateAtDelete.Load("d"); !ok || st.(State) != StateOpen {
		t.Errorf("the old key of a logged-out renewal was deleted in state %v (deleted: %v), want open", st, ok)
	}
	if st, ok := stateAtDelete.Load("a"); !ok || st.(State) == StateOpen {
		t.Errorf("the old key of a renewal was deleted in state %v (deleted: %v), want after the circuit closed", st, ok)
	}
	rec, found, err := p.Store.Load(ctx, "c")
	if err != nil || !found {
		t.Fatalf("primary Load(c): found %v, %v", found, err)
	}
	if m := parseFields(rec.Blob); fmt.Sprint(m) != fmt.Sprint(map[string]string{"before": "1", "x": "1", "y": "2"}) {
		t.Errorf("c = %v, want the primary's data of a and the outage's changes", m)
	}
	if b := rp.basesOf("c"); fmt.Sprint(b) != "[b a]" {
		t.Errorf("c replayed with bases %v, want [b a] (newest first)", b)
	}
	if n := rp.replays(); n != 1 {
		t.Errorf("%d change sets replayed, want 1 (c's; e was deleted)", n)
	}
	for _, k := range []string{"a", "b", "d", "e"} {
		if _, found, _ := p.Store.Load(ctx, k); found {
			t.Errorf("%s is in the primary after recovery", k)
		}
	}
	if keys, _ := p.Store.UserKeys(ctx, "u"); fmt.Sprint(keys) != "[c]" {
		t.Errorf("user index = %v, want [c]", keys)
	}
	if st := s.Status(); st.ChangeSets != 0 || st.Dropped != 0 || st.Entries != 0 {
		t.Errorf("after recovery: %+v", st)
	}
	s.mu.Lock()
	moved := len(s.moved)
	s.mu.Unlock()
	if moved != 0 {
		t.Errorf("%d moves left after recovery", moved)
	}
}

// TestRenewalOfPrimaryRecordDuringOutage: the fallback accepts a renewal
// of a record it does not hold at a version of the primary's (the session
// was loaded from the primary before it failed), and replays it as a move
// onto the primary's record. It conflicts when the old key was deleted
// during the outage, when the fallback holds a copy of the old key, and for
// a version of the fallback's where it holds none.
func TestRenewalOfPrimaryRecordDuringOutage(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	vp, err := p.Store.Save(ctx, "p", []byte("before=1;"), exp, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Store.AddUserKey(ctx, "u", "p", exp)
	vq, err := p.Store.Save(ctx, "q", []byte("q=1;"), exp, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Read through the store before the outage: its copies vouch for the
	// versions the renewals expect.
	for _, k := range []string{"p", "q"} {
		if _, _, err := s.Load(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	trip(t, s, p)
	w := changeset.Write{Set: puts("n", "1"), Replayer: rp}
	if err := s.RenewChanges(ctx, "p", vp, "p2", []byte("before=1;n=1;"), exp, "u", exp, w); err != nil {
		t.Fatalf("renewal of a primary record at its version: %v", err)
	}
	lctx, r := degradedCtx(t)
	if _, found, _ := s.Load(lctx, "p"); found || r.Degraded() {
		t.Errorf("Load(p) after its renewal: found %v, degraded %v; want absent with authority", found, r.Degraded())
	}
	if r, found, _ := s.Load(ctx, "p2"); !found || string(r.Blob) != "before=1;n=1;" {
		t.Errorf("Load(p2) = %q (found %v)", r.Blob, found)
	}

	if err := s.Delete(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewChanges(ctx, "q", vq, "q2", []byte("q=1;"), exp, "", exp, w); !backends.IsConflict(err) {
		t.Errorf("renewal of a key deleted during the outage: %v, want a conflict", err)
	}
	saveCS(t, s, rp, "r", 0, puts("r", "1"), map[string]string{"r": "1"})
	if err := s.RenewChanges(ctx, "r", 1, "r2", []byte("r=1;"), exp, "", exp, w); !backends.IsConflict(err) {
		t.Errorf("renewal at a primary version of a key the fallback holds: %v, want a conflict", err)
	}
	if err := s.RenewChanges(ctx, "z", FallbackVersion|1, "z2", []byte("z=1;"), exp, "", exp, w); !backends.IsConflict(err) {
		t.Errorf("renewal at a fallback version of a key the fallback does not hold: %v, want a conflict", err)
	}
	for _, k := range []string{"q2", "r2", "z2"} {
		if _, found, _ := s.fallback.Load(ctx, k); found {
			t.Errorf("a conflicting renewal created %s", k)
		}
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	if r, found, _ := p.Store.Load(ctx, "p2"); !found || string(r.Blob) != "before=1;n=1;" {
		t.Errorf("primary p2 = %q (found %v), want the primary's p and the renewal's change", r.Blob, found)
	}
	for _, k := range []string{"p", "q", "q2", "r2", "z2"} {
		if _, found, _ := p.Store.Load(ctx, k); found {
			t.Errorf("%s is in the primary after recovery", k)
		}
	}
	if keys, _ := p.Store.UserKeys(ctx, "u"); fmt.Sprint(keys) != "[p2]" {
		t.Errorf("user index = %v, want [p2]", keys)
	}
}

// TestManyRenewalsStayWithinByteBound: thousands of renewals of one
// session during an outage keep the journal within its byte bound; those
// beyond it are refused with ErrJournalFull and write nothing. After
// recovery the newest key holds the session's data and every key it was
// renewed from is deleted on the primary.
func TestManyRenewalsStayWithinByteBound(t *testing.T) {
	const bound = 256 << 10
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000), WithJournalBytes(bound))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	key := func(i int) string { return fmt.Sprintf("sess-%05d", i) }
	ver, err := p.Store.Save(ctx, key(0), []byte("before=1;"), exp, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Store.AddUserKey(ctx, "u", key(0), exp)
	if _, _, err := s.Load(ctx, key(0)); err != nil { // a copy vouches for ver
		t.Fatal(err)
	}
	var deleted sync.Map
	p.onDelete = func(k string) { deleted.Store(k, true) }
	trip(t, s, p)

	cur, refused := 0, 0
	for i := 1; i <= 10_000 && refused < 5; i++ {
		val := fmt.Sprintf("%05d", i)
		blob := formatFields(map[string]string{"before": "1", "n": val})
		err := s.RenewChanges(ctx, key(cur), ver, key(i), blob, exp, "u", exp, changeset.Write{Set: puts("n", val), Replayer: rp})
		if b := s.Status().Bytes; b > bound {
			t.Fatalf("after renewal %d the journal holds %d bytes, bound %d", i, b, bound)
		}
		switch {
		case err == nil:
			if refused > 0 {
				t.Fatalf("renewal %d accepted after one was refused", i)
			}
			r, found, err := s.Load(ctx, key(i))
			if err != nil || !found {
				t.Fatalf("Load(%s) after its renewal: found %v, %v", key(i), found, err)
			}
			cur, ver = i, r.Version
		case errors.Is(err, ErrJournalFull):
			refused++
			if _, found, _ := s.fallback.Load(ctx, key(i)); found {
				t.Errorf("refused renewal created %s", key(i))
			}
		default:
			t.Fatalf("renewal %d: %v", i, err)
		}
	}
	if cur < 2000 || refused != 5 {
		t.Fatalf("%d renewals accepted, %d refused; want thousands accepted, then refusals", cur, refused)
	}
	t.Logf("%d renewals fit in %d bytes", cur, bound)
	st := s.Status()
	if st.Refused != 5 || st.Pending != 1 || st.Entries != cur+1 {
		t.Errorf("Status = %+v, want 5 refused, 1 pending, %d entries", st, cur+1)
	}
	if r, found, _ := s.Load(ctx, key(cur)); !found || parseFields(r.Blob)["n"] != fmt.Sprintf("%05d", cur) {
		t.Errorf("newest key %s during the outage = %q (found %v)", key(cur), r.Blob, found)
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	r, found, err := p.Store.Load(ctx, key(cur))
	if err != nil || !found {
		t.Fatalf("primary Load(%s): found %v, %v", key(cur), found, err)
	}
	if m := parseFields(r.Blob); m["before"] != "1" || m["n"] != fmt.Sprintf("%05d", cur) {
		t.Errorf("newest key on the primary = %v, want before=1 and n=%05d", m, cur)
	}
	for i := range cur {
		if _, ok := deleted.Load(key(i)); !ok {
			t.Errorf("old key %s was not deleted on the primary", key(i))
			break
		}
	}
	if _, found, _ := p.Store.Load(ctx, key(0)); found {
		t.Error("the key the session had before the outage is still on the primary")
	}
	for i := cur + 1; i <= cur+refused; i++ {
		if _, found, _ := p.Store.Load(ctx, key(i)); found {
			t.Errorf("refused renewal to %s reached the primary", key(i))
		}
	}
	if keys, _ := p.Store.UserKeys(ctx, "u"); fmt.Sprint(keys) != "["+key(cur)+"]" {
		t.Errorf("user index = %v, want [%s]", keys, key(cur))
	}
	if st := s.Status(); st.Entries != 0 || st.Bytes != 0 || st.Dropped != 0 {
		t.Errorf("after recovery: %+v", st)
	}
	if n := rp.replays(); n != 1 {
		t.Errorf("%d change sets replayed, want 1", n)
	}
}

// TestExpiredTombstonePrunedWhenFull: when the journal is at its limit, a
// tombstone whose record is dead anyway (its until has passed) is dropped
// to make room; one that still shadows a live record is kept, and the
// write after that is refused.
func TestExpiredTombstonePrunedWhenFull(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithJournalLimit(4), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := p.Store.Save(ctx, "live", []byte("x=1;"), exp, 0); err != nil {
		t.Fatal(err)
	}
	var deleted sync.Map
	p.onDelete = func(k string) { deleted.Store(k, true) }
	trip(t, s, p)
	if err := s.DeleteUntil(ctx, "dead", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUntil(ctx, "live", exp); err != nil {
		t.Fatal(err)
	}
	saveCS(t, s, rp, "s0", 0, puts("v", "x"), map[string]string{"v": "x"})
	saveCS(t, s, rp, "s1", 0, puts("v", "x"), map[string]string{"v": "x"})
	if st := s.Status(); st.Entries != 4 || st.Refused != 0 {
		t.Fatalf("Status = %+v, want the journal at its limit of 4 entries", st)
	}
	if !s.hasEntry("dead") {
		t.Fatal("the expired tombstone was dropped before the journal was full")
	}
	saveCS(t, s, rp, "s2", 0, puts("v", "x"), map[string]string{"v": "x"})
	if s.hasEntry("dead") {
		t.Error("the expired tombstone is still journaled after a write needed its room")
	}
	if !s.hasEntry("live") {
		t.Error("a tombstone that shadows a live record was dropped")
	}
	_, err := s.SaveChanges(ctx, "s3", []byte("v=x;"), exp, 0, changeset.Write{Set: puts("v", "x"), Replayer: rp})
	if !errors.Is(err, ErrJournalFull) {
		t.Errorf("write with the journal full of live entries: %v, want ErrJournalFull", err)
	}
	if st := s.Status(); st.Entries != 4 || st.Refused != 1 {
		t.Errorf("Status = %+v, want 4 entries, 1 refused", st)
	}

	p.mode.Store(faultOK)
	waitDrained(t, s)
	if _, ok := deleted.Load("live"); !ok {
		t.Error("the kept tombstone was not applied to the primary")
	}
	if _, ok := deleted.Load("dead"); ok {
		t.Error("the dropped tombstone was applied to the primary")
	}
	if _, found, _ := p.Store.Load(ctx, "live"); found {
		t.Error("live is still on the primary")
	}
}

// TestReplayKeepsUserIndexInStep: the user index follows the records that
// replay builds. A session renewed during the outage by a request that
// could not know its user (its load was served by the fallback) is built on
// the primary's record, bound to that record's user: the new key joins the
// user's index and the old key leaves it. A session bound to a user by its
// change set alone is added to that user's index.
func TestReplayKeepsUserIndexInStep(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := p.Store.Save(ctx, "a", []byte("user=u;x=1;"), exp, 0); err != nil {
		t.Fatal(err)
	}
	p.Store.AddUserKey(ctx, "u", "a", exp)
	trip(t, s, p)
	if err := s.RenewChanges(ctx, "a", 0, "b", []byte("y=2;"), exp, "", time.Time{}, changeset.Write{Set: puts("y", "2"), Replayer: rp}); err != nil {
		t.Fatal(err)
	}
	bound := puts("z", "3")
	bound.SetUser("v")
	saveCS(t, s, rp, "n", 0, bound, map[string]string{"user": "v", "z": "3"})

	p.mode.Store(faultOK)
	waitDrained(t, s)
	if r, found, _ := p.Store.Load(ctx, "b"); !found || string(r.Blob) != "user=u;x=1;y=2;" {
		t.Errorf("primary b = %q (found %v), want a's record and the outage's change", r.Blob, found)
	}
	if _, found, _ := p.Store.Load(ctx, "a"); found {
		t.Error("a is still on the primary")
	}
	for user, want := range map[string]string{"u": "[b]", "v": "[n]"} {
		if keys, err := p.Store.UserKeys(ctx, user); err != nil || fmt.Sprint(keys) != want {
			t.Errorf("user index of %s = %v (%v), want %s", user, keys, err, want)
		}
	}
}

// TestUserKeysListsASessionReplayedDuringTheRead: a session journaled
// during the outage and replayed while UserKeys reads the primary's index
// (after the primary answered, before the journal is looked at) is in
// neither place UserKeys looks; it must be listed all the same, or a "log
// out everywhere" during recovery leaves it alive.
func TestUserKeysListsASessionReplayedDuringTheRead(t *testing.T) {
	p := newFaultStore(t)
	// One session a second: the background replay leaves the session
	// pending long enough for UserKeys to run first.
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1))
	rp := &fieldReplayer{}
	ctx := t.Context()
	trip(t, s, p)
	cs := puts("x", "1")
	cs.SetUser("u")
	cs.Created = time.Now()
	saveCS(t, s, rp, "n", 0, cs, map[string]string{"user": "u", "x": "1"})
	if err := s.AddUserKey(ctx, "u", "n", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.mode.Store(faultOK)
	waitFor(t, 5*time.Second, "the probe to close the circuit", func() bool { return s.State() != StateOpen })

	var once sync.Once
	var drainErr error
	pendingThen := -1
	p.afterUserKeys = func() {
		once.Do(func() {
			pendingThen = s.Status().Pending
			drainErr = s.Drain(ctx)
		})
	}
	keys, err := s.UserKeys(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if drainErr != nil {
		t.Fatalf("Drain: %v", drainErr)
	}
	if pendingThen != 1 {
		t.Fatalf("%d sessions pending when the primary's index was read, want 1 (replayed before UserKeys ran?)", pendingThen)
	}
	if !slices.Contains(keys, "n") {
		t.Errorf("UserKeys = %v: the session replayed during the read is missing", keys)
	}
}

// TestLateRenewalOfAnUnknownRecordIsNoBase: a request whose load the
// primary could not answer renews the session's key expecting no record
// there (version 0); the renewal times out on the client, runs on the
// server (creating its new key from that request's changes alone) and
// burns its new key. Another request's renewal of the same key, journaled
// during the outage, must not be built on that new key at recovery: it
// holds nothing of the session, only the other request's changes.
func TestLateRenewalOfAnUnknownRecordIsNoBase(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	p.lateRenew.Store(true)
	err := s.RenewChanges(ctx, "old", 0, "burned", []byte("a=13;"), exp, "", time.Time{}, changeset.Write{Set: puts("a", "13"), Replayer: rp})
	if !backends.IsConflict(err) {
		t.Fatalf("renewal of unknown outcome: %v, want a conflict (its new key is burned)", err)
	}
	p.lateRenew.Store(false)
	if s.State() != StateOpen {
		t.Fatalf("state = %v, want open", s.State())
	}
	p.mode.Store(faultDown)
	if err := s.RenewChanges(ctx, "old", 0, "new", []byte("b=12;"), exp, "", time.Time{}, changeset.Write{Set: puts("b", "12"), Replayer: rp}); err != nil {
		t.Fatal(err)
	}
	p.mode.Store(faultOK)
	waitDrained(t, s)
	if r, found, _ := p.Store.Load(ctx, "new"); !found || string(r.Blob) != "b=12;" {
		t.Errorf("primary new = %q (found %v), want only its own change b=12", r.Blob, found)
	}
	if _, found, _ := p.Store.Load(ctx, "burned"); found {
		t.Error("the late renewal's key is still on the primary")
	}
}

// TestRenewalRetriedUnderTheSameKeyKeepsIt: a session moved during an
// outage ("a" to "u") cannot be replayed (deleting "a" fails). A renewal
// of "u" into "k" is tried while the primary answers: replaying "u" first
// fails, so the renewal never reaches the primary; the fallback refuses it
// (a stale version); a reload replays "u" again; the renewal is tried
// again under the same new key "k" and journaled. Recovery must leave the
// session under "k": "k" is the session's key, never one of the keys it
// was renewed from.
func TestRenewalRetriedUnderTheSameKeyKeepsIt(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(100), WithReplayRate(1))
	rp := &fieldReplayer{}
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if _, err := p.Store.Save(ctx, "a", []byte("x=1;"), exp, 0); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Load(ctx, "a"); err != nil || !found {
		t.Fatalf("Load(a) = %v, %v", found, err)
	}
	p.mode.Store(faultDown)
	if err := s.RenewChanges(ctx, "a", 1, "u", []byte("x=1;y=2;"), exp, "", time.Time{}, changeset.Write{Set: puts("y", "2"), Replayer: rp}); err != nil {
		t.Fatal(err)
	}
	p.failDeleteOf.Store("a")
	p.mode.Store(faultOK)

	renewK := func(version uint64) error {
		return s.RenewChanges(ctx, "u", version, "k", []byte("x=1;y=2;z=3;"), exp, "", time.Time{}, changeset.Write{Set: puts("z", "3"), Replayer: rp})
	}
	if err := renewK(FallbackVersion | 1<<incShift); !backends.IsConflict(err) {
		t.Fatalf("renewal with a stale version: %v, want a conflict", err)
	}
	rec, found, err := s.Load(ctx, "u")
	if err != nil || !found || rec.Version&FallbackVersion == 0 {
		t.Fatalf("Load(u) = version %x, found %v, %v; want the fallback's copy", rec.Version, found, err)
	}
	if err := renewK(rec.Version); err != nil {
		t.Fatal(err)
	}
	p.failDeleteOf.Store("")
	waitDrained(t, s)
	if r, found, _ := p.Store.Load(ctx, "k"); !found || string(r.Blob) != "x=1;y=2;z=3;" {
		t.Errorf("primary k = %q (found %v), want the session", r.Blob, found)
	}
	for _, k := range []string{"a", "u"} {
		if _, found, _ := p.Store.Load(ctx, k); found {
			t.Errorf("%s is still on the primary", k)
		}
	}
}
