package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProductsListsTheCatalogWithoutASession(t *testing.T) {
	s := startShop(t, config{})
	r := s.expect().GET("/api/products").Expect().Status(http.StatusOK)
	r.HasContentType("application/json")
	r.Header("Set-Cookie").IsEmpty()
	var products []map[string]any
	r.JSON().Decode(&products)
	if len(products) < 100 {
		t.Fatalf("%d products, want at least 100", len(products))
	}
	seen := map[string]bool{}
	for _, p := range products {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range p {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, []string{"id", "name", "price"}) {
			t.Fatalf("product fields %v, want id, name, price", keys)
		}
		id, _ := p["id"].(string)
		name, _ := p["name"].(string)
		price, _ := p["price"].(float64)
		if id == "" || name == "" || seen[id] {
			t.Fatalf("bad or duplicate product %v", p)
		}
		seen[id] = true
		if price <= 0 || price != float64(int64(price)) {
			t.Fatalf("price of %s is %v, want a positive whole number of cents", id, price)
		}
	}
}

func TestCatalogIsDeterministic(t *testing.T) {
	a, b := newCatalog(), newCatalog()
	if !slices.Equal(a.All(), b.All()) {
		t.Fatal("two catalogs differ")
	}
	if p, ok := a.Product("p001"); !ok || p.Name != "Classic Wool Socks" || p.Price != priceOf("Classic Wool Socks") {
		t.Fatalf("p001 = %+v", p)
	}
	if _, ok := a.Product("p999"); ok {
		t.Fatal("p999 exists")
	}
}

func TestEmptyCartCreatesNoSession(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		r := s.expect().GET("/api/cart").Expect().Status(http.StatusOK)
		r.Header("Set-Cookie").IsEmpty()
		r.JSON().Object().IsEqual(map[string]any{"items": []any{}, "count": 0, "total": 0})
	})
}

func TestAddItemsReturnsTheCart(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		e := s.expect()
		p1, _ := s.app.catalog.Product("p001")
		p2, _ := s.app.catalog.Product("p042")

		first := add(e, "p001", 2)
		first.IsEqual(map[string]any{
			"items": []any{map[string]any{"productId": "p001", "name": p1.Name, "price": p1.Price, "quantity": 2}},
			"count": 2, "total": 2 * p1.Price,
		})
		add(e, "p042", 1)
		// A missing quantity means 1; adding again increases the line.
		last := e.POST("/api/cart/items").WithJSON(map[string]string{"productId": "p001"}).
			Expect().Status(http.StatusOK).JSON().Object()
		want := map[string]any{
			"items": []any{
				map[string]any{"productId": "p001", "name": p1.Name, "price": p1.Price, "quantity": 3},
				map[string]any{"productId": "p042", "name": p2.Name, "price": p2.Price, "quantity": 1},
			},
			"count": 4, "total": 3*p1.Price + p2.Price,
		}
		last.IsEqual(want)
		e.GET("/api/cart").Expect().Status(http.StatusOK).JSON().Object().IsEqual(want)
	})
}

func TestAddItemErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		e := s.expect()
		add(e, "p005", 1)
		big := `{"productId":"p001","quantity":1,"pad":"` + strings.Repeat("x", 64<<10) + `"}`
		cases := []struct {
			name   string
			body   string
			status int
		}{
			{"unknown product", `{"productId":"p999","quantity":1}`, http.StatusNotFound},
			{"product of another shape", `{"productId":"../p001","quantity":1}`, http.StatusNotFound},
			{"quantity 0", `{"productId":"p001","quantity":0}`, http.StatusBadRequest},
			{"quantity -1", `{"productId":"p001","quantity":-1}`, http.StatusBadRequest},
			{"quantity 100", `{"productId":"p001","quantity":100}`, http.StatusBadRequest},
			{"fractional quantity", `{"productId":"p001","quantity":1.5}`, http.StatusBadRequest},
			{"quantity as string", `{"productId":"p001","quantity":"2"}`, http.StatusBadRequest},
			{"missing product", `{"quantity":1}`, http.StatusBadRequest},
			{"truncated JSON", `{"productId":"p001"`, http.StatusBadRequest},
			{"empty body", ``, http.StatusBadRequest},
			{"array", `[{"productId":"p001"}]`, http.StatusBadRequest},
			{"trailing data", `{"productId":"p001"} {}`, http.StatusBadRequest},
			{"not JSON", `productId=p001`, http.StatusBadRequest},
			{"body over 64 KiB", big, http.StatusRequestEntityTooLarge},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.POST("/api/cart/items").
					WithHeader("Content-Type", "application/json").WithBytes([]byte(c.body)).Expect()
				expectError(r, c.status)
			})
		}
		// None of them changed the cart.
		if got := getCart(e).quantities(); len(got) != 1 || got["p005"] != 1 {
			t.Fatalf("cart after refused additions: %v", got)
		}
		// A body just under the limit is read.
		ok := `{"productId":"p001","quantity":1,"pad":"` + strings.Repeat("x", 64<<10-60) + `"}`
		e.POST("/api/cart/items").WithHeader("Content-Type", "application/json").WithBytes([]byte(ok)).Expect().Status(http.StatusOK)
	})
}

