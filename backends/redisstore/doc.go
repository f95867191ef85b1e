// Package redisstore keeps sessions in Redis through go-redis v9: one server,
// a Sentinel-managed master, or a Redis Cluster.
//
// Create a Store from your own client with New (Close leaves the client
// open) or from a URL with NewFromURL (see there for the redis://,
// rediss://, redis+cluster:// and redis+sentinel:// forms).
//
// # Key layout
//
// With the default prefix "session:", a session whose key (the hash of its
// ID chosen by the manager, never the ID itself) is K is stored as
//
//	session:K                    HASH {v: version (decimal), d: blob, e: expiry (Unix ms)},
//	                             PEXPIREAT = e
//	session:user:{H}             ZSET of session keys scored by their absolute deadline (Unix ms),
//	                             PEXPIREAT = the latest deadline; H = hex(SHA-256(user ID))[:32]
//	session:user:{H}:revoking    Cluster and Ring only: ZSET like the index, of sessions LimitUserKeys
//	                             took out of the index and whose records it may not have deleted yet
//
// The braces around H are a Cluster hash tag: a user's index is one key in
// one slot, so the scripts that update it work in Cluster. Session keys of
// the form "user:{...}" (and anything after it) are therefore reserved. Expiries are kept in
// milliseconds, rounded down.
//
// Every write sets e and PEXPIREAT together, atomically, so that a read is
// one plain HMGET. Records of the earlier layout ({v, d}, the expiry only in
// PEXPIREAT) are still read: the first read of one takes a second round
// trip, a script that reads the key's expiry and adds e; its first write
// adds e too. A record whose e has passed while its key lives (extended by
// a writer of the earlier layout during a rolling deploy) is read the same
// way. See docs/redis.md for the upgrade.
//
// # Round trips
//
//	Load          1   HMGET v d e (0 on a near-cache hit; 2 for a record without e, see above)
//	Save          1   EVALSHA (version check, HSET v d e, PEXPIREAT; DEL when the expiry has passed)
//	Touch         1   EVALSHA (HSET e and PEXPIREAT on an existing record)
//	Delete        1   DEL
//	Renew         1   EVALSHA on one server or Sentinel (atomic: version check, create, delete, index);
//	                  in Cluster one per step: create the new record, index it (with a user), check
//	                  the old record's version and delete it: 2 or 3, one more when that fails
//	AddUserKey    1   EVALSHA on the index
//	RemoveUserKey 1   ZREM
//	UserKeys      2-3 ZRANGE BYSCORE (in Cluster with ZRANGE of the revoking set), a pipeline of EXISTS,
//	                  ZREM of stale entries
//	LimitUserKeys 1   EVALSHA on one server or Sentinel (atomic: check, pick, delete records and entries);
//	                  up to 4 in Cluster (ZRANGE BYSCORE and ZRANGE, a pipeline of EXISTS, EVALSHA on
//	                  the index, a pipeline of DEL)
//	Keys, Count   SCAN MATCH prefix* TYPE hash, COUNT 500, on every master
//
// A script missing from the server's cache (after a restart, a failover or
// SCRIPT FLUSH) costs one more round trip the first time: go-redis answers
// NOSCRIPT with EVAL. LoadScripts preloads them.
//
// # Near-cache
//
// WithNearCache (or a client configured with go-redis's
// ClientSideCacheConfig) serves repeat reads from go-redis's client-side
// cache, invalidated by Redis (RESP3 CLIENT TRACKING) and never older than
// its MaxStaleness. Writes stay compare-and-set on the server. Reads of keys
// this store wrote or lost a compare-and-set on within the bound, and reads
// whose context carries backends.WithFreshRead, go to the server. The
// consistency contract is in docs/redis.md.
//
// # Reads go to the master
//
// Every read is served by the master. A replica may still hold a session
// that was destroyed or renewed a moment ago on the master, and reading it
// would undo a logout. Do not pass a client configured to read from
// replicas: New refuses a ClusterClient with ReadOnly, RouteByLatency or
// RouteRandomly (ErrReplicaReads), and NewFromURL refuses the matching
// options; a Sentinel client with ReplicaOnly cannot be detected and must
// not be used.
//
// # Errors
//
// Every error is a *backends.OpError with Backend "redis" and the operation
// name. Network errors, timeouts, an exhausted pool and the replies LOADING,
// READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, BUSY, NOREPLICAS and OOM match
// backends.ErrUnavailable, so fail-over can act on them; a context canceled
// by the caller does not. A key holding a value this store did not write
// matches ErrForeignValue. A closed Store, or a go-redis client closed under
// it, matches backends.ErrClosed.
//
// The store needs Redis 6.0 or later (SCAN TYPE).
package redisstore
