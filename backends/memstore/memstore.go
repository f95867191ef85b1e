// Package memstore is the bounded in-memory session store: the embedded
// default of the session manager and the usual fail-over target when the
// primary store is unreachable.
//
// Unlike an unbounded map, a Store never grows past its limits: it holds at
// most Options.MaxSessions records and Options.MaxBytes bytes of keys and
// blobs, and evicts the least recently used records beyond them. Expired
// records are never returned, and a janitor goroutine removes them in the
// background so that they do not occupy memory until evicted.
//
// Records are spread over shards by a seeded hash of their key; each shard
// has its own lock, map and LRU list, so operations on different keys
// rarely contend. The limits are divided evenly between the shards, which
// means eviction starts when a shard is full, slightly before the store as
// a whole is, and a single record (key plus blob) may be at most
// MaxBytes/Shards bytes.
//
// Sessions in a memstore are lost when the process exits and are not shared
// between processes. A Store keeps blobs as it is given them: the session
// manager encrypts them before they reach any store.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionkit/session/backends"
)

// Defaults of Options, used where a field is zero.
const (
	// DefaultShards is the default number of shards.
	DefaultShards = 32
	// DefaultMaxSessions is the default limit on records, across shards.
	DefaultMaxSessions = 100_000
	// DefaultMaxBytes is the default limit on key plus blob bytes, across
	// shards: 256 MiB.
	DefaultMaxBytes = 256 << 20
	// DefaultJanitorInterval is the default time between janitor passes.
	DefaultJanitorInterval = time.Minute

	// MaxShards is the largest Options.Shards accepted.
	MaxShards = 1 << 16
)

// backendName is the Backend of every OpError a Store returns.
const backendName = "memory"

// Operation names in OpError.Op: the method names in lower case.
const (
	opLoad          = "load"
	opSave          = "save"
	opTouch         = "touch"
	opDelete        = "delete"
	opRenew         = "renew"
	opAddUserKey    = "adduserkey"
	opRemoveUserKey = "removeuserkey"
	opUserKeys      = "userkeys"
	opLimitUserKeys = "limituserkeys"
	opKeys          = "keys"
	opCount         = "count"
	opPing          = "ping"
)

var (
	_ backends.Store       = (*Store)(nil)
	_ backends.UserIndex   = (*Store)(nil)
	_ backends.Renewer     = (*Store)(nil)
	_ backends.Iterator    = (*Store)(nil)
	_ backends.Counter     = (*Store)(nil)
	_ backends.Pinger      = (*Store)(nil)
	_ backends.UserLimiter = (*Store)(nil)
)

// Options configures a Store. The zero value gives the defaults; New
// rejects negative values.
type Options struct {
	// Shards is the number of independently locked partitions. Any value
	// from 1 to MaxShards works; more shards mean less lock contention and
	// shorter janitor pauses, but a smaller per-shard share of the limits.
	// Zero means DefaultShards (32).
	Shards int

	// MaxSessions is the most records the store holds, across all shards.
	// Beyond it, the least recently used records are evicted (Load, Save
	// and Touch count as use). It must be at least Shards. Zero means
	// DefaultMaxSessions (100,000).
	MaxSessions int

	// MaxBytes is the most bytes of keys plus blobs the store holds, across
	// all shards. Beyond it, the least recently used records are evicted.
	// Bookkeeping overhead (about 150 bytes a record) is not counted. A
	// record whose key and blob together exceed MaxBytes/Shards is refused
	// with an error matching backends.ErrTooLarge. Zero means
	// DefaultMaxBytes (256 MiB).
	MaxBytes int64

	// JanitorInterval is how often a background goroutine removes expired
	// records and drops user index entries whose records are gone. Expired
	// records are never returned in any case; the janitor only frees their
	// memory. Zero means DefaultJanitorInterval (1 minute); a negative
	// value disables the janitor.
	JanitorInterval time.Duration
}

// Stats is a snapshot of a Store's contents and activity.
type Stats struct {
	// Sessions is the number of records held, including expired ones the
	// janitor has not removed yet.
	Sessions int
	// Bytes is the total size of the keys and blobs held, in bytes.
	Bytes int64
	// Evictions counts live records removed to stay within the limits.
	Evictions uint64
	// Expirations counts expired records removed, by the janitor or when
	// an operation came across them.
	Expirations uint64
}