func TestQuantityOfOneProductStaysWithin99(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		e := s.expect()
		add(e, "p001", 99).Value("count").IsEqual(99)
		expectError(e.POST("/api/cart/items").WithJSON(map[string]any{"productId": "p001", "quantity": 1}).Expect(), http.StatusBadRequest)
		if got := getCart(e).quantities()["p001"]; got != 99 {
			t.Fatalf("quantity %d after a refused addition, want 99", got)
		}
	})
}

func TestCartHoldsAtMost100Products(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		e := s.expect()
		all := s.app.catalog.All()
		if len(all) <= maxCartLines {
			t.Fatalf("the catalog has %d products, the test needs more than %d", len(all), maxCartLines)
		}
		for _, p := range all[:maxCartLines] {
			add(e, p.ID, 1)
		}
		msg := expectError(e.POST("/api/cart/items").WithJSON(map[string]any{"productId": all[maxCartLines].ID, "quantity": 1}).Expect(), http.StatusConflict)
		if !strings.Contains(msg, "100") {
			t.Errorf("409 message %q does not give the limit", msg)
		}
		// More of a product already in the cart is still fine.
		add(e, all[0].ID, 1).Value("count").IsEqual(maxCartLines + 1)
		// After a removal there is room again.
		e.DELETE("/api/cart/items/" + all[1].ID).Expect().Status(http.StatusOK)
		add(e, all[maxCartLines].ID, 1)
		c := getCart(e)
		if len(c.Items) != maxCartLines {
			t.Fatalf("%d lines, want %d", len(c.Items), maxCartLines)
		}
	})
}

func TestRemoveItem(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		e := s.expect()
		add(e, "p001", 2)
		add(e, "p002", 1)
		p2, _ := s.app.catalog.Product("p002")
		want := map[string]any{
			"items": []any{map[string]any{"productId": "p002", "name": p2.Name, "price": p2.Price, "quantity": 1}},
			"count": 1, "total": p2.Price,
		}
		e.DELETE("/api/cart/items/p001").Expect().Status(http.StatusOK).JSON().Object().IsEqual(want)
		// Removing what is not in the cart changes nothing.
		e.DELETE("/api/cart/items/p001").Expect().Status(http.StatusOK).JSON().Object().IsEqual(want)
		expectError(e.DELETE("/api/cart/items/p999").Expect(), http.StatusNotFound)
		e.GET("/api/cart").Expect().Status(http.StatusOK).JSON().Object().IsEqual(want)
		e.DELETE("/api/cart/items/p002").Expect().Status(http.StatusOK).JSON().Object().
			IsEqual(map[string]any{"items": []any{}, "count": 0, "total": 0})
	})
}

