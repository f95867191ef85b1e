package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gavv/httpexpect/v2"
)

// logIn logs the browser in through the login form.
func (b *browser) logIn(user, password string) {
	b.t.Helper()
	b.open("/login", "#login-form")
	b.do("log in as "+user,
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#user-name")),
	)
}

// userSessionRows is the number of rows of the admin page's session table.
const userSessionRows = `document.querySelectorAll("#user-sessions tbody tr").length`

func TestBrowserAdminPage(t *testing.T) {
	chromiumPath(t)
	eachStore(t, testBrowserAdminPage)
}

func testBrowserAdminPage(t *testing.T, cfg config) {
	// The store that keeps the sessions: Redis is the primary of a
	// fail-over chain (degrade, then redisstore and memstore).
	store := "memstore"
	if cfg.RedisURL != "" {
		store = "redisstore"
	}
	cfg.AdminUser = "alice"
	s := startShop(t, cfg)
	b := newBrowser(t, s.srv.URL, screenshotDir(t))
	bobs := []*httpexpect.Expect{s.expect(), s.expect()}
	for _, e := range bobs {
		login(e, "bob", "builder")
	}

	// The page wants the admin's login first.
	b.open("/admin/", "#login-form")
	b.logIn("alice", "wonderland")
	b.open("/admin/", "#admin")
	b.waitFor("store health", `document.getElementById("health-status").textContent === "healthy"`)
	row := fmt.Sprintf(`#stores tr[data-store=%q]`, store)
	b.waitFor("the store's row", fmt.Sprintf(`!!document.querySelector(%q)`, row))
	// alice's session and bob's two.
	if got := b.text(row + ` td:nth-child(4)`); got != "3" {
		t.Errorf("the page counts %q sessions in %s, want 3", got, store)
	}
	if cfg.RedisURL != "" {
		if got := b.text(`#stores tr[data-store="degrade"] td:nth-child(5)`); got != "fail-over closed" {
			t.Errorf("the fail-over store's state is shown as %q", got)
		}
	}

	// bob's sessions, each with a revoke button.
	b.do("show bob's sessions",
		chromedp.SendKeys(chromedp.CSS("#user-input"), "bob"),
		chromedp.Click(chromedp.CSS("#user-show")),
	)
	b.waitFor("bob's two sessions", userSessionRows+` === 2`)
	if got := b.text("#user-summary"); got != "bob has 2 sessions." {
		t.Errorf("summary %q", got)
	}
	b.screenshot(store + "-admin-01-sessions")

	// Revoke the first (the oldest: bobs[0]'s).
	name := b.text("#user-sessions tbody tr:first-child code")
	b.do("revoke one session", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.revoke[data-name=%q]`, name))))
	b.waitFor("one session left", userSessionRows+` === 1`)
	b.waitFor("the flash names the session", fmt.Sprintf(`document.getElementById("flash").textContent.includes(%q)`, name))
	bobs[0].GET("/api/me").Expect().Status(http.StatusUnauthorized)
	bobs[1].GET("/api/me").Expect().Status(http.StatusOK)
	b.screenshot(store + "-admin-02-revoked-one")

	// Log bob out everywhere.
	b.do("revoke all", chromedp.Click(chromedp.CSS("#revoke-all")))
	b.waitFor("no session left", userSessionRows+` === 0`)
	if got := b.text("#flash"); !strings.Contains(got, "out of 1 session") {
		t.Errorf("flash %q after logging bob out everywhere", got)
	}
	bobs[1].GET("/api/me").Expect().Status(http.StatusUnauthorized)
	b.screenshot(store + "-admin-03-revoked-all")

	// Opened with ?user=, the page shows that user's sessions at once;
	// the admin's own is there.
	b.open("/admin/?user=alice", "#admin")
	b.waitFor("alice's session", userSessionRows+` === 1`)

	// The revocations are in the audit log, with the operator.
	if n := strings.Count(s.logs.String(), "operator=alice"); n != 2 {
		t.Errorf("%d audit records name the operator, want 2", n)
	}
}
