package session_test

// The consistency checker's steps (requests, slow requests held at a gate,
// concurrent batches, faults, time, recovery), their generation from a seed,
// and their execution against the real middleware with the model kept in
// step.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing/synctest"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/faultstore"
)

var chkUsers = []string{"alice", "bob", "carol"}

const chkClients = 4

type reqKind int

const (
	rRead reqKind = iota
	rAdd
	rRemove
	rClear
	rCommitAdd
	rLogin
	rRemember
	rLogout
	rRevokeOthers
	rRevokeUser
)

func (k reqKind) String() string { return reqNames[k] }

var reqNames = [...]string{"read", "add", "remove", "clear", "commit-add", "login", "remember", "logout", "revoke-others", "revoke-user"}

// reqSpec is one request of a client.
type reqSpec struct {
	kind  reqKind
	c     int // client
	item  int // add, remove, commit-add (the item added before Commit)
	item2 int // commit-add: the item set after Commit
	user  int // login, revoke-user
	// old >= 0 sends the client's old cookie number old (modulo how many it
	// has held) from a throwaway cookie jar; -1 sends the current one;
	// oldSweep marks the checker's own reads after recovery.
	old int
}

const oldSweep = -2

func (q reqSpec) String() string {
	var b strings.Builder
	if q.old == oldSweep {
		fmt.Fprintf(&b, "check-read")
		return b.String()
	}
	fmt.Fprintf(&b, "c%d %s", q.c, reqNames[q.kind])
	switch q.kind {
	case rAdd, rRemove:
		fmt.Fprintf(&b, " #%d", q.item)
	case rCommitAdd:
		fmt.Fprintf(&b, " #%d,commit,#%d", q.item, q.item2)
	case rLogin, rRevokeUser:
		fmt.Fprintf(&b, " %s", chkUsers[q.user])
	}
	if q.old >= 0 {
		fmt.Fprintf(&b, " (old cookie %d)", q.old)
	}
	return b.String()
}

// route returns the request's method and path; slow requests go through
// the gated handler.
func (q reqSpec) route(slow bool) (string, string) {
	if slow {
		switch q.kind {
		case rAdd:
			return "POST", fmt.Sprintf("/slow/add/%d", q.item)
		case rRemove:
			return "POST", fmt.Sprintf("/slow/remove/%d", q.item)
		case rLogin:
			return "POST", "/slow/login/" + chkUsers[q.user]
		case rLogout:
			return "POST", "/slow/logout/-"
		}
		return "POST", "/slow/read/-"
	}
	switch q.kind {
	case rAdd:
		return "POST", fmt.Sprintf("/add/%d", q.item)
	case rRemove:
		return "POST", fmt.Sprintf("/remove/%d", q.item)
	case rClear:
		return "POST", "/clear"
	case rCommitAdd:
		return "POST", fmt.Sprintf("/commit-add/%d/%d", q.item, q.item2)
	case rLogin:
		return "POST", "/login/" + chkUsers[q.user]
	case rRemember:
		return "POST", "/remember"
	case rLogout:
		return "POST", "/logout"
	case rRevokeOthers:
		return "POST", "/revoke-others"
	case rRevokeUser:
		return "POST", "/revoke-user/" + chkUsers[q.user]
	}
	return "GET", "/read"
}

// adds returns the items the request adds.
func (q reqSpec) adds() intSet {
	switch q.kind {
	case rAdd:
		return intSet{q.item: true}
	case rCommitAdd:
		return intSet{q.item: true, q.item2: true}
	}
	return intSet{}
}

// blur records in s that the request may or may not have had its effect
// on it.
func (q reqSpec) blur(s *msess) {
	switch q.kind {
	case rAdd, rCommitAdd:
		for n := range q.adds() {
			if !s.present[n] {
				s.maybe[n] = true
			}
		}
	case rRemove:
		if s.present[q.item] {
			delete(s.present, q.item)
			s.maybe[q.item] = true
		}
	case rClear:
		s.makeMaybe()
	case rRemember:
		s.persist, s.inhPersist = -1, false
	}
}

