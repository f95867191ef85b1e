package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
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
	_, err := s.run(ctx, fn)
	return err
}

// run is do that also reports whether fn returned. When it did not
// (finished is false, err is ctx.Err()), fn may still be running, and the
// variables it writes must not be read.
func (s *Store) run(ctx context.Context, fn func(context.Context) error) (finished bool, err error) {
	if !s.guard || ctx.Done() == nil {
		return true, fn(ctx)
	}
	ch := make(chan error, 1)
	go func() { ch <- fn(ctx) }()
	select {
	case err := <-ch:
		return true, err
	case <-ctx.Done():
		select {
		case err := <-ch: // fn finished too: its result is the answer
			return true, err
		default:
			return false, ctx.Err()
		}
	}
}

// cleanupContext returns a context for undoing a partial write after ctx
// failed or ended: ctx's values without its cancellation, and the store's
// timeout (DefaultTimeout when the store has none).
func (s *Store) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

func (s *Store) recordKey(key string) string { return s.prefix + key }

// wrote records, on a store with a near-cache, that key was written just
// now with version and expiry, or that the store cannot tell what the
// server holds (version mustFresh: after a delete, a conflict or an error).
// For one staleness bound, reads of key that return something older go to
// the server (see recentWrites).
func (s *Store) wrote(key string, version uint64, expiry time.Time) {
	if s.nearCache > 0 {
		s.recent.note(key, version, expiry)
	}
}

// indexKeyHexLen is how many hex digits of SHA-256(userID) name the index:
// 128 bits, so two users never share one.
const indexKeyHexLen = 32

// indexKey returns the user index key: prefix + "user:{" + hex(SHA-256(userID))[:32] + "}".
// The braces are a Cluster hash tag, so one user's index lives in one slot.
func (s *Store) indexKey(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return s.prefix + "user:{" + hex.EncodeToString(sum[:])[:indexKeyHexLen] + "}"
}

// revokingKey returns the set of userID's sessions that LimitUserKeys took
// out of the index in Cluster and whose records may still exist: the index
// key + ":revoking", in the index's slot.
func (s *Store) revokingKey(userID string) string { return s.indexKey(userID) + ":revoking" }

func unixMilli(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func foreign(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrForeignValue}, args...)...)
}

// Load returns the record stored under key. One round trip: HMGET of the
// fields v, d and e, a plain read that go-redis's client-side cache can
// serve (see WithNearCache). With a near-cache, a context marked by
// backends.WithFreshRead is read from the server, around the cache.
//
// A record written before the field e existed, or whose e has passed while
// its key still exists (a writer that does not know e moved its expiry),
// takes a second round trip: legacyLoadScript reads the key's own expiry and
// stores it in e.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	c, cancel, err := s.begin(ctx, "load")
	if err != nil {
		return backends.Record{}, false, err
	}
	defer cancel()
	rk := s.recordKey(key)
	rec, st, err := s.loadFields(c, ctx, key)
	if err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	switch {
	case st == fieldsMissing:
		return backends.Record{}, false, nil
	case st == fieldsForeign:
		return backends.Record{}, false, opError(ctx, "load", foreign("not a session hash"))
	case st == fieldsRecord && rec.Expiry.After(time.Now()):
		return rec, true, nil
	}
	// A record without e, or whose e has passed: ask for the key's expiry.
	var res any
	err = s.do(c, func(c context.Context) error {
		var e error
		res, e = legacyLoadScript.Run(c, s.client, []string{rk}).Result()
		return e
	})
	if errors.Is(err, redis.Nil) {
		return backends.Record{}, false, nil
	}
	if err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	if rec, err = parseRecord(res); err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	if !rec.Expiry.After(time.Now()) {
		return backends.Record{}, false, nil
	}
	return rec, true, nil
}

