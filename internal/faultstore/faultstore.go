// Package faultstore wraps a session store and injects faults into the calls
// made to it, for tests of fail-over and recovery.
//
// A Store passes every call to an inner store unless a fault applies. The
// faults, all safe to set from any goroutine while calls are running:
//
//   - SetDown: every call fails, until SetDown(false) (Flap toggles it);
//   - FailNext: the next k calls fail;
//   - HangNext: the next k calls block until their context is done and then
//     return the context's error, as a server that stopped answering (see
//     SetHangRelease for tests in a synctest bubble);
//   - FailKeys: calls that involve a session key the predicate selects fail
//     (a partial failure: one shard or slot of a cluster is down);
//   - DeferNext: the next k writes (Save, Delete, Renew, Touch, AddUserKey,
//     RemoveUserKey) report a timeout to the caller but are remembered, and
//     applied to the inner store later by ApplyDeferred (or forgotten by
//     DropDeferred), as a command that timed out on the client and still
//     runs on the server;
//   - RestartEmpty: the inner store is replaced by a fresh, empty one, as a
//     server restarted without persistence.
//
// Written reports whether a key's record was ever written through the
// Store: a key it denies exists nowhere but in the caller's own hands (a
// fail-over store's fallback and journal, say).
//
// Failures wrap ErrInjected and backends.ErrUnavailable, so fail-over treats
// them as outages. The checks run in that order: down, key predicate, hang,
// fail, defer; a call consumes at most one counted fault.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
)

// ErrInjected is matched by every error a Store makes up (as opposed to the
// errors of the inner store, which are passed on as they are).
var ErrInjected = errors.New("faultstore: injected fault")

// ErrTimedOut is matched by the error a deferred write returns: the caller
// sees a timeout although the write may still be applied.
var ErrTimedOut = errors.New("faultstore: timed out (the write may still be applied)")

// backendName is the Backend of the OpErrors a Store makes up.
const backendName = "faultstore"

// Inner is what a Store wraps: a store with every optional capability the
// session manager and the fail-over store use.
type Inner interface {
	backends.Store
	backends.UserIndex
	backends.Renewer
	backends.Iterator
	backends.Counter
	backends.Pinger
}

// Store is a fault-injecting wrapper of an Inner store. It implements
// backends.Store, UserIndex, Renewer, Iterator, Counter and Pinger. It is
// safe for concurrent use.
type Store struct {
	fresh func() (Inner, error)

	mu        sync.Mutex
	inner     Inner
	down      bool
	failNext  int
	hangNext  int
	deferNext int
	keyFault  func(key string) bool
	deferred  []*Deferred
	injected  int
	release   <-chan struct{}
	releaseN  int
	// written are the session keys whose record a write (save, touch,
	// delete, renew from or to it) was passed to an inner store for, or
	// deferred.
	written map[string]bool
}

var (
	_ backends.Store     = (*Store)(nil)
	_ backends.UserIndex = (*Store)(nil)
	_ backends.Renewer   = (*Store)(nil)
	_ backends.Iterator  = (*Store)(nil)
	_ backends.Counter   = (*Store)(nil)
	_ backends.Pinger    = (*Store)(nil)
)

// New returns a Store that passes calls to inner. fresh, which may be nil,
// makes the empty store that RestartEmpty puts in its place. The inner
// store must implement every optional capability (Inner): a Store always
// does, and a wrapper must not claim a capability its store lacks.
func New(inner backends.Store, fresh func() (Inner, error)) (*Store, error) {
	in, err := asInner(inner)
	if err != nil {
		return nil, err
	}
	return &Store{inner: in, fresh: fresh, written: map[string]bool{}}, nil
}

