package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/changeset"
)

// The commit engine: how a session's change set reaches the store.
//
// A save is a compare-and-set on the version the request loaded. When it
// loses, rebase reloads the record, re-applies the change set to it, and
// the save is tried again: the request then holds the merged record. A
// renewal replaces the old record by one under a fresh ID in one store
// operation that fails, changing nothing, when the old record changed. A
// session whose primary state is unknown (baseUnknown) never writes under
// its ID: its first write is such a replacement, which the store builds on
// the old record if that is alive. A record that is gone (logged out,
// revoked, renewed away, expired) is never written again: the change set
// then starts a new anonymous session under a fresh ID.

// errNothingToSave ends a commit whose record vanished and whose change set
// is empty: there is nothing to carry to a new session.
var errNothingToSave = errors.New("session: nothing to save")

// commit saves the session. Callers hold s.mu.
func (s *Session) commit() error {
	if !s.loaded || s.hijacked || s.loadErr != nil {
		return nil // nothing loaded, or the handler saw the load error
	}
	m := s.m
	ctx := s.context()
	now := m.now()
	if s.destroyed {
		return s.commitDestroy(ctx)
	}
	exp := s.expiryAt(now)
	if !exp.After(now) {
		// The session reached its deadline while the request ran: it
		// ends here and nothing is written without an expiry.
		s.destroyed = true
		return s.commitDestroy(ctx)
	}
	if done, err := s.rotate(ctx, now); done || err != nil { // rotation.go
		return err
	}
	if !s.dirty() {
		s.commitTouch(ctx, exp)
		return nil
	}
	if s.base == baseUnknown && s.oldKey == "" {
		s.oldKey = s.key
		s.newID()
	}
	s.ensureID()
	err := s.write(ctx)
	if errors.Is(err, errNothingToSave) {
		// The session ended under this request (logged out elsewhere, or
		// expired) and the request changed nothing to carry over.
		s.destroyed = true
		s.changes.Reset()
		s.renewed, s.base, s.oldKey = false, baseNone, ""
		clear(s.data.Values)
		s.data.UserID = ""
		s.writeHeaders(false)
		if s.hadToken && !s.sent {
			s.expireToken()
		}
		return nil
	}
	if err != nil {
		return err
	}
	created := s.base == baseNone && s.oldKey == ""
	renewed := s.oldKey != ""
	// The record is stored: from here on nothing may cost the request its
	// cookie. User index upkeep is logged when it fails.
	s.writeHeaders(created || renewed || s.data.Persistent || m.cookieLifetime > 0)
	if err := s.updateUserIndex(ctx, renewed, created); err != nil {
		m.logger.WarnContext(ctx, "session: updating the user index failed", "error", err)
	}
	s.base = baseStored
	s.changes.Reset()
	s.renewed, s.oldKey = false, ""
	switch {
	case created:
		m.event(s, EventCreated)
	case renewed:
		m.event(s, EventRenewed)
	}
	return nil
}

// commitTouch extends the idle deadline of an unchanged session, at most
// once per touch interval. It is best effort: a failure costs the session
// some idle time, not the request.
func (s *Session) commitTouch(ctx context.Context, exp time.Time) {
	m := s.m
	touched := false
	if s.base == baseStored && exp.After(s.expiry) && exp.Sub(s.expiry) >= s.touchInterval() {
		if err := m.touch(ctx, s.key, exp); err != nil {
			m.logger.WarnContext(ctx, "session: extending the idle deadline failed", "error", err)
		} else {
			s.expiry, touched = exp, true
		}
	}
	// A cookie with its own Max-Age slides along with the record.
	s.writeHeaders(touched && m.cookieLifetime > 0)
}

// touchInterval is the manager's touch interval, capped at half the
// session's idle timeout so that an active session is always extended
// before it ends.
func (s *Session) touchInterval() time.Duration {
	return min(s.m.touchInterval, s.idleTimeout()/2)
}

func (s *Session) idleTimeout() time.Duration {
	if s.data.IdleTimeout > 0 {
		return s.data.IdleTimeout
	}
	return s.m.idle
}

// expiryAt returns the record's expiry if it is saved at now: the idle
// deadline, capped by the absolute deadline.
func (s *Session) expiryAt(now time.Time) time.Time {
	exp := now.Add(s.idleTimeout())
	if exp.After(s.data.Deadline) {
		exp = s.data.Deadline
	}
	return exp
}

