package session_test

// The consistency checker: a seeded, model-based randomized test of the
// middleware under concurrency and store faults (DESIGN.md, "Consistency
// checker"). Clients with their own cookies send random requests to a small
// cart application through the real middleware, in process; the primary
// store sits behind a fault store (internal/faultstore) inside a fail-over
// store (degrade); a reference model records what every acknowledged (2xx)
// response promises, and every response, and every session and user after
// each recovery, is checked against it:
//
//  1. no acknowledged add is lost unless a later acknowledged logout,
//     revocation or expiry of the session covers it, and no acknowledged
//     remove is undone;
//  2. no logged-out, renewed-away or revoked session ID serves data or a
//     user again, nor is re-issued;
//  3. a login response carries a new session ID, or is an error;
//  4. after recovery, each user's UserSessions are exactly the user's live
//     sessions;
//  5. the fail-over journal stays within its bound;
//  6. no 5xx, except the store outage RevokeUser may report;
//  7. (checkpoint) once the faults end, the fail-over store recovers;
//  8. (Redis) every key has an expiry.
//
// TestCheckerMemory runs in virtual time (testing/synctest); TestCheckerRedis
// runs against a real redis-server in real time. Both search random seeds for
// -checker.duration; a failure is minimized and reported with its seed and
// trace. Flags:
//
//	-checker.seed=N        replay seed N (and minimize its failure)
//	-checker.duration=1h   search longer (default 20s in memory, 15s with Redis)
//	-checker.steps=N       steps per run (default 120)
//	-checker.ignore=3,tag  look past violations of these invariants or tags
//	-checker.shrink=1m     time spent minimizing a failure (default 20s)
//	-checker.nofaults      no faults: concurrency only
//	-checker.avoid=a,b     do not generate these request kinds, faults or
//	                       step kinds (slow, batch, old), to look past a bug;
//	                       outage-expiry: recover before every long sleep

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/faultstore"
	"github.com/sessionkit/session/internal/redistest"
	"os"
)

var (
	chkSeedFlag     = flag.String("checker.seed", "", "replay this seed of the consistency checker (TestChecker*)")
	chkDurationFlag = flag.Duration("checker.duration", 0, "how long each TestChecker* searches (default 20s in memory, 15s with Redis; a fifth with -short)")
	chkStepsFlag    = flag.Int("checker.steps", 120, "steps per run of the consistency checker")
	chkIgnoreFlag   = flag.String("checker.ignore", "", "comma-separated invariants (1-8) or tags the consistency checker looks past")
	chkShrinkFlag   = flag.Duration("checker.shrink", 20*time.Second, "how long the consistency checker minimizes a failing trace")
	chkNoFaultsFlag = flag.Bool("checker.nofaults", false, "the consistency checker injects no faults (concurrency only)")
	chkAvoidFlag    = flag.String("checker.avoid", "", "comma-separated request kinds (add, commit-add, login, ...), faults (defer-next, hang-next, ...) step kinds (slow, batch, old) the consistency checker does not generate, or outage-expiry: recover before every long sleep")
)

// chkJournalLimit is the journal limit of the checker's fail-over store.
const chkJournalLimit = 500

// chkBudget is how long a TestChecker* searches: -checker.duration, or
// def (a fifth of it with -short).
func chkBudget(def time.Duration) time.Duration {
	if *chkDurationFlag > 0 {
		return *chkDurationFlag
	}
	if testing.Short() {
		return def / 5
	}
	return def
}

// chkIgnore is -checker.ignore, or else $CHECKER_IGNORE (the same list,
// for runs that cannot pass test flags).
func chkIgnore() map[string]bool {
	if *chkIgnoreFlag == "" {
		return flagSet(os.Getenv("CHECKER_IGNORE"))
	}
	return flagSet(*chkIgnoreFlag)
}

func flagSet(list string) map[string]bool {
	set := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			set[s] = true
		}
	}
	return set
}

