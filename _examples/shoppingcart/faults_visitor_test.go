package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"time"
)

// traceLen is how many of a visitor's last requests a violation shows;
// when the contradiction began earlier, it also shows the requests up to
// that beginning.
const traceLen = 10

// historyLen bounds the requests a visitor remembers for reports.
const historyLen = 2000

// productsPerVisitor is how many products a visitor shops for. The
// visitors' products are disjoint while the catalog is large enough, so
// that a line of another visitor's cart shows up as a phantom.
const productsPerVisitor = 3

// thinkTime is the shortest pause between two requests of a visitor; the
// longest is twice as long. A visitor sends some 25 requests a second.
const thinkTime = 25 * time.Millisecond

// deadLabel marks the requests that replay the cookie of an ended session.
const deadLabel = "[dead cookie] "

// maxDeadCookies is how many cookies of ended session IDs a visitor keeps
// to replay.
const maxDeadCookies = 8

// step is one request of a visitor and its answer, for reports.
type step struct {
	seq      int
	at       time.Duration
	req      string // method, path and what the body asked
	status   int    // 0: no answer
	err      string // transport error
	degraded bool
	sent     string // short form of the session ID sent, "-" for none
	set      string // the session cookie set: short ID, "expired", or ""
	answer   string // summary of the body
}

func (s step) String() string {
	status := fmt.Sprint(s.status)
	if s.status == 0 {
		status = "ERR " + s.err
	}
	deg := ""
	if s.degraded {
		deg = " degraded"
	}
	set := ""
	if s.set != "" {
		set = " set-cookie=" + s.set
	}
	return fmt.Sprintf("#%-4d +%7.3fs %-34s sent=%-9s -> %s%s%s %s",
		s.seq, s.at.Seconds(), s.req, s.sent, status, deg, set, s.answer)
}

// maxAcks bounds the acknowledged changes a line keeps for reports.
const maxAcks = 12

// acked records an acknowledged change of the line.
func (l *line) acked(change string) {
	if len(l.acks) == maxAcks {
		l.acks = slices.Delete(l.acks, 0, 1)
		l.acks[0] = "..."
	}
	l.acks = append(l.acks, change)
}

func (l *line) ackList() string {
	if len(l.acks) == 0 {
		return "none"
	}
	return strings.Join(l.acks, ", ")
}

// followUp is a violation (its index in the run) that shows the visitor's
// next left requests.
type followUp struct{ index, left int }

// line is a visitor's model of one product's cart line: the quantity the
// cart must hold at least (lo) and may hold at most (hi). After an
// acknowledged change they are equal; a change whose outcome is unknown
// (5xx, no answer) widens them, and the next read narrows them again.
type line struct {
	lo, hi int
	// gone is the last acknowledged change that emptied the line ("remove
	// #12", "logout #40") until an answer shows the line present as the
	// model expects: a quantity above hi is then that change undone.
	gone   string
	acks   []string // acknowledged changes since an answer last agreed, for reports
	streak streak
}

// userModel is a visitor's model of its login: a user, "" for none. While
// a login or logout's outcome is unknown, either of two.
type userModel struct {
	sure   bool
	name   string
	maybe  [2]string
	since  string // the request that set it, for reports
	streak streak
}

// streak follows the answers that contradict a part of the model (a cart
// line, the login) from the first one until an answer agrees again;
// acknowledged changes in between do not end it. Within a streak each
// class of violation is reported once on a healthy and once on a degraded
// answer.
type streak struct {
	agreed     int             // the last request whose answer agreed, 0: none
	wrongSince int             // the first request of the current contradiction, 0: none
	reported   map[string]bool // class and whether degraded, as "class|true"
}

// agree records an answer of request seq that agrees with the model.
func (s *streak) agree(seq int) { *s = streak{agreed: seq} }

// contradict records an answer of request seq that contradicts the model
// as class says, and reports whether to report it.
func (s *streak) contradict(seq int, degraded bool, class string) bool {
	if s.wrongSince == 0 {
		s.wrongSince = seq
	}
	if s.reported == nil {
		s.reported = map[string]bool{}
	}
	k := fmt.Sprint(class, "|", degraded)
	first := !s.reported[k]
	s.reported[k] = true
	return first
}