// apply records in s the effect of the acknowledged request, whose response
// is o.
func (q reqSpec) apply(s *msess, o checkerObs) {
	switch q.kind {
	case rAdd, rCommitAdd:
		for n := range q.adds() {
			s.present[n] = true
			delete(s.maybe, n)
		}
	case rRemove:
		// Delete is recorded whether or not the request saw the item:
		// its save, the later one, removes an add that raced it.
		delete(s.present, q.item)
		delete(s.maybe, q.item)
	case rClear:
		clear(s.present)
	case rRemember:
		s.persist, s.inhPersist = 1, false
	}
}

type stepKind int

const (
	sReq stepKind = iota
	sSlow
	sRelease
	sBatch
	sSleep
	sLongSleep
	sRecover
	sFault
)

type faultKind int

const (
	fFail faultKind = iota
	fHang
	fDown
	fUp
	fFlap
	fKeys
	fKeysOff
	fRestart
	fDefer
	fApply
	fDrop
	fStop // Redis: SIGSTOP
	fCont // Redis: SIGCONT
	fKill // Redis: SIGKILL (down until fRestart or recovery)
)

func (f faultKind) String() string { return faultNames[f] }

var faultNames = [...]string{"fail-next", "hang-next", "down", "up", "flap", "fail-keys-of", "fail-keys-off", "restart-empty", "defer-next", "apply-deferred", "drop-deferred", "SIGSTOP", "SIGCONT", "SIGKILL"}

// Recovery modes: what happens to the deferred writes.
const (
	applyBefore = iota // applied before waiting for recovery
	applyAfter         // applied once the store has recovered
	dropThem           // never applied
)

var modeNames = [...]string{"apply deferred, then recover", "recover, then apply deferred", "drop deferred, recover"}

// step is one step of a run.
type step struct {
	kind  stepKind
	req   reqSpec   // sReq, sSlow
	gate  int       // sSlow, sRelease
	batch []reqSpec // sBatch
	d     time.Duration
	fault faultKind
	k     int // fault count; fKeys: the client whose session's key fails
	mode  int // sRecover
}

func (s step) String() string {
	switch s.kind {
	case sReq:
		return s.req.String()
	case sSlow:
		return fmt.Sprintf("%s [slow g%d: loads, waits]", s.req, s.gate)
	case sRelease:
		return fmt.Sprintf("release g%d", s.gate)
	case sBatch:
		parts := make([]string, len(s.batch))
		for i, q := range s.batch {
			parts[i] = q.String()
		}
		return "concurrently { " + strings.Join(parts, " | ") + " }"
	case sSleep:
		return "sleep " + s.d.String()
	case sLongSleep:
		return "sleep " + s.d.String() + " (every session expires)"
	case sRecover:
		return "heal faults; " + modeNames[s.mode] + "; check every session and user"
	}
	switch s.fault {
	case fFail, fHang, fDefer:
		return fmt.Sprintf("fault %s %d", faultNames[s.fault], s.k)
	case fKeys:
		return fmt.Sprintf("fault %s c%d", faultNames[s.fault], s.k)
	}
	return "fault " + faultNames[s.fault]
}

// chkSystem is what a run drives: the manager over a fail-over store whose
// primary is behind a fault store, and the controls of the primary.
type chkSystem struct {
	virtual bool // time is synctest's
	fs      *faultstore.Store
	ds      *degrade.Store
	m       *session.Manager
	h       http.Handler
	limit   int // the journal limit the fail-over store was given
	logs    *ringLog
	probe   time.Duration

	restartEmpty func() error // the primary loses its data
	stop, cont   func()       // Redis only
	kill, revive func()       // Redis only: SIGKILL; restart empty
	keyCheck     func() error // Redis only: every key has an expiry
	close        func()
}

// sleep lets time pass: virtual time as asked, real time scaled down.
func (sys *chkSystem) sleep(d time.Duration) {
	if sys.virtual {
		time.Sleep(d)
		return
	}
	time.Sleep(min(d/20, 100*time.Millisecond))
}

// settle waits until the background work of the bubble is blocked.
func (sys *chkSystem) settle() {
	if sys.virtual {
		synctest.Wait()
	}
}

// chkClient is a browser: its current session cookie and the ones it held.
type chkClient struct {
	tok, h  string
	history []cookieRef
}

type cookieRef struct{ tok, h string }