// loadFields reads the fields of key's record: from the near-cache, if the
// store has one and neither ctx (backends.WithFreshRead) nor what the store
// wrote lately (see recentWrites) asks for the server, else from the
// server. caller is the caller's context, c the operation's.
func (s *Store) loadFields(c, caller context.Context, key string) (backends.Record, fieldsState, error) {
	rk := s.recordKey(key)
	var fl floor
	known, fresh := false, false // known: fl holds what this store wrote lately
	if s.nearCache > 0 {
		fl, known = s.recent.floor(key)
		fresh = backends.IsFreshRead(caller) || (known && fl.version == mustFresh)
	}
	read := func() (backends.Record, fieldsState, error) {
		var vals []any
		err := s.do(c, func(c context.Context) error {
			var e error
			vals, e = s.readFields(c, rk, fresh)
			return e
		})
		if err != nil {
			return backends.Record{}, 0, err
		}
		rec, st := parseFields(vals)
		return rec, st, nil
	}
	rec, st, err := read()
	if err != nil {
		return rec, st, err
	}
	if known && !fresh && (st == fieldsMissing || st == fieldsRecord) &&
		fl.stale(time.Now(), rec, st == fieldsRecord) {
		// A cached reply older than this store's own write: its
		// invalidation is on the way. Read the server.
		fresh = true
		if rec, st, err = read(); err != nil {
			return rec, st, err
		}
	}
	if known && fresh && st == fieldsRecord {
		s.recent.settle(key, rec.Version)
	}
	return rec, st, nil
}

// readFields reads the fields v, d and e of a record with HMGET. fresh
// sends it in a pipeline of its own, which go-redis never serves from its
// client-side cache: one round trip to the server either way.
func (s *Store) readFields(c context.Context, rk string, fresh bool) ([]any, error) {
	if !fresh {
		return s.client.HMGet(c, rk, fieldVersion, fieldBlob, fieldExpiry).Result()
	}
	pipe := s.client.Pipeline()
	cmd := pipe.HMGet(c, rk, fieldVersion, fieldBlob, fieldExpiry)
	if _, err := pipe.Exec(c); err != nil {
		return nil, err
	}
	return cmd.Result()
}

// fieldsState is what an HMGET of v, d and e found.
type fieldsState int

const (
	fieldsMissing fieldsState = iota // no key (or a hash with none of the fields)
	fieldsRecord                     // a record with its expiry in e
	fieldsLegacy                     // a record without e: its expiry is the key's
	fieldsForeign                    // something this store did not write
)

// parseFields turns the reply of HMGET v d e into a record.
func parseFields(vals []any) (backends.Record, fieldsState) {
	if len(vals) != 3 {
		return backends.Record{}, fieldsForeign
	}
	if vals[0] == nil && vals[1] == nil && vals[2] == nil {
		return backends.Record{}, fieldsMissing
	}
	vs, ok1 := vals[0].(string)
	d, ok2 := vals[1].(string)
	if !ok1 || (!ok2 && vals[1] != nil) {
		return backends.Record{}, fieldsForeign
	}
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || v == 0 {
		return backends.Record{}, fieldsForeign
	}
	rec := backends.Record{Version: v}
	if len(d) > 0 {
		rec.Blob = []byte(d)
	}
	if vals[2] == nil {
		return rec, fieldsLegacy
	}
	es, ok := vals[2].(string)
	if !ok {
		return backends.Record{}, fieldsForeign
	}
	ms, err := strconv.ParseInt(es, 10, 64)
	if err != nil || ms <= 0 {
		return backends.Record{}, fieldsForeign
	}
	rec.Expiry = time.UnixMilli(ms)
	return rec, fieldsRecord
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
// writes the hash (v, d, e) and its PEXPIREAT atomically (HGET, HSET,
// PEXPIREAT). A record of the earlier layout (without e) gets e here.
//
// With an expiry that has passed, Save is a delete-if-version (DEL instead
// of the writes), and its script is sent at most once: retried after a lost
// reply, it would find the record it deleted gone and report a conflict,
// which a step-wise renewal would take for a logout. When it was sent and no
// reply came back, Save returns an error matching backends.ErrOutcomeUnknown
// (and backends.ErrUnavailable for an outage): the record may or may not be
// deleted. A write whose reply is lost may be retried by go-redis and then
// report a conflict although it was applied; a caller that merges on
// conflict finds its own write and applies its changes again.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	c, cancel, err := s.begin(ctx, "save")
	if err != nil {
		return 0, err
	}
	defer cancel()
	if expiry.IsZero() {
		return 0, opError(ctx, "save", backends.ErrNoExpiry)
	}
	del := !expiry.After(time.Now())
	keys := []string{s.recordKey(key)}
	args := []any{strconv.FormatUint(expected, 10), strconv.FormatUint(expected+1, 10), blob, unixMilli(expiry), "0"}
	var res int64
	if !del {
		err = s.do(c, func(c context.Context) error {
			var e error
			res, e = saveScript.Run(c, s.client, keys, args...).Int64()
			return e
		})
	} else {
		args[2], args[4] = "", "1" // no blob to send for a delete
		var g sendGate
		var finished bool
		finished, err = s.run(c, func(c context.Context) error {
			if err := c.Err(); err != nil {
				return err
			}
			if !g.send() {
				return errAbandoned
			}
			var e error
			res, e = s.runOnce(c, saveScript, saveLua, keys, args...).Int64()
			if e != nil && !notRun(e) {
				e = unknownOutcome("the record may or may not be deleted", e)
			}
			return e
		})
		if err != nil && !finished && !g.abandon() {
			err = unknownOutcome("gave up waiting for the delete", err)
		}
	}
	if res != 1 || err != nil {
		s.wrote(key, mustFresh, time.Time{})
	}
	if err != nil {
		return 0, opError(ctx, "save", err)
	}
	switch res {
	case 1:
		s.wrote(key, expected+1, expiry.Truncate(time.Millisecond))
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

// Touch sets the expiry of an existing record. One round trip: one
// EVALSHA (touchScript) that sets the record's field e and the key's
// PEXPIREAT together, and leaves a missing key missing; an expiry that has
// passed deletes the record.
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
		return touchScript.Run(c, s.client, []string{s.recordKey(key)}, unixMilli(expiry)).Err()
	})
	if err != nil || !expiry.After(time.Now()) {
		s.wrote(key, mustFresh, time.Time{})
	} else {
		s.wrote(key, 0, expiry.Truncate(time.Millisecond))
	}
	return opError(ctx, "touch", err)
}

