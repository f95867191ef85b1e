package degrade

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sessionkit/session/internal/changeset"
)

// ErrJournalFull is returned, by writes the fallback would serve, while the
// journal holds its limit (WithJournalLimit, WithJournalBytes): the write
// is refused rather than served and then lost at recovery. Nothing was
// written. It does not match backends.ErrUnavailable.
var ErrJournalFull = errors.New("degrade: fail-over journal full")

// entry is the journal of one store key: what the primary must be told
// about the key after the outage, compacted so that it never holds more
// than one session's worth of changes. Writers hold mu while they write
// the fallback and journal the write, and replay holds it while it applies
// the entry, so a key is never written to the fallback in the middle of its
// replay.
type entry struct {
	key string

	mu sync.Mutex
	// dead is set, under mu and Store.mu, when the entry left the journal;
	// a writer that locked a dead entry takes a fresh one.
	dead bool
	// tomb: the key was deleted (logout, revocation); the primary's record
	// is deleted before anything else of the entry is applied. until is
	// when the record it shadows would be dead anyway.
	tomb  bool
	until time.Time
	// gone: deleted or renewed away during the outage and not written
	// since, so a Load is answered "not found" with authority.
	gone bool
	// cs is the compacted change set of the saves, applied by rp.
	cs *changeset.Set
	rp changeset.Replayer
	// blob is the latest save made without a change set, written only if
	// the primary has no record.
	blob    []byte
	blobExp time.Time
	// bases are the keys this key's session was renewed from during the
	// outage, oldest first: the session is built on the newest of them
	// that is alive on the primary when the key has no record there.
	bases []string
	// olds are those keys with the user whose index holds them: deleted on
	// the primary once the session stands under key.
	olds []oldKey
	// touch is the latest expiry a Touch asked for, expiry the latest
	// expiry a journaled save gave the record: after both, the session
	// ended during the outage and its changes are not replayed.
	touch  time.Time
	expiry time.Time
	// users holds the last user index change of this key, per user ID.
	users map[string]userChange
	// lin is the lineage whose newest key this entry's key is.
	lin *lineage

	chain   int           // bytes held by bases and olds
	size    int           // bytes accounted in Store.bytes
	counted bool          // counted in Store.changeSets
	elem    *list.Element // position in Store.queue; under Store.mu
}

// oldKey is a key renewed away, with the user the renewal bound and the
// user its primary record was bound to (known once replayed). fresh marks
// the new key of a renewal of unknown outcome that expected no record at
// its old key: carried out late, it created that key from the renewing
// request's changes alone, which hold nothing of the session renewed, so
// it is deleted but never built on.
type oldKey struct {
	key, user, base string
	fresh           bool
}

// chainBytes is what one key renewed away costs an entry: as a base and as
// a key to delete.
func chainBytes(key, user string) int { return 48 + 2*len(key) + len(user) }

// lineage is a session renewed during the outage: every key it was renewed
// from maps to it (Store.moved), and key is its newest key. unsure are the
// new keys of renewals of its keys that the primary may still carry out
// (they timed out): recovery builds on them first if they exist, and then
// deletes them. Guarded by Store.mu.
type lineage struct {
	key    string
	unsure []oldKey
}

// maxUnsure bounds the renewals of unknown outcome remembered per key.
const maxUnsure = 16

// noteUnsure remembers that a renewal of key into newKey, for userID, timed
// out on the primary and may still be carried out there; fresh says it
// expected no record at key (see oldKey).
func (s *Store) noteUnsure(key, newKey, userID string, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := oldKey{key: newKey, user: userID, fresh: fresh}
	if l := s.moved[key]; l != nil {
		if len(l.unsure) < maxUnsure {
			l.unsure = append(l.unsure, u)
		}
		return
	}
	if len(s.unsure[key]) < maxUnsure {
		s.unsure[key] = append(s.unsure[key], u)
	}
}

// takeUnsure returns, and forgets, the renewals of unknown outcome that e's
// replay must settle: those of its lineage and of its own key. Callers hold
// e.mu.
func (s *Store) takeUnsure(e *entry) []oldKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.unsure[e.key]
	delete(s.unsure, e.key)
	if e.lin != nil {
		out = append(out, e.lin.unsure...)
		e.lin.unsure = nil
	}
	kept := out[:0]
	for _, u := range out {
		if u.key != e.key {
			kept = append(kept, u)
		}
	}
	return kept
}

type userChange struct {
	add      bool
	deadline time.Time
}

func (e *entry) empty() bool {
	return !e.tomb && e.cs == nil && e.blob == nil && len(e.olds) == 0 && e.touch.IsZero() && len(e.users) == 0
}

// measure returns the bytes e holds.
func (e *entry) measure() int {
	n := 160 + len(e.key) + len(e.blob)
	if e.cs != nil {
		n += e.cs.Size()
	}
	n += e.chain
	for u := range e.users {
		n += 48 + len(u)
	}
	return n
}

