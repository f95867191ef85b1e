package degrade

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/changeset"
)

func opError(op string, err error) error {
	return &backends.OpError{Backend: backendName, Op: op, Err: err}
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

func unsupported(op, what string) error {
	return opError(op, fmt.Errorf("%w: the primary store is not a backends.%s", errors.ErrUnsupported, what))
}

// onPrimary runs fn on the primary after replaying key's pending journal
// entry, if any. It reports whether the operation must fail over instead
// (the primary is down: the breaker counted it); otherwise err is the
// outcome to return.
func (s *Store) onPrimary(ctx context.Context, fn func(context.Context) error, keys ...string) (failover bool, err error) {
	for _, k := range keys {
		if err := s.settle(ctx, k); err != nil {
			return s.result(ctx, err), err
		}
	}
	err = s.do(ctx, fn)
	return s.result(ctx, err), err
}

// primaryView is the primary with every call capped by the store's timeout:
// the store that change sets are replayed onto.
type primaryView struct{ s *Store }

func (v primaryView) Load(ctx context.Context, key string) (rec backends.Record, found bool, err error) {
	err = v.s.do(ctx, func(c context.Context) error {
		var e error
		rec, found, e = v.s.primary.Load(c, key)
		return e
	})
	return rec, found, err
}

func (v primaryView) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (ver uint64, err error) {
	err = v.s.do(ctx, func(c context.Context) error {
		var e error
		ver, e = v.s.primary.Save(c, key, blob, expiry, expected)
		return e
	})
	return ver, err
}

func (v primaryView) Touch(ctx context.Context, key string, expiry time.Time) error {
	return v.s.do(ctx, func(c context.Context) error { return v.s.primary.Touch(c, key, expiry) })
}

func (v primaryView) Delete(ctx context.Context, key string) error {
	return v.s.do(ctx, func(c context.Context) error { return v.s.primary.Delete(c, key) })
}

// Load returns the record stored under key: from the primary, or, while
// the primary is down, from the fallback, marking the request degraded
// (backends.MarkDegraded). A record served by the fallback has
// FallbackVersion set in its version. A key deleted or renewed away during
// the outage is reported absent without marking the request, so the
// manager starts a new session under a new ID.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	if err := s.begin(ctx, "load"); err != nil {
		return backends.Record{}, false, err
	}
	if s.usePrimary() {
		var rec backends.Record
		var found bool
		var gen uint64
		fo, err := s.onPrimary(ctx, func(c context.Context) error {
			// Taken after the key's pending entry was replayed (which
			// drops the copy): a drop after this point means the read
			// below may be stale.
			gen = s.copies.generation()
			var e error
			rec, found, e = s.primary.Load(c, key)
			return e
		}, key)
		if !fo {
			switch {
			case err != nil:
			case found:
				s.copies.put(key, rec, gen)
			default:
				s.copies.drop(key)
			}
			return rec, found, err
		}
	}
	s.cfg.observer.FailedOver("load")
	rec, found, err := s.fallback.Load(ctx, key)
	if err != nil {
		return backends.Record{}, false, err
	}
	switch {
	case found:
		rec.Version = s.fbVersion(key, rec.Version, false)
	case s.isGone(key):
		return backends.Record{}, false, nil
	default:
		// The last known copy of the primary's record: served, marked
		// stale, so that the session's first write moves it to a new key
		// built on the primary's record when it is back.
		if rec, found = s.copies.get(key, time.Now()); found {
			backends.MarkStale(ctx)
		}
	}
	backends.MarkDegraded(ctx)
	return rec, found, nil
}

// Save stores blob under key with compare-and-set on the version (see
// backends.Store). While the primary is down it is saved to the fallback
// and journaled: replay writes the blob to the primary only if the primary
// has no record of key. The session manager saves with SaveChanges, whose
// change sets are merged onto the primary's record instead.
//
// Versions of the two stores never mix: an expected version of the other
// store than the one serving conflicts, so the caller reloads and merges.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	return s.SaveChanges(ctx, key, blob, expiry, expected, changeset.Write{})
}