// Delete removes the record. One round trip: DEL.
func (s *Store) Delete(ctx context.Context, key string) error {
	c, cancel, err := s.begin(ctx, "delete")
	if err != nil {
		return err
	}
	defer cancel()
	defer s.wrote(key, mustFresh, time.Time{})
	err = s.do(c, func(c context.Context) error {
		return s.client.Del(c, s.recordKey(key)).Err()
	})
	return opError(ctx, "delete", err)
}

// AddUserKey records that key belongs to userID until deadline. A key added
// again keeps the later of its deadlines, and the index expires with its
// latest entry, so an earlier deadline never shortens any entry. One round
// trip: one EVALSHA on the user's index (ZREMRANGEBYSCORE of passed
// deadlines, ZADD unless the entry's deadline is later, PEXPIREAT at the
// latest deadline).
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
// reads the index (ZRANGE BYSCORE from now; in Cluster, in the same round
// trip, the sessions LimitUserKeys is revoking), checks the records with one
// pipeline of EXISTS (one batch per node in Cluster), and removes the
// entries of missing records with ZREM: two or three round trips.
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	c, cancel, err := s.begin(ctx, "user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	var live []string
	err = s.do(c, func(c context.Context) error {
		idx := s.indexKey(userID)
		members, err := s.indexMembers(c, userID)
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
			pipe := s.client.Pipeline()
			pipe.ZRem(c, idx, dead...)
			if !s.single {
				pipe.ZRem(c, s.revokingKey(userID), dead...)
			}
			_, _ = pipe.Exec(c)
		}
		live = out
		return nil
	})
	if err != nil {
		return nil, opError(ctx, "user_keys", err)
	}
	return live, nil
}

