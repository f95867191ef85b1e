package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

// begin checks that the store is open and the caller's context is live, and
// returns the context for the operation with the store's timeout applied.
func (s *Store) begin(ctx context.Context, op string) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, &backends.OpError{Backend: backendName, Op: op, Err: backends.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, &backends.OpError{Backend: backendName, Op: op, Err: err}
	}
	if s.timeout > 0 {
		c, cancel := context.WithTimeout(ctx, s.timeout)
		return c, cancel, nil
	}
	return ctx, func() {}, nil
}

// do runs fn. When the client may ignore context deadlines, fn runs in its
// own goroutine and do returns as soon as ctx ends; fn must then only write
// variables that the caller reads after do returned nil.
func (s *Store) do(ctx context.Context, fn func(context.Context) error) error {
	if !s.guard || ctx.Done() == nil {
		return fn(ctx)
	}
	ch := make(chan error, 1)
	go func() { ch <- fn(ctx) }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) recordKey(key string) string { return s.prefix + key }

// indexKeyHexLen is how many hex digits of SHA-256(userID) name the index:
// 128 bits, so two users never share one.
const indexKeyHexLen = 32

// indexKey returns the user index key: prefix + "user:{" + hex(SHA-256(userID))[:32] + "}".
// The braces are a Cluster hash tag, so one user's index lives in one slot.
func (s *Store) indexKey(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return s.prefix + "user:{" + hex.EncodeToString(sum[:])[:indexKeyHexLen] + "}"
}

func unixMilli(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func foreign(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrForeignValue}, args...)...)
}

// Load returns the record stored under key. One round trip: one EVALSHA
// that reads the version, the blob and the expiry (HMGET and PEXPIRETIME).
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	c, cancel, err := s.begin(ctx, "load")
	if err != nil {
		return backends.Record{}, false, err
	}
	defer cancel()
	var res any
	err = s.do(c, func(c context.Context) error {
		var e error
		res, e = loadScript.Run(c, s.client, []string{s.recordKey(key)}).Result()
		return e
	})
	if errors.Is(err, redis.Nil) {
		return backends.Record{}, false, nil
	}
	if err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	rec, err := parseRecord(res)
	if err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	return rec, true, nil
}

func parseRecord(res any) (backends.Record, error) {
	if n, ok := res.(int64); ok && n == resForeign {
		return backends.Record{}, foreign("not a session hash")
	}
	a, ok := res.([]any)
	if !ok || len(a) != 3 {
		return backends.Record{}, foreign("unexpected script reply %T", res)
	}
	vs, ok1 := a[0].(string)
	d, ok2 := a[1].(string)
	ms, ok3 := a[2].(int64)
	if !ok1 || !ok3 {
		return backends.Record{}, foreign("unexpected script reply")
	}
	if !ok2 && a[1] != nil {
		return backends.Record{}, foreign("blob of type %T", a[1])
	}
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || v == 0 {
		return backends.Record{}, foreign("version %q", vs)
	}
	switch {
	case ms == -1:
		return backends.Record{}, foreign("record without expiry")
	case ms < 0:
		// Expired between the two reads of the script: cannot happen
		// inside one script, but a missing expiry is never returned.
		return backends.Record{}, foreign("expiry %d", ms)
	}
	rec := backends.Record{Version: v, Expiry: time.UnixMilli(ms)}
	if len(d) > 0 {
		rec.Blob = []byte(d)
	}
	return rec, nil
}

// Save stores blob under key if the stored version equals expected (see
// backends.Store). One round trip: one EVALSHA that compares the version and
// writes the hash and its PEXPIREAT atomically (HGET, HSET, PEXPIREAT).
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	c, cancel, err := s.begin(ctx, "save")
	if err != nil {
		return 0, err
	}
	defer cancel()
	if expiry.IsZero() {
		return 0, opError(ctx, "save", backends.ErrNoExpiry)
	}
	del := "0"
	if !expiry.After(time.Now()) {
		del = "1"
	}
	var res int64
	err = s.do(c, func(c context.Context) error {
		var e error
		res, e = saveScript.Run(c, s.client, []string{s.recordKey(key)},
			strconv.FormatUint(expected, 10), strconv.FormatUint(expected+1, 10),
			blob, unixMilli(expiry), del).Int64()
		return e
	})
	if err != nil {
		return 0, opError(ctx, "save", err)
	}
	switch res {
	case 1:
		return expected + 1, nil
	case 0:
		return 0, nil
	case resConflict:
		return 0, opError(ctx, "save", backends.ErrConflict)
	case resForeign:
		return 0, opError(ctx, "save", foreign("not a session hash"))
	}
	return 0, opError(ctx, "save", fmt.Errorf("redisstore: unexpected script reply %d", res))
}

