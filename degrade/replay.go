package degrade

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/sessionkit/session/backends"
)

// Replay: how the journal reaches the primary after an outage.

// failed reports whether err, from a call to the primary during replay,
// must stop the replay (an outage, or the caller's context ended).
func failed(ctx context.Context, err error) bool {
	return err != nil && (outage(ctx, err) || ctx.Err() != nil)
}

// applyTombstones deletes e's key on the primary and removes its user index
// entries, if the journal says so, and, for a deleted key, the keys it was
// renewed from. Callers hold e.mu.
func (s *Store) applyTombstones(ctx context.Context, e *entry) error {
	if e.tomb {
		s.addUnsure(e)
		// The keys it was renewed from first: a renewal that timed out and
		// runs late then finds its old key gone, and cannot recreate the
		// key deleted next.
		if err := s.deleteOlds(ctx, e); err != nil {
			return err
		}
		if err := s.delete(ctx, e.key); err != nil {
			return err
		}
		e.tomb = false
	}
	ui, hasIndex := s.primary.(backends.UserIndex)
	for u, c := range e.users {
		if c.add {
			continue
		}
		if hasIndex {
			if err := s.do(ctx, func(c context.Context) error { return ui.RemoveUserKey(c, u, e.key) }); err != nil {
				return err
			}
		}
		delete(e.users, u)
	}
	return nil
}

// addUnsure adds to e the new keys of renewals of its keys that timed out
// on the primary: keys to delete, and, for a session renewed during the
// outage, bases to build on first, except the new keys of renewals that
// expected no record (they hold another request's changes, not the
// session). Callers hold e.mu.
func (s *Store) addUnsure(e *entry) {
	for _, u := range s.takeUnsure(e) {
		if e.lin != nil && !e.tomb && !u.fresh {
			e.bases = append(e.bases, u.key)
		}
		e.olds = append(e.olds, u)
		e.chain += chainBytes(u.key, u.user)
	}
}

// deleteOlds deletes on the primary the keys e's session was renewed from,
// and removes them from their user's index. e's own key is never one of
// them: a renewal of unknown outcome whose new key a later renewal of the
// session took after all (the first never reached the primary, or its
// late run is built on) holds the session. Callers hold e.mu.
func (s *Store) deleteOlds(ctx context.Context, e *entry) error {
	ui, hasIndex := s.primary.(backends.UserIndex)
	for len(e.olds) > 0 {
		o := e.olds[0]
		if o.key != e.key {
			if err := s.delete(ctx, o.key); err != nil {
				return err
			}
			for _, u := range []string{o.user, o.base} {
				if !hasIndex || u == "" || (u == o.base && o.base == o.user) {
					continue
				}
				if err := s.do(ctx, func(c context.Context) error { return ui.RemoveUserKey(c, u, o.key) }); err != nil {
					return err
				}
			}
		}
		s.mu.Lock()
		if l := s.moved[o.key]; l != nil && l == e.lin {
			delete(s.moved, o.key)
		}
		s.mu.Unlock()
		e.chain -= chainBytes(o.key, o.user)
		e.olds[0] = oldKey{}
		e.olds = e.olds[1:]
	}
	e.bases, e.chain = nil, 0
	return nil
}

// delete deletes key on the primary.
func (s *Store) delete(ctx context.Context, key string) error {
	return s.do(ctx, func(c context.Context) error { return s.primary.Delete(c, key) })
}