// chkOutcome is what one run leaves.
type chkOutcome struct {
	fail    *violation
	trace   []step
	notes   []string
	logs    string
	ignored map[string]int
}

// chkRunner runs one seed (trace nil) or replays a trace.
type chkRunner func(seed uint64, trace []step) chkOutcome

func TestCheckerMemory(t *testing.T) {
	steps, ignore := *chkStepsFlag, chkIgnore()
	release := hangRelease(t)
	runChecker(t, "TestCheckerMemory", chkBudget(20*time.Second), func(seed uint64, trace []step) (out chkOutcome) {
		synctest.Test(t, func(t *testing.T) {
			sys, err := newMemorySystem(release)
			if err != nil {
				t.Fatal(err)
			}
			defer sys.close()
			r := newRun(sys, seed, steps, ignore)
			r.noFaults, r.avoid = *chkNoFaultsFlag, flagSet(*chkAvoidFlag)
			r.play(trace)
			out = r.outcome()
		})
		return out
	})
}

// TestCheckerRegressions replays, in memory, the seeds on which the
// checker found bugs, each named after the property it broke; each replays
// the run that failed before its fix.
func TestCheckerRegressions(t *testing.T) {
	release := hangRelease(t)
	for _, c := range []struct {
		name string
		seed uint64
	}{
		{"ExpiredSessionNotRevivedByRecovery", 950280922},
		{"LateReplayCreationCannotReviveARenewedAwayID", 241005517},
		{"LateCreationCannotReviveAMovedID", 714415705},
		{"JournalOnlySessionsSurviveARestartEmpty", 294557769},
		{"RemoveRecordedWhetherOrNotItSawTheItem", 465265276},
		{"DeletionDropsTheCopyOfItsReplay", 979929254},
		{"RenewalOfUnknownRecordBurnsItsID", 912076789},
		{"FallbackCopyOfAnEarlierOutageIsNotWrittenOver", 107304951},
		{"LateRenewalOfAnUnknownRecordLeavesNoPhantomInTheIndex", 216571498},
		{"LateRenewalOfAnUnknownRecordIsNoBaseOfAnotherRequest", 727521260},
		{"RenewalRetriedUnderTheSameKeyKeepsIt", 740582965},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out chkOutcome
			synctest.Test(t, func(t *testing.T) {
				sys, err := newMemorySystem(release)
				if err != nil {
					t.Fatal(err)
				}
				defer sys.close()
				r := newRun(sys, c.seed, *chkStepsFlag, chkIgnore())
				r.play(nil)
				out = r.outcome()
			})
			if out.fail != nil {
				t.Fatalf("seed %d: %v (replay: go test -run '^TestCheckerMemory$' -checker.seed=%d .)", c.seed, out.fail, c.seed)
			}
		})
	}
}

func TestCheckerRedis(t *testing.T) {
	redistest.Require(t)
	srv := redistest.StartServer(t)
	steps, ignore := *chkStepsFlag, chkIgnore()
	runChecker(t, "TestCheckerRedis", chkBudget(15*time.Second), func(seed uint64, trace []step) chkOutcome {
		sys, err := newRedisSystem(t, srv)
		if err != nil {
			t.Fatal(err)
		}
		r := newRun(sys, seed, steps, ignore)
		r.noFaults, r.avoid = *chkNoFaultsFlag, flagSet(*chkAvoidFlag)
		defer func() {
			if r.stopped {
				srv.Cont()
			}
			if r.killed {
				srv.Restart(false)
			}
			sys.close()
		}()
		r.play(trace)
		return r.outcome()
	})
}

func (r *chkRun) outcome() chkOutcome {
	return chkOutcome{fail: r.fail, trace: r.trace, notes: r.log, logs: r.sys.logs.String(), ignored: r.ignored}
}