// Touch sets the expiry of an existing record. One round trip: PEXPIREAT,
// which does nothing on a missing key and deletes the key when the time has
// passed.
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	c, cancel, err := s.begin(ctx, "touch")
	if err != nil {
		return err
	}
	defer cancel()
	if expiry.IsZero() {
		return opError(ctx, "touch", backends.ErrNoExpiry)
	}
	err = s.do(c, func(c context.Context) error {
		return s.client.PExpireAt(c, s.recordKey(key), expiry).Err()
	})
	return opError(ctx, "touch", err)
}

// Delete removes the record. One round trip: DEL.
func (s *Store) Delete(ctx context.Context, key string) error {
	c, cancel, err := s.begin(ctx, "delete")
	if err != nil {
		return err
	}
	defer cancel()
	err = s.do(c, func(c context.Context) error {
		return s.client.Del(c, s.recordKey(key)).Err()
	})
	return opError(ctx, "delete", err)
}

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
// script can cover, so it takes two round trips:
//
//  1. A script on newKey creates the new record unless the key exists
//     (then Renew returns the conflict, nothing was changed). The new
//     record is not reachable yet: no index lists it, and nobody knows
//     the session ID it belongs to until Renew returns.
//  2. One pipeline (one batch per node, in parallel) runs a script on
//     oldKey that deletes it if, and only if, its version is oldVersion
//     (for oldVersion 0 it only checks that the key does not exist), and
//     adds newKey to the user's index.
//
// The version check and the delete of oldKey are one atomic step, so a
// concurrent Delete (a logout), Save or Renew of oldKey runs either before
// it, and the renewal conflicts, or after it, and finds the key gone. When
// step 2 does not succeed, Renew removes the new record and its index entry
// again (a third round trip, on that path only) before it returns the
// error: a conflict on oldKey leaves the records and the index as they
// were. If that clean-up fails too (the error says so), the new record stays
// until its expiry, unreachable, and UserKeys may list it meanwhile.
//
// In Cluster the old key's index entry is not removed: the record is gone,
// and UserKeys drops the entry the next time it reads the index (see
// backends.UserIndex). It is never removed before the old record is, so a
// live session never drops out of its user's index.
//
// If step 2 fails with an error other than a conflict (a timeout, a node
// that went down), the old record may have been deleted: the renewal did
// not happen and the session may be lost (the user then logs in again).
// That fails closed. The error says so, and matches backends.ErrUnavailable
// when an outage caused it.
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
	oldV := strconv.FormatUint(oldVersion, 10)
	now := unixMilli(time.Now())
	if s.single {
		keys := []string{s.recordKey(oldKey), s.recordKey(newKey)}
		if userID != "" {
			keys = append(keys, s.indexKey(userID))
		}
		var res int64
		err = s.do(c, func(c context.Context) error {
			var e error
			res, e = renewScript.Run(c, s.client, keys, oldV, blob, unixMilli(expiry), now, oldKey, newKey, unixMilli(deadline)).Int64()
			return e
		})
		if err != nil {
			return opError(ctx, "renew", err)
		}
		switch res {
		case 1:
			return nil
		case resConflict, resForeign:
			return opError(ctx, "renew", oldConflict(res, oldVersion))
		case resTaken:
			return opError(ctx, "renew", errNewKeyTaken)
		}
		return opError(ctx, "renew", fmt.Errorf("redisstore: unexpected script reply %d", res))
	}

	// Step 1: create the new record unless its key is taken.
	oldRec, newRec := s.recordKey(oldKey), s.recordKey(newKey)
	var res int64
	err = s.do(c, func(c context.Context) error {
		var e error
		res, e = saveScript.Run(c, s.client, []string{newRec}, "0", "1", blob, unixMilli(expiry), "0").Int64()
		return e
	})
	if err != nil {
		return opError(ctx, "renew", fmt.Errorf("creating the new record (the old one is untouched): %w", err))
	}
	switch res {
	case 1:
	case resConflict, resForeign:
		return opError(ctx, "renew", errNewKeyTaken)
	default:
		return opError(ctx, "renew", fmt.Errorf("redisstore: unexpected script reply %d", res))
	}

	// Step 2: delete the old record if it is at oldVersion, and index the
	// new one. saveScript in delete mode is the atomic check-and-delete.
	checkArgs := []any{oldV, "", "", "", "1"}
	var idxKey string
	var idxArgs []any
	if userID != "" {
		idxKey = s.indexKey(userID)
		idxArgs = []any{now, "0", "", "1", newKey, unixMilli(deadline)}
	}
	err = s.do(c, func(c context.Context) error {
		pipe := s.client.Pipeline()
		check := saveScript.EvalSha(c, pipe, []string{oldRec}, checkArgs...)
		var idx *redis.Cmd
		if userID != "" {
			idx = indexScript.EvalSha(c, pipe, []string{idxKey}, idxArgs...)
		}
		_, _ = pipe.Exec(c) // each command holds its own result
		res, e := s.rerun(c, check, saveScript, []string{oldRec}, checkArgs).Int64()
		var failed error
		switch {
		case e != nil:
			failed = fmt.Errorf("the old record may be deleted, the session is then lost: %w", e)
		case res == resConflict || res == resForeign:
			failed = oldConflict(res, oldVersion)
		case res != 0:
			failed = fmt.Errorf("redisstore: unexpected script reply %d", res)
		case idx != nil:
			if e := s.rerun(c, idx, indexScript, []string{idxKey}, idxArgs).Err(); e != nil {
				failed = fmt.Errorf("old record deleted, user index not updated, the session is lost: %w", e)
			}
		}
		if failed == nil {
			return nil
		}
		// Take the new record and its index entry back.
		pipe = s.client.Pipeline()
		pipe.Del(c, newRec)
		if userID != "" {
			pipe.ZRem(c, idxKey, newKey)
		}
		if _, e := pipe.Exec(c); e != nil {
			return fmt.Errorf("%w (and the new record was not removed: %v)", failed, e)
		}
		return failed
	})
	return opError(ctx, "renew", err)
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