// Store is a bounded, sharded in-memory session store. It implements
// backends.Store and the optional backends.UserIndex, backends.UserLimiter,
// backends.Renewer, backends.Iterator, backends.Counter and
// backends.Pinger. All methods are safe for concurrent use. Create it with
// New and stop it with Close.
type Store struct {
	seed      maphash.Seed
	shards    []shard
	maxRecord int64 // largest key+blob accepted: the smallest shard's byte budget

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	janitor   sync.WaitGroup
}

// shard is one partition: a map for lookup plus an intrusive doubly linked
// list in recency order (root.next is the most recently used record). It
// also holds the user index entries of the user IDs that hash to it: for
// each user, the deadline of each session key (see AddUserKey).
type shard struct {
	mu       sync.Mutex
	m        map[string]*entry
	root     entry
	bytes    int64
	maxCount int
	maxBytes int64
	users    map[string]userSet
	closed   bool

	evictions, expirations uint64

	_ [64]byte // keeps the locks of neighbouring shards off one cache line
}

// userSet is one user's index: session key -> deadline.
type userSet map[string]time.Time

type entry struct {
	key        string
	blob       []byte // never mutated once stored: Load copies it outside the lock
	version    uint64
	expiry     time.Time
	prev, next *entry
}

func (e *entry) size() int64 { return int64(len(e.key) + len(e.blob)) }

// New validates opts, applies the defaults and returns a Store whose janitor
// (unless disabled) is running. Call Close to stop it.
func New(opts Options) (*Store, error) {
	n := opts.Shards
	switch {
	case n < 0:
		return nil, fmt.Errorf("memstore: Options.Shards is negative (%d)", n)
	case n == 0:
		n = DefaultShards
	case n > MaxShards:
		return nil, fmt.Errorf("memstore: Options.Shards is %d, more than %d", n, MaxShards)
	}
	maxSessions := opts.MaxSessions
	switch {
	case maxSessions < 0:
		return nil, fmt.Errorf("memstore: Options.MaxSessions is negative (%d)", maxSessions)
	case maxSessions == 0:
		maxSessions = DefaultMaxSessions
	}
	if maxSessions < n {
		return nil, fmt.Errorf("memstore: Options.MaxSessions (%d) is less than the number of shards (%d)", maxSessions, n)
	}
	maxBytes := opts.MaxBytes
	switch {
	case maxBytes < 0:
		return nil, fmt.Errorf("memstore: Options.MaxBytes is negative (%d)", maxBytes)
	case maxBytes == 0:
		maxBytes = DefaultMaxBytes
	}
	if maxBytes < int64(n) {
		return nil, fmt.Errorf("memstore: Options.MaxBytes (%d) is less than the number of shards (%d)", maxBytes, n)
	}
	interval := opts.JanitorInterval
	if interval == 0 {
		interval = DefaultJanitorInterval
	}

	s := &Store{
		seed:      maphash.MakeSeed(),
		shards:    make([]shard, n),
		maxRecord: maxBytes / int64(n),
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.m = make(map[string]*entry)
		sh.root.next, sh.root.prev = &sh.root, &sh.root
		// Split the limits exactly: the first shards take the remainder.
		sh.maxCount = maxSessions / n
		if i < maxSessions%n {
			sh.maxCount++
		}
		sh.maxBytes = maxBytes / int64(n)
		if int64(i) < maxBytes%int64(n) {
			sh.maxBytes++
		}
	}
	if interval > 0 {
		s.stop = make(chan struct{})
		s.janitor.Add(1)
		go s.runJanitor(interval)
	}
	return s, nil
}

// Close stops the janitor, waits for it to exit and releases the records.
// Afterwards every operation fails with an error matching backends.ErrClosed.
// Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.stop != nil {
			close(s.stop)
			s.janitor.Wait()
		}
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.closed = true
			sh.m = nil
			sh.users = nil
			sh.root.next, sh.root.prev = &sh.root, &sh.root
			sh.bytes = 0
			sh.mu.Unlock()
		}
	})
	return nil
}

// Stats returns the current number of records and bytes and the eviction
// and expiration counts since New. The figures of different shards are read
// one shard at a time, so under concurrent writes they are approximate.
func (s *Store) Stats() Stats {
	var st Stats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Sessions += len(sh.m)
		st.Bytes += sh.bytes
		st.Evictions += sh.evictions
		st.Expirations += sh.expirations
		sh.mu.Unlock()
	}
	return st
}

