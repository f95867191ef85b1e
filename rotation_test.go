package session_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/faultstore"
	"github.com/sessionkit/session/internal/redistest"
	"github.com/sessionkit/session/internal/sessiontest"
)

// rotationWait lets a session's ID grow older than the shortest rotation
// interval.
const rotationWait = session.MinRotationInterval + 100*time.Millisecond

// newRedisStore returns a redisstore on a redis-server started for the
// test.
func newRedisStore(t *testing.T) backends.Store {
	t.Helper()
	redistest.Require(t)
	srv := redistest.StartServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	store, err := redisstore.New(client, redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// current follows a client's cookie: a reply to a request made with *id
// that sets a new one replaces it.
func current(id *string, rp reply) reply {
	if rp.cookie != nil && rp.cookie.MaxAge >= 0 {
		*id = rp.cookie.Value
	}
	return rp
}

func TestRotationRaceMemory(t *testing.T) { testRotationRace(t, nil) }

func TestRotationRaceRedis(t *testing.T) { testRotationRace(t, newRedisStore(t)) }

// testRotationRace: parallel requests carrying the session's ID race its
// rotation. Exactly one response carries the new ID; every other one
// carries no cookie, and every write lands in the new record. The
// previous ID is served during the grace without ever being given the new
// one, and cannot be renewed.
func testRotationRace(t *testing.T, store backends.Store) {
	// A cookie lifetime makes every write refresh the cookie: the
	// responses to the previous ID must still carry none.
	ev := newSecEnv(t, store, session.WithRotationInterval(session.MinRotationInterval),
		session.WithRotationGrace(30*time.Second), session.WithCookieLifetime(time.Hour))
	prev := ev.login("bob")
	if rp := ev.do("POST", "/set/cart/full", prev); rp.status != 200 {
		t.Fatalf("POST /set: %d %q", rp.status, rp.body)
	}
	time.Sleep(rotationWait)

	const n = 8
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rp, err := ev.send("POST", fmt.Sprintf("/set/k%d/v", i), prev)
			if err != nil {
				t.Error(err)
			}
			replies[i] = rp
		})
	}
	wg.Wait()
	cur := ""
	for i, rp := range replies {
		if rp.status != 200 {
			t.Errorf("racing request %d: %d %q", i, rp.status, rp.body)
		}
		if rp.cookie == nil {
			continue
		}
		if cur != "" || rp.cookie.Value == prev {
			t.Errorf("racing request %d set cookie %v; one new ID in all was expected", i, rp.cookie)
		}
		cur = rp.cookie.Value
	}
	if cur == "" {
		t.Fatal("no racing request rotated the ID")
	}

	want := []string{"cart", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	keys := func(id string) []string {
		t.Helper()
		rp := ev.do("GET", "/keys", id)
		if id == prev && rp.cookie != nil {
			t.Errorf("a request with the previous ID was given cookie %v", rp.cookie)
		}
		current(&cur, rp)
		var ks []string
		if err := json.Unmarshal([]byte(rp.body), &ks); err != nil {
			t.Fatalf("GET /keys: %d %q", rp.status, rp.body)
		}
		return ks
	}
	if got := keys(cur); !slices.Equal(got, want) {
		t.Errorf("the new ID holds %v, want %v", got, want)
	}
	if got := keys(prev); !slices.Equal(got, want) {
		t.Errorf("the previous ID, in its grace, holds %v, want %v", got, want)
	}
	// A write with the previous ID lands in the new record, without a
	// cookie.
	if rp := ev.do("POST", "/set/late/x", prev); rp.status != 200 || rp.cookie != nil {
		t.Errorf("write with the previous ID: %d, cookie %v", rp.status, rp.cookie)
	}
	if got := keys(cur); !slices.Contains(got, "late") {
		t.Errorf("the write made with the previous ID is not in the new record: %v", got)
	}
	// The previous ID cannot be traded for a new one.
	if rp := ev.do("POST", "/login/eve", prev); rp.status != http.StatusConflict || rp.cookie != nil {
		t.Errorf("renewal with the previous ID: %d %q, cookie %v; want 409 without cookie", rp.status, rp.body, rp.cookie)
	}
	if rp := current(&cur, ev.do("GET", "/me", cur)); rp.body != "bob" {
		t.Errorf("GET /me with the new ID: %d %q", rp.status, rp.body)
	}
	h := ev.do("GET", "/handle", prev).body
	infos := ev.devices(cur)
	if len(infos) != 1 || infos[0].Handle != h {
		t.Errorf("bob's sessions: %+v, want one, %s (the handle the previous ID leads to)", infos, h)
	}
	if got := ev.do("GET", "/handle", cur).body; got != h {
		t.Errorf("handle of the new ID %s, of the previous ID %s", got, h)
	}
}

// TestRotationGraceEnds: after the grace the previous ID is dead; with no
// grace it is dead at once.
func TestRotationGraceEnds(t *testing.T) {
	for _, grace := range []time.Duration{0, 500 * time.Millisecond} {
		t.Run(grace.String(), func(t *testing.T) {
			ev := newSecEnv(t, nil, session.WithRotationInterval(session.MinRotationInterval), session.WithRotationGrace(grace))
			prev := ev.login("bob")
			time.Sleep(rotationWait)
			cur := prev
			if rp := current(&cur, ev.do("GET", "/me", prev)); rp.body != "bob" || cur == prev {
				t.Fatalf("rotating request: %d %q, cookie %v", rp.status, rp.body, rp.cookie)
			}
			time.Sleep(grace + 100*time.Millisecond)
			if rp := ev.do("GET", "/me", prev); rp.status != http.StatusUnauthorized {
				t.Errorf("previous ID after the grace: %d %q, want 401", rp.status, rp.body)
			}
			if rp := current(&cur, ev.do("GET", "/me", cur)); rp.body != "bob" {
				t.Errorf("new ID: %d %q", rp.status, rp.body)
			}
		})
	}
}

