package main

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/sessionkit/session/cookies"
)

// A malformed JSON body gets a plain 400 message: nothing of Go's decoder
// (type names, struct fields, "unmarshal") reaches the client. The detail
// goes to the app's log.
func TestMalformedJSONDoesNotEchoDecoderInternals(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	for _, c := range []struct{ path, body, want string }{
		{"/api/login", `{"username":1,"password":"x"}`, "malformed JSON: a value has the wrong type"},
		{"/api/cart/items", `{"productId":"p001","quantity":"2"}`, "malformed JSON: a value has the wrong type"},
		{"/api/cart/items", `{"productId":"p001","quantity":1.5}`, "malformed JSON: a value has the wrong type"},
		{"/api/login", `{"username":"alice"`, "malformed JSON"},
		{"/api/login", `{"username":"alice",}`, "malformed JSON"},
		{"/api/login", `[1]`, "malformed JSON: a value has the wrong type"},
		{"/api/login", `{"username":"alice"} {}`, "malformed JSON: data after the value"},
	} {
		r := e.POST(c.path).WithHeader("Content-Type", "application/json").WithBytes([]byte(c.body)).Expect()
		r.Status(http.StatusBadRequest)
		msg := r.JSON().Object().Value("error").String().Raw()
		if msg != c.want {
			t.Errorf("%s %s: error %q, want %q", c.path, c.body, msg, c.want)
		}
		for _, internal := range []string{"Go ", "struct", "unmarshal", "loginRequest", "addItemRequest", "int", "json:"} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s %s: error %q shows the decoder's %q", c.path, c.body, msg, internal)
			}
		}
	}
	if logs := s.logs.String(); !strings.Contains(logs, "loginRequest") {
		t.Errorf("the decoder's detail is not in the log:\n%s", logs)
	}
}

// COOKIE_SECURE and TRUST_PROXY: the production settings give the session
// cookie Secure even though the shop itself is reached over plain HTTP
// (behind a proxy that terminates TLS); the default does so only for HTTPS
// requests. Bad values are refused at start.
func TestCookieSecureSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	logger := slog.New(slog.NewTextHandler(&logBuffer{}, nil))
	cfg, err := configFromEnv(env(map[string]string{"COOKIE_SECURE": "always", "TRUST_PROXY": "true"}), logger)
	if err != nil || cfg.CookieSecure != cookies.SecureAlways || !cfg.TrustProxy {
		t.Fatalf("configFromEnv: %+v, %v", cfg, err)
	}
	cfg, err = configFromEnv(env(nil), logger)
	if err != nil || cfg.CookieSecure != cookies.SecureAuto || cfg.TrustProxy {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for _, bad := range []map[string]string{{"COOKIE_SECURE": "yes"}, {"COOKIE_SECURE": "never"}, {"TRUST_PROXY": "maybe"}} {
		if _, err := configFromEnv(env(bad), logger); err == nil {
			t.Errorf("configFromEnv(%v) accepted it", bad)
		}
	}

	login := func(t *testing.T, cfg config, forwardedProto string) *http.Cookie {
		s := startShop(t, cfg)
		req := s.expect().POST("/api/login").WithJSON(map[string]string{"username": "alice", "password": "wonderland"})
		if forwardedProto != "" {
			req = req.WithHeader("X-Forwarded-Proto", forwardedProto)
		}
		resp := req.Expect().Status(http.StatusOK).Raw()
		for _, c := range resp.Cookies() {
			if c.Name == cookieName {
				return c
			}
		}
		t.Fatal("no session cookie")
		return nil
	}
	for _, tc := range []struct {
		name   string
		cfg    config
		proto  string
		secure bool
	}{
		{"always", config{CookieSecure: cookies.SecureAlways}, "", true},
		{"auto behind a trusted proxy", config{TrustProxy: true}, "https", true},
		{"auto, header not trusted", config{}, "https", false},
		{"auto over plain HTTP", config{}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := login(t, tc.cfg, tc.proto).Secure; got != tc.secure {
				t.Errorf("Secure = %v, want %v", got, tc.secure)
			}
		})
	}
}
