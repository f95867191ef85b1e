package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

var _ backends.UserLimiter = (*Store)(nil)

// Renew replaces oldKey by newKey (see backends.Renewer): if oldKey's
// version is oldVersion (0: oldKey must not exist) and newKey does not
// exist, it creates newKey with version 1, deletes oldKey and, for a
// non-empty userID, adds newKey to the user's index (and, on one server,
// removes oldKey from it). Otherwise it returns an error matching
// backends.ErrConflict and leaves the records and the index as they were. An
// oldKey deleted since it was loaded (a logout) is a conflict when
// oldVersion > 0, so a slow request's renewal never brings back a session
// that was just destroyed. So is an oldKey holding a value this store did
// not write, and a renewal of a key onto itself.
//
// On one server (and a Sentinel-managed master) this is one round trip: one
// EVALSHA that checks the old record's version and that the new key is
// free, and does it all atomically.
//
// In Cluster (and with a Ring) the keys live in different slots, which no
// script can cover, so it takes a round trip per step, each step on one
// slot, in this order:
//
//  1. A script on newKey creates the new record unless the key exists
//     (then Renew returns the conflict, nothing was changed). The new
//     record is not reachable yet: nobody knows the session ID it belongs
//     to until Renew returns.
//  2. For a non-empty userID, a script on the user's index adds newKey.
//  3. A script on oldKey deletes it if, and only if, its version is
//     oldVersion (for oldVersion 0 it only checks that the key does not
//     exist).
//
// Nothing irreversible happens before step 3, and step 3 runs only once the
// new record exists and is indexed, so no failure can leave the session in
// neither record, nor outside its user's index. The version check and the
// delete of oldKey are one atomic step, so a concurrent Delete (a logout),
// Save or Renew of oldKey runs either before it, and the renewal conflicts,
// or after it, and finds the key gone. A renewal without a user takes two
// round trips, with a user three.
//
// When step 2 or 3 fails, or step 3 conflicts, Renew removes the new record
// and its index entry again (one more round trip, with a timeout of its own)
// before it returns the error: the old record is as it was. If that clean-up
// fails too (the error says so), the new record stays until its expiry,
// unreachable, and UserKeys may list it meanwhile. A failure that is not a
// conflict matches backends.ErrUnavailable when an outage caused it.
//
// In Cluster the old key's index entry is not removed: the record is gone,
// and UserKeys drops the entry the next time it reads the index (see
// backends.UserIndex).
//
// # Lost replies
//
// The script that deletes (step 3; the whole renewal on one server) is sent
// at most once: go-redis does not retry it after a network error, because a
// retry after a lost reply would find the old key gone and report a
// conflict for a renewal that took place. When that script was sent and no
// reply came back (a connection reset, a read timeout, a context that ended
// while it was in flight), Renew cannot tell whether it ran. It then
// returns an error matching backends.ErrOutcomeUnknown (and
// backends.ErrUnavailable for an outage) and undoes nothing. In Cluster the
// new record exists and is indexed, and the old one may or may not still
// exist; on one server either the whole renewal happened or none of it.
// Either way the session is not lost: the caller reconciles later as
// backends.ErrOutcomeUnknown describes. One ambiguity remains in Cluster: if
// a logout deleted oldKey just before step 3 and that step's reply was
// lost, the state (newKey exists, oldKey does not) looks like a completed
// renewal.
//
// Errors that prove the script never ran (an error reply from Redis, a
// connection that could not be made or written to, no connection from the
// pool, a context that ended before it was sent) are not ambiguous: the old
// record is untouched and the new one is removed as above.
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	c, cancel, err := s.begin(ctx, "renew")
	if err != nil {
		return err
	}
	defer cancel()
	if expiry.IsZero() || (userID != "" && deadline.IsZero()) {
		return opError(ctx, "renew", backends.ErrNoExpiry)
	}
	if oldKey == newKey {
		return opError(ctx, "renew", fmt.Errorf("%w: old and new key are the same", backends.ErrConflict))
	}
	r := &renewal{
		s: s, oldKey: oldKey, newKey: newKey, oldVersion: oldVersion,
		blob: blob, expiry: expiry, userID: userID, deadline: deadline,
	}
	step := r.inSteps
	if s.single {
		step = r.inOneScript
	}
	finished, err := s.run(c, step)
	s.wrote(oldKey, mustFresh, time.Time{})
	if err != nil {
		s.wrote(newKey, mustFresh, time.Time{})
	} else {
		s.wrote(newKey, 1, expiry.Truncate(time.Millisecond))
	}
	if err != nil && !finished && !r.gate.abandon() {
		// The deleting script was sent, and fn is still waiting for it.
		err = unknownOutcome("gave up waiting for the reply of the step that deletes the old record", err)
	}
	return opError(ctx, "renew", err)
}

