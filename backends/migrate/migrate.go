// Package migrate moves sessions from one store to another while the
// application serves them: no restart, nobody logged out, no acknowledged
// write lost.
//
// A Store wraps the old and the new store and follows a State (a Phase and
// a rollout percentage), which can change at run time: SetState on one
// instance, or Publish into a control record that every instance created
// with WithControl polls. A migration walks the phases in order:
//
//	old-only → write-both → read-new → new-only
//
// In write-both the old store holds the compare-and-set and the new store
// gets a copy of every write with the same version (backends.Importer). In
// read-new both stores are read and the higher version served; what the new
// store lacks is copied on the way. In new-only the old store is out of the
// path. Logouts, renewals and revocations delete in both stores in every
// phase. docs/operations.md walks through a migration.
package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/changeset"
)

// backendName is the Backend of the *backends.OpError values this package
// makes itself (errors of the wrapped stores are returned as they are, with
// context).
const backendName = "migrate"

// ErrUnsupported is matched by the error of an optional operation (user
// index, limit, iteration, count, ping) that a wrapped store does not
// implement.
var ErrUnsupported = errors.New("migrate: a wrapped store does not support the operation")

// ErrNotImporter is returned by New when a wrapped store does not implement
// backends.Importer: without it the new store's copies cannot keep the old
// store's versions.
var ErrNotImporter = errors.New("migrate: store does not implement backends.Importer")

// deleteExpiry is a past expiry: Save with it deletes if the version matches.
var deleteExpiry = time.Unix(1, 0)

// Store is a backends.Store that migrates from an old store to a new one. It
// implements backends.Renewer, UserIndex, UserLimiter, Iterator, Counter and
// Pinger on top of the wrapped stores' capabilities; an operation a wrapped
// store lacks fails with ErrUnsupported. It is safe for concurrent use.
type Store struct {
	old, new  backends.Store
	oldI      backends.Importer
	newI      backends.Importer
	state     atomic.Pointer[State]
	source    atomic.Value // string: "initial", "local", "control"
	changed   atomic.Int64 // Unix ns of the last state change
	control   string
	interval  time.Duration
	logger    *slog.Logger
	ctl       sync.Mutex // serialises polls
	ctlVer    uint64     // version of the control record last applied
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	c         counters
}

// Option configures New.
type Option func(*config) error

type config struct {
	control  string
	interval time.Duration
	logger   *slog.Logger
}

// WithControl makes the store poll the control record (see Publish) in the
// new store every interval and switch to the state it holds whenever it
// changes. The first poll happens in New. Without it the state changes only
// through SetState. interval must be positive; a few seconds is typical:
// it is how long instances may disagree on the phase after a Publish.
func WithControl(interval time.Duration) Option {
	return func(c *config) error {
		if interval <= 0 {
			return fmt.Errorf("migrate: poll interval %v is not positive", interval)
		}
		c.interval = interval
		return nil
	}
}

// WithControlKey sets the key of the control record (default
// DefaultControlKey).
func WithControlKey(key string) Option {
	return func(c *config) error {
		if key == "" {
			return errors.New("migrate: empty control key")
		}
		c.control = key
		return nil
	}
}

// WithLogger sets where state changes and failed polls are logged (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("migrate: nil logger")
		}
		c.logger = l
		return nil
	}
}

// New returns a Store that starts in state initial. Both stores must
// implement backends.Importer (memstore and redisstore do). Close stops the
// polling; it closes neither wrapped store.
func New(old, new backends.Store, initial State, opts ...Option) (*Store, error) {
	if old == nil || new == nil {
		return nil, errors.New("migrate: nil store")
	}
	if err := initial.Validate(); err != nil {
		return nil, err
	}
	oi, ok := old.(backends.Importer)
	if !ok {
		return nil, fmt.Errorf("%w: the old store (%T)", ErrNotImporter, old)
	}
	ni, ok := new.(backends.Importer)
	if !ok {
		return nil, fmt.Errorf("%w: the new store (%T)", ErrNotImporter, new)
	}
	cfg := config{control: DefaultControlKey, logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{old: old, new: new, oldI: oi, newI: ni, control: cfg.control,
		interval: cfg.interval, logger: cfg.logger}
	s.state.Store(&initial)
	s.source.Store("initial")
	s.changed.Store(time.Now().UnixNano())
	if s.interval > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), max(s.interval, time.Second))
		_ = s.Poll(ctx)
		cancel()
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.pollLoop()
	}
	return s, nil
}

