package session_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/cookies"
	"github.com/sessionkit/session/internal/sessiontest"
)

// basicWriter is the writer wrapper Go's documentation recommends for
// middleware: Header, Write, WriteHeader and Unwrap, nothing else.
type basicWriter struct{ w http.ResponseWriter }

func (b *basicWriter) Header() http.Header         { return b.w.Header() }
func (b *basicWriter) Write(p []byte) (int, error) { return b.w.Write(p) }
func (b *basicWriter) WriteHeader(code int)        { b.w.WriteHeader(code) }
func (b *basicWriter) Unwrap() http.ResponseWriter { return b.w }

func basicOutside(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&basicWriter{w}, r)
	})
}

// tlsServer starts h over HTTP/1.1 or HTTP/2 with TLS.
func tlsServer(t *testing.T, h http.Handler, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var protocols = []struct {
	name string
	h2   bool
}{{"HTTP/1.1", false}, {"HTTP/2", true}}

func getProto(t *testing.T, srv *httptest.Server, h2 bool, path string) *http.Response {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.ProtoMajor == 2; got != h2 {
		t.Fatalf("server answered over %s", resp.Proto)
	}
	return resp
}

// A login that flushes through http.ResponseController, under a middleware
// whose writer has only Header, Write, WriteHeader and Unwrap, still sends
// the session cookie: the controller's path through Unwrap saves the
// session before the headers go out, on HTTP/1.1 and HTTP/2.
func TestControllerFlushThroughUnwrapSavesFirst(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	login := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Renew(); err != nil {
			t.Error(err)
		}
		if err := s.SetUser("alice"); err != nil {
			t.Error(err)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		io.WriteString(w, "welcome")
	}))
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := tlsServer(t, basicOutside(login), p.h2)
			resp := getProto(t, srv, p.h2, "/")
			if len(resp.Cookies()) != 1 {
				t.Fatalf("the flushed login response carries %d cookies, want the session cookie", len(resp.Cookies()))
			}
		})
	}
}

// The other ResponseController calls that reach past the session writer
// through Unwrap: Hijack marks the session hijacked (the middleware then
// leaves the connection alone), deadlines reach the connection.
func TestControllerHijackAndDeadlinesThroughUnwrap(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			store := newCountingStore(t)
			m, err := session.New(session.WithSecret(testSecret), session.WithStore(store), session.WithLogger(quietLog))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
					t.Errorf("SetWriteDeadline: %v", err)
				}
				if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
					t.Errorf("SetReadDeadline: %v", err)
				}
				session.MustFromContext(r.Context()).Set("k", "v")
				if r.URL.Path != "/hijack" {
					io.WriteString(w, "ok")
					return
				}
				conn, brw, err := rc.Hijack()
				if p.h2 {
					if err == nil {
						t.Error("Hijack on HTTP/2 succeeded")
					}
					return
				}
				if err != nil {
					t.Fatalf("Hijack: %v", err)
				}
				defer conn.Close()
				brw.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
				brw.Flush()
			}))
			served := make(chan struct{}, 2)
			srv := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() { served <- struct{}{} }()
				basicOutside(h).ServeHTTP(w, r)
			}), p.h2)
			if resp := getProto(t, srv, p.h2, "/"); len(resp.Cookies()) != 1 {
				t.Errorf("no session cookie after setting deadlines")
			}
			<-served
			if p.h2 {
				getProto(t, srv, p.h2, "/hijack")
				return
			}
			saves := store.saves.Load()
			resp := getProto(t, srv, p.h2, "/hijack")
			<-served // the middleware has finished with the request
			if resp.StatusCode != http.StatusNoContent || len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("hijacked response: %d %v, want the handler's own 204 and nothing from the session", resp.StatusCode, resp.Header)
			}
			if n := store.saves.Load() - saves; n != 0 {
				t.Errorf("the session of a hijacked connection was saved %d times: the hijack did not reach the session", n)
			}
		})
	}
}