// account brings Store.bytes up to date with e's size. Callers hold e.mu.
func (s *Store) account(e *entry) {
	n := e.measure()
	has := e.cs != nil || e.blob != nil
	s.mu.Lock()
	if !e.dead {
		s.bytes += int64(n - e.size)
		e.size = n
		if has != e.counted {
			e.counted = has
			if has {
				s.changeSets++
			} else {
				s.changeSets--
			}
		}
	}
	s.mu.Unlock()
}

// reserve checks that growing the journal by grow bytes keeps it within
// its byte bound and, for a write that created its entry (newEntry: the
// entry is already in the journal, counted), within its entry bound, and
// refuses the write (logged once per outage, counted) otherwise. Callers
// hold the entries the write locked.
func (s *Store) reserve(ctx context.Context, op string, grow int, newEntry bool) error {
	s.mu.Lock()
	full := s.overflowLocked(grow, newEntry)
	var first bool
	if full {
		s.refused++
		first = !s.fullLogged
		s.fullLogged = true
	}
	bytes, entries := s.bytes, len(s.journal)+len(s.moved)
	s.mu.Unlock()
	if !full {
		return nil
	}
	if first {
		s.cfg.logger.WarnContext(ctx, "session store: fail-over journal full; writes are refused until the primary is back",
			"bytes", bytes, "limit_bytes", s.cfg.journalBytes, "entries", entries, "limit_entries", s.cfg.journalLimit)
	}
	s.cfg.observer.JournalFull()
	return opError(op, ErrJournalFull)
}

// overflowLocked reports whether growing the journal by grow bytes, with
// the entries it holds (newEntry: one of them new), crosses a bound, after
// pruning expired tombstones if it does. Callers hold s.mu.
func (s *Store) overflowLocked(grow int, newEntry bool) bool {
	over := func() bool {
		entries := len(s.journal) + len(s.moved)
		return (grow > 0 && s.bytes+int64(grow) > s.cfg.journalBytes) || (newEntry && entries > s.cfg.journalLimit)
	}
	if !over() {
		return false
	}
	s.pruneLocked(time.Now())
	return over()
}

// roomFor reports whether an entry of grow bytes that is not in the journal
// yet fits within its bounds.
func (s *Store) roomFor(grow int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.journal)+len(s.moved) < s.cfg.journalLimit && s.bytes+int64(grow) <= s.cfg.journalBytes
}

// pruneLocked drops tombstones whose records are dead anyway and returns
// how many. Callers hold s.mu; entries that are locked are skipped.
func (s *Store) pruneLocked(now time.Time) int {
	n := 0
	for el := s.queue.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*entry)
		if e.tomb && !e.until.IsZero() && now.After(e.until) && e.mu.TryLock() {
			if !e.dead && e.tomb && e.cs == nil && e.blob == nil && len(e.olds) == 0 && len(e.users) == 0 {
				s.removeLocked(e)
				n++
			}
			e.mu.Unlock()
		}
		el = next
	}
	return n
}

func (e *entry) hasUserRemovals() bool {
	for _, c := range e.users {
		if !c.add {
			return true
		}
	}
	return false
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

// removals returns how many entries have left the journal so far.
func (s *Store) removals() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed
}

// hasEntry reports whether key has a journal entry.
func (s *Store) hasEntry(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal[key] != nil
}

// release unlocks e, dropping it when nothing was journaled, and makes sure
// a non-empty journal gets replayed while the primary serves.
func (s *Store) release(e *entry) {
	if e.empty() {
		s.remove(e)
		e.mu.Unlock()
		return
	}
	s.account(e)
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
	done := s.removeLocked(e)
	s.mu.Unlock()
	if done {
		s.notify(StateRecovering, StateClosed)
	}
}

// removeLocked takes e out of the journal and reports whether that closed
// the circuit. Callers hold e.mu and s.mu.
func (s *Store) removeLocked(e *entry) bool {
	if e.dead {
		return false
	}
	e.dead = true
	s.removed++
	delete(s.journal, e.key)
	s.queue.Remove(e.elem)
	s.pending.Store(int64(len(s.journal)))
	s.bytes -= int64(e.size)
	e.size = 0
	if e.counted {
		e.counted = false
		s.changeSets--
	}
	for _, o := range e.olds {
		if l := s.moved[o.key]; l != nil && l == e.lin {
			delete(s.moved, o.key)
		}
	}
	e.cs, e.olds, e.bases, e.blob = nil, nil, nil, nil
	if len(s.journal) == 0 && s.State() == StateRecovering {
		s.setState(StateClosed)
		return true
	}
	return false
}