// SaveChanges is Save with the change set that the write applies, which
// the journal keeps, compacted per key, to merge onto the primary's record
// after an outage. It is used by the session manager.
func (s *Store) SaveChanges(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64, w changeset.Write) (uint64, error) {
	if err := s.begin(ctx, "save"); err != nil {
		return 0, err
	}
	if s.usePrimary() {
		var v, gen uint64
		sent := false
		fo, err := s.onPrimary(ctx, func(c context.Context) error {
			if expected&FallbackVersion != 0 {
				return opError("save", backends.ErrConflict)
			}
			gen = s.copies.generation() // after the key's replay, as in Load
			sent = true
			var e error
			v, e = s.primary.Save(c, key, blob, expiry, expected)
			return e
		}, key)
		if !fo {
			switch {
			case err == nil && v != 0:
				s.copies.put(key, backends.Record{Blob: blob, Version: v, Expiry: expiry}, gen)
			case sent:
				s.copies.drop(key)
			}
			// Otherwise the primary was not asked (a version of the
			// fallback's copy, replayed since, conflicts here): the copy
			// is as current as it was, and the caller's reload may need
			// it if the primary fails again.
			return v, err
		}
		// The primary failed: the save may still reach it later (a
		// command that timed out on the client may run on the server).
		if expected == 0 {
			// A create that may still land could bring the ID back after
			// a logout: the ID is burned, and the caller draws another.
			return 0, opError("save", fmt.Errorf("%w: the creation's outcome is unknown", backends.ErrConflict))
		}
		// A change set journaled for an existing record merges onto
		// whatever the primary holds then.
	}
	return s.saveFallback(ctx, key, blob, expiry, expected, w)
}

func (s *Store) saveFallback(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64, w changeset.Write) (uint64, error) {
	s.cfg.observer.FailedOver("save")
	newEntry := !s.hasEntry(key)
	e := s.lockEntry(key)
	defer s.release(e)
	if s.isMoved(key) || (e.gone && expected != 0) {
		// Renewed away or deleted during the outage: the key is never
		// written again, whatever the caller expects.
		return 0, opError("save", backends.ErrConflict)
	}
	var want uint64
	if expected != 0 {
		// A version of the fallback's copy is compared with it. A version
		// of the primary's record conflicts with a copy of the fallback
		// (the caller reloads and merges); where the fallback has none,
		// the session is created there and its change set later merged
		// onto the primary's record.
		_, found, err := s.fallback.Load(ctx, key)
		if err != nil {
			return 0, err
		}
		fv, ok := s.fbExpected(key, expected)
		switch {
		case found && ok:
			want = fv
		case found || expected&FallbackVersion != 0 || !s.copies.vouches(key, expected):
			// A version of the primary is taken only while this store's
			// copy vouches for it: the record may have been deleted since.
			return 0, opError("save", backends.ErrConflict)
		}
	}
	if err := s.reserve(ctx, "save", e.growth(&w, blob), newEntry); err != nil {
		return 0, err
	}
	v, err := s.fallback.Save(ctx, key, blob, expiry, want)
	if err != nil {
		return 0, err
	}
	s.copies.drop(key) // the fallback's copy is the session's now
	backends.MarkDegraded(ctx)
	if v == 0 {
		// An expiry in the past deleted the record.
		e.addTombstone(time.Time{})
		return 0, nil
	}
	e.addChanges(&w, blob, expiry)
	return s.fbVersion(key, v, want == 0), nil
}

// Versions of the fallback's copies: FallbackVersion, the copy's
// incarnation (bits 32 to 61: a number drawn when the copy was created,
// never reused) and the fallback's own version (bits 0 to 31). A copy
// deleted (replayed) and created again in a later outage starts at the
// fallback's version 1 again: the incarnation keeps a request that loaded
// the earlier copy from writing over the later one.
const (
	incShift = 32
	incMask  = 1<<30 - 1
	verMask  = 1<<incShift - 1
)

// fbVersion returns the version callers see of key's fallback copy at the
// fallback's version v; created draws a new incarnation.
func (s *Store) fbVersion(key string, v uint64, created bool) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.inc[key]
	if created || !ok {
		s.incSeq++
		inc = s.incSeq & incMask
		s.inc[key] = inc
	}
	return FallbackVersion | inc<<incShift | v&verMask
}

// fbExpected returns the fallback's version that a caller's expected
// version of key's fallback copy stands for, and false when expected is
// not a version of the copy that exists now.
func (s *Store) fbExpected(key string, expected uint64) (uint64, bool) {
	if expected&FallbackVersion == 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.inc[key]
	if !ok || (expected>>incShift)&incMask != inc {
		return 0, false
	}
	return expected & verMask, true
}

