package adaptertest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/sessiontest"
)

// UntouchedSessionCostsNothing checks that a request that never touches its
// session makes no store call and sends no cookie.
func UntouchedSessionCostsNothing(t *testing.T, a Adapter) {
	store := sessiontest.NewCountingStore(t)
	ev := NewEnv(t, a, store)
	e, _ := ev.Browser()
	e.POST("/cart/apple").Expect().Status(http.StatusOK)
	before := store.Calls()
	r := e.GET("/untouched").Expect().Status(http.StatusOK)
	r.Body().IsEqual("hello")
	r.Header("Set-Cookie").IsEmpty()
	if n := store.Calls() - before; n != 0 {
		t.Fatalf("a request that did not touch its session made %d store calls", n)
	}
}

// AnonymousCart checks that an anonymous session keeps a cart across
// requests under one cookie (HttpOnly, Secure, not cached), and that
// another browser has its own.
func AnonymousCart(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, sessiontest.NewMemstore(t))
	e, c := ev.Browser()
	e.GET("/cart").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEmpty()
	r := e.POST("/cart/apple").Expect().Status(http.StatusOK)
	r.Cookie("session").Value().NotEmpty()
	if ck := r.Cookie("session").Raw(); ck == nil || !ck.HttpOnly || !ck.Secure {
		t.Errorf("session cookie %v is not HttpOnly and Secure", ck)
	}
	r.Header("Cache-Control").IsEqual("no-store")
	first := ev.cookie(c)
	e.POST("/cart/pear").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEqual([]string{"apple", "pear"})
	e.GET("/cart").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEqual([]string{"apple", "pear"})
	if ev.cookie(c) != first {
		t.Error("the cookie changed without a renewal")
	}
	// Another browser has its own cart.
	other, _ := ev.Browser()
	other.GET("/cart").Expect().JSON().Object().Value("items").Array().IsEmpty()
}

// LoginRenewsCookie checks that a login renews the cookie, keeps the data,
// and that the cookie from before the login carries neither the user nor
// the data.
func LoginRenewsCookie(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, sessiontest.NewMemstore(t))
	e, c := ev.Browser()
	e.POST("/cart/book").Expect().Status(http.StatusOK)
	old := ev.cookie(c)
	e.GET("/me").Expect().Status(http.StatusUnauthorized)

	r := e.POST("/login/alice").Expect().Status(http.StatusOK)
	r.Body().IsEqual("welcome")
	renewed := r.Cookie("session").Value().NotEmpty().Raw()
	if renewed == old {
		t.Fatal("login did not change the session cookie")
	}
	e.GET("/me").Expect().Status(http.StatusOK).Body().IsEqual("alice")
	e.GET("/cart").Expect().JSON().Object().Value("items").Array().IsEqual([]string{"book"})

	// The cookie from before the login carries neither the user nor the data.
	stale := ev.withCookie(old)
	stale.GET("/me").Expect().Status(http.StatusUnauthorized)
	stale.GET("/cart").Expect().Status(http.StatusOK).
		JSON().Object().Value("items").Array().IsEmpty()
}

// LogoutExpiresCookie checks that a logout expires the cookie and that the
// old cookie no longer carries the user or the data.
func LogoutExpiresCookie(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, sessiontest.NewMemstore(t))
	e, c := ev.Browser()
	e.POST("/login/alice").Expect().Status(http.StatusOK)
	e.POST("/cart/book").Expect().Status(http.StatusOK)
	old := ev.cookie(c)

	r := e.POST("/logout").Expect().Status(http.StatusOK)
	r.Body().IsEqual("bye")
	ck := r.Cookie("session")
	ck.Value().IsEmpty()
	ck.MaxAge().Le(0)
	if v := ev.cookie(c); v != "" {
		t.Fatalf("the browser kept the session cookie %q after logout", v)
	}
	e.GET("/me").Expect().Status(http.StatusUnauthorized)
	stale := ev.withCookie(old)
	stale.GET("/me").Expect().Status(http.StatusUnauthorized)
	stale.GET("/cart").Expect().JSON().Object().Value("items").Array().IsEmpty()
}

// CookieOnEveryWritePath checks that the cookie reaches the client however
// the handler produces its response, for each of the adapter's WriteCases:
// a body written or streamed early, a status sent without a body, an abort.
func CookieOnEveryWritePath(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, sessiontest.NewMemstore(t))
	hows := make([]string, 0, len(a.WriteCases))
	for how := range a.WriteCases {
		hows = append(hows, how)
	}
	sort.Strings(hows)
	for _, how := range hows {
		want := a.WriteCases[how]
		t.Run(how, func(t *testing.T) {
			e, _ := ev.Browser()
			r := e.GET("/write/" + how).Expect().Status(want.Status)
			r.Body().IsEqual(want.Body)
			r.Cookie("session").Value().NotEmpty()
			e.GET("/value/how").Expect().Status(http.StatusOK).Body().IsEqual(how)
		})
	}
}

