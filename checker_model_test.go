package session_test

// The reference model of the consistency checker: what the acknowledged
// (2xx) responses promise about every session, with the uncertainty that
// unacknowledged requests, concurrent requests and lost data leave.

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// liveness of a session in the model.
type liveness int

const (
	live      liveness = iota // alive for sure (unless a bug killed it)
	maybeDead                 // an unacknowledged or ambiguous kill may have ended it
	dead                      // logged out, renewed away, revoked or expired: never serves again
)

func (l liveness) String() string { return [...]string{"live", "maybe-dead", "dead"}[l] }

type intSet map[int]bool

func (s intSet) sorted() []int { return slices.Sorted(maps.Keys(s)) }

// msess is the model of one session, by handle.
type msess struct {
	h       string
	tok     string // a token that addresses it (the latest one issued)
	st      liveness
	present intSet          // items that must be there (acknowledged adds)
	maybe   intSet          // items that may be there
	users   map[string]bool // the users it may be bound to ("" anonymous)
	persist int             // -1 unknown, 0 no, 1 yes
	// inflight are the requests of this session that have started and not
	// yet been accounted for.
	inflight map[*inflight]bool
	name     string // short name for traces: S1, S2, ...
	born     int    // model.seq when the model learnt of it
	// What the session took, by a renewal or a move, from a record on
	// the primary: a rebuild from its journaled changes alone (the
	// primary restarted empty while its key existed only in the
	// fail-over journal) does not have it. inh are such items, inhUser
	// and inhPersist say its user binding and its lifetime came so.
	inh                 intSet
	inhUser, inhPersist bool
	// rebuilt: the primary restarted empty while the session existed only
	// in the journal; once recovered it holds its journaled changes only.
	rebuilt bool
}

func (s *msess) user() (string, bool) {
	if len(s.users) != 1 {
		return "", false
	}
	for u := range s.users {
		return u, true
	}
	return "", false
}

func (s *msess) String() string {
	us := slices.Sorted(maps.Keys(s.users))
	return fmt.Sprintf("%s{%s present=%v maybe=%v users=%q}", s.name, s.st, s.present.sorted(), s.maybe.sorted(), us)
}

// makeMaybe turns the present items into possible ones.
func (s *msess) makeMaybe() {
	for n := range s.present {
		s.maybe[n] = true
	}
	clear(s.present)
}

// model is the checker's reference model.
type model struct {
	sess  map[string]*msess // by handle
	order []*msess          // in order of creation
	// ghosts counts, per user, the logins that were not acknowledged: each
	// may have created a session no client holds, which the user index may
	// list.
	ghosts map[string]int
	// removed are the items an acknowledged remove took out: for messages.
	removed intSet
	// onPrimary are the items whose add a response not served by the
	// fallback acknowledged: saved to the primary's record, never part
	// of a journaled change set.
	onPrimary intSet
	// seq orders the requests' starts and the sessions' births.
	seq int
}

func newModel() *model {
	return &model{sess: map[string]*msess{}, ghosts: map[string]int{}, removed: intSet{}, onPrimary: intSet{}}
}

func (m *model) add(h, tok string) *msess {
	s := &msess{h: h, tok: tok, present: intSet{}, maybe: intSet{}, users: map[string]bool{"": true}, inh: intSet{},
		inflight: map[*inflight]bool{}, name: fmt.Sprintf("S%d", len(m.order)+1)}
	m.seq++
	s.born = m.seq
	m.sess[h] = s
	m.order = append(m.order, s)
	return s
}

// nameOf returns the short name of handle h, for messages.
func (m *model) nameOf(h string) string {
	if h == "" {
		return `""`
	}
	if s := m.sess[h]; s != nil {
		return s.name
	}
	return "new:" + h[:min(6, len(h))]
}

// snapshot is a session's model at the start of a request.
type snapshot struct {
	known    bool
	st       liveness
	present  intSet
	possible intSet
	users    map[string]bool
}

func (m *model) snap(h string) snapshot {
	s := m.sess[h]
	if s == nil {
		return snapshot{users: map[string]bool{"": true}, present: intSet{}, possible: intSet{}}
	}
	sn := snapshot{known: true, st: s.st, present: maps.Clone(s.present), possible: maps.Clone(s.present), users: maps.Clone(s.users)}
	maps.Copy(sn.possible, s.maybe)
	return sn
}

// kill ends s in the model: for sure (dead) or perhaps (maybeDead). The
// requests of s still running are then ambiguous ("covered": their effect
// may be lost with the session); with succ, the session s was renewed
// into, what they do may or may not reach succ.
func (m *model) kill(s *msess, how liveness, succ *msess, by *inflight) {
	if how == dead {
		s.st = dead
	} else if s.st == live {
		s.st = maybeDead
	}
	for q := range s.inflight {
		if q == by {
			continue
		}
		q.covered = true
		q.killedBefore = q.killedBefore || q.held
		if succ != nil {
			q.spec.blur(succ)
		}
	}
}