// write stores the session: a compare-and-set save, or a renewal when
// s.oldKey is set, rebased and retried while it loses against concurrent
// writers.
func (s *Session) write(ctx context.Context) error {
	m := s.m
	for attempt := 0; ; attempt++ {
		now := m.now()
		exp := s.expiryAt(now)
		if !exp.After(now) {
			return errNothingToSave
		}
		s.stampMetadata(now) // devices.go
		blob, err := s.encode()
		if err != nil {
			return err
		}
		w := changeset.Write{Set: &s.changes, Replayer: replayer{m}}
		if s.base == baseNone && s.changes.Created.IsZero() {
			s.changes.Created = s.data.Created
		}
		if s.oldKey != "" {
			// A renewal of a record in an unknown state does not index
			// the new key itself: carried out late on the primary after
			// the session took another ID, it would leave a phantom
			// session in the user's list. The commit indexes it after.
			user := s.data.UserID
			s.indexAfterRenew = s.version == 0
			if s.indexAfterRenew {
				user = ""
			}
			err = m.renew(ctx, s.oldKey, s.version, s.key, blob, exp, user, s.data.Deadline, w)
			if err == nil {
				s.version = 1
			}
		} else {
			var v uint64
			v, err = m.save(ctx, s.key, blob, exp, s.version, w)
			if err == nil {
				s.version = v
			}
		}
		if err == nil {
			s.expiry = exp
			return nil
		}
		if !backends.IsConflict(err) {
			return err
		}
		if attempt == maxCommitAttempts {
			return fmt.Errorf("session: save gave up after %d conflicting writers: %w", attempt, err)
		}
		if err := conflictBackoff(ctx, attempt); err != nil {
			return wrapStore("save", err)
		}
		if err := s.rebase(ctx); err != nil {
			return err
		}
	}
}

// rebase reloads the record the session is built on after a lost
// compare-and-set and re-applies the change set to it, so that the request
// holds the merged record (data, metadata and version).
func (s *Session) rebase(ctx context.Context) error {
	m := s.m
	if s.base == baseNone && s.oldKey == "" {
		// A fresh random ID that is taken: draw another.
		s.newID()
		return nil
	}
	key := s.key
	if s.oldKey != "" {
		key = s.oldKey
	}
	// A report of its own tells whether this load was served by a
	// fallback: only then is a missing record no proof that it is gone.
	// The read goes around any near copy of the record: the copy lost.
	var rep backends.Report
	rec, found, err := m.loadRecord(backends.WithFreshRead(backends.WithReport(ctx, &rep)), key)
	if rep.Degraded() {
		backends.MarkDegraded(ctx)
	}
	invalid := errors.Is(err, backends.ErrInvalidRecord)
	if err != nil && !invalid {
		return err
	}
	var latest *codec.Data
	if found {
		if latest, err = m.codec.Decode(rec.Blob, []byte(key)); err != nil {
			return fmt.Errorf("session: merge with the stored record: %w", err)
		}
		if !alive(m.now(), rec, latest) {
			found = false
		}
	}
	if target, ok := aliasTarget(latest); found && ok { // rotated away meanwhile (rotation.go)
		if err := s.followAlias(key, target); err != nil {
			return err
		}
		return s.rebase(ctx)
	}
	switch {
	case found && rep.Stale():
		// A copy that may no longer be current: keep the session off its
		// ID, built on that copy for this request.
		s.data = *latest
		s.changes.Apply(&s.data)
		if s.oldKey == "" {
			s.oldKey = s.key
			s.newID()
		}
		s.base, s.version = baseUnknown, rec.Version
		s.loadedUID, s.loadedDeadline = latest.UserID, latest.Deadline
	case found:
		if s.oldKey != "" && s.base == baseStored && rec.Version == s.version {
			// The old record is unchanged, so the new ID was taken.
			s.newID()
			return nil
		}
		s.data = *latest
		s.changes.Apply(&s.data)
		s.version = rec.Version
		s.base = baseStored
		s.loadedUID, s.loadedDeadline = latest.UserID, latest.Deadline
	case !invalid && rep.Degraded():
		// The fallback answered: the primary's state of the record is
		// unknown (it may have been logged out since this request loaded
		// it). Never write under its ID again: move to a fresh one, which
		// holds this request's changes only until recovery builds it on
		// the primary's record, if that is alive.
		if s.oldKey == "" {
			s.oldKey = s.key
		}
		s.newID() // the ID tried may have been burned
		now := m.now()
		s.data = codec.Data{Created: now, Deadline: now.Add(m.lifetime)}
		s.changes.Apply(&s.data)
		s.base, s.version = baseUnknown, 0
		s.loadedUID, s.loadedDeadline = "", time.Time{}
	default:
		// Gone: logged out, revoked, renewed away or expired. Its ID never
		// serves data again; the change set starts a new session.
		if s.changes.Empty() {
			if s.oldKey != "" {
				s.oldKey = ""
			}
			return errNothingToSave
		}
		now := m.now()
		s.data = codec.Data{Created: now, Deadline: now.Add(m.lifetime)}
		s.changes.Created = now
		s.changes.Apply(&s.data)
		s.base, s.version, s.oldKey = baseNone, 0, ""
		s.loadedUID, s.loadedDeadline = "", time.Time{}
		s.newID()
	}
	return nil
}

