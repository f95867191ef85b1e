package degrade_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// traffic runs n browsers that each keep setting new keys until stop is
// closed (at most max requests each). Every request must answer 2xx, and
// every request that ran entirely while down() was true must carry the
// degraded header. It returns, per browser, the keys whose writes were
// acknowledged.
func traffic(e *env, n, max int, stop <-chan struct{}, down func() bool) (wait func() [][]string, browsers []*browser) {
	var wg sync.WaitGroup
	acked := make([][]string, n)
	for i := range n {
		b := e.browser()
		browsers = append(browsers, b)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < max; j++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%dk%d", i, j)
				wasDown := down()
				r := b.post("/set/" + k + "/v")
				if !r.ok() {
					e.t.Errorf("browser %d: POST /set/%s = %d %q", i, k, r.status, r.body)
					return
				}
				if wasDown && down() && !r.degraded {
					e.t.Errorf("browser %d: response during the outage lacks the degraded header", i)
				}
				if r.took > opTimeout+slack {
					e.t.Errorf("browser %d: request took %v", i, r.took)
				}
				acked[i] = append(acked[i], k)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return func() [][]string { wg.Wait(); return acked }, browsers
}

// checkKeys fails unless every acknowledged key is in the browser's session.
func checkKeys(t *testing.T, browsers []*browser, acked [][]string) {
	t.Helper()
	for i, b := range browsers {
		r := b.must("GET", "/keys", false)
		have := decodeList(t, r.body)
		for _, k := range acked[i] {
			if !slices.Contains(have, k) {
				t.Errorf("browser %d: acknowledged write %s lost (session has %d keys)", i, k, len(have))
			}
		}
	}
}

// TestKillMidTraffic kills Redis under load: every request still answers
// 2xx, marked degraded while Redis is down; a cart item added during the
// outage is there once Redis is back with its data, and the header goes
// away once the probe closed the circuit.
func TestKillMidTraffic(t *testing.T) {
	e := newEnv(t, []redistest.ServerOption{redistest.WithAppendOnly()})
	a := e.browser()
	a.must("POST", "/set/before/1", false)
	a.must("POST", "/cart/apple", false)

	var isDown atomic.Bool
	stop := make(chan struct{})
	wait, browsers := traffic(e, 4, 400, stop, isDown.Load)
	time.Sleep(150 * time.Millisecond)
	e.redis.Kill()
	isDown.Store(true)
	time.Sleep(150 * time.Millisecond)

	a.must("POST", "/cart/pear", true)
	if got := decodeList(t, a.must("GET", "/cart", true).body); !slices.Contains(got, "pear") {
		t.Errorf("cart during the outage = %v, want pear in it", got)
	}
	if e.store.State() != degrade.StateOpen {
		t.Errorf("state during the outage = %v, want open", e.store.State())
	}
	time.Sleep(150 * time.Millisecond)
	isDown.Store(false)
	e.redis.Restart(true)
	time.Sleep(150 * time.Millisecond)
	close(stop)
	acked := wait()
	e.waitRecovered()

	got := decodeList(t, a.must("GET", "/cart", false).body)
	if !slices.Contains(got, "pear") {
		t.Errorf("cart after recovery = %v, want the item added during the outage", got)
	}
	if r := a.must("GET", "/get/before", false); r.body != "1" {
		t.Errorf("value set before the outage = %q, want 1", r.body)
	}
	checkKeys(t, browsers, acked)
}

// TestHungRedis pauses Redis (SIGSTOP): requests answer within the
// operation timeout plus a margin, and once the circuit is open the primary
// gets no session operation until the probe succeeds.
func TestHungRedis(t *testing.T) {
	e := newEnv(t, nil)
	a := e.browser()
	a.must("POST", "/set/before/1", false)

	e.redis.Stop()
	for i := range 4 {
		r := a.must("POST", fmt.Sprintf("/set/during%d/x", i), true)
		if r.took > opTimeout+slack {
			t.Errorf("request %d took %v with Redis hung, want under %v", i, r.took, opTimeout+slack)
		}
	}
	e.waitState(degrade.StateOpen)
	calls := e.primary.calls.Load()
	for i := range 10 {
		r := a.must("GET", "/get/during0", true)
		if r.body != "x" {
			t.Errorf("degraded read %d = %q, want x", i, r.body)
		}
		if r.took > opTimeout+slack {
			t.Errorf("request took %v with the circuit open", r.took)
		}
	}
	time.Sleep(3 * probeInterval) // probes run, and fail
	if n := e.primary.calls.Load() - calls; n != 0 {
		t.Errorf("the primary got %d session operations while the circuit was open, want 0", n)
	}
	if st := e.store.Status(); st.ProbeErr == nil || st.LastProbe.IsZero() {
		t.Errorf("Status while hung = %+v, want a failed probe", st)
	}

	e.redis.Cont()
	e.waitRecovered()
	if st := e.store.Status(); st.ProbeErr != nil {
		t.Errorf("probe error after recovery: %v", st.ProbeErr)
	}
	for k, want := range map[string]string{"before": "1", "during0": "x", "during3": "x"} {
		if r := a.must("GET", "/get/"+k, false); r.body != want {
			t.Errorf("%s after recovery = %q, want %q", k, r.body, want)
		}
	}
}

// TestRedisRestartedEmpty restarts Redis without its data: sessions written
// during the outage are replayed (a request for one whose replay is still
// pending replays it first); sessions that existed only before the outage
// come back as fresh sessions, without an error.
func TestRedisRestartedEmpty(t *testing.T) {
	e := newEnv(t, nil, degrade.WithReplayRate(1))
	old := e.browser()
	old.must("POST", "/set/k/before", false)
	mixed := e.browser()
	mixed.must("POST", "/set/a/before", false)

	e.redis.Kill()
	fresh := e.browser()
	fresh.must("POST", "/set/k/during", true)
	mixed.must("POST", "/set/b/during", true)
	others := make([]*browser, 3)
	for i := range others {
		others[i] = e.browser()
		others[i].must("POST", "/set/k/other", true)
	}
	e.waitState(degrade.StateOpen)

	e.redis.Restart(false)
	waitFor(t, 10*time.Second, "the circuit to close", func() bool { return e.store.State() != degrade.StateOpen })
	if st := e.store.Status(); st.State != degrade.StateRecovering || st.Pending < 3 {
		t.Fatalf("Status right after closing = %+v, want recovering with sessions pending (1 replay/s)", st)
	}
	// Pending: served from the primary after an immediate replay.
	if r := others[2].must("GET", "/get/k", false); r.body != "other" {
		t.Errorf("pending session read = %q, want other", r.body)
	}
	if r := fresh.must("GET", "/get/k", false); r.body != "during" {
		t.Errorf("session created during the outage = %q, want during", r.body)
	}
	e.waitRecovered()
	n, err := e.primary.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("Redis holds %d sessions, want the 5 written during the outage", n)
	}
	if r := mixed.must("GET", "/get/b", false); r.body != "during" {
		t.Errorf("change made during the outage = %q, want during", r.body)
	}
	if r := mixed.must("GET", "/get/a", false); r.body != "-" {
		t.Errorf("value lost with Redis's data = %q, want -", r.body)
	}
	// Lost with Redis's data: a fresh session, no error.
	if r := old.must("GET", "/get/k", false); r.body != "-" {
		t.Errorf("session lost with Redis's data = %q, want a fresh session", r.body)
	}
	for _, b := range others[:2] {
		if r := b.must("GET", "/get/k", false); r.body != "other" {
			t.Errorf("replayed session = %q", r.body)
		}
	}
}

