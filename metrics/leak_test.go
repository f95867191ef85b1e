package metrics_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// sessionIDOf returns the session ID carried by a signed cookie value: the
// value is base64 of "timestamp|base64(id)|mac", signed but not encrypted,
// so a client (or an attacker holding the cookie) can read the ID.
func sessionIDOf(t *testing.T, value string) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatalf("cookie value is not base64: %v", err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3) // the binary MAC may hold "|"
	if len(parts) != 3 {
		t.Fatalf("cookie value has %d fields", len(parts))
	}
	id, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		t.Fatalf("ID field is not base64: %v", err)
	}
	if len(id) != 43 {
		t.Fatalf("decoded ID %q has %d characters, want 43", id, len(id))
	}
	return string(id)
}

// cookieValues returns the session cookie values the jar of c holds.
func cookieValues(ev *testEnv, c *http.Client) []string {
	req, _ := http.NewRequest("GET", ev.srv.URL, nil)
	var vals []string
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == "session" {
			vals = append(vals, ck.Value)
		}
	}
	return vals
}

// No log line and no metric carries a session ID, a cookie value, the
// unkeyed store key of a session, or a user ID: only keyed short hashes.
func TestNoRawSessionIDInLogsOrMetrics(t *testing.T) {
	ev := newTestEnv(t)

	// A browser whose cookie is read at every stage: new, renewed on login,
	// then logged out.
	c, e := ev.browser()
	var values []string
	grab := func() { values = append(values, cookieValues(ev, c)...) }
	e.POST("/set/cart/full").Expect().Status(200)
	grab()
	e.POST("/login/carol").Expect().Status(200)
	grab()
	e.POST("/set/x/y").Expect().Status(200)
	grab()
	e.POST("/logout").Expect().Status(200)

	clients, _ := scriptedTraffic(t, ev)
	for _, cl := range clients {
		values = append(values, cookieValues(ev, cl)...)
	}
	if len(values) < 4 {
		t.Fatalf("only %d cookie values collected", len(values))
	}

	_, me := ev.browser()
	metricsText := me.GET("/metrics").Expect().Status(200).Body().Raw()
	healthText := me.GET("/healthz").Expect().Status(200).Body().Raw()
	logs := ev.logs.String()
	if !strings.Contains(logs, `"event":"renewed"`) || !strings.Contains(logs, `"event":"tampered_cookie"`) {
		t.Fatalf("audit events missing from the debug log:\n%s", logs)
	}

	outputs := map[string]string{"logs": logs, "/metrics": metricsText, "/healthz": healthText}
	check := func(what, secret string) {
		for name, out := range outputs {
			if strings.Contains(out, secret) {
				t.Errorf("%s contains the %s %q", name, what, secret)
			}
		}
	}
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			continue
		}
		seen[v] = true
		id := sessionIDOf(t, v)
		check("cookie value", v)
		check("session ID", id)
		sum := sha256.Sum256([]byte(id))
		storeKey := base64.RawURLEncoding.EncodeToString(sum[:])
		check("unkeyed store key prefix", storeKey[:12])
		check("ID prefix", id[:12])
	}
	for _, user := range []string{"alice", "bob", "carol"} {
		check("user ID", user)
	}
}
