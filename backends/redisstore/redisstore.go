package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

// Defaults.
const (
	// DefaultPrefix is the key prefix used unless WithPrefix says otherwise.
	DefaultPrefix = "session:"
	// DefaultTimeout caps every operation unless WithTimeout says otherwise.
	DefaultTimeout = 500 * time.Millisecond
)

// backendName is the Backend of every *backends.OpError this package returns.
const backendName = "redis"

// Store keeps sessions in Redis. It implements backends.Store,
// backends.UserIndex, backends.Renewer, backends.Iterator, backends.Counter
// and backends.Pinger. A Store is safe for concurrent use; its configuration
// cannot change after New.
type Store struct {
	client  redis.UniversalClient
	owned   bool // Close closes client
	prefix  string
	timeout time.Duration
	// single is true for a *redis.Client (one server, or a Sentinel-managed
	// master): all keys live on one node, so Renew is one atomic script.
	single bool
	// guard is true when the client may ignore context deadlines (see
	// WithTimeout): operations then run in a goroutine that the caller
	// stops waiting for when its context ends.
	guard bool
	// dialer is the TLS dialer of a client NewFromURL created for a
	// rediss URL (nil otherwise): Ping reports why it was refused.
	dialer *tlsDialer
	// nearCache is the staleness bound of the client's client-side cache
	// (go-redis ClientSideCacheConfig.MaxStaleness), 0 without one.
	nearCache time.Duration
	// recent routes reads of keys written lately around the near-cache.
	recent recentWrites
	closed atomic.Bool
}

var (
	_ backends.Store     = (*Store)(nil)
	_ backends.UserIndex = (*Store)(nil)
	_ backends.Renewer   = (*Store)(nil)
	_ backends.Iterator  = (*Store)(nil)
	_ backends.Counter   = (*Store)(nil)
	_ backends.Pinger    = (*Store)(nil)
)

// Option configures New and NewFromURL.
type Option func(*config) error

type config struct {
	prefix      string
	timeout     time.Duration
	pingOnStart bool
	nearCache   *NearCache // WithNearCache; NewFromURL only
}

// WithPrefix sets the prefix of every key the store writes (default
// "session:"). Give each application sharing a database its own prefix:
// iteration and Count see every hash under the prefix. The prefix may contain
// a Redis Cluster hash tag such as "{sessions}:", which puts every key on one
// node (it works, but loses the spread over the cluster).
func WithPrefix(p string) Option {
	return func(c *config) error {
		c.prefix = p
		return nil
	}
}

// WithTimeout caps every operation at d (default 500 ms), on top of any
// deadline the caller's context carries, so that a hung server cannot hold a
// request for long. A timed-out operation returns an error matching
// backends.ErrUnavailable; a write may still have been applied by the server.
// Zero disables the cap; a negative d is an error.
//
// go-redis ignores context deadlines unless the client's
// ContextTimeoutEnabled option is set (its own ReadTimeout, 3 s by default,
// and its retries apply instead). NewFromURL sets it. For a client passed to
// New without it, the store still returns to the caller when the deadline
// passes, but the command keeps its connection until go-redis times out.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("redisstore: negative timeout %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithPingOnStart makes New and NewFromURL ping the server (within the
// timeout) and fail when it does not answer or refuses the configuration
// (see Store.Ping). Without it construction does no I/O, so an application
// can start while Redis is down. The session manager pings the store at
// start by itself.
func WithPingOnStart() Option {
	return func(c *config) error {
		c.pingOnStart = true
		return nil
	}
}

// ErrReplicaReads is returned by New for a client configured to read from
// replicas (ClusterOptions.ReadOnly, RouteByLatency or RouteRandomly). A
// replica can still hold a session that was just destroyed or renewed on the
// master, so session reads must go to the master.
var ErrReplicaReads = errors.New("redisstore: the client reads from replicas; sessions must be read from the master")

// ErrForeignValue is wrapped by the error returned for a key under the
// store's prefix that holds something the store did not write: another type
// (a string, a list...), a hash without a version, or a record without an
// expiry. It matches backends.ErrInvalidRecord too, so the manager treats
// the session as absent, starts a fresh one and logs a security event.
var ErrForeignValue = fmt.Errorf("redisstore: key holds a value this store did not write: %w", backends.ErrInvalidRecord)

// New returns a Store on the caller's client: a *redis.Client (one server, or
// a Sentinel-managed master from redis.NewFailoverClient), a
// *redis.ClusterClient or a *redis.Ring. Close does not close the client.
//
// Session reads must go to the master: a client that reads from replicas is
// refused with ErrReplicaReads when that is visible in its options (Cluster
// ReadOnly, RouteByLatency, RouteRandomly). A Sentinel client built with
// FailoverOptions.ReplicaOnly cannot be detected: do not use one.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	cfg, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	if cfg.nearCache != nil {
		return nil, errors.New("redisstore: WithNearCache applies to NewFromURL; with New, set ClientSideCacheConfig (with MaxStaleness) on the client")
	}
	return newStore(client, false, nil, cfg)
}

func parseOptions(opts []Option) (config, error) {
	cfg := config{prefix: DefaultPrefix, timeout: DefaultTimeout}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}

func newStore(client redis.UniversalClient, owned bool, dialer *tlsDialer, cfg config) (*Store, error) {
	s := &Store{client: client, owned: owned, prefix: cfg.prefix, timeout: cfg.timeout, guard: true, dialer: dialer}
	switch c := client.(type) {
	case *redis.Client:
		s.single = true
		s.guard = !c.Options().ContextTimeoutEnabled
		bound, err := nearCacheOf(c)
		if err != nil {
			return nil, err
		}
		s.nearCache, s.recent.ttl = bound, bound
	case *redis.ClusterClient:
		o := c.Options()
		if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
			return nil, ErrReplicaReads
		}
		s.guard = !o.ContextTimeoutEnabled
	}
	if cfg.pingOnStart {
		if err := s.Ping(context.Background()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close marks the store closed: later operations fail with an error matching
// backends.ErrClosed. It closes the client only when NewFromURL created it.
// Calling Close again does nothing.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.owned {
		return s.client.Close()
	}
	return nil
}

// Client returns the go-redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }
