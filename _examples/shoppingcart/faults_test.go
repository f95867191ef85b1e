package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/internal/redistest"
)

var (
	faultsDuration = flag.Duration("faults.duration", 25*time.Second,
		"how long TestCartsUnderRedisFaults drives the shop while faults hit Redis (one fault every 8-12 s)")
	faultsClients = flag.Int("faults.clients", 32, "concurrent visitors of TestCartsUnderRedisFaults")
	faultsSeed    = flag.Uint64("faults.seed", 0, "seed of the visitors' and the faults' random choices; 0 picks one")
	faultsKinds   = flag.String("faults.kinds", "stop,flap,pause",
		`the faults TestCartsUnderRedisFaults injects, in a random order: "stop", "flap", "pause"; "none" for a run without faults`)
)

// Timing of the fault schedule.
const (
	firstFaultAt  = 2 * time.Second  // load before the first fault
	minFaultGap   = 8 * time.Second  // from the start of one fault to the next
	maxFaultGap   = 12 * time.Second //
	faultCooldown = 1 * time.Second  // load after a fault before the load may end
	maxRequests   = 100_000          // per visitor, whatever the duration
	requestLimit  = 10 * time.Second // per request; a longer one is a violation
)

// redisFault is one way of making Redis unavailable. inject blocks for the
// fault's whole length and leaves Redis answering again.
type redisFault struct {
	kind   string // its name in -faults.kinds
	name   string
	length time.Duration
	inject func(t *testing.T, r *redistest.Server)
}

var redisFaults = []redisFault{
	{"stop", "stopped 3s (SIGSTOP, SIGCONT)", 3 * time.Second, func(t *testing.T, r *redistest.Server) {
		r.Stop()
		defer r.Cont()
		time.Sleep(3 * time.Second)
	}},
	{"flap", "flapping 3s (SIGSTOP/SIGCONT every 300ms)", 3 * time.Second, func(t *testing.T, r *redistest.Server) {
		for range 5 {
			r.Stop()
			time.Sleep(300 * time.Millisecond)
			r.Cont()
			time.Sleep(300 * time.Millisecond)
		}
	}},
	{"pause", "CLIENT PAUSE 2000 ALL", 2 * time.Second, func(t *testing.T, r *redistest.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Client().Do(ctx, "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
			t.Fatalf("CLIENT PAUSE: %v", err)
		}
		time.Sleep(2 * time.Second)
	}},
}

// selectFaults returns the faults that kinds names.
func selectFaults(t *testing.T, kinds string) []redisFault {
	if kinds == "none" {
		return nil
	}
	var out []redisFault
	for k := range strings.SplitSeq(kinds, ",") {
		i := slices.IndexFunc(redisFaults, func(f redisFault) bool { return f.kind == strings.TrimSpace(k) })
		if i < 0 {
			t.Fatalf("-faults.kinds: unknown fault %q", k)
		}
		out = append(out, redisFaults[i])
	}
	return out
}

// faultWindow is when one fault hit Redis, relative to the start of the
// load.
type faultWindow struct {
	n          int
	name       string
	start, end time.Duration
}

