package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gavv/httpexpect/v2"
)

const (
	uaFirefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaSafariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)

// withUserAgent makes every request of e carry User-Agent ua.
func withUserAgent(e *httpexpect.Expect, ua string) *httpexpect.Expect {
	return e.Builder(func(r *httpexpect.Request) { r.WithHeader("User-Agent", ua) })
}

// sessionsJSON returns the sessions GET /api/sessions lists.
func sessionsJSON(e *httpexpect.Expect) []map[string]any {
	var out struct {
		Sessions []map[string]any `json:"sessions"`
	}
	e.GET("/api/sessions").Expect().Status(http.StatusOK).JSON().Decode(&out)
	return out.Sessions
}

// TestSessionsPageShowsDevicesAndLogsOutOne: the "my sessions" page and
// GET /api/sessions show each session's browser and network; one other
// session can be logged out with its own button (a form with the page's
// CSRF token), and the current one through the API.
func TestSessionsPageShowsDevicesAndLogsOutOne(t *testing.T) {
	s := startShop(t, config{})
	laptop := withUserAgent(s.expect(), uaFirefoxLinux)
	phone := withUserAgent(s.expect(), uaSafariIPhone)
	login(laptop, "alice", "wonderland")
	login(phone, "alice", "wonderland")

	list := sessionsJSON(laptop)
	if len(list) != 2 {
		t.Fatalf("GET /api/sessions lists %d sessions, want 2: %v", len(list), list)
	}
	var phoneID string
	for _, v := range list {
		if v["ip"] != "127.0.0.0/24" {
			t.Errorf("session %v: ip %v, want 127.0.0.0/24", v["id"], v["ip"])
		}
		switch v["device"] {
		case "Firefox on Linux":
			if v["current"] != true {
				t.Errorf("the laptop's session is not marked current: %v", v)
			}
		case "Safari on iOS":
			phoneID, _ = v["id"].(string)
		default:
			t.Errorf("unexpected device %v", v["device"])
		}
	}
	if phoneID == "" {
		t.Fatal("the phone's session is not listed")
	}

	page := laptop.GET("/sessions").Expect().Status(http.StatusOK).Body()
	page.Contains("Firefox on Linux").Contains("Safari on iOS").Contains("127.0.0.0/24").
		Contains(fmt.Sprintf(`action="/sessions/%s/revoke"`, phoneID))
	token := page.Match(tokenPattern).Submatch(1).Raw()

	// Without the page's token the form is refused.
	formWithToken(laptop, "/sessions/"+phoneID+"/revoke", "", nil).Status(http.StatusForbidden)
	phone.GET("/api/me").Expect().Status(http.StatusOK)

	formWithToken(laptop, "/sessions/"+phoneID+"/revoke", token, nil).
		Status(http.StatusSeeOther).Header("Location").IsEqual("/sessions")
	laptop.GET("/sessions").Expect().Body().Contains("Logged out that session.").NotContains("Safari on iOS")
	phone.GET("/api/me").Expect().Status(http.StatusUnauthorized)
	if n := len(sessionsJSON(laptop)); n != 1 {
		t.Errorf("%d sessions left, want 1", n)
	}

	// The API: an unknown session is not revoked; the current one is
	// logged out.
	laptop.POST("/api/sessions/nope/revoke").Expect().Status(http.StatusOK).JSON().Object().IsEqual(map[string]bool{"revoked": false})
	current := sessionsJSON(laptop)[0]["id"].(string)
	laptop.POST("/api/sessions/" + current + "/revoke").Expect().Status(http.StatusOK).JSON().Object().IsEqual(map[string]bool{"revoked": true})
	laptop.GET("/api/me").Expect().Status(http.StatusUnauthorized)
}

// TestBrowserLogsOutAnotherSession: in the browser, the "my sessions" page
// shows the other device and its "Log out" button ends that session only.
func TestBrowserLogsOutAnotherSession(t *testing.T) {
	chromiumPath(t)
	s := startShop(t, config{})
	phone := withUserAgent(s.expect(), uaSafariIPhone)
	login(phone, "alice", "wonderland")

	b := newBrowser(t, s.srv.URL, screenshotDir(t))
	b.logIn("alice", "wonderland")
	b.open("/sessions", "#sessions")
	const rows = `document.querySelectorAll("#sessions tbody tr").length`
	b.waitFor("two sessions", rows+` === 2`)
	if got := b.text("#sessions tr:not(.current) td.device"); got != "Safari on iOS" {
		t.Errorf("the other session's device is shown as %q", got)
	}
	if got := b.text("#sessions tr.current td.network"); got != "127.0.0.0/24" {
		t.Errorf("this browser's network is shown as %q", got)
	}
	b.screenshot("devices-01-sessions")

	b.do("log out the phone",
		chromedp.Click(chromedp.CSS("#sessions tr:not(.current) button.revoke")),
		chromedp.WaitVisible(chromedp.CSS("#flash.ok")))
	if got := b.text("#flash"); got != "Logged out that session." {
		t.Errorf("flash %q", got)
	}
	b.waitFor("one session left", rows+` === 1`)
	b.screenshot("devices-02-logged-out")
	phone.GET("/api/me").Expect().Status(http.StatusUnauthorized)
	b.open("/sessions", "#sessions tr.current")
}
