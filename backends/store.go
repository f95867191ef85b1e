// Package backends defines the contract between the session manager and the
// places sessions are kept, and holds its implementations: an in-memory store
// (backends/memstore) and a Redis store (backends/redisstore). The package
// backends/storetest is a conformance suite every implementation runs.
//
// The contract is deliberately small. A Store loads a record, saves one with
// compare-and-set on a version number, extends an expiry, and deletes. All
// keys a Store sees are opaque strings chosen by the manager (by default a
// hash of the session ID, never the ID itself). Optional capabilities (a
// per-user index, iteration, counting, health pings) are separate interfaces
// found by type assertion.
//
// Error semantics follow one rule: "not found" is a return value, never an
// error. An error means the store could not do what was asked, and it says
// which operation failed (see OpError). ErrConflict is the one expected error:
// the compare-and-set lost against a concurrent writer.
package backends

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Record is one stored session: the encoded blob, its version and its expiry.
type Record struct {
	// Blob is the encoded session, opaque to the store. A store never
	// retains or mutates a Blob it was given or returned.
	Blob []byte
	// Version increases by one with every successful Save of the key. The
	// first saved version of a key is 1; version 0 means "does not exist".
	Version uint64
	// Expiry is the instant after which the record must not be returned.
	// It is never zero for a stored record.
	Expiry time.Time
}