// inflight is a request that has started.
type inflight struct {
	spec  reqSpec
	slow  bool
	gate  int
	tok   string // the token sent
	h     string // its handle in the model ("" none)
	start snapshot
	// covered: a kill of the session (or a concurrent change of the same
	// items) overlapped the request, so its effect is uncertain.
	covered bool
	// maybeRevoked: a revocation of the user this login binds overlapped it.
	maybeRevoked bool
	// held: a slow request waiting at its gate, so that whatever completes
	// meanwhile comes before its save; killedBefore: its session was
	// killed then.
	held, killedBefore bool
	// overlap: another request of the same session ran at the same time;
	// during an outage either may move the session away first, and the
	// other then starts a new session from its own changes.
	overlap bool
	// peers are the items that requests of the same session, sent in the
	// same batch, add: the response may show them whatever the order.
	peers  intSet
	seq    int // model.seq at its start
	g      *chkGate
	done   chan struct{}  // closed when resp is set
	notify chan *inflight // also told, when not nil
	resp   *http.Response
	res    *chkResult
}

// chkResult is a response as the model reads it.
type chkResult struct {
	code      int
	allowed   string
	errText   string
	degraded  bool
	obs       checkerObs
	handle    string // obs.H, or the handle the failure reported
	setTok    string // a new session cookie
	expired   bool   // the cookie was expired
	target    *msess // the session the response leaves the client with
	newHandle bool   // target was created by this response
	raw       string
}

func (r *chkResult) acked() bool { return r.code/100 == 2 }

// serves reports whether the response gives the client a session: a cookie,
// items or a user (a session dropped by its own save still reports its
// handle, with nothing in it).
func (r *chkResult) serves() bool {
	return r.setTok != "" || len(r.obs.Items) > 0 || r.obs.U != ""
}

func (r *chkResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", r.code)
	if r.degraded {
		b.WriteString(" degraded")
	}
	if r.acked() {
		fmt.Fprintf(&b, " handle=%s user=%q items=%v", shortH(r.obs.H), r.obs.U, r.obs.Items)
		if r.obs.Had {
			b.WriteString(" had")
		}
	} else {
		fmt.Fprintf(&b, " %q", r.errText)
	}
	switch {
	case r.setTok != "":
		b.WriteString(" set-cookie")
	case r.expired:
		b.WriteString(" cookie-expired")
	}
	return b.String()
}

func shortH(h string) string {
	if h == "" {
		return `""`
	}
	return h[:min(6, len(h))]
}

// chkRun is one run of the checker.
type chkRun struct {
	sys      *chkSystem
	model    *model
	rng      *rand.Rand // nil when replaying a trace
	steps    int        // steps to generate
	trace    []step
	clients  []*chkClient
	held     map[int]*inflight
	running  []*inflight
	item     int
	gate     int
	fail     *violation
	ignore   map[string]bool
	ignored  map[string]int // violations looked past, by key
	stepIdx  int
	epoch    time.Time
	stopped  bool // Redis: SIGSTOP
	killed   bool // Redis: SIGKILL
	log      []string
	noFaults bool            // generate no faults
	avoid    map[string]bool // request kinds, faults and step kinds not to generate
}