// indexMembers reads the members of userID's index whose deadlines have not
// passed and, in Cluster, those of its revoking set (see revokingKey), in
// one round trip.
func (s *Store) indexMembers(c context.Context, userID string) ([]string, error) {
	byScore := &redis.ZRangeBy{Min: "(" + unixMilli(time.Now()), Max: "+inf"}
	if s.single && s.nearCache == 0 {
		return s.client.ZRangeByScore(c, s.indexKey(userID), byScore).Result()
	}
	pipe := s.client.Pipeline()
	if s.single {
		// A pipeline, which go-redis never serves from its near-cache.
		cmd := pipe.ZRangeByScore(c, s.indexKey(userID), byScore)
		if _, err := pipe.Exec(c); err != nil {
			return nil, err
		}
		return cmd.Val(), nil
	}
	indexed := pipe.ZRangeByScore(c, s.indexKey(userID), byScore)
	revoking := pipe.ZRange(c, s.revokingKey(userID), 0, -1)
	if _, err := pipe.Exec(c); err != nil {
		return nil, err
	}
	members := indexed.Val()
	for _, m := range revoking.Val() {
		if !slices.Contains(members, m) {
			members = append(members, m)
		}
	}
	return members, nil
}

// LimitUserKeys deletes the records and index entries of userID's live
// sessions beyond max, those with the earliest index deadline first (equal
// deadlines in byte order of their keys), never keep, and returns the keys
// it deleted (see backends.UserLimiter). Entries whose deadline has passed or
// whose records are gone are removed from the index and not counted.
//
// On one server (and a Sentinel-managed master) it is one round trip: one
// EVALSHA on the index that checks every record, picks the victims and
// deletes their records and entries, atomically.
//
// In Cluster (and with a Ring) the records live in other slots than the
// index, which no script can cover. It takes up to four round trips:
//
//  1. ZRANGE BYSCORE reads the index, and ZRANGE the user's revoking set
//     (both in the index's slot; nothing more when both are empty);
//  2. one pipeline of EXISTS checks their records (one batch per node);
//  3. a script on the index's slot drops the members whose records were
//     found missing, picks the victims among the other index entries (and
//     among entries added since step 1, counted as live), moves them from
//     the index to the revoking set and returns that set;
//  4. one pipeline of DEL deletes the records of the revoking set.
//
// Step 3 is atomic on the index, so concurrent calls for one user see each
// other's picks: when several callers each index a new session and call
// LimitUserKeys with max 1 and their own key as keep, exactly one of those
// sessions survives, as with one server. What is not atomic: a record
// deleted or renewed away by someone else between steps 2 and 3 still
// counts as live in step 3, so that call may delete one more session per
// such record than the limit needs (never keep); and records are deleted
// in step 4, after their entries left the index. A victim stays in the
// revoking set (which UserKeys lists too) until a later call finds its
// record gone, so a lost reply or a failed step 4 never leaves a session
// alive and unlisted: the next LimitUserKeys of the user deletes it. If
// step 4 fails, the error matches backends.ErrUnavailable (for an outage)
// and the returned keys may still have records: delete them. Without a
// failure, the returned keys are those whose records this call deleted.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	c, cancel, err := s.begin(ctx, "limit_user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	if max < 0 {
		return nil, opError(ctx, "limit_user_keys", fmt.Errorf("negative limit %d", max))
	}
	var victims []string
	finished, err := s.run(c, func(c context.Context) error {
		idx := s.indexKey(userID)
		now := unixMilli(time.Now())
		if s.single {
			res, err := limitScript.Run(c, s.client, []string{idx}, now, s.prefix, keep, max).StringSlice()
			victims = res
			return err
		}
		members, err := s.indexMembers(c, userID)
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
		args := []any{now, keep, max}
		for i, m := range members {
			if exists[i].Val() == 0 {
				args = append(args, m)
			}
		}
		revoking, err := limitIndexScript.Run(c, s.client, []string{idx, s.revokingKey(userID)}, args...).StringSlice()
		if err != nil || len(revoking) == 0 {
			return err
		}
		pipe = s.client.Pipeline()
		dels := make([]*redis.IntCmd, len(revoking))
		for i, m := range revoking {
			dels[i] = pipe.Del(c, s.recordKey(m))
		}
		if _, err := pipe.Exec(c); err != nil {
			victims = revoking
			return fmt.Errorf("%d sessions removed from the index, deleting their records failed: %w", len(revoking), err)
		}
		for i, m := range revoking {
			if dels[i].Val() == 1 {
				victims = append(victims, m)
			}
		}
		return nil
	})
	if !finished {
		victims = nil
	}
	for _, v := range victims {
		s.wrote(v, mustFresh, time.Time{})
	}
	if err != nil {
		return victims, opError(ctx, "limit_user_keys", err)
	}
	return victims, nil
}
