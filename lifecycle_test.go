package session_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session"
)

// Guarantee 1: a handler that never touches the session costs no store call
// and sets no cookie.
func TestUntouchedSessionCausesNoStoreCallAndNoCookie(t *testing.T) {
	ev := newEnv(t)
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200) // a session exists now
	before := ev.store.calls()
	for range 5 {
		r := e.GET("/untouched").Expect().Status(200)
		r.Body().IsEqual("hello")
		r.Header("Set-Cookie").IsEmpty()
	}
	if got := ev.store.calls() - before; got != 0 {
		t.Fatalf("untouched requests made %d store calls, want 0", got)
	}
	// Also for a client that has no session at all.
	ev.expect().GET("/untouched").Expect().Status(200).Header("Set-Cookie").IsEmpty()
	if got := ev.store.calls() - before; got != 0 {
		t.Fatalf("untouched requests made %d store calls, want 0", got)
	}
}

// A new session that is only read is not saved and gets no cookie.
func TestReadOnlyNewSessionIsNotSaved(t *testing.T) {
	ev := newEnv(t)
	r := ev.expect().GET("/get/a").Expect().Status(200)
	r.Body().IsEqual("-")
	r.Header("Set-Cookie").IsEmpty()
	if n := ev.store.saves.Load(); n != 0 {
		t.Fatalf("%d saves for a read-only new session", n)
	}
}

func TestValuesRoundTripWithTypes(t *testing.T) {
	ev := newEnv(t)
	e := ev.expect()
	e.POST("/cart").Expect().Status(http.StatusCreated).Cookie("session").Value().NotEmpty()
	obj := e.GET("/cart").Expect().Status(200).JSON().Object()
	obj.Value("items").Array().Length().IsEqual(5)
	obj.Value("items").Array().Value(2).Object().Value("name").IsEqual("Product 2")
	e.POST("/set/b/2").Expect().Status(200)
	e.GET("/keys").Expect().JSON().Array().IsEqual([]string{"b", "cart"})
}

func TestPopReadsFlashOnce(t *testing.T) {
	ev := newEnv(t)
	e := ev.expect()
	e.POST("/flash").Expect().Status(200)
	e.GET("/flash").Expect().Body().IsEqual("saved!")
	e.GET("/flash").Expect().Body().IsEqual("")
}

// Guarantee 4: Set-Cookie reaches the client however the handler produces
// its body.
// The table runs over HTTP/1.1 and HTTP/2, whose writers the middleware
// wraps differently.
func TestCookieSentBeforeBodyOnEveryWritePath(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) { cookieBeforeBody(t, newEnvProto(t, p.h2)) })
	}
}

func cookieBeforeBody(t *testing.T, ev *env) {
	cases := map[string]struct {
		status int
		body   string
	}{
		"write":       {200, "body"},
		"writestring": {200, "body"},
		"readfrom":    {200, "body"},
		"flush-first": {200, "body"},
		"stream":      {200, "chunk0;chunk1;chunk2;"},
		"controller":  {200, "body"},
		"status":      {http.StatusAccepted, ""},
		"early-hints": {200, "body"},
		"nothing":     {200, ""},
	}
	for how, want := range cases {
		t.Run(how, func(t *testing.T) {
			c := ev.client()
			e := ev.expectWith(c)
			r := e.GET("/write/" + how).Expect().Status(want.status)
			if got := r.Raw().ProtoMajor == 2; got != ev.srv.EnableHTTP2 {
				t.Fatalf("answered over %s", r.Raw().Proto)
			}
			r.Body().IsEqual(want.body)
			r.Cookie("session").Value().NotEmpty()
			r.Header("Cache-Control").IsEqual("no-store")
			e.GET("/get/how").Expect().Body().IsEqual(how)
		})
	}
	if log := ev.srvLog.String(); log != "" {
		t.Errorf("server logged: %s", log)
	}
}

func TestHijackedConnectionIsLeftAlone(t *testing.T) {
	ev := newEnv(t)
	resp, err := ev.client().Get(ev.srv.URL + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hijacked" {
		t.Fatalf("body %q", body)
	}
	// Give the server a moment to finish the handler, then check it never
	// tried to write headers on the hijacked connection.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) && ev.srvLog.String() == "" {
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(ev.srvLog.String(), "hijacked") {
		t.Fatalf("server log: %s", ev.srvLog.String())
	}
}

// Guarantee 6: concurrent requests of one session keep each other's writes.
func TestConcurrentWritesOfOneSessionAreAllKept(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	e := ev.expectWith(c)
	e.POST("/set/start/0").Expect().Status(200)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Post(fmt.Sprintf("%s/set/k%02d/%d", ev.srv.URL, i, i), "text/plain", nil)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	keys := e.GET("/keys").Expect().Status(200).JSON().Array()
	keys.Length().IsEqual(51)
	for i := range 50 {
		keys.ContainsAll(fmt.Sprintf("k%02d", i))
	}
}

// Guarantee 7: renewal gives a new ID, keeps the data, kills the old ID.
func TestRenewChangesIDKeepsDataAndKillsOldID(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	e := ev.expectWith(c)
	e.POST("/set/item/book").Expect().Status(200)
	old := ev.sessionCookie(c)
	r := e.POST("/login/alice").Expect().Status(200)
	newVal := r.Cookie("session").Value().Raw()
	if newVal == old.Value {
		t.Fatal("login did not renew the cookie")
	}
	e.GET("/get/item").Expect().Body().IsEqual("book")
	e.GET("/me").Expect().Status(200).Body().IsEqual("alice")

	// The old cookie no longer loads anything.
	stale := ev.expect().Builder(func(r *httpexpectRequest) { r.WithCookie("session", old.Value) })
	stale.GET("/get/item").Expect().Body().IsEqual("-")
	stale.GET("/me").Expect().Status(http.StatusUnauthorized)
	if n := ev.store.renews.Load(); n != 1 {
		t.Errorf("%d renew calls, want 1", n)
	}
}

func TestDestroyExpiresCookieAndRecord(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	e := ev.expectWith(c)
	e.POST("/login/alice").Expect().Status(200)
	old := ev.sessionCookie(c)
	r := e.POST("/logout").Expect().Status(200)
	ck := r.Cookie("session")
	ck.Value().IsEmpty()
	ck.MaxAge().Le(0)
	e.GET("/me").Expect().Status(http.StatusUnauthorized)
	ev.expect().Builder(func(r *httpexpectRequest) { r.WithCookie("session", old.Value) }).
		GET("/me").Expect().Status(http.StatusUnauthorized)
	n, err := ev.store.Count(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("store holds %d records (%v) after logout", n, err)
	}
}