// TestStartWithRedisDown creates the manager while Redis is down: requests
// are served degraded, and once Redis starts the circuit closes and the
// sessions written meanwhile are in Redis.
func TestStartWithRedisDown(t *testing.T) {
	redistest.Require(t)
	rs := redistest.StartServer(t)
	rs.Kill()
	e := newEnvOn(t, rs)
	bs := make([]*browser, 3)
	for i := range bs {
		bs[i] = e.browser()
		bs[i].must("POST", fmt.Sprintf("/set/k/v%d", i), true)
	}
	if e.store.State() != degrade.StateOpen {
		t.Errorf("state with Redis down = %v, want open", e.store.State())
	}
	rs.Restart(false)
	e.waitRecovered()
	n, err := e.primary.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(bs) {
		t.Errorf("Redis holds %d sessions, want %d", n, len(bs))
	}
	for i, b := range bs {
		if r := b.must("GET", "/get/k", false); r.body != fmt.Sprintf("v%d", i) {
			t.Errorf("session %d = %q", i, r.body)
		}
	}
}

// TestLogoutDuringOutage: a logout served by the fallback stays effective
// after recovery, also when Redis still holds the old session; a login
// during the outage survives it.
func TestLogoutDuringOutage(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.browser()
	alice.must("POST", "/login/alice", false)
	aliceCookie := alice.cookie()
	bob := e.browser()
	bob.must("POST", "/login/bob", false)
	bobCookie := bob.cookie()

	e.redis.Stop()
	alice.must("POST", "/set/x/1", true) // the session now exists in the fallback too
	alice.must("POST", "/logout", true)
	bob.must("POST", "/logout", true) // first request of the outage
	carol := e.browser()
	carol.must("POST", "/set/x/1", true)
	carolAnon := carol.cookie()
	carol.must("POST", "/login/carol", true)
	if r := carol.must("GET", "/me", true); r.body != "carol" {
		t.Fatalf("login during the outage: /me = %q", r.body)
	}
	e.waitState(degrade.StateOpen)

	e.redis.Cont()
	e.waitRecovered()
	if r := e.withCookie(aliceCookie).get("/me"); r.status != 401 {
		t.Errorf("alice's old cookie after recovery: %d %q, want 401 (logged out during the outage)", r.status, r.body)
	}
	if r := carol.must("GET", "/me", false); r.body != "carol" {
		t.Errorf("carol after recovery: %q, want carol", r.body)
	}
	if r := e.withCookie(carolAnon).get("/get/x"); r.status != 200 || r.body != "-" {
		t.Errorf("carol's pre-login ID after recovery: %d %q, want a fresh session", r.status, r.body)
	}
	keys, err := e.store.UserKeys(t.Context(), "carol")
	if err != nil || len(keys) != 1 {
		t.Errorf("carol's sessions after recovery: %v, %v; want one", keys, err)
	}
	t.Run("FirstRequestOfOutage", func(t *testing.T) {
		r := e.withCookie(bobCookie).get("/me")
		if r.status != 401 {
			t.Errorf("bob's old cookie: %d %q, want 401", r.status, r.body)
		}
	})
}

