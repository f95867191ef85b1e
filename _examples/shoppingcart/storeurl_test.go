package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/sessionkit/session/internal/redistest"
)

func TestSessionStoreURL(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		s := startShop(t, config{StoreURL: "memory://?max_sessions=1000"})
		e := s.expect()
		add(e, "p003", 2)
		if got := getCart(e).quantities(); got["p003"] != 2 {
			t.Fatalf("cart: %v", got)
		}
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		r := redistest.StartServer(t)
		s := startShop(t, config{StoreURL: r.URL() + "?key_prefix=shop-url:"})
		e := s.expect()
		add(e, "p003", 2)
		if got := getCart(e).quantities(); got["p003"] != 2 {
			t.Fatalf("cart: %v", got)
		}
		keys, err := r.Client().Keys(t.Context(), "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatal("no key in Redis")
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "shop-url:") {
				t.Errorf("key %q outside the prefix key_prefix set", k)
			}
		}
	})
	t.Run("both", func(t *testing.T) {
		_, err := newApp(config{StoreURL: "memory://", RedisURL: "redis://127.0.0.1:1/0", Secret: testSecret, Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "not both") {
			t.Fatalf("newApp with both URLs: %v", err)
		}
	})
	t.Run("unknown scheme", func(t *testing.T) {
		_, err := newApp(config{StoreURL: "nosuch://x", Secret: testSecret, Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "SESSION_STORE_URL") {
			t.Fatalf("newApp with an unknown scheme: %v", err)
		}
	})
}