func newRun(sys *chkSystem, seed uint64, steps int, ignore map[string]bool) *chkRun {
	r := &chkRun{sys: sys, model: newModel(), steps: steps, held: map[int]*inflight{}, ignore: ignore,
		ignored: map[string]int{}, epoch: time.Now()}
	if seed != 0 {
		r.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	for range chkClients {
		r.clients = append(r.clients, &chkClient{})
	}
	return r
}

func (r *chkRun) violate(inv int, tag, format string, args ...any) {
	v := &violation{inv: inv, tag: tag, msg: fmt.Sprintf(format, args...), step: r.stepIdx}
	if r.ignore[fmt.Sprint(inv)] || r.ignore[tag] || r.ignore[v.key()] {
		r.ignored[v.key()]++
		return
	}
	if r.fail == nil {
		r.fail = v
		r.note("VIOLATION " + v.String())
	}
}

func (r *chkRun) note(s string) {
	if len(r.log) < 4000 {
		r.log = append(r.log, s)
	}
}

// maxEpoch is how long the run goes on before a long sleep expires every
// session: well within the idle timeout, so that no session expires on its
// own between two long sleeps and the model knows every session's fate.
const maxEpoch = chkIdle * 7 / 10

// play runs the trace given, or generates r.steps steps, then heals and
// checks everything one last time.
func (r *chkRun) play(trace []step) {
	for i := 0; r.fail == nil; i++ {
		var st step
		if trace != nil {
			if i >= len(trace) {
				break
			}
			st = trace[i]
		} else {
			if i >= r.steps {
				break
			}
			if r.sys.virtual && time.Since(r.epoch) > maxEpoch {
				if r.avoid["outage-expiry"] {
					r.exec(step{kind: sRecover, mode: applyBefore})
				}
				r.exec(step{kind: sLongSleep, d: 2 * chkRememberLife})
				if r.fail != nil {
					break
				}
			}
			st = r.gen()
		}
		r.exec(st)
	}
	if r.fail == nil {
		// The final checkpoint is not a step of the trace: every replay
		// of the trace ends with it.
		r.stepIdx = len(r.trace)
		r.note(fmt.Sprintf("%3d (end) heal faults; recover, then apply deferred; check every session and user", r.stepIdx))
		r.recover(applyAfter)
		r.checkJournal()
	}
	r.shutdown()
}

// shutdown releases what is still held so that every goroutine ends.
func (r *chkRun) shutdown() {
	for _, g := range slices.Sorted(maps.Keys(r.held)) {
		q := r.held[g]
		delete(r.held, g)
		close(q.g.release)
		<-q.done
	}
	for _, q := range r.running {
		<-q.done
	}
	r.running = nil
}

func (r *chkRun) exec(st step) {
	r.stepIdx = len(r.trace)
	r.trace = append(r.trace, st)
	r.note(fmt.Sprintf("%3d %s", r.stepIdx, st))
	switch st.kind {
	case sReq:
		q := r.start(st.req, 0, nil)
		<-q.done
		r.finishOne(q)
	case sSlow:
		q := r.start(st.req, st.gate, nil)
		select {
		case <-q.g.loaded:
			r.held[st.gate], q.held = q, true
			r.note(fmt.Sprintf("      g%d holds %s", st.gate, r.model.nameOf(q.h)))
		case <-q.done: // failed before it loaded
			r.finishOne(q)
		}
	case sRelease:
		r.release(st.gate)
	case sBatch:
		r.batch(st.batch)
	case sSleep:
		r.sys.sleep(st.d)
	case sLongSleep:
		for _, g := range slices.Sorted(maps.Keys(r.held)) {
			r.release(g)
		}
		r.sys.sleep(st.d)
		r.model.expireAll()
		r.epoch = time.Now()
	case sRecover:
		r.recover(st.mode)
	case sFault:
		r.fault(st)
	}
	r.sys.settle()
	r.checkJournal()
}

// checkJournal checks invariant 5 after every step.
func (r *chkRun) checkJournal() {
	if err := checkJournalBound(r.sys.ds.Status(), r.sys.limit); err != nil {
		r.violate(5, "journal-bound", "%v", err)
	}
}

// checkJournalBound is the journal's bound: its entries
// (degrade.WithJournalLimit, limit) and its bytes (the default
// degrade.WithJournalBytes).
func checkJournalBound(st degrade.Status, limit int) error {
	if st.Entries > limit {
		return fmt.Errorf("the journal holds %d entries, over its limit of %d", st.Entries, limit)
	}
	if st.Bytes > degrade.DefaultJournalBytes {
		return fmt.Errorf("the journal holds %d bytes, over its bound of %d", st.Bytes, degrade.DefaultJournalBytes)
	}
	return nil
}

func (r *chkRun) release(gate int) {
	q := r.held[gate]
	if q == nil {
		return
	}
	delete(r.held, gate)
	q.held = false
	close(q.g.release)
	<-q.done
	r.finishOne(q)
}

// reqTimeout bounds every request, so that a request stuck in the library
// fails instead of hanging the run.
func (r *chkRun) reqTimeout() time.Duration {
	if r.sys.virtual {
		return 2 * maxEpoch
	}
	return 20 * time.Second
}

// start sends the request spec (held at gate when gate is not 0) in its
// own goroutine, as a server would; notify, if not nil, is told when it is
// done.
func (r *chkRun) start(spec reqSpec, gate int, notify chan *inflight) *inflight {
	tok, h := "", ""
	switch {
	case spec.old == -1:
		c := r.clients[spec.c]
		tok, h = c.tok, c.h
	case spec.old >= 0:
		if c := r.clients[spec.c]; len(c.history) > 0 {
			ref := c.history[spec.old%len(c.history)]
			tok, h = ref.tok, ref.h
		}
	}
	return r.startWith(spec, tok, h, gate, notify)
}

func (r *chkRun) startWith(spec reqSpec, tok, h string, gate int, notify chan *inflight) *inflight {
	r.model.seq++
	q := &inflight{spec: spec, slow: gate != 0, gate: gate, tok: tok, h: h, start: r.model.snap(h),
		done: make(chan struct{}), notify: notify, seq: r.model.seq}
	if s := r.model.sess[h]; s != nil {
		for p := range s.inflight {
			p.overlap = true
			q.overlap = true
		}
		s.inflight[q] = true
	}
	if q.slow {
		q.g = &chkGate{loaded: make(chan struct{}), release: make(chan struct{})}
	}
	method, path := spec.route(q.slow)
	ctx, cancel := context.WithTimeout(context.Background(), r.reqTimeout())
	req := chkRequest(ctx, method, path, tok, q.g)
	r.running = append(r.running, q)
	go func() {
		defer cancel()
		rec := httptest.NewRecorder()
		r.sys.h.ServeHTTP(rec, req)
		q.resp = rec.Result()
		close(q.done)
		if q.notify != nil {
			q.notify <- q
		}
	}()
	return q
}

func (r *chkRun) finishOne(q *inflight) {
	q.res = r.parse(q.resp)
	r.account(q)
	r.check(q)
}

// batch sends the requests at once and waits for all of them.
func (r *chkRun) batch(specs []reqSpec) {
	notify := make(chan *inflight, len(specs))
	qs := make([]*inflight, len(specs))
	for i, spec := range specs {
		qs[i] = r.start(spec, 0, notify)
	}
	// Requests that may kill a session, or clear it, make the effect of
	// the others of that session uncertain.
	for _, q := range qs {
		q.peers = intSet{}
		for _, p := range qs {
			if p != q && r.mayDisturb(p, q) {
				q.covered = true
			}
			if p != q && q.h != "" && p.h == q.h {
				maps.Copy(q.peers, p.spec.adds())
			}
		}
	}
	// Account for the responses in the order they arrive, then check
	// them all against the model that includes every one of them.
	done := make([]*inflight, 0, len(qs))
	for range qs {
		q := <-notify
		q.res = r.parse(q.resp)
		r.account(q)
		done = append(done, q)
	}
	// An item that one request adds and another of the same session
	// removes may or may not be there: the order of their saves decides
	// (a commit-add saves its first item at its Commit, long before it
	// answers), and the order of the responses does not tell it.
	for _, p := range qs {
		if p.spec.kind != rRemove || p.h == "" {
			continue
		}
		for _, q := range qs {
			if q == p || q.h != p.h || !q.spec.adds()[p.spec.item] {
				continue
			}
			for _, s := range []*msess{r.model.sess[p.h], p.res.target, q.res.target} {
				if s != nil {
					delete(s.present, p.spec.item)
					s.maybe[p.spec.item] = true
				}
			}
		}
	}
	for _, q := range done {
		r.check(q)
	}
}

// mayDisturb reports whether p, running concurrently with q, may kill q's
// session or change the items q changes.
func (r *chkRun) mayDisturb(p, q *inflight) bool {
	if q.h == "" {
		return false
	}
	same := p.h == q.h
	switch p.spec.kind {
	case rLogin, rLogout, rClear:
		return same
	case rRevokeUser:
		s := r.model.sess[q.h]
		return s != nil && s.users[chkUsers[p.spec.user]]
	case rRevokeOthers:
		s, ps := r.model.sess[q.h], r.model.sess[p.h]
		if s == nil || ps == nil || same {
			return false
		}
		for u := range ps.users {
			if u != "" && s.users[u] {
				return true
			}
		}
	}
	return false
}

// parse reads a response.
func (r *chkRun) parse(resp *http.Response) *chkResult {
	res := &chkResult{code: resp.StatusCode, degraded: resp.Header.Get(hdrDegrade) == "true",
		allowed: resp.Header.Get(hdrAllowed), errText: resp.Header.Get(hdrError)}
	var body strings.Builder
	if resp.Body != nil {
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
	}
	res.raw = body.String()
	if res.acked() {
		if err := json.Unmarshal([]byte(res.raw), &res.obs); err != nil && !strings.HasPrefix(resp.Request.URL.Path, "/revoke-user") {
			res.errText = "unreadable body: " + res.raw
		}
		res.handle = res.obs.H
	} else {
		res.handle = resp.Header.Get(hdrHandle)
		if res.errText == "" {
			res.errText = strings.TrimSpace(res.raw)
		}
	}
	for _, c := range resp.Cookies() {
		if c.Name != "session" {
			continue
		}
		if c.MaxAge < 0 || c.Value == "" {
			res.expired, res.setTok = true, ""
		} else {
			res.expired, res.setTok = false, c.Value
		}
	}
	return res
}

// account updates the model with a completed request.
func (r *chkRun) account(q *inflight) {
	M, res := r.model, q.res
	r.running = slices.DeleteFunc(r.running, func(x *inflight) bool { return x == q })
	sIn := M.sess[q.h]
	if sIn != nil {
		delete(sIn.inflight, q)
	}
	fresh := sIn == nil || (q.start.st == dead && sIn.st == dead)
	kind := q.spec.kind
	r.note(fmt.Sprintf("      %s%s -> %s", reqLabel(q), M.nameOf(q.h), res))

	if kind == rRevokeUser {
		u := chkUsers[q.spec.user]
		// Not acknowledged, it may have revoked some and not others.
		M.revoke(u, "", !res.acked(), q, r.running)
		return
	}
	hOut := res.handle
	var target *msess
	if hOut != "" {
		target = M.sess[hOut]
	}
	isNew := hOut != "" && target == nil
	if res.acked() && sIn != nil && q.start.st == dead && sIn.st == dead && hOut == q.h && kind != rLogin && kind != rLogout && res.serves() {
		// A dead ID answered as a session again: invariant 2 reports it.
		// Should the report be looked past, the model follows the store,
		// as far as it can: writes still pending may kill it again.
		sIn.st, sIn.persist = maybeDead, -1
		clear(sIn.present)
		clear(sIn.maybe)
		for _, n := range res.obs.Items {
			sIn.maybe[n] = true
		}
		sIn.users = map[string]bool{res.obs.U: true}
		fresh = false
	}

	if res.acked() {
		switch kind {
		case rLogin:
			if res.setTok != "" && isNew {
				t := M.add(hOut, res.setTok)
				t.persist = 0
				if !fresh && !q.endedBefore(sIn) {
					// Taken by the fallback, the renewal is a move,
					// and a concurrent request of the session may
					// have moved it away first: the login then starts
					// a new session from its own changes.
					moved := res.degraded && q.overlap
					inheritInto(t, sIn, sIn.st == live && !q.covered && !moved)
					carry(t, sIn, r.sys.fs.Written(sIn.h))
					t.persist = sIn.persist
					if (q.covered || moved || sIn.st != live) && t.persist != 0 {
						// The session may have ended first (or may be
						// dead already): the login then starts a new
						// session of its own lifetime.
						t.persist = -1
					}
				}
				t.users = map[string]bool{chkUsers[q.spec.user]: true}
				t.inhUser = false
				if q.maybeRevoked {
					t.st = maybeDead
				}
				if !fresh {
					M.kill(sIn, dead, t, q)
				}
				target, res.newHandle = t, true
			} else {
				// No new ID (invariant 3): the renewal may still have
				// happened, into a session no client holds.
				M.ghosts[chkUsers[q.spec.user]]++
				if !fresh {
					M.kill(sIn, maybeDead, nil, q)
				}
			}
		case rLogout:
			if sIn != nil {
				M.kill(sIn, dead, nil, q)
			}
		case rRevokeOthers:
			M.revoke(res.obs.U, res.obs.H, false, q, r.running)
		default:
			switch {
			case target != nil && target == sIn:
				if q.covered || sIn.st == dead {
					q.spec.blur(sIn)
				} else {
					q.spec.apply(sIn, res.obs)
				}
			case isNew && res.setTok != "":
				t := M.add(hOut, res.setTok)
				t.persist = 0
				if !fresh && res.degraded && !q.endedBefore(sIn) {
					// Served by the fallback under a fresh ID: the
					// session moved, and the move lands on the
					// primary's record of the old ID if that is
					// alive, else starts a new anonymous session
					// from the request's changes. The old ID is dead
					// either way.
					inheritInto(t, sIn, sIn.st == live && !q.covered && !q.overlap)
					carry(t, sIn, r.sys.fs.Written(sIn.h))
					t.users, t.persist = maps.Clone(sIn.users), sIn.persist
					if q.covered || q.overlap || sIn.st != live {
						// A concurrent request may have ended the
						// old record first (or a revocation may have
						// ended it already).
						t.users[""] = true
						if t.persist != 0 {
							t.persist = -1
						}
					}
					M.kill(sIn, dead, t, q)
				}
				q.spec.apply(t, res.obs)
				if kind == rCommitAdd && q.covered && !fresh {
					// The Commit saved its item into the session
					// loaded, which a concurrent logout may have
					// ended after: the later write then started
					// this new session, without that item.
					delete(t.present, q.spec.item)
					t.maybe[q.spec.item] = true
				}
				target, res.newHandle = t, true
			}
		}
		if !res.degraded {
			maps.Copy(M.onPrimary, q.spec.adds())
		}
	} else {
		if !fresh {
			switch kind {
			case rLogin:
				M.kill(sIn, maybeDead, nil, q)
				M.ghosts[chkUsers[q.spec.user]]++
			case rLogout:
				M.kill(sIn, maybeDead, nil, q)
			case rRevokeOthers:
				for u := range sIn.users {
					M.revoke(u, sIn.h, true, q, r.running)
				}
			default:
				q.spec.blur(sIn)
			}
		} else if kind == rLogin {
			M.ghosts[chkUsers[q.spec.user]]++
		}
		// A failed request may still hand out a session: a Commit inside
		// it saved before the failure.
		if res.setTok != "" && isNew {
			t := M.add(hOut, res.setTok)
			t.st, t.persist = maybeDead, -1
			q.spec.blur(t)
			target, res.newHandle = t, true
		}
	}
	if target != nil && res.setTok != "" {
		target.tok = res.setTok
	}
	res.target = target

	// The cookie jar.
	if q.spec.old == -1 {
		c := r.clients[q.spec.c]
		switch {
		case res.setTok != "":
			c.tok, c.h = res.setTok, hOut
			if target == nil {
				c.h = ""
			}
			c.history = append(c.history, cookieRef{c.tok, c.h})
		case res.expired:
			c.tok, c.h = "", ""
		}
	}
}

// endedBefore reports whether s, the session q loaded, surely ended
// (logged out, renewed away, revoked) while q waited at its gate, before
// its save: the save then starts a new anonymous session from q's changes
// alone, carrying nothing of s.
func (q *inflight) endedBefore(s *msess) bool {
	return s != nil && q.killedBefore && s.st == dead
}

func reqLabel(q *inflight) string {
	if q.slow {
		return fmt.Sprintf("g%d %s on ", q.gate, q.spec)
	}
	return q.spec.String() + " on "
}

// inheritInto gives t, which s was renewed or moved into, the items of s:
// for sure when sure, else as possibilities.
func inheritInto(t, s *msess, sure bool) {
	for n := range s.present {
		if sure {
			t.present[n] = true
		} else {
			t.maybe[n] = true
		}
	}
	for n := range s.maybe {
		if !t.present[n] {
			t.maybe[n] = true
		}
	}
}

// check checks the response of a completed request against the model.
func (r *chkRun) check(q *inflight) {
	M, res := r.model, q.res
	kind := q.spec.kind
	if res.code >= 500 && res.allowed == "" {
		tag := "5xx"
		switch {
		case strings.Contains(res.errText, session.ErrDestroyed.Error()):
			tag = "5xx-destroyed"
		case strings.HasPrefix(res.errText, "save failed"):
			tag = "5xx-save"
		}
		r.violate(6, tag, "%s on %s answered %d: %s", q.spec, M.nameOf(q.h), res.code, res.errText)
	}
	if !res.acked() || kind == rRevokeUser {
		return
	}
	if res.errText != "" {
		r.violate(6, "unreadable", "%s: %s", q.spec, res.errText)
		return
	}
	o := res.obs
	hOut := o.H
	sIn := M.sess[q.h]
	fresh := sIn == nil || q.start.st == dead
	who := fmt.Sprintf("%s on %s", q.spec, M.nameOf(q.h))
	if q.slow {
		who = fmt.Sprintf("slow %s (g%d) on %s", q.spec, q.gate, M.nameOf(q.h))
	}

	if kind == rLogin && (res.setTok == "" || !res.newHandle) {
		r.violate(3, "login-without-new-id", "%s answered %d %q but issued no new session ID (set-cookie %v, handle %s)",
			who, res.code, o.U, res.setTok != "", M.nameOf(hOut))
	}
	if q.h != "" && q.start.st == dead {
		switch {
		case hOut == q.h && res.serves():
			r.violate(2, "dead-id-served", "%s: the ID was dead, yet the response is its session again (items %v, user %q, degraded %v, set-cookie %v)",
				who, o.Items, o.U, res.degraded, res.setTok != "")
		case o.U != "" && !(kind == rLogin && o.U == chkUsers[q.spec.user]):
			r.violate(2, "dead-id-user", "%s: the ID was dead, yet the response has user %q", who, o.U)
		}
		own := q.spec.adds()
		for _, n := range o.Items {
			if !own[n] {
				r.violate(2, "dead-id-data", "%s: the ID was dead, yet the response holds item %d", who, n)
			}
		}
	}
	if hOut != "" && hOut != q.h && !res.newHandle && M.sess[hOut] != nil {
		r.violate(2, "other-session", "%s: the response is another session, %s", who, M.nameOf(hOut))
	}
	if res.setTok != "" && hOut == "" {
		r.violate(2, "cookie-for-no-session", "%s: a session cookie was issued for a request whose session has no handle", who)
	}
	if res.setTok != "" && res.target != nil && res.target == sIn && q.endedBefore(sIn) {
		r.violate(2, "dead-id-reissued", "%s: the response re-issued the cookie of %s, which died while the request waited", who, sIn.name)
	}

	// Items: nothing that cannot be there, and, when the response comes
	// from the primary and nothing concurrent blurs it, everything that
	// must be there.
	possible := maps.Clone(q.start.possible)
	var end snapshot
	if res.target != nil {
		end = M.snap(res.target.h)
		maps.Copy(possible, end.possible)
	}
	maps.Copy(possible, q.spec.adds())
	maps.Copy(possible, q.peers)
	for _, n := range o.Items {
		if !possible[n] {
			tag := "foreign-item"
			if M.removed[n] {
				tag = "removed-item-back"
			}
			r.violate(1, tag, "%s: the response holds item %d, which cannot be there (before %v, after %v; degraded %v)",
				who, n, setString(q.start.possible), setString(end.possible), res.degraded)
		}
	}
	intact := !res.degraded && !q.covered && !fresh && q.start.st == live
	if intact && res.target != nil && res.target.st != dead && (res.target == sIn || (kind == rLogin && res.newHandle)) {
		got := intSet{}
		for _, n := range o.Items {
			got[n] = true
		}
		var lost []int
		for n := range q.start.present {
			if end.present[n] && !got[n] {
				lost = append(lost, n)
			}
		}
		if len(lost) > 0 {
			slices.Sort(lost)
			r.violate(1, "add-lost", "%s: acknowledged items %v are missing (response %v, model %s)", who, lost, o.Items, res.target)
		}
	}
	if intact && sIn.st == live && kind != rLogin && kind != rLogout && hOut != q.h {
		r.violate(1, "session-lost", "%s: the session is gone (the response is %s, not degraded); it held %v, user %q",
			who, M.nameOf(hOut), q.start.present.sorted(), sortedUsers(q.start.users))
	}
	users := maps.Clone(q.start.users)
	maps.Copy(users, end.users)
	if res.target == nil {
		users[""] = true
	}
	if res.degraded {
		users[""] = true
	}
	if kind != rLogout && !(kind == rLogin && !res.newHandle) && !users[o.U] {
		r.violate(1, "wrong-user", "%s: the response has user %q, the model allows %q", who, o.U, sortedUsers(users))
	}
	if kind == rRemove && o.Had {
		M.removed[q.spec.item] = true
	}
}