// Guarantee 7: a slow request that loaded the session before a logout or a
// renewal cannot bring the old record back when it saves or touches later.
func TestSlowRequestCannotUndoLogoutOrRenewal(t *testing.T) {
	for _, tc := range []struct{ name, finish, action string }{
		{"logout/set", "/logout", "set"},
		{"logout/touch", "/logout", "read"},
		{"renew/set", "/login/bob", "set"},
		{"renew/touch", "/login/bob", "read"},
		{"logout/renew", "/logout", "renew"},
		{"renew/renew", "/login/bob", "renew"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Touch on every request, so the slow read really touches.
			ev := newEnv(t, session.WithTouchInterval(0))
			c := ev.client()
			e := ev.expectWith(c)
			e.POST("/login/alice").Expect().Status(200)
			e.POST("/set/cart/full").Expect().Status(200)
			old := ev.sessionCookie(c)

			g, gname := newGate()
			done := make(chan struct{})
			var slowCookies []*http.Cookie
			go func() {
				defer close(done)
				req, _ := http.NewRequest("POST", ev.srv.URL+"/slow/"+gname+"/"+tc.action, nil)
				req.AddCookie(old)
				resp, err := ev.client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				slowCookies = resp.Cookies()
			}()
			<-g.loaded
			e.POST(tc.finish).Expect().Status(200) // completes while the slow one waits
			close(g.release)
			<-done

			stale := ev.expect().Builder(func(r *httpexpectRequest) { r.WithCookie("session", old.Value) })
			stale.GET("/me").Expect().Status(http.StatusUnauthorized)
			stale.GET("/get/cart").Expect().Body().IsEqual("-")
			stale.GET("/get/late").Expect().Body().IsEqual("-")
			// Whatever cookie the slow request got carries nothing either.
			for _, ck := range slowCookies {
				if ck.Name != "session" || ck.Value == "" {
					continue
				}
				slow := ev.expect().Builder(func(r *httpexpectRequest) { r.WithCookie("session", ck.Value) })
				slow.GET("/me").Expect().Status(http.StatusUnauthorized)
				slow.GET("/get/cart").Expect().Body().IsEqual("-")
			}
			// Alice has no session left after her logout (the login as
			// bob renewed hers away).
			if n, err := ev.m.UserSessions(context.Background(), "alice"); err != nil || len(n) != 0 {
				t.Errorf("alice's sessions after the race: %v, %v", n, err)
			}
		})
	}
}

// Guarantee 8: idle timeout and lifetime are enforced by the manager, even
// when the store keeps a record past its expiry.
func TestTimeoutsEnforcedEvenIfStoreKeepsRecord(t *testing.T) {
	keeper := newKeepingStore()
	ev := newEnv(t,
		session.WithStore(keeper),
		session.WithIdleTimeout(300*time.Millisecond),
		session.WithLifetime(2*time.Second),
		session.WithTouchInterval(0),
	)
	// Idle timeout.
	idle := ev.expect()
	idle.POST("/set/a/1").Expect().Status(200)
	time.Sleep(500 * time.Millisecond)
	idle.GET("/get/a").Expect().Body().IsEqual("-")

	// Absolute lifetime: keep the session busy past its lifetime.
	busy := ev.expect()
	busy.POST("/set/a/1").Expect().Status(200)
	start := time.Now()
	for time.Since(start) < 2200*time.Millisecond {
		busy.GET("/get/a").Expect().Status(200)
		time.Sleep(100 * time.Millisecond)
	}
	busy.GET("/get/a").Expect().Body().IsEqual("-")
	if keeper.records() == 0 {
		t.Fatal("the keeping store dropped records: the test proves nothing")
	}
}

// Remember me: a session with its own lifetime outlives the default one.
func TestRememberMeOutlivesDefaultTimeouts(t *testing.T) {
	ev := newEnv(t, session.WithIdleTimeout(300*time.Millisecond), session.WithLifetime(time.Second))
	plain := ev.expect()
	plain.POST("/login/alice").Expect().Status(200).Cookie("session").NotContainsMaxAge()
	remembered := ev.expect()
	ck := remembered.POST("/login/bob").WithQuery("remember", "1").Expect().Status(200).Cookie("session")
	ck.ContainsMaxAge()
	ck.MaxAge().Gt(24 * time.Hour)
	time.Sleep(1200 * time.Millisecond)
	plain.GET("/me").Expect().Status(http.StatusUnauthorized)
	remembered.GET("/me").Expect().Status(200).Body().IsEqual("bob")
}

// The browser-session cookie has no Max-Age; the record still has its
// server-side timeouts. A cookie lifetime can be set separately.
func TestCookieLifetimeIsSeparateFromRecordLifetime(t *testing.T) {
	ev := newEnv(t)
	ck := ev.expect().POST("/set/a/1").Expect().Cookie("session")
	ck.NotContainsMaxAge()
	ck.Path().IsEqual("/")
	raw := ck.Raw()
	if !raw.Expires.IsZero() || !raw.Secure || !raw.HttpOnly || raw.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie attributes: %s", raw.String())
	}

	ev2 := newEnv(t, session.WithCookieLifetime(time.Hour))
	ev2.expect().POST("/set/a/1").Expect().Cookie("session").MaxAge().IsEqual(time.Hour)
}