func (s *Session) encode() ([]byte, error) {
	blob, err := s.m.codec.Encode(&s.data, []byte(s.key))
	if err != nil {
		if errors.Is(err, codec.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	if len(blob) > s.m.maxSize {
		return nil, fmt.Errorf("%w: encoded session is %d bytes, the maximum is %d", ErrTooLarge, len(blob), s.m.maxSize)
	}
	s.m.observer.Saved(len(blob))
	return blob, nil
}

// conflictBackoff waits a short random time, growing with attempt (up to
// about 64 ms), before a lost compare-and-set is tried again, so that many
// concurrent writers of one session spread out instead of colliding again.
func conflictBackoff(ctx context.Context, attempt int) error {
	limit := int64(time.Millisecond) << min(attempt, 6)
	t := time.NewTimer(time.Duration(rand.Int64N(limit)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// commitDestroy deletes the session's records (the current one and, for a
// session renewed in this request, the old one) and their user index
// entries, and expires the cookie.
func (s *Session) commitDestroy(ctx context.Context) error {
	m := s.m
	until := s.data.Deadline
	if s.base == baseUnknown {
		// The record's deadline is unknown: the longest a session lives.
		until = m.now().Add(MaxSessionLifetime)
	}
	for _, key := range []string{s.oldKey, s.key} {
		if key == "" || (key == s.key && s.base == baseNone) || (key == s.key && s.oldKey != "") {
			continue
		}
		if err := m.delete(ctx, key, until); err != nil {
			return err
		}
		if s.loadedUID != "" {
			if ui, ok := m.store.(backends.UserIndex); ok {
				if err := ui.RemoveUserKey(ctx, s.loadedUID, key); err != nil {
					return wrapStore("user index", err)
				}
			}
		}
	}
	wasStored := s.base != baseNone
	s.base, s.oldKey, s.renewed = baseNone, "", false
	s.changes.Reset()
	if wasStored {
		m.event(s, EventDestroyed)
	}
	if s.hadToken && !s.sent {
		s.expireToken()
	}
	s.writeHeaders(false)
	return nil
}

// updateUserIndex keeps the user index in step with a save: the entry
// follows the user binding, the ID and the deadline. A renewal moved the
// entry in the store already (Renew does).
func (s *Session) updateUserIndex(ctx context.Context, renewed, created bool) error {
	m := s.m
	user, deadline := s.data.UserID, s.data.Deadline
	defer func() { s.loadedUID, s.loadedDeadline = user, deadline }()
	ui, ok := m.store.(backends.UserIndex)
	if !ok {
		return nil
	}
	var errs []error
	if s.loadedUID != "" && s.loadedUID != user {
		old := s.key
		if renewed {
			old = s.oldKey
		}
		if err := ui.RemoveUserKey(ctx, s.loadedUID, old); err != nil {
			errs = append(errs, wrapStore("user index", err))
		}
	}
	if user == "" {
		return errors.Join(errs...)
	}
	if (renewed && s.indexAfterRenew) || (!renewed && (created || user != s.loadedUID || !deadline.Equal(s.loadedDeadline))) {
		if err := ui.AddUserKey(ctx, user, s.key, deadline); err != nil {
			errs = append(errs, wrapStore("user index", err))
		}
	}
	if user != s.loadedUID && m.maxPerUser > 0 {
		if err := m.enforceUserLimit(ctx, user, s.key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
