package degrade

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

// Defaults of the options.
const (
	// DefaultTimeout caps every operation on the primary store.
	DefaultTimeout = 250 * time.Millisecond
	// DefaultFailureThreshold is how many consecutive outage errors of the
	// primary open the circuit.
	DefaultFailureThreshold = 3
	// DefaultProbeInterval is the time between two health probes of the
	// primary while the circuit is open.
	DefaultProbeInterval = time.Second
	// DefaultReplayRate is how many sessions per second the background
	// replay writes back to the primary after an outage.
	DefaultReplayRate = 200
	// DefaultJournalLimit is how many entries the journal holds at most:
	// sessions with writes pending replay, keys renewed away and
	// tombstones, each counted once.
	DefaultJournalLimit = 100_000
	// DefaultJournalBytes is how many bytes the journal holds at most.
	DefaultJournalBytes = 64 << 20
	// DefaultCopyBytes is how many bytes of last known copies of the
	// primary's records are kept for outages (see WithCopies).
	DefaultCopyBytes = 32 << 20
)

// FallbackVersion is set in the Version of every record the fallback
// serves, and in the version a Save served by the fallback returns. A
// version of the fallback therefore never equals one of the primary: a
// compare-and-set that crosses from one store to the other always
// conflicts, and the manager merges its change set onto the other store's
// record instead of writing over it. Stores never reach this version by
// counting.
const FallbackVersion uint64 = 1 << 62

// backendName is the Backend of the *backends.OpError values this package
// creates itself. Errors of the primary and the fallback are passed on as
// they are.
const backendName = "degrade"

// ErrOpen is returned, wrapped together with backends.ErrUnavailable, by the
// operations that only the primary can answer (UserKeys, Keys, Count) while
// the circuit is open. Observer.PrimaryFailed receives an error matching it
// for every call the open circuit kept from the primary.
var ErrOpen = errors.New("degrade: primary store unavailable (circuit open)")

// errShortCircuited is what Observer.PrimaryFailed receives for a call the
// open circuit kept from the primary.
var errShortCircuited = backends.Unavailable(ErrOpen)

// State is the state of the circuit breaker.
type State int32

// The states of a Store.
const (
	// StateClosed: the primary serves every operation; nothing is pending.
	StateClosed State = iota
	// StateOpen: the primary failed repeatedly; every operation is served
	// by the fallback without asking the primary, and a background probe
	// pings the primary.
	StateOpen
	// StateRecovering: the primary serves again, while writes journaled
	// during the outage are still being replayed onto it in the background.
	StateRecovering
)

// String returns "closed", "open" or "recovering".
func (st State) String() string {
	switch st {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateRecovering:
		return "recovering"
	}
	return "unknown"
}

// Observer receives the events of a Store, for metrics. Its methods are
// called synchronously, on request paths and on the background goroutine,
// and must be fast and safe for concurrent use; they may call State and
// Status. Embed NopObserver to implement only some of them.
//
// Package metrics implements Observer. The session manager's WithFailover
// passes these events to the manager's observer when it implements
// Observer, and reports the breaker's transitions as fail-over and
// recovery events of its own (audit log included).
type Observer interface {
	// StateChanged reports a transition of the circuit breaker.
	StateChanged(from, to State)
	// FailedOver reports one operation ("load", "save", "touch", "delete",
	// "renew", "add_user_key", "remove_user_key") served by the fallback,
	// because the circuit was open or the primary just failed.
	FailedOver(op string)
	// PrimaryFailed reports one call that the primary did not serve. err
	// matches ErrOpen when the circuit was open and the primary was not
	// asked at all; otherwise it is the primary's own error, matching
	// backends.ErrUnavailable (unreachable, or out of time) or
	// backends.ErrMisconfigured (the primary refuses its configuration:
	// credentials, database, TLS). Each such call of an operation is
	// followed by the fallback serving it (FailedOver) or, for the
	// operations only the primary can answer, by an error. The failed
	// calls of the background replay and of the probe (one every
	// WithProbeInterval while the circuit is open) are reported too, so
	// that a primary that stays down, or keeps refusing its
	// configuration, keeps being counted without traffic.
	PrimaryFailed(err error)
	// Replayed reports one session whose journaled writes were applied to
	// the primary: changeSets is how many change sets that took (0 for a
	// session that was only deleted or touched).
	Replayed(changeSets int)
	// ReplayFailed reports a journaled write that could not be applied to
	// the primary for a reason other than an outage (for example, the
	// primary's record cannot be decoded) and was given up.
	ReplayFailed(err error)
	// JournalFull reports a write that was refused because the journal
	// held one of its bounds (see ErrJournalFull).
	JournalFull()
}

