package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/admin"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

func TestNewRefusesMissingAuthorization(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cases := map[string]func() (*admin.Handler, error){
		"nil authorizer": func() (*admin.Handler, error) { return admin.New(m, nil) },
		"nil manager":    func() (*admin.Handler, error) { return admin.New(nil, staffOnly) },
		"zero timeout":   func() (*admin.Handler, error) { return admin.New(m, staffOnly, admin.WithTimeout(0)) },
		"nil logger":     func() (*admin.Handler, error) { return admin.New(m, staffOnly, admin.WithLogger(nil)) },
		"nil protection": func() (*admin.Handler, error) { return admin.New(m, staffOnly, admin.WithCrossOriginProtection(nil)) },
	}
	for name, fn := range cases {
		h, err := fn()
		if !errors.Is(err, session.ErrInvalidConfig) || h != nil {
			t.Errorf("%s: New returned %v, %v; want an error matching ErrInvalidConfig", name, h, err)
		}
	}
}

func TestRefusesWhomTheAuthorizerRefuses(t *testing.T) {
	a := newTestApp(t, nil)
	bob := a.login("bob")
	a.login("bob")
	requests := []struct{ method, path, body string }{
		{"GET", "/admin/api/sessions?user=bob", ""},
		{"GET", "/admin/api/health", ""},
		{"GET", "/admin/api/stores", ""},
		{"GET", "/admin/api/counts", ""},
		{"GET", "/admin/api/no-such-path", ""},
		{"POST", "/admin/api/users/revoke", `{"user":"bob"}`},
		{"OPTIONS", "/admin/api/users/revoke", ""},
	}
	for _, c := range []struct {
		name string
		c    *client
	}{{"anonymous", a.client()}, {"a user who is not staff", bob}} {
		for _, r := range requests {
			var e errorBody
			code := decode(t, c.c.do(r.method, r.path, "application/json", r.body, nil), &e)
			if code != http.StatusForbidden || e.Error == "" {
				t.Errorf("%s: %s %s: %d %q, want 403", c.name, r.method, r.path, code, e.Error)
			}
		}
	}
	if got := a.login(staff).list("bob").Sessions; len(got) != 2 {
		t.Errorf("bob has %d sessions after refused revocations, want 2", len(got))
	}
	if recs := a.audit.revocations(t); len(recs) != 0 {
		t.Errorf("refused requests were audited as revocations: %v", recs)
	}
}

func TestAuthorizerWithoutOperatorIsRefused(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := admin.New(m, func(*http.Request) (string, bool) { return "", true })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an approval without an operator's name: %s, want 403", resp.Status)
	}
}

func TestListsAUsersSessionsByAuditName(t *testing.T) {
	a := newTestApp(t, nil)
	b1 := a.login("bob")
	b2 := a.login("bob")
	a.login("carol")
	root := a.login(staff)

	resp := root.do("GET", "/admin/api/sessions?user=bob", "", "", nil)
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	var l sessionList
	if code := root.getJSON("/admin/api/sessions?user=bob", &l); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if l.User != "bob" || len(l.Sessions) != 2 {
		t.Fatalf("got %+v, want bob's 2 sessions", l)
	}
	for i, s := range l.Sessions {
		if len(s.Name) != 12 {
			t.Errorf("session %d is named %q, want a 12-character audit name", i, s.Name)
		}
		if s.Created.IsZero() || s.LastSeen.Before(s.Created) || !s.Expires.After(s.LastSeen) || s.Persistent {
			t.Errorf("session %d: %+v", i, s)
		}
	}
	if l.Sessions[0].Created.After(l.Sessions[1].Created) {
		t.Error("sessions are not listed oldest first")
	}
	// Neither session IDs (the cookies) nor store keys (handles) appear.
	var secrets []string
	for _, c := range []*client{b1, b2} {
		for _, ck := range c.c.Jar.Cookies(resp.Request.URL) {
			secrets = append(secrets, ck.Value)
		}
	}
	a.store.(backends.Iterator).Keys(context.Background(), func(key string) bool {
		secrets = append(secrets, key)
		return true
	})
	if len(secrets) < 5 {
		t.Fatalf("found only %d cookies and keys to look for", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("the listing shows a session ID or store key: %s", body)
		}
	}

	if got := root.list("nobody").Sessions; len(got) != 0 {
		t.Errorf("a user without sessions has %d", len(got))
	}
	var e errorBody
	if code := root.getJSON("/admin/api/sessions", &e); code != http.StatusBadRequest {
		t.Errorf("listing without a user: %d, want 400", code)
	}
}