func TestLoginRenewsTheCookieAndKeepsTheCart(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		c := s.client()
		e := s.expectWith(c)
		add(e, "p007", 3)
		before := s.sessionCookie(c)
		if before == "" {
			t.Fatal("no session cookie after adding to the cart")
		}

		// Refused logins change nothing.
		for _, body := range []map[string]string{
			{"username": "alice", "password": "wrong"},
			{"username": "alice", "password": ""},
			{"username": "mallory", "password": "wonderland"},
			{"username": "bob", "password": "wonderland"},
		} {
			r := e.POST("/api/login").WithJSON(body).Expect()
			expectError(r, http.StatusUnauthorized)
			r.Header("Set-Cookie").IsEmpty()
		}
		expectError(e.POST("/api/login").WithHeader("Content-Type", "application/json").WithBytes([]byte(`{"username":`)).Expect(), http.StatusBadRequest)
		expectError(e.POST("/api/login").WithHeader("Content-Type", "application/json").WithBytes([]byte(`{"username":"alice","password":"`+strings.Repeat("w", 70<<10)+`"}`)).Expect(), http.StatusRequestEntityTooLarge)
		if s.sessionCookie(c) != before {
			t.Fatal("a refused login changed the cookie")
		}

		r := login(e, "alice", "wonderland")
		r.Cookie(cookieName).Value().NotEmpty()
		after := s.sessionCookie(c)
		if after == before {
			t.Fatal("login kept the session cookie")
		}
		e.GET("/api/me").Expect().Status(http.StatusOK).JSON().Object().IsEqual(map[string]string{"user": "alice"})
		if got := getCart(e).quantities(); got["p007"] != 3 || len(got) != 1 {
			t.Fatalf("cart after login: %v", got)
		}

		// The cookie from before the login carries neither the user nor the
		// cart: its record is gone.
		old := s.bare()
		expectError(old.GET("/api/me").WithCookie(cookieName, before).Expect(), http.StatusUnauthorized)
		old.GET("/api/cart").WithCookie(cookieName, before).Expect().Status(http.StatusOK).
			JSON().Object().Value("count").IsEqual(0)
		expectError(old.GET("/api/sessions").WithCookie(cookieName, before).Expect(), http.StatusUnauthorized)
		// And the new one does.
		old.GET("/api/me").WithCookie(cookieName, after).Expect().Status(http.StatusOK).
			JSON().Object().Value("user").IsEqual("alice")
	})
}

func TestMeWithoutLoginIs401(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		e := s.expect()
		r := e.GET("/api/me").Expect()
		expectError(r, http.StatusUnauthorized)
		r.Header("Set-Cookie").IsEmpty()
		add(e, "p001", 1) // an anonymous session is still not logged in
		expectError(e.GET("/api/me").Expect(), http.StatusUnauthorized)
	})
}

func TestLogoutDestroysTheSession(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		c := s.client()
		e := s.expectWith(c)
		add(e, "p010", 1)
		login(e, "bob", "builder")
		cookie := s.sessionCookie(c)

		r := e.POST("/api/logout").Expect().Status(http.StatusNoContent)
		r.Body().IsEmpty()
		r.Cookie(cookieName).MaxAge().Le(0)
		if s.sessionCookie(c) != "" {
			t.Fatal("the browser kept the session cookie after logout")
		}
		expectError(e.GET("/api/me").Expect(), http.StatusUnauthorized)
		e.GET("/api/cart").Expect().Status(http.StatusOK).JSON().Object().Value("count").IsEqual(0)

		// A copy of the old cookie is worthless too.
		old := s.bare()
		expectError(old.GET("/api/me").WithCookie(cookieName, cookie).Expect(), http.StatusUnauthorized)
		old.GET("/api/cart").WithCookie(cookieName, cookie).Expect().Status(http.StatusOK).
			JSON().Object().Value("count").IsEqual(0)

		// Logging out without a session is harmless.
		s.expect().POST("/api/logout").Expect().Status(http.StatusNoContent)
	})
}