// Load returns a copy of the record stored under key, which the caller owns.
// An expired record is not found (and is removed). A Load marks the record
// as recently used.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	if err := s.begin(ctx, opLoad); err != nil {
		return backends.Record{}, false, err
	}
	now := time.Now()
	sh := s.shardOf(key)
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return backends.Record{}, false, opError(opLoad, backends.ErrClosed)
	}
	e := sh.lookup(key, now)
	if e == nil {
		sh.mu.Unlock()
		return backends.Record{}, false, nil
	}
	sh.moveToFront(e)
	stored, version, expiry := e.blob, e.version, e.expiry
	sh.mu.Unlock()

	// Stored blobs are never mutated, so the copy can be made unlocked.
	blob := make([]byte, len(stored))
	copy(blob, stored)
	return backends.Record{Blob: blob, Version: version, Expiry: expiry}, true, nil
}

// Save stores a copy of blob under key if the stored version equals expected
// (0: the key must not exist or has expired), and returns the new version.
// See backends.Store for the full contract. A record whose key and blob
// together exceed MaxBytes/Shards bytes is refused with an error matching
// backends.ErrTooLarge; saving may evict least recently used records.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	if err := s.begin(ctx, opSave); err != nil {
		return 0, err
	}
	if expiry.IsZero() {
		return 0, opError(opSave, backends.ErrNoExpiry)
	}
	now := time.Now()
	write := now.Before(expiry)
	var stored []byte
	if write {
		if err := s.checkSize(opSave, key, blob); err != nil {
			return 0, err
		}
		stored = make([]byte, len(blob))
		copy(stored, blob)
		expiry = expiry.Round(0) // wall clock only, as every other backend
	}

	sh := s.shardOf(key)
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return 0, opError(opSave, backends.ErrClosed)
	}
	e := sh.lookup(key, now)
	var current uint64
	if e != nil {
		current = e.version
	}
	if current != expected {
		sh.mu.Unlock()
		return 0, conflict(opSave, current, expected)
	}
	if !write {
		if e != nil {
			sh.remove(e)
		}
		sh.mu.Unlock()
		return 0, nil
	}
	if e == nil {
		e = &entry{key: strings.Clone(key), blob: stored, version: 1, expiry: expiry}
		sh.m[e.key] = e
		sh.pushFront(e)
		sh.bytes += e.size()
	} else {
		sh.bytes += int64(len(stored) - len(e.blob))
		e.blob = stored
		e.version++
		e.expiry = expiry
		sh.moveToFront(e)
	}
	version := e.version
	sh.evict(e, now)
	sh.mu.Unlock()
	return version, nil
}

// Touch sets the expiry of the record under key without changing its data
// or version, and marks it as recently used. A missing key is not an error;
// an expiry that is not in the future removes the record.
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	if err := s.begin(ctx, opTouch); err != nil {
		return err
	}
	if expiry.IsZero() {
		return opError(opTouch, backends.ErrNoExpiry)
	}
	now := time.Now()
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return opError(opTouch, backends.ErrClosed)
	}
	e := sh.lookup(key, now)
	switch {
	case e == nil:
	case !now.Before(expiry):
		sh.remove(e)
	default:
		e.expiry = expiry.Round(0)
		sh.moveToFront(e)
	}
	return nil
}

// Delete removes the record under key. A missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.begin(ctx, opDelete); err != nil {
		return err
	}
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return opError(opDelete, backends.ErrClosed)
	}
	if e := sh.m[key]; e != nil {
		sh.remove(e)
	}
	return nil
}