// forgetIncarnation drops key's incarnation once its fallback copy is gone.
func (s *Store) forgetIncarnation(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.inc, k)
	}
}

// Touch extends the expiry of an existing record. While the primary is down
// the fallback's record is extended and the latest expiry journaled; replay
// extends the primary's record to it (never shortening it). Beyond the
// journal's bounds a touch is served but not journaled: it only costs the
// session some idle time.
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	if err := s.begin(ctx, "touch"); err != nil {
		return err
	}
	if s.usePrimary() {
		fo, err := s.onPrimary(ctx, func(c context.Context) error { return s.primary.Touch(c, key, expiry) }, key)
		if !fo {
			if err == nil {
				s.copies.touch(key, expiry)
			}
			return err
		}
	}
	s.cfg.observer.FailedOver("touch")
	if expiry.IsZero() {
		return opError("touch", backends.ErrNoExpiry)
	}
	if !s.hasEntry(key) && !s.roomFor(200) {
		err := s.fallback.Touch(ctx, key, expiry)
		if err == nil {
			backends.MarkDegraded(ctx)
		}
		return err
	}
	e := s.lockEntry(key)
	defer s.release(e)
	if err := s.fallback.Touch(ctx, key, expiry); err != nil {
		return err
	}
	backends.MarkDegraded(ctx)
	if !e.gone && expiry.After(e.touch) {
		e.touch = expiry
	}
	return nil
}

// Delete removes the record. While the primary is down it is removed from
// the fallback and a tombstone journaled: recovery deletes the primary's
// record before the circuit closes. The tombstone is kept until the
// longest session it could shadow would have ended (see DeleteUntil).
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.DeleteUntil(ctx, key, time.Time{})
}

// DeleteUntil is Delete for a record known to be dead after until (its
// absolute deadline): a tombstone journaled for it is forgotten after
// until. A zero until means the longest lifetime a session can have. It is
// used by the session manager.
func (s *Store) DeleteUntil(ctx context.Context, key string, until time.Time) error {
	if err := s.begin(ctx, "delete"); err != nil {
		return err
	}
	s.forgetCopy(key)
	// The replay of a pending entry (settle) writes a fresh copy: it goes
	// with the record.
	defer s.copies.drop(key)
	if s.usePrimary() {
		fo, err := s.onPrimary(ctx, func(c context.Context) error { return s.primary.Delete(c, key) }, key)
		if !fo {
			return err
		}
	}
	s.cfg.observer.FailedOver("delete")
	if s.isMoved(key) {
		// Renewed away during the outage: its move deletes it.
		backends.MarkDegraded(ctx)
		return nil
	}
	newEntry := !s.hasEntry(key)
	e := s.lockEntry(key)
	defer s.release(e)
	if newEntry {
		if err := s.reserve(ctx, "delete", 200, true); err != nil {
			return err
		}
	}
	if err := s.fallback.Delete(ctx, key); err != nil {
		return err
	}
	s.forgetIncarnation(key)
	backends.MarkDegraded(ctx)
	e.addTombstone(until)
	return nil
}

// Renew replaces oldKey by newKey (see backends.Renewer), with the
// primary's Renew, or step by step for a primary without one. While the
// primary is down it is renewed in the fallback and journaled as a move:
// on recovery the session is built under newKey on the primary's record of
// newKey if there is one (the renewal timed out on the client but ran on
// the server), else on the newest live record of the keys it was renewed
// from, else from the outage's changes alone; only then are the old keys
// deleted on the primary and removed from userID's index. Until then
// oldKey is reported absent (during the outage) or replays the move first
// (after it), so the old ID never reaches the data again. A deletion of
// newKey during the outage supersedes the move: the old keys are then only
// deleted.
//
// oldVersion is compared with the version of the store that serves. The
// fallback accepts a version of the primary's record (or 0, for a session
// whose load the primary could not answer) when it holds no copy of
// oldKey, and conflicts when oldKey was deleted or renewed away during the
// outage: a renewal must never bring back a record a logout deleted.
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	return s.RenewChanges(ctx, oldKey, oldVersion, newKey, blob, expiry, userID, deadline, changeset.Write{})
}

