package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/csrf"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// productsPerPage is the size of a catalog page.
const productsPerPage = 24

// flash is a one-time message shown on the next page the visitor sees.
type flash struct {
	Kind string `json:"kind"` // "ok" or "error"
	Text string `json:"text"`
}

// flashKey is the session key of the pending flash message.
const flashKey = "flash"

// page is what the templates render: the header's facts and the content
// of one page.
type page struct {
	Title     string
	Nav       string // the active entry of the navigation
	User      string
	CartCount int
	Degraded  bool
	Flash     *flash
	// CSRF is the hidden input with the token that every form of the
	// page carries (empty on pages without a form).
	CSRF template.HTML

	// Catalog.
	Products []Product
	PageNo   int
	Pages    int
	// Cart.
	Cart Cart
	// My sessions.
	Sessions []sessionView
	// Login, errors.
	Message  string
	Username string
	Return   string
	Status   int
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"money": money,
		"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"add":   func(a, b int) int { return a + b },
		"short": func(s string) string { return s[:min(len(s), 10)] },
		// initial is the first letter of the last word: "M" for "Cozy Coffee Mug".
		"initial": func(s string) string {
			f := strings.Fields(s)
			if len(f) == 0 {
				return ""
			}
			return f[len(f)-1][:1]
		},
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		base := strings.TrimPrefix(name, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

// money formats cents as dollars: 1299 is "$12.99".
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// render fills in the header facts from the session (user, cart count,
// pending flash message), saves the session so that the degraded state of
// this request is known, and renders the page.
func (a *app) render(w http.ResponseWriter, r *http.Request, name string, status int, p *page) {
	s := session.MustFromContext(r.Context())
	var err error
	if p.User, err = s.User(); err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	if p.CartCount, err = a.cartCount(s); err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	if p.Flash == nil {
		f, ok, err := session.Pop[flash](s, flashKey)
		if err != nil {
			a.pageSessionError(w, r, err)
			return
		}
		if ok {
			p.Flash = &f
		}
	}
	if hasForms(name, p) {
		if p.CSRF, err = a.csrf.TemplateField(r); err != nil {
			a.pageSessionError(w, r, err)
			return
		}
	}
	// Save now rather than when the page is written, so that the banner
	// also reflects a save that went to the fallback store. A failed save
	// is answered by the middleware's error handler.
	if err := s.Commit(); err != nil {
		return
	}
	p.Degraded = s.Degraded()
	a.writePage(w, r, name, status, p)
}

func (a *app) writePage(w http.ResponseWriter, r *http.Request, name string, status int, p *page) {
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		a.log.ErrorContext(r.Context(), "rendering a page failed", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// hasForms reports whether page name, filled with p, has a form that posts
// (and so needs a token). Only those pages give a visitor who has none a
// session: the catalog (its "Add to cart" buttons) and the login page; the
// others have forms only for visitors who already have a session.
func hasForms(name string, p *page) bool {
	switch {
	case p.User != "": // the header's "Log out" button
		return true
	case name == "catalog.html", name == "login.html":
		return true
	case name == "cart.html":
		return len(p.Cart.Items) > 0
	}
	return false
}

// newCSRF returns the check of the pages' forms: every form carries a
// token of the visitor's session (page.CSRF), and a form post without one
// is refused with 403.
func (a *app) newCSRF() (*csrf.Protector, error) {
	return csrf.New(csrf.WithErrorHandler(a.csrfFailed), csrf.WithMaxFormSize(maxBodyBytes))
}

// form returns h, handling a form post of the pages, behind the CSRF
// check. The JSON API is not behind it (see routes).
func (a *app) form(h http.HandlerFunc) http.Handler { return a.csrf.Middleware(h) }

// csrfFailed answers a form post that the CSRF check refused (the refusal
// is already in the audit log and the metrics), or whose session or form
// could not be read.
func (a *app) csrfFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, csrf.ErrRejected):
		a.renderError(w, r, http.StatusForbidden, "This form has expired or did not come from this shop. Go back, reload the page and try again.")
	case errors.Is(err, csrf.ErrBadForm):
		http.Error(w, "bad form", http.StatusBadRequest)
	default:
		a.pageSessionError(w, r, err)
	}
}

// renderError shows an error page.
func (a *app) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	a.render(w, r, "error.html", status, &page{Title: http.StatusText(status), Message: msg, Status: status})
}

// pageSessionError answers a page request whose session could not be read
// or changed. The page is rendered without the session's facts.
func (a *app) pageSessionError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := a.sessionErrorStatus(r, err)
	if status == http.StatusServiceUnavailable {
		msg = "The shop cannot reach its session store. Please try again in a moment."
	}
	a.writePage(w, r, "error.html", status, &page{Title: http.StatusText(status), Message: msg, Status: status})
}

// setFlash stores a message for the next page. Failing to store it is
// logged, not shown: the action itself succeeded.
func (a *app) setFlash(r *http.Request, kind, text string) {
	s := session.MustFromContext(r.Context())
	if err := s.Set(flashKey, flash{Kind: kind, Text: text}); err != nil {
		a.log.WarnContext(r.Context(), "storing a flash message failed", "error", err)
	}
}

// localPath returns target if it is a path on this site, else fallback:
// redirects never lead to another site.
func localPath(target, fallback string) string {
	if target == "" || target[0] != '/' || strings.HasPrefix(target, "//") || strings.ContainsAny(target, "\\\r\n") {
		return fallback
	}
	u, err := url.Parse(target)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return target
}

// parseForm reads a form body of at most maxBodyBytes.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return false
	}
	return true
}

