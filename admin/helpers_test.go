package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/admin"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

var testSecret = []byte("admin handler test secret, 32+ bytes long")

// staff is the one user the test app's Authorizer lets in.
const staff = "root"

// logBuffer collects log records, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the JSON log records written so far.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(l.buf.Bytes()))
	for {
		var rec map[string]any
		if err := dec.Decode(&rec); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("audit log: %v", err)
		}
		out = append(out, rec)
	}
}

// revocations returns the audit records of revocations.
func (l *logBuffer) revocations(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range l.records(t) {
		if rec["event"] == "user_revoked" {
			out = append(out, rec)
		}
	}
	return out
}

// testApp is an application with a login, and the admin handler mounted
// under /admin/api/ for the staff user, behind an httptest server.
type testApp struct {
	t     *testing.T
	m     *session.Manager
	srv   *httptest.Server
	audit *logBuffer
	store backends.Store
}

// newTestApp starts the app on store (a new memstore when nil), with the
// admin handler built with opts.
func newTestApp(t *testing.T, store backends.Store, opts ...admin.Option) *testApp {
	t.Helper()
	if store == nil {
		ms, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Close() })
		store = ms
	}
	audit := &logBuffer{}
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(store),
		session.WithLogger(slog.New(slog.DiscardHandler)),
		session.WithAuditLogger(slog.New(slog.NewJSONHandler(audit, nil))),
		session.WithAuditLevel(slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	h, err := admin.New(m, staffOnly, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Renew(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.SetUser(r.URL.Query().Get("user")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		user, err := session.MustFromContext(r.Context()).User()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, user)
	})
	mux.Handle("/admin/api/", http.StripPrefix("/admin/api", h))
	srv := httptest.NewServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return &testApp{t: t, m: m, srv: srv, audit: audit, store: store}
}

// staffOnly lets in the staff user's sessions.
func staffOnly(r *http.Request) (string, bool) {
	s, err := session.FromContext(r.Context())
	if err != nil {
		return "", false
	}
	user, err := s.User()
	return user, err == nil && user == staff
}

// client is a browser of the app: its own cookie jar.
type client struct {
	a *testApp
	c *http.Client
}

func (a *testApp) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{a: a, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// login logs the client in as user.
func (a *testApp) login(user string) *client {
	a.t.Helper()
	c := a.client()
	resp := c.do(http.MethodPost, "/login?user="+user, "", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		a.t.Fatalf("login %s: %s", user, resp.Status)
	}
	return c
}

// user returns who the client's session says it is.
func (c *client) user() string {
	c.a.t.Helper()
	resp := c.do(http.MethodGet, "/me", "", "", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.a.t.Fatalf("GET /me: %s", resp.Status)
	}
	return string(body)
}

// do sends a request with body of content type ctype, and extra headers.
func (c *client) do(method, path, ctype, body string, header map[string]string) *http.Response {
	c.a.t.Helper()
	req, err := http.NewRequest(method, c.a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		c.a.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.a.t.Fatal(err)
	}
	c.a.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// getJSON sends GET path and decodes the JSON answer into v; it returns
// the status.
func (c *client) getJSON(path string, v any) int {
	c.a.t.Helper()
	return decode(c.a.t, c.do(http.MethodGet, path, "", "", nil), v)
}

// postJSON posts body as application/json and decodes the JSON answer.
func (c *client) postJSON(path, body string, v any) int {
	c.a.t.Helper()
	return decode(c.a.t, c.do(http.MethodPost, path, "application/json", body, nil), v)
}

// decode checks that resp is JSON that may not be cached, decodes it into
// v and returns the status.
func decode(t *testing.T, resp *http.Response, v any) int {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", resp.Request.Method, resp.Request.URL.Path, ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", resp.Request.Method, resp.Request.URL.Path, cc)
	}
	if v == nil {
		v = new(any)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: %v", resp.Request.Method, resp.Request.URL.Path, err)
	}
	return resp.StatusCode
}

// sessionList is the answer of GET /sessions.
type sessionList struct {
	User     string `json:"user"`
	Sessions []struct {
		Name       string    `json:"name"`
		Created    time.Time `json:"created"`
		LastSeen   time.Time `json:"last_seen"`
		Expires    time.Time `json:"expires"`
		Persistent bool      `json:"persistent"`
	} `json:"sessions"`
}

// list lists user's sessions as c, expecting success.
func (c *client) list(user string) sessionList {
	c.a.t.Helper()
	var l sessionList
	if code := c.getJSON("/admin/api/sessions?user="+user, &l); code != http.StatusOK {
		c.a.t.Fatalf("listing %s's sessions: status %d", user, code)
	}
	return l
}

// names returns the session names of l, in order.
func (l sessionList) names() []string {
	out := make([]string, len(l.Sessions))
	for i, s := range l.Sessions {
		out[i] = s.Name
	}
	return out
}

// errorBody is the answer of a failed request.
type errorBody struct {
	Error string `json:"error"`
}
