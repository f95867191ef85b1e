package degrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
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
	return f.Store.Renew(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
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
	return f.Store.UserKeys(ctx, userID)
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

// replayFunc returns a ReplayFunc that sets field name of a blob made of
// "name=value;" pairs, merging with what the store holds.
func setField(key, name, value string) backends.ReplayFunc {
	return func(ctx context.Context, st backends.Store) error {
		for range 16 {
			rec, found, err := st.Load(ctx, key)
			if err != nil {
				return err
			}
			m := parseFields(rec.Blob)
			if !found {
				m = map[string]string{}
			}
			m[name] = value
			_, err = st.Save(ctx, key, formatFields(m), time.Now().Add(time.Hour), rec.Version)
			if !backends.IsConflict(err) {
				return err
			}
		}
		return errors.New("too many conflicts")
	}
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
	// sorted for stable blobs
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	var b []byte
	for _, k := range keys {
		b = append(b, k+"="+m[k]+";"...)
	}
	return b
}

// saveWith saves blob through s with fn attached, as the manager does.
func saveWith(t *testing.T, s *Store, key string, fn backends.ReplayFunc, expected uint64, m map[string]string) uint64 {
	t.Helper()
	ctx := backends.WithReplay(t.Context(), fn)
	v, err := s.Save(ctx, key, formatFields(m), time.Now().Add(time.Hour), expected)
	if err != nil {
		t.Fatalf("Save(%s): %v", key, err)
	}
	return v
}

func TestRecoveryAppliesTombstonesFirstAndMerges(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(1), WithObserver(rec), WithReplayRate(1000))
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
	p.mode.Store(faultDown)
	s.Load(ctx, "trip")
	if s.State() != StateOpen {
		t.Fatal("not open")
	}
	// During the outage: "merged" gets b=2 (its load found nothing, the
	// manager kept the ID), "new" is created, "loggedout" is deleted.
	saveWith(t, s, "merged", setField("merged", "b", "2"), 0, map[string]string{"b": "2"})
	v := saveWith(t, s, "new", setField("new", "c", "3"), 0, map[string]string{"c": "3"})
	if v&FallbackVersion == 0 {
		t.Errorf("version %d served by the fallback lacks FallbackVersion", v)
	}
	saveWith(t, s, "new", setField("new", "d", "4"), v, map[string]string{"c": "3", "d": "4"})
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
	waitFor(t, 5*time.Second, "the circuit to close and the journal to drain", func() bool {
		return s.State() == StateClosed && s.Status().Pending == 0
	})
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
}

func TestPendingKeyReplayedBeforeUse(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1))
	ctx := t.Context()
	p.mode.Store(faultDown)
	s.Load(ctx, "trip")
	for i := range 5 {
		k := fmt.Sprint("s", i)
		saveWith(t, s, k, setField(k, "v", "outage"), 0, map[string]string{"v": "outage"})
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

func TestJournalLimit(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(1), WithJournalLimit(2), WithObserver(rec))
	ctx := t.Context()
	p.mode.Store(faultDown)
	s.Load(ctx, "trip")
	for i := range 3 {
		k := fmt.Sprint("s", i)
		saveWith(t, s, k, setField(k, "v", "x"), 0, map[string]string{"v": "x"})
	}
	if err := s.Delete(ctx, "gone"); err != nil { // tombstones beyond the limit are kept
		t.Fatal(err)
	}
	st := s.Status()
	if st.ChangeSets != 2 || st.Dropped != 1 || st.Pending != 3 {
		t.Fatalf("Status = %+v, want 2 change sets, 1 dropped, 3 pending", st)
	}
	if _, _, _, _, full := rec.get(); full != 1 {
		t.Errorf("JournalFull reported %d times, want 1", full)
	}
}

func TestStateMachineFlapping(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(2), WithObserver(rec))
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
		saveWith(t, s, k, setField(k, "v", "x"), 0, map[string]string{"v": "x"})
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

