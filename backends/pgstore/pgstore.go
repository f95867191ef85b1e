package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/session/backends"
)

// Defaults of the options.
const (
	// DefaultPrefix starts the name of every table and index the store
	// uses, unless WithPrefix says otherwise.
	DefaultPrefix = "session_"
	// DefaultTimeout caps every operation unless WithTimeout says otherwise.
	DefaultTimeout = time.Second
	// DefaultJanitorInterval is the time between two janitor passes.
	DefaultJanitorInterval = time.Minute
	// DefaultJanitorBatch is how many rows one janitor statement deletes
	// at most.
	DefaultJanitorBatch = 1000
	// SchemaVersion is the version of the tables this package reads and
	// writes, kept in the row of the <prefix>schema table.
	SchemaVersion = 1
)

// backendName is the Backend of every *backends.OpError this package returns.
const backendName = "postgres"

var (
	_ backends.Store       = (*Store)(nil)
	_ backends.UserIndex   = (*Store)(nil)
	_ backends.UserLimiter = (*Store)(nil)
	_ backends.Renewer     = (*Store)(nil)
	_ backends.Iterator    = (*Store)(nil)
	_ backends.Counter     = (*Store)(nil)
	_ backends.Pinger      = (*Store)(nil)
)

// Store keeps sessions in PostgreSQL tables. It implements backends.Store,
// backends.UserIndex, backends.UserLimiter, backends.Renewer,
// backends.Iterator, backends.Counter, backends.Pinger and
// backends.Importer. A Store is safe
// for concurrent use, and any number of Stores (in one process or many) may
// share the tables. Its configuration cannot change after New.
type Store struct {
	pool    *pgxpool.Pool
	owned   bool // Close closes pool
	cfg     config
	names   names
	closed  atomic.Bool
	stop    chan struct{}
	janitor sync.WaitGroup

	schemaMu    sync.Mutex
	schemaReady atomic.Bool
}

// Option configures New and Open.
type Option func(*config) error

type config struct {
	prefix          string
	timeout         time.Duration
	janitorInterval time.Duration
	janitorBatch    int
	createSchema    bool
}

var prefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// WithPrefix sets the prefix of the names of the tables and indexes
// (default "session_": session_records, session_user_keys,
// session_schema). It must be lower-case letters, digits and underscores,
// starting with a letter or underscore, at most 40 characters. Give each
// application sharing a database its own prefix, or its own schema
// through the connection's search_path.
func WithPrefix(p string) Option {
	return func(c *config) error {
		if !prefixRE.MatchString(p) {
			return fmt.Errorf("pgstore: invalid table prefix %q: want [a-z_][a-z0-9_]*, at most 40 characters", p)
		}
		c.prefix = p
		return nil
	}
}

// WithTimeout caps every operation at d (default 1 s), on top of any
// deadline the caller's context carries, so that a database that hangs
// cannot hold a request for long. A timed-out operation returns an error
// matching backends.ErrUnavailable; a write whose reply was lost may still
// have been applied (see backends.ErrOutcomeUnknown). Zero disables the
// cap; a negative d is an error.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("pgstore: negative timeout %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithJanitor sets how often the background janitor deletes expired
// records and stale user index entries (default every minute), and how
// many rows one of its statements deletes at most (default 1000; a pass
// runs statements until one deletes fewer). Rows are picked with FOR
// UPDATE SKIP LOCKED, so the janitors of several instances share the work
// instead of queueing behind each other. An interval below zero turns the
// janitor off: expired records are still never returned, and Sweep deletes
// them when called. Zero values mean the defaults.
func WithJanitor(interval time.Duration, batch int) Option {
	return func(c *config) error {
		if batch < 0 {
			return fmt.Errorf("pgstore: negative janitor batch %d", batch)
		}
		if interval != 0 {
			c.janitorInterval = interval
		}
		if batch != 0 {
			c.janitorBatch = batch
		}
		return nil
	}
}

// WithCreateSchema says whether the store creates its tables on first use
// when they are missing (default true). With false, the tables must exist
// (created from the SQL that Schema returns, by the team's own
// migrations), and the store only checks the schema version row; an
// operation on missing tables fails with an error matching
// backends.ErrMisconfigured. Either way a schema version newer than
// SchemaVersion is refused.
func WithCreateSchema(create bool) Option {
	return func(c *config) error {
		c.createSchema = create
		return nil
	}
}

// New returns a Store on the caller's pool; Close does not close it. New
// does no I/O, so an application can start while the database is down:
// the tables are checked (and created, see WithCreateSchema) by the first
// operation that reaches the database. The janitor starts at once unless
// disabled (see WithJanitor).
//
// The pool's connections must reach the primary server: a read from a
// replica could return a session that was destroyed a moment ago.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	return newStore(pool, false, opts)
}

func newStore(pool *pgxpool.Pool, owned bool, opts []Option) (*Store, error) {
	cfg := config{
		prefix:          DefaultPrefix,
		timeout:         DefaultTimeout,
		janitorInterval: DefaultJanitorInterval,
		janitorBatch:    DefaultJanitorBatch,
		createSchema:    true,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{pool: pool, owned: owned, cfg: cfg, names: namesFor(cfg.prefix)}
	if cfg.janitorInterval > 0 {
		s.stop = make(chan struct{})
		s.janitor.Add(1)
		go s.runJanitor()
	}
	return s, nil
}

// Open creates a pgx pool from a PostgreSQL URL (postgres://… or
// postgresql://…, or a keyword/value string; see pgxpool.ParseConfig) and
// returns a Store on it, which Close closes. Like New it does no I/O.
//
// Besides pgx's own parameters the URL may carry the store's options, which
// are removed before the URL reaches pgx: table_prefix (WithPrefix),
// op_timeout (WithTimeout, a Go duration), janitor_interval and
// janitor_batch (WithJanitor), create_schema (WithCreateSchema, true or
// false). Options passed to Open apply after those of the URL.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	connString, urlOpts, err := splitURL(rawURL)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s, err := newStore(pool, true, append(urlOpts, opts...))
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the janitor and waits for it, then marks the store closed:
// later operations fail with an error matching backends.ErrClosed. It
// closes the pool only when Open created it. Calling Close again does
// nothing.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
		s.janitor.Wait()
	}
	if s.owned {
		s.pool.Close()
	}
	return nil
}

// Pool returns the pgx pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Prefix returns the table name prefix.
func (s *Store) Prefix() string { return s.cfg.prefix }

// begin checks that the store is open and the caller's context live,
// applies the store's timeout, and makes sure the schema is in place.
func (s *Store) begin(ctx context.Context, op string) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, &backends.OpError{Backend: backendName, Op: op, Err: backends.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, &backends.OpError{Backend: backendName, Op: op, Err: err}
	}
	c, cancel := ctx, context.CancelFunc(func() {})
	if s.cfg.timeout > 0 {
		c, cancel = context.WithTimeout(ctx, s.cfg.timeout)
	}
	if err := s.ensureSchema(c); err != nil {
		cancel()
		return nil, nil, opError(ctx, op, err)
	}
	return c, cancel, nil
}