// Renew atomically creates newKey (version 1) with a copy of blob, deletes
// oldKey, and, when userID is not empty, replaces oldKey by newKey in
// userID's index. If oldKey's version is not oldVersion (0: oldKey must not
// exist), or newKey holds a live record, Renew returns an error matching
// backends.ErrConflict and changes nothing. An expiry that is not in the
// future deletes oldKey without creating newKey. deadline is newKey's index
// deadline (see AddUserKey).
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	if err := s.begin(ctx, opRenew); err != nil {
		return err
	}
	if expiry.IsZero() {
		return opError(opRenew, backends.ErrNoExpiry)
	}
	if oldKey == newKey {
		return opError(opRenew, fmt.Errorf("%w: old and new key are the same", backends.ErrConflict))
	}
	now := time.Now()
	write := now.Before(expiry)
	var stored []byte
	if write {
		if err := s.checkSize(opRenew, newKey, blob); err != nil {
			return err
		}
		stored = make([]byte, len(blob))
		copy(stored, blob)
		expiry = expiry.Round(0)
	}

	oi, ni := s.index(oldKey), s.index(newKey)
	var buf [3]int
	locked := append(buf[:0], oi, ni)
	if userID != "" {
		locked = append(locked, s.index(userID))
	}
	locked = s.lock(locked)
	defer s.unlock(locked)

	oldSh, newSh := &s.shards[oi], &s.shards[ni]
	if newSh.closed {
		return opError(opRenew, backends.ErrClosed)
	}
	var have uint64
	if e := oldSh.lookup(oldKey, now); e != nil {
		have = e.version
	}
	if have != oldVersion {
		return opError(opRenew, fmt.Errorf("%w: old key at version %d, not %d", backends.ErrConflict, have, oldVersion))
	}
	if newSh.lookup(newKey, now) != nil {
		return opError(opRenew, fmt.Errorf("%w: the new key exists", backends.ErrConflict))
	}
	if e := oldSh.m[oldKey]; e != nil {
		oldSh.remove(e)
	}
	var created *entry
	if write {
		created = &entry{key: strings.Clone(newKey), blob: stored, version: 1, expiry: expiry}
		newSh.m[created.key] = created
		newSh.pushFront(created)
		newSh.bytes += created.size()
		newSh.evict(created, now)
	}
	if userID != "" {
		us := &s.shards[s.index(userID)]
		set := us.users[userID]
		delete(set, oldKey)
		if created != nil {
			if set == nil {
				set = us.addUser(userID)
			}
			set[created.key] = deadline.Round(0)
		} else if set != nil && len(set) == 0 {
			delete(us.users, userID)
		}
	}
	return nil
}

// AddUserKey records that key belongs to userID. The entry lives as long as
// the record under key does, whatever its deadline: it is dropped by the
// next UserKeys or LimitUserKeys call or janitor pass after the record is
// deleted, expires or is evicted, so add it after saving the record. The
// deadline orders the entries for LimitUserKeys; adding a key again with a
// later deadline moves it later, an earlier one leaves it as it is. userID
// must not be empty.
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	if err := s.begin(ctx, opAddUserKey); err != nil {
		return err
	}
	if userID == "" {
		return opError(opAddUserKey, errors.New("empty user ID"))
	}
	us := s.shardOf(userID)
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.closed {
		return opError(opAddUserKey, backends.ErrClosed)
	}
	set := us.users[userID]
	if set == nil {
		set = us.addUser(userID)
	}
	deadline = deadline.Round(0)
	if d, ok := set[key]; !ok {
		set[strings.Clone(key)] = deadline
	} else if deadline.After(d) {
		set[key] = deadline
	}
	return nil
}

// RemoveUserKey forgets key for userID. Missing entries are not errors.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	if err := s.begin(ctx, opRemoveUserKey); err != nil {
		return err
	}
	us := s.shardOf(userID)
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.closed {
		return opError(opRemoveUserKey, backends.ErrClosed)
	}
	if set := us.users[userID]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(us.users, userID)
		}
	}
	return nil
}

// UserKeys returns the keys of userID's sessions whose records exist and
// have not expired, in no order, and drops the other entries. It holds the
// locks of the shards involved together, so the answer is consistent with
// concurrent Renew calls.
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	if err := s.begin(ctx, opUserKeys); err != nil {
		return nil, err
	}
	return s.pruneUser(userID, true)
}

// pruneUser drops userID's index entries whose records are gone and, when
// collect is set, returns the others.
func (s *Store) pruneUser(userID string, collect bool) ([]string, error) {
	set, locked, err := s.lockUser(opUserKeys, userID)
	if err != nil || set == nil {
		return nil, err
	}
	defer s.unlock(locked)
	now := time.Now()
	var keys []string
	if collect {
		keys = make([]string, 0, len(set))
	}
	for k := range set {
		e := s.shards[s.index(k)].m[k]
		if e == nil || !now.Before(e.expiry) {
			delete(set, k)
			continue
		}
		if collect {
			keys = append(keys, k)
		}
	}
	s.dropIfEmpty(userID, set)
	return keys, nil
}

