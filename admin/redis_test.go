package admin_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// TestOnRedis lists, revokes and counts the sessions of a real Redis
// server, with the fail-over store the library puts in front of it.
func TestOnRedis(t *testing.T) {
	redistest.Require(t)
	srv := redistest.StartServer(t)
	rs, err := redisstore.NewFromURL(srv.URL(), redisstore.WithPrefix("admintest:"), redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	chain, err := degrade.New(rs, degrade.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	a := newTestApp(t, chain)
	bob1, bob2 := a.login("bob"), a.login("bob")
	root := a.login(staff)

	names := root.list("bob").names()
	if len(names) != 2 {
		t.Fatalf("bob has %d sessions on Redis, want 2", len(names))
	}
	var out map[string]int
	if code := root.postJSON("/admin/api/sessions/revoke", `{"user":"bob","session":"`+names[1]+`"}`, &out); code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("revoking one session: %d %v", code, out)
	}
	if u1, u2 := bob1.user(), bob2.user(); u1 != "bob" || u2 != "" {
		t.Errorf("after revoking bob's second session the sessions serve %q and %q, want bob and none", u1, u2)
	}
	var c countsJSON
	if code := root.getJSON("/admin/api/counts", &c); code != http.StatusOK || len(c.Stores) != 2 {
		t.Fatalf("GET /counts: %d %+v", code, c)
	}
	// bob's remaining session and the operator's (bob2's request above
	// wrote nothing, so it created no session).
	if s := c.Stores[0]; s.Name != "redisstore" || s.Role != "primary" || s.Sessions == nil || *s.Sessions != 2 {
		t.Errorf("count on Redis: %+v, want 2 sessions", s)
	}
	if s := c.Stores[1]; s.Role != "fallback" || s.Sessions == nil || *s.Sessions != 0 {
		t.Errorf("count of the fallback: %+v, want 0 sessions", s)
	}
	if code := root.postJSON("/admin/api/users/revoke", `{"user":"bob"}`, &out); code != http.StatusOK || out["revoked"] != 1 {
		t.Fatalf("revoking the rest: %d %v", code, out)
	}
	if got := root.list("bob").Sessions; len(got) != 0 {
		t.Errorf("bob has %d sessions on Redis after the revocation", len(got))
	}
	if recs := a.audit.revocations(t); len(recs) != 2 || recs[0]["operator"] != staff || recs[1]["operator"] != staff {
		t.Errorf("audit records %v: want 2 naming the operator", recs)
	}
}
