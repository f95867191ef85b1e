package degrade

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
)

// entry is the journal of one store key: what was written to the fallback
// under it while the primary could not be asked, in the order the primary
// must see it. Writers hold mu while they write the fallback and journal
// the write, and replay holds it while it applies the entry, so a key is
// never written to the fallback in the middle of its replay.
type entry struct {
	key string

	mu sync.Mutex
	// dead is set, under mu and Store.mu, when the entry left the journal;
	// a writer that locked a dead entry takes a fresh one.
	dead bool
	// tomb: the key was deleted (logout, revocation); the primary's record
	// is deleted before anything else of the entry is applied.
	tomb bool
	// gone: deleted or renewed away during the outage and not written
	// since, so a Load is answered "not found" with authority.
	gone bool
	// moves are the keys this key's session was renewed from during the
	// outage, oldest first (a move per renewal: see replay). The first
	// change set of each later key, and of this key, is built on the
	// record of the key before it.
	moves []move
	// changes are the change sets of the saves, oldest first.
	changes []change
	// touch is the latest expiry a Touch asked for.
	touch time.Time
	// users holds the last user index change of this key, per user ID.
	users map[string]userChange

	elem *list.Element // position in Store.queue; under Store.mu
}

// change is one journaled save: the request's ReplayFunc, or, when the
// caller gave none, the blob, written only if the primary has no record.
type change struct {
	fn     backends.ReplayFunc
	blob   []byte
	expiry time.Time
}

// move is a key renewed away during the outage. Its own journaled writes
// are replayed onto it, the session that replaced it is built on its
// record, and only then is it deleted on the primary (and removed from
// user's index). A deletion of the key that replaced it makes the move
// dead: the key is then only deleted, as a tombstone.
type move struct {
	key     string
	user    string
	tomb    bool // deleted during the outage before it was renewed
	dead    bool
	changes []change
}

type userChange struct {
	add      bool
	deadline time.Time
}

func (e *entry) empty() bool {
	return !e.tomb && len(e.changes) == 0 && len(e.moves) == 0 && e.touch.IsZero() && len(e.users) == 0
}

// changeSets counts the change sets journaled in e, its moves' included.
func (e *entry) changeSets() int {
	n := len(e.changes)
	for _, m := range e.moves {
		n += len(m.changes)
	}
	return n
}

func (e *entry) hasTombstones() bool {
	if e.tomb {
		return true
	}
	for _, m := range e.moves {
		if m.tomb || m.dead {
			return true
		}
	}
	for _, c := range e.users {
		if !c.add {
			return true
		}
	}
	return false
}

func (e *entry) setUser(userID string, c userChange) {
	if e.users == nil {
		e.users = make(map[string]userChange)
	}
	e.users[userID] = c
}

// lockEntry returns the journal entry of key, created if needed, locked.
func (s *Store) lockEntry(key string) *entry {
	for {
		s.mu.Lock()
		e := s.journal[key]
		if e == nil {
			// A key renewed away during the outage stays gone.
			_, moved := s.moved[key]
			e = &entry{key: key, gone: moved}
			e.elem = s.queue.PushBack(e)
			s.journal[key] = e
			s.pending.Store(int64(len(s.journal)))
		}
		s.mu.Unlock()
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock()
	}
}