func TestRevokesOneSessionAndAuditsTheOperator(t *testing.T) {
	a := newTestApp(t, nil)
	b1 := a.login("bob")
	b2 := a.login("bob")
	root := a.login(staff)
	names := root.list("bob").names()

	var out map[string]int
	if code := root.postJSON("/admin/api/sessions/revoke", `{"user":"bob","session":"`+names[0]+`"}`, &out); code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("revoking bob's first session: %d %v", code, out)
	}
	if u := b1.user(); u != "" {
		t.Errorf("the revoked session still serves user %q", u)
	}
	if u := b2.user(); u != "bob" {
		t.Errorf("the other session serves %q, want bob", u)
	}
	if got := root.list("bob").names(); !slices.Equal(got, names[1:]) {
		t.Errorf("bob's sessions after the revocation: %v, want %v", got, names[1:])
	}

	recs := a.audit.revocations(t)
	if len(recs) != 1 {
		t.Fatalf("%d revocation records, want 1: %v", len(recs), recs)
	}
	r := recs[0]
	if r["operator"] != staff || r["cause"] != "admin" || r["session"] != names[0] || r["count"] != 1.0 {
		t.Errorf("audit record %v: want operator %q, cause admin, session %q, count 1", r, staff, names[0])
	}
	if u, _ := r["user"].(string); u == "" || u == "bob" {
		t.Errorf("audit record names the user as %q, want its hashed name", u)
	}

	// Revoked already, unknown, or another user's: 404, nothing audited.
	for _, body := range []string{
		`{"user":"bob","session":"` + names[0] + `"}`,
		`{"user":"bob","session":"nosuchsessio"}`,
		`{"user":"carol","session":"` + names[1] + `"}`,
	} {
		var e errorBody
		if code := root.postJSON("/admin/api/sessions/revoke", body, &e); code != http.StatusNotFound {
			t.Errorf("%s: %d %q, want 404", body, code, e.Error)
		}
	}
	if u := b2.user(); u != "bob" {
		t.Errorf("a failed revocation ended bob's other session: %q", u)
	}
	if n := len(a.audit.revocations(t)); n != 1 {
		t.Errorf("%d revocation records after failed revocations, want 1", n)
	}
}

func TestRevokesAllOfAUsersSessionsExceptThoseNamed(t *testing.T) {
	a := newTestApp(t, nil)
	bobs := []*client{a.login("bob"), a.login("bob"), a.login("bob")}
	carol := a.login("carol")
	root := a.login(staff)
	names := root.list("bob").names()

	var out map[string]int
	if code := root.postJSON("/admin/api/users/revoke", `{"user":"bob","except":["`+names[1]+`"]}`, &out); code != http.StatusOK || out["revoked"] != 2 {
		t.Fatalf("revoking all but one: %d %v, want 200 and 2", code, out)
	}
	for i, c := range bobs {
		want := ""
		if i == 1 {
			want = "bob"
		}
		if u := c.user(); u != want {
			t.Errorf("bob's session %d serves %q, want %q", i, u, want)
		}
	}
	if code := root.postJSON("/admin/api/users/revoke", `{"user":"bob"}`, &out); code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("revoking the rest: %d %v, want 200 and 1", code, out)
	}
	if got := root.list("bob").Sessions; len(got) != 0 {
		t.Errorf("bob has %d sessions left", len(got))
	}
	if u := carol.user(); u != "carol" {
		t.Errorf("carol's session serves %q after bob's revocation", u)
	}
	if u := root.user(); u != staff {
		t.Errorf("the operator's own session serves %q, want %q", u, staff)
	}
	recs := a.audit.revocations(t)
	if len(recs) != 2 {
		t.Fatalf("%d revocation records, want 2", len(recs))
	}
	for i, want := range []float64{2, 1} {
		r := recs[i]
		if r["operator"] != staff || r["cause"] != "admin" || r["count"] != want || r["session"] != nil {
			t.Errorf("audit record %d: %v", i, r)
		}
	}
}