func (s *streak) String() string {
	agreed := "never"
	if s.agreed > 0 {
		agreed = fmt.Sprintf("#%d", s.agreed)
	}
	return fmt.Sprintf("answers disagree since #%d, last agreed %s", s.wrongSince, agreed)
}

func (u userModel) String() string {
	if u.sure {
		return userName(u.name)
	}
	return userName(u.maybe[0]) + " or " + userName(u.maybe[1])
}

func userName(u string) string {
	if u == "" {
		return "logged out"
	}
	return fmt.Sprintf("%q", u)
}

// visitor is one client of the shop with its own cookie jar. It sends one
// request at a time, so its model of its session is exact.
type visitor struct {
	run      *faultRun
	n        int
	rng      *rand.Rand
	jar      http.CookieJar
	client   *http.Client
	products []string

	seq    int
	steps  []step     // the last historyLen at most
	follow []followUp // violations that show the next requests

	cart  map[string]*line
	user  userModel
	dead  []string // cookie values of session IDs ended by a login or logout
	stats map[string]int
}

func (r *faultRun) newVisitor(n int, rng *rand.Rand, catalog []Product) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	v := &visitor{
		run: r, n: n, rng: rng, jar: jar, client: r.httpClient(jar),
		cart:  map[string]*line{},
		user:  userModel{sure: true, since: "start"},
		stats: map[string]int{},
	}
	for i := range productsPerVisitor {
		v.products = append(v.products, catalog[((n-1)*productsPerVisitor+i)%len(catalog)].ID)
	}
	return v
}

// shop sends requests until stop is closed, the deadline passes or
// maxRequests were sent.
func (v *visitor) shop(stop <-chan struct{}, deadline time.Time) {
	for range maxRequests {
		select {
		case <-stop:
			return
		default:
		}
		if time.Now().After(deadline) {
			return
		}
		v.act()
		time.Sleep(thinkTime + time.Duration(v.rng.Int64N(int64(thinkTime))))
	}
}

// act sends one random request and checks its answer.
func (v *visitor) act() {
	p := v.products[v.rng.IntN(len(v.products))]
	// Reads dominate and logouts (which empty the cart) are rare, so that
	// a change made during an outage often stays untouched until after
	// the recovery, where a lost or undone change shows.
	switch x := v.rng.IntN(100); {
	case x < 22:
		q := 1 + v.rng.IntN(3)
		if l := v.cart[p]; l != nil && l.hi+q > maxQuantity {
			v.remove(p)
			return
		}
		v.add(p, q)
	case x < 32:
		v.remove(p)
	case x < 62:
		v.read(v.client, v.run.base, "")
	case x < 78:
		v.me(v.client, v.run.base, "")
	case x < 85:
		if v.rng.IntN(5) < 3 {
			v.login("alice", "wonderland")
		} else {
			v.login("bob", "builder")
		}
	case x < 87:
		v.logout()
	case x < 90:
		v.badLogin()
	default:
		v.replayDead()
	}
}

// reply is an answer of the shop.
type reply struct {
	status   int // 0: no answer
	degraded bool
	cookie   *http.Cookie // the session cookie the answer set, or nil
	sentRaw  string       // the session cookie value sent
	body     []byte
}