// sendRaw sends a request with the Cookie header given verbatim.
func sendRaw(t *testing.T, ev *env, method, path, cookie string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ev.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := ev.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// Cookie tossing: a sibling subdomain or a plain-HTTP response can plant a
// second cookie of the session's name, which the browser sends first. The
// user's own valid cookie still wins, and the session is neither replaced
// nor given a new cookie.
func TestTossedCookieDoesNotShadowTheValidOne(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	ev.expectWith(c).POST("/set/k/v").Expect().Status(http.StatusOK)
	valid := ev.sessionCookie(c).Value
	forged := strings.Repeat("A", 40)
	for _, cookie := range []string{
		"session=garbage; session=" + valid,
		"session=" + forged + "; other=1; session=" + valid,
		"session=; session=" + valid,
	} {
		resp, body := sendRaw(t, ev, "GET", "/get/k", cookie)
		if body != "v" {
			t.Errorf("Cookie: %s: got %q, want the session of the valid cookie", cookie, body)
		}
		if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
			t.Errorf("Cookie: %s: the response sets %d cookies, want none", cookie, n)
		}
	}
	// The number of cookies tried is bounded: a valid cookie behind many
	// tossed ones is not looked at.
	var many []string
	for range 20 {
		many = append(many, "session=garbage")
	}
	if _, body := sendRaw(t, ev, "GET", "/get/k", strings.Join(append(many, "session="+valid), "; ")); body != "-" {
		t.Errorf("a valid cookie behind 20 tossed ones was used: %q", body)
	}
}

// signedAt returns a cookie value for id signed with key for the cookie
// called name at time at, in the format of cookies.Signer (securecookie:
// base64url of "timestamp|base64url(id)|HMAC-SHA256(name|timestamp|base64url(id))").
func signedAt(key []byte, name, id string, at time.Time) string {
	val := base64.URLEncoding.EncodeToString([]byte(id))
	body := fmt.Sprintf("%d|%s", at.Unix(), val)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(name + "|" + body))
	return base64.URLEncoding.EncodeToString(append([]byte(body+"|"), mac.Sum(nil)...))
}

var signingKey = []byte("k3Qv9zR2mX7pL0tW8yB4nC6hJ1sD5fGe")

// The signature's age limit is the longest lifetime the manager can grant:
// with WithLifetime(1h), a cookie signed 30 days ago is refused without a
// store round trip; remember-me lifetimes raise the limit only as far as
// WithMaxLifetime allows, and SetLifetime cannot go beyond it.
func TestCookieAgeLimitIsTheLongestLifetime(t *testing.T) {
	id := strings.Repeat("x", 43)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name   string
		opts   []session.Option
		age    time.Duration
		lookup bool
	}{
		{"1h lifetime, 30 days old", []session.Option{session.WithLifetime(time.Hour)}, 30 * day, false},
		{"1h lifetime, 2h old", []session.Option{session.WithLifetime(time.Hour)}, 2 * time.Hour, false},
		{"1h lifetime, 30 min old", []session.Option{session.WithLifetime(time.Hour)}, 30 * time.Minute, true},
		{"default lifetime, 2 days old", nil, 2 * day, false},
		{"remember me 30 days, 10 days old", []session.Option{session.WithLifetime(time.Hour), session.WithMaxLifetime(30 * day)}, 10 * day, true},
		{"remember me 30 days, 31 days old", []session.Option{session.WithLifetime(time.Hour), session.WithMaxLifetime(30 * day)}, 31 * day, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newCountingStore(t)
			m, err := session.New(append([]session.Option{session.WithCookieKeys(signingKey), session.WithStore(store), session.WithLogger(quietLog)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				session.MustFromContext(r.Context()).Has("k")
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(&http.Cookie{Name: "session", Value: signedAt(signingKey, "session", id, time.Now().Add(-tc.age))})
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got := store.Loads.Load() == 1; got != tc.lookup {
				t.Errorf("store loads: %d, want a lookup: %v", store.Loads.Load(), tc.lookup)
			}
		})
	}

	// SetLifetime stays within the manager's longest lifetime.
	for _, tc := range []struct {
		opts []session.Option
		life time.Duration
		ok   bool
	}{
		{nil, 12 * time.Hour, true},
		{nil, 2 * day, false},
		{[]session.Option{session.WithMaxLifetime(30 * day)}, 30 * day, true},
		{[]session.Option{session.WithMaxLifetime(30 * day)}, 31 * day, false},
	} {
		m, err := session.New(append([]session.Option{session.WithSecret(testSecret), session.WithLogger(quietLog)}, tc.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got error
		m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = session.MustFromContext(r.Context()).SetLifetime(time.Hour, tc.life)
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		m.Close()
		if (got == nil) != tc.ok || (got != nil && !errors.Is(got, session.ErrLifetimeTooLong)) {
			t.Errorf("SetLifetime(1h, %v) with %d options: %v", tc.life, len(tc.opts), got)
		}
	}

	// The longest lifetime cannot be shorter than the lifetime.
	if _, err := session.New(session.WithSecret(testSecret), session.WithLifetime(2*day), session.WithMaxLifetime(day)); !errors.Is(err, session.ErrInvalidConfig) {
		t.Errorf("WithMaxLifetime below WithLifetime: %v", err)
	}
}

// A handler under http.TimeoutHandler commits the session explicitly, then
// sets a cookie of its own. TimeoutHandler copies its buffered header map
// over the response's, which used to drop the session cookie: it is in
// the final response, next to the handler's.
func TestExplicitCommitUnderTimeoutHandlerKeepsTheCookie(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Set("k", "v"); err != nil {
			t.Error(err)
		}
		if err := s.Commit(); err != nil {
			t.Error(err)
		}
		http.SetCookie(w, &http.Cookie{Name: "pref", Value: "dark"})
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "ok")
	}), time.Minute, "timeout"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	names := map[string]bool{}
	for _, c := range rec.Result().Cookies() {
		names[c.Name] = true
	}
	if !names["session"] || !names["pref"] {
		t.Errorf("cookies of the final response: %v, want session and pref", rec.Header().Values("Set-Cookie"))
	}
	if cc := rec.Header().Get("Cache-Control"); strings.Contains(cc, "public") {
		t.Errorf("Cache-Control %q lets shared caches keep the session cookie", cc)
	}
}