func TestStateChangesNeedASameOriginJSONRequest(t *testing.T) {
	a := newTestApp(t, nil)
	bob := a.login("bob")
	root := a.login(staff)
	body := `{"user":"bob"}`
	cases := []struct {
		name   string
		ctype  string
		header map[string]string
		want   int
	}{
		{"form post", "application/x-www-form-urlencoded", nil, http.StatusUnsupportedMediaType},
		{"text/plain", "text/plain", nil, http.StatusUnsupportedMediaType},
		{"no content type", "", nil, http.StatusUnsupportedMediaType},
		{"cross-site fetch", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch", "application/json", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"foreign origin", "application/json", map[string]string{"Origin": "https://attacker.example"}, http.StatusForbidden},
	}
	for _, c := range cases {
		var e errorBody
		code := decode(t, root.do("POST", "/admin/api/users/revoke", c.ctype, body, c.header), &e)
		if code != c.want || e.Error == "" {
			t.Errorf("%s: %d %q, want %d", c.name, code, e.Error, c.want)
		}
	}
	if u := bob.user(); u != "bob" {
		t.Fatalf("a refused request revoked bob's session (%q)", u)
	}
	// The same request from the page itself is served.
	var out map[string]int
	code := decode(t, root.do("POST", "/admin/api/users/revoke", "application/json; charset=utf-8", body,
		map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": a.srv.URL}), &out)
	if code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("a same-origin request: %d %v", code, out)
	}
}

func TestBadRequests(t *testing.T) {
	a := newTestApp(t, nil)
	root := a.login(staff)
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown path", "GET", "/admin/api/nope", "", http.StatusNotFound},
		{"revoke by GET", "GET", "/admin/api/users/revoke", "", http.StatusMethodNotAllowed},
		{"list by POST", "POST", "/admin/api/sessions", "{}", http.StatusMethodNotAllowed},
		{"malformed JSON", "POST", "/admin/api/users/revoke", `{"user":`, http.StatusBadRequest},
		{"unknown field", "POST", "/admin/api/users/revoke", `{"user":"bob","all":true}`, http.StatusBadRequest},
		{"trailing data", "POST", "/admin/api/users/revoke", `{"user":"bob"} {}`, http.StatusBadRequest},
		{"wrong type", "POST", "/admin/api/users/revoke", `{"user":1}`, http.StatusBadRequest},
		{"no user", "POST", "/admin/api/users/revoke", `{}`, http.StatusBadRequest},
		{"no session", "POST", "/admin/api/sessions/revoke", `{"user":"bob"}`, http.StatusBadRequest},
		{"no user for a session", "POST", "/admin/api/sessions/revoke", `{"session":"abcdefghijkl"}`, http.StatusBadRequest},
		{"body too large", "POST", "/admin/api/users/revoke", `{"user":"` + strings.Repeat("x", admin.MaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		var e errorBody
		resp := root.do(c.method, c.path, "application/json", c.body, nil)
		if code := decode(t, resp, &e); code != c.want || e.Error == "" {
			t.Errorf("%s: %d %q, want %d", c.name, code, e.Error, c.want)
		}
		if c.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", c.name)
		}
	}
}

// noIndexStore is a store without a user index.
type noIndexStore struct{ backends.Store }

// brokenIndexStore is a store whose user index cannot be reached.
type brokenIndexStore struct{ *memstore.Store }

var errIndexDown = &backends.OpError{Backend: "redis", Op: "user_keys",
	Err: backends.Unavailable(errors.New("dial tcp 10.9.8.7:6379: connection refused"))}

func (brokenIndexStore) UserKeys(context.Context, string) ([]string, error) {
	return nil, errIndexDown
}

func TestStoreFailures(t *testing.T) {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	cases := []struct {
		name  string
		store backends.Store
		want  int
	}{
		{"no user index", noIndexStore{ms}, http.StatusNotImplemented},
		{"user index unreachable", brokenIndexStore{ms}, http.StatusServiceUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestApp(t, c.store)
			// The staff user's session is kept, but not indexed: only
			// the admin requests need the index.
			root := a.login(staff)
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/admin/api/sessions?user=bob", ""},
				{"POST", "/admin/api/users/revoke", `{"user":"bob"}`},
				{"POST", "/admin/api/sessions/revoke", `{"user":"bob","session":"abcdefghijkl"}`},
			} {
				resp := root.do(r.method, r.path, "application/json", r.body, nil)
				raw, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != c.want {
					t.Errorf("%s %s: %s %s, want %d", r.method, r.path, resp.Status, raw, c.want)
				}
				if strings.Contains(string(raw), "10.9.8.7") {
					t.Errorf("%s %s: the answer shows the store's address: %s", r.method, r.path, raw)
				}
			}
		})
	}
}