// LimitUserKeys deletes the records and index entries of userID's live
// sessions beyond max, those with the earliest deadline first (equal
// deadlines in key order), never keep, and returns the deleted keys; it
// drops the index entries of records that are gone or expired. See
// backends.UserLimiter. It holds the locks of userID's index and of every
// shard holding one of its keys throughout, so it is atomic with respect to
// every other operation of the store.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	if err := s.begin(ctx, opLimitUserKeys); err != nil {
		return nil, err
	}
	if max < 0 {
		return nil, opError(opLimitUserKeys, fmt.Errorf("negative limit %d", max))
	}
	set, locked, err := s.lockUser(opLimitUserKeys, userID)
	if err != nil || set == nil {
		return nil, err
	}
	defer s.unlock(locked)
	now := time.Now()
	type live struct {
		key      string
		deadline time.Time
		e        *entry
	}
	lives := make([]live, 0, len(set))
	for k, d := range set {
		e := s.shards[s.index(k)].lookup(k, now)
		if e == nil {
			delete(set, k)
			continue
		}
		lives = append(lives, live{k, d, e})
	}
	var victims []string
	if excess := len(lives) - max; excess > 0 {
		slices.SortFunc(lives, func(a, b live) int {
			if c := a.deadline.Compare(b.deadline); c != 0 {
				return c
			}
			return strings.Compare(a.key, b.key)
		})
		for _, l := range lives {
			if excess == 0 {
				break
			}
			if l.key == keep {
				continue
			}
			s.shards[s.index(l.key)].remove(l.e)
			delete(set, l.key)
			victims = append(victims, l.key)
			excess--
		}
	}
	s.dropIfEmpty(userID, set)
	return victims, nil
}

// lockUser locks the shard of userID's index together with the shards of
// every key in it, in the one ascending order, and returns the user's set
// and the locked shards for unlock. When the user has no entries it locks
// nothing and returns a nil set.
func (s *Store) lockUser(op, userID string) (userSet, []int, error) {
	ui := s.index(userID)
	us := &s.shards[ui]
	for attempt := 0; ; attempt++ {
		// Find the shards holding the user's keys, then lock them all in
		// order. Keys added in between may need a shard not locked: retry,
		// and after two tries lock every shard.
		us.mu.Lock()
		if us.closed {
			us.mu.Unlock()
			return nil, nil, opError(op, backends.ErrClosed)
		}
		set := us.users[userID]
		if len(set) == 0 {
			us.mu.Unlock()
			return nil, nil, nil
		}
		var locked []int
		if attempt < 2 {
			locked = make([]int, 0, len(set)+1)
			locked = append(locked, ui)
			for k := range set {
				locked = append(locked, s.index(k))
			}
		} else {
			locked = make([]int, len(s.shards))
			for i := range locked {
				locked[i] = i
			}
		}
		us.mu.Unlock()

		locked = s.lock(locked)
		if us.closed {
			s.unlock(locked)
			return nil, nil, opError(op, backends.ErrClosed)
		}
		set = us.users[userID]
		if len(set) == 0 {
			s.unlock(locked)
			return nil, nil, nil
		}
		complete := true
		for k := range set {
			if _, ok := slices.BinarySearch(locked, s.index(k)); !ok {
				complete = false
				break
			}
		}
		if complete {
			return set, locked, nil
		}
		s.unlock(locked)
	}
}

// dropIfEmpty forgets userID when its set is empty. The caller holds the
// lock of the user's shard.
func (s *Store) dropIfEmpty(userID string, set userSet) {
	if len(set) == 0 {
		delete(s.shards[s.index(userID)].users, userID)
	}
}

// Keys calls fn for each live key until fn returns false. It copies one
// shard's keys at a time and calls fn without holding any lock, so fn may
// use the store.
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	if err := s.begin(ctx, opKeys); err != nil {
		return err
	}
	var keys []string
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return opError(opKeys, err)
		}
		sh := &s.shards[i]
		keys = keys[:0]
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return opError(opKeys, backends.ErrClosed)
		}
		now := time.Now()
		for k, e := range sh.m {
			if now.Before(e.expiry) {
				keys = append(keys, k)
			}
		}
		sh.mu.Unlock()
		for _, k := range keys {
			if !fn(k) {
				return nil
			}
		}
	}
	return nil
}

