package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionkit/session/internal/pgtest"
)

// TestSQLStores runs the shop on each SQL store with SESSION_STORE_URL
// alone: a visitor fills a cart and logs in, the app restarts (a new
// instance on the same database, with the same secret), and the visitor
// finds the cart and the login again.
func TestSQLStores(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sessions.db")
		testSurvivesRestart(t, "sqlite://"+path, "sqlite")
	})
	t.Run("postgres", func(t *testing.T) {
		pgtest.Require(t)
		srv := pgtest.Start(t)
		testSurvivesRestart(t, srv.URL("")+"&table_prefix=shop_", "postgres")
	})
}

func testSurvivesRestart(t *testing.T, storeURL, backend string) {
	first := startShop(t, config{StoreURL: storeURL})
	c := first.client()
	e := first.expectWith(c)
	add(e, "p003", 2)
	login(e, "alice", "wonderland")
	add(e, "p001", 1)
	if got := getCart(e).quantities(); got["p003"] != 2 || got["p001"] != 1 || len(got) != 2 {
		t.Fatalf("cart before the restart: %v", got)
	}
	// The store's metrics carry its name.
	resp, err := c.Get(first.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `backend="`+backend+`"`) {
		t.Errorf("/metrics has no series with backend=%q", backend)
	}
	cookie := first.sessionCookie(c)
	first.close()

	second := startShop(t, config{StoreURL: storeURL})
	if got := second.sessionCookie(c); got != cookie {
		t.Fatal("the cookie jar does not send the session cookie to the new instance")
	}
	e = second.expectWith(c)
	if got := getCart(e).quantities(); got["p003"] != 2 || got["p001"] != 1 || len(got) != 2 {
		t.Fatalf("cart after the restart: %v, want p003×2 and p001×1", got)
	}
	e.GET("/api/me").Expect().Status(http.StatusOK).JSON().Object().IsEqual(map[string]string{"user": "alice"})
	// The session goes on: a change after the restart is kept too, and
	// another visitor starts with an empty cart.
	add(e, "p002", 3)
	if got := getCart(e).quantities(); got["p002"] != 3 || len(got) != 3 {
		t.Fatalf("cart after a change on the new instance: %v", got)
	}
	if got := getCart(second.expect()).quantities(); len(got) != 0 {
		t.Fatalf("a new visitor's cart: %v", got)
	}
}
