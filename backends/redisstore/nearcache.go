package redisstore

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

// NearCache configures the client-side cache that WithNearCache turns on:
// go-redis's own (RESP3 CLIENT TRACKING, Options.ClientSideCacheConfig,
// experimental upstream). The zero value takes every default.
type NearCache struct {
	// MaxEntries bounds the number of cached replies (one per session
	// read recently). Default 10000.
	MaxEntries int
	// MaxMemoryBytes bounds their estimated size in bytes. The cache is
	// split in 16 shards, each with 1/16 of the budget, and a reply larger
	// than a shard's share is not cached. Default 0: bounded by MaxEntries
	// only.
	MaxMemoryBytes int64
	// MaxStaleness is the staleness bound: a cached reply is never served
	// longer than this after it was read from the server, whether or not
	// its invalidation arrived. Default DefaultMaxStaleness. It is the
	// longest a write, a logout or a revocation made through another
	// client can stay unseen by this one (usually the invalidation arrives
	// within milliseconds); see docs/redis.md.
	MaxStaleness time.Duration
	// DrainInterval is how often go-redis reads the invalidations that
	// wait on idle connections. Default 5 ms.
	DrainInterval time.Duration
}

// DefaultMaxStaleness is NearCache.MaxStaleness when it is zero.
const DefaultMaxStaleness = time.Second

// defaultNearCacheEntries is NearCache.MaxEntries when it is zero.
const defaultNearCacheEntries = 10000

// ErrNearCacheUnbounded is returned by New for a client whose client-side
// cache has no staleness bound the store can read: a ClientSideCacheConfig
// without MaxStaleness, or a custom ClientSideCache. Sessions must not be
// served from a cache that could keep a revoked session for ever.
var ErrNearCacheUnbounded = errors.New("redisstore: the client's client-side cache has no MaxStaleness; set ClientSideCacheConfig.MaxStaleness")

// ErrNearCacheTopology is returned when a near-cache is asked for on a
// client that cannot have one: go-redis caches only on a standalone client
// (not Cluster, Sentinel or Ring) on database 0.
var ErrNearCacheTopology = errors.New("redisstore: a near-cache needs one server (not Cluster, Sentinel or Ring), database 0 and RESP3")

// WithNearCache turns on go-redis's client-side cache for the client that
// NewFromURL creates: a repeat read of a session costs no round trip while
// Redis has not told the client that the record changed. Writes are still
// compare-and-set on the server, so a write based on a stale copy conflicts
// and the session manager merges it with a fresh read.
//
// The cost is a staleness bound: a read may return a record that another
// client already changed or deleted (a logout, a revocation), for as long
// as the invalidation takes to arrive, and never longer than
// nc.MaxStaleness. Reads whose context carries backends.WithFreshRead go
// to the server. See docs/redis.md for the full contract.
//
// It needs one server (a redis://, rediss:// or unix:// URL), database 0
// and RESP3 (not protocol=2): otherwise NewFromURL fails with
// ErrNearCacheTopology. New does not take it: configure
// ClientSideCacheConfig (with MaxStaleness) on your own client instead, and
// New finds it there.
func WithNearCache(nc NearCache) Option {
	return func(c *config) error {
		if nc.MaxEntries < 0 || nc.MaxMemoryBytes < 0 || nc.MaxStaleness < 0 || nc.DrainInterval < 0 {
			return fmt.Errorf("redisstore: negative near-cache setting in %+v", nc)
		}
		if nc.MaxEntries == 0 {
			nc.MaxEntries = defaultNearCacheEntries
		}
		if nc.MaxStaleness == 0 {
			nc.MaxStaleness = DefaultMaxStaleness
		}
		c.nearCache = &nc
		return nil
	}
}

// applyNearCache sets the client-side cache options of a standalone client
// that NewFromURL is about to create.
func applyNearCache(o *redis.Options, nc *NearCache) error {
	if o.DB != 0 || o.Protocol == 2 {
		return ErrNearCacheTopology
	}
	o.Protocol = 3
	o.ClientSideCacheConfig = &redis.ClientSideCacheConfig{
		MaxEntries:     nc.MaxEntries,
		MaxMemoryBytes: nc.MaxMemoryBytes,
		MaxStaleness:   nc.MaxStaleness,
		DrainInterval:  nc.DrainInterval,
	}
	return nil
}

