package session_test

// Generation of the checker's steps from a seed, the faults, and the
// recovery checkpoint (heal, wait for the fail-over store to close, then
// read every session the model knows and list every user's sessions).

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/degrade"
)

type weighted[T any] struct {
	w int
	v T
}

func pick[T any](r *chkRun, menu []weighted[T]) T {
	menu = slices.DeleteFunc(slices.Clone(menu), func(m weighted[T]) bool { return r.avoid[fmt.Sprint(m.v)] })
	total := 0
	for _, m := range menu {
		total += m.w
	}
	if total == 0 {
		var zero T
		return zero
	}
	x := r.rng.IntN(total)
	for _, m := range menu {
		if x < m.w {
			return m.v
		}
		x -= m.w
	}
	return menu[len(menu)-1].v
}

var (
	singleMenu = []weighted[reqKind]{
		{14, rRead}, {28, rAdd}, {12, rRemove}, {2, rClear}, {6, rCommitAdd}, {10, rLogin},
		{4, rRemember}, {6, rLogout}, {4, rRevokeOthers}, {3, rRevokeUser},
	}
	slowMenu  = []weighted[reqKind]{{2, rRead}, {4, rAdd}, {2, rRemove}, {2, rLogin}, {1, rLogout}}
	batchMenu = []weighted[reqKind]{
		{3, rRead}, {6, rAdd}, {2, rRemove}, {2, rCommitAdd}, {2, rLogin}, {1, rLogout}, {1, rRemember}, {1, rRevokeUser},
	}
	oldMenu = []weighted[reqKind]{{4, rRead}, {4, rAdd}, {1, rLogin}, {1, rLogout}}
)

// gen generates the next step from the seeded random source and the state
// of the run.
func (r *chkRun) gen() step {
	g := r.rng
	x := g.IntN(1000)
	switch {
	case x < 60 && len(r.held) < 3 && !r.avoid["slow"]:
		r.gate++
		return step{kind: sSlow, req: r.genReq(g.IntN(chkClients), slowMenu), gate: r.gate}
	case x < 150 && len(r.held) > 0:
		gates := slices.Sorted(maps.Keys(r.held))
		return step{kind: sRelease, gate: gates[g.IntN(len(gates))]}
	case x < 200 && !r.avoid["batch"]:
		n := 2 + g.IntN(2)
		c := g.IntN(chkClients)
		same := g.IntN(2) == 0
		st := step{kind: sBatch}
		for range n {
			if !same {
				c = g.IntN(chkClients)
			}
			st.batch = append(st.batch, r.genReq(c, batchMenu))
		}
		return st
	case x < 270:
		d := time.Duration(g.IntN(2000)) * time.Millisecond
		if g.IntN(8) == 0 {
			d = time.Duration(2+g.IntN(10)) * time.Second
		}
		return step{kind: sSleep, d: d}
	case x < 400 && !r.noFaults:
		return r.genFault()
	case x < 412:
		return step{kind: sRecover, mode: g.IntN(3)}
	case x < 415 && r.sys.virtual:
		if st := r.sys.ds.Status(); r.avoid["outage-expiry"] && (st.State != degrade.StateClosed || st.Pending > 0 || r.sys.fs.Pending() > 0) {
			// Sessions expire only while the primary serves.
			return step{kind: sRecover, mode: applyBefore}
		}
		return step{kind: sLongSleep, d: 2 * chkRememberLife}
	case x < 440 && !r.avoid["old"]:
		c := g.IntN(chkClients)
		spec := r.genReq(c, oldMenu)
		spec.old = g.IntN(1 << 16)
		return step{kind: sReq, req: spec}
	}
	return step{kind: sReq, req: r.genReq(g.IntN(chkClients), singleMenu)}
}

func (r *chkRun) newItem() int {
	r.item++
	return r.item
}

// genReq generates a request of client c.
func (r *chkRun) genReq(c int, menu []weighted[reqKind]) reqSpec {
	g := r.rng
	q := reqSpec{c: c, old: -1, kind: pick(r, menu)}
	switch q.kind {
	case rAdd:
		q.item = r.newItem()
	case rCommitAdd:
		q.item, q.item2 = r.newItem(), r.newItem()
	case rRemove:
		var items []int
		if s := r.model.sess[r.clients[c].h]; s != nil {
			items = append(s.present.sorted(), s.maybe.sorted()...)
		}
		switch {
		case len(items) > 0 && g.IntN(10) > 0:
			q.item = items[g.IntN(len(items))]
		case r.item > 0 && g.IntN(2) == 0:
			q.item = 1 + g.IntN(r.item) // an item of any session
		default:
			q.kind, q.item = rAdd, r.newItem()
		}
	case rLogin, rRevokeUser:
		q.user = g.IntN(len(chkUsers))
	}
	return q
}

