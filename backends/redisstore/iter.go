package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

// scanCount is the COUNT hint of each SCAN call.
const scanCount = 500

// maxScanCalls bounds the SCAN calls on one node in one iteration; SCAN
// finishes long before on any real database.
const maxScanCalls = 1 << 24

type scanner interface {
	ScanType(ctx context.Context, cursor uint64, match string, count int64, keyType string) *redis.ScanCmd
}

// nodes returns what to SCAN: every master of a Cluster, every live shard of
// a Ring, or the client itself.
func (s *Store) nodes(ctx context.Context) ([]scanner, error) {
	var (
		mu  sync.Mutex
		out []scanner
	)
	collect := func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, collect); err != nil {
			return nil, err
		}
	case *redis.Ring:
		if err := c.ForEachShard(ctx, collect); err != nil {
			return nil, err
		}
	default:
		out = append(out, s.client)
	}
	return out, nil
}

// scan calls fn with the key (prefix removed) of every hash under the prefix,
// node after node, until fn returns false. Each SCAN call gets the store's
// timeout; the whole iteration is bounded by ctx only.
func (s *Store) scan(ctx context.Context, op string, fn func(key string) bool) error {
	c, cancel, err := s.begin(ctx, op)
	if err != nil {
		return err
	}
	var nodes []scanner
	err = s.do(c, func(c context.Context) error {
		var e error
		nodes, e = s.nodes(c)
		return e
	})
	cancel()
	if err != nil {
		return opError(ctx, op, err)
	}
	match := escapeGlob(s.prefix) + "*"
	for _, n := range nodes {
		var cursor uint64
		for range maxScanCalls {
			c, cancel, err := s.begin(ctx, op)
			if err != nil {
				return err
			}
			var keys []string
			var next uint64
			err = s.do(c, func(c context.Context) error {
				var e error
				keys, next, e = n.ScanType(c, cursor, match, scanCount, "hash").Result()
				return e
			})
			cancel()
			if err != nil {
				return opError(ctx, op, err)
			}
			for _, k := range keys {
				if !fn(strings.TrimPrefix(k, s.prefix)) {
					return nil
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// Keys calls fn with the key of every record under the prefix until fn
// returns false. It runs SCAN MATCH prefix* TYPE hash (never KEYS), on every
// master in Cluster, one node after the other; fn is never called
// concurrently and may use the store. A key may be reported twice while a
// Cluster moves slots.
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	return s.scan(ctx, "keys", fn)
}

// Count returns the number of records under the prefix, counted with SCAN
// (not DBSIZE, since the database may hold other data). It is O(N) in the
// size of the database: meant for metrics and tools, not for every request.
func (s *Store) Count(ctx context.Context) (int, error) {
	n := 0
	err := s.scan(ctx, "count", func(string) bool { n++; return true })
	return n, err
}

// Ping checks that the server answers: PING, sent to every master in Cluster.
// A server that cannot be reached, or does not answer in time, gives an
// error matching backends.ErrUnavailable. A server that answers but refuses
// the client's configuration gives one matching backends.ErrMisconfigured:
// wrong password or user (WRONGPASS, NOAUTH), missing permissions (NOPERM),
// a database beyond the server's "databases" (DB index is out of range), a
// TLS handshake the server rejects or a certificate that does not verify,
// and, for stores created by NewFromURL from a rediss:// URL, a server that
// answers in plaintext.
func (s *Store) Ping(ctx context.Context) error {
	c, cancel, err := s.begin(ctx, "ping")
	if err != nil {
		return err
	}
	defer cancel()
	ping := func(c context.Context, cl *redis.Client) error { return cl.Ping(c).Err() }
	err = s.do(c, func(c context.Context) error {
		switch cl := s.client.(type) {
		case *redis.ClusterClient:
			return cl.ForEachMaster(c, ping)
		case *redis.Ring:
			return cl.ForEachShard(c, ping)
		}
		return s.client.Ping(c).Err()
	})
	if err != nil && !isMisconfigured(err) && !errors.Is(err, context.Canceled) {
		// go-redis connects in the background: the attempt may have been
		// refused after this call stopped waiting for it.
		if refused := s.dialer.lastRefusal(); refused != nil {
			err = fmt.Errorf("no connection: %w (%v)", refused, err)
		}
	}
	if isMisconfigured(err) {
		return &backends.OpError{Backend: backendName, Op: "ping", Err: misconfigured(err)}
	}
	if err != nil {
		return opError(ctx, "ping", err)
	}
	return nil
}

// escapeGlob escapes the characters that SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\^`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LoadScripts loads the store's Lua scripts into the script cache of the
// server (every master in Cluster, every shard of a Ring) with SCRIPT LOAD.
// It is optional: a script missing from the cache costs one extra round trip
// (EVALSHA answered NOSCRIPT, then EVAL) the first time a node runs it, for
// example after a restart, a failover or SCRIPT FLUSH.
func (s *Store) LoadScripts(ctx context.Context) error {
	c, cancel, err := s.begin(ctx, "load_scripts")
	if err != nil {
		return err
	}
	defer cancel()
	load := func(c context.Context, cl redis.Scripter) error {
		for _, sc := range scripts {
			if err := sc.Load(c, cl).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	each := func(c context.Context, cl *redis.Client) error { return load(c, cl) }
	err = s.do(c, func(c context.Context) error {
		switch cl := s.client.(type) {
		case *redis.ClusterClient:
			return cl.ForEachMaster(c, each)
		case *redis.Ring:
			return cl.ForEachShard(c, each)
		}
		return load(c, s.client)
	})
	return opError(ctx, "load_scripts", err)
}