// Guarantee 8: no record is written without an expiry, also when the
// request crosses the session's deadline between load and save.
func TestRequestCrossingDeadlineWritesNothing(t *testing.T) {
	ev := newEnv(t, session.WithIdleTimeout(400*time.Millisecond), session.WithLifetime(400*time.Millisecond))
	c := ev.client()
	e := ev.expectWith(c)
	e.POST("/set/a/1").Expect().Status(200)
	old := ev.sessionCookie(c)
	g, gname := newGate()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", ev.srv.URL+"/slow/"+gname+"/set", nil)
		req.AddCookie(old)
		resp, err := ev.client().Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	<-g.loaded
	saves := ev.store.saves.Load()
	time.Sleep(600 * time.Millisecond) // past the deadline
	close(g.release)
	<-done
	if n := ev.store.saves.Load() - saves; n != 0 {
		t.Fatalf("%d saves after the deadline", n)
	}
	e.GET("/get/late").Expect().Body().IsEqual("-")
}

// Guarantee 2: bad cookies give a fresh session, a logged security event,
// no store call and never a 5xx.
func TestHostileCookiesGiveFreshSession(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	ev.expectWith(c).POST("/set/a/1").Expect().Status(200)
	valid := ev.sessionCookie(c).Value
	flipped := []byte(valid)
	flipped[len(flipped)/2] ^= 0x01
	other, err := session.New(session.WithSecret([]byte("another secret that is long enough to use")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreign := do(other.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Set("a", "forged")
	})), "POST", "https://example.com/", nil).Cookies()[0].Value
	cases := map[string]string{
		"other key": foreign,
		"truncated": valid[:len(valid)-5],
		"bit-flip":  string(flipped),
		"garbage":   "not a cookie at all!!",
		"base64":    base64.URLEncoding.EncodeToString([]byte("a|b|c")),
		"oversized": strings.Repeat("A", 5000),
		"empty-ish": "|||",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			before := ev.store.calls()
			logBefore := len(ev.logs.String())
			r := ev.expect().Builder(func(r *httpexpectRequest) { r.WithCookie("session", value) }).
				GET("/get/a").Expect()
			r.Status(200).Body().IsEqual("-")
			if n := ev.store.calls() - before; n != 0 {
				t.Errorf("%d store calls for a bad cookie", n)
			}
			logged := ev.logs.String()[logBefore:]
			if !strings.Contains(logged, "rejected session token") || !strings.Contains(logged, "level=WARN") {
				t.Errorf("no security event logged: %q", logged)
			}
			if strings.Contains(logged, value) && len(value) > 8 {
				t.Errorf("log contains the raw cookie value")
			}
		})
	}
}

func TestResponseCacheHeaders(t *testing.T) {
	ev := newEnv(t)
	r := ev.expect().GET("/cache/none").Expect()
	r.Header("Cache-Control").IsEqual("no-store")
	r.Header("Vary").IsEqual("Cookie")
	r = ev.expect().GET("/cache/public").Expect()
	r.Header("Cache-Control").IsEqual("private, max-age=60")
	r = ev.expect().GET("/cache/nostore").Expect()
	r.Header("Cache-Control").IsEqual("no-store, must-revalidate")
}

