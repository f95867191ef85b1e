package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessionkit/session/internal/redistest"
)

// Bounds of the browser test's waits.
const (
	browserStartTimeout = 30 * time.Second
	stepTimeout         = 15 * time.Second
)

// chromiumPath returns Debian's Chromium. Without it the test is skipped, or
// fails when the CI environment variable is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "chromium not found (Debian: apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// screenshotDir returns the directory for screenshots: $SCREENSHOT_DIR, or
// a new temporary directory that is kept after the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "shoppingcart-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser is one headless Chromium tab driven by a test.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the shop's URL
	dir  string // screenshots

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	allowed []string // console errors a step expects, each once
}

// newBrowser starts headless Chromium with a fresh profile for the shop at
// base. It is stopped when the test ends.
func newBrowser(t *testing.T, base, dir string) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base, dir: dir}

	// The first Do starts the browser and binds it to ctx, so it runs
	// without a deadline of its own; the wait for it is bounded here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium: %v", err)
		}
	case <-time.After(browserStartTimeout):
		t.Fatalf("chromium did not start within %v", browserStartTimeout)
	}

	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(b.checkConsole)
	return b
}

// checkConsole fails the test for script exceptions and errors the page
// reported (a blocked script or style, a failed request).
func (b *browser) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	allowed := b.allowed
	for _, m := range b.console {
		if !m.IsException() && m.Type != chromedp.ConsoleError {
			continue
		}
		if i := slices.IndexFunc(allowed, func(a string) bool { return strings.Contains(m.String(), a) }); i >= 0 && !m.IsException() {
			allowed = slices.Delete(allowed, i, i+1)
			continue
		}
		b.t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line)
	}
}

// allowConsoleError lets one console error containing text pass
// checkConsole: the one a step provokes on purpose (the browser reports
// every error status of a page it loads).
func (b *browser) allowConsoleError(text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, text)
}

// do runs steps within stepTimeout, failing the test (with a screenshot of
// the moment) on error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// runStep runs one action with a result, within stepTimeout.
func runStep[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open loads a page of the shop and waits until sel is visible.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// text returns the text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(runStep(b, "read "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// waitFor waits until the JavaScript expression is true.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	runStep(b, what, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(stepTimeout-time.Second)))
}

// waitCartCount waits until the header shows n items in the cart.
func (b *browser) waitCartCount(n int) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("cart count %d", n), fmt.Sprintf(`document.getElementById("cart-count").textContent.trim() === "%d"`, n))
}

// screenshot saves the whole page as dir/name.png.
func (b *browser) screenshot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("saving screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot %s", path)
}

func TestBrowserShopping(t *testing.T) {
	chromiumPath(t)
	s := startShop(t, config{})
	b := newBrowser(t, s.srv.URL, screenshotDir(t))
	p1, _ := s.app.catalog.Product("p001")
	p2, _ := s.app.catalog.Product("p002")

	// Add two products by clicking their buttons.
	b.open("/", "#product-p001")
	if got := b.text("#cart-count"); got != "0" {
		t.Fatalf("cart count %q on the first visit, want 0", got)
	}
	b.do("click add p001", chromedp.Click(chromedp.CSS(`button[data-product="p001"]`)))
	b.waitCartCount(1)
	b.do("click add p002", chromedp.Click(chromedp.CSS(`button[data-product="p002"]`)))
	b.waitCartCount(2)
	if got := b.text("#flash"); !strings.Contains(got, p2.Name) {
		t.Errorf("flash %q does not name %s", got, p2.Name)
	}
	b.screenshot("01-catalog")

	// Both are on the cart page.
	b.open("/cart", "#cart")
	b.do("cart lines", chromedp.WaitVisible(chromedp.CSS("#line-p001")), chromedp.WaitVisible(chromedp.CSS("#line-p002")))
	if got, want := b.text("#cart-total"), money(p1.Price+p2.Price); got != want {
		t.Errorf("cart total %q, want %q", got, want)
	}
	b.screenshot("02-cart")

	// Log in through the form: the cart stays, the header shows the user.
	b.open("/login", "#login-form")
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS("#username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "wonderland"),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#user-name")),
	)
	if got := b.text("#user-name"); got != "alice" {
		t.Fatalf("header shows user %q, want alice", got)
	}
	b.waitCartCount(2)
	b.screenshot("03-logged-in")
	b.open("/cart", "#cart")
	b.do("cart lines after login", chromedp.WaitVisible(chromedp.CSS("#line-p001")), chromedp.WaitVisible(chromedp.CSS("#line-p002")))

	b.open("/sessions", "#sessions")
	if got := b.text("#sessions tr.current"); !strings.Contains(got, "this browser") {
		t.Errorf("the sessions page does not mark this browser: %q", got)
	}
	b.screenshot("04-sessions")

	// The cart page's forms (they carry the session's CSRF token): change
	// a quantity, remove a line.
	b.open("/cart", "#line-p001")
	b.do("update p001",
		chromedp.SetValue(chromedp.CSS(`#line-p001 input[name="quantity"]`), "3"),
		chromedp.Click(chromedp.CSS(`#line-p001 form.qty button`)),
		chromedp.WaitVisible(chromedp.CSS("#flash.ok")), // the page after the redirect
	)
	if got := b.text("#flash"); !strings.Contains(got, "Updated the quantity of "+p1.Name) {
		t.Errorf("flash after the update %q", got)
	}
	if got, want := b.text("#cart-total"), money(3*p1.Price+p2.Price); got != want {
		t.Errorf("cart total after the update %q, want %q", got, want)
	}
	b.do("remove p002",
		chromedp.Click(chromedp.CSS(`#line-p002 button.remove`)),
		chromedp.WaitNotPresent(chromedp.CSS("#line-p002")),
		chromedp.WaitVisible(chromedp.CSS("#line-p001")),
	)
	if got := b.text("#flash"); !strings.Contains(got, "Removed "+p2.Name) {
		t.Errorf("flash after the removal %q", got)
	}
	b.waitCartCount(3)
	b.screenshot("05-cart-forms")

	// A form whose token was tampered with is refused, and changes nothing.
	b.allowConsoleError("status of 403")
	b.do("tamper with the token", chromedp.Evaluate[chromedp.Void](`document.querySelector('#line-p001 form.qty input[name="csrf_token"]').value = "forged"`))
	b.do("post the tampered form",
		chromedp.SetValue(chromedp.CSS(`#line-p001 input[name="quantity"]`), "9"),
		chromedp.Click(chromedp.CSS(`#line-p001 form.qty button`)),
		chromedp.WaitVisible(chromedp.CSS("#error-message")),
	)
	if got := b.text("h1"); got != "403 Forbidden" {
		t.Errorf("tampered form: page %q, want 403 Forbidden", got)
	}
	if got := b.text("#error-message"); !strings.Contains(got, "did not come from this shop") {
		t.Errorf("tampered form: message %q", got)
	}
	b.screenshot("06-forged-form")
	b.open("/cart", "#line-p001")
	if got, want := b.text("#cart-total"), money(3*p1.Price); got != want {
		t.Errorf("cart total after the refused form %q, want %q", got, want)
	}

	// An "Add to cart" form posted without the script (as a browser
	// without JavaScript does), with its token.
	p3, _ := s.app.catalog.Product("p003")
	b.open("/", "#product-p003")
	b.do("post the add form of p003",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#product-p003 form").submit()`),
		chromedp.WaitVisible(chromedp.CSS("#flash.ok")), // the page after the redirect
	)
	if got := b.text("#flash"); !strings.Contains(got, "Added "+p3.Name) {
		t.Errorf("flash after the plain form %q", got)
	}
	b.waitCartCount(4)

	// Log out: the cart is empty.
	b.do("log out",
		chromedp.Click(chromedp.CSS("#logout-button")),
		chromedp.WaitVisible(chromedp.CSS("#login-link")),
	)
	b.waitCartCount(0)
	b.open("/cart", "#cart-empty")
	b.screenshot("07-logged-out")
}

// bannerVisible is true when the degraded banner is shown.
const bannerVisible = `(() => { const b = document.getElementById("degraded-banner"); return !!b && !b.hidden && b.offsetHeight > 0; })()`

func TestBrowserDegradedBanner(t *testing.T) {
	chromiumPath(t)
	redistest.Require(t)
	r := redistest.StartServer(t, redistest.WithAppendOnly())
	s := startShop(t, config{RedisURL: r.URL()})
	b := newBrowser(t, s.srv.URL, screenshotDir(t))

	b.open("/", "#product-p001")
	b.do("click add p001", chromedp.Click(chromedp.CSS(`button[data-product="p001"]`)))
	b.waitCartCount(1)
	b.open("/cart", "#line-p001")
	if b.visible() {
		t.Fatal("the degraded banner is shown while Redis is up")
	}

	// Redis dies: the next request that uses the session fails over and
	// the page says so, both after a click (the script reads the header)
	// and on a page rendered by the server.
	r.Kill()
	b.open("/", "#product-p003")
	b.waitFor("degraded banner on the page", bannerVisible)
	b.do("click add p003", chromedp.Click(chromedp.CSS(`button[data-product="p003"]`)))
	b.waitFor("flash after adding p003", `document.getElementById("flash").textContent.includes("Added")`)
	b.waitFor("degraded banner after the click", bannerVisible)
	b.screenshot("08-degraded")

	// Redis returns: the banner goes, and the cart has both products.
	r.Restart(true)
	s.waitRecovered()
	b.open("/cart", "#line-p003")
	b.do("cart after recovery", chromedp.WaitVisible(chromedp.CSS("#line-p001")))
	if b.visible() {
		t.Error("the degraded banner is still shown after recovery")
	}
	b.screenshot("09-recovered")
}

// visible reports whether the degraded banner is shown now.
func (b *browser) visible() bool {
	b.t.Helper()
	return runStep(b, "read the banner", chromedp.Evaluate[bool](bannerVisible))
}