// Every response of a request that used its session varies on the cookie
// (its content may come from the session), with or without a Set-Cookie;
// a response that sets the cookie is also kept out of caches. A request
// that never touches its session gets neither.
func TestVaryCookieOnEveryResponseThatUsedTheSession(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	e := ev.expectWith(c)
	set := e.POST("/set/k/v").Expect().Status(http.StatusOK)
	set.Header("Vary").IsEqual("Cookie")
	set.Header("Cache-Control").IsEqual("no-store")
	set.Cookie("session").Value().NotEmpty()

	read := e.GET("/get/k").Expect().Status(http.StatusOK)
	read.Body().IsEqual("v")
	if len(read.Raw().Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a read set a cookie: %v", read.Raw().Header.Values("Set-Cookie"))
	}
	read.Header("Vary").IsEqual("Cookie")

	anon := ev.expect().GET("/get/k").Expect().Status(http.StatusOK)
	anon.Header("Vary").IsEqual("Cookie")

	untouched := e.GET("/untouched").Expect().Status(http.StatusOK)
	if v := untouched.Raw().Header.Values("Vary"); len(v) != 0 {
		t.Errorf("a request that did not use its session: Vary %v", v)
	}

	// With the token in a header, responses vary on that header.
	tev := newEnv(t, session.WithTokenHeader(""))
	resp, _ := sendRaw(t, tev, "GET", "/get/k", "")
	if got := resp.Header.Get("Vary"); got != session.DefaultTokenHeader {
		t.Errorf("token mode: Vary %q, want %q", got, session.DefaultTokenHeader)
	}
}

