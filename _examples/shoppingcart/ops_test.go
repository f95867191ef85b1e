package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/internal/redistest"
)

func TestCartSurvivesRestartOnRedis(t *testing.T) {
	redistest.Require(t)
	r := redistest.StartServer(t)
	first := startShop(t, config{RedisURL: r.URL()})
	c := first.client()
	e := first.expectWith(c)
	add(e, "p003", 2)
	add(e, "p077", 1)
	login(e, "alice", "wonderland")
	cookie := first.sessionCookie(c)
	first.close()

	// A new instance with the same secret reads the same sessions.
	second := startShop(t, config{RedisURL: r.URL()})
	b := second.bare()
	var cart cartJSON
	b.GET("/api/cart").WithCookie(cookieName, cookie).Expect().Status(http.StatusOK).JSON().Decode(&cart)
	if got := cart.quantities(); len(got) != 2 || got["p003"] != 2 || got["p077"] != 1 {
		t.Fatalf("cart after restart: %v", got)
	}
	b.GET("/api/me").WithCookie(cookieName, cookie).Expect().Status(http.StatusOK).
		JSON().Object().Value("user").IsEqual("alice")

	// An instance with another secret cannot use the cookie: a fresh,
	// empty session.
	other := startShop(t, config{RedisURL: r.URL(), Secret: []byte("another-secret-of-the-shop-0123456789abcdef")})
	expectError(other.bare().GET("/api/me").WithCookie(cookieName, cookie).Expect(), http.StatusUnauthorized)
	other.bare().GET("/api/cart").WithCookie(cookieName, cookie).Expect().Status(http.StatusOK).
		JSON().Object().Value("count").IsEqual(0)
}

func TestHealthz(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		s := startShop(t, config{})
		r := s.expect().GET("/healthz").Expect().Status(http.StatusOK)
		r.HasContentType("application/json")
		r.Header("Set-Cookie").IsEmpty()
		obj := r.JSON().Object()
		obj.Value("status").IsEqual("healthy")
		obj.Value("stores").Array().Value(0).Object().Value("name").IsEqual("memstore")
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		r := redistest.StartServer(t)
		s := startShop(t, config{RedisURL: r.URL()})
		obj := s.expect().GET("/healthz").Expect().Status(http.StatusOK).JSON().Object()
		obj.Value("status").IsEqual("healthy")
		stores := obj.Value("stores").Array()
		stores.Length().IsEqual(2)
		stores.Value(0).Object().ContainsSubset(map[string]any{"name": "redisstore", "role": "primary", "status": "healthy"})
		stores.Value(1).Object().ContainsSubset(map[string]any{"name": "memstore", "role": "fallback", "status": "healthy"})

		// Redis down: sessions are still served, from memory.
		r.Kill()
		down := s.expect().GET("/healthz").Expect().Status(http.StatusOK).JSON().Object()
		down.Value("status").IsEqual("degraded")
		down.Value("stores").Array().Value(0).Object().ContainsSubset(map[string]any{"role": "primary", "status": "down"})
		down.Value("stores").Array().Value(0).Object().Value("error").String().NotEmpty().NotContains("127.0.0.1")

		r.Restart(false)
		s.expect().GET("/healthz").Expect().Status(http.StatusOK).JSON().Object().Value("status").IsEqual("healthy")
	})
}

func TestMetrics(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	add(e, "p001", 1)
	login(e, "bob", "builder")
	r := e.GET("/metrics").Expect().Status(http.StatusOK)
	r.Header("Set-Cookie").IsEmpty()
	body := r.Body().Raw()
	for _, want := range []string{
		`session_events_total{event="created"} 1`,
		`session_events_total{event="renewed"} 1`,
		`session_store_operations_total{backend="memory",operation="save",result="ok"} 1`,
		`session_store_operations_total{backend="memory",operation="renew",result="ok"} 1`,
		"session_size_bytes_count 2",
		"go_goroutines",
		"process_start_time_seconds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}

	cfg, err := configFromEnv(env(nil), logger)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != "8080" || cfg.RedisURL != "" || len(cfg.Secret) < 32 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "SESSION_SECRET") {
		t.Fatalf("no warning about the random secret: %s", logs.String())
	}
	again, _ := configFromEnv(env(nil), logger)
	if string(again.Secret) == string(cfg.Secret) {
		t.Fatal("two random secrets are equal")
	}

	secret := "a-secret-that-is-long-enough-0123456789"
	cfg, err = configFromEnv(env(map[string]string{"PORT": "9090", "REDIS_URL": "redis://127.0.0.1:1/0", "SESSION_SECRET": secret}), logger)
	if err != nil || cfg.Port != "9090" || cfg.RedisURL != "redis://127.0.0.1:1/0" || string(cfg.Secret) != secret {
		t.Fatalf("configFromEnv = %+v, %v", cfg, err)
	}

	for _, bad := range []map[string]string{
		{"PORT": "http"},
		{"PORT": "0"},
		{"PORT": "70000"},
		{"SESSION_SECRET": "short"},
	} {
		if _, err := configFromEnv(env(bad), logger); err == nil {
			t.Errorf("configFromEnv(%v) accepted it", bad)
		}
	}
	if _, err := newApp(config{RedisURL: "ftp://127.0.0.1", Secret: testSecret, Logger: logger}); err == nil {
		t.Error("newApp accepted a non-Redis URL")
	}
	if _, err := newApp(config{Secret: []byte("short")}); err == nil {
		t.Error("newApp accepted a short secret")
	}
}

// The app starts while Redis is down (nothing is contacted at start).
func TestAppStartsWithoutRedis(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := startShop(t, config{RedisURL: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"})
	s.expect().GET("/api/products").Expect().Status(http.StatusOK)
}

// serve stops accepting requests when its context ends and lets the
// requests in flight finish.
func TestServeShutsDownCleanly(t *testing.T) {
	logs := &logBuffer{}
	a, err := newApp(config{Secret: testSecret, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, a, ln, slog.New(slog.NewTextHandler(logs, nil))) }()

	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + "/api/products")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if _, err := client.Get(base + "/api/products"); err == nil {
		t.Fatal("the server still answers after shutdown")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown log: %s", logs.String())
	}
}