// NopObserver implements Observer and ignores every event.
type NopObserver struct{}

// StateChanged does nothing.
func (NopObserver) StateChanged(from, to State) {}

// FailedOver does nothing.
func (NopObserver) FailedOver(op string) {}

// PrimaryFailed does nothing.
func (NopObserver) PrimaryFailed(err error) {}

// Replayed does nothing.
func (NopObserver) Replayed(changeSets int) {}

// ReplayFailed does nothing.
func (NopObserver) ReplayFailed(err error) {}

// JournalFull does nothing.
func (NopObserver) JournalFull() {}

// Option configures New. Options are checked once, by New.
type Option func(*config) error

type config struct {
	fallback      backends.Store
	timeout       time.Duration
	threshold     int
	probeInterval time.Duration
	replayRate    int
	journalLimit  int
	journalBytes  int64
	copyBytes     int64
	observers     []Observer
	observer      Observer // all of observers, set by New
	logger        *slog.Logger
}

// WithFallback sets the store that serves while the primary is down. The
// default is a memstore with its default bounds, created by New and closed
// by Close; a store passed here is not closed. It must not be the primary,
// and it must keep a user index (backends.UserIndex) when the primary does.
func WithFallback(fb backends.Store) Option {
	return func(c *config) error {
		if fb == nil {
			return errors.New("WithFallback: nil store")
		}
		c.fallback = fb
		return nil
	}
}

// WithTimeout caps every call to the primary at d (default 250 ms); a
// shorter deadline of the caller's context applies as well. A call that
// runs out of this time counts as a failure of the primary and is served by
// the fallback. d must be positive.
//
// The primary must honour context deadlines for the cap to work. A
// redisstore.Store created with redisstore.NewFromURL does (it sets
// go-redis's ContextTimeoutEnabled); for a client of your own, set
// ContextTimeoutEnabled in its options, or go-redis keeps waiting for its
// own ReadTimeout (3 s by default) and retries.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithTimeout: %v is not positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithFailureThreshold sets how many consecutive outage errors of the
// primary open the circuit (default 3). Until then, each failed operation
// is served by the fallback on its own. n must be at least 1.
func WithFailureThreshold(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithFailureThreshold: %d is less than 1", n)
		}
		c.threshold = n
		return nil
	}
}

// WithProbeInterval sets the time between health probes of the primary
// while the circuit is open (default 1 s, at least 10 ms). A probe is one
// Ping, capped by the timeout.
func WithProbeInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("WithProbeInterval: %v is shorter than 10ms", d)
		}
		c.probeInterval = d
		return nil
	}
}

// WithReplayRate sets how many sessions per second the background replay
// writes back to the primary after an outage (default 200), so that a
// primary that just came back is not flooded. A request for a session whose
// replay is still pending replays it at once, whatever the rate. n must be
// at least 1.
func WithReplayRate(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithReplayRate: %d is less than 1", n)
		}
		c.replayRate = n
		return nil
	}
}

// WithJournalLimit sets how many entries the journal keeps at most
// (default 100,000): one per session with writes pending replay (its change
// sets are compacted into one), per key renewed away and per deletion
// (tombstone). While the journal holds its limit, writes that the fallback
// would serve and that need a new entry are refused with ErrJournalFull
// (nothing is written; the request gets the error), rather than served and
// lost at recovery; writes to sessions already journaled go on within the
// byte bound. n must be at least 1.
func WithJournalLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithJournalLimit: %d is less than 1", n)
		}
		c.journalLimit = n
		return nil
	}
}

// WithJournalBytes sets how many bytes the journal keeps at most (default
// 64 MiB), counting change sets, renewals, tombstones and user index
// changes alike. A write that would take the journal beyond it is refused
// with ErrJournalFull, as for WithJournalLimit. Tombstones whose records
// would be dead anyway are dropped first. n must be at least 4 KiB.
func WithJournalBytes(n int64) Option {
	return func(c *config) error {
		if n < 4<<10 {
			return fmt.Errorf("WithJournalBytes: %d is less than 4096", n)
		}
		c.journalBytes = n
		return nil
	}
}