// pageCatalog shows GET /?page=N.
func (a *app) pageCatalog(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	products, pages := a.catalog.Page(n, productsPerPage)
	n = min(max(n, 1), pages)
	p := &page{Title: "Catalog", Nav: "catalog", Products: products, PageNo: n, Pages: pages}
	if r.URL.Query().Has("loggedout") {
		p.Flash = &flash{Kind: "ok", Text: "You are logged out. Your cart was emptied."}
	}
	a.render(w, r, "catalog.html", http.StatusOK, p)
}

// pageCart shows GET /cart.
func (a *app) pageCart(w http.ResponseWriter, r *http.Request) {
	cart, err := a.loadCart(session.MustFromContext(r.Context()))
	if err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	a.render(w, r, "cart.html", http.StatusOK, &page{Title: "Your cart", Nav: "cart", Cart: cart})
}

// formQuantity reads the quantity field; missing means 1.
func formQuantity(r *http.Request) int {
	v := r.PostFormValue("quantity")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0 // refused as out of range
	}
	return n
}

// cartAction runs a cart change posted by a form and redirects to back,
// with a flash message telling how it went.
func (a *app) cartAction(w http.ResponseWriter, r *http.Request, back string, change func(s *session.Session, productID string) error, done string) {
	if !parseForm(w, r) {
		return
	}
	s := session.MustFromContext(r.Context())
	id := r.PostFormValue("productId")
	err := change(s, id)
	if err == nil {
		err = commit(s)
	}
	if ce, ok := asCartError(err); ok {
		a.setFlash(r, "error", "Sorry: "+ce.msg+".")
	} else if err != nil {
		a.pageSessionError(w, r, err)
		return
	} else if p, ok := a.catalog.Product(id); ok {
		a.setFlash(r, "ok", fmt.Sprintf(done, p.Name))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// formAdd handles POST /cart/add from the catalog's buttons.
func (a *app) formAdd(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	back := localPath(r.PostFormValue("return"), "/")
	a.cartAction(w, r, back, func(s *session.Session, id string) error {
		return a.addToCart(s, id, formQuantity(r))
	}, "Added %s to your cart.")
}

// formUpdate handles POST /cart/update from the cart page.
func (a *app) formUpdate(w http.ResponseWriter, r *http.Request) {
	a.cartAction(w, r, "/cart", func(s *session.Session, id string) error {
		return a.setQuantity(s, id, formQuantity(r))
	}, "Updated the quantity of %s.")
}

// formRemove handles POST /cart/remove from the cart page.
func (a *app) formRemove(w http.ResponseWriter, r *http.Request) {
	a.cartAction(w, r, "/cart", func(s *session.Session, id string) error {
		return a.removeFromCart(s, id)
	}, "Removed %s from your cart.")
}

// pageLogin shows GET /login.
func (a *app) pageLogin(w http.ResponseWriter, r *http.Request) {
	ret := localPath(r.URL.Query().Get("next"), "/")
	a.render(w, r, "login.html", http.StatusOK, &page{Title: "Log in", Nav: "login", Return: ret})
}

// formLogin handles POST /login.
func (a *app) formLogin(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	ret := localPath(r.PostFormValue("return"), "/")
	if !checkPassword(user, pass) {
		a.render(w, r, "login.html", http.StatusUnauthorized, &page{
			Title: "Log in", Nav: "login", Return: ret, Username: user,
			Message: "Wrong user name or password.",
		})
		return
	}
	s := session.MustFromContext(r.Context())
	if err := a.login(s, user, r.PostFormValue("remember") != ""); err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	// A login ends the tokens of the forms served before it. A change of
	// user does that by itself; Rotate also covers a login to the account
	// that was already signed in.
	if err := csrf.Rotate(r); err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	a.setFlash(r, "ok", "Welcome, "+user+". Your cart is still here.")
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// formLogout handles POST /logout.
func (a *app) formLogout(w http.ResponseWriter, r *http.Request) {
	if err := session.MustFromContext(r.Context()).Destroy(); err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	http.Redirect(w, r, "/?loggedout", http.StatusSeeOther)
}

// pageUser returns the logged-in user, or redirects to the login page and
// returns "".
func (a *app) pageUser(w http.ResponseWriter, r *http.Request) string {
	user, err := session.MustFromContext(r.Context()).User()
	if err != nil {
		a.pageSessionError(w, r, err)
		return ""
	}
	if user == "" {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
	}
	return user
}

// pageSessions shows GET /sessions.
func (a *app) pageSessions(w http.ResponseWriter, r *http.Request) {
	user := a.pageUser(w, r)
	if user == "" {
		return
	}
	list, err := a.userSessions(r, user)
	if err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	a.render(w, r, "sessions.html", http.StatusOK, &page{Title: "My sessions", Nav: "sessions", Sessions: list})
}

// formRevokeSession handles POST /sessions/{id}/revoke: the "log out"
// button of one session of the "my sessions" page.
func (a *app) formRevokeSession(w http.ResponseWriter, r *http.Request) {
	user := a.pageUser(w, r)
	if user == "" {
		return
	}
	revoked, current, err := a.revokeSession(r, user, r.PathValue("id"))
	if err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	switch {
	case current:
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case revoked:
		a.setFlash(r, "ok", "Logged out that session.")
	default:
		a.setFlash(r, "error", "That session had already ended.")
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}

// formRevokeOthers handles POST /sessions/revoke-others.
func (a *app) formRevokeOthers(w http.ResponseWriter, r *http.Request) {
	user := a.pageUser(w, r)
	if user == "" {
		return
	}
	n, err := a.revokeOthers(r, user)
	if err != nil {
		a.pageSessionError(w, r, err)
		return
	}
	msg := fmt.Sprintf("Logged out %d other sessions.", n)
	if n == 1 {
		msg = "Logged out 1 other session."
	}
	a.setFlash(r, "ok", msg)
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}