// Count returns the number of records held, including expired ones the
// janitor has not removed yet.
func (s *Store) Count(ctx context.Context) (int, error) {
	if err := s.begin(ctx, opCount); err != nil {
		return 0, err
	}
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		closed := sh.closed
		n += len(sh.m)
		sh.mu.Unlock()
		if closed {
			return 0, opError(opCount, backends.ErrClosed)
		}
	}
	return n, nil
}

// Ping returns nil unless the store is closed or ctx is done.
func (s *Store) Ping(ctx context.Context) error {
	return s.begin(ctx, opPing)
}

// begin checks, before any work, that the store is open and ctx not done.
func (s *Store) begin(ctx context.Context, op string) error {
	if s.closed.Load() {
		return opError(op, backends.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return opError(op, err)
	}
	return nil
}

func (s *Store) checkSize(op, key string, blob []byte) error {
	if size := int64(len(key) + len(blob)); size > s.maxRecord {
		return opError(op, fmt.Errorf("%w: key and blob are %d bytes, the limit is %d (MaxBytes/Shards)",
			backends.ErrTooLarge, size, s.maxRecord))
	}
	return nil
}

func opError(op string, err error) error {
	return &backends.OpError{Backend: backendName, Op: op, Err: err}
}

func conflict(op string, current, expected uint64) error {
	return opError(op, fmt.Errorf("%w: stored version %d, expected %d", backends.ErrConflict, current, expected))
}

func (s *Store) index(key string) int {
	return int(maphash.String(s.seed, key) % uint64(len(s.shards)))
}

func (s *Store) shardOf(key string) *shard { return &s.shards[s.index(key)] }

// lock sorts and deduplicates idx and locks those shards in ascending
// order, the one order every multi-shard operation uses. It returns the
// deduplicated slice for unlock.
func (s *Store) lock(idx []int) []int {
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.shards[i].mu.Lock()
	}
	return idx
}

func (s *Store) unlock(idx []int) {
	for _, i := range idx {
		s.shards[i].mu.Unlock()
	}
}

func (sh *shard) addUser(userID string) userSet {
	if sh.users == nil {
		sh.users = make(map[string]userSet)
	}
	set := make(userSet, 1)
	sh.users[strings.Clone(userID)] = set
	return set
}

// lookup returns the live record under key, removing it if it has expired.
func (sh *shard) lookup(key string, now time.Time) *entry {
	e := sh.m[key]
	if e != nil && !now.Before(e.expiry) {
		sh.remove(e)
		sh.expirations++
		return nil
	}
	return e
}

func (sh *shard) remove(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	delete(sh.m, e.key)
	sh.bytes -= e.size()
}

func (sh *shard) pushFront(e *entry) {
	e.prev = &sh.root
	e.next = sh.root.next
	e.next.prev = e
	sh.root.next = e
}

func (sh *shard) moveToFront(e *entry) {
	if sh.root.next == e {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	sh.pushFront(e)
}

// evict removes least recently used records until the shard is within its
// limits, never removing keep (the record just written, which fits alone).
func (sh *shard) evict(keep *entry, now time.Time) {
	for len(sh.m) > sh.maxCount || sh.bytes > sh.maxBytes {
		victim := sh.root.prev
		if victim == keep || victim == &sh.root {
			return
		}
		sh.remove(victim)
		if now.Before(victim.expiry) {
			sh.evictions++
		} else {
			sh.expirations++
		}
	}
}

func (s *Store) runJanitor(interval time.Duration) {
	defer s.janitor.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep removes expired records, one shard at a time, then drops user index
// entries whose records are gone. It returns early when the store closes.
func (s *Store) sweep() {
	for i := range s.shards {
		if s.closed.Load() {
			return
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		now := time.Now()
		for _, e := range sh.m {
			if !now.Before(e.expiry) {
				sh.remove(e)
				sh.expirations++
			}
		}
		sh.mu.Unlock()
	}
	var users []string
	for i := range s.shards {
		sh := &s.shards[i]
		users = users[:0]
		sh.mu.Lock()
		for u := range sh.users {
			users = append(users, u)
		}
		sh.mu.Unlock()
		for _, u := range users {
			if s.closed.Load() {
				return
			}
			s.pruneUser(u, false)
		}
	}
}