func TestSessionsListAndRevokeOthers(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		anon := s.expect()
		expectError(anon.GET("/api/sessions").Expect(), http.StatusUnauthorized)
		expectError(anon.POST("/api/sessions/revoke-others").Expect(), http.StatusUnauthorized)

		// alice on three devices, bob on one.
		devices := make([]*http.Client, 3)
		for i := range devices {
			devices[i] = s.client()
			e := s.expectWith(devices[i])
			add(e, fmt.Sprintf("p%03d", i+1), 1)
			login(e, "alice", "wonderland")
		}
		bob := s.expect()
		login(bob, "bob", "builder")

		here := s.expectWith(devices[0])
		var list struct {
			Sessions []struct {
				ID         string    `json:"id"`
				Created    time.Time `json:"created"`
				LastSeen   time.Time `json:"lastSeen"`
				Expires    time.Time `json:"expires"`
				Persistent bool      `json:"persistent"`
				Current    bool      `json:"current"`
			} `json:"sessions"`
		}
		here.GET("/api/sessions").Expect().Status(http.StatusOK).JSON().Decode(&list)
		if len(list.Sessions) != 3 {
			t.Fatalf("alice has %d sessions listed, want 3: %+v", len(list.Sessions), list.Sessions)
		}
		current := 0
		for i, ses := range list.Sessions {
			if ses.ID == "" || ses.Created.IsZero() || ses.LastSeen.Before(ses.Created) || !ses.Expires.After(ses.LastSeen) {
				t.Errorf("session %d: %+v", i, ses)
			}
			if ses.Current {
				current++
				if i != 0 {
					t.Errorf("the current session is listed at %d, want 0 (oldest first)", i)
				}
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current, want 1", current)
		}

		here.POST("/api/sessions/revoke-others").Expect().Status(http.StatusOK).
			JSON().Object().IsEqual(map[string]int{"revoked": 2})
		for _, d := range devices[1:] {
			e := s.expectWith(d)
			expectError(e.GET("/api/me").Expect(), http.StatusUnauthorized)
			e.GET("/api/cart").Expect().Status(http.StatusOK).JSON().Object().Value("count").IsEqual(0)
		}
		here.GET("/api/me").Expect().Status(http.StatusOK).JSON().Object().Value("user").IsEqual("alice")
		here.GET("/api/sessions").Expect().Status(http.StatusOK).JSON().Object().
			Value("sessions").Array().Length().IsEqual(1)
		here.POST("/api/sessions/revoke-others").Expect().Status(http.StatusOK).
			JSON().Object().IsEqual(map[string]int{"revoked": 0})
		// bob is not affected.
		bob.GET("/api/me").Expect().Status(http.StatusOK).JSON().Object().Value("user").IsEqual("bob")
	})
}

func TestUnknownAPIRoutesAnswerJSON(t *testing.T) {
	s := startShop(t, config{})
	e := s.expect()
	expectError(e.GET("/api/nothing-here").Expect(), http.StatusNotFound)
	r := e.PUT("/api/cart").Expect()
	expectError(r, http.StatusMethodNotAllowed)
	r.Header("Allow").Contains("GET")
	expectError(e.GET("/api/login").Expect(), http.StatusMethodNotAllowed)
	expectError(e.PATCH("/api/cart/items/p001").Expect(), http.StatusMethodNotAllowed)
}

// 50 requests of one session, each adding a different product, run at
// once: the manager merges their change sets, so all 50 land.
func TestConcurrentAdditionsWithOneCookieAllLand(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config) {
		s := startShop(t, cfg)
		c := s.client()
		e := s.expectWith(c)
		add(e, "p001", 1)
		cookie := s.sessionCookie(c)

		const n = 50
		products := s.app.catalog.All()[1 : n+1]
		client := &http.Client{Timeout: 20 * time.Second}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := make(chan struct{})
		for _, p := range products {
			wg.Go(func() {
				<-start
				req, _ := http.NewRequest("POST", s.srv.URL+"/api/cart/items", strings.NewReader(`{"productId":"`+p.ID+`","quantity":2}`))
				req.Header.Set("Content-Type", "application/json")
				req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("adding %s: status %d", p.ID, resp.StatusCode)
				}
				if sc := resp.Header.Get("Set-Cookie"); sc != "" {
					errs <- fmt.Errorf("adding %s changed the cookie: %s", p.ID, sc)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		got := getCart(e).quantities()
		if len(got) != n+1 {
			t.Errorf("%d products in the cart, want %d", len(got), n+1)
		}
		for _, p := range products {
			if got[p.ID] != 2 {
				t.Errorf("%s: quantity %d, want 2", p.ID, got[p.ID])
			}
		}
	})
}