// TamperedCookieGivesFreshSession checks that a cookie whose signature or
// format is wrong gives a fresh session: never a 5xx, and the first change
// replaces the cookie.
func TamperedCookieGivesFreshSession(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, sessiontest.NewMemstore(t))
	e, c := ev.Browser()
	e.POST("/login/alice").Expect().Status(http.StatusOK)
	e.POST("/cart/book").Expect().Status(http.StatusOK)
	good := ev.cookie(c)

	flipped := []byte(good)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	foreign, err := session.New(session.WithSecret([]byte("another-secret-0123456789abcdef-0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	foreignCookie := cookieFrom(t, foreign)

	cases := map[string]string{
		"flipped byte":     string(flipped),
		"truncated":        good[:len(good)-4],
		"garbage":          "not-a-session-cookie",
		"other secret":     foreignCookie,
		"very long":        strings.Repeat("A", 3000),
		"url-encoded junk": "%00%ff%2e%2e",
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			bad := ev.withCookie(v)
			bad.GET("/me").Expect().Status(http.StatusUnauthorized)
			bad.GET("/cart").Expect().Status(http.StatusOK).
				JSON().Object().Value("items").Array().IsEmpty()
			r := bad.POST("/cart/apple").Expect().Status(http.StatusOK)
			r.JSON().Object().Value("items").Array().IsEqual([]string{"apple"})
			if got := r.Cookie("session").Value().NotEmpty().Raw(); got == v {
				t.Error("the tampered cookie was kept")
			}
		})
	}
	if !strings.Contains(ev.logs.String(), "rejected session token") {
		t.Errorf("no security event logged; log:\n%s", ev.logs.String())
	}
	// The genuine session is untouched.
	e.GET("/me").Expect().Status(http.StatusOK).Body().IsEqual("alice")
}

// cookieFrom returns a valid session cookie issued by m.
func cookieFrom(t *testing.T, m *session.Manager) string {
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set("k", "v"); err != nil {
			t.Fatal(err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	t.Fatal("no cookie issued")
	return ""
}

// DegradedHeaderWhenStoreFailsOver checks that the responses of requests
// served by a degrade.Store's fallback carry X-Session-Degraded.
func DegradedHeaderWhenStoreFailsOver(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, newFailoverStore(t))
	e, _ := ev.Browser()
	r := e.POST("/cart/apple").Expect().Status(http.StatusOK)
	r.Header("X-Session-Degraded").IsEqual("true")
	r.Cookie("session").Value().NotEmpty()
	r = e.GET("/cart").Expect().Status(http.StatusOK)
	r.Header("X-Session-Degraded").IsEqual("true")
	r.JSON().Object().Value("items").Array().IsEqual([]string{"apple"})
	e.POST("/login/alice").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
	e.GET("/me").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEqual("true")
	// A request that does not use its session is not marked.
	e.GET("/untouched").Expect().Status(http.StatusOK).Header("X-Session-Degraded").IsEmpty()
}

// DegradedHeaderNameIsConfigurable checks session.WithDegradedHeader.
func DegradedHeaderNameIsConfigurable(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, newFailoverStore(t), session.WithDegradedHeader("X-Fallback"))
	e, _ := ev.Browser()
	r := e.POST("/cart/apple").Expect().Status(http.StatusOK)
	r.Header("X-Fallback").IsEqual("true")
	r.Header("X-Session-Degraded").IsEmpty()
}

// newFailoverStore returns the fail-over store of package degrade over a
// primary that is down (every call fails as an unreachable backend does):
// every session operation is served by its in-memory fallback.
func newFailoverStore(t *testing.T) backends.Store {
	s, err := degrade.New(BrokenStore{},
		degrade.WithFallback(sessiontest.NewMemstore(t)),
		degrade.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// StoreFailureAnswersWithErrorHandler checks that a store that fails
// outright is the error handler's business: the response is its 500, never
// the handler's output with a lost session.
func StoreFailureAnswersWithErrorHandler(t *testing.T, a Adapter) {
	ev := NewEnv(t, a, BrokenStore{}, session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		if !session.IsUnavailable(err) {
			t.Errorf("error handler got %v", err)
		}
		http.Error(w, "session store down", http.StatusServiceUnavailable)
	}))
	e, _ := ev.Browser()
	// A fresh session is created, then saving it fails.
	r := e.GET("/write/string").Expect().Status(http.StatusServiceUnavailable)
	r.Body().IsEqual("session store down\n")
	r.Header("Set-Cookie").IsEmpty()
	e.GET("/untouched").Expect().Status(http.StatusOK).Body().IsEqual("hello")
}

// BrokenStore fails every operation as an unreachable backend does.
// Alone, it makes every request that saves a session fail; as the primary
// of a degrade.Store, it makes the store fail over.
type BrokenStore struct{}

var errDown = backends.Unavailable(errors.New("down"))

func (BrokenStore) Load(context.Context, string) (backends.Record, bool, error) {
	return backends.Record{}, false, errDown
}

func (BrokenStore) Save(context.Context, string, []byte, time.Time, uint64) (uint64, error) {
	return 0, errDown
}
func (BrokenStore) Touch(context.Context, string, time.Time) error { return errDown }
func (BrokenStore) Delete(context.Context, string) error           { return errDown }