// Visitors of the shop, each with its own cookie jar and an exact model of
// its own session (each visitor sends one request at a time), add to and
// remove from their carts, read them, log in and out, while Redis is
// stopped, flapped and paused in turn. Every answer is checked against the
// visitor's model: no 5xx, no acknowledged cart change lost or undone, a
// new session ID at every login, no cookie expired but by a logout, the
// logged-in user as the last login made it, no ended session ID serving
// anything again. After the load, once the fail-over store has replayed
// everything, each visitor's session is checked again, on this instance and
// on a second one that reads Redis only.
//
// go test -run TestCartsUnderRedisFaults -faults.duration=90s runs longer.
func TestCartsUnderRedisFaults(t *testing.T) {
	redistest.Require(t)
	if *faultsClients < 1 {
		t.Fatalf("-faults.clients=%d: want at least 1", *faultsClients)
	}
	began := time.Now()
	seed := *faultsSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-faults.seed=%d repeats the random choices; the timing differs)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	r := redistest.StartServer(t)
	logs := &logBuffer{}
	clock := &runClock{}
	logger := slog.New(clock.handler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	redisLogs.sendTo(t, logger)
	s := startLoggedShop(t, config{RedisURL: r.URL(), Logger: logger}, logs)
	run := newFaultRun(t, s.srv.URL, clock)

	visitors := make([]*visitor, *faultsClients)
	products := s.app.catalog.All()
	for i := range visitors {
		visitors[i] = run.newVisitor(i+1, rand.New(rand.NewPCG(seed, uint64(i+1))), products)
	}

	// The load runs in the visitors' goroutines; the faults run here, as
	// redistest's signals must come from the test's goroutine.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	stopLoad := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer stopLoad()
	run.start()
	for _, v := range visitors {
		wg.Go(func() { v.shop(stop, run.start0.Add(*faultsDuration)) })
	}
	faults := selectFaults(t, *faultsKinds)
	rng.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
	at := firstFaultAt
	for n := 1; len(faults) > 0; n++ {
		f := faults[(n-1)%len(faults)]
		if at+f.length+faultCooldown > *faultsDuration {
			break // a fault no longer fits in the load
		}
		time.Sleep(time.Until(run.start0.Add(at)))
		w := faultWindow{n: n, name: f.name, start: run.since()}
		f.inject(t, r)
		w.end = run.since()
		run.addWindow(w)
		at += minFaultGap + time.Duration(rng.Int64N(int64(maxFaultGap-minFaultGap)+1))
	}
	time.Sleep(time.Until(run.start0.Add(*faultsDuration)))
	stopLoad()
	loadEnd := run.since()

	s.waitRecovered()
	recovered := run.since()
	run.setPhase(fmt.Sprintf("final check after recovery (load ended at +%.1fs, recovered at +%.1fs)", loadEnd.Seconds(), recovered.Seconds()))
	st := s.failover().Status()
	if st.Dropped > 0 {
		run.violate(nil, classDropped, false, 0, fmt.Sprintf("the fail-over store dropped %d change sets", st.Dropped))
	}
	for _, v := range visitors {
		v.finalCheck(v.client, run.base, "")
	}
	// A second instance never saw the outage: it reads what is in Redis.
	other := startLoggedShop(t, config{RedisURL: r.URL(), Logger: logger}, nil)
	bare := run.httpClient(nil)
	for _, v := range visitors {
		v.finalCheck(bare, other.srv.URL, "[second instance] ")
	}

	run.logSummary(visitors, loadEnd, recovered, time.Since(began))
	if report := run.report(); report != "" {
		t.Error(report)
	}
}

// startLoggedShop starts the app like startShop, with cfg.Logger writing
// to logs (nil: logs of another shop), whose last lines are printed when
// the test fails: the app's full debug log of a load run is too long to
// read.
func startLoggedShop(t *testing.T, cfg config, logs *logBuffer) *shop {
	t.Helper()
	cfg.Secret = testSecret
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{t: t, cfg: cfg, app: a, srv: httptest.NewServer(a), logs: logs}
	t.Cleanup(func() {
		s.close()
		if t.Failed() && logs != nil {
			t.Logf("app log (last lines, Info and above):\n%s", lastLines(logs.String(), 60))
		}
	})
	return s
}

// faultRun is the shared state of one run: the clock, the fault windows and
// the violations found.
type faultRun struct {
	t         *testing.T
	base      string
	baseURL   *url.URL
	transport *http.Transport
	start0    time.Time
	clock     *runClock

	mu         sync.Mutex
	windows    []faultWindow
	violations []violation
	phase      string // set for the checks after the load
}

func newFaultRun(t *testing.T, base string, clock *runClock) *faultRun {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &faultRun{t: t, base: base, baseURL: u, transport: tr, clock: clock}
}

