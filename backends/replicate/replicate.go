// Package replicate keeps warm standby copies of a session store. A Store
// writes through to the primary and replicates every change to one or more
// standby stores asynchronously, through a bounded queue; a periodic
// anti-entropy pass, a bounded scan of the primary, repairs what the queue
// dropped. A standby can then serve as the fail-over target of
// session.WithFailover (degrade.WithFallback), instead of an empty
// in-memory store.
//
// Replication never decides by wall clock. A standby's copy carries the
// primary's version (backends.Importer): a copy replaces the standby's
// record only when it has a higher version, so a late or repeated
// replication can never put an older record over a newer one. What is
// replicated is always the primary's current record, read when the queue
// item is applied, so many changes of one busy session cost one copy.
//
// Deletions (logout, renewal, revocation, limits) are applied to the
// standbys at once, within the request, with a short timeout, and queued
// only when that fails: a session ended on the primary does not come back
// from a standby that takes over a moment later.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
)

// Defaults.
const (
	DefaultQueueSize     = 10000
	DefaultScanInterval  = time.Minute
	DefaultScanBatch     = 1000
	DefaultDeleteTimeout = 100 * time.Millisecond
	DefaultApplyTimeout  = 2 * time.Second
	backendName          = "replicate"
)

// ErrNotImporter is returned by New for a standby that does not implement
// backends.Importer.
var ErrNotImporter = errors.New("replicate: standby does not implement backends.Importer")

// ErrUnsupported is matched by the error of an optional operation the
// primary does not implement.
var ErrUnsupported = errors.New("replicate: the primary does not support the operation")

type kind uint8

const (
	kRecord      kind = iota // copy the primary's current record of key
	kDelete                  // delete key
	kIndexAdd                // add key to user's index with deadline
	kIndexRemove             // remove key from user's index
)

type item struct {
	kind     kind
	key      string
	user     string
	deadline time.Time
	queued   time.Time
}

type standby struct {
	st  backends.Store
	imp backends.Importer
	// scanPos is where the next anti-entropy pass looks for orphans
	// (as Store.scanPos for the primary).
	scanPos int64
}

// Store replicates a primary store to standbys. It implements
// backends.Store, Renewer, UserIndex, UserLimiter, Iterator, Counter and
// Pinger (the optional ones when the primary does; otherwise they fail
// with ErrUnsupported), all served by the primary.
type Store struct {
	primary       backends.Store
	standbys      []standby
	queue         chan item
	scanInterval  time.Duration
	scanBatch     int
	deleteTimeout time.Duration
	logger        *slog.Logger
	stop          chan struct{}
	wg            sync.WaitGroup
	closeOnce     sync.Once
	scanPos       int64 // position of the next anti-entropy pass (scan goroutine only)
	pending       sync.WaitGroup
	c             counters
}

// Option configures New.
type Option func(*config) error

type config struct {
	queue         int
	scanInterval  time.Duration
	scanBatch     int
	deleteTimeout time.Duration
	logger        *slog.Logger
}

// WithQueueSize bounds the replication queue (default DefaultQueueSize
// items). When it is full, changes are dropped (counted in Stats.Dropped)
// and left to the anti-entropy pass.
func WithQueueSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("replicate: queue size %d is not positive", n)
		}
		c.queue = n
		return nil
	}
}

// WithAntiEntropy sets how often the anti-entropy pass runs (default
// DefaultScanInterval) and how many keys of the primary, and then of each
// standby, one pass looks at (default DefaultScanBatch); successive passes
// continue where the last one stopped, so a store of N keys is covered in
// N/batch passes. An interval of 0 disables the pass.
func WithAntiEntropy(interval time.Duration, batch int) Option {
	return func(c *config) error {
		if interval < 0 || batch <= 0 {
			return fmt.Errorf("replicate: anti-entropy every %v, %d keys: want a non-negative interval and a positive batch", interval, batch)
		}
		c.scanInterval, c.scanBatch = interval, batch
		return nil
	}
}

// WithDeleteTimeout caps the time a deletion waits for the standbys
// (default DefaultDeleteTimeout) before it is queued instead.
func WithDeleteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("replicate: delete timeout %v is not positive", d)
		}
		c.deleteTimeout = d
		return nil
	}
}

// WithLogger sets where replication failures are logged (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("replicate: nil logger")
		}
		c.logger = l
		return nil
	}
}

