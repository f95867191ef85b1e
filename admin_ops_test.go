package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/memstore"
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

// failingIndex is a memstore whose user index fails to remove an entry
// from the n-th removal on.
type failingIndex struct {
	*memstore.Store
	calls, failFrom int
}

func (f *failingIndex) RemoveUserKey(ctx context.Context, userID, key string) error {
	if f.calls++; f.calls >= f.failFrom {
		return errors.New("user index: connection reset")
	}
	return f.Store.RemoveUserKey(ctx, userID, key)
}

// TestRevokeAuditsWhatItDestroyedBeforeAFailure checks that a revocation
// stopped by a store error still counts, reports and audits the sessions it
// had destroyed, with the same record a complete revocation writes.
func TestRevokeAuditsWhatItDestroyedBeforeAFailure(t *testing.T) {
	for _, as := range []string{"", "agent-42"} {
		t.Run("operator="+as, func(t *testing.T) {
			ms, err := memstore.New(memstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ms.Close()
			st := &failingIndex{Store: ms, failFrom: 2}
			var audit bytes.Buffer
			m, err := session.New(session.WithSecret(exampleSecret), session.WithStore(st),
				session.WithAuditLogger(slog.New(slog.NewTextHandler(&audit, auditOnly))),
				session.WithAuditLevel(slog.LevelInfo))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			h := exampleApp(m)
			for range 3 {
				loginAs(h, "alice")
			}
			audit.Reset()
			var n int
			if as == "" {
				n, err = m.RevokeUser(t.Context(), "alice")
			} else {
				n, err = m.RevokeUserAs(t.Context(), as, "alice")
			}
			if err == nil || n != 2 {
				t.Fatalf("revocation = %d, %v; want the 2 sessions destroyed before the index failed, and the error", n, err)
			}
			want := `msg="session: user sessions revoked" event=user_revoked count=2 cause=revoke` + "\n"
			if as != "" {
				want = `msg="session: user sessions revoked" event=user_revoked count=2 cause=admin operator=agent-42` + "\n"
			}
			if audit.String() != want {
				t.Errorf("audit log:\n%s\nwant:\n%s", audit.String(), want)
			}
		})
	}
}