// renewal is one call of Renew.
type renewal struct {
	s                *Store
	oldKey, newKey   string
	oldVersion       uint64
	blob             []byte
	expiry, deadline time.Time
	userID           string

	// gate decides, between the goroutine running the renewal and a
	// caller whose context ended first (see Store.run), whether the
	// deleting script is sent.
	gate sendGate
}

// sendGate is open until either the script that deletes is sent or the
// caller gives up waiting; whichever comes first closes it for the other.
type sendGate struct{ state atomic.Int32 }

const (
	gateOpen int32 = iota
	gateSent
	gateAbandoned
)

// send reports whether the script may be sent (and records that it is).
func (g *sendGate) send() bool { return g.state.CompareAndSwap(gateOpen, gateSent) }

// abandon reports whether the script was not sent and now never will be.
func (g *sendGate) abandon() bool {
	return g.state.CompareAndSwap(gateOpen, gateAbandoned) || g.state.Load() == gateAbandoned
}

// errAbandoned ends a renewal (or a delete) whose caller stopped waiting
// before the deleting script was sent.
var errAbandoned = errors.New("the caller stopped waiting before the deleting script was sent")

// inOneScript is the renewal on one server: renewScript, sent once.
func (r *renewal) inOneScript(c context.Context) error {
	s := r.s
	keys := []string{s.recordKey(r.oldKey), s.recordKey(r.newKey)}
	if r.userID != "" {
		keys = append(keys, s.indexKey(r.userID))
	}
	if err := c.Err(); err != nil {
		return fmt.Errorf("nothing was changed: %w", err)
	}
	if !r.gate.send() {
		return errAbandoned
	}
	res, err := s.runOnce(c, renewScript, renewLua, keys,
		strconv.FormatUint(r.oldVersion, 10), r.blob, unixMilli(r.expiry), unixMilli(time.Now()),
		r.oldKey, r.newKey, unixMilli(r.deadline)).Int64()
	if err != nil {
		if notRun(err) {
			return fmt.Errorf("nothing was changed: %w", err)
		}
		return unknownOutcome("the renewal happened entirely or not at all", err)
	}
	switch res {
	case 1:
		return nil
	case resConflict, resForeign:
		return oldConflict(res, r.oldVersion)
	case resTaken:
		return errNewKeyTaken
	}
	return fmt.Errorf("redisstore: unexpected script reply %d", res)
}

// inSteps is the renewal in Cluster and with a Ring (see Renew).
func (r *renewal) inSteps(c context.Context) error {
	s := r.s
	newRec := s.recordKey(r.newKey)

	// Step 1: create the new record unless its key is taken.
	res, err := s.runOnce(c, saveScript, saveLua, []string{newRec},
		"0", "1", r.blob, unixMilli(r.expiry), "0").Int64()
	switch {
	case err != nil && notRun(err):
		return fmt.Errorf("creating the new record (the old one is untouched): %w", err)
	case err != nil:
		return fmt.Errorf("creating the new record (the old one is untouched; the new one may exist, unreachable, until its expiry): %w", err)
	case res == resConflict || res == resForeign:
		return errNewKeyTaken
	case res != 1:
		return fmt.Errorf("redisstore: unexpected script reply %d", res)
	}

	// Step 2: index the new record. Adding is idempotent, so go-redis may
	// retry it.
	var idxKey string
	if r.userID != "" {
		idxKey = s.indexKey(r.userID)
		err := indexScript.Run(c, s.client, []string{idxKey},
			unixMilli(time.Now()), "0", "", "1", r.newKey, unixMilli(r.deadline)).Err()
		if err != nil {
			return r.undo(c, idxKey, fmt.Errorf("indexing the new record (the old one is untouched): %w", err))
		}
	}

	// Step 3: delete the old record if it is at oldVersion.
	if err := c.Err(); err != nil {
		return r.undo(c, idxKey, fmt.Errorf("the old record is untouched: %w", err))
	}
	if !r.gate.send() {
		return r.undo(c, idxKey, errAbandoned)
	}
	res, err = s.runOnce(c, saveScript, saveLua, []string{s.recordKey(r.oldKey)},
		strconv.FormatUint(r.oldVersion, 10), "", "", "", "1").Int64()
	switch {
	case err != nil && notRun(err):
		return r.undo(c, idxKey, fmt.Errorf("deleting the old record (it is untouched): %w", err))
	case err != nil:
		return unknownOutcome("the new record holds the session and is indexed; the old record may or may not be deleted", err)
	case res == 0:
		return nil
	case res == resConflict || res == resForeign:
		return r.undo(c, idxKey, oldConflict(res, r.oldVersion))
	}
	return r.undo(c, idxKey, fmt.Errorf("redisstore: unexpected script reply %d", res))
}