// nearCacheOf returns the staleness bound of c's client-side cache, 0 when
// it has none (or go-redis disables it: RESP2, a database other than 0, a
// credentials provider).
func nearCacheOf(c *redis.Client) (time.Duration, error) {
	o := c.Options()
	if o.ClientSideCache == nil && o.ClientSideCacheConfig == nil {
		return 0, nil
	}
	if o.Protocol == 2 || o.DB != 0 || o.CredentialsProvider != nil ||
		o.CredentialsProviderContext != nil || o.StreamingCredentialsProvider != nil {
		return 0, nil // go-redis does not cache on such a client
	}
	if o.ClientSideCache != nil || o.ClientSideCacheConfig.MaxStaleness <= 0 {
		return 0, ErrNearCacheUnbounded
	}
	return o.ClientSideCacheConfig.MaxStaleness, nil
}

// MaxStaleness returns the staleness bound of the store's near-cache (see
// WithNearCache), 0 when its client has none: then every read goes to the
// server.
func (s *Store) MaxStaleness() time.Duration { return s.nearCache }

// maxRecent bounds the keys recentWrites remembers. Past it, it forgets
// them all and sends every read to the server for one staleness bound.
const maxRecent = 1 << 16

// mustFresh is a floor version that no record reaches: the store does not
// know what the server holds (after a conflict, a lost reply, a delete), and
// reads the server.
const mustFresh = math.MaxUint64

// floor is what this store knows a read of one key must return at least:
// the version it wrote (or mustFresh) and the expiry it set.
type floor struct {
	version uint64
	expiry  time.Time
	until   time.Time // the end of the staleness bound from the write
}

// stale reports whether a read that found rec (found false: nothing) is
// older than f at now, and so came from a cached reply that the write's
// invalidation has not reached yet.
func (f floor) stale(now time.Time, rec backends.Record, found bool) bool {
	if !found {
		// Unless the expiry this store set has passed since.
		return f.expiry.After(now)
	}
	return rec.Version < f.version || rec.Expiry.Before(f.expiry)
}

// recentWrites remembers, for one staleness bound, what this store wrote
// (or lost a compare-and-set on): a read that returns something older
// comes from a cached reply whose invalidation has not been applied yet,
// and is read again from the server. So a request sees the writes made
// through this store before it (read your writes), and the record that won
// a conflict, while reads that find what the store wrote are still served
// by the near-cache. It holds key names, versions and times, never
// records.
type recentWrites struct {
	mu   sync.Mutex
	ttl  time.Duration
	keys map[string]floor
	// allFresh: after an overflow, every read goes to the server until then.
	allFresh time.Time
}

// note raises key's floor to version (mustFresh: read the server) and
// expiry, for one staleness bound from now.
func (r *recentWrites) note(key string, version uint64, expiry time.Time) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) >= maxRecent {
		for k, f := range r.keys {
			if !now.Before(f.until) {
				delete(r.keys, k)
			}
		}
		if len(r.keys) >= maxRecent/2 {
			// Mostly live keys: sweeping again soon would cost more
			// than the adds in between. Every key remembered ends by
			// now + ttl: until then all reads are fresh, so none needs
			// remembering.
			clear(r.keys)
			r.allFresh = now.Add(r.ttl)
		}
	}
	if r.keys == nil {
		r.keys = make(map[string]floor)
	}
	f := r.keys[key]
	if !now.Before(f.until) {
		f = floor{}
	}
	f.version = max(f.version, version)
	if expiry.After(f.expiry) {
		f.expiry = expiry
	}
	f.until = now.Add(r.ttl)
	r.keys[key] = f
}

// floor returns key's floor, if it has a live one.
func (r *recentWrites) floor(key string) (floor, bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Before(r.allFresh) {
		return floor{version: mustFresh, until: r.allFresh}, true
	}
	f, ok := r.keys[key]
	if !ok {
		return floor{}, false
	}
	if now.Before(f.until) {
		return f, true
	}
	delete(r.keys, key)
	return floor{}, false
}

// settle replaces key's floor version mustFresh by version, read from the
// server: later reads that find it or newer may be served by the cache.
func (r *recentWrites) settle(key string, version uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.keys[key]; ok && f.version == mustFresh {
		f.version = version
		r.keys[key] = f
	}
}