// State returns the current state.
func (s *Store) State() State { return *s.state.Load() }

// SetState switches this instance to st at once. Other instances are not
// told: use Publish for that. A later change of the control record (with
// WithControl) replaces st.
func (s *Store) SetState(st State) error {
	if err := st.Validate(); err != nil {
		return err
	}
	s.apply(st, "local")
	return nil
}

func (s *Store) apply(st State, source string) {
	prev := s.state.Swap(&st)
	s.source.Store(source)
	if *prev != st {
		s.changed.Store(time.Now().UnixNano())
		s.c.stateChanges.Add(1)
		s.logger.Info("session migration: state changed", "from", prev.String(), "to", st.String(), "source", source)
	}
}

// Poll reads the control record once and applies the state it holds if the
// record changed since the last poll. The store polls by itself with
// WithControl; Poll lets a test or an admin endpoint force it.
func (s *Store) Poll(ctx context.Context) error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	st, v, err := ReadControl(ctx, s.new, s.control)
	s.c.polls.Add(1)
	if err != nil {
		s.c.pollErrors.Add(1)
		return err
	}
	if v == 0 || v == s.ctlVer {
		return nil
	}
	s.ctlVer = v
	s.apply(st, "control")
	return nil
}

// Publish stores st in this migration's control record (in the new store)
// and applies it to this instance at once; see the package function Publish.
func (s *Store) Publish(ctx context.Context, st State, force bool) error {
	if _, err := Publish(ctx, s.new, s.control, st, force); err != nil {
		return err
	}
	if s.interval > 0 {
		return s.Poll(ctx)
	}
	s.apply(st, "local")
	return nil
}

func (s *Store) pollLoop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(s.interval, time.Second))
			if err := s.Poll(ctx); err != nil {
				s.logger.Warn("session migration: reading the control record failed; keeping the current state",
					"state", s.State().String(), "error", err)
			}
			cancel()
		}
	}
}

// Close stops polling the control record. It closes neither wrapped store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
	})
	return nil
}

func (s *Store) phaseOf(key string) Phase { return s.state.Load().phaseOf(key) }

// stores returns the store holding the compare-and-set in phase p (the
// authority) and the other one.
func (s *Store) stores(p Phase) (auth, other backends.Store) {
	if p == NewOnly {
		return s.new, s.old
	}
	return s.old, s.new
}

// Load returns the record under key, from the store (or stores) the key's
// phase reads. In ReadNew it reads both and copies to the new store a record
// it lacks or holds at a lower version.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	if err := begin(ctx, "load"); err != nil {
		return backends.Record{}, false, err
	}
	switch s.phaseOf(key) {
	case OldOnly, WriteBoth:
		s.c.readsOld.Add(1)
		return s.old.Load(ctx, key)
	case NewOnly:
		s.c.readsNew.Add(1)
		return s.new.Load(ctx, key)
	}
	return s.loadBoth(ctx, key)
}

func (s *Store) loadBoth(ctx context.Context, key string) (backends.Record, bool, error) {
	type result struct {
		rec   backends.Record
		found bool
		err   error
	}
	oldc := make(chan result, 1)
	go func() {
		r, f, err := s.old.Load(ctx, key)
		oldc <- result{r, f, err}
	}()
	nr, nf, nerr := s.new.Load(ctx, key)
	o := <-oldc
	if nerr != nil {
		return backends.Record{}, false, fmt.Errorf("migrate: read-new: %w", nerr)
	}
	if o.err != nil {
		// Without the old store's answer the new one may be behind.
		return backends.Record{}, false, fmt.Errorf("migrate: read-new, old store: %w", o.err)
	}
	if nf && (!o.found || nr.Version >= o.rec.Version) {
		s.c.readsNew.Add(1)
		if !o.found || o.rec.Version < nr.Version {
			// The old store, which takes the compare-and-set in this
			// phase, is behind (a write by an instance already in
			// NewOnly, or data the old store lost): bring it level, or
			// every save of this session would conflict.
			if err := s.mirror(ctx, s.new, s.oldI, key, nr); err != nil && !errors.Is(err, errMirrorBehind) {
				s.c.repairFailures.Add(1)
			} else {
				s.c.repairs.Add(1)
			}
		}
		return nr, true, nil
	}
	if !o.found {
		return backends.Record{}, false, nil
	}
	s.c.readsOld.Add(1)
	if err := s.mirror(ctx, s.old, s.newI, key, o.rec); err != nil {
		s.c.repairFailures.Add(1)
		s.logger.WarnContext(ctx, "session migration: copying a record to the new store failed", "error", err)
	} else {
		s.c.repairs.Add(1)
	}
	return o.rec, true, nil
}