// A manager that can tell it serves a cookie outliving the browser session
// without Secure says so once: at New when the configuration says so
// (SecureNever with persistent cookies), else at the first such cookie
// (a plain-HTTP request, as behind a TLS-terminating proxy without
// WithTrustForwardedProto). Secure cookies and browser-session cookies
// cause no warning.
func TestInsecurePersistentCookieIsWarnedOnce(t *testing.T) {
	const warning = "without the Secure attribute"
	login := func(remember bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.MustFromContext(r.Context())
			s.Renew()
			if remember {
				if err := s.SetLifetime(time.Hour, 30*24*time.Hour); err != nil {
					t.Error(err)
				}
			}
			io.WriteString(w, "ok")
		})
	}
	for _, tc := range []struct {
		name     string
		opts     []session.Option
		remember bool
		proto    string // X-Forwarded-Proto
		tls      bool
		atNew    int
		after    int
	}{
		{"plain HTTP remember me", nil, true, "", false, 0, 1},
		{"plain HTTP browser session", nil, false, "", false, 0, 0},
		{"TLS remember me", nil, true, "", true, 0, 0},
		{"trusted proxy remember me", []session.Option{session.WithTrustForwardedProto()}, true, "https", false, 0, 0},
		{"untrusted proxy remember me", nil, true, "https", false, 0, 1},
		{"secure always", []session.Option{session.WithCookie(cookies.Config{Secure: cookies.SecureAlways})}, true, "", false, 0, 0},
		{"secure never, persistent", []session.Option{session.WithCookie(cookies.Config{Secure: cookies.SecureNever}), session.WithCookieLifetime(time.Hour)}, true, "", true, 1, 1},
		{"secure never, browser session", []session.Option{session.WithCookie(cookies.Config{Secure: cookies.SecureNever}), session.WithMaxLifetime(24 * time.Hour)}, false, "", true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &sessiontest.LogBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, nil))
			m, err := session.New(append([]session.Option{session.WithSecret(testSecret), session.WithLogger(logger), session.WithMaxLifetime(30 * 24 * time.Hour)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if n := strings.Count(logs.String(), warning); n != tc.atNew {
				t.Errorf("warnings at New: %d, want %d: %s", n, tc.atNew, logs)
			}
			h := m.Middleware(login(tc.remember))
			for range 3 {
				url := "http://example.com/login"
				if tc.tls {
					url = "https://example.com/login"
				}
				req := httptest.NewRequest("POST", url, nil)
				if tc.proto != "" {
					req.Header.Set("X-Forwarded-Proto", tc.proto)
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			if n := strings.Count(logs.String(), warning); n != tc.after {
				t.Errorf("warnings after three logins: %d, want %d: %s", n, tc.after, logs)
			}
		})
	}
}

// Secrets that are obviously not random are refused, with a message that
// says how to make one; random ones, in any of the usual encodings, pass.
func TestWeakSecretsAreRefused(t *testing.T) {
	for _, weak := range []string{
		strings.Repeat("a", 32),
		"changeme-changeme-changeme-chang",
		strings.Repeat("ab", 20),
		"0123456789abcdef0123456789abcdef",
		"abcdefghijklmnopqrstuvwxyzABCDEF",
		strings.Repeat("secret", 8),
		strings.Repeat("0", 31) + "1",
	} {
		for name, opt := range map[string]session.Option{
			"WithSecret":     session.WithSecret([]byte(weak)),
			"WithCookieKeys": session.WithCookieKeys([]byte(weak)),
		} {
			_, err := session.New(opt)
			if !errors.Is(err, session.ErrWeakSecret) || !errors.Is(err, session.ErrInvalidConfig) {
				t.Errorf("%s(%q): %v, want ErrWeakSecret", name, weak, err)
				continue
			}
			if !strings.Contains(err.Error(), "openssl rand") {
				t.Errorf("%s(%q): the message does not say how to generate a secret: %v", name, weak, err)
			}
		}
	}
	// Random secrets as people generate them.
	raw := make([]byte, 32)
	for i := range 200 {
		rand.Read(raw)
		for _, s := range [][]byte{
			raw,
			[]byte(hex.EncodeToString(raw[:16])),
			[]byte(base64.StdEncoding.EncodeToString(raw)),
			[]byte(rand.Text() + rand.Text()),
		} {
			m, err := session.New(session.WithSecret(s), session.WithCookieKeys(s))
			if err != nil {
				t.Fatalf("round %d: random secret %q refused: %v", i, s, err)
			}
			m.Close()
		}
	}
}

// Each tossed cookie is a security event, also when the user's own cookie
// behind it wins.
func TestTossedCookiesAreAudited(t *testing.T) {
	ev := newEnv(t)
	c := ev.client()
	ev.expectWith(c).POST("/set/k/v").Expect().Status(http.StatusOK)
	valid := ev.sessionCookie(c).Value
	before := strings.Count(ev.logs.String(), "rejected session token")
	if _, body := sendRaw(t, ev, "GET", "/get/k", "session=garbage; session=junk; session="+valid); body != "v" {
		t.Fatalf("got %q", body)
	}
	if n := strings.Count(ev.logs.String(), "rejected session token") - before; n != 2 {
		t.Errorf("%d tampered-cookie events for two tossed cookies:\n%s", n, ev.logs)
	}
}