func (r *faultRun) start() {
	r.start0 = time.Now()
	r.clock.start.Store(&r.start0)
}
func (r *faultRun) since() time.Duration { return time.Since(r.start0) }

func (r *faultRun) addWindow(w faultWindow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.windows = append(r.windows, w)
}

// addAfter adds st to the requests after violation i.
func (r *faultRun) addAfter(i int, st step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations[i].after = append(r.violations[i].after, st)
}

func (r *faultRun) setPhase(p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = p
}

// httpClient returns a client of the shop with jar (nil: none) that does
// not follow redirects.
func (r *faultRun) httpClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:       jar,
		Transport: r.transport,
		Timeout:   requestLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Violation classes, in the order the report lists them.
const (
	class5xx           = "5xx answer"
	classNoAnswer      = "no answer (transport error or timeout)"
	classStatus        = "unexpected status"
	classLostWrite     = "lost acknowledged write (an acknowledged add is missing or smaller on a later read)"
	classRemovedBack   = "removed item came back (absent after an acknowledged remove, then present without an add)"
	classLogoutBack    = "cart came back after an acknowledged logout"
	classPhantom       = "phantom quantity (more than the visitor's adds allow, and no remove to undo)"
	classLoginNoCookie = "2xx login without a session cookie (no new session ID)"
	classLoginSameID   = "2xx login kept the session ID it was sent (session fixation window)"
	classExpired       = "a response other than a logout expired the session cookie"
	classLogoutCookie  = "2xx logout did not expire the session cookie"
	classWrongUser     = "/api/me answers another user than the last acknowledged login"
	classLostLogin     = "/api/me answers 401 after an acknowledged login"
	classRevivedUser   = "/api/me answers a user after an acknowledged logout"
	classDeadUser      = "an ended session ID (renewed by login, or logged out) serves a user"
	classDeadCart      = "an ended session ID (renewed by login, or logged out) serves a cart"
	classBadCookie     = "session cookie that does not parse"
	classDegraded      = "degraded answer after recovery"
	classDropped       = "fail-over journal dropped change sets"
)

var classOrder = []string{
	class5xx, classNoAnswer, classStatus, classLostWrite, classRemovedBack,
	classLogoutBack, classPhantom, classLoginNoCookie, classLoginSameID, classExpired,
	classLogoutCookie, classWrongUser, classLostLogin, classRevivedUser, classDeadUser,
	classDeadCart, classBadCookie, classDegraded, classDropped,
}

// violation is one failed check.
type violation struct {
	class   string
	visitor int // 0: not a visitor's
	at      time.Duration
	phase   string
	variant string // one of variants
	detail  string
	origin  []step // the requests up to the one that began the contradiction, if older than trace
	trace   []step // the last requests
	after   []step // the next requests, for the classes in followed
}

// Variants of a class: when the violation was seen.
const (
	variantFinal    = "in the final check after recovery"
	variantHealthy  = "during the load, on a non-degraded answer"
	variantDegraded = "during the load, on a degraded answer"
)

var variants = []string{variantFinal, variantHealthy, variantDegraded}

// final reports whether the load is over and the final checks run.
func (r *faultRun) final() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phase != ""
}

// followed are the classes whose reports show what the visitor's next
// requests met: what a login without a new ID or an expired cookie led to.
var followed = map[string]bool{
	classLoginNoCookie: true, classLoginSameID: true, classExpired: true, classLogoutCookie: true,
}

// followLen is how many of the next requests a followed violation shows.
const followLen = 8

// violate records a violation found by v (nil: by the run itself), in an
// answer that was degraded or not, of a contradiction that began with
// request since (0: with this one).
func (r *faultRun) violate(v *visitor, class string, degraded bool, since int, detail string) {
	at := r.since()
	r.mu.Lock()
	defer r.mu.Unlock()
	vi := violation{class: class, at: at, phase: r.phase, detail: detail, variant: variantHealthy}
	switch {
	case r.phase != "":
		vi.variant = variantFinal
	case degraded:
		vi.variant = variantDegraded
	}
	if v != nil {
		vi.visitor = v.n
		vi.origin, vi.trace = v.trace(since)
		if followed[class] {
			v.follow = append(v.follow, followUp{index: len(r.violations), left: followLen})
		}
	}
	r.violations = append(r.violations, vi)
}

