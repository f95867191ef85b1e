package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/sessionkit/session/backends"
)

// Defaults of the options.
const (
	// DefaultPrefix starts the name of every table and index the store
	// uses, unless WithPrefix says otherwise.
	DefaultPrefix = "session_"
	// DefaultTimeout caps every operation unless WithTimeout says otherwise.
	DefaultTimeout = 5 * time.Second
	// DefaultJanitorInterval is the time between two janitor passes.
	DefaultJanitorInterval = time.Minute
	// DefaultJanitorBatch is how many rows one janitor statement deletes
	// at most.
	DefaultJanitorBatch = 1000
	// BusyTimeout is how long a statement waits for a lock another process
	// holds on the database file before it fails with SQLITE_BUSY.
	BusyTimeout = 5 * time.Second
	// SchemaVersion is the version of the tables this package reads and
	// writes, kept in the row of the <prefix>schema table.
	SchemaVersion = 1
)

// backendName is the Backend of every *backends.OpError this package returns.
const backendName = "sqlite"

var (
	_ backends.Store       = (*Store)(nil)
	_ backends.UserIndex   = (*Store)(nil)
	_ backends.UserLimiter = (*Store)(nil)
	_ backends.Renewer     = (*Store)(nil)
	_ backends.Iterator    = (*Store)(nil)
	_ backends.Counter     = (*Store)(nil)
	_ backends.Pinger      = (*Store)(nil)
)

// Store keeps sessions in an SQLite database file. It implements
// backends.Store, backends.UserIndex, backends.UserLimiter,
// backends.Renewer, backends.Iterator, backends.Counter, backends.Pinger
// and backends.Importer, and is safe for concurrent use. Its configuration
// cannot change after Open.
//
// All writes go through one connection, one at a time: SQLite has a single
// writer per database, and queueing in the process is cheaper and fairer
// than retrying on SQLITE_BUSY. Reads run on a pool of their own
// connections, concurrently with the writer (WAL mode).
type Store struct {
	path    string
	w       *sql.DB // one connection: every write
	r       *sql.DB // readers
	cfg     config
	names   names
	closed  atomic.Bool
	stop    chan struct{}
	janitor sync.WaitGroup

	schemaMu    sync.Mutex
	schemaReady atomic.Bool
}

// Option configures Open.
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
// starting with a letter or underscore, at most 40 characters.
func WithPrefix(p string) Option {
	return func(c *config) error {
		if !prefixRE.MatchString(p) {
			return fmt.Errorf("sqlitestore: invalid table prefix %q: want [a-z_][a-z0-9_]*, at most 40 characters", p)
		}
		c.prefix = p
		return nil
	}
}

// WithTimeout caps every operation at d (default 5 s), waiting for the
// writer included, on top of any deadline the caller's context carries. A
// timed-out operation returns an error matching backends.ErrUnavailable.
// Zero disables the cap; a negative d is an error.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("sqlitestore: negative timeout %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithJanitor sets how often the background janitor deletes expired
// records and stale user index entries (default every minute), and how
// many rows one of its statements deletes at most (default 1000; a pass
// runs statements until one deletes fewer, letting requests write in
// between). An interval below zero turns the janitor off: expired records
// are still never returned, and Sweep deletes them when called. Zero
// values mean the defaults.
func WithJanitor(interval time.Duration, batch int) Option {
	return func(c *config) error {
		if batch < 0 {
			return fmt.Errorf("sqlitestore: negative janitor batch %d", batch)
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
// (created from the SQL that Schema returns), and the store only checks
// the schema version row. Either way a schema version other than
// SchemaVersion is refused.
func WithCreateSchema(create bool) Option {
	return func(c *config) error {
		c.createSchema = create
		return nil
	}
}

// Open returns a Store on the SQLite database file at path, which is
// created (with its tables, see WithCreateSchema) by the first operation.
// Open itself does no I/O. The file is put in WAL mode, with
// synchronous=NORMAL: a committed write survives a crash of the process;
// the last writes before a power failure may be lost.
//
// One Store per file and process: several processes can open one file
// (SQLite locks it), but they then contend for the writer lock, which this
// store is not tuned for. The janitor starts at once unless disabled (see
// WithJanitor). Call Close to stop it and close the file.
func Open(path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: empty path")
	}
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
	base := "file:" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)", BusyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", base+"?_pragma=journal_mode(WAL)&"+common+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", base+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s := &Store{path: path, w: w, r: r, cfg: cfg, names: namesFor(cfg.prefix)}
	if cfg.janitorInterval > 0 {
		s.stop = make(chan struct{})
		s.janitor.Add(1)
		go s.runJanitor()
	}
	return s, nil
}

// Close stops the janitor and waits for it, then closes the database:
// later operations fail with an error matching backends.ErrClosed.
// Calling Close again does nothing.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
		s.janitor.Wait()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Prefix returns the table name prefix.
func (s *Store) Prefix() string { return s.cfg.prefix }

// DB returns the database handle the store writes through (one
// connection), for inspection and backups (VACUUM INTO). Do not hold it:
// every write of the store waits while it is in use.
func (s *Store) DB() *sql.DB { return s.w }

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

// ms is the stored form of an instant: Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }
