package session_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sessionkit/session"
)

// TestUserAgentBinding: a session bound to its User-Agent is refused to a
// request with another one (a fresh session, a security event); its own
// client keeps it, and what the other request writes does not reach it.
func TestUserAgentBinding(t *testing.T) {
	ev := newSecEnv(t, nil, session.WithUserAgentBinding())
	c := ev.login("alice", "User-Agent", uaFirefoxLinux)
	if rp := ev.do("GET", "/me", c, "User-Agent", uaFirefoxLinux); rp.status != 200 || rp.body != "alice" {
		t.Fatalf("bound client: %d %q", rp.status, rp.body)
	}
	if rp := ev.do("GET", "/me", c, "User-Agent", uaChromeWin); rp.status != http.StatusUnauthorized {
		t.Errorf("another User-Agent: %d %q, want a fresh session (401)", rp.status, rp.body)
	}
	if !strings.Contains(ev.logs.String(), "level=WARN msg=\"session: session bound to another client refused\" event=binding_failed") {
		t.Errorf("no binding_failed record at Warn:\n%s", ev.logs.String())
	}
	rp := ev.do("POST", "/set/stolen/yes", c, "User-Agent", uaChromeWin)
	if rp.cookie == nil || rp.cookie.Value == c {
		t.Errorf("a write with another User-Agent: cookie %v, want a new session's", rp.cookie)
	}
	if rp := ev.do("GET", "/keys", c, "User-Agent", uaFirefoxLinux); rp.body != "[]" {
		t.Errorf("the bound session holds %s, want nothing written by the other client", rp.body)
	}
	if rp := ev.do("GET", "/me", c, "User-Agent", uaFirefoxLinux); rp.status != 200 || rp.body != "alice" {
		t.Errorf("bound client after the refusal: %d %q", rp.status, rp.body)
	}
	if !session.EventBindingFailed.Security() {
		t.Error("EventBindingFailed is not a security event")
	}
}

// TestIPBinding: a session bound to a network prefix serves any address
// of that network and refuses others (and the other family).
func TestIPBinding(t *testing.T) {
	ev := newSecEnv(t, nil, session.WithIPBinding(24, 48), session.WithClientIPHeader("X-Real-IP"))
	c := ev.login("alice", "X-Real-IP", "198.51.100.7")
	for addr, want := range map[string]int{
		"198.51.100.7":   200,
		"198.51.100.200": 200,
		"198.51.101.7":   http.StatusUnauthorized,
		"2001:db8::1":    http.StatusUnauthorized,
	} {
		if rp := ev.do("GET", "/me", c, "X-Real-IP", addr); rp.status != want {
			t.Errorf("from %s: %d %q, want %d", addr, rp.status, rp.body, want)
		}
	}
	if n := strings.Count(ev.logs.String(), "event=binding_failed"); n != 2 {
		t.Errorf("%d binding_failed records, want 2", n)
	}
}

// TestBindingOffByDefault: without binding options a session follows its
// cookie whatever the User-Agent and address.
func TestBindingOffByDefault(t *testing.T) {
	ev := newSecEnv(t, nil, session.WithClientIPHeader("X-Real-IP"))
	c := ev.login("alice", "User-Agent", uaFirefoxLinux, "X-Real-IP", "198.51.100.7")
	if rp := ev.do("GET", "/me", c, "User-Agent", uaChromeWin, "X-Real-IP", "203.0.113.1"); rp.status != 200 {
		t.Errorf("another client without binding: %d %q, want 200", rp.status, rp.body)
	}
}

// TestBindingAppliesToExistingSessions: a session created before binding
// was enabled is bound by its next write.
func TestBindingAppliesToExistingSessions(t *testing.T) {
	store := newCountingStore(t)
	before := newSecEnv(t, store)
	c := before.login("alice", "User-Agent", uaFirefoxLinux)
	after := newSecEnv(t, store, session.WithUserAgentBinding())
	if rp := after.do("GET", "/me", c, "User-Agent", uaChromeWin); rp.status != 200 {
		t.Fatalf("an unbound session with another User-Agent: %d, want 200", rp.status)
	}
	if rp := after.do("POST", "/set/k/v", c, "User-Agent", uaFirefoxLinux); rp.status != 200 {
		t.Fatalf("write: %d %q", rp.status, rp.body)
	}
	if rp := after.do("GET", "/me", c, "User-Agent", uaChromeWin); rp.status != http.StatusUnauthorized {
		t.Errorf("after its next write, another User-Agent: %d, want 401", rp.status)
	}
}