// rerun runs sc again on its own when cmd, sent as EVALSHA in a pipeline,
// failed with NOSCRIPT: the node's script cache was flushed and nothing of
// the script ran. EVAL also puts the script back in the cache.
func (s *Store) rerun(ctx context.Context, cmd *redis.Cmd, sc *redis.Script, keys []string, args []any) *redis.Cmd {
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return sc.Eval(ctx, s.client, keys, args...)
	}
	return cmd
}

// AddUserKey records that key belongs to userID until deadline. One round
// trip: one EVALSHA on the user's index (ZREMRANGEBYSCORE of passed
// deadlines, ZADD, PEXPIREAT at the latest deadline).
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	c, cancel, err := s.begin(ctx, "add_user_key")
	if err != nil {
		return err
	}
	defer cancel()
	if deadline.IsZero() {
		return opError(ctx, "add_user_key", backends.ErrNoExpiry)
	}
	err = s.do(c, func(c context.Context) error {
		return indexScript.Run(c, s.client, []string{s.indexKey(userID)},
			unixMilli(time.Now()), "0", "", "1", key, unixMilli(deadline)).Err()
	})
	return opError(ctx, "add_user_key", err)
}

// RemoveUserKey forgets key for userID. One round trip: ZREM.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	c, cancel, err := s.begin(ctx, "remove_user_key")
	if err != nil {
		return err
	}
	defer cancel()
	err = s.do(c, func(c context.Context) error {
		return s.client.ZRem(c, s.indexKey(userID), key).Err()
	})
	return opError(ctx, "remove_user_key", err)
}

// UserKeys returns the keys of userID's sessions whose records exist. It
// reads the index (ZRANGE BYSCORE from now), checks the records with one
// pipeline of EXISTS (one batch per node in Cluster), and removes the entries
// of missing records with ZREM: two or three round trips.
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	c, cancel, err := s.begin(ctx, "user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	var live []string
	err = s.do(c, func(c context.Context) error {
		idx := s.indexKey(userID)
		members, err := s.client.ZRangeByScore(c, idx, &redis.ZRangeBy{
			Min: "(" + unixMilli(time.Now()), Max: "+inf",
		}).Result()
		if err != nil || len(members) == 0 {
			return err
		}
		pipe := s.client.Pipeline()
		exists := make([]*redis.IntCmd, len(members))
		for i, m := range members {
			exists[i] = pipe.Exists(c, s.recordKey(m))
		}
		if _, err := pipe.Exec(c); err != nil {
			return err
		}
		var dead []any
		out := make([]string, 0, len(members))
		for i, m := range members {
			if exists[i].Val() == 1 {
				out = append(out, m)
			} else {
				dead = append(dead, m)
			}
		}
		if len(dead) > 0 {
			// Best effort: a failed cleanup leaves entries the next call drops.
			_ = s.client.ZRem(c, idx, dead...).Err()
		}
		live = out
		return nil
	})
	if err != nil {
		return nil, opError(ctx, "user_keys", err)
	}
	return live, nil
}
