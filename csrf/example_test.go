package csrf_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/csrf"
)

// newManager returns a session manager for the examples, with a random
// secret and the audit log silenced.
func newManager() *session.Manager {
	secret := make([]byte, 32)
	rand.Read(secret)
	m, err := session.New(session.WithSecret(secret), session.WithAuditLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// newClient returns a client that keeps cookies and does not follow
// redirects.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// fieldValue returns the value of the token field in an HTML page.
func fieldValue(page string) string {
	_, rest, _ := strings.Cut(page, `name="csrf_token" value="`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

func get(c *http.Client, u string) string {
	resp, err := c.Get(u)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func post(c *http.Client, u string, form url.Values) int {
	resp, err := c.PostForm(u, form)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A form that carries the token, and the middleware that checks it.
func ExampleProtector_Middleware() {
	m := newManager()
	defer m.Close()
	p, err := csrf.New()
	if err != nil {
		log.Fatal(err)
	}
	page := template.Must(template.New("").Parse(`<form method="post" action="/note">{{.}}<input name="text"></form>`))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /note", func(w http.ResponseWriter, r *http.Request) {
		field, err := p.TemplateField(r) // before the response is written
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		page.Execute(w, field)
	})
	mux.HandleFunc("POST /note", func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Set("note", r.PostFormValue("text"))
	})
	srv := httptest.NewServer(m.Middleware(p.Middleware(mux)))
	defer srv.Close()

	c := newClient()
	token := fieldValue(get(c, srv.URL+"/note"))
	fmt.Println("with the token:", post(c, srv.URL+"/note", url.Values{"text": {"hi"}, "csrf_token": {token}}))
	fmt.Println("without:", post(c, srv.URL+"/note", url.Values{"text": {"hi"}}))
	fmt.Println("from another visitor:", post(newClient(), srv.URL+"/note", url.Values{"text": {"hi"}, "csrf_token": {token}}))
	// Output:
	// with the token: 200
	// without: 403
	// from another visitor: 403
}

// The hidden input that carries a token in a form.
func ExampleProtector_TemplateField() {
	m := newManager()
	defer m.Close()
	p, err := csrf.New(csrf.WithField("authenticity_token"))
	if err != nil {
		log.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		field, err := p.TemplateField(r)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(strings.HasPrefix(string(field), `<input type="hidden" name="authenticity_token" value="`))
		fmt.Println(len(field) - len(`<input type="hidden" name="authenticity_token" value="">`))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	// Output:
	// true
	// 86
}

// Scripts send the token in a header. The page renders it where the
// script can find it; every token of the session is valid, and each
// response gets a different one.
func ExampleToken() {
	m := newManager()
	defer m.Close()
	p, err := csrf.New()
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		tok, err := csrf.Token(r)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		// In the page's script: fetch(url, {method: "POST", headers: {"X-CSRF-Token": meta.content}})
		fmt.Fprintf(w, `<meta name="csrf-token" content="%s">`, tok)
	})
	mux.HandleFunc("DELETE /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(m.Middleware(p.Middleware(mux)))
	defer srv.Close()

	c := newClient()
	meta := func() string {
		_, tok, _ := strings.Cut(get(c, srv.URL+"/app"), `content="`)
		return strings.TrimSuffix(tok, `">`)
	}
	first, second := meta(), meta()
	fmt.Println("tokens differ:", first != second)
	for _, tok := range []string{first, second} {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/items/7", nil)
		req.Header.Set(p.Header(), tok)
		resp, err := c.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// tokens differ: true
	// 204
	// 204
}

// A login changes the session's user, which ends the tokens handed out
// before it. A change of privilege that keeps the user calls Rotate.
func ExampleRotate() {
	m := newManager()
	defer m.Close()
	p, err := csrf.New()
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		field, _ := p.TemplateField(r)
		io.WriteString(w, string(field))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.SetUser("alice") // after checking the password
	})
	mux.HandleFunc("POST /sudo", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.Set("admin", true) // after checking the second factor
		csrf.Rotate(r)
	})
	mux.HandleFunc("POST /action", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(m.Middleware(p.Middleware(mux)))
	defer srv.Close()

	c := newClient()
	anonymous := fieldValue(get(c, srv.URL+"/form"))
	fmt.Println("login:", post(c, srv.URL+"/login", url.Values{"csrf_token": {anonymous}}))
	fmt.Println("token from before the login:", post(c, srv.URL+"/action", url.Values{"csrf_token": {anonymous}}))
	alice := fieldValue(get(c, srv.URL+"/form"))
	fmt.Println("sudo:", post(c, srv.URL+"/sudo", url.Values{"csrf_token": {alice}}))
	fmt.Println("token from before sudo:", post(c, srv.URL+"/action", url.Values{"csrf_token": {alice}}))
	admin := fieldValue(get(c, srv.URL+"/form"))
	fmt.Println("new token:", post(c, srv.URL+"/action", url.Values{"csrf_token": {admin}}))
	// Output:
	// login: 200
	// token from before the login: 403
	// sudo: 200
	// token from before sudo: 403
	// new token: 200
}

// Both defences together: net/http's CrossOriginProtection in front
// refuses cross-origin requests of modern browsers before the session is
// loaded; the tokens cover browsers that send neither Sec-Fetch-Site nor
// Origin.
func ExampleNew_crossOriginProtection() {
	m := newManager()
	defer m.Close()
	p, err := csrf.New(csrf.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, csrf.ErrRejected) {
			http.Error(w, "This form has expired. Reload the page and try again.", http.StatusForbidden)
			return
		}
		http.Error(w, "Please try again later.", http.StatusServiceUnavailable)
	}))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /transfer", func(w http.ResponseWriter, r *http.Request) {})
	var h http.Handler = p.Middleware(mux)
	h = m.Middleware(h)
	h = http.NewCrossOriginProtection().Handler(h)
	srv := httptest.NewServer(h)
	defer srv.Close()

	send := func(what string, header, value string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/transfer", nil)
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(what, resp.StatusCode)
	}
	send("modern browser, from another site:", "Sec-Fetch-Site", "cross-site") // refused by CrossOriginProtection
	send("old browser, from another site:", "", "")                            // refused for want of a token
	// Output:
	// modern browser, from another site: 403
	// old browser, from another site: 403
}

// The names of the header and the form field, and the form size limit, can
// be changed.
func ExampleNew() {
	p, err := csrf.New(
		csrf.WithHeader("X-XSRF-Token"),
		csrf.WithField("authenticity_token"),
		csrf.WithMaxFormSize(64<<10),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Header(), p.Field())

	_, err = csrf.New(csrf.WithField(`bad"name`))
	fmt.Println(err)
	// Output:
	// X-XSRF-Token authenticity_token
	// csrf: WithField: invalid field name "bad\"name"
}