// growth returns by how many bytes journaling a save would grow e.
// Callers hold e.mu.
func (e *entry) growth(w *changeset.Write, blob []byte) int {
	if w == nil || w.Set == nil {
		return len(blob) - len(e.blob)
	}
	if e.cs == nil {
		return w.Set.Size()
	}
	merged := e.cs.Clone()
	merged.Merge(w.Set)
	return merged.Size() - e.cs.Size()
}

// ended reports whether the session the entry journals ended at now, by
// its expiry, during the outage. Callers hold e.mu.
func (e *entry) ended(now time.Time) bool {
	if e.expiry.IsZero() {
		return false
	}
	last := e.expiry
	if e.touch.After(last) {
		last = e.touch
	}
	return !now.Before(last)
}

// addChanges journals a save. Callers hold e.mu.
func (e *entry) addChanges(w *changeset.Write, blob []byte, expiry time.Time) {
	e.gone = false
	if expiry.After(e.expiry) {
		e.expiry = expiry
	}
	if w == nil || w.Set == nil {
		e.blob, e.blobExp = append([]byte(nil), blob...), expiry
		return
	}
	if e.cs == nil {
		e.cs = w.Set.Clone()
	} else {
		e.cs.Merge(w.Set)
	}
	e.rp = w.Replayer
}

// addTombstone journals a deletion of e's key: it supersedes the changes,
// the touch and the user index additions journaled before. The keys the
// session was renewed from stay to be deleted. Callers hold e.mu.
func (e *entry) addTombstone(until time.Time) {
	e.cs, e.blob = nil, nil
	e.touch = time.Time{}
	for u, c := range e.users {
		if c.add {
			delete(e.users, u)
		}
	}
	e.tomb, e.gone = true, true
	if until.IsZero() {
		until = time.Now().Add(maxSessionLifetime)
	}
	if until.After(e.until) {
		e.until = until
	}
}

// maxSessionLifetime is the longest a session can live (the session
// package's MaxSessionLifetime): a tombstone of unknown deadline is kept
// that long at most.
const maxSessionLifetime = 400 * 24 * time.Hour

// addMove journals the renewal of oldE's key into newE's key: oldE's
// journaled changes go to newE, the old key becomes a base and a key to
// delete, and oldE leaves the journal, its key gone. O(1) amortized: the
// slices of oldE are handed over, not copied. Callers hold oldE.mu and
// newE.mu.
func (s *Store) addMove(oldE, newE *entry, userID string, w *changeset.Write, expiry time.Time) {
	if oldE.ended(time.Now()) {
		// The old session ended during the outage: nothing of it moves.
		oldE.cs, oldE.blob = nil, nil
	}
	if expiry.After(newE.expiry) {
		newE.expiry = expiry
	}
	if oldE.cs != nil {
		merged := oldE.cs
		if w != nil && w.Set != nil {
			merged.Merge(w.Set)
			newE.rp = w.Replayer
		}
		newE.cs = merged
		if newE.rp == nil {
			newE.rp = oldE.rp
		}
	} else if w != nil && w.Set != nil {
		newE.cs = w.Set.Clone()
		newE.rp = w.Replayer
	}
	newE.bases = append(oldE.bases, oldE.key)
	newE.olds = append(oldE.olds, oldKey{key: oldE.key, user: userID})
	newE.chain = oldE.chain + chainBytes(oldE.key, userID)
	oldE.chain = 0
	newE.gone = false
	s.mu.Lock()
	l := oldE.lin
	if l == nil {
		l = &lineage{}
	}
	l.key = newE.key
	newE.lin = l
	s.moved[oldE.key] = l
	if u := s.unsure[oldE.key]; len(u) > 0 {
		l.unsure = append(l.unsure, u...)
		delete(s.unsure, oldE.key)
	}
	oldE.cs, oldE.blob, oldE.bases, oldE.olds, oldE.users, oldE.touch = nil, nil, nil, nil, nil, time.Time{}
	oldE.lin = nil
	s.mu.Unlock()
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
// that replaced it is replayed, which deletes the key: its old ID never
// reaches its record of before the renewal.
func (s *Store) settle(ctx context.Context, key string) error {
	if s.pending.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	e := s.journal[key]
	var to *entry
	if l := s.moved[key]; l != nil {
		to = s.journal[l.key]
	}
	s.mu.Unlock()
	if e != nil {
		if err := s.replayEntry(ctx, e); err != nil {
			return err
		}
	}
	if to != nil {
		return s.replayEntry(ctx, to)
	}
	return nil
}

// settleUser replays the journal entries that bind a session to userID.
func (s *Store) settleUser(ctx context.Context, userID string) error {
	if s.pending.Load() == 0 {
		return nil
	}
	for _, e := range s.snapshot() {
		e.mu.Lock()
		_, mine := e.users[userID]
		e.mu.Unlock()
		if mine {
			if err := s.replayEntry(ctx, e); err != nil {
				return err
			}
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