// Guarantee 9: sessions of a user can be listed and revoked.
func TestUserSessionsListAndRevoke(t *testing.T) {
	ev := newEnv(t)
	browsers := make([]*httpexpectExpect, 3)
	for i := range browsers {
		browsers[i] = ev.expect()
		browsers[i].POST("/login/alice").Expect().Status(200)
	}
	ev.expect().POST("/login/bob").Expect().Status(200)
	list := browsers[0].GET("/sessions").Expect().Status(200).JSON().Array()
	list.Length().IsEqual(3)
	current := browsers[0].GET("/handle").Expect().Body().Raw()
	found := false
	for _, v := range list.Iter() {
		if v.Object().Value("Handle").String().Raw() == current {
			found = true
		}
	}
	if !found {
		t.Fatal("current session not listed")
	}
	browsers[0].POST("/revoke-others").Expect().Status(200).Body().IsEqual("2")
	browsers[0].GET("/me").Expect().Status(200)
	browsers[1].GET("/me").Expect().Status(http.StatusUnauthorized)
	browsers[2].GET("/me").Expect().Status(http.StatusUnauthorized)

	n, err := ev.m.RevokeUser(context.Background(), "alice")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v", n, err)
	}
	browsers[0].GET("/me").Expect().Status(http.StatusUnauthorized)
	infos, err := ev.m.UserSessions(context.Background(), "bob")
	if err != nil || len(infos) != 1 {
		t.Fatalf("bob's sessions: %v %v", infos, err)
	}
}

func TestMaxSessionsPerUserRevokesOldest(t *testing.T) {
	for _, anonymousFirst := range []bool{false, true} {
		name := map[bool]string{false: "fresh login", true: "login from an anonymous session"}[anonymousFirst]
		t.Run(name, func(t *testing.T) {
			ev := newEnv(t, session.WithMaxSessionsPerUser(2))
			first, second, third := ev.expect(), ev.expect(), ev.expect()
			for i, b := range []*httpexpectExpect{first, second, third} {
				if anonymousFirst {
					b.POST("/set/cart/full").Expect().Status(200)
				}
				if i > 0 {
					time.Sleep(10 * time.Millisecond)
				}
				b.POST("/login/alice").Expect().Status(200)
			}
			first.GET("/me").Expect().Status(http.StatusUnauthorized)
			second.GET("/me").Expect().Status(200)
			third.GET("/me").Expect().Status(200)
			if infos, err := ev.m.UserSessions(context.Background(), "alice"); err != nil || len(infos) != 2 {
				t.Fatalf("alice has %d sessions (%v), want 2", len(infos), err)
			}
		})
	}
}

func TestTokenHeaderForAPIClients(t *testing.T) {
	ev := newEnv(t, session.WithTokenHeader(""))
	e := ev.expect()
	r := e.POST("/set/a/1").Expect().Status(200)
	r.Header("Set-Cookie").IsEmpty()
	tok := r.Header("Session-Token").NotEmpty().Raw()
	r.Header("Vary").IsEqual("Session-Token")
	e.GET("/get/a").WithHeader("Session-Token", tok).Expect().Body().IsEqual("1")
	e.GET("/get/a").WithHeader("Authorization", "Session "+tok).Expect().Body().IsEqual("1")
	e.GET("/get/a").Expect().Body().IsEqual("-")
	e.GET("/get/a").WithHeader("Session-Token", tok+"x").Expect().Status(200).Body().IsEqual("-")
}

func TestSetRefusesOversizedSession(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret), session.WithMaxSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var setErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Set("small", "x"); err != nil {
			t.Error(err)
		}
		setErr = s.Set("big", strings.Repeat("x", 5000))
	}))
	srv := newPlainServer(t, h)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !errorsIs(setErr, session.ErrTooLarge) {
		t.Fatalf("Set of an oversized value: %v, want ErrTooLarge", setErr)
	}
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("status %d, cookies %v: the small value should still be saved", resp.StatusCode, resp.Cookies())
	}
}

func TestFromContextWithoutMiddleware(t *testing.T) {
	if _, err := session.FromContext(context.Background()); !errorsIs(err, session.ErrNoSession) {
		t.Fatalf("err = %v", err)
	}
}
