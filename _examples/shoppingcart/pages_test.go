package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gavv/httpexpect/v2"
)

// tokenPattern finds the CSRF token of a page's forms.
const tokenPattern = `name="csrf_token" value="([A-Za-z0-9_-]+)"`

// pageToken returns the CSRF token of the forms on the page at path.
func pageToken(e *httpexpect.Expect, path string) string {
	return e.GET(path).Expect().Status(http.StatusOK).Body().Match(tokenPattern).Submatch(1).NotEmpty().Raw()
}

// form posts a form like a browser of the shop's own origin does: with the
// token of the visitor's forms, read from the login page (which gives a
// visitor without a session one).
func form(e *httpexpect.Expect, path string, fields map[string]string) *httpexpect.Response {
	return formWithToken(e, path, pageToken(e, "/login"), fields)
}

// formWithToken posts a form with the given token ("": none).
func formWithToken(e *httpexpect.Expect, path, token string, fields map[string]string) *httpexpect.Response {
	req := e.POST(path)
	for k, v := range fields {
		req = req.WithFormField(k, v)
	}
	if token != "" {
		req = req.WithFormField("csrf_token", token)
	}
	return req.WithHeader("Sec-Fetch-Site", "same-origin").Expect()
}

func TestCatalogPages(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	r := e.GET("/").Expect().Status(http.StatusOK)
	r.HasContentType("text/html")
	// The "Add to cart" forms carry a CSRF token of the visitor's
	// session, so the catalog gives its visitor a session.
	r.Cookie(cookieName).Value().NotEmpty()
	body := r.Body().Raw()
	if n := strings.Count(body, `class="product"`); n != productsPerPage {
		t.Errorf("%d products on page 1, want %d", n, productsPerPage)
	}
	if n := strings.Count(body, `<input type="hidden" name="csrf_token" value="`); n != productsPerPage {
		t.Errorf("%d forms with a token on page 1, want %d", n, productsPerPage)
	}
	for _, want := range []string{"Page 1 of 5", `id="product-p001"`, "Classic Wool Socks", money(priceOf("Classic Wool Socks")), `id="cart-count" class="badge">0<`, `id="login-link"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	if strings.Contains(body, `id="degraded-banner" class="banner" role="alert">`) {
		t.Error("the degraded banner is shown on a healthy store")
	}
	last := e.GET("/").WithQuery("page", 5).Expect().Status(http.StatusOK).Body()
	last.Contains(`id="product-p120"`).Contains("Page 5 of 5").NotContains(`id="product-p001"`)
	e.GET("/").WithQuery("page", 99).Expect().Status(http.StatusOK).Body().Contains("Page 5 of 5")
	e.GET("/").WithQuery("page", "x").Expect().Status(http.StatusOK).Body().Contains("Page 1 of 5")
}

func TestCartPagesWithForms(t *testing.T) {
	s := startShop(t, config{})
	c := s.client()
	e := s.expectWith(c)

	r := form(e, "/cart/add", map[string]string{"productId": "p003", "return": "/?page=1#product-p003"})
	r.Status(http.StatusSeeOther).Header("Location").IsEqual("/?page=1#product-p003")
	if s.sessionCookie(c) == "" {
		t.Fatal("no session cookie after adding to the cart")
	}
	p3, _ := s.app.catalog.Product("p003")
	page := e.GET("/").Expect().Status(http.StatusOK).Body()
	page.Contains("Added " + p3.Name + " to your cart.").Contains(`id="cart-count" class="badge">1<`)
	// The flash message is shown once.
	e.GET("/").Expect().Body().NotContains("Added " + p3.Name)

	form(e, "/cart/add", map[string]string{"productId": "p004", "quantity": "2"}).
		Status(http.StatusSeeOther).Header("Location").IsEqual("/")
	cart := e.GET("/cart").Expect().Status(http.StatusOK).Body()
	p4, _ := s.app.catalog.Product("p004")
	cart.Contains(p3.Name).Contains(p4.Name).Contains(money(p3.Price + 2*p4.Price)).Contains("Total (3 items)")

	form(e, "/cart/update", map[string]string{"productId": "p004", "quantity": "5"}).
		Status(http.StatusSeeOther).Header("Location").IsEqual("/cart")
	e.GET("/cart").Expect().Body().Contains(`value="5"`).Contains(money(p3.Price + 5*p4.Price))

	// Refused changes come back as messages.
	for _, c := range []struct {
		path   string
		fields map[string]string
		msg    string
	}{
		{"/cart/update", map[string]string{"productId": "p004", "quantity": "100"}, "quantity must be between 1 and 99"},
		{"/cart/update", map[string]string{"productId": "p004", "quantity": "many"}, "quantity must be between 1 and 99"},
		{"/cart/add", map[string]string{"productId": "p999", "return": "/cart"}, "unknown product"},
		{"/cart/remove", map[string]string{"productId": "nope"}, "unknown product"},
	} {
		form(e, c.path, c.fields).Status(http.StatusSeeOther)
		e.GET("/cart").Expect().Body().Contains(`class="flash error"`).Contains(c.msg)
	}

	form(e, "/cart/remove", map[string]string{"productId": "p003"}).Status(http.StatusSeeOther)
	form(e, "/cart/remove", map[string]string{"productId": "p004"}).Status(http.StatusSeeOther)
	e.GET("/cart").Expect().Body().Contains(`id="cart-empty"`)

	// Redirects stay on the site.
	for _, ret := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		form(e, "/cart/add", map[string]string{"productId": "p001", "return": ret}).
			Status(http.StatusSeeOther).Header("Location").IsEqual("/")
	}
}

func TestLoginLogoutAndSessionsPages(t *testing.T) {
	s := startShop(t, config{})
	c := s.client()
	e := s.expectWith(c)

	e.GET("/sessions").Expect().Status(http.StatusSeeOther).
		Header("Location").IsEqual("/login?next=" + url.QueryEscape("/sessions"))
	e.GET("/login").WithQuery("next", "/sessions").Expect().Status(http.StatusOK).
		Body().Contains(`id="login-form"`).Contains(`name="return" value="/sessions"`)

	form(e, "/cart/add", map[string]string{"productId": "p010"})
	before := s.sessionCookie(c)

	bad := form(e, "/login", map[string]string{"username": "alice", "password": "nope"})
	bad.Status(http.StatusUnauthorized).Body().Contains("Wrong user name or password.").Contains(`value="alice"`)

	ok := form(e, "/login", map[string]string{"username": "alice", "password": "wonderland", "return": "/sessions"})
	ok.Status(http.StatusSeeOther).Header("Location").IsEqual("/sessions")
	if after := s.sessionCookie(c); after == "" || after == before {
		t.Fatal("the login form did not renew the session cookie")
	}
	sessions := e.GET("/sessions").Expect().Status(http.StatusOK).Body()
	sessions.Contains("Welcome, alice").Contains(`id="user-name">alice<`).Contains("this browser").Contains(`id="cart-count" class="badge">1<`)

	// A second device of alice, then "log out all other sessions".
	other := s.expect()
	form(other, "/login", map[string]string{"username": "alice", "password": "wonderland", "remember": "1"}).Status(http.StatusSeeOther)
	other.GET("/sessions").Expect().Body().Contains("(remembered)")
	form(e, "/sessions/revoke-others", nil).Status(http.StatusSeeOther).Header("Location").IsEqual("/sessions")
	e.GET("/sessions").Expect().Body().Contains("Logged out 1 other session.")
	other.GET("/sessions").Expect().Status(http.StatusSeeOther)

	// Logout empties the cart.
	out := form(e, "/logout", nil)
	out.Status(http.StatusSeeOther).Header("Location").IsEqual("/?loggedout")
	out.Cookie(cookieName).MaxAge().Le(0)
	e.GET("/").WithQuery("loggedout", "").Expect().Body().Contains("You are logged out").Contains(`id="login-link"`)
	e.GET("/cart").Expect().Body().Contains(`id="cart-empty"`)
	form(e, "/sessions/revoke-others", nil).Status(http.StatusSeeOther).Header("Location").Contains("/login")
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	e.POST("/cart/add").WithFormField("productId", "p001").WithHeader("Sec-Fetch-Site", "cross-site").
		Expect().Status(http.StatusForbidden)
	e.POST("/api/cart/items").WithJSON(map[string]string{"productId": "p001"}).
		WithHeader("Origin", "http://evil.example").Expect().Status(http.StatusForbidden)
	e.POST("/api/login").WithJSON(map[string]string{"username": "alice", "password": "wonderland"}).
		WithHeader("Sec-Fetch-Site", "cross-site").Expect().Status(http.StatusForbidden)
	e.GET("/api/cart").Expect().Status(http.StatusOK).JSON().Object().Value("count").IsEqual(0)
}

func TestStaticFilesAndErrorPages(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	for path, ctype := range map[string]string{"/static/app.css": "text/css", "/static/app.js": "text/javascript", "/static/favicon.svg": "image/svg+xml"} {
		r := e.GET(path).Expect().Status(http.StatusOK)
		r.HasContentType(ctype)
		r.Header("Set-Cookie").IsEmpty()
	}
	e.GET("/static/missing.js").Expect().Status(http.StatusNotFound)
	r := e.GET("/no/such/page").Expect().Status(http.StatusNotFound)
	r.HasContentType("text/html")
	r.Body().Contains("404")
	r.Header("Content-Security-Policy").Contains("default-src 'self'")
	r.Header("X-Content-Type-Options").IsEqual("nosniff")
	e.DELETE("/cart").Expect().Status(http.StatusMethodNotAllowed).HasContentType("text/html")
}

func TestFormsNeedTheTokenOfTheirSession(t *testing.T) {
	s := startShop(t, config{})
	victim := s.expect()
	attacker := s.expect()
	victimToken := pageToken(victim, "/")
	attackerToken := pageToken(attacker, "/") // valid, for the attacker's session
	var forged [64]byte
	rand.Read(forged[:])
	forgedToken := base64.RawURLEncoding.EncodeToString(forged[:])

	posts := []struct {
		path   string
		fields map[string]string
	}{
		{"/cart/add", map[string]string{"productId": "p001"}},
		{"/cart/update", map[string]string{"productId": "p001", "quantity": "5"}},
		{"/cart/remove", map[string]string{"productId": "p001"}},
		{"/login", map[string]string{"username": "alice", "password": "wonderland"}},
		{"/logout", nil},
		{"/sessions/revoke-others", nil},
	}
	tokens := map[string]string{"no token": "", "another session's token": attackerToken, "a forged token": forgedToken, "a malformed token": "x" + victimToken}
	refused := 0
	for what, tok := range tokens {
		for _, p := range posts {
			r := formWithToken(victim, p.path, tok, p.fields)
			r.Status(http.StatusForbidden).HasContentType("text/html")
			r.Body().Contains("This form has expired or did not come from this shop.")
			refused++
			if t.Failed() {
				t.Fatalf("%s to %s", what, p.path)
			}
		}
	}
	// Nothing happened to the victim's session.
	if c := getCart(victim); c.Count != 0 {
		t.Errorf("the refused forms changed the cart: %+v", c)
	}
	expectError(victim.GET("/api/me").Expect(), http.StatusUnauthorized)
	victim.GET("/").Expect().Status(http.StatusOK).Body().Contains(`id="cart-count" class="badge">0<`)

	// Login CSRF: a visitor without a session is not logged in by a
	// forged login form.
	fresh := s.expect()
	formWithToken(fresh, "/login", "", map[string]string{"username": "alice", "password": "wonderland"}).Status(http.StatusForbidden)
	formWithToken(fresh, "/login", attackerToken, map[string]string{"username": "alice", "password": "wonderland"}).Status(http.StatusForbidden)
	refused += 2
	expectError(fresh.GET("/api/me").Expect(), http.StatusUnauthorized)

	// Each refusal is a security event, in the log and the metrics.
	if n := strings.Count(s.logs.String(), "event=csrf_rejected"); n != refused {
		t.Errorf("%d csrf_rejected records in the log, want %d", n, refused)
	}
	victim.GET("/metrics").Expect().Status(http.StatusOK).Body().
		Contains(fmt.Sprintf(`session_events_total{event="csrf_rejected"} %d`, refused))

	// The victim's own token works.
	formWithToken(victim, "/cart/add", victimToken, map[string]string{"productId": "p001"}).Status(http.StatusSeeOther)
	if c := getCart(victim); c.Count != 1 {
		t.Errorf("the cart after a valid form: %+v", c)
	}
}

func TestLoginEndsTheFormTokens(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	before := pageToken(e, "/login")
	formWithToken(e, "/login", before, map[string]string{"username": "alice", "password": "wonderland"}).Status(http.StatusSeeOther)
	formWithToken(e, "/cart/add", before, map[string]string{"productId": "p001"}).Status(http.StatusForbidden)
	alice := pageToken(e, "/cart")
	formWithToken(e, "/cart/add", alice, map[string]string{"productId": "p001"}).Status(http.StatusSeeOther)

	// Logging in again to the same account ends them too.
	formWithToken(e, "/login", alice, map[string]string{"username": "alice", "password": "wonderland"}).Status(http.StatusSeeOther)
	formWithToken(e, "/cart/add", alice, map[string]string{"productId": "p002"}).Status(http.StatusForbidden)
	again := pageToken(e, "/cart")
	formWithToken(e, "/logout", again, nil).Status(http.StatusSeeOther)
	formWithToken(e, "/cart/add", again, map[string]string{"productId": "p002"}).Status(http.StatusForbidden)
	if c := getCart(e); c.Count != 0 {
		t.Errorf("cart after logout: %+v", c)
	}
}

// The JSON API is not behind the token check: its clients (scripts of the
// shop's pages, other programs) send JSON with the session cookie and no
// token, and browsers' cross-origin requests to it are refused by
// CrossOriginProtection (TestCrossOriginPostsAreRefused).
func TestAPINeedsNoToken(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	add(e, "p001", 2)
	login(e, "alice", "wonderland")
	e.DELETE("/api/cart/items/p001").Expect().Status(http.StatusOK)
	e.POST("/api/sessions/revoke-others").Expect().Status(http.StatusOK)
	e.POST("/api/logout").Expect().Status(http.StatusNoContent)
	if strings.Contains(s.logs.String(), "csrf_rejected") {
		t.Error("an API request was refused by the CSRF check")
	}
}