func asInner(s backends.Store) (Inner, error) {
	if s == nil {
		return nil, errors.New("faultstore: nil inner store")
	}
	in, ok := s.(Inner)
	if ok {
		return in, nil
	}
	var missing []string
	if _, ok := s.(backends.UserIndex); !ok {
		missing = append(missing, "UserIndex")
	}
	if _, ok := s.(backends.Renewer); !ok {
		missing = append(missing, "Renewer")
	}
	if _, ok := s.(backends.Iterator); !ok {
		missing = append(missing, "Iterator")
	}
	if _, ok := s.(backends.Counter); !ok {
		missing = append(missing, "Counter")
	}
	if _, ok := s.(backends.Pinger); !ok {
		missing = append(missing, "Pinger")
	}
	return nil, fmt.Errorf("faultstore: the inner store %T lacks backends.%s", s, strings.Join(missing, ", backends."))
}

// SetDown makes every call fail (down) or lifts that fault.
func (s *Store) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Flap toggles the down state and returns the new one: call it at each step
// of a test to make the store alternate between up and down.
func (s *Store) Flap() (down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = !s.down
	return s.down
}

// Down reports whether every call fails.
func (s *Store) Down() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// FailNext makes the next k calls fail (k is added to the calls still to
// fail).
func (s *Store) FailNext(k int) {
	s.mu.Lock()
	s.failNext += max(k, 0)
	s.mu.Unlock()
}

// HangNext makes the next k calls block until their context is done (k is
// added to the calls still to hang). A call whose context never ends hangs
// forever.
func (s *Store) HangNext(k int) {
	s.mu.Lock()
	s.hangNext += max(k, 0)
	s.mu.Unlock()
}

// SetHangRelease makes a hung call also end after it has received n values
// from release (or found it closed), failing then with a timeout that
// matches backends.ErrUnavailable, as a client whose own read timeout
// expired. nil release lifts this.
//
// It is for tests in a testing/synctest bubble: a goroutine blocked on a
// sync.Mutex keeps virtual time from advancing, so a hung call made while
// holding a lock that another goroutine waits for would never see its
// context's deadline. A channel created outside the bubble and fed in real
// time ends such a hang (receiving from it is not durably blocking, so
// virtual time stands still while the call hangs).
func (s *Store) SetHangRelease(release <-chan struct{}, n int) {
	s.mu.Lock()
	s.release, s.releaseN = release, max(n, 1)
	s.mu.Unlock()
}

// DeferNext makes the next k writes report a timeout and wait for
// ApplyDeferred or DropDeferred (k is added to the writes still to defer).
func (s *Store) DeferNext(k int) {
	s.mu.Lock()
	s.deferNext += max(k, 0)
	s.mu.Unlock()
}

// FailKeys makes every call that involves a session key for which pred
// returns true fail; nil lifts the fault. pred must be fast and safe for
// concurrent use.
func (s *Store) FailKeys(pred func(key string) bool) {
	s.mu.Lock()
	s.keyFault = pred
	s.mu.Unlock()
}

// Heal lifts every fault: down, the counted failures, hangs and deferrals
// still to come, and the key predicate. Writes already deferred stay
// deferred.
func (s *Store) Heal() {
	s.mu.Lock()
	s.down, s.failNext, s.hangNext, s.deferNext, s.keyFault = false, 0, 0, 0, nil
	s.mu.Unlock()
}

// Injected returns how many calls a fault has applied to so far.
func (s *Store) Injected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.injected
}

// Inner returns the store calls are passed to now.
func (s *Store) Inner() Inner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inner
}

// RestartEmpty replaces the inner store by a new one made by the fresh
// function given to New, and returns the old one (for the caller to close).
// Deferred writes are applied to the new store.
func (s *Store) RestartEmpty() (old Inner, err error) {
	if s.fresh == nil {
		return nil, errors.New("faultstore: RestartEmpty without a fresh function")
	}
	in, err := s.fresh()
	if err != nil {
		return nil, fmt.Errorf("faultstore: restart: %w", err)
	}
	if in == nil {
		return nil, errors.New("faultstore: restart: the fresh function returned nil")
	}
	s.mu.Lock()
	old, s.inner = s.inner, in
	s.mu.Unlock()
	return old, nil
}