// New returns a Store that writes through to primary and replicates to
// standbys (at least one, each a backends.Importer). It starts one
// goroutine that applies the queue and one for the anti-entropy pass;
// Close stops them. Close closes neither the primary nor the standbys.
func New(primary backends.Store, standbys []backends.Store, opts ...Option) (*Store, error) {
	if primary == nil {
		return nil, errors.New("replicate: nil primary")
	}
	if len(standbys) == 0 {
		return nil, errors.New("replicate: no standby")
	}
	cfg := config{queue: DefaultQueueSize, scanInterval: DefaultScanInterval, scanBatch: DefaultScanBatch,
		deleteTimeout: DefaultDeleteTimeout, logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{primary: primary, queue: make(chan item, cfg.queue), scanInterval: cfg.scanInterval,
		scanBatch: cfg.scanBatch, deleteTimeout: cfg.deleteTimeout, logger: cfg.logger, stop: make(chan struct{})}
	for i, sb := range standbys {
		if sb == nil || sb == primary {
			return nil, fmt.Errorf("replicate: standby %d is nil or the primary", i)
		}
		imp, ok := sb.(backends.Importer)
		if !ok {
			return nil, fmt.Errorf("%w: standby %d (%T)", ErrNotImporter, i, sb)
		}
		s.standbys = append(s.standbys, standby{st: sb, imp: imp})
	}
	s.wg.Add(1)
	go s.applyLoop()
	if s.scanInterval > 0 {
		s.wg.Add(1)
		go s.scanLoop()
	}
	return s, nil
}

// Close stops replication: items still queued are dropped (the standbys
// catch up by anti-entropy when a Store runs again). It closes neither the
// primary nor the standbys.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
	})
	return nil
}

// enqueue adds it to the queue, or drops it when the queue is full.
func (s *Store) enqueue(it item) {
	it.queued = time.Now()
	s.pending.Add(1)
	select {
	case s.queue <- it:
		s.c.queued.Add(1)
	default:
		s.pending.Done()
		s.c.dropped.Add(1)
	}
}

// Flush waits until every change queued before the call has been applied
// to the standbys (or dropped), or ctx ends. Changes queued meanwhile may
// make it wait for them too.
func (s *Store) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) applyLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			for {
				select {
				case <-s.queue:
					s.pending.Done()
				default:
					return
				}
			}
		case it := <-s.queue:
			s.c.head.Store(it.queued.UnixNano())
			ctx, cancel := context.WithTimeout(context.Background(), DefaultApplyTimeout)
			s.apply(ctx, it)
			cancel()
			s.c.head.Store(0)
			s.c.lag.Store(int64(time.Since(it.queued)))
			s.c.applied.Add(1)
			s.pending.Done()
		}
	}
}

// apply applies one queue item to every standby.
func (s *Store) apply(ctx context.Context, it item) {
	var err error
	switch it.kind {
	case kRecord:
		err = s.syncKey(ctx, it.key)
	case kDelete:
		err = s.deleteStandbys(ctx, it.key)
	case kIndexAdd, kIndexRemove:
		for _, sb := range s.standbys {
			ui, ok := sb.st.(backends.UserIndex)
			if !ok {
				continue
			}
			if it.kind == kIndexAdd {
				err = errors.Join(err, ui.AddUserKey(ctx, it.user, it.key, it.deadline))
			} else {
				err = errors.Join(err, ui.RemoveUserKey(ctx, it.user, it.key))
			}
		}
	}
	if err != nil {
		s.c.failures.Add(1)
		s.logger.Warn("session replication: applying a change to a standby failed; the anti-entropy pass repairs it", "error", err)
	}
}

// syncKey makes every standby hold the primary's current record of key (or
// none). A standby copy is written only over a lower version; after the
// write the primary is read again, and a copy whose source is gone is
// removed, so that a copy racing with a deletion never outlives it.
func (s *Store) syncKey(ctx context.Context, key string) error {
	rec, found, err := s.primary.Load(ctx, key)
	if err != nil {
		return fmt.Errorf("replicate: read the primary: %w", err)
	}
	if !found {
		return s.deleteStandbys(ctx, key)
	}
	var errs []error
	for _, sb := range s.standbys {
		written, err := sb.imp.Import(ctx, key, rec, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if written {
			s.c.copied.Add(1)
			continue
		}
		// The standby has this version or a later one; bring a touch
		// (a new expiry, same version) across.
		cur, sfound, err := sb.st.Load(ctx, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sfound && cur.Version == rec.Version && !cur.Expiry.Equal(rec.Expiry) {
			if err := sb.st.Touch(ctx, key, rec.Expiry); err != nil {
				errs = append(errs, err)
			}
		}
	}
	cur, found, err := s.primary.Load(ctx, key)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if !found || cur.Version < rec.Version {
		for _, sb := range s.standbys {
			if _, err := sb.st.Save(ctx, key, nil, time.Unix(1, 0), rec.Version); err != nil && !backends.IsConflict(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Store) deleteStandbys(ctx context.Context, key string) error {
	var errs []error
	for _, sb := range s.standbys {
		if err := sb.st.Delete(ctx, key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteNow deletes key on the standbys within the delete timeout, and
// queues the deletion when that fails.
func (s *Store) deleteNow(ctx context.Context, key string) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.deleteTimeout)
	defer cancel()
	if err := s.deleteStandbys(c, key); err != nil {
		s.enqueue(item{kind: kDelete, key: key})
	}
}