// revoke applies RevokeUser(u, except...) to the model: sessions bound to u
// for sure die, those that may be bound to u may die. uncertain says the
// revocation itself was not acknowledged.
func (m *model) revoke(u string, except string, uncertain bool, by *inflight, running []*inflight) {
	if u == "" {
		return
	}
	for _, s := range m.order {
		if s.h == except || s.st == dead || !s.users[u] {
			continue
		}
		how := maybeDead
		// A session that appeared while the revocation ran (a concurrent
		// login) may have been bound after the revocation listed the user's
		// sessions.
		if cu, ok := s.user(); ok && cu == u && !uncertain && (by == nil || s.born < by.seq) {
			how = dead
		}
		m.kill(s, how, nil, by)
	}
	// A login to u still running may bind its session before or after
	// the revocation.
	for _, q := range running {
		if q != by && q.spec.kind == rLogin && chkUsers[q.spec.user] == u {
			q.maybeRevoked = true
		}
	}
}

// restart is the primary store losing its data. A live session whose key
// exists only in the fail-over journal (journalOnly: created, or moved to
// a fresh ID, during the outage, and not replayed yet) survives: recovery
// rebuilds it from its journaled changes, without what it took from the
// primary's records (inh, inhUser, inhPersist), which the fallback may
// still serve until then. Every other session may be gone, and what
// survives may lack items and its user.
func (m *model) restart(journalOnly func(h string) bool) {
	for _, s := range m.order {
		if s.st == dead {
			continue
		}
		if s.st == live && journalOnly(s.h) {
			for n := range s.inh {
				if s.present[n] {
					delete(s.present, n)
					s.maybe[n] = true
				}
			}
			if s.inhUser {
				s.users[""] = true
			}
			if s.inhPersist {
				s.persist = -1
			}
			s.rebuilt = true
			continue
		}
		m.kill(s, maybeDead, nil, nil)
		s.makeMaybe()
		s.users[""] = true
		s.persist = -1
	}
}

// carry records in t, which s was renewed or moved into, what t took from
// a record on the primary: everything s held when s was written there
// (written), else what s itself took so.
func carry(t, s *msess, written bool) {
	if written {
		t.inh = maps.Clone(s.present)
		maps.Copy(t.inh, s.maybe)
		t.inhUser, t.inhPersist = true, true
		return
	}
	t.inh = maps.Clone(s.inh)
	t.inhUser, t.inhPersist, t.rebuilt = s.inhUser, s.inhPersist, s.rebuilt
}

// recovered is the fail-over store closed with nothing pending: every
// session rebuilt after a restart holds its journaled changes only (the
// items added through the primary that it took are gone, its user too if
// it took that, and its lifetime then is unknown), and every session is
// on the primary.
func (m *model) recovered() {
	for _, s := range m.order {
		if s.rebuilt {
			for n := range s.inh {
				if m.onPrimary[n] {
					delete(s.present, n)
					delete(s.maybe, n)
				}
			}
			if s.inhUser {
				s.users = map[string]bool{"": true}
			}
		}
		clear(s.inh)
		s.inhUser, s.inhPersist, s.rebuilt = false, false, false
	}
}

// expireAll is time passing beyond every session's lifetime.
func (m *model) expireAll() {
	for _, s := range m.order {
		m.kill(s, dead, nil, nil)
	}
	clear(m.ghosts)
}

// violation is a broken invariant.
type violation struct {
	inv  int    // the invariant of the brief (1-6); 7: the store did not recover
	tag  string // a short stable name of what broke, for shrinking
	msg  string
	step int // index of the step in the trace
}

func (v *violation) key() string { return fmt.Sprintf("%d/%s", v.inv, v.tag) }

func (v *violation) String() string {
	return fmt.Sprintf("invariant %d (%s) at step %d: %s", v.inv, v.tag, v.step, v.msg)
}

var invariantNames = map[int]string{
	1: "no acknowledged add lost, no acknowledged remove undone",
	2: "no logged-out, renewed-away or revoked ID serves again",
	3: "a login response carries a new session ID",
	4: "UserSessions equals the live sessions of the user",
	5: "the fail-over journal stays within its bound",
	6: "no 5xx unless the model allows the error",
	7: "the store recovers once the faults end",
}

func setString(s intSet) string {
	if len(s) == 0 {
		return "[]"
	}
	parts := make([]string, 0, len(s))
	for _, n := range s.sorted() {
		parts = append(parts, fmt.Sprint(n))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func sortedUsers(u map[string]bool) []string {
	out := slices.Collect(maps.Keys(u))
	sort.Strings(out)
	return out
}