// Deferred is a write that reported a timeout to its caller and waits to be
// applied to the inner store.
type Deferred struct {
	// Op is the operation: "save", "delete", "renew", "touch",
	// "add_user_key" or "remove_user_key".
	Op string
	// Key is the session key written (the old key of a renewal).
	Key   string
	apply func(ctx context.Context, in Inner) error
}

// String names the operation and the key.
func (d *Deferred) String() string { return d.Op + " " + d.Key }

// Pending returns how many deferred writes wait.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deferred)
}

// ApplyDeferred applies the waiting deferred writes to the inner store, in
// the order they were made, and returns one error per write (nil for one
// that succeeded; a compare-and-set that lost is an error matching
// backends.ErrConflict, as the server would have answered). Faults do not
// apply to these writes.
func (s *Store) ApplyDeferred(ctx context.Context) []error {
	return s.ApplyDeferredN(ctx, -1)
}

// ApplyDeferredN is ApplyDeferred for at most the n oldest deferred writes
// (all of them when n is negative).
func (s *Store) ApplyDeferredN(ctx context.Context, n int) []error {
	s.mu.Lock()
	if n < 0 || n > len(s.deferred) {
		n = len(s.deferred)
	}
	batch := slices.Clone(s.deferred[:n])
	s.deferred = slices.Delete(s.deferred, 0, n)
	s.mu.Unlock()
	errs := make([]error, len(batch))
	for i, d := range batch {
		errs[i] = d.apply(ctx, s.Inner())
	}
	return errs
}

// DropDeferred forgets the waiting deferred writes (they never reach the
// inner store) and returns how many there were.
func (s *Store) DropDeferred() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.deferred)
	s.deferred = nil
	return n
}

// Written reports whether a write of key's record (Save, Touch, Delete, or
// Renew from or to key) has been passed to an inner store, or deferred,
// since the Store was made, whatever its outcome and whichever store was
// inner then. A failed or hung call does not count: it never reached the
// inner store. User index writes do not count either.
func (s *Store) Written(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written[key]
}

// recordOps are the operations that write a session key's record.
var recordOps = map[string]bool{"save": true, "touch": true, "delete": true, "renew": true}

// fault is what happens to one call.
type fault int

const (
	pass fault = iota
	fail
	hang
	deferWrite
)

// decide picks the fault for a call that involves keys (none for calls
// that name no session key) and returns the inner store to use.
func (s *Store) decide(write bool, keys ...string) (fault, Inner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := pass
	switch {
	case s.down:
		f = fail
	case s.keyFault != nil && slices.ContainsFunc(keys, s.keyFault):
		f = fail
	case s.hangNext > 0:
		s.hangNext--
		f = hang
	case s.failNext > 0:
		s.failNext--
		f = fail
	case write && s.deferNext > 0:
		s.deferNext--
		f = deferWrite
	}
	if f != pass {
		s.injected++
	}
	return f, s.inner
}

func injected(op string, cause error) error {
	return &backends.OpError{Backend: backendName, Op: op, Err: backends.Unavailable(fmt.Errorf("%w: %w", ErrInjected, cause))}
}

var errDown = errors.New("connection refused")

// run decides the fault of a call and either fails it, hangs it, defers it
// (apply is then remembered) or returns the inner store for the caller to
// call (ok).
func (s *Store) run(ctx context.Context, op string, apply func(context.Context, Inner) error, keys ...string) (in Inner, ok bool, err error) {
	f, in := s.decide(apply != nil, keys...)
	if (f == pass || f == deferWrite) && recordOps[op] {
		s.mu.Lock()
		for _, k := range keys {
			s.written[k] = true
		}
		s.mu.Unlock()
	}
	switch f {
	case fail:
		return nil, false, injected(op, errDown)
	case hang:
		return nil, false, s.hang(ctx, op)
	case deferWrite:
		key := ""
		if len(keys) > 0 {
			key = keys[0]
		}
		s.mu.Lock()
		s.deferred = append(s.deferred, &Deferred{Op: op, Key: key, apply: apply})
		s.mu.Unlock()
		return nil, false, injected(op, ErrTimedOut)
	}
	return in, true, nil
}