// RenewChanges is Renew with the change set that the renewal applies, as
// SaveChanges. It is used by the session manager.
func (s *Store) RenewChanges(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time, w changeset.Write) error {
	if err := s.begin(ctx, "renew"); err != nil {
		return err
	}
	if oldKey == newKey {
		return opError("renew", fmt.Errorf("%w: old and new key are the same", backends.ErrConflict))
	}
	if s.usePrimary() {
		sent := false
		var gen uint64
		fo, err := s.onPrimary(ctx, func(c context.Context) error {
			if oldVersion&FallbackVersion != 0 {
				return opError("renew", backends.ErrConflict)
			}
			gen = s.copies.generation() // after the keys' replay, as in Load
			sent = true
			return changeset.Renew(c, s.primary, oldKey, oldVersion, newKey, blob, expiry, userID, deadline)
		}, oldKey, newKey)
		if fo && err != nil && sent {
			// Timed out or failed: the primary may still carry it out.
			// (A renewal that never left, because replaying the keys'
			// journal failed first, cannot.)
			s.noteUnsure(oldKey, newKey, userID, oldVersion == 0)
			if oldVersion == 0 {
				// Carried out late, a renewal of a record that must not
				// exist creates newKey whenever it lands, even after the
				// session left it: newKey is burned, the caller draws
				// another.
				return opError("renew", fmt.Errorf("%w: the renewal's outcome is unknown", backends.ErrConflict))
			}
		}
		if !fo {
			// A renewal the primary was not asked for (a version of the
			// fallback's copy conflicts before it is sent) leaves the
			// copy as it is, as in SaveChanges.
			if sent {
				s.copies.drop(oldKey)
			}
			if err == nil {
				s.copies.put(newKey, backends.Record{Blob: blob, Version: 1, Expiry: expiry}, gen)
			}
			return err
		}
	}
	s.cfg.observer.FailedOver("renew")
	first, second := oldKey, newKey
	if second < first {
		first, second = second, first
	}
	newEntries := 0
	for _, k := range []string{first, second} {
		if !s.hasEntry(k) {
			newEntries++
		}
	}
	e1 := s.lockEntry(first)
	defer s.release(e1)
	e2 := s.lockEntry(second)
	defer s.release(e2)
	oldE, newE := e1, e2
	if oldE.key != oldKey {
		oldE, newE = e2, e1
	}
	if oldE.gone || s.isMoved(oldKey) || newE.gone || !newE.empty() {
		return opError("renew", backends.ErrConflict)
	}
	rec, found, err := s.fallback.Load(ctx, oldKey)
	if err != nil {
		return err
	}
	switch {
	case found:
		if fv, ok := s.fbExpected(oldKey, oldVersion); !ok || fv != rec.Version {
			return opError("renew", backends.ErrConflict)
		}
	case !found && oldVersion&FallbackVersion != 0:
		return opError("renew", backends.ErrConflict)
	case !found && oldVersion != 0 && !s.copies.vouches(oldKey, oldVersion):
		// A version of the primary is taken only while this store's copy
		// vouches for it; 0 (unknown) is always taken: the move is then
		// built on the primary's record if it is alive.
		return opError("renew", backends.ErrConflict)
	}
	grow := len(oldKey) + 64
	if w.Set != nil {
		grow += w.Set.Size()
	} else {
		grow += len(blob)
	}
	if err := s.reserve(ctx, "renew", grow, newEntries > 0); err != nil {
		return err
	}
	s.copies.drop(oldKey, newKey)
	if found {
		err = changeset.Renew(ctx, s.fallback, oldKey, rec.Version, newKey, blob, expiry, userID, deadline)
	} else {
		err = changeset.Renew(ctx, s.fallback, oldKey, 0, newKey, blob, expiry, userID, deadline)
	}
	if err != nil {
		return err
	}
	s.forgetIncarnation(oldKey)
	backends.MarkDegraded(ctx)
	if w.Set == nil {
		// Without a change set the new record is written as it is.
		newE.blob, newE.blobExp = append([]byte(nil), blob...), expiry
	}
	s.addMove(oldE, newE, userID, &w, expiry)
	if userID != "" {
		newE.setUser(userID, userChange{add: true, deadline: deadline})
	}
	return nil
}

func (e *entry) setUser(userID string, c userChange) {
	if e.users == nil {
		e.users = make(map[string]userChange)
	}
	e.users[userID] = c
}

// forgetCopy drops key's copy under its journal entry's lock: a save to
// the fallback that the copy vouched for is journaled before (and so
// replayed before the record's deletion on the primary), and none is
// vouched for after.
func (s *Store) forgetCopy(key string) {
	e := s.lockEntry(key)
	s.copies.drop(key)
	s.release(e)
}