// TestRotationLoginHasNoGrace: a renewal (login) ends the ID it replaces
// at once, and an ID rotated away before it leads nowhere either.
func TestRotationLoginHasNoGrace(t *testing.T) {
	ev := newSecEnv(t, nil, session.WithRotationInterval(session.MinRotationInterval), session.WithRotationGrace(30*time.Second))
	first := ev.login("bob")
	time.Sleep(rotationWait)
	second := first
	current(&second, ev.do("GET", "/me", first))
	if second == first {
		t.Fatal("no rotation")
	}
	rp := ev.do("POST", "/login/bob", second)
	if rp.cookie == nil {
		t.Fatalf("login: %d %q, no cookie", rp.status, rp.body)
	}
	third := rp.cookie.Value
	for name, id := range map[string]string{"the ID renewed at login": second, "the ID rotated away before": first} {
		if rp := ev.do("GET", "/me", id); rp.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %q, want 401", name, rp.status, rp.body)
		}
	}
	if rp := ev.do("GET", "/me", third); rp.body != "bob" {
		t.Errorf("the ID given at login: %d %q", rp.status, rp.body)
	}
}

// TestRotationNotBeforeInterval: a session younger than the interval keeps
// its ID, and a read-only request of a fresh session sets no cookie.
func TestRotationNotBeforeInterval(t *testing.T) {
	ev := newSecEnv(t, nil, session.WithRotationInterval(time.Hour))
	c := ev.login("bob")
	for range 3 {
		if rp := ev.do("POST", "/set/k/v", c); rp.cookie != nil {
			t.Fatalf("a write within the interval set cookie %v", rp.cookie)
		}
	}
}

// TestRotationSkippedWhileDegraded: while the primary store is down, a
// session served by the fallback keeps its ID, however old; the first
// request after the recovery rotates it.
func TestRotationSkippedWhileDegraded(t *testing.T) {
	primary, err := faultstore.New(sessiontest.NewMemstore(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := newSecEnv(t, nil, session.WithRotationInterval(session.MinRotationInterval),
		session.WithFailover(primary, degrade.WithProbeInterval(20*time.Millisecond)))
	prev := ev.login("bob")
	primary.SetDown(true)
	time.Sleep(rotationWait)
	rp := ev.do("GET", "/me", prev)
	if rp.header.Get("X-Session-Degraded") != "true" || rp.cookie != nil {
		t.Fatalf("during the outage: %d %q, degraded %q, cookie %v; want a degraded response without cookie",
			rp.status, rp.body, rp.header.Get("X-Session-Degraded"), rp.cookie)
	}
	primary.SetDown(false)
	chain := ev.m.Store().(*degrade.Store)
	for i := 0; chain.State() != degrade.StateClosed || chain.Status().Pending > 0; i++ {
		if i == 500 {
			t.Fatalf("no recovery: %v", chain.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cur := prev
	if rp := current(&cur, ev.do("GET", "/me", prev)); rp.body != "bob" || cur == prev {
		t.Errorf("after the recovery: %d %q, cookie %v; want bob with a new ID", rp.status, rp.body, rp.cookie)
	}
}

// TestRotationUnderSlowRequests: requests that loaded the session before
// another request rotated its ID find the alias when they save. A write
// lands in the new record, without a cookie; a renewal (login) renews the
// new record, gives its own new ID, and leaves both earlier IDs dead.
func TestRotationUnderSlowRequests(t *testing.T) {
	for _, action := range []string{"set", "renew"} {
		t.Run(action, func(t *testing.T) {
			ev := newSecEnv(t, nil, session.WithRotationInterval(session.MinRotationInterval), session.WithRotationGrace(30*time.Second))
			prev := ev.login("bob")
			time.Sleep(rotationWait)
			g, name := newGate()
			slow := make(chan reply, 1)
			go func() {
				rp, err := ev.send("POST", "/slow/"+name+"/"+action, prev)
				if err != nil {
					t.Error(err)
				}
				slow <- rp
			}()
			<-g.loaded
			cur := prev
			current(&cur, ev.do("GET", "/me", prev))
			if cur == prev {
				t.Fatal("no rotation")
			}
			close(g.release)
			rp := <-slow
			if rp.status != 200 {
				t.Fatalf("slow %s: %d %q", action, rp.status, rp.body)
			}
			switch action {
			case "set":
				if rp.cookie != nil {
					t.Errorf("the slow write with the previous ID set cookie %v", rp.cookie)
				}
				if got := ev.do("GET", "/keys", cur).body; got != `["late"]` {
					t.Errorf("the new record holds %s, want the slow write", got)
				}
			case "renew":
				if rp.cookie == nil || rp.cookie.Value == cur || rp.cookie.Value == prev {
					t.Fatalf("the slow renewal set cookie %v, want an ID of its own", rp.cookie)
				}
				for name, id := range map[string]string{"rotated-away ID": prev, "renewed-away ID": cur} {
					if rp := ev.do("GET", "/me", id); rp.status != http.StatusUnauthorized {
						t.Errorf("%s: %d %q, want 401", name, rp.status, rp.body)
					}
				}
				if got := ev.do("GET", "/me", rp.cookie.Value); got.body != "bob" {
					t.Errorf("the renewed ID: %d %q", got.status, got.body)
				}
			}
		})
	}
}
