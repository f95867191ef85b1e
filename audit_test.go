package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/degrade"
)

// auditRecord is one log record captured by auditCapture.
type auditRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// auditCapture is a slog.Handler that keeps every record at or above
// level, with its attributes as strings.
type auditCapture struct {
	level slog.Level
	mu    *sync.Mutex
	recs  *[]auditRecord
	attrs []slog.Attr
}

func newAuditCapture(level slog.Level) *auditCapture {
	return &auditCapture{level: level, mu: &sync.Mutex{}, recs: &[]auditRecord{}}
}

func (h *auditCapture) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *auditCapture) Handle(_ context.Context, r slog.Record) error {
	rec := auditRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *auditCapture) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), as...)
	return &c
}

func (h *auditCapture) WithGroup(string) slog.Handler { return h }

func (h *auditCapture) records() []auditRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.recs)
}

// events returns the captured records whose "event" attribute is e.
func (h *auditCapture) events(e string) []auditRecord {
	var out []auditRecord
	for _, r := range h.records() {
		if r.attrs["event"] == e {
			out = append(out, r)
		}
	}
	return out
}

// corruptingStore is a memstore whose loads return damaged blobs while
// corrupt is set.
type corruptingStore struct {
	*memstore.Store
	corrupt atomic.Bool
}

func (c *corruptingStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	rec, ok, err := c.Store.Load(ctx, key)
	if ok && c.corrupt.Load() {
		rec.Blob = bytes.Clone(rec.Blob)
		rec.Blob[len(rec.Blob)-1] ^= 1
	}
	return rec, ok, err
}

type auditEnv struct {
	t     *testing.T
	m     *session.Manager
	store *corruptingStore
	srv   *httptest.Server
}