// FailingOver reports whether operations go to the fallback without asking
// the primary right now (the circuit is open).
func (s *Store) FailingOver() bool { return s.State() == StateOpen }

// AddUserKey records that key belongs to userID (see backends.UserIndex).
// While the primary is down the fallback's index gets the entry and the
// journal the addition, replayed after the key's change sets.
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	return s.userOp(ctx, "add_user_key", userID, key, userChange{add: true, deadline: deadline},
		func(c context.Context, ui backends.UserIndex) error { return ui.AddUserKey(c, userID, key, deadline) })
}

// RemoveUserKey forgets key for userID (see backends.UserIndex). While the
// primary is down the removal is journaled as a tombstone, applied before
// the circuit closes.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	return s.userOp(ctx, "remove_user_key", userID, key, userChange{},
		func(c context.Context, ui backends.UserIndex) error { return ui.RemoveUserKey(c, userID, key) })
}

func (s *Store) userOp(ctx context.Context, op, userID, key string, uc userChange, fn func(context.Context, backends.UserIndex) error) error {
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	pui, ok := s.primary.(backends.UserIndex)
	if !ok {
		return unsupported(op, "UserIndex")
	}
	if s.usePrimary() {
		fo, err := s.onPrimary(ctx, func(c context.Context) error { return fn(c, pui) }, key)
		if !fo {
			return err
		}
	}
	s.cfg.observer.FailedOver(op)
	if s.isMoved(key) {
		// Renewed away during the outage: its move removes it from the
		// index of its user and of the user its primary record names.
		if err := fn(ctx, s.fallback.(backends.UserIndex)); err != nil {
			return err
		}
		backends.MarkDegraded(ctx)
		return nil
	}
	newEntry := !s.hasEntry(key)
	e := s.lockEntry(key)
	defer s.release(e)
	if err := s.reserve(ctx, op, 64+len(userID), newEntry); err != nil {
		return err
	}
	if err := fn(ctx, s.fallback.(backends.UserIndex)); err != nil {
		return err
	}
	backends.MarkDegraded(ctx)
	e.setUser(userID, uc)
	return nil
}

// LimitUserKeys enforces a per-user session limit on the primary in one
// atomic step (see backends.UserLimiter). It fails with an error matching
// errors.ErrUnsupported when the primary is not a backends.UserLimiter,
// and, like UserKeys, with one matching backends.ErrUnavailable while the
// primary is down: the limit is then not enforced.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	if err := s.begin(ctx, "limit_user_keys"); err != nil {
		return nil, err
	}
	ul, ok := s.primary.(backends.UserLimiter)
	if !ok {
		return nil, unsupported("limit_user_keys", "UserLimiter")
	}
	if !s.usePrimary() {
		return nil, opError("limit_user_keys", backends.Unavailable(ErrOpen))
	}
	// Sessions of the user still pending replay count: replay them first.
	if err := s.settleUser(ctx, userID); err != nil {
		s.result(ctx, err)
		return nil, err
	}
	var keys []string
	err := s.do(ctx, func(c context.Context) error {
		var e error
		keys, e = ul.LimitUserKeys(c, userID, keep, max)
		return e
	})
	s.copies.drop(keys...)
	s.result(ctx, err)
	return keys, err
}