func (r *chkRun) genFault() step {
	g := r.rng
	recovering := r.sys.ds.State() == degrade.StateRecovering
	down := r.sys.fs.Down()
	boost := func(on bool, w int) int {
		if on {
			return w
		}
		return 0
	}
	menu := []weighted[faultKind]{
		{18, fFail}, {12, fHang}, {16, fDefer}, {8 + boost(recovering, 10) + boost(r.sys.fs.Pending() > 0, 6), fApply},
		{2, fDrop}, {5, fKeys}, {4, fKeysOff},
		{boost(!down, 8), fDown}, {boost(down, 12), fUp}, {6 + boost(recovering, 20), fFlap},
	}
	if r.sys.stop != nil {
		menu = append(menu,
			weighted[faultKind]{boost(!r.stopped && !r.killed, 10), fStop},
			weighted[faultKind]{boost(r.stopped, 12), fCont},
			weighted[faultKind]{boost(!r.killed, 2), fKill},
			weighted[faultKind]{3 + boost(r.killed, 10), fRestart})
	} else {
		menu = append(menu, weighted[faultKind]{2, fRestart})
	}
	st := step{kind: sFault, fault: pick(r, menu)}
	switch st.fault {
	case fFail, fDefer:
		st.k = 1 + g.IntN(3)
	case fHang:
		st.k = 1 + g.IntN(2)
	case fKeys:
		st.k = g.IntN(chkClients)
	}
	return st
}

// fault injects one fault into the primary.
func (r *chkRun) fault(st step) {
	fs, sys := r.sys.fs, r.sys
	switch st.fault {
	case fFail:
		fs.FailNext(st.k)
	case fHang:
		fs.HangNext(st.k)
	case fDown:
		fs.SetDown(true)
	case fUp:
		fs.SetDown(false)
	case fFlap:
		r.note(fmt.Sprintf("      the primary is now down=%v", fs.Flap()))
	case fKeys:
		if h := r.clients[st.k].h; h != "" {
			fs.FailKeys(func(k string) bool { return k == h })
			r.note("      failing the key of " + r.model.nameOf(h))
		}
	case fKeysOff:
		fs.FailKeys(nil)
	case fRestart:
		if err := sys.restartEmpty(); err != nil {
			r.violate(7, "restart", "restarting the primary: %v", err)
			return
		}
		r.killed, r.stopped = false, false
		r.model.restart(r.journalOnly)
	case fDefer:
		fs.DeferNext(st.k)
	case fApply:
		r.applyDeferred()
	case fDrop:
		if n := fs.DropDeferred(); n > 0 {
			r.note(fmt.Sprintf("      dropped %d deferred writes", n))
		}
	case fStop:
		if !r.stopped && !r.killed {
			sys.stop()
			r.stopped = true
		}
	case fCont:
		if r.stopped {
			sys.cont()
			r.stopped = false
		}
	case fKill:
		if !r.killed {
			sys.kill()
			r.killed, r.stopped = true, false
			r.model.restart(r.journalOnly)
		}
	}
}

// journalOnly reports whether the session of handle h exists only in the
// fail-over journal: its key was never written to the primary.
func (r *chkRun) journalOnly(h string) bool { return !r.sys.fs.Written(h) }

func (r *chkRun) applyDeferred() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, err := range r.sys.fs.ApplyDeferred(ctx) {
		if err != nil {
			r.note("      deferred write: " + err.Error())
		} else {
			r.note("      deferred write applied")
		}
	}
}

// recover is the checkpoint: every held request is released, the faults
// end, the deferred writes are applied or dropped, and once the fail-over
// store has closed with nothing pending, every session the model knows is
// read through its cookie (dead ones must come back empty and anonymous,
// live ones with every acknowledged item) and every user's sessions are
// listed. What the reads show then becomes the model: nothing is pending
// any more that could change it.
func (r *chkRun) recover(mode int) {
	for _, g := range slices.Sorted(maps.Keys(r.held)) {
		r.release(g)
	}
	r.sys.fs.Heal()
	if r.stopped {
		r.sys.cont()
		r.stopped = false
	}
	if r.killed {
		r.sys.revive()
		r.killed = false
	}
	switch mode {
	case applyBefore:
		r.applyDeferred()
	case dropThem:
		r.sys.fs.DropDeferred()
	}
	if !r.waitRecovered() {
		return
	}
	if r.sys.fs.Pending() > 0 {
		r.applyDeferred()
		r.sys.settle()
	}
	r.model.recovered()
	r.sweep()
	if r.fail == nil {
		r.checkUsers()
	}
	if r.fail == nil && r.sys.keyCheck != nil {
		if err := r.sys.keyCheck(); err != nil {
			r.violate(8, "key-without-expiry", "%v", err)
		}
	}
}