// TestMergeOnRecovery: a session that exists only in Redis and is modified
// during the outage is merged on recovery, not overwritten: keys set before
// and during the outage are both there, and the user stays bound. Its load
// during the outage cannot tell what Redis holds, so its first write moves
// it to a fresh ID, built on Redis's record on recovery; the old ID then
// carries nothing.
func TestMergeOnRecovery(t *testing.T) {
	e := newEnv(t, nil, degrade.WithCopies(0)) // served empty: no copy
	a := e.browser()
	a.must("POST", "/login/dave", false)
	a.must("POST", "/set/before/1", false)
	a.must("POST", "/set/both/old", false)
	oldCookie := a.cookie()
	oldHandle := a.must("GET", "/handle", false).body

	e.redis.Stop()
	if r := a.must("GET", "/get/before", true); r.body != "-" {
		t.Errorf("degraded view of a Redis-only session = %q, want empty", r.body)
	}
	a.must("POST", "/set/during/2", true)
	if a.cookie() == oldCookie {
		t.Error("the first write of a session loaded from the fallback kept its ID")
	}
	a.must("POST", "/set/both/new", true)
	e.redis.Cont()
	e.waitRecovered()
	for k, want := range map[string]string{"before": "1", "during": "2", "both": "new"} {
		if r := a.must("GET", "/get/"+k, false); r.body != want {
			t.Errorf("%s after recovery = %q, want %q", k, r.body, want)
		}
	}
	t.Run("UserKept", func(t *testing.T) {
		if r := a.get("/me"); r.status != 200 || r.body != "dave" {
			t.Errorf("after recovery /me = %d %q, want 200 dave: the outage write replaced the user", r.status, r.body)
		}
		handle := a.must("GET", "/handle", false).body
		if handle == oldHandle {
			t.Error("the session kept the ID its degraded load could not vouch for")
		}
		if keys, err := e.store.UserKeys(t.Context(), "dave"); err != nil || len(keys) != 1 || keys[0] != handle {
			t.Errorf("dave's sessions after recovery: %v, %v; want only %s", keys, err, handle)
		}
	})
	t.Run("OldIDEmpty", func(t *testing.T) {
		old := e.withCookie(oldCookie)
		if r := old.get("/me"); r.status != 401 {
			t.Errorf("old cookie after recovery: /me = %d %q, want 401", r.status, r.body)
		}
		if r := old.get("/get/before"); r.body != "-" {
			t.Errorf("old cookie after recovery: before = %q, want nothing", r.body)
		}
	})
}