// WithCopies sets how many bytes of last known copies of the primary's
// records the store keeps in memory (default 32 MiB; 0 keeps none). Every
// record read from or written to the primary is kept, least recently used
// first out, so that during an outage a session this process has seen is
// served with its data and user, not empty: its writes are journaled as
// changes to that copy and merged onto the primary's record on recovery
// (never recreating a record deleted on the primary meanwhile).
//
// A copy is dropped when this store deletes or renews the record, finds it
// gone on the primary, or replays onto it. A session logged out by another
// process during the outage is still served from this process's copy
// until the primary is back (see the package documentation). n must not
// be negative.
func WithCopies(n int64) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("WithCopies: %d is negative", n)
		}
		c.copyBytes = n
		return nil
	}
}

// WithObserver adds hooks that receive the store's events, for metrics
// (see Observer). It may be given more than once: every observer receives
// every event, in the order given, and an observer given twice receives
// each event once.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("WithObserver: nil observer")
		}
		for _, have := range c.observers {
			if sameObserver(have, o) {
				return nil
			}
		}
		c.observers = append(c.observers, o)
		return nil
	}
}

// sameObserver reports whether a and b are the same observer value.
func sameObserver(a, b Observer) bool {
	t := reflect.TypeOf(a)
	return t == reflect.TypeOf(b) && t.Comparable() && a == b
}

// observers passes every event to each of its members.
type observers []Observer

func (os observers) StateChanged(from, to State) {
	for _, o := range os {
		o.StateChanged(from, to)
	}
}

func (os observers) FailedOver(op string) {
	for _, o := range os {
		o.FailedOver(op)
	}
}

func (os observers) PrimaryFailed(err error) {
	for _, o := range os {
		o.PrimaryFailed(err)
	}
}

func (os observers) Replayed(changeSets int) {
	for _, o := range os {
		o.Replayed(changeSets)
	}
}

func (os observers) ReplayFailed(err error) {
	for _, o := range os {
		o.ReplayFailed(err)
	}
}

func (os observers) JournalFull() {
	for _, o := range os {
		o.JournalFull()
	}
}