// replay applies e to the primary, in order: the deletion and user index
// removals; the change set, merged onto the primary's record (or, for a
// key without one, onto the newest live key the session was renewed from);
// the deletion of those keys; the user index additions and the touch. Then
// it deletes the fallback's copy and takes e out of the journal. What was
// applied is removed from e as it goes, so a replay cut short by an outage
// resumes where it stopped, and applying a part twice is harmless. Callers
// hold e.mu.
func (s *Store) replay(ctx context.Context, e *entry) error {
	// The keys the session was renewed from are deleted: their copies go.
	for _, o := range e.olds {
		s.copies.drop(o.key)
	}
	// e's key is rewritten or deleted only while the entry holds a
	// tombstone, a change set or a blob: its copy of before is stale then,
	// and the change set's replay puts the record it writes. An entry
	// left with a touch and user index changes (one whose change set an
	// earlier replay applied before an outage cut it short, or one that
	// only touched the session) leaves the record as it is: its copy, the
	// session as this process last knew it, stays for the next outage.
	if e.tomb || e.cs != nil || e.blob != nil {
		s.copies.drop(e.key)
	}
	gen := s.copies.generation()
	if err := s.applyTombstones(ctx, e); err != nil {
		return err
	}
	p := stagedView{primaryView{s}, e}
	n := 0
	// Renewals of this session's keys that timed out may have been carried
	// out on the primary: their new keys may hold the session. They are
	// tried as bases first, then deleted with the old keys.
	s.addUnsure(e)
	if e.ended(time.Now()) {
		// The session expired during the outage: its changes end with it.
		e.cs, e.blob = nil, nil
	}
	switch {
	case e.cs != nil:
		bases := make([]string, len(e.bases))
		for i, b := range e.bases {
			bases[len(bases)-1-i] = b
		}
		res, err := e.rp.Replay(ctx, p, e.key, bases, e.cs)
		if failed(ctx, err) {
			return err
		}
		if err != nil {
			s.giveUp(ctx, err)
		}
		if res.Record.Version != 0 {
			// The session's current record: a copy for the next outage.
			s.copies.put(e.key, res.Record, gen)
		}
		// The user index follows the record as built: its user gets the
		// key, and the keys it was renewed from leave the base's user.
		if res.User != "" {
			if uc, ok := e.users[res.User]; !ok || uc.add {
				e.setUser(res.User, userChange{add: true, deadline: res.Deadline})
			}
		}
		if res.BaseUser != "" {
			for i := range e.olds {
				e.olds[i].base = res.BaseUser
			}
		}
		e.cs, n = nil, 1
	case e.blob != nil:
		// Without a change set the write cannot be merged: the blob is
		// written only if the primary has no record, which then wins.
		_, err := p.Save(ctx, e.key, e.blob, e.blobExp, 0)
		if backends.IsConflict(err) {
			err = nil
		}
		if failed(ctx, err) {
			return err
		}
		if err != nil {
			s.giveUp(ctx, err)
		}
		e.blob, n = nil, 1
	}
	if err := s.deleteOlds(ctx, e); err != nil {
		return err
	}
	if ui, ok := s.primary.(backends.UserIndex); ok {
		for u, c := range e.users {
			err := s.do(ctx, func(ctx context.Context) error { return ui.AddUserKey(ctx, u, e.key, c.deadline) })
			if failed(ctx, err) {
				return err
			}
			if err != nil {
				s.giveUp(ctx, err)
			}
			delete(e.users, u)
		}
	}
	clear(e.users)
	if !e.touch.IsZero() {
		found, err := s.extend(ctx, e.key, e.touch)
		if failed(ctx, err) {
			return err
		}
		if err == nil && !found {
			// Gone on the primary (deleted elsewhere, or expired): so is
			// what this process knew of it.
			s.copies.drop(e.key)
		}
		e.touch = time.Time{}
	}
	// The primary holds the session now. The fallback's copy goes, even if
	// the caller's context ends right here: a stale copy would be served
	// again in the next outage.
	s.forgetIncarnation(e.key)
	if err := s.fallback.Delete(context.WithoutCancel(ctx), e.key); err != nil {
		s.cfg.logger.WarnContext(ctx, "session store: removing a replayed session from the fallback failed", "error", err.Error())
	}
	s.remove(e)
	s.cfg.observer.Replayed(n)
	return nil
}