// do sends a request with c to base and records it. A non-empty cookie is
// sent as the session cookie instead of the jar's. label prefixes the
// step's description.
func (v *visitor) do(c *http.Client, base, method, path string, body any, desc, cookie, label string) reply {
	v.seq++
	st := step{seq: v.seq, at: v.run.since(), req: label + method + " " + path + desc}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			v.run.t.Errorf("encoding %v: %v", body, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		v.run.t.Errorf("request %s %s: %v", method, path, err)
		return reply{}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var rep reply
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
		rep.sentRaw = cookie
	} else if c.Jar != nil {
		for _, ck := range c.Jar.Cookies(req.URL) {
			if ck.Name == cookieName {
				rep.sentRaw = ck.Value
			}
		}
	}
	st.sent = v.shortID(rep.sentRaw)
	resp, err := c.Do(req)
	if err != nil {
		st.err = err.Error()
		v.record(st, method+" "+routeOf(path), "error")
		v.violate(rep, classNoAnswer, fmt.Sprintf("%s %s: %v", method, path, err))
		return rep
	}
	rep.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	rep.status = resp.StatusCode
	rep.degraded = resp.Header.Get("X-Session-Degraded") == "true"
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			rep.cookie = ck
		}
	}
	st.status, st.degraded = rep.status, rep.degraded
	if rep.cookie != nil {
		if expired(rep.cookie) {
			st.set = "expired"
		} else {
			st.set = v.shortID(rep.cookie.Value)
		}
	}
	st.answer = summarize(rep.body)
	if err != nil {
		st.err = err.Error()
	}
	v.record(st, method+" "+routeOf(path), fmt.Sprint(rep.status))
	if rep.degraded {
		v.stats["degraded answers"]++
	}
	if rep.status >= 500 {
		v.violate(rep, class5xx, fmt.Sprintf("%s %s answered %d %s", method, path, rep.status, st.answer))
	}
	// An ended session's cookie may be expired: it is not the visitor's.
	if rep.cookie != nil && expired(rep.cookie) && path != "/api/logout" && label != deadLabel {
		v.violate(rep, classExpired, fmt.Sprintf("%s %s answered %d and expired the session cookie", method, path, rep.status))
	}
	return rep
}

// record appends st to the visitor's trace and counts it.
func (v *visitor) record(st step, route, status string) {
	for i := range v.follow {
		v.run.addAfter(v.follow[i].index, st)
		v.follow[i].left--
	}
	v.follow = slices.DeleteFunc(v.follow, func(f followUp) bool { return f.left == 0 })
	if len(v.steps) == historyLen {
		v.steps = slices.Delete(v.steps, 0, historyLen/2)
	}
	v.steps = append(v.steps, st)
	v.stats[route+" "+status]++
}

// trace returns a copy of the visitor's last traceLen requests and, when
// since (a request number, 0: none) is older, of the requests that led to
// it: its predecessors and since itself.
func (v *visitor) trace(since int) (origin, last []step) {
	last = slices.Clone(v.steps[max(0, len(v.steps)-traceLen):])
	if since == 0 || len(last) == 0 || since >= last[0].seq {
		return nil, last
	}
	for i, st := range v.steps {
		if st.seq == since {
			origin = slices.Clone(v.steps[max(0, i-traceLen/2+1) : i+1])
			break
		}
	}
	return origin, last
}

// routeOf returns the route of path, for counting.
func routeOf(path string) string {
	if strings.HasPrefix(path, "/api/cart/items/") {
		return "/api/cart/items/{id}"
	}
	return path
}

// line returns the model of p's cart line.
func (v *visitor) line(p string) *line {
	l := v.cart[p]
	if l == nil {
		l = &line{}
		v.cart[p] = l
	}
	return l
}

func (v *visitor) add(p string, q int) {
	rep := v.do(v.client, v.run.base, "POST", "/api/cart/items",
		map[string]any{"productId": p, "quantity": q}, fmt.Sprintf(" %s+%d", p, q), "", "")
	l := v.line(p)
	switch {
	case rep.status == http.StatusOK:
		l.lo += q
		l.hi += q
		l.acked(fmt.Sprintf("add %d #%d", q, v.seq))
		v.checkCart(rep, "the add's own answer")
	case rep.status == 0 || rep.status >= 500:
		l.hi += q // it may have been added
	default:
		v.unexpected(rep, "POST /api/cart/items", "200")
	}
}