// Store is the contract every backend implements. All methods are safe for
// concurrent use and honour ctx cancellation and deadlines.
type Store interface {
	// Load returns the record stored under key. found is false (and err nil)
	// when there is no record or it has expired. It sees every write this
	// store completed before it. A store that keeps copies of records near
	// the application may return a record that writes through other
	// instances changed since, within a bound it documents; a ctx marked
	// by WithFreshRead asks it for the current record.
	Load(ctx context.Context, key string) (rec Record, found bool, err error)

	// Save stores blob under key with the given expiry if, and only if, the
	// stored version equals expected (0: the key must not exist). It returns
	// the new version (expected+1). When the stored version differs, Save
	// writes nothing and returns an error that matches ErrConflict.
	//
	// A zero expiry is refused with ErrNoExpiry: no record is ever written
	// without one. An expiry that is not after the current time deletes the
	// record instead (when the version matches) and returns version 0.
	Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (version uint64, err error)

	// Touch sets the expiry of an existing record without rewriting its
	// data or changing its version. A missing key is not an error and is
	// not created. A zero expiry is refused with ErrNoExpiry.
	Touch(ctx context.Context, key string, expiry time.Time) error

	// Delete removes the record. A missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// UserIndex is implemented by stores that keep, for each user ID, the set of
// session keys bound to it, so that all sessions of a user can be listed and
// revoked. Entries of deleted or expired records may linger in the index
// until the next UserKeys call, which drops them; callers never see them.
type UserIndex interface {
	// AddUserKey records that key belongs to userID. deadline is the latest
	// the session can live (its absolute deadline, not its idle expiry,
	// which touches extend): the entry must be kept at least until then
	// while its record exists, and may be dropped after it. Adding a key
	// again with a later deadline moves its entry's deadline later (call it
	// whenever a session's deadline is extended); an earlier deadline leaves
	// the entry as it is (an entry's deadline never moves earlier, so a
	// stale caller cannot make a live session drop out of the index), and
	// never shortens how long the other entries are kept.
	AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error
	// RemoveUserKey forgets key for userID. Missing entries are not errors.
	RemoveUserKey(ctx context.Context, userID, key string) error
	// UserKeys returns the keys of userID's sessions whose records still
	// exist, in no order.
	UserKeys(ctx context.Context, userID string) ([]string, error)
}

// Renewer is implemented by stores that can replace one record by another in
// a single atomic step (or at least a single round trip): if the stored
// version of oldKey is oldVersion (0: oldKey must not exist) and newKey does
// not exist, newKey is created with version 1, oldKey is deleted, and, when
// userID is not empty, oldKey is removed from userID's index and newKey added
// with the given deadline (as in UserIndex.AddUserKey). Otherwise Renew
// changes nothing and returns an error matching ErrConflict: the old record
// was changed, renewed or deleted (a logout) since it was loaded, and a
// renewal must never bring it back. Stores without it are renewed by the
// manager with Load, Save, Delete and the UserIndex methods in sequence.
type Renewer interface {
	Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error
}

// Iterator is implemented by stores that can enumerate their keys. Backends
// must not block the server while doing so (Redis uses SCAN, never KEYS).
type Iterator interface {
	// Keys calls fn for each live key until fn returns false. Keys added or
	// removed during the iteration may or may not be seen.
	Keys(ctx context.Context, fn func(key string) bool) error
}

// Counter is implemented by stores that can report how many records they
// hold. The figure may include records that expired but were not yet removed.
type Counter interface {
	Count(ctx context.Context) (int, error)
}

// Pinger is implemented by stores that can check their own health cheaply.
type Pinger interface {
	Ping(ctx context.Context) error
}

var (
	// ErrConflict is returned by Save when the stored version is not the
	// expected one: another writer saved in between.
	ErrConflict = errors.New("session store: version conflict")
	// ErrNoExpiry is returned when a record would be written without an expiry.
	ErrNoExpiry = errors.New("session store: record without expiry")
	// ErrClosed is returned by a store that has been closed.
	ErrClosed = errors.New("session store: closed")
	// ErrTooLarge is returned by a store that refuses a blob over its limit.
	ErrTooLarge = errors.New("session store: record too large")
	// ErrInvalidRecord is matched by the errors of stores that find, under
	// a session's key, a value they did not write (set by another program,
	// or damaged). The manager treats such a session as absent and logs a
	// security event; it does not count as an outage.
	ErrInvalidRecord = errors.New("session store: not a session record")
	// ErrUnavailable marks failures that mean the backend cannot be reached
	// or cannot serve right now (network errors, timeouts, a server that is
	// loading or read-only). Stores wrap such errors so that
	// errors.Is(err, ErrUnavailable) holds; fail-over acts on it.
	ErrUnavailable = errors.New("session store: unavailable")
	// ErrMisconfigured marks failures that mean the backend answers but
	// refuses the configuration it was given: wrong credentials, a
	// database that does not exist, TLS against a server that does not
	// speak it, a user without the needed permissions. Retrying does not
	// help; the configuration must be fixed. Stores wrap such errors so
	// that errors.Is(err, ErrMisconfigured) holds.
	ErrMisconfigured = errors.New("session store: misconfigured")
)

// OpError describes a failed store operation.
type OpError struct {
	Backend string // "memory", "redis", ...
	Op      string // "load", "save", "touch", "delete", "renew", ...
	Err     error
}

// Error says which backend and operation failed, and why.
func (e *OpError) Error() string {
	return fmt.Sprintf("session store %s: %s: %v", e.Backend, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *OpError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err means the backend could not be reached
// or could not serve (see ErrUnavailable).
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// IsMisconfigured reports whether err means the backend refuses the
// configuration it was given (see ErrMisconfigured).
func IsMisconfigured(err error) bool { return errors.Is(err, ErrMisconfigured) }

// IsConflict reports whether err is a lost compare-and-set (see ErrConflict).
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// unavailableError wraps a cause so that it matches both ErrUnavailable and
// the cause itself.
type unavailableError struct{ cause error }

func (e unavailableError) Error() string { return "unavailable: " + e.cause.Error() }
func (e unavailableError) Unwrap() []error {
	return []error{ErrUnavailable, e.cause}
}

// Unavailable wraps err so that errors.Is(err, ErrUnavailable) holds while the
// original error stays reachable through errors.Is and errors.As. It returns
// nil for a nil err.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailableError{err}
}

// Report collects facts about the store operations made on behalf of one
// request. The manager puts one in the context it passes to the store;
// composite stores record in it that an operation was served by a fallback.
type Report struct {
	degraded atomic.Bool
	stale    atomic.Bool
}

type reportKey struct{}

// WithReport returns a context that carries r.
func WithReport(ctx context.Context, r *Report) context.Context {
	return context.WithValue(ctx, reportKey{}, r)
}

// IsReportKey reports whether k is the context key under which WithReport
// stores the Report, for context types that carry a Report themselves.
func IsReportKey(k any) bool {
	_, ok := k.(reportKey)
	return ok
}

// MarkDegraded records, in the Report carried by ctx (if any), that an
// operation was served by a fallback store rather than the primary.
func MarkDegraded(ctx context.Context) {
	if r, ok := ctx.Value(reportKey{}).(*Report); ok {
		r.degraded.Store(true)
	}
}

// Degraded reports whether any operation recorded in r was served by a
// fallback store.
func (r *Report) Degraded() bool { return r != nil && r.degraded.Load() }

// MarkStale records, in the Report carried by ctx (if any), that a record
// was served from a copy kept by a composite store, which may no longer be
// current: the store that owns the record could not be asked. The session
// manager then never writes under that record's key (its first write moves
// the session to a new key, built on the current record when it is back).
func MarkStale(ctx context.Context) {
	if r, ok := ctx.Value(reportKey{}).(*Report); ok {
		r.stale.Store(true)
	}
}

// Stale reports whether a record recorded in r was served from a copy that
// may no longer be current (see MarkStale).
func (r *Report) Stale() bool { return r != nil && r.stale.Load() }

// The declarations below support per-user session limits and renewals whose
// outcome a store cannot report.

// UserLimiter is implemented by stores that can enforce a per-user session
// limit atomically, so that concurrent logins of one user cannot each count
// the other's session and revoke it (leaving the user with none).
type UserLimiter interface {
	// LimitUserKeys deletes the records, and the index entries, of
	// userID's sessions beyond max, and returns the keys it deleted.
	//
	// Only live sessions count: entries whose records are gone or expired
	// are removed from the index and not counted (so are entries whose
	// deadline has passed, in stores that drop those; see UserIndex). Of
	// the live sessions, those with the earliest index deadline (the
	// deadline of the latest AddUserKey or Renew that indexed them: the
	// oldest sessions) are deleted first, equal deadlines in the byte-wise
	// order of their keys, until max remain. keep, when it names a live
	// indexed session, counts towards max but is never deleted, even when
	// max is 0. keep may be empty, or name a key that is not indexed or
	// not live: it then protects nothing and counts for nothing. A
	// negative max is an error.
	//
	// Counting and deleting are one atomic step with respect to every
	// other operation of the store (on stores that cannot make it one
	// step, the implementation documents its exact guarantee). So when
	// several callers each save and index a new session of one user and
	// then call LimitUserKeys with max 1 and their own key as keep, exactly
	// one of those sessions is live once all of them returned (unless
	// something else deleted or expired sessions meanwhile): a call never
	// deletes its keep, and never the last live session when keep is gone.
	//
	// When it returns an error, LimitUserKeys may have removed some keys
	// from the index without deleting their records: it returns those
	// keys with the error, and the caller should delete them (Delete of a
	// missing key is not an error). A call retried after a lost reply
	// finds the limit enforced and may return fewer keys than it deleted.
	LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error)
}

// ErrOutcomeUnknown is matched by the error of a write whose outcome the
// store cannot tell: the request may or may not have taken effect (its reply
// was lost to a network failure or a timeout, or the store gave up waiting).
// The error matches ErrUnavailable too when an outage caused it. Stores
// document which operations return it; a store that never loses track of a
// write (an in-memory one) never does.
//
// Save with a past expiry (a delete-if-version) returns it when it cannot
// tell whether the record was deleted.
//
// Renew returns it when it cannot tell whether the renewal happened. Then
// the session is under oldKey, under newKey, or (on stores that renew in
// several steps, see the store's Renew) under both; newKey is never
// half-written and, on stores with a user index, is indexed whenever it
// exists. A caller reconciles later: if newKey exists, the renewal took
// place (delete oldKey if it is still at oldVersion, with Save and a past
// expiry); if it does not, oldKey is as it was (or was deleted by someone
// else) and the renewal can be tried again.
var ErrOutcomeUnknown = errors.New("session store: outcome unknown")

// Importer is implemented by stores that can write a record with the version
// it already has, so that tools moving records between stores (migration,
// replication, copy, restore) keep each record's version the same in every
// store: a compare-and-set made against one copy then means the same thing
// against the other.
type Importer interface {
	// Import writes rec under key, keeping rec.Version and rec.Expiry,
	// when the key holds no live record or, unless onlyIfAbsent, a record
	// with a lower version; it reports whether it wrote. A record already
	// stored with rec.Version or a higher one is left as it is. rec.Version
	// must not be 0, and a zero rec.Expiry is refused with ErrNoExpiry; a
	// rec.Expiry that is not in the future writes nothing. The check and
	// the write are one atomic step with respect to every other operation
	// of the store.
	Import(ctx context.Context, key string, rec Record, onlyIfAbsent bool) (written bool, err error)
}

type freshReadKey struct{}

// WithFreshRead returns a context that asks stores to read from the place
// that owns the record, never from a copy kept near the application (such
// as a Redis client-side cache, see redisstore.WithNearCache) that may lag
// behind a write made elsewhere. Stores without such a copy read as usual.
// Use it where a read must see every write and deletion that completed
// before it: an authorization check, a reload after a lost compare-and-set.
func WithFreshRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshReadKey{}, true)
}

// IsFreshRead reports whether ctx carries WithFreshRead.
func IsFreshRead(ctx context.Context) bool {
	v, _ := ctx.Value(freshReadKey{}).(bool)
	return v
}