// newAuditEnv serves a small app through a manager with opts over HTTPS.
func newAuditEnv(t *testing.T, opts ...session.Option) *auditEnv {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	ae := &auditEnv{t: t, store: &corruptingStore{Store: ms}}
	ae.m, err = session.New(append([]session.Option{session.WithStore(ae.store)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	sess := func(r *http.Request) *session.Session { return session.MustFromContext(r.Context()) }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set(r.PathValue("k"), r.PathValue("v")); err != nil {
			t.Errorf("Set: %v", err)
		}
	})
	mux.HandleFunc("GET /get/{k}", func(w http.ResponseWriter, r *http.Request) {
		v, _, err := session.Get[string](sess(r), r.PathValue("k"))
		if err != nil {
			t.Errorf("Get: %v", err)
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("POST /login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		if err := s.Renew(); err != nil {
			t.Errorf("Renew: %v", err)
		}
		if err := s.SetUser(r.PathValue("user")); err != nil {
			t.Errorf("SetUser: %v", err)
		}
	})
	mux.HandleFunc("GET /handle", func(w http.ResponseWriter, r *http.Request) {
		h, err := sess(r).Handle()
		if err != nil {
			t.Errorf("Handle: %v", err)
		}
		io.WriteString(w, h)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	ae.srv = httptest.NewTLSServer(ae.m.Middleware(mux))
	t.Cleanup(ae.srv.Close)
	return ae
}

func (ae *auditEnv) browser() (*http.Client, *httpexpect.Expect) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: ae.srv.Client().Transport, Jar: jar, Timeout: 20 * time.Second}
	return c, httpexpect.WithConfig(httpexpect.Config{
		TestName: ae.t.Name(), BaseURL: ae.srv.URL, Client: c,
		Reporter: httpexpect.NewAssertReporter(ae.t),
	})
}

func (ae *auditEnv) cookie(c *http.Client) string {
	req, _ := http.NewRequest("GET", ae.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}

// By default only security events are written, at Warn.
func TestAuditSilentByDefaultExceptSecurityEvents(t *testing.T) {
	h := newAuditCapture(slog.LevelInfo) // a logger at the usual level
	ae := newAuditEnv(t, session.WithSecret(testSecret), session.WithLogger(slog.New(h)))
	_, e := ae.browser()
	e.POST("/set/a/1").Expect().Status(200)
	e.POST("/login/alice").Expect().Status(200)
	e.POST("/logout").Expect().Status(200)
	_, bad := ae.browser()
	bad.Builder(func(r *httpexpect.Request) { r.WithCookie("session", "AAAA") }).GET("/get/a").Expect().Status(200)

	recs := h.records()
	if len(recs) != 1 {
		t.Fatalf("got %d records, want only the rejected token: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.level != slog.LevelWarn || r.attrs["event"] != "tampered_cookie" || r.msg != "session: rejected session token" {
		t.Errorf("security event = %+v", r)
	}
	if r.attrs["reason"] == "" || r.attrs["remote"] == "" {
		t.Errorf("security event lacks reason or remote: %+v", r.attrs)
	}
}

// With an audit level, every lifecycle event is written once, naming the
// session by a keyed hash that stays the same across the session's events.
func TestAuditLifecycleEvents(t *testing.T) {
	h := newAuditCapture(slog.LevelDebug)
	ae := newAuditEnv(t, session.WithSecret(testSecret),
		session.WithLogger(slog.New(slog.DiscardHandler)),
		session.WithAuditLogger(slog.New(h)),
		session.WithAuditLevel(slog.LevelInfo))
	c, e := ae.browser()
	e.POST("/set/a/1").Expect().Status(200)
	firstHandle := e.GET("/handle").Expect().Status(200).Body().Raw()
	firstCookie := ae.cookie(c)
	e.POST("/login/alice").Expect().Status(200)
	handle := e.GET("/handle").Expect().Status(200).Body().Raw()
	e.POST("/logout").Expect().Status(200)

	// Undecodable: a second session whose record is damaged.
	_, e2 := ae.browser()
	e2.POST("/set/a/1").Expect().Status(200)
	ae.store.corrupt.Store(true)
	e2.GET("/get/a").Expect().Status(200).Body().IsEqual("")
	ae.store.corrupt.Store(false)

	// User revoked.
	_, e3 := ae.browser()
	e3.POST("/login/bob").Expect().Status(200)
	if n, err := ae.m.RevokeUser(context.Background(), "bob"); err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v", n, err)
	}

	counts := map[string]int{"created": 3, "renewed": 1, "destroyed": 1, "undecodable": 1, "user_revoked": 1}
	for ev, n := range counts {
		if got := len(h.events(ev)); got != n {
			t.Errorf("%d %q records, want %d", got, ev, n)
		}
	}
	created := h.events("created")[0]
	if created.level != slog.LevelInfo || created.msg != "session: created" {
		t.Errorf("created record = %+v", created)
	}
	if got, want := created.attrs["session"], ae.m.AuditName(firstHandle); got != want || len(got) != 12 {
		t.Errorf("created names the session %q, want AuditName(handle) = %q (12 characters)", got, want)
	}
	renewed, destroyed := h.events("renewed")[0], h.events("destroyed")[0]
	if renewed.attrs["session"] != ae.m.AuditName(handle) || destroyed.attrs["session"] != renewed.attrs["session"] {
		t.Errorf("renewed %q and destroyed %q do not both name the renewed session %q",
			renewed.attrs["session"], destroyed.attrs["session"], ae.m.AuditName(handle))
	}
	if u := h.events("undecodable")[0]; u.level != slog.LevelWarn || u.attrs["session"] == "" || u.attrs["reason"] == "" {
		t.Errorf("undecodable record = %+v", u)
	}
	rv := h.events("user_revoked")[0]
	if rv.attrs["count"] != "1" || rv.attrs["cause"] != "revoke" || len(rv.attrs["user"]) != 12 || rv.attrs["user"] == "bob" {
		t.Errorf("user_revoked record = %+v", rv.attrs)
	}

	// The names are keyed: neither the store key (an unkeyed hash of the
	// ID) nor the ID nor the cookie shows up.
	id := cookieSessionID(t, firstCookie)
	sum := sha256.Sum256([]byte(id))
	unkeyed := base64.RawURLEncoding.EncodeToString(sum[:])
	if unkeyed != firstHandle {
		t.Fatalf("test assumption: the handle is the SHA-256 of the ID")
	}
	for _, r := range h.records() {
		for k, v := range r.attrs {
			for _, secret := range []string{id, id[:12], firstCookie, unkeyed[:12], handle[:12], "alice", "bob"} {
				if strings.Contains(v, secret) {
					t.Errorf("record %q attribute %s=%q contains %q", r.msg, k, v, secret)
				}
			}
		}
	}
}

// cookieSessionID reads the session ID out of a signed cookie value
// (base64 of "timestamp|base64(id)|mac": signed, not encrypted).
func cookieSessionID(t *testing.T, value string) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatalf("cookie is not base64: %v", err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("cookie has %d fields", len(parts))
	}
	id, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil || len(id) != 43 {
		t.Fatalf("cookie ID field: %q, %v", id, err)
	}
	return string(id)
}

// Without WithSecret the names are still keyed (by the cookie key).
func TestAuditNamesKeyedWithCookieKeysOnly(t *testing.T) {
	h := newAuditCapture(slog.LevelDebug)
	ae := newAuditEnv(t, session.WithCookieKeys([]byte("Xq7vN2pL9dR4tY8wK1mZ6cB3hF5jG0sA")),
		session.WithAuditLogger(slog.New(h)))
	_, e := ae.browser()
	e.POST("/set/a/1").Expect().Status(200)
	handle := e.GET("/handle").Expect().Status(200).Body().Raw()
	got := h.events("created")
	if len(got) != 1 {
		t.Fatalf("%d created records", len(got))
	}
	if name := got[0].attrs["session"]; name == handle[:12] || name != ae.m.AuditName(handle) {
		t.Errorf("session named %q; handle %q, AuditName %q", name, handle, ae.m.AuditName(handle))
	}
	other, err := session.New(session.WithCookieKeys([]byte("mP4kW9zQ2xV7nC1rT6yH8bL3dJ5gF0sE")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.AuditName(handle) == ae.m.AuditName(handle) {
		t.Error("two keys give the same audit name")
	}
}

func TestAuditStoreEventsAndLevels(t *testing.T) {
	h := newAuditCapture(slog.LevelDebug)
	primary := newRefusingStore(t)
	m, err := session.New(session.WithSecret(testSecret),
		session.WithAuditLogger(slog.New(h)),
		session.WithAuditLevel(slog.LevelInfo),
		session.WithSecurityAuditLevel(slog.LevelError),
		session.WithFailover(primary, degrade.WithFailureThreshold(1), degrade.WithProbeInterval(10*time.Millisecond),
			degrade.WithLogger(slog.New(slog.DiscardHandler))))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The fail-over store's transitions are audited at the audit level.
	primary.mode.Store(storeDown)
	if _, _, err := m.Store().Load(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	primary.mode.Store(storeOK)
	waitUntil(t, "recovery", func() bool { return len(h.events("recovered")) == 1 })
	recs := h.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(recs), recs)
	}
	if recs[0].attrs["event"] != "failover" || recs[0].attrs["to"] != "open" || recs[0].level != slog.LevelInfo {
		t.Errorf("failover record = %+v", recs[0])
	}
	if recs[1].attrs["event"] != "recovered" || recs[1].msg != "session: primary store recovered" || recs[1].level != slog.LevelInfo {
		t.Errorf("recovery record = %+v", recs[1])
	}

	// The security level applies to rejected tokens.
	srv := httptest.NewTLSServer(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Keys()
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: "bm90IGEgY29va2ll"})
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := h.events("tampered_cookie"); len(got) != 1 || got[0].level != slog.LevelError {
		t.Errorf("tampered_cookie records = %+v, want one at Error", got)
	}
}

func TestAuditOptionsValidate(t *testing.T) {
	for name, o := range map[string]session.Option{
		"WithAuditLogger":        session.WithAuditLogger(nil),
		"WithAuditLevel":         session.WithAuditLevel(nil),
		"WithSecurityAuditLevel": session.WithSecurityAuditLevel(nil),
	} {
		if _, err := session.New(session.WithSecret(testSecret), o); err == nil {
			t.Errorf("%s(nil) accepted", name)
		}
	}
}