// hang blocks until ctx is done, or until the release channel says so.
func (s *Store) hang(ctx context.Context, op string) error {
	s.mu.Lock()
	release, n := s.release, s.releaseN
	s.mu.Unlock()
	for got := 0; release == nil || got < n; got++ {
		select {
		case <-ctx.Done():
			return &backends.OpError{Backend: backendName, Op: op, Err: fmt.Errorf("%w: hung: %w", ErrInjected, ctx.Err())}
		case <-release:
		}
	}
	return injected(op, errHungUp)
}

var errHungUp = errors.New("no answer before the client's read timeout")

// Load passes the call on unless a fault applies.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	in, ok, err := s.run(ctx, "load", nil, key)
	if !ok {
		return backends.Record{}, false, err
	}
	return in.Load(ctx, key)
}

// Save passes the call on unless a fault applies; a deferred Save is later
// made with the same expected version, so it conflicts if the record moved
// on meanwhile.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	b := slices.Clone(blob)
	in, ok, err := s.run(ctx, "save", func(c context.Context, in Inner) error {
		_, err := in.Save(c, key, b, expiry, expected)
		return err
	}, key)
	if !ok {
		return 0, err
	}
	return in.Save(ctx, key, blob, expiry, expected)
}

// Touch passes the call on unless a fault applies.
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	in, ok, err := s.run(ctx, "touch", func(c context.Context, in Inner) error {
		return in.Touch(c, key, expiry)
	}, key)
	if !ok {
		return err
	}
	return in.Touch(ctx, key, expiry)
}

// Delete passes the call on unless a fault applies.
func (s *Store) Delete(ctx context.Context, key string) error {
	in, ok, err := s.run(ctx, "delete", func(c context.Context, in Inner) error {
		return in.Delete(c, key)
	}, key)
	if !ok {
		return err
	}
	return in.Delete(ctx, key)
}

// Renew passes the call on unless a fault applies to it or to either key.
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	b := slices.Clone(blob)
	in, ok, err := s.run(ctx, "renew", func(c context.Context, in Inner) error {
		return in.Renew(c, oldKey, oldVersion, newKey, b, expiry, userID, deadline)
	}, oldKey, newKey)
	if !ok {
		return err
	}
	return in.Renew(ctx, oldKey, oldVersion, newKey, blob, expiry, userID, deadline)
}

// AddUserKey passes the call on unless a fault applies.
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	in, ok, err := s.run(ctx, "add_user_key", func(c context.Context, in Inner) error {
		return in.AddUserKey(c, userID, key, deadline)
	}, key)
	if !ok {
		return err
	}
	return in.AddUserKey(ctx, userID, key, deadline)
}

// RemoveUserKey passes the call on unless a fault applies.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	in, ok, err := s.run(ctx, "remove_user_key", func(c context.Context, in Inner) error {
		return in.RemoveUserKey(c, userID, key)
	}, key)
	if !ok {
		return err
	}
	return in.RemoveUserKey(ctx, userID, key)
}

// UserKeys passes the call on unless a fault applies (the key predicate
// does not: the call names no session key).
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	in, ok, err := s.run(ctx, "user_keys", nil)
	if !ok {
		return nil, err
	}
	return in.UserKeys(ctx, userID)
}

// Keys passes the call on unless a fault applies (the key predicate does
// not: the call names no session key).
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	in, ok, err := s.run(ctx, "keys", nil)
	if !ok {
		return err
	}
	return in.Keys(ctx, fn)
}

// Count passes the call on unless a fault applies.
func (s *Store) Count(ctx context.Context) (int, error) {
	in, ok, err := s.run(ctx, "count", nil)
	if !ok {
		return 0, err
	}
	return in.Count(ctx)
}

// Ping passes the call on unless a fault applies.
func (s *Store) Ping(ctx context.Context) error {
	in, ok, err := s.run(ctx, "ping", nil)
	if !ok {
		return err
	}
	return in.Ping(ctx)
}