// runChecker searches seeds for the budget (or replays -checker.seed) and
// reports the first violation, minimized.
func runChecker(t *testing.T, name string, budget time.Duration, run chkRunner) {
	if *chkSeedFlag != "" {
		seed, err := strconv.ParseUint(*chkSeedFlag, 10, 64)
		if err != nil || seed == 0 {
			t.Fatalf("-checker.seed=%q: want a positive integer", *chkSeedFlag)
		}
		out := run(seed, nil)
		if out.fail != nil {
			chkReport(t, name, seed, out, run)
		}
		t.Logf("seed %d: %d steps, no violation%s", seed, len(out.trace), ignoredNote(out.ignored))
		return
	}
	base := rand.Uint64()%1_000_000_000 + 1
	if v := os.Getenv("CHECKER_SEEDS_FROM"); v != "" {
		// A fixed series, so that a run is reproducible (the test
		// script's choice); the default searches new seeds every run.
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("CHECKER_SEEDS_FROM=%q: want a positive integer", v)
		}
		base = n
	}
	t.Logf("searching seeds %d, %d, ... for %v (replay one with -run '^%s$' -checker.seed=N)", base, base+1, budget, name)
	deadline := time.Now().Add(budget)
	runs, steps := 0, 0
	ignored := map[string]int{}
	for seed := base; time.Now().Before(deadline); seed++ {
		out := run(seed, nil)
		runs++
		steps += len(out.trace)
		for k, n := range out.ignored {
			ignored[k] += n
		}
		if out.fail != nil {
			chkReport(t, name, seed, out, run)
			return
		}
	}
	t.Logf("%d runs (seeds %d to %d), %d steps, no violation%s", runs, base, base+uint64(runs)-1, steps, ignoredNote(ignored))
}

func ignoredNote(ig map[string]int) string {
	if len(ig) == 0 {
		return ""
	}
	return fmt.Sprintf(" (violations looked past: %v)", ig)
}

