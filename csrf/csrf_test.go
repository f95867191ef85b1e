package csrf_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/csrf"
	"github.com/sessionkit/session/internal/sessiontest"
)

// eventCounter is a session.Observer that counts events.
type eventCounter struct {
	mu sync.Mutex
	n  map[session.Event]int
}

func (c *eventCounter) Event(_ context.Context, e session.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[session.Event]int)
	}
	c.n[e]++
}
func (c *eventCounter) StoreOp(string, error, time.Duration) {}
func (c *eventCounter) Saved(int)                            {}

func (c *eventCounter) count(e session.Event) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[e]
}

// app is a small site behind the session and CSRF middleware.
type app struct {
	t      *testing.T
	srv    *httptest.Server
	events *eventCounter
	audit  *sessiontest.LogBuffer
	m      *session.Manager

	mu      sync.Mutex
	actions int      // requests that reached a protected handler
	errs    []error  // errors given to the error handler
	seen    []string // form values the protected handler saw
}

func newSecret(t testing.TB) []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// newApp starts the site. Its routes:
//
//	GET  /form      a page with a token field and the raw token
//	POST /login     log in as the form's or JSON's "user" (Renew, SetUser)
//	POST /logout    Destroy
//	POST /renew     Renew only
//	POST /rotate    Renew and csrf.Rotate
//	any  /action    a protected action; answers "done"
func newApp(t *testing.T, opts ...csrf.Option) *app {
	t.Helper()
	a := &app{t: t, events: &eventCounter{}, audit: &sessiontest.LogBuffer{}}
	var err error
	a.m, err = session.New(
		session.WithSecret(newSecret(t)),
		session.WithStore(sessiontest.NewMemstore(t)),
		session.WithObserver(a.events),
		session.WithAuditLogger(slog.New(slog.NewJSONHandler(a.audit, nil))),
	)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]csrf.Option{csrf.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		a.mu.Lock()
		a.errs = append(a.errs, err)
		a.mu.Unlock()
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, csrf.ErrRejected):
			status = http.StatusForbidden
		case errors.Is(err, csrf.ErrBadForm):
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
	})}, opts...)
	p, err := csrf.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		field, err := p.TemplateField(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, err := csrf.Token(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "<form method=post>%s</form>\ntoken=%s\n", field, tok)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Renew(); err != nil {
			t.Error(err)
		}
		if err := s.SetUser(r.PostFormValue("user")); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Destroy(); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Renew(); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Renew(); err != nil {
			t.Error(err)
		}
		if err := csrf.Rotate(r); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("/action", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.actions++
		a.seen = append(a.seen, r.PostFormValue("item"))
		a.mu.Unlock()
		io.WriteString(w, "done")
	})
	a.srv = httptest.NewServer(a.m.Middleware(p.Middleware(mux)))
	t.Cleanup(func() {
		a.srv.Close()
		a.m.Close()
	})
	return a
}

func (a *app) actionCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.actions
}

func (a *app) lastErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.errs) == 0 {
		return nil
	}
	return a.errs[len(a.errs)-1]
}

// browser is one client with a cookie jar.
type browser struct {
	a *app
	c *http.Client
}