// renewFrom returns the ReplayFunc of a renewal, as the manager builds it:
// while newKey has no record, the record is built on oldKey's record.
func renewFrom(newKey, oldKey string, set map[string]string) backends.ReplayFunc {
	return func(ctx context.Context, st backends.Store) error {
		for range 16 {
			rec, found, err := st.Load(ctx, newKey)
			if err != nil {
				return err
			}
			m := map[string]string{}
			if found {
				m = parseFields(rec.Blob)
			} else {
				old, ok, err := st.Load(ctx, oldKey)
				if err != nil {
					return err
				}
				if ok {
					m = parseFields(old.Blob)
				}
			}
			for k, v := range set {
				m[k] = v
			}
			_, err = st.Save(ctx, newKey, formatFields(m), time.Now().Add(time.Hour), rec.Version)
			if !backends.IsConflict(err) {
				return err
			}
		}
		return errors.New("too many conflicts")
	}
}

// TestRenewalDuringOutageIsAMove: renewals made during the outage (a chain
// of two, the first after a save of the old key) are replayed as moves:
// the last key holds the primary's data of the first plus every change of
// the outage, and the old keys are deleted only then; a renewal followed
// by a deletion of the new key deletes the old key before the circuit
// closes.
func TestRenewalDuringOutageIsAMove(t *testing.T) {
	p := newFaultStore(t)
	s := newTestStore(t, p, WithFailureThreshold(1), WithReplayRate(1000))
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
	p.mode.Store(faultDown)
	s.Load(ctx, "trip")

	renew := func(oldKey string, oldVersion uint64, newKey string, fn backends.ReplayFunc, m map[string]string) {
		t.Helper()
		rctx := backends.WithReplay(ctx, fn)
		if err := s.Renew(rctx, oldKey, oldVersion, newKey, formatFields(m), exp, "u", exp); err != nil {
			t.Fatalf("Renew(%s, %s): %v", oldKey, newKey, err)
		}
	}
	// a: saved during the outage (its load found nothing), then renewed
	// to b, which is saved and renewed to c.
	va := saveWith(t, s, "a", setField("a", "x", "1"), 0, map[string]string{"x": "1"})
	renew("a", va, "b", renewFrom("b", "a", map[string]string{"x": "1"}), map[string]string{"x": "1"})
	vb := saveWith(t, s, "b", setField("b", "y", "2"), FallbackVersion|1, map[string]string{"x": "1", "y": "2"})
	renew("b", vb, "c", renewFrom("c", "b", map[string]string{"x": "1", "y": "2"}), map[string]string{"x": "1", "y": "2"})
	// d: renewed (its load found nothing), then e logged out.
	renew("d", 0, "e", renewFrom("e", "d", nil), nil)
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
	if _, err := s.Save(backends.WithReplay(ctx, setField("a", "z", "3")), "a", []byte("z=3;"), exp, 0); !backends.IsConflict(err) {
		t.Errorf("Save of a key renewed away: %v, want a conflict", err)
	}
	if err := s.Renew(ctx, "a", 0, "f", []byte("f"), exp, "", exp); !backends.IsConflict(err) {
		t.Errorf("Renew of a key renewed away: %v, want a conflict", err)
	}
	if st := s.Status(); st.ChangeSets != 4 {
		t.Errorf("ChangeSets = %d, want 4", st.ChangeSets)
	}

	p.mode.Store(faultOK)
	waitFor(t, 5*time.Second, "the circuit to close and the journal to drain", func() bool {
		return s.State() == StateClosed && s.Status().Pending == 0
	})
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
	for _, k := range []string{"a", "b", "d", "e"} {
		if _, found, _ := p.Store.Load(ctx, k); found {
			t.Errorf("%s is in the primary after recovery", k)
		}
	}
	if keys, _ := p.Store.UserKeys(ctx, "u"); fmt.Sprint(keys) != "[c]" {
		t.Errorf("user index = %v, want [c]", keys)
	}
	if st := s.Status(); st.ChangeSets != 0 || st.Dropped != 0 {
		t.Errorf("after recovery: %+v", st)
	}
	s.mu.Lock()
	moved := len(s.moved)
	s.mu.Unlock()
	if moved != 0 {
		t.Errorf("%d moves left after recovery", moved)
	}
}
