package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/sessionkit/session"
)

// loginAs returns the cookies of a new session bound to user on h.
func loginAs(h http.Handler, user string) []*http.Cookie {
	return do(h, "POST", "https://example.com/login?user="+user, nil).Cookies()
}

// exampleApp is an application with a login that binds the session to the
// user named in the query.
func exampleApp(m *session.Manager) http.Handler {
	return m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.SetUser(r.URL.Query().Get("user"))
	}))
}

// auditOnly keeps only the "operator" and "cause" attributes of the audit
// records, and drops the time, so that the output is stable.
var auditOnly = &slog.HandlerOptions{
	Level: slog.LevelInfo,
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.MessageKey, "event", "operator", "cause", "count":
			return a
		}
		return slog.Attr{}
	},
}

func ExampleManager_RevokeUserAs() {
	m, err := session.New(session.WithSecret(exampleSecret),
		session.WithAuditLogger(slog.New(slog.NewTextHandler(os.Stdout, auditOnly))),
		session.WithAuditLevel(slog.LevelInfo))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := exampleApp(m)
	loginAs(h, "alice")
	loginAs(h, "alice")

	// A support agent logs Alice out everywhere.
	n, err := m.RevokeUserAs(context.Background(), "agent-42", "alice")
	fmt.Println(n, err)
	// Output:
	// msg="session: created" event=created
	// msg="session: created" event=created
	// msg="session: user sessions revoked" event=user_revoked count=2 cause=admin operator=agent-42
	// 2 <nil>
}

func ExampleManager_RevokeSessionAs() {
	m, err := session.New(session.WithSecret(exampleSecret))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := exampleApp(m)
	loginAs(h, "alice")
	loginAs(h, "alice")

	// The agent finds the session by the name the audit log shows.
	ctx := context.Background()
	infos, err := m.UserSessions(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	name := m.AuditName(infos[0].Handle)
	revoked, err := m.RevokeSessionAs(ctx, "agent-42", "alice", name)
	fmt.Println(revoked, err)
	infos, _ = m.UserSessions(ctx, "alice")
	fmt.Println(len(infos), "session left")
	// Output:
	// true <nil>
	// 1 session left
}

func TestRevokeAsNeedsAnOperator(t *testing.T) {
	m, err := session.New(session.WithSecret(exampleSecret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := exampleApp(m)
	loginAs(h, "alice")
	ctx := context.Background()
	infos, err := m.UserSessions(ctx, "alice")
	if err != nil || len(infos) != 1 {
		t.Fatalf("UserSessions: %v, %v", infos, err)
	}
	if n, err := m.RevokeUserAs(ctx, "", "alice"); !errors.Is(err, session.ErrNoOperator) || n != 0 {
		t.Errorf("RevokeUserAs without an operator: %d, %v", n, err)
	}
	if ok, err := m.RevokeSessionAs(ctx, "", "alice", m.AuditName(infos[0].Handle)); !errors.Is(err, session.ErrNoOperator) || ok {
		t.Errorf("RevokeSessionAs without an operator: %v, %v", ok, err)
	}
	if ok, err := m.RevokeSessionAs(ctx, "agent", "alice", ""); err != nil || ok {
		t.Errorf("RevokeSessionAs of an empty name: %v, %v", ok, err)
	}
	if infos, _ := m.UserSessions(ctx, "alice"); len(infos) != 1 {
		t.Errorf("alice has %d sessions, want 1", len(infos))
	}
}