// release unlocks e, dropping it when nothing was journaled, and makes sure
// a non-empty journal gets replayed while the primary serves.
func (s *Store) release(e *entry) {
	if e.empty() {
		s.remove(e)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	s.mu.Lock()
	from := s.State()
	if from == StateClosed {
		s.setState(StateRecovering)
	}
	s.mu.Unlock()
	if from == StateClosed {
		s.notify(from, StateRecovering)
		s.wakeUp()
	}
}

// remove takes e out of the journal. Callers hold e.mu.
func (s *Store) remove(e *entry) {
	s.mu.Lock()
	if e.dead {
		s.mu.Unlock()
		return
	}
	e.dead = true
	delete(s.journal, e.key)
	s.queue.Remove(e.elem)
	s.pending.Store(int64(len(s.journal)))
	s.changeSets -= e.changeSets()
	for _, m := range e.moves {
		s.forget(m.key, e.key)
	}
	done := len(s.journal) == 0 && s.State() == StateRecovering
	if done {
		s.setState(StateClosed)
	}
	s.mu.Unlock()
	e.changes, e.moves = nil, nil
	if done {
		s.notify(StateRecovering, StateClosed)
	}
}

// forget drops the pending move of key into newKey. Callers hold s.mu.
func (s *Store) forget(key, newKey string) {
	if s.moved[key] == newKey {
		delete(s.moved, key)
	}
}

// addChange journals a save; force journals it beyond the limit. Callers
// hold e.mu.
func (s *Store) addChange(ctx context.Context, e *entry, c change, force bool) {
	s.mu.Lock()
	if s.changeSets >= s.cfg.journalLimit && !force {
		s.dropped++
		first := !s.fullLogged
		s.fullLogged = true
		s.mu.Unlock()
		if first {
			s.cfg.logger.WarnContext(ctx, "session store: fail-over journal full; further changes are served but will not be replayed", "limit", s.cfg.journalLimit)
		}
		s.cfg.observer.JournalFull()
		return
	}
	s.changeSets++
	s.mu.Unlock()
	e.changes = append(e.changes, c)
	e.gone = false
}

// addTombstone journals a deletion of e's key: it supersedes the changes,
// the touch and the user index additions journaled before, and the moves
// into the key: the keys it was renewed from are then only deleted.
// Callers hold e.mu.
func (s *Store) addTombstone(e *entry) {
	if n := e.changeSets(); n > 0 {
		s.mu.Lock()
		s.changeSets -= n
		s.mu.Unlock()
		clear(e.changes)
		e.changes = e.changes[:0]
	}
	for i := range e.moves {
		e.moves[i].dead, e.moves[i].changes = true, nil
	}
	e.touch = time.Time{}
	for u, c := range e.users {
		if c.add {
			delete(e.users, u)
		}
	}
	e.tomb, e.gone = true, true
}

// addMove journals the renewal of oldE's key into newE's key: oldE's
// journaled writes go to newE, as a move, and oldE is left gone. Callers
// hold oldE.mu and newE.mu.
func (s *Store) addMove(oldE, newE *entry, userID string) {
	m := move{key: oldE.key, user: userID, tomb: oldE.tomb, changes: oldE.changes}
	newE.moves = append(append(newE.moves, oldE.moves...), m)
	s.mu.Lock()
	for _, m := range newE.moves {
		s.moved[m.key] = newE.key
	}
	s.mu.Unlock()
	// What else oldE held (touches, user index changes) concerns a key
	// that the move deletes.
	oldE.tomb, oldE.changes, oldE.moves, oldE.touch, oldE.users = false, nil, nil, time.Time{}, nil
	oldE.gone = true
}

// isMoved reports whether key was renewed away during the outage and the
// move is pending.
func (s *Store) isMoved(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.moved[key]
	return ok
}

// isGone reports whether key was deleted or renewed away during the outage
// and not written since.
func (s *Store) isGone(key string) bool {
	if s.pending.Load() == 0 {
		return false
	}
	s.mu.Lock()
	e := s.journal[key]
	_, moved := s.moved[key]
	s.mu.Unlock()
	if moved {
		return true
	}
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.dead && e.gone
}

// snapshot returns the entries of the journal, oldest first.
func (s *Store) snapshot() []*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*entry, 0, len(s.journal))
	for el := s.queue.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*entry))
	}
	return out
}

// settle replays key's journal entry, if it has one, before an operation
// on the primary touches the key: a session is never served from, or
// written to, the primary while writes made to it during the outage are
// pending. For a key renewed away during the outage, the entry of the key
// that replaced it is replayed too, which deletes the key: its old ID
// never reaches its record of before the renewal.
func (s *Store) settle(ctx context.Context, key string) error {
	if s.pending.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	e := s.journal[key]
	to, moved := s.moved[key]
	s.mu.Unlock()
	if e != nil {
		if err := s.replayEntry(ctx, e); err != nil {
			return err
		}
	}
	if moved {
		s.mu.Lock()
		e = s.journal[to]
		s.mu.Unlock()
		if e != nil {
			return s.replayEntry(ctx, e)
		}
	}
	return nil
}

func (s *Store) replayEntry(ctx context.Context, e *entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dead {
		return nil
	}
	return s.replay(ctx, e)
}

