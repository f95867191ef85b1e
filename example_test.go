package session_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sessionkit/session"
)

// exampleSecret stands for a secret read from the environment or a vault:
// at least 32 random bytes.
var exampleSecret = []byte("example secret: use 32+ random bytes in production")

// do sends one request to h, with the cookies of the last response, and
// returns the response.
func do(h http.Handler, method, target string, cookies []*http.Cookie) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func Example() {
	m, err := session.New(session.WithSecret(exampleSecret))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /visit", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		n, _, err := session.Get[int](s, "visits")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.Set("visits", n+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visit %d", n+1)
	})
	h := m.Middleware(mux)

	first := do(h, "POST", "https://example.com/visit", nil)
	second := do(h, "POST", "https://example.com/visit", first.Cookies())
	body := make([]byte, 16)
	n, _ := second.Body.Read(body)
	fmt.Println(string(body[:n]))
	c := first.Cookies()[0]
	fmt.Println(c.Name, c.HttpOnly, c.Secure, c.SameSite == http.SameSiteLaxMode)
	// Output:
	// visit 2
	// session true true true
}

func ExampleGet() {
	type Cart struct {
		Items []string `json:"items"`
	}
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if r.Method == "POST" {
			s.Set("cart", Cart{Items: []string{"lamp", "rug"}})
			return
		}
		cart, ok, err := session.Get[Cart](s, "cart")
		fmt.Println(cart.Items, ok, err)
		_, ok, err = session.Get[Cart](s, "wishlist")
		fmt.Println(ok, err)
	}))
	resp := do(h, "POST", "https://example.com/", nil)
	do(h, "GET", "https://example.com/", resp.Cookies())
	// Output:
	// [lamp rug] true <nil>
	// false <nil>
}

func ExamplePop() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if r.Method == "POST" {
			s.Set("flash", "Saved!")
			return
		}
		msg, ok, _ := session.Pop[string](s, "flash")
		fmt.Printf("%q %v\n", msg, ok)
	}))
	cookies := do(h, "POST", "https://example.com/", nil).Cookies()
	do(h, "GET", "https://example.com/", cookies)
	do(h, "GET", "https://example.com/", cookies)
	// Output:
	// "Saved!" true
	// "" false
}

func ExampleSession_Renew() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		switch r.URL.Path {
		case "/cart":
			s.Set("cart", []string{"lamp"})
		case "/login":
			// After checking the password: a new ID, the same data.
			if err := s.Renew(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			s.SetUser("alice")
		case "/whoami":
			user, _ := s.User()
			cart, _, _ := session.Get[[]string](s, "cart")
			fmt.Printf("user=%q cart=%v\n", user, cart)
		}
	}))
	anon := do(h, "POST", "https://example.com/cart", nil).Cookies()
	login := do(h, "POST", "https://example.com/login", anon).Cookies()
	fmt.Println("ID changed:", anon[0].Value != login[0].Value)
	do(h, "GET", "https://example.com/whoami", login)
	do(h, "GET", "https://example.com/whoami", anon) // the old ID is worthless now
	// Output:
	// ID changed: true
	// user="alice" cart=[lamp]
	// user="" cart=[]
}

func ExampleManager_RevokeUser() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if r.URL.Path == "/login" {
			s.Renew()
			s.SetUser("alice")
			return
		}
		user, _ := s.User()
		fmt.Printf("user=%q\n", user)
	}))
	laptop := do(h, "POST", "https://example.com/login", nil).Cookies()
	phone := do(h, "POST", "https://example.com/login", nil).Cookies()

	ctx := context.Background()
	sessions, _ := m.UserSessions(ctx, "alice")
	fmt.Println("sessions:", len(sessions))
	n, _ := m.RevokeUser(ctx, "alice") // log out everywhere
	fmt.Println("revoked:", n)
	do(h, "GET", "https://example.com/", laptop)
	do(h, "GET", "https://example.com/", phone)
	// Output:
	// sessions: 2
	// revoked: 2
	// user=""
	// user=""
}

func ExampleWithTokenHeader() {
	m, _ := session.New(session.WithSecret(exampleSecret), session.WithTokenHeader("Session-Token"))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if r.Method == "POST" {
			s.Set("scope", "read")
			return
		}
		scope, _, _ := session.Get[string](s, "scope")
		fmt.Println("scope:", scope)
	}))
	resp := do(h, "POST", "https://api.example.com/", nil)
	token := resp.Header.Get("Session-Token")
	fmt.Println("cookies:", len(resp.Cookies()), "token:", token != "")

	req := httptest.NewRequest("GET", "https://api.example.com/", nil)
	req.Header.Set("Authorization", "Session "+token)
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// cookies: 0 token: true
	// scope: read
}

func ExampleSession_Destroy() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		switch r.URL.Path {
		case "/login":
			s.Renew()
			s.SetUser("alice")
		case "/logout":
			s.Destroy() // deletes the record and expires the cookie
		}
	}))
	login := do(h, "POST", "https://example.com/login", nil).Cookies()
	logout := do(h, "POST", "https://example.com/logout", login)
	c := logout.Cookies()[0]
	fmt.Printf("cookie %q expired: %v\n", c.Name, c.MaxAge < 0)
	sessions, _ := m.UserSessions(context.Background(), "alice")
	fmt.Println("alice's sessions:", len(sessions))
	// Output:
	// cookie "session" expired: true
	// alice's sessions: 0
}

func ExampleSession_SetLifetime() {
	// Browser-session cookies by default; remember me for up to 30 days.
	m, _ := session.New(session.WithSecret(exampleSecret), session.WithMaxLifetime(30*24*time.Hour))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.SetUser("alice")
		if r.FormValue("remember") == "on" {
			// Remember me: 7 days idle, 30 days at most, persistent cookie.
			s.SetLifetime(7*24*time.Hour, 30*24*time.Hour)
		}
	}))
	plain := do(h, "POST", "https://example.com/login", nil).Cookies()[0]
	remembered := do(h, "POST", "https://example.com/login?remember=on", nil).Cookies()[0]
	fmt.Println("plain login, Max-Age set:", plain.MaxAge > 0)
	fmt.Println("remember me, days:", remembered.MaxAge/86400)
	// Output:
	// plain login, Max-Age set: false
	// remember me, days: 30
}

func ExampleSession_Commit() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		s.Set("order", "A-1001")
		// Save now, to know the order is in the session before
		// confirming it; the middleware would otherwise save just
		// before the response.
		if err := s.Commit(); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "confirmed")
	}))
	resp := do(h, "POST", "https://example.com/checkout", nil)
	fmt.Println(resp.StatusCode, len(resp.Cookies()))
	// Output:
	// 200 1
}

func ExampleWithFailover() {
	// primary is usually a redisstore.Store; here a store that is down.
	primary := &unreachableStore{}
	m, err := session.New(session.WithSecret(exampleSecret), session.WithFailover(primary))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Set("cart", []string{"lamp"})
	}))
	resp := do(h, "POST", "https://example.com/cart", nil)
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Session-Degraded"))
	// Output:
	// 200 true
}

func ExampleManager_HealthHandler() {
	m, _ := session.New(session.WithSecret(exampleSecret))
	defer m.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /healthz/session", m.HealthHandler())
	resp := do(mux, "GET", "https://example.com/healthz/session", nil)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	// Output:
	// 200 application/json
}