// begin fails, before any work, when ctx is done: a caller that has given
// up must not have its write applied in one store and not the other.
func begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return &backends.OpError{Backend: backendName, Op: op, Err: err}
	}
	return nil
}

// errMirrorBehind is returned by mirror when the target already holds the
// record's version or a later one.
var errMirrorBehind = errors.New("the other store holds this version or a later one")

// mirror copies rec (just read from, or written to, src under key) into
// dst with its version, then checks that src still holds a record at
// rec.Version or later; if src has lost it (a logout that raced with the
// copy), it deletes the copy again, so a copy never outlives its source.
func (s *Store) mirror(ctx context.Context, src backends.Store, dst backends.Importer, key string, rec backends.Record) error {
	written, err := dst.Import(ctx, key, rec, false)
	if err != nil {
		return err
	}
	if !written {
		return errMirrorBehind
	}
	cur, found, err := src.Load(ctx, key)
	if err != nil {
		return fmt.Errorf("checking the source after the copy: %w", err)
	}
	if !found || cur.Version < rec.Version {
		if _, err := dst.(backends.Store).Save(ctx, key, nil, deleteExpiry, rec.Version); err != nil && !backends.IsConflict(err) {
			return fmt.Errorf("removing a copy whose source is gone: %w", err)
		}
	}
	return nil
}

// Save is the compare-and-set of the key's phase: on the old store in
// OldOnly, WriteBoth and ReadNew, on the new store in NewOnly. In WriteBoth
// and ReadNew the written record is then copied to the new store with the
// same version; when the new store already holds that version or a later
// one (written by an instance in NewOnly), Save returns an error matching
// backends.ErrConflict, so the caller merges onto the latest record.
//
// When the copy fails, the new store's copy is deleted, so that ReadNew
// repairs it from the old store; if that fails too, Save returns an error
// matching backends.ErrOutcomeUnknown: the old store has the write.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	if err := begin(ctx, "save"); err != nil {
		return 0, err
	}
	p := s.phaseOf(key)
	auth, other := s.stores(p)
	v, err := auth.Save(ctx, key, blob, expiry, expected)
	if err != nil {
		return v, err
	}
	if p == OldOnly || p == NewOnly {
		return v, nil
	}
	if v == 0 {
		// A delete-if-version: delete the copy too.
		return 0, s.deleteOther(ctx, other, key, true)
	}
	s.c.mirrorWrites.Add(1)
	err = s.mirror(ctx, auth, s.newI, key, backends.Record{Blob: blob, Version: v, Expiry: expiry})
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, errMirrorBehind):
		if s.superseded(ctx, auth, key, v, blob) {
			return v, nil
		}
		s.c.mirrorConflicts.Add(1)
		return 0, &backends.OpError{Backend: backendName, Op: "save", Err: fmt.Errorf("%w: %w", backends.ErrConflict, err)}
	}
	s.c.mirrorFailures.Add(1)
	if derr := s.new.Delete(context.WithoutCancel(ctx), key); derr != nil {
		return v, &backends.OpError{Backend: backendName, Op: "save", Err: fmt.Errorf(
			"%w: saved in the old store, but neither copied nor removed in the new one: %w",
			backends.ErrOutcomeUnknown, errors.Join(err, derr))}
	}
	return v, nil
}