// when places at relative to the fault windows.
func (r *faultRun) when(at time.Duration) string {
	var last *faultWindow
	for i := range r.windows {
		w := &r.windows[i]
		if at >= w.start && at <= w.end {
			return fmt.Sprintf("+%.3fs, %.2fs into fault %d (%s, +%.1fs..+%.1fs)",
				at.Seconds(), (at - w.start).Seconds(), w.n, w.name, w.start.Seconds(), w.end.Seconds())
		}
		if w.end < at {
			last = w
		}
	}
	if last == nil {
		return fmt.Sprintf("+%.3fs, before the first fault", at.Seconds())
	}
	return fmt.Sprintf("+%.3fs, %.2fs after fault %d (%s, +%.1fs..+%.1fs) ended",
		at.Seconds(), (at - last.end).Seconds(), last.n, last.name, last.start.Seconds(), last.end.Seconds())
}

// examplesPerClass is how many violations of each class the report shows
// in full (from different visitors where possible).
const examplesPerClass = 3

// report returns the violations grouped by class, or "".
func (r *faultRun) report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.violations) == 0 {
		return ""
	}
	type group struct{ class, variant string }
	byGroup := map[group][]violation{}
	for _, v := range r.violations {
		g := group{v.class, v.variant}
		byGroup[g] = append(byGroup[g], v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d violations in %d classes. Faults:\n", len(r.violations), len(byGroup))
	for _, w := range r.windows {
		fmt.Fprintf(&b, "  fault %d: %s, +%.2fs..+%.2fs\n", w.n, w.name, w.start.Seconds(), w.end.Seconds())
	}
	for _, class := range classOrder {
		for _, variant := range variants {
			vs := byGroup[group{class, variant}]
			if len(vs) == 0 {
				continue
			}
			visitors := map[int]bool{}
			for _, v := range vs {
				visitors[v.visitor] = true
			}
			perFault := map[int]int{}
			for _, v := range vs {
				perFault[r.faultOf(v)]++
			}
			var counts []string
			for _, f := range slices.Sorted(maps.Keys(perFault)) {
				switch f {
				case -1:
					counts = append(counts, fmt.Sprintf("final check %d", perFault[f]))
				case 0:
					counts = append(counts, fmt.Sprintf("before the faults %d", perFault[f]))
				default:
					counts = append(counts, fmt.Sprintf("fault %d %d", f, perFault[f]))
				}
			}
			fmt.Fprintf(&b, "\n=== %s, %s: %d times, %d visitors (by fault: %s)\n",
				class, variant, len(vs), len(visitors), strings.Join(counts, ", "))
			for _, i := range pickExamples(r, vs, examplesPerClass) {
				writeViolation(&b, r, vs[i])
			}
		}
	}
	return b.String()
}

// pickExamples returns the indexes of up to n violations of vs: the first
// after each fault, then the first of each visitor, then the next ones.
func pickExamples(r *faultRun, vs []violation, n int) []int {
	var picked []int
	pick := func(ok func(v violation) bool) {
		for i, v := range vs {
			if len(picked) < n && !slices.Contains(picked, i) && ok(v) {
				picked = append(picked, i)
			}
		}
	}
	faults := map[int]bool{}
	pick(func(v violation) bool {
		f := r.faultOf(v)
		first := !faults[f]
		faults[f] = true
		return first
	})
	visitors := map[int]bool{}
	for _, i := range picked {
		visitors[vs[i].visitor] = true
	}
	pick(func(v violation) bool {
		first := !visitors[v.visitor]
		visitors[v.visitor] = true
		return first
	})
	pick(func(violation) bool { return true })
	slices.Sort(picked)
	return picked
}

// faultOf returns the number of the fault during or after which v was
// found: 0 before the first fault, -1 in the final check.
func (r *faultRun) faultOf(v violation) int {
	if v.phase != "" {
		return -1
	}
	n := 0
	for _, w := range r.windows {
		if v.at >= w.start {
			n = w.n
		}
	}
	return n
}

// writeViolation writes one violation with the visitor's last requests.
func writeViolation(b *strings.Builder, r *faultRun, v violation) {
	where := r.when(v.at)
	if v.phase != "" {
		where = v.phase
	}
	if v.visitor == 0 {
		fmt.Fprintf(b, "--- %s: %s\n", where, v.detail)
		return
	}
	fmt.Fprintf(b, "--- visitor %d at %s:\n    %s\n", v.visitor, where, v.detail)
	if len(v.origin) > 0 {
		fmt.Fprintf(b, "    the contradiction began with #%d:\n", v.origin[len(v.origin)-1].seq)
		for _, s := range v.origin {
			fmt.Fprintf(b, "    %s\n", s)
		}
		fmt.Fprintf(b, "    ...\n")
	}
	for _, s := range v.trace {
		fmt.Fprintf(b, "    %s\n", s)
	}
	if len(v.after) > 0 {
		fmt.Fprintf(b, "    then:\n")
		for _, s := range v.after {
			fmt.Fprintf(b, "    %s\n", s)
		}
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// redisLogSink receives go-redis's own log lines (failed dials, pool
// errors: expected while Redis is stopped, and noisy). They go to the
// logger of the test that asked for them, or nowhere.
type redisLogSink struct{ l atomic.Pointer[slog.Logger] }

var redisLogs = &redisLogSink{}

func init() { redis.SetLogger(redisLogs) }

func (s *redisLogSink) Printf(ctx context.Context, format string, v ...any) {
	if l := s.l.Load(); l != nil {
		l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
	}
}

// sendTo sends go-redis's log lines to l until t ends.
func (s *redisLogSink) sendTo(t *testing.T, l *slog.Logger) {
	s.l.Store(l)
	t.Cleanup(func() { s.l.Store(nil) })
}

// logSummary logs what the run did: the faults, the answers by route and
// status, and how long it all took.
func (r *faultRun) logSummary(visitors []*visitor, loadEnd, recovered, total time.Duration) {
	counts := map[string]int{}
	requests := 0
	for _, v := range visitors {
		for k, n := range v.stats {
			counts[k] += n
		}
		requests += v.seq
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d visitors sent %d requests in %.1fs of load; recovered at +%.1fs; the test took %.1fs\n",
		len(visitors), requests, loadEnd.Seconds(), recovered.Seconds(), total.Seconds())
	r.mu.Lock()
	for _, w := range r.windows {
		fmt.Fprintf(&b, "  fault %d: %s, +%.2fs..+%.2fs\n", w.n, w.name, w.start.Seconds(), w.end.Seconds())
	}
	r.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "  %-40s %6d\n", k, counts[k])
	}
	r.t.Log(b.String())
}

// runClock adds the time since the start of the load ("run=+2.345s") to
// the app's log lines, so that they line up with the report.
type runClock struct{ start atomic.Pointer[time.Time] }

func (c *runClock) handler(h slog.Handler) slog.Handler { return clockHandler{h, c} }

type clockHandler struct {
	slog.Handler
	clock *runClock
}

func (h clockHandler) Handle(ctx context.Context, rec slog.Record) error {
	if start := h.clock.start.Load(); start != nil {
		rec.AddAttrs(slog.String("run", fmt.Sprintf("%+.3fs", rec.Time.Sub(*start).Seconds())))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h clockHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return clockHandler{h.Handler.WithAttrs(as), h.clock}
}

func (h clockHandler) WithGroup(name string) slog.Handler {
	return clockHandler{h.Handler.WithGroup(name), h.clock}
}
