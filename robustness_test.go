package session_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
)

// touchFailStore fails every Touch, as a store that is briefly overloaded.
type touchFailStore struct{ *countingStore }

func (touchFailStore) Touch(context.Context, string, time.Time) error {
	return backends.Unavailable(errors.New("overloaded"))
}

// Extending the idle deadline is best effort: when it fails the read still
// succeeds, and the failure is logged.
func TestFailedTouchDoesNotFailTheRequest(t *testing.T) {
	st := touchFailStore{newCountingStore(t)}
	ev := newEnv(t, session.WithStore(st), session.WithTouchInterval(0))
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200)
	time.Sleep(5 * time.Millisecond)
	e.GET("/get/a").Expect().Status(200).Body().IsEqual("1")
	if !bytes.Contains([]byte(ev.logs.String()), []byte("extending the idle deadline failed")) {
		t.Errorf("the failed touch was not logged: %s", ev.logs.String())
	}
}

// A cookie with its own lifetime slides with activity: a touch sends it
// again with a fresh Max-Age, so an active user keeps the session.
func TestCookieLifetimeSlidesWithActivity(t *testing.T) {
	ev := newEnv(t, session.WithCookieLifetime(time.Hour), session.WithTouchInterval(0))
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200).Cookie("session").MaxAge().IsEqual(time.Hour)
	time.Sleep(5 * time.Millisecond)
	r := e.GET("/get/a").Expect().Status(200)
	r.Body().IsEqual("1")
	r.Cookie("session").MaxAge().IsEqual(time.Hour)
}

// With the cookie keys unchanged, a session encrypted under a secret that
// is no longer configured cannot be opened: it is a fresh session (and a
// logged event), not an error.
func TestRemovedStoreKeyGivesFreshSession(t *testing.T) {
	signKey := []byte("Rt5yU8iO1pA4sD7fG2hJ9kL3zX6cV0bN")
	oldSecret := []byte("the old application secret, 32+ bytes long")
	newSecret := []byte("the new application secret, 32+ bytes long")
	store := newCountingStore(t)
	mk := func(secrets ...[]byte) *session.Manager {
		m, err := session.New(session.WithCookieKeys(signKey), session.WithSecret(secrets...), session.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var got string
	handler := func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if r.Method == "POST" {
			s.Set("a", "1")
			return
		}
		v, _, err := session.Get[string](s, "a")
		if err != nil {
			t.Error(err)
		}
		got = v
	}
	cookies := do(mk(oldSecret).Middleware(http.HandlerFunc(handler)), "POST", "https://example.com/", nil).Cookies()
	do(mk(newSecret, oldSecret).Middleware(http.HandlerFunc(handler)), "GET", "https://example.com/", cookies)
	if got != "1" {
		t.Fatalf("with both secrets the session reads %q, want 1", got)
	}
	resp := do(mk(newSecret).Middleware(http.HandlerFunc(handler)), "GET", "https://example.com/", cookies)
	if resp.StatusCode != 200 || got != "" {
		t.Fatalf("without the old secret: status %d, value %q; want 200 and a fresh session", resp.StatusCode, got)
	}
}