// waitRecovered waits until the fail-over store is closed with nothing
// pending.
func (r *chkRun) waitRecovered() bool {
	wait, tries := 250*time.Millisecond, 1200
	if !r.sys.virtual {
		wait, tries = 20*time.Millisecond, 1000
	}
	var st degrade.Status
	for range tries {
		st = r.sys.ds.Status()
		if st.State == degrade.StateClosed && st.Pending == 0 {
			return true
		}
		time.Sleep(wait)
		r.sys.settle()
	}
	r.violate(7, "no-recovery", "the faults ended but the fail-over store stays %s with %d sessions pending (last probe error: %v)",
		st.State, st.Pending, st.ProbeErr)
	return false
}

// sweep reads every session the model knows through its cookie and makes
// the model what the reads show.
func (r *chkRun) sweep() {
	for _, s := range slices.Clone(r.model.order) {
		if r.fail != nil {
			return
		}
		if s.tok == "" {
			continue
		}
		var res *chkResult
		for try := 1; ; try++ {
			q := r.startWith(reqSpec{kind: rRead, c: -1, old: oldSweep}, s.tok, s.h, 0, nil)
			<-q.done
			r.finishOne(q)
			res = q.res
			// With a real server, one call that runs out of the
			// fail-over store's timeout on a busy machine is served
			// by the fallback: the store must recover from it, and
			// the read is made again.
			if !res.degraded || r.sys.virtual || try == 3 || !r.waitRecovered() {
				break
			}
		}
		if !res.acked() || r.fail != nil {
			continue
		}
		if res.degraded {
			r.violate(7, "degraded-after-recovery", "reading %s after recovery was served by the fallback", s.name)
			continue
		}
		switch res.obs.H {
		case s.h:
			s.st = live
			clear(s.present)
			clear(s.maybe)
			for _, n := range res.obs.Items {
				s.present[n] = true
			}
			s.users = map[string]bool{res.obs.U: true}
		case "":
			s.st = dead
		}
	}
}

// checkUsers checks invariant 4: each user's sessions, as UserSessions
// lists them, are the live sessions bound to the user in the model, plus
// at most as many unknown ones as the user had unacknowledged logins.
func (r *chkRun) checkUsers() {
	M := r.model
	for _, u := range chkUsers {
		infos, err := r.sys.m.UserSessions(context.Background(), u)
		// With a real server, a call that runs out of the fail-over
		// store's timeout on a busy machine fails the listing: the store
		// must recover from it, and the listing is made again.
		for try := 1; session.IsUnavailable(err) && !r.sys.virtual && try < 3 && r.waitRecovered(); try++ {
			infos, err = r.sys.m.UserSessions(context.Background(), u)
		}
		if err != nil {
			r.violate(4, "user-sessions-failed", "UserSessions(%q) after recovery: %v", u, err)
			return
		}
		listed := map[string]bool{}
		unknown := 0
		var unknownH []string
		for _, in := range infos {
			listed[in.Handle] = true
			s := M.sess[in.Handle]
			if s == nil {
				unknown++
				unknownH = append(unknownH, fmt.Sprintf("%s (persistent %v)", shortH(in.Handle), in.Persistent))
				continue
			}
			cu, ok := s.user()
			switch {
			case s.st != live:
				r.violate(4, "lists-dead-session", "UserSessions(%q) lists %s, which is %s", u, s.name, s.st)
			case !ok || cu != u:
				r.violate(4, "lists-other-user", "UserSessions(%q) lists %s, bound to %q", u, s.name, sortedUsers(s.users))
			case s.persist >= 0 && in.Persistent != (s.persist == 1):
				r.violate(1, "lifetime-lost", "UserSessions(%q): %s is persistent=%v, the model says %v", u, s.name, in.Persistent, s.persist == 1)
			}
			if in.Persistent {
				s.persist = 1
			} else {
				s.persist = 0
			}
		}
		for _, s := range M.order {
			if cu, ok := s.user(); ok && cu == u && s.st == live && !listed[s.h] {
				r.violate(4, "misses-live-session", "UserSessions(%q) misses %s, a live session of the user", u, s.name)
			}
		}
		if unknown > M.ghosts[u] {
			r.violate(4, "unknown-sessions", "UserSessions(%q) lists %d sessions the model does not know (%v), and only %d logins of the user went unacknowledged",
				u, unknown, unknownH, M.ghosts[u])
		}
		M.ghosts[u] = unknown
	}
}