// WithLogger sets the logger for state changes (Warn when the circuit
// opens, Info when it closes), a primary that refuses its configuration
// (Error) and replay problems (Error). Session IDs and keys are never
// logged. The default is slog.Default(); the session manager's WithFailover
// passes the manager's logger.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// Store is a backends.Store that serves from a primary store and fails over
// to a fallback store while the primary is down. See the package
// documentation for what it guarantees. It also implements
// backends.UserIndex, backends.Renewer, backends.Iterator, backends.Counter
// and backends.Pinger; the capabilities the primary lacks fail with an error
// matching errors.ErrUnsupported (Renew and Ping always work).
//
// A Store is safe for concurrent use and cannot be reconfigured after New.
type Store struct {
	primary  backends.Store
	fallback backends.Store
	copies   *copies
	ownFB    io.Closer
	cfg      config

	state    atomic.Int32 // State; written under mu
	pending  atomic.Int64 // entries in the journal; written under mu
	closed   atomic.Bool
	failures atomic.Int32 // consecutive outage errors
	since    time.Time

	mu         sync.Mutex
	journal    map[string]*entry
	moved      map[string]*lineage // key renewed away during the outage -> its session
	unsure     map[string][]oldKey // key -> renewals of it the primary may still carry out
	inc        map[string]uint64   // key -> incarnation of its fallback copy (see fbVersion)
	incSeq     uint64
	queue      list.List // of *entry, in the order their keys were first journaled
	bytes      int64     // bytes held by the journal, bounded by cfg.journalBytes
	refused    uint64    // writes refused because the journal was full
	changeSets int       // entries with changes to merge
	removed    uint64    // entries that left the journal, ever
	dropped    uint64
	fullLogged bool
	refusing   bool // the primary's last failure refused its configuration (logged)
	probe      probeResult

	wake      chan struct{} // wakes the background goroutine (capacity 1)
	stopCtx   context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type probeResult struct {
	at      time.Time
	latency time.Duration
	err     error
}

var (
	_ backends.Store       = (*Store)(nil)
	_ backends.UserIndex   = (*Store)(nil)
	_ backends.Renewer     = (*Store)(nil)
	_ backends.Iterator    = (*Store)(nil)
	_ backends.Counter     = (*Store)(nil)
	_ backends.Pinger      = (*Store)(nil)
	_ backends.UserLimiter = (*Store)(nil)
)

// New returns a Store that serves from primary and fails over to the
// fallback (WithFallback, by default an in-memory store). It checks every
// option once and returns an error for a bad one. It does not contact the
// primary: the store starts closed, so an application can start while the
// primary is down; the first operations then fail over and open the
// circuit, and the probe closes it when the primary answers.
//
// New starts one background goroutine (probe and replay); Close stops it.
func New(primary backends.Store, opts ...Option) (*Store, error) {
	if primary == nil {
		return nil, errors.New("degrade: nil primary store")
	}
	cfg := config{
		timeout:       DefaultTimeout,
		threshold:     DefaultFailureThreshold,
		probeInterval: DefaultProbeInterval,
		replayRate:    DefaultReplayRate,
		journalLimit:  DefaultJournalLimit,
		journalBytes:  DefaultJournalBytes,
		copyBytes:     DefaultCopyBytes,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("degrade: %w", err)
		}
	}
	switch len(cfg.observers) {
	case 0:
		cfg.observer = NopObserver{}
	case 1:
		cfg.observer = cfg.observers[0]
	default:
		cfg.observer = observers(cfg.observers)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.fallback == primary {
		return nil, errors.New("degrade: the fallback is the primary store")
	}
	s := &Store{primary: primary, cfg: cfg, journal: make(map[string]*entry), moved: make(map[string]*lineage), unsure: make(map[string][]oldKey), inc: make(map[string]uint64), wake: make(chan struct{}, 1)}
	if cfg.fallback != nil {
		if _, ok := primary.(backends.UserIndex); ok {
			if _, ok := cfg.fallback.(backends.UserIndex); !ok {
				return nil, errors.New("degrade: the primary keeps a user index and the fallback does not")
			}
		}
		s.fallback = cfg.fallback
	} else {
		ms, err := memstore.New(memstore.Options{})
		if err != nil {
			return nil, fmt.Errorf("degrade: default fallback: %w", err)
		}
		s.fallback, s.ownFB = ms, ms
	}
	s.copies = newCopies(cfg.copyBytes)
	s.since = time.Now()
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// Close stops the background goroutine and waits for it, and closes the
// fallback when New created it. The primary, and a fallback passed with
// WithFallback, are left open. Writes still journaled are not replayed
// (call Drain first to replay them). Afterwards every operation fails with
// an error matching backends.ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.wg.Wait()
		if s.ownFB != nil {
			err = s.ownFB.Close()
		}
	})
	return err
}

// State returns the current state of the circuit breaker.
func (s *Store) State() State { return State(s.state.Load()) }

// Status is a snapshot of a Store's health, for health checks and metrics.
type Status struct {
	// State is the breaker's state, entered at Since.
	State State
	Since time.Time
	// Failures is the number of consecutive outage errors of the primary
	// counted so far (reset by every answer of the primary).
	Failures int
	// Pending is the number of sessions with journaled writes that have
	// not been replayed onto the primary yet.
	Pending int
	// Entries is the number of journal entries (sessions pending replay,
	// keys renewed away and tombstones), at most the journal limit, and
	// Bytes the bytes they hold, at most the byte bound.
	Entries int
	Bytes   int64
	// ChangeSets is the number of sessions whose journaled changes are
	// still to be merged onto the primary.
	ChangeSets int
	// Refused counts writes refused because the journal was full.
	Refused uint64
	// Dropped counts journaled writes given up during replay (the
	// primary's record could not be merged with, for example).
	Dropped uint64
	// LastProbe is when the primary was last probed (zero before the first
	// probe), ProbeLatency how long the probe took and ProbeErr its error
	// (nil when the primary answered).
	LastProbe    time.Time
	ProbeLatency time.Duration
	ProbeErr     error
}

// Status returns a snapshot of the store's health.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{
		State:        s.State(),
		Since:        s.since,
		Failures:     int(s.failures.Load()),
		Pending:      len(s.journal),
		Entries:      len(s.journal) + len(s.moved),
		Bytes:        s.bytes,
		ChangeSets:   s.changeSets,
		Refused:      s.refused,
		Dropped:      s.dropped,
		LastProbe:    s.probe.at,
		ProbeLatency: s.probe.latency,
		ProbeErr:     s.probe.err,
	}
}

// Primary returns the primary store.
func (s *Store) Primary() backends.Store { return s.primary }

// Fallback returns the fallback store.
func (s *Store) Fallback() backends.Store { return s.fallback }