// applyTombstones deletes e's key on the primary and removes the user
// index entries, if the journal says so, and deletes the keys of dead
// moves and of moves deleted before their renewal. Callers hold e.mu.
func (s *Store) applyTombstones(ctx context.Context, e *entry) error {
	if e.tomb {
		if err := s.delete(ctx, e.key); err != nil {
			return err
		}
		e.tomb = false
	}
	// Dead moves come first: a deletion kills every move journaled before.
	for len(e.moves) > 0 && e.moves[0].dead {
		if err := s.finishMove(ctx, e); err != nil {
			return err
		}
	}
	for i := range e.moves {
		if m := &e.moves[i]; m.tomb {
			if err := s.delete(ctx, m.key); err != nil {
				return err
			}
			m.tomb = false
		}
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

// delete deletes key on the primary.
func (s *Store) delete(ctx context.Context, key string) error {
	return s.do(ctx, func(c context.Context) error { return s.primary.Delete(c, key) })
}

// finishMove deletes the key of e's first move on the primary, removes it
// from its user's index and takes the move out of e.
func (s *Store) finishMove(ctx context.Context, e *entry) error {
	m := &e.moves[0]
	if err := s.delete(ctx, m.key); err != nil {
		return err
	}
	if ui, ok := s.primary.(backends.UserIndex); ok && m.user != "" {
		if err := s.do(ctx, func(c context.Context) error { return ui.RemoveUserKey(c, m.user, m.key) }); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.forget(m.key, e.key)
	s.changeSets -= len(m.changes)
	s.mu.Unlock()
	e.moves[0] = move{}
	e.moves = e.moves[1:]
	return nil
}

// applyChanges applies the change sets cs to key on the primary, each
// merged onto the primary's record by its ReplayFunc, removing them from
// cs as it goes. A change set that fails for another reason than an
// outage is given up (logged and reported). It returns how many it took.
func (s *Store) applyChanges(ctx context.Context, key string, cs *[]change) (int, error) {
	p := primaryView{s}
	n := 0
	for len(*cs) > 0 {
		err := (*cs)[0].apply(ctx, p, key)
		if err != nil && (outage(ctx, err) || ctx.Err() != nil) {
			return n, err
		}
		if err != nil {
			s.giveUp(ctx, err)
		}
		(*cs)[0] = change{}
		*cs = (*cs)[1:]
		s.mu.Lock()
		s.changeSets--
		s.mu.Unlock()
		n++
	}
	return n, nil
}

// replay applies e to the primary, in order: the deletions and user index
// removals; the moves, oldest first; the change sets (each merged onto the
// primary's record by its ReplayFunc); the user index additions and the
// touch. Then it deletes the fallback's copy and takes e out of the
// journal. What was applied is removed from e as it goes, so a replay cut
// short by an outage resumes where it stopped. Callers hold e.mu.
//
// A move is a renewal made during the outage: the old key's own change
// sets are applied to it, then the change sets of the key that replaced it
// (the first of which builds the new record on the old one: see
// backends.ReplayFunc), and only then is the old key deleted on the
// primary and removed from the user's index. Until then a request for the
// old key replays e first (settle).
func (s *Store) replay(ctx context.Context, e *entry) error {
	if err := s.applyTombstones(ctx, e); err != nil {
		return err
	}
	n := 0
	for len(e.moves) > 0 {
		k, err := s.applyChanges(ctx, e.moves[0].key, &e.moves[0].changes)
		n += k
		if err != nil {
			return err
		}
		next, cs := e.key, &e.changes
		if len(e.moves) > 1 {
			next, cs = e.moves[1].key, &e.moves[1].changes
		}
		k, err = s.applyChanges(ctx, next, cs)
		n += k
		if err != nil {
			return err
		}
		if err := s.finishMove(ctx, e); err != nil {
			return err
		}
	}
	k, err := s.applyChanges(ctx, e.key, &e.changes)
	n += k
	if err != nil {
		return err
	}
	if ui, ok := s.primary.(backends.UserIndex); ok {
		for u, c := range e.users {
			err := s.do(ctx, func(ctx context.Context) error { return ui.AddUserKey(ctx, u, e.key, c.deadline) })
			if err != nil && (outage(ctx, err) || ctx.Err() != nil) {
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
		err := s.extend(ctx, e.key, e.touch)
		if err != nil && (outage(ctx, err) || ctx.Err() != nil) {
			return err
		}
		e.touch = time.Time{}
	}
	// The primary holds the session now. The fallback's copy goes, even if
	// the caller's context ends right here: a stale copy would be served
	// again in the next outage.
	if err := s.fallback.Delete(context.WithoutCancel(ctx), e.key); err != nil {
		s.cfg.logger.WarnContext(ctx, "session store: removing a replayed session from the fallback failed", "error", err.Error())
	}
	s.remove(e)
	s.cfg.observer.Replayed(n)
	return nil
}

// extend sets the primary record's expiry to exp if it is earlier: a touch
// never shortens a session that another writer extended further.
func (s *Store) extend(ctx context.Context, key string, exp time.Time) error {
	p := primaryView{s}
	rec, found, err := p.Load(ctx, key)
	if err != nil || !found || !rec.Expiry.Before(exp) {
		return err
	}
	return p.Touch(ctx, key, exp)
}

func (s *Store) giveUp(ctx context.Context, err error) {
	s.mu.Lock()
	s.dropped++
	s.mu.Unlock()
	s.cfg.logger.ErrorContext(ctx, "session store: a change made during the outage could not be replayed and is lost", "error", err.Error())
	s.cfg.observer.ReplayFailed(err)
}

func (c change) apply(ctx context.Context, p backends.Store, key string) error {
	if c.fn != nil {
		return c.fn(ctx, p)
	}
	// Without a ReplayFunc the change cannot be merged: the blob is written
	// only where the primary has no record, which then wins.
	_, err := p.Save(ctx, key, c.blob, c.expiry, 0)
	if backends.IsConflict(err) {
		return nil
	}
	return err
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
				// The circuit opened while waiting: the primary is not
				// asked while it is open.
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
				s.mu.Lock()
				s.dropped += uint64(e.changeSets())
				s.mu.Unlock()
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