// extend sets the primary record's expiry to exp if it is earlier: a touch
// never shortens a session that another writer extended further. It
// reports whether the primary has a record of key.
func (s *Store) extend(ctx context.Context, key string, exp time.Time) (found bool, err error) {
	p := primaryView{s}
	rec, found, err := p.Load(backends.WithFreshRead(ctx), key) // not a near copy: it may be behind
	if err != nil || !found || !rec.Expiry.Before(exp) {
		return found, err
	}
	return true, p.Touch(ctx, key, exp)
}

func (s *Store) giveUp(ctx context.Context, err error) {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
	s.cfg.logger.ErrorContext(ctx, "session store: a change made during the outage could not be replayed and is lost", "error", err.Error())
	s.cfg.observer.ReplayFailed(err)
}

// drain replays the journal, oldest entry first, until it is empty, the
// circuit opens, an outage stops it or ctx ends. With limit it replays at
// most cfg.replayRate entries a second.
func (s *Store) drain(ctx context.Context, limit bool) error {
	var tick <-chan time.Time
	if limit {
		t := time.NewTicker(time.Second / time.Duration(s.cfg.replayRate))
		defer t.Stop()
		tick = t.C
	}
	for {
		if s.State() == StateOpen {
			return opError("replay", backends.Unavailable(ErrOpen))
		}
		s.mu.Lock()
		front := s.queue.Front()
		s.mu.Unlock()
		if front == nil {
			return nil
		}
		if tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick:
			}
			if s.State() == StateOpen {
				return opError("replay", backends.Unavailable(ErrOpen))
			}
		}
		e := front.Value.(*entry)
		e.mu.Lock()
		var err error
		if !e.dead {
			err = s.replay(ctx, e)
			if err != nil && !outage(ctx, err) && ctx.Err() == nil {
				// Not an outage, and not going to get better: give the
				// entry up rather than block the journal behind it.
				s.giveUp(ctx, err)
				s.remove(e)
				err = nil
			}
		}
		e.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.result(ctx, err)
			return err
		}
	}
}

// Drain replays every journaled write onto the primary now, without the
// rate limit, and returns when the journal is empty. Call it before Close
// in a graceful shutdown: writes still journaled at Close are lost. It
// fails with an error matching backends.ErrUnavailable while the circuit is
// open or when the primary fails during the replay, and with ctx.Err()
// when ctx ends.
func (s *Store) Drain(ctx context.Context) error {
	if s.closed.Load() {
		return opError("drain", backends.ErrClosed)
	}
	return s.drain(ctx, false)
}

// stagedView is the primary as a replay sees it, for the entry e: a
// record that the replay creates (a save expecting no record) is first
// written under a staging key and then renewed into place, so that a
// creation that timed out and runs on the server later cannot bring the
// key back after it was deleted (a logout, a renewal): a late renewal
// finds its staging key gone, and the staging key is deleted before the
// entry leaves the journal (it is kept with the keys to delete). Without
// a backends.Renewer primary, records are created directly.
type stagedView struct {
	primaryView
	e *entry
}

func (v stagedView) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	rn, ok := v.s.primary.(backends.Renewer)
	if expected != 0 || key != v.e.key || !ok {
		return v.primaryView.Save(ctx, key, blob, expiry, expected)
	}
	stage, err := stagingKey()
	if err != nil {
		return 0, err
	}
	// Deleted with the entry's old keys, whatever happens below.
	v.e.olds = append(v.e.olds, oldKey{key: stage})
	v.e.chain += chainBytes(stage, "")
	if _, err := v.primaryView.Save(ctx, stage, blob, expiry, 0); err != nil {
		return 0, err
	}
	err = v.s.do(ctx, func(c context.Context) error {
		return rn.Renew(c, stage, 1, key, blob, expiry, "", time.Time{})
	})
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// stagingKey returns a random key that no session uses.
func stagingKey() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "stage-" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