// chkReport minimizes the failing trace and fails the test with the seed,
// the invariant and the minimal trace.
func chkReport(t *testing.T, name string, seed uint64, out chkOutcome, run chkRunner) {
	t.Helper()
	key := out.fail.key()
	best, bestOut, tries := shrink(upTo(out), key, run, *chkShrinkFlag)
	if bestOut.fail == nil {
		best, bestOut = upTo(out), out
	}
	again := 0
	for range 3 {
		if o := run(0, best); o.fail != nil && o.fail.key() == key {
			again++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: seed %d breaks invariant %d (%s)\n", name, seed, bestOut.fail.inv, invariantNames[bestOut.fail.inv])
	fmt.Fprintf(&b, "  %s\n", bestOut.fail)
	fmt.Fprintf(&b, "minimal trace (%d of %d steps, %d replays tried; it fails again in %d of 3 replays):\n", len(best), len(out.trace), tries, again)
	for i, st := range best {
		fmt.Fprintf(&b, "  %3d  %s\n", i, st)
	}
	fmt.Fprintf(&b, "  %3d  (end) heal faults; recover, then apply deferred; check every session and user\n", len(best))
	b.WriteString("what the minimal run saw:\n")
	notes := bestOut.notes
	if len(notes) > 120 {
		fmt.Fprintf(&b, "  (%d earlier lines left out)\n", len(notes)-120)
		notes = notes[len(notes)-120:]
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	if bestOut.logs != "" {
		fmt.Fprintf(&b, "last log lines of the library:\n%s", bestOut.logs)
	}
	fmt.Fprintf(&b, "replay: go test -run '^%s$' -checker.seed=%d .", name, seed)
	t.Fatal(b.String())
}

// upTo returns the steps of a failed run up to the failing one.
func upTo(o chkOutcome) []step {
	return o.trace[:min(o.fail.step+1, len(o.trace))]
}

// traceSize measures a trace for shrinking: steps, requests and faults.
func traceSize(trace []step) int {
	n := 0
	for _, st := range trace {
		n += 1 + len(st.batch) + st.k
	}
	return n
}

// shrink removes steps from trace while a replay still breaks the same
// invariant (delta debugging), then simplifies the steps that are left.
// It returns the smallest failing trace found, its run, and how many
// replays it tried.
func shrink(trace []step, key string, run chkRunner, budget time.Duration) ([]step, chkOutcome, int) {
	deadline := time.Now().Add(budget)
	best := trace
	var bestOut chkOutcome
	tries := 0
	try := func(cand []step) bool {
		if time.Now().After(deadline) {
			return false
		}
		tries++
		o := run(0, cand)
		if o.fail == nil || o.fail.key() != key {
			return false
		}
		if got := upTo(o); traceSize(got) < traceSize(best) {
			best, bestOut = got, o
			return true
		}
		return false
	}
	n := 2
	for len(best) > 1 && time.Now().Before(deadline) {
		chunk := (len(best) + n - 1) / n
		reduced := false
		for start := 0; start < len(best); start += chunk {
			cand := append(append([]step{}, best[:start]...), best[min(start+chunk, len(best)):]...)
			if try(cand) {
				reduced = true
				n = max(n-1, 2)
				break
			}
		}
		if !reduced {
			if chunk == 1 {
				break
			}
			n = min(2*n, len(best))
		}
	}
	// Simplify the steps left: fewer requests in a batch, fault counts of 1.
	for i := 0; i < len(best) && time.Now().Before(deadline); i++ {
		for j := 0; i < len(best) && best[i].kind == sBatch && j < len(best[i].batch); {
			st := best[i]
			cand := slices.Clone(best)
			nb := slices.Delete(slices.Clone(st.batch), j, j+1)
			if len(nb) == 1 {
				cand[i] = step{kind: sReq, req: nb[0]}
			} else {
				cand[i] = step{kind: sBatch, batch: nb}
			}
			if !try(cand) {
				j++
			}
		}
		if i < len(best) && best[i].kind == sFault && best[i].k > 1 && best[i].fault != fKeys {
			cand := slices.Clone(best)
			cand[i].k = 1
			try(cand)
		}
	}
	return best, bestOut, tries
}

// ringLog keeps the last lines written to it.
type ringLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *ringLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.lines = append(l.lines, line)
		if len(l.lines) > 30 {
			l.lines = l.lines[1:]
		}
	}
	return len(p), nil
}

func (l *ringLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, line := range l.lines {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

func chkLogger(logs *ringLog) *slog.Logger {
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// chkManager builds the manager and the application over the fail-over
// store ds.
func chkManager(sys *chkSystem) error {
	m, err := session.New(
		session.WithSecret(testSecret),
		session.WithStore(sys.ds),
		session.WithIdleTimeout(chkIdle),
		session.WithLifetime(chkLifetime),
		session.WithMaxLifetime(chkRememberLife),
		session.WithTouchInterval(chkTouchInterval),
		session.WithErrorHandler(chkErrorHandler),
		session.WithLogger(chkLogger(sys.logs)),
	)
	if err != nil {
		return err
	}
	sys.m, sys.h = m, m.Middleware(checkerApp(m))
	return nil
}

// hangRelease returns a channel, fed in real time from outside any
// synctest bubble until t ends, for faultstore.SetHangRelease: the
// fail-over store holds a lock while it calls the primary during replay,
// and a goroutine waiting for that lock stops virtual time, so a hung call
// must be able to end without it.
func hangRelease(t *testing.T) <-chan struct{} {
	release, stop := make(chan struct{}), make(chan struct{})
	go func() {
		for {
			select {
			case release <- struct{}{}:
			case <-stop:
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	t.Cleanup(func() { close(stop) })
	return release
}

// newMemorySystem builds the system of TestCheckerMemory: memstore behind
// a fault store, inside a fail-over store with an in-memory fallback. It
// runs inside a synctest bubble; release ends hung calls (hangRelease).
func newMemorySystem(release <-chan struct{}) (*chkSystem, error) {
	var stores []*memstore.Store
	fresh := func() (faultstore.Inner, error) {
		ms, err := memstore.New(memstore.Options{})
		if err != nil {
			return nil, err
		}
		stores = append(stores, ms)
		return ms, nil
	}
	inner, err := fresh()
	if err != nil {
		return nil, err
	}
	fs, err := faultstore.New(inner, fresh)
	if err != nil {
		return nil, err
	}
	fs.SetHangRelease(release, 10)
	sys := &chkSystem{virtual: true, fs: fs, limit: chkJournalLimit, logs: &ringLog{}, probe: 500 * time.Millisecond}
	sys.ds, err = degrade.New(fs,
		degrade.WithTimeout(100*time.Millisecond),
		degrade.WithFailureThreshold(2),
		degrade.WithProbeInterval(sys.probe),
		degrade.WithJournalLimit(sys.limit),
		degrade.WithLogger(chkLogger(sys.logs)),
	)
	if err != nil {
		return nil, err
	}
	if err := chkManager(sys); err != nil {
		sys.ds.Close()
		return nil, err
	}
	sys.restartEmpty = func() error {
		_, err := fs.RestartEmpty()
		return err
	}
	sys.close = func() {
		sys.m.Close()
		sys.ds.Close()
		for _, ms := range stores {
			ms.Close()
		}
	}
	return sys, nil
}

// newRedisSystem builds the system of TestCheckerRedis over the server
// srv, emptied first: redisstore behind a fault store, inside a fail-over
// store with an in-memory fallback. Time is real.
func newRedisSystem(t *testing.T, srv *redistest.Server) (*chkSystem, error) {
	ctx := context.Background()
	if err := srv.Client().FlushAll(ctx).Err(); err != nil {
		return nil, fmt.Errorf("FLUSHALL: %w", err)
	}
	rs, err := redisstore.NewFromURL(srv.URL())
	if err != nil {
		return nil, err
	}
	fs, err := faultstore.New(rs, nil)
	if err != nil {
		rs.Close()
		return nil, err
	}
	sys := &chkSystem{fs: fs, limit: chkJournalLimit, logs: &ringLog{}, probe: 50 * time.Millisecond}
	sys.ds, err = degrade.New(fs,
		degrade.WithTimeout(100*time.Millisecond),
		degrade.WithFailureThreshold(2),
		degrade.WithProbeInterval(sys.probe),
		degrade.WithJournalLimit(sys.limit),
		degrade.WithLogger(chkLogger(sys.logs)),
	)
	if err != nil {
		rs.Close()
		return nil, err
	}
	if err := chkManager(sys); err != nil {
		sys.ds.Close()
		rs.Close()
		return nil, err
	}
	sys.stop, sys.cont, sys.kill = srv.Stop, srv.Cont, srv.Kill
	sys.revive = func() { srv.Restart(false) }
	sys.restartEmpty = func() error { srv.Restart(false); return nil }
	sys.keyCheck = func() error { return redisKeysExpire(srv) }
	sys.close = func() {
		sys.m.Close()
		sys.ds.Close()
		rs.Close()
	}
	return sys, nil
}

// redisKeysExpire checks that every key of the server has an expiry.
func redisKeysExpire(srv *redistest.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := srv.Client()
	var cursor uint64
	var bad []string
	for range 10_000 {
		keys, next, err := c.Scan(ctx, cursor, "*", 200).Result()
		if err != nil {
			return fmt.Errorf("SCAN: %w", err)
		}
		for _, k := range keys {
			ttl, err := c.PTTL(ctx, k).Result()
			if err != nil {
				return fmt.Errorf("PTTL %s: %w", k, err)
			}
			if ttl == -1 { // -1: no expiry; -2: gone meanwhile
				bad = append(bad, k)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d Redis keys have no expiry: %v", len(bad), bad[:min(len(bad), 5)])
	}
	return nil
}