// undo removes the new record and, when idxKey is set, its index entry, and
// returns failed, extended when the removal fails too. It has a timeout of
// its own: c may be the context that just ended.
func (r *renewal) undo(c context.Context, idxKey string, failed error) error {
	uc, cancel := r.s.cleanupContext(c)
	defer cancel()
	pipe := r.s.client.Pipeline()
	pipe.Del(uc, r.s.recordKey(r.newKey))
	if idxKey != "" {
		pipe.ZRem(uc, idxKey, r.newKey)
	}
	if _, err := pipe.Exec(uc); err != nil {
		return fmt.Errorf("%w (and removing the new record failed, it stays unreachable until its expiry: %v)", failed, err)
	}
	return failed
}

// errNewKeyTaken is the conflict of a renewal onto an existing key.
var errNewKeyTaken = fmt.Errorf("%w: the new key exists", backends.ErrConflict)

// oldConflict is the conflict of a renewal whose old record is not at
// oldVersion (res resConflict) or holds a value this store did not write
// (resForeign).
func oldConflict(res int64, oldVersion uint64) error {
	switch {
	case res == resForeign:
		return fmt.Errorf("%w: the old key holds a value this store did not write", backends.ErrConflict)
	case oldVersion == 0:
		return fmt.Errorf("%w: the old key exists", backends.ErrConflict)
	}
	return fmt.Errorf("%w: the old record is not at version %d (saved, renewed or deleted since)", backends.ErrConflict, oldVersion)
}

// unknownOutcome wraps the error of a write that may or may not have taken
// effect.
func unknownOutcome(what string, err error) error {
	return fmt.Errorf("%w (%s): %w", backends.ErrOutcomeUnknown, what, err)
}

// onceCmd is a command that go-redis sends at most once: it is not retried
// after a network error, which may mean that it ran and only its reply was
// lost.
type onceCmd struct{ *redis.Cmd }

// NoRetry tells go-redis not to send the command again.
func (onceCmd) NoRetry() bool { return true }

// runOnce runs a script with EVALSHA sent at most once, and with EVAL (sent
// at most once too) when the server answers NOSCRIPT: then the script did
// not run, and EVAL also puts it back in the cache.
func (s *Store) runOnce(ctx context.Context, sc *redis.Script, src string, keys []string, args ...any) *redis.Cmd {
	cmd := scriptCmd(ctx, "evalsha", sc.Hash(), keys, args)
	_ = s.client.Process(ctx, onceCmd{cmd})
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		cmd = scriptCmd(ctx, "eval", src, keys, args)
		_ = s.client.Process(ctx, onceCmd{cmd})
	}
	return cmd
}

func scriptCmd(ctx context.Context, name, script string, keys []string, args []any) *redis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, name, script, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	return redis.NewCmd(ctx, append(a, args...)...)
}

// notRun reports whether err proves that a command did not run: an error
// reply from the server (which refused it, or could not serve it), a
// connection that could not be made or written to, or no connection from
// the pool. Anything else (a reset or timeout while reading the reply, a
// context that ended in flight) leaves its outcome unknown.
func notRun(err error) bool {
	var re redis.Error
	if errors.As(err, &re) && !errors.Is(err, redis.Nil) {
		return true
	}
	var ne *net.OpError
	if errors.As(err, &ne) && (ne.Op == "dial" || ne.Op == "write") {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, redis.ErrClosed)
}