// UserKeys returns the keys of userID's sessions (see backends.UserIndex).
// Only the primary knows all of them, so while it is down UserKeys fails
// with an error matching backends.ErrUnavailable (and ErrOpen when the
// circuit is open) rather than return a partial list: revoking "all"
// sessions of a user from a partial list would leave the others alive.
// While the journal is replayed, the keys of pending sessions are added
// and those deleted during the outage left out.
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	if err := s.begin(ctx, "user_keys"); err != nil {
		return nil, err
	}
	pui, ok := s.primary.(backends.UserIndex)
	if !ok {
		return nil, unsupported("user_keys", "UserIndex")
	}
	if !s.usePrimary() {
		return nil, opError("user_keys", backends.Unavailable(ErrOpen))
	}
	// A session replayed while the primary's index is read can be in
	// neither list: indexed on the primary after the read, out of the
	// journal before the journal is looked at. The list is read again
	// when an entry left the journal meanwhile; after the last attempt,
	// the keys of every attempt are returned (a key too many costs its
	// caller a load; a key missing, a session that "log out everywhere"
	// leaves alive).
	var all []string // the keys of every attempt
	inAll := make(map[string]bool)
	for attempt := 0; ; attempt++ {
		gen := s.removals()
		var keys []string
		err := s.do(ctx, func(c context.Context) error {
			var e error
			keys, e = pui.UserKeys(c, userID)
			return e
		})
		s.result(ctx, err)
		if err != nil {
			return nil, err
		}
		if attempt == 0 && s.pending.Load() == 0 && s.removals() == gen {
			return keys, nil // nothing pending before or during the read
		}
		fkeys, err := s.fallback.(backends.UserIndex).UserKeys(ctx, userID)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(keys)+len(fkeys))
		seen := make(map[string]bool, len(keys)+len(fkeys))
		for _, k := range keys {
			if _, removed := s.pendingFor(k, userID); !removed && !seen[k] {
				out = append(out, k)
				seen[k] = true
			}
		}
		for _, k := range fkeys {
			if pending, removed := s.pendingFor(k, userID); pending && !removed && !seen[k] {
				out = append(out, k)
				seen[k] = true
			}
		}
		if s.removals() == gen {
			return out, nil
		}
		for _, k := range out {
			if !inAll[k] {
				all = append(all, k)
				inAll[k] = true
			}
		}
		if attempt == userKeysAttempts-1 {
			return all, nil
		}
	}
}

// userKeysAttempts bounds how often UserKeys reads the index again because
// the journal changed under it.
const userKeysAttempts = 4

// pendingFor reports whether key has a journal entry (or a pending move),
// and whether that entry deletes the key or removes it from userID's index
// (a move deletes it).
func (s *Store) pendingFor(key, userID string) (pending, removed bool) {
	s.mu.Lock()
	e := s.journal[key]
	_, moved := s.moved[key]
	s.mu.Unlock()
	if moved {
		return true, true
	}
	if e == nil {
		return false, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dead {
		return false, false
	}
	uc, ok := e.users[userID]
	return true, e.gone || (ok && !uc.add)
}

// Keys calls fn for each live key of the primary (see backends.Iterator),
// then for the keys whose sessions were created during the outage and are
// still pending replay; keys deleted or renewed away during the outage
// are left out. It is not capped by the operation timeout (iteration may
// take long): ctx bounds it. While the circuit is open it fails with ErrOpen.
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	if err := s.begin(ctx, "keys"); err != nil {
		return err
	}
	it, ok := s.primary.(backends.Iterator)
	if !ok {
		return unsupported("keys", "Iterator")
	}
	if !s.usePrimary() {
		return opError("keys", backends.Unavailable(ErrOpen))
	}
	live, gone := map[string]bool{}, map[string]bool{}
	for _, e := range s.snapshot() {
		e.mu.Lock()
		for _, o := range e.olds {
			if !e.dead {
				gone[o.key] = true
			}
		}
		switch {
		case e.dead:
		case e.gone:
			gone[e.key] = true
		case e.cs != nil || e.blob != nil:
			live[e.key] = true
		}
		e.mu.Unlock()
	}
	stopped := false
	err := it.Keys(ctx, func(k string) bool {
		if gone[k] {
			return true
		}
		delete(live, k)
		if !fn(k) {
			stopped = true
			return false
		}
		return true
	})
	s.result(ctx, err)
	if err != nil || stopped {
		return err
	}
	for k := range live {
		if !fn(k) {
			return nil
		}
	}
	return nil
}

// Count returns the primary's count of records (see backends.Counter).
// Sessions created during the outage and still pending replay are not
// included. While the circuit is open it fails with ErrOpen.
func (s *Store) Count(ctx context.Context) (int, error) {
	if err := s.begin(ctx, "count"); err != nil {
		return 0, err
	}
	c, ok := s.primary.(backends.Counter)
	if !ok {
		return 0, unsupported("count", "Counter")
	}
	if !s.usePrimary() {
		return 0, opError("count", backends.Unavailable(ErrOpen))
	}
	n, err := c.Count(ctx)
	s.result(ctx, err)
	return n, err
}

// Ping reports the primary's health: its Ping (or, for a primary that is
// not a backends.Pinger, a Load of an unused key), capped by the timeout.
// It asks the primary whatever the breaker's state and does not feed the
// breaker; Status reports the background probe's last result without
// asking.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx, "ping"); err != nil {
		return err
	}
	return s.do(ctx, s.ping)
}