func (v *visitor) remove(p string) {
	rep := v.do(v.client, v.run.base, "DELETE", "/api/cart/items/"+p, nil, "", "", "")
	l := v.line(p)
	switch {
	case rep.status == http.StatusOK:
		l.lo, l.hi = 0, 0
		l.gone = fmt.Sprintf("remove #%d", v.seq)
		l.acked(l.gone)
		v.checkCart(rep, "the remove's own answer")
	case rep.status == 0 || rep.status >= 500:
		l.lo = 0 // it may have been removed
	default:
		v.unexpected(rep, "DELETE /api/cart/items/{id}", "200")
	}
}

func (v *visitor) read(c *http.Client, base, label string) {
	rep := v.do(c, base, "GET", "/api/cart", nil, "", v.cookieFor(c), label)
	switch {
	case rep.status == http.StatusOK:
		v.checkCart(rep, label+"a read")
	case rep.status == 0 || rep.status >= 500:
	default:
		v.unexpected(rep, "GET /api/cart", "200")
	}
}

// cookieFor returns the session cookie to send with c: none when c has a
// jar (the jar sends it), else the value in the visitor's jar.
func (v *visitor) cookieFor(c *http.Client) string {
	if c.Jar != nil {
		return ""
	}
	for _, ck := range v.jar.Cookies(v.run.baseURL) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

// checkCart checks the cart in an answer against the model. A consistent
// answer narrows the model; an inconsistent one leaves the model as the
// acknowledged requests made it, and is reported as streak says (every
// time in the final check).
func (v *visitor) checkCart(rep reply, what string) {
	var cart cartJSON
	if err := json.Unmarshal(rep.body, &cart); err != nil {
		v.violate(rep, classStatus, fmt.Sprintf("%s is not a cart: %v", what, err))
		return
	}
	got := cart.quantities()
	for p := range got {
		if _, ok := v.cart[p]; !ok {
			v.cart[p] = &line{}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(v.cart)) {
		l := v.cart[p]
		q := got[p]
		class, detail := "", ""
		switch {
		case q < l.lo:
			class = classLostWrite
			detail = fmt.Sprintf("%s shows %s:%d, want at least %d", what, p, q, l.lo)
		case q > l.hi && strings.HasPrefix(l.gone, "remove"):
			class = classRemovedBack
			detail = fmt.Sprintf("%s shows %s:%d, want at most %d after the acknowledged %s", what, p, q, l.hi, l.gone)
		case q > l.hi && strings.HasPrefix(l.gone, "logout"):
			class = classLogoutBack
			detail = fmt.Sprintf("%s shows %s:%d, want at most %d after the acknowledged %s", what, p, q, l.hi, l.gone)
		case q > l.hi:
			class = classPhantom
			detail = fmt.Sprintf("%s shows %s:%d, want at most %d", what, p, q, l.hi)
		}
		if class == "" {
			l.lo, l.hi, l.acks = q, q, nil
			l.streak.agree(v.seq)
			if q > 0 {
				l.gone = ""
			}
			continue
		}
		if l.streak.contradict(v.seq, rep.degraded, class) || v.run.final() {
			v.violateSince(rep, class, l.streak.wrongSince, fmt.Sprintf("%s (acknowledged since the last agreeing answer: %s); %s; %v",
				detail, l.ackList(), summarize(rep.body), &l.streak))
		}
	}
}

func (v *visitor) login(user, password string) {
	rep := v.do(v.client, v.run.base, "POST", "/api/login",
		map[string]string{"username": user, "password": password}, " "+user, "", "")
	switch {
	case rep.status == http.StatusOK:
		sent := cookieID(rep.sentRaw)
		switch {
		case rep.cookie == nil || expired(rep.cookie):
			v.violate(rep, classLoginNoCookie, fmt.Sprintf("login of %s answered 200 without a new session cookie (sent %s)", user, v.shortID(rep.sentRaw)))
		case cookieID(rep.cookie.Value) == "":
			v.violate(rep, classBadCookie, fmt.Sprintf("login of %s set a cookie that does not parse", user))
		case sent != "" && cookieID(rep.cookie.Value) == sent:
			v.violate(rep, classLoginSameID, fmt.Sprintf("login of %s answered 200 with the session ID it was sent (%s)", user, v.shortID(rep.sentRaw)))
		default:
			v.bury(rep.sentRaw)
		}
		v.user = userModel{sure: true, name: user, since: fmt.Sprintf("login of %s at #%d", user, v.seq), streak: v.user.streak}
	case rep.status == 0 || rep.status >= 500:
		v.unsure(user)
	default:
		v.unexpected(rep, "POST /api/login", "200")
	}
}

func (v *visitor) badLogin() {
	rep := v.do(v.client, v.run.base, "POST", "/api/login",
		map[string]string{"username": "alice", "password": "not-the-password"}, " alice (wrong password)", "", "")
	if rep.status != http.StatusUnauthorized && rep.status != 0 && rep.status < 500 {
		v.unexpected(rep, "POST /api/login with a wrong password", "401")
	}
}

func (v *visitor) logout() {
	rep := v.do(v.client, v.run.base, "POST", "/api/logout", nil, "", "", "")
	switch {
	case rep.status == http.StatusNoContent:
		if rep.sentRaw != "" && (rep.cookie == nil || !expired(rep.cookie)) {
			v.violate(rep, classLogoutCookie, fmt.Sprintf("logout of %s answered 204 without expiring it", v.shortID(rep.sentRaw)))
		}
		v.bury(rep.sentRaw)
		for _, l := range v.cart {
			l.lo, l.hi = 0, 0
			l.gone = fmt.Sprintf("logout #%d", v.seq)
			l.acked(l.gone)
		}
		v.user = userModel{sure: true, since: fmt.Sprintf("logout at #%d", v.seq), streak: v.user.streak}
	case rep.status == 0 || rep.status >= 500:
		for _, l := range v.cart {
			l.lo = 0
		}
		v.unsure("")
	default:
		v.unexpected(rep, "POST /api/logout", "204")
	}
}

// unsure records a login or logout whose outcome is unknown: the user is
// the one before or next.
func (v *visitor) unsure(next string) {
	prev := v.user.name
	if !v.user.sure {
		prev = v.user.maybe[0] // keep it simple: the older guess
	}
	v.user = userModel{maybe: [2]string{prev, next}, since: fmt.Sprintf("unanswered #%d", v.seq), streak: v.user.streak}
}

func (v *visitor) me(c *http.Client, base, label string) {
	rep := v.do(c, base, "GET", "/api/me", nil, "", v.cookieFor(c), label)
	var got string
	switch rep.status {
	case http.StatusOK:
		var body struct{ User string }
		if err := json.Unmarshal(rep.body, &body); err != nil || body.User == "" {
			v.violate(rep, classStatus, fmt.Sprintf("/api/me answered 200 with %q", rep.body))
			return
		}
		got = body.User
	case http.StatusUnauthorized:
	case 0, 500, 502, 503, 504:
		return
	default:
		v.unexpected(rep, "GET /api/me", "200 or 401")
		return
	}
	u := v.user
	class := ""
	switch {
	case !u.sure && (got == u.maybe[0] || got == u.maybe[1]):
		v.user = userModel{sure: true, name: got, since: u.since + fmt.Sprintf(", resolved by #%d", v.seq), streak: v.user.streak}
	case u.sure && got == u.name:
	case !u.sure:
		class = classWrongUser
	case u.name == "":
		class = classRevivedUser
	case got == "":
		class = classLostLogin
	default:
		class = classWrongUser
	}
	if class == "" {
		v.user.streak.agree(v.seq)
		return
	}
	if v.user.streak.contradict(v.seq, rep.degraded, class) || v.run.final() {
		answer := "401"
		if got != "" {
			answer = fmt.Sprintf("%q", got)
		}
		v.violateSince(rep, class, v.user.streak.wrongSince, fmt.Sprintf("%s/api/me answers %s, want %s (%s); %v", label, answer, u, u.since, &v.user.streak))
	}
}

// bury keeps the cookie value of a session ID that an acknowledged login
// or logout ended.
func (v *visitor) bury(raw string) {
	if raw == "" {
		return
	}
	v.dead = append(v.dead, raw)
	if len(v.dead) > maxDeadCookies {
		v.dead = v.dead[1:]
	}
}

// replayDead sends the cookie of an ended session ID, without the jar:
// it must serve no user and an empty cart.
func (v *visitor) replayDead() {
	if len(v.dead) == 0 {
		v.read(v.client, v.run.base, "")
		return
	}
	raw := v.dead[v.rng.IntN(len(v.dead))]
	bare := v.run.httpClient(nil)
	rep := v.do(bare, v.run.base, "GET", "/api/me", nil, "", raw, deadLabel)
	switch rep.status {
	case http.StatusOK:
		v.violate(rep, classDeadUser, fmt.Sprintf("the ended session %s answers /api/me with %s", v.shortID(raw), summarize(rep.body)))
	case http.StatusUnauthorized, 0, 500, 502, 503, 504:
	default:
		v.unexpected(rep, "GET /api/me with an ended session", "401")
	}
	rep = v.do(bare, v.run.base, "GET", "/api/cart", nil, "", raw, deadLabel)
	if rep.status == http.StatusOK {
		var cart cartJSON
		if err := json.Unmarshal(rep.body, &cart); err == nil && len(cart.Items) > 0 {
			v.violate(rep, classDeadCart, fmt.Sprintf("the ended session %s serves the cart %v", v.shortID(raw), cart.quantities()))
		}
	}
}

// finalCheck reads the cart and the user with c from base and checks them;
// after recovery no answer may be degraded.
func (v *visitor) finalCheck(c *http.Client, base, label string) {
	v.read(c, base, label)
	v.checkHealthy()
	v.me(c, base, label)
	v.checkHealthy()
}

func (v *visitor) checkHealthy() {
	if st := v.steps[len(v.steps)-1]; st.degraded {
		v.run.violate(v, classDegraded, true, 0, "an answer after recovery is degraded")
	}
}

// violate records a violation found in the answer rep.
func (v *visitor) violate(rep reply, class, detail string) {
	v.run.violate(v, class, rep.degraded, 0, detail)
}

// violateSince records a violation found in the answer rep, of a
// contradiction that began with request since.
func (v *visitor) violateSince(rep reply, class string, since int, detail string) {
	v.run.violate(v, class, rep.degraded, since, detail)
}

func (v *visitor) unexpected(rep reply, what, want string) {
	if rep.status == 0 || rep.status >= 500 {
		return // reported already
	}
	v.violate(rep, classStatus, fmt.Sprintf("%s answered %d %s, want %s", what, rep.status, summarize(rep.body), want))
}

// expired reports whether a Set-Cookie removes the cookie.
func expired(c *http.Cookie) bool {
	return c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

// cookieID returns the session ID a signed cookie value carries, or "".
// The value is base64 of "timestamp|base64(id)|mac" (cookies.Signer): the
// ID is signed, not encrypted, and the shop checks the signature; the test
// only compares IDs.
func cookieID(value string) string {
	if value == "" {
		return ""
	}
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return ""
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		return ""
	}
	id, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return ""
	}
	return string(id)
}

// shortID names the session ID of a cookie value in reports, by a hash
// prefix rather than the ID itself.
func (v *visitor) shortID(value string) string {
	if value == "" {
		return "-"
	}
	id := cookieID(value)
	if id == "" {
		return "unparsed"
	}
	h := sha256.Sum256([]byte(id))
	return "id#" + hex.EncodeToString(h[:3])
}

// summarize returns a short form of an answer's body: the cart's lines,
// the user, or the error.
func summarize(body []byte) string {
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		if len(body) == 0 {
			return ""
		}
		return fmt.Sprintf("%.60q", body)
	}
	if _, ok := probe["items"]; ok {
		var c cartJSON
		if json.Unmarshal(body, &c) == nil {
			q := c.quantities()
			var parts []string
			for _, p := range slices.Sorted(maps.Keys(q)) {
				parts = append(parts, fmt.Sprintf("%s:%d", p, q[p]))
			}
			return "cart{" + strings.Join(parts, " ") + "}"
		}
	}
	return strings.TrimSpace(string(body))
}