func (a *app) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return &browser{a: a, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (int, string) {
	b.a.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.a.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// page loads GET /form and returns the token of its field and its raw
// token.
func (b *browser) page() (field, raw string) {
	b.a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.a.srv.URL+"/form", nil)
	status, body := b.do(req)
	if status != http.StatusOK {
		b.a.t.Fatalf("GET /form: %d %s", status, body)
	}
	_, rest, ok := strings.Cut(body, `name="csrf_token" value="`)
	if !ok {
		b.a.t.Fatalf("no token field in %q", body)
	}
	field, _, _ = strings.Cut(rest, `"`)
	_, raw, _ = strings.Cut(body, "token=")
	return field, strings.TrimSpace(raw)
}

// postForm posts fields (and csrf_token=token unless token is "").
func (b *browser) postForm(path, token string, fields url.Values) (int, string) {
	b.a.t.Helper()
	v := url.Values{}
	for k, vs := range fields {
		v[k] = vs
	}
	if token != "" {
		v.Set(csrf.DefaultField, token)
	}
	req, _ := http.NewRequest(http.MethodPost, b.a.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// send sends a JSON request with the token in the header (unless "").
func (b *browser) send(method, path, token string) (int, string) {
	b.a.t.Helper()
	req, _ := http.NewRequest(method, b.a.srv.URL+path, strings.NewReader(`{"item":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(csrf.DefaultHeader, token)
	}
	return b.do(req)
}

// auditRecords returns the audit log's records of event.
func (a *app) auditRecords(event string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(a.audit.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			a.t.Fatalf("audit line %q: %v", line, err)
		}
		if rec["event"] == event {
			out = append(out, rec)
		}
	}
	return out
}

func TestValidTokenIsAccepted(t *testing.T) {
	a := newApp(t)
	b := a.browser()
	field, raw := b.page()

	if status, body := b.postForm("/action", field, url.Values{"item": {"socks"}}); status != http.StatusOK || body != "done" {
		t.Fatalf("form with the field's token: %d %q", status, body)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, "PROPFIND"} {
		if status, body := b.send(method, "/action", raw); status != http.StatusOK {
			t.Errorf("%s with the token in the header: %d %q", method, status, body)
		}
	}
	if got := a.actionCount(); got != 6 {
		t.Errorf("%d actions ran, want 6", got)
	}
	// The handler still reads the form the middleware parsed.
	if a.seen[0] != "socks" {
		t.Errorf("the handler saw item=%q, want socks", a.seen[0])
	}
	if n := a.events.count(session.EventCSRFRejected); n != 0 {
		t.Errorf("%d rejections reported for valid requests", n)
	}
}

func TestMultipartFormIsAccepted(t *testing.T) {
	a := newApp(t)
	b := a.browser()
	field, _ := b.page()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("item", "mug")
	mw.WriteField(csrf.DefaultField, field)
	fw, _ := mw.CreateFormFile("photo", "mug.png")
	fw.Write(bytes.Repeat([]byte{0x89}, 4096))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/action", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if status, resp := b.do(req); status != http.StatusOK {
		t.Fatalf("multipart form with a token: %d %q", status, resp)
	}
	if a.seen[0] != "mug" {
		t.Errorf("the handler saw item=%q, want mug", a.seen[0])
	}
}

func TestForgedRequestsAreRefused(t *testing.T) {
	a := newApp(t)
	victim := a.browser()
	victimToken, _ := victim.page()
	attacker := a.browser()
	attackerToken, _ := attacker.page() // valid, but for the attacker's session

	// A well-formed token of a secret nobody has.
	var forged [64]byte
	rand.Read(forged[:])
	forgedToken := base64.RawURLEncoding.EncodeToString(forged[:])
	if len(forgedToken) != csrf.TokenLength {
		t.Fatalf("forged token has %d characters, want %d", len(forgedToken), csrf.TokenLength)
	}
	// The victim's token with one character changed.
	flipped := []byte(victimToken)
	if flipped[40] == 'A' {
		flipped[40] = 'B'
	} else {
		flipped[40] = 'A'
	}

	cases := []struct {
		name   string
		send   func() (int, string)
		want   error
		reason string
	}{
		{"missing in form", func() (int, string) { return victim.postForm("/action", "", url.Values{"item": {"x"}}) }, csrf.ErrMissingToken, "missing token"},
		{"missing in header", func() (int, string) { return victim.send(http.MethodDelete, "/action", "") }, csrf.ErrMissingToken, "missing token"},
		{"empty body", func() (int, string) {
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/action", nil)
			return victim.do(req)
		}, csrf.ErrMissingToken, "missing token"},
		{"other session's token", func() (int, string) { return victim.postForm("/action", attackerToken, nil) }, csrf.ErrInvalidToken, "token of another session or secret"},
		{"forged token", func() (int, string) { return victim.send(http.MethodPost, "/action", forgedToken) }, csrf.ErrInvalidToken, "token of another session or secret"},
		{"changed token", func() (int, string) { return victim.send(http.MethodPost, "/action", string(flipped)) }, csrf.ErrInvalidToken, "token of another session or secret"},
		{"garbage", func() (int, string) { return victim.send(http.MethodPut, "/action", "not a token") }, csrf.ErrInvalidToken, "malformed token"},
		{"too long", func() (int, string) { return victim.send(http.MethodPut, "/action", victimToken+"AAAA") }, csrf.ErrInvalidToken, "malformed token"},
		{"standard base64", func() (int, string) {
			return victim.send(http.MethodPut, "/action", strings.NewReplacer("-", "+", "_", "/").Replace(victimToken)+"==")
		}, csrf.ErrInvalidToken, "malformed token"},
		{"token in the query", func() (int, string) {
			return victim.postForm("/action?"+csrf.DefaultField+"="+url.QueryEscape(victimToken), "", nil)
		}, csrf.ErrMissingToken, "missing token"},
		{"no session", func() (int, string) { return a.browser().postForm("/action", victimToken, nil) }, csrf.ErrNoSecret, "no secret in the session"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _ := c.send()
			if status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", status)
			}
			if err := a.lastErr(); !errors.Is(err, c.want) || !errors.Is(err, csrf.ErrRejected) {
				t.Errorf("error handler got %v, want %v", err, c.want)
			}
			if n := a.events.count(session.EventCSRFRejected); n != i+1 {
				t.Errorf("%d rejections reported, want %d", n, i+1)
			}
			recs := a.auditRecords("csrf_rejected")
			if len(recs) != i+1 {
				t.Fatalf("%d audit records, want %d", len(recs), i+1)
			}
			rec := recs[i]
			if rec["level"] != "WARN" || rec["path"] != "/action" || rec["remote"] == "" {
				t.Errorf("audit record %v", rec)
			}
			if c.reason != "" && rec["reason"] != c.reason {
				t.Errorf("audit reason %q, want %q", rec["reason"], c.reason)
			}
			if c.want != csrf.ErrNoSecret && rec["session"] == nil {
				t.Errorf("audit record names no session: %v", rec)
			}
		})
	}
	if n := a.actionCount(); n != 0 {
		t.Errorf("%d refused requests reached the handler", n)
	}
	log := a.audit.String()
	for _, tok := range []string{victimToken, attackerToken, forgedToken} {
		if strings.Contains(log, tok) {
			t.Error("the audit log quotes a token")
		}
	}
	// The victim's own token still works.
	if status, _ := victim.postForm("/action", victimToken, nil); status != http.StatusOK {
		t.Errorf("the victim's token after the attacks: %d", status)
	}
}

func TestTokensAreMaskedPerResponse(t *testing.T) {
	a := newApp(t)
	b := a.browser()
	seen := make(map[string]bool)
	var tokens []string
	for range 10 {
		field, raw := b.page()
		for _, tok := range []string{field, raw} {
			if len(tok) != csrf.TokenLength {
				t.Fatalf("token %q has %d characters, want %d", tok, len(tok), csrf.TokenLength)
			}
			if seen[tok] {
				t.Fatalf("token %q handed out twice", tok)
			}
			seen[tok] = true
			tokens = append(tokens, tok)
		}
	}
	for i, tok := range tokens {
		if status, _ := b.send(http.MethodPost, "/action", tok); status != http.StatusOK {
			t.Errorf("token %d refused: %d", i, status)
		}
	}
}

func TestTokensDieAtLoginAndLogout(t *testing.T) {
	a := newApp(t)
	b := a.browser()
	before, _ := b.page()

	// The login form itself is protected: it needs the token.
	if status, _ := b.postForm("/login", "", url.Values{"user": {"alice"}}); status != http.StatusForbidden {
		t.Fatalf("login without a token: %d, want 403", status)
	}
	if status, _ := b.postForm("/login", before, url.Values{"user": {"alice"}}); status != http.StatusOK {
		t.Fatalf("login: %d", status)
	}
	if status, _ := b.postForm("/action", before, nil); status != http.StatusForbidden {
		t.Fatalf("a token from before the login: %d, want 403", status)
	}
	if err := a.lastErr(); !errors.Is(err, csrf.ErrNoSecret) {
		t.Errorf("error %v, want ErrNoSecret", err)
	}
	alice, _ := b.page()
	if status, _ := b.postForm("/action", alice, nil); status != http.StatusOK {
		t.Fatalf("a token from after the login: %d", status)
	}

	// A change of user, even without Renew, makes the old tokens stale.
	if status, _ := b.postForm("/login", alice, url.Values{"user": {"bob"}}); status != http.StatusOK {
		t.Fatalf("second login: %d", status)
	}
	if status, _ := b.postForm("/action", alice, nil); status != http.StatusForbidden {
		t.Fatalf("alice's token in bob's session: %d, want 403", status)
	}
	bob, _ := b.page()

	// Logout destroys the secret with the session.
	if status, _ := b.postForm("/logout", bob, nil); status != http.StatusOK {
		t.Fatalf("logout: %d", status)
	}
	if status, _ := b.postForm("/action", bob, nil); status != http.StatusForbidden {
		t.Fatalf("a token from before the logout: %d, want 403", status)
	}
	if n := a.actionCount(); n != 1 {
		t.Errorf("%d actions ran, want 1", n)
	}
}

func TestRotateEndsTheTokensAndRenewKeepsThem(t *testing.T) {
	a := newApp(t)
	b := a.browser()
	tok, _ := b.page()
	// Renew alone changes the ID, not the holder: the tokens stay valid.
	if status, _ := b.postForm("/renew", tok, nil); status != http.StatusOK {
		t.Fatalf("renew: %d", status)
	}
	if status, _ := b.postForm("/action", tok, nil); status != http.StatusOK {
		t.Fatalf("a token after Renew: %d, want 200", status)
	}
	// Renew with Rotate ends them.
	if status, _ := b.postForm("/rotate", tok, nil); status != http.StatusOK {
		t.Fatalf("rotate: %d", status)
	}
	if status, _ := b.postForm("/action", tok, nil); status != http.StatusForbidden {
		t.Fatalf("a token after Rotate: %d, want 403", status)
	}
	fresh, _ := b.page()
	if status, _ := b.postForm("/action", fresh, nil); status != http.StatusOK {
		t.Fatalf("a token made after Rotate: %d", status)
	}
}

func TestSafeMethodsPassUnchecked(t *testing.T) {
	a := newApp(t)
	b := a.browser()
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace} {
		req, _ := http.NewRequest(method, a.srv.URL+"/action", nil)
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s without a token: %d", method, resp.StatusCode)
		}
		// Unchecked means untouched: no session, no cookie.
		if c := resp.Header.Get("Set-Cookie"); c != "" {
			t.Errorf("%s set a cookie: %s", method, c)
		}
	}
	if n := a.actionCount(); n != 4 {
		t.Errorf("%d actions ran, want 4", n)
	}
}

func TestFormOverTheLimit(t *testing.T) {
	a := newApp(t, csrf.WithMaxFormSize(1024))
	b := a.browser()
	tok, raw := b.page()
	big := url.Values{"item": {strings.Repeat("x", 2048)}}
	if status, _ := b.postForm("/action", tok, big); status != http.StatusBadRequest {
		t.Errorf("form over the limit: %d, want the handler's 400", status)
	}
	var tooLarge *http.MaxBytesError
	if err := a.lastErr(); !errors.Is(err, csrf.ErrBadForm) || !errors.As(err, &tooLarge) {
		t.Errorf("error %v, want ErrBadForm with *http.MaxBytesError", err)
	}
	if n := a.events.count(session.EventCSRFRejected); n != 0 {
		t.Errorf("a form over the limit was reported as forgery (%d)", n)
	}
	// A token in the header needs no form: the body is the handler's.
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/action", strings.NewReader(big.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(csrf.DefaultHeader, raw)
	if status, _ := b.do(req); status != http.StatusOK {
		t.Errorf("large form with the token in the header: %d", status)
	}
}

func TestDefaultErrorHandler(t *testing.T) {
	m, err := session.New(session.WithSecret(newSecret(t)), session.WithStore(sessiontest.NewMemstore(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := csrf.New(csrf.WithMaxFormSize(16))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Middleware(p.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the handler ran")
	})))
	for _, c := range []struct {
		ctype, body string
		want        int
	}{
		{"", "", http.StatusForbidden},
		{"application/x-www-form-urlencoded", "a=1", http.StatusForbidden},
		{"application/x-www-form-urlencoded", strings.Repeat("a", 64), http.StatusRequestEntityTooLarge},
		{"application/x-www-form-urlencoded", "%zz", http.StatusBadRequest},
		{"multipart/form-data; boundary=x", "garbage", http.StatusBadRequest},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%q %q: %d, want %d", c.ctype, c.body, rec.Code, c.want)
		}
		if strings.Contains(rec.Body.String(), "csrf") {
			t.Errorf("the answer shows details: %q", rec.Body.String())
		}
	}
	// Without the session middleware the check cannot run: 500.
	rec := httptest.NewRecorder()
	p.Middleware(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("without the session middleware: %d, want 500", rec.Code)
	}
}

func TestTokenNeedsTheSessionMiddleware(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, err := csrf.Token(r); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Token: %v, want ErrNoSession", err)
	}
	if err := csrf.Rotate(r); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Rotate: %v, want ErrNoSession", err)
	}
}

func TestFirstTokenAfterTheHeadersFails(t *testing.T) {
	m, err := session.New(session.WithSecret(newSecret(t)), session.WithStore(sessiontest.NewMemstore(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var tokErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, tokErr = csrf.Token(r)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !errors.Is(tokErr, session.ErrCommitted) {
		t.Errorf("Token after WriteHeader: %v, want ErrCommitted", tokErr)
	}
}

func TestOptions(t *testing.T) {
	for name, opt := range map[string]csrf.Option{
		"empty header":      csrf.WithHeader(""),
		"header with colon": csrf.WithHeader("X-Token:"),
		"empty field":       csrf.WithField(""),
		"field with quote":  csrf.WithField(`a"b`),
		"zero form size":    csrf.WithMaxFormSize(0),
		"nil error handler": csrf.WithErrorHandler(nil),
	} {
		if _, err := csrf.New(opt); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	p, err := csrf.New(csrf.WithHeader("x-my-token"), csrf.WithField("authenticity_token"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Header() != "x-my-token" || p.Field() != "authenticity_token" {
		t.Errorf("Header %q, Field %q", p.Header(), p.Field())
	}
}

func TestCustomNames(t *testing.T) {
	a := newApp(t, csrf.WithHeader("X-Shop-Token"), csrf.WithField("authenticity_token"))
	b := a.browser()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/form", nil)
	_, body := b.do(req)
	_, rest, ok := strings.Cut(body, `name="authenticity_token" value="`)
	if !ok {
		t.Fatalf("no authenticity_token field: %q", body)
	}
	field, _, _ := strings.Cut(rest, `"`)
	v := url.Values{"authenticity_token": {field}}
	req, _ = http.NewRequest(http.MethodPost, a.srv.URL+"/action", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, _ := b.do(req); status != http.StatusOK {
		t.Errorf("custom field: %d", status)
	}
	req, _ = http.NewRequest(http.MethodPost, a.srv.URL+"/action", nil)
	req.Header.Set("X-Shop-Token", field)
	if status, _ := b.do(req); status != http.StatusOK {
		t.Errorf("custom header: %d", status)
	}
	// The default names are not read.
	if status, _ := b.send(http.MethodPost, "/action", field); status != http.StatusForbidden {
		t.Errorf("default header with a custom one configured: %d, want 403", status)
	}
}
