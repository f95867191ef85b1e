package main

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"

	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// recoveryTimeout bounds the wait for the app to serve from Redis again
// after an outage, replay included.
const recoveryTimeout = 20 * time.Second

// failover returns the app's fail-over store.
func (s *shop) failover() *degrade.Store {
	s.t.Helper()
	fo, ok := s.app.store.(*degrade.Store)
	if !ok {
		s.t.Fatalf("the app's store is %T, want *degrade.Store", s.app.store)
	}
	return fo
}

// waitRecovered waits until the fail-over store serves from Redis again
// and has replayed everything the outage left in memory.
func (s *shop) waitRecovered() {
	s.t.Helper()
	fo := s.failover()
	deadline := time.Now().Add(recoveryTimeout)
	for {
		st := fo.Status()
		if st.State == degrade.StateClosed && st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no recovery within %v: %+v", recoveryTimeout, st)
		}
		// A request lets the store notice that Redis is back sooner.
		s.expect().GET("/healthz").Expect()
		time.Sleep(50 * time.Millisecond)
	}
}

// With Redis down, the API keeps answering from memory with the degraded
// header; what was added meanwhile is in Redis after recovery, together
// with what was there before.
func TestDegradedModeKeepsTheCart(t *testing.T) {
	for _, outage := range []struct {
		name       string
		start, end func(*redistest.Server)
	}{
		{"killed", (*redistest.Server).Kill, func(r *redistest.Server) { r.Restart(true) }},
		{"stopped", (*redistest.Server).Stop, (*redistest.Server).Cont},
	} {
		t.Run(outage.name, func(t *testing.T) {
			redistest.Require(t)
			r := redistest.StartServer(t, redistest.WithAppendOnly())
			s := startShop(t, config{RedisURL: r.URL()})
			c := s.client()
			e := s.expectWith(c)
			add(e, "p001", 1)
			login(e, "alice", "wonderland")
			cookie := s.sessionCookie(c)
			healthy := e.GET("/api/cart").Expect().Status(http.StatusOK)
			healthy.Header("X-Session-Degraded").IsEmpty()

			outage.start(r)
			// The known visitor adds to the cart, and a new visitor shops.
			r1 := e.POST("/api/cart/items").WithJSON(map[string]any{"productId": "p002", "quantity": 3}).Expect()
			r1.Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
			r1.JSON().Object().Value("items").Array().Find(func(_ int, v *httpexpect.Value) bool {
				return v.Object().Value("productId").Raw() == "p002"
			}).Object().Value("quantity").IsEqual(3)
			newcomer := s.client()
			ne := s.expectWith(newcomer)
			add(ne, "p050", 2)
			ne.GET("/api/cart").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
			for range 5 {
				r := e.GET("/api/cart").Expect().Status(http.StatusOK)
				r.Header("X-Session-Degraded").IsEqual("true")
				r.JSON().Object().Value("count").Number().Ge(3)
			}
			if got := s.failover().State(); got != degrade.StateOpen {
				t.Errorf("breaker %v during the outage, want open", got)
			}
			newcomerCookie := s.sessionCookie(newcomer)
			s.expect().GET("/metrics").Expect().Status(http.StatusOK).Body().
				Contains("\nsession_degraded 1\n").Contains("\nsession_failovers_total 1\n")
			s.expect().GET("/healthz").Expect().Status(http.StatusOK).JSON().Object().Value("status").IsEqual("degraded")

			outage.end(r)
			s.waitRecovered()
			after := e.GET("/api/cart").Expect().Status(http.StatusOK)
			after.Header("X-Session-Degraded").IsEmpty()
			s.expect().GET("/metrics").Expect().Body().Contains("\nsession_degraded 0\n")
			var cart cartJSON
			after.JSON().Decode(&cart)
			if got := cart.quantities(); got["p001"] != 1 || got["p002"] != 3 || len(got) != 2 {
				t.Errorf("cart after recovery: %v, want p001:1 p002:3", got)
			}

			// The first write of the outage moved the session to a fresh
			// ID (Redis could not say what the old one held): the old
			// cookie is dead, the current one holds the whole cart.
			if now := s.sessionCookie(c); now == cookie {
				t.Error("the session kept its ID through a write whose load Redis could not answer")
			} else {
				b := s.bare()
				var old cartJSON
				b.GET("/api/cart").WithCookie(cookieName, cookie).Expect().Status(http.StatusOK).JSON().Decode(&old)
				if len(old.quantities()) != 0 {
					t.Errorf("the ID of before the outage still serves a cart: %v", old.quantities())
				}
				cookie = now
			}

			// It is in Redis: a second instance, which never saw the
			// outage, serves both visitors.
			other := startShop(t, config{RedisURL: r.URL()})
			b := other.bare()
			b.GET("/api/cart").WithCookie(cookieName, cookie).Expect().Status(http.StatusOK).JSON().Decode(&cart)
			if got := cart.quantities(); got["p001"] != 1 || got["p002"] != 3 {
				t.Errorf("cart in Redis after recovery: %v", got)
			}
			b.GET("/api/cart").WithCookie(cookieName, newcomerCookie).Expect().Status(http.StatusOK).JSON().Decode(&cart)
			if got := cart.quantities(); got["p050"] != 2 {
				t.Errorf("the newcomer's cart in Redis after recovery: %v", got)
			}
		})
	}
}

// A user logged in before an outage is still logged in after it, even when
// the session changed during the outage.
func TestLoginSurvivesARedisOutage(t *testing.T) {
	redistest.Require(t)
	r := redistest.StartServer(t, redistest.WithAppendOnly())
	s := startShop(t, config{RedisURL: r.URL()})
	e := s.expect()
	add(e, "p001", 1)
	login(e, "alice", "wonderland")
	r.Kill()
	e.POST("/api/cart/items").WithJSON(map[string]any{"productId": "p002", "quantity": 1}).
		Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
	r.Restart(true)
	s.waitRecovered()
	e.GET("/api/me").Expect().Status(http.StatusOK).JSON().Object().Value("user").IsEqual("alice")
	if got := getCart(e).quantities(); got["p001"] != 1 || got["p002"] != 1 {
		t.Errorf("cart after recovery: %v", got)
	}
}

// A REDIS_URL that Redis refuses is an error at start that names the
// cause, not an app that starts and then fails or degrades every request.
// Redis being down at start is not: the app starts on memory.
func TestRedisURLRefusedAtStart(t *testing.T) {
	redistest.Require(t)
	r := redistest.StartServer(t)
	for url, cause := range map[string]string{
		"redis://" + r.Addr() + "/99":          "DB index is out of range",
		"redis://nobody:pw@" + r.Addr() + "/0": "WRONGPASS",
		"rediss://" + r.Addr() + "/0":          "plaintext",
	} {
		a, err := newApp(config{RedisURL: url, Secret: testSecret, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			a.Close()
			t.Errorf("%s: the app started", cause)
			continue
		}
		if !strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), cause) {
			t.Errorf("error %q does not name REDIS_URL and %q", err, cause)
		}
	}

	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := startShop(t, config{RedisURL: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"})
	add(s.expect(), "p001", 1)
	s.expect().GET("/healthz").Expect().Status(http.StatusOK).JSON().Object().Value("status").IsEqual("degraded")
}