// superseded reports whether the new store holding version v or a later
// one is consistent with our write of blob at v to auth: a later write
// through auth is being copied (ours is in its history), or the new store's
// copy of v is ours (copied by a concurrent repair).
func (s *Store) superseded(ctx context.Context, auth backends.Store, key string, v uint64, blob []byte) bool {
	// The new store first: its versions come from the old store's writes,
	// so once it holds a later version, the old store holds one too.
	cur, found, err := s.new.Load(ctx, key)
	if err != nil || !found {
		return false
	}
	if cur.Version == v {
		return bytes.Equal(cur.Blob, blob)
	}
	cur, found, err = auth.Load(ctx, key)
	return err == nil && found && cur.Version > v
}

// Touch extends the expiry in the stores the key's phase writes. A failed
// touch of the new store's copy in WriteBoth or ReadNew is counted, not
// returned: the copy then expires early, and ReadNew copies it again.
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	if err := begin(ctx, "touch"); err != nil {
		return err
	}
	p := s.phaseOf(key)
	auth, other := s.stores(p)
	if err := auth.Touch(ctx, key, expiry); err != nil {
		return err
	}
	if p == WriteBoth || p == ReadNew {
		if err := other.Touch(ctx, key, expiry); err != nil {
			s.c.mirrorFailures.Add(1)
		}
	}
	return nil
}

// Delete deletes the record in both stores in every phase: the other store
// first, then the authority, then the other store again (a copy made
// concurrently is removed by the copier or by the second delete). In OldOnly
// and NewOnly, errors of the store out of the path are counted, not
// returned.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := begin(ctx, "delete"); err != nil {
		return err
	}
	p := s.phaseOf(key)
	auth, other := s.stores(p)
	strict := p == WriteBoth || p == ReadNew
	if err := s.deleteOther(ctx, other, key, strict); err != nil {
		return err
	}
	if err := auth.Delete(ctx, key); err != nil {
		return err
	}
	return s.deleteOther(ctx, other, key, strict)
}

func (s *Store) deleteOther(ctx context.Context, other backends.Store, key string, strict bool) error {
	err := other.Delete(ctx, key)
	if err != nil {
		s.c.otherDeleteFailures.Add(1)
		if strict {
			return fmt.Errorf("migrate: delete in the other store: %w", err)
		}
	}
	return nil
}

// Renew renews on the key's authority store (with its Renewer, or step by
// step) and deletes oldKey in the other store first, so that it cannot
// reappear from there. In WriteBoth and ReadNew the new record and its user
// index entry are then copied to the new store.
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	if err := begin(ctx, "renew"); err != nil {
		return err
	}
	p := s.phaseOf(oldKey)
	auth, other := s.stores(p)
	strict := p == WriteBoth || p == ReadNew
	if err := s.deleteOther(ctx, other, oldKey, strict); err != nil {
		return err
	}
	if err := changeset.Renew(ctx, auth, oldKey, oldVersion, newKey, blob, expiry, userID, deadline); err != nil {
		return err
	}
	if !strict {
		if err := s.deleteOther(ctx, other, oldKey, false); err == nil && userID != "" {
			if ui, ok := other.(backends.UserIndex); ok {
				_ = ui.RemoveUserKey(ctx, userID, oldKey)
			}
		}
		return nil
	}
	s.c.mirrorWrites.Add(1)
	err := s.mirror(ctx, auth, s.newI, newKey, backends.Record{Blob: blob, Version: 1, Expiry: expiry})
	if err == nil && userID != "" {
		if ui, ok := s.new.(backends.UserIndex); ok {
			err = errors.Join(ui.RemoveUserKey(ctx, userID, oldKey), ui.AddUserKey(ctx, userID, newKey, deadline))
		}
	}
	if err != nil {
		// The renewal happened; the new store misses the new record (which
		// ReadNew repairs) or its index entry (which the user listing of
		// ReadNew finds in the old store).
		s.c.mirrorFailures.Add(1)
		s.logger.WarnContext(ctx, "session migration: copying a renewed session to the new store failed", "error", err)
	}
	return s.deleteOther(ctx, s.new, oldKey, false)
}