// TestFlappingUnderLoad takes Redis down and up several times under
// concurrent load (paused and resumed, then killed and restarted with its
// append-only file): no panic, no lost acknowledged write, no goroutine
// left after shutdown.
func TestFlappingUnderLoad(t *testing.T) {
	redistest.Require(t)
	base := runtime.NumGoroutine()
	e := newEnv(t, []redistest.ServerOption{redistest.WithAppendOnly()}, degrade.WithProbeInterval(50*time.Millisecond))
	stop := make(chan struct{})
	wait, browsers := traffic(e, 8, 1000, stop, func() bool { return false })
	for range 3 {
		time.Sleep(250 * time.Millisecond)
		e.redis.Stop()
		time.Sleep(400 * time.Millisecond)
		e.redis.Cont()
	}
	time.Sleep(250 * time.Millisecond)
	e.redis.Kill()
	time.Sleep(300 * time.Millisecond)
	e.redis.Restart(true)
	time.Sleep(250 * time.Millisecond)
	close(stop)
	acked := wait()
	e.waitRecovered()
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	t.Logf("%d acknowledged writes, status %+v", total, e.store.Status())
	checkKeys(t, browsers, acked)

	e.close()
	waitFor(t, 10*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
}

// loginDuringOutage logs browser a in as user while Redis is down and sets
// "during"; it returns the cookies before and after the login.
func loginDuringOutage(t *testing.T, a *browser, user string) (oldCookie, newCookie string) {
	t.Helper()
	oldCookie = a.cookie()
	a.must("POST", "/login/"+user, true)
	newCookie = a.cookie()
	if newCookie == oldCookie || newCookie == "" {
		t.Fatal("the login during the outage did not renew the ID")
	}
	a.must("POST", "/set/during/2", true)
	if r := a.must("GET", "/me", true); r.body != user {
		t.Fatalf("/me during the outage = %q, want %s", r.body, user)
	}
	return oldCookie, newCookie
}

// checkMoved checks, after recovery, that the session logged in during the
// outage holds the values of before and during the outage and is bound to
// user, and that the old cookie carries nothing.
func checkMoved(t *testing.T, e *env, a *browser, oldCookie, user string, more map[string]string) {
	t.Helper()
	want := map[string]string{"before": "1", "during": "2"}
	for k, v := range more {
		want[k] = v
	}
	for k, v := range want {
		if r := a.must("GET", "/get/"+k, false); r.body != v {
			t.Errorf("%s after recovery = %q, want %q", k, r.body, v)
		}
	}
	if r := a.get("/me"); r.status != 200 || r.body != user {
		t.Errorf("/me after recovery = %d %q, want %s", r.status, r.body, user)
	}
	old := e.withCookie(oldCookie)
	if r := old.get("/me"); r.status != 401 {
		t.Errorf("old cookie after recovery: /me = %d %q, want 401", r.status, r.body)
	}
	for k := range want {
		if r := old.get("/get/" + k); r.body != "-" {
			t.Errorf("old cookie after recovery: %s = %q, want nothing", k, r.body)
		}
	}
	handle := a.must("GET", "/handle", false).body
	if keys, err := e.store.UserKeys(t.Context(), user); err != nil || len(keys) != 1 || keys[0] != handle {
		t.Errorf("%s's sessions after recovery: %v, %v; want only the current one", user, keys, err)
	}
}

// TestLoginDuringOutageKeepsData: a session that exists only in Redis is
// loaded degraded (served empty under its own ID), logged in (renewed) and
// changed during the outage. On recovery the renewal is replayed as a move:
// the new session is built on Redis's copy of the old one, and the old ID
// is deleted afterwards.
func TestLoginDuringOutageKeepsData(t *testing.T) {
	e := newEnv(t, nil, degrade.WithCopies(0)) // served empty: no copy
	a := e.browser()
	a.must("POST", "/set/before/1", false)

	e.redis.Stop()
	if r := a.must("GET", "/get/before", true); r.body != "-" {
		t.Errorf("degraded view of a Redis-only session = %q, want empty", r.body)
	}
	oldCookie, _ := loginDuringOutage(t, a, "erin")
	if r := e.withCookie(oldCookie).get("/me"); r.status != 401 {
		t.Errorf("old cookie during the outage: /me = %d %q, want 401", r.status, r.body)
	}
	e.waitState(degrade.StateOpen)

	e.redis.Cont()
	e.waitRecovered()
	checkMoved(t, e, a, oldCookie, "erin", nil)
}

// TestLoginDuringOutageAfterFallbackWrite: as TestLoginDuringOutageKeepsData,
// when the session was first written to the fallback during the outage
// (and loaded from there for the login).
func TestLoginDuringOutageAfterFallbackWrite(t *testing.T) {
	e := newEnv(t, []redistest.ServerOption{redistest.WithAppendOnly()})
	a := e.browser()
	a.must("POST", "/set/before/1", false)
	a.must("POST", "/set/both/old", false)

	e.redis.Kill()
	a.must("POST", "/set/x/3", true)
	a.must("POST", "/set/both/new", true)
	if r := a.must("GET", "/get/x", true); r.body != "3" {
		t.Fatalf("session written to the fallback: x = %q, want 3", r.body)
	}
	oldCookie, _ := loginDuringOutage(t, a, "frank")
	e.waitState(degrade.StateOpen)

	e.redis.Restart(true)
	e.waitRecovered()
	checkMoved(t, e, a, oldCookie, "frank", map[string]string{"x": "3", "both": "new"})
}

// TestLogoutAfterLoginDuringOutage: a session logged in and then logged
// out during the same outage stays logged out after recovery, and the ID
// of before the login is gone too.
func TestLogoutAfterLoginDuringOutage(t *testing.T) {
	e := newEnv(t, nil)
	a := e.browser()
	a.must("POST", "/set/before/1", false)

	e.redis.Stop()
	a.must("GET", "/get/before", true)
	oldCookie, newCookie := loginDuringOutage(t, a, "gina")
	a.must("POST", "/logout", true)
	e.waitState(degrade.StateOpen)

	e.redis.Cont()
	e.waitRecovered()
	for name, c := range map[string]string{"old": oldCookie, "new": newCookie} {
		b := e.withCookie(c)
		if r := b.get("/me"); r.status != 401 {
			t.Errorf("%s cookie after recovery: /me = %d %q, want 401", name, r.status, r.body)
		}
		for _, k := range []string{"before", "during"} {
			if r := b.get("/get/" + k); r.body != "-" {
				t.Errorf("%s cookie after recovery: %s = %q, want nothing", name, k, r.body)
			}
		}
	}
	if keys, err := e.store.UserKeys(t.Context(), "gina"); err != nil || len(keys) != 0 {
		t.Errorf("gina's sessions after recovery: %v, %v; want none", keys, err)
	}
	n, err := e.primary.Count(t.Context())
	if err != nil || n != 0 {
		t.Errorf("Redis holds %d sessions (%v), want none", n, err)
	}
}

// TestOldCookieBeforeMoveReplayed: the old cookie of a session renewed
// during the outage, used after recovery but before the background replay
// reached the session, replays the move first and gets nothing.
func TestOldCookieBeforeMoveReplayed(t *testing.T) {
	e := newEnv(t, nil, degrade.WithReplayRate(1))
	a := e.browser()
	a.must("POST", "/set/before/1", false)

	e.redis.Stop()
	// Sessions journaled first keep the background replay busy.
	for i := range 3 {
		e.browser().must("POST", fmt.Sprintf("/set/k/%d", i), true)
	}
	a.must("GET", "/get/before", true)
	oldCookie, _ := loginDuringOutage(t, a, "hugo")
	e.waitState(degrade.StateOpen)

	e.redis.Cont()
	waitFor(t, 10*time.Second, "the circuit to close", func() bool { return e.store.State() != degrade.StateOpen })
	// The session of the login was journaled last: it is pending as long
	// as any is.
	if st := e.store.Status(); st.State != degrade.StateRecovering || st.Pending < 1 {
		t.Fatalf("Status right after closing = %+v, want recovering with sessions pending (1 replay/s)", st)
	}
	old := e.withCookie(oldCookie)
	if r := old.get("/get/before"); r.status != 200 || r.body != "-" {
		t.Errorf("old cookie before the replay: before = %d %q, want nothing", r.status, r.body)
	}
	if r := old.get("/me"); r.status != 401 {
		t.Errorf("old cookie before the replay: /me = %d %q, want 401", r.status, r.body)
	}
	if r := a.must("GET", "/get/before", false); r.body != "1" {
		t.Errorf("new cookie: before = %q, want 1", r.body)
	}
	e.waitRecovered()
	checkMoved(t, e, a, oldCookie, "hugo", nil)
}
