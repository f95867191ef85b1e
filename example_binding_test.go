package session_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/sessionkit/session"
)

// exampleWhoAmI asks h who the client with cookie c, User-Agent ua and
// address addr is.
func exampleWhoAmI(h http.Handler, c *http.Cookie, ua, addr string) string {
	req := httptest.NewRequest("GET", "https://example.com/me", nil)
	req.AddCookie(c)
	req.Header.Set("User-Agent", ua)
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Body.String()
}

func exampleBindingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /login/{user}", exampleDevicesHandler())
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := session.MustFromContext(r.Context()).User()
		if u == "" {
			u = "anonymous"
		}
		fmt.Fprint(w, u)
	})
	return mux
}

// A cookie replayed by a client with another User-Agent gets a fresh
// session.
func ExampleWithUserAgentBinding() {
	m, err := session.New(session.WithSecret(exampleSecret), session.WithUserAgentBinding())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(exampleBindingHandler())
	c := exampleLogin(h, "alice", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "192.0.2.1:1")

	fmt.Println(exampleWhoAmI(h, c, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "192.0.2.1:1"))
	fmt.Println(exampleWhoAmI(h, c, "curl/8.5.0", "192.0.2.1:1"))
	// Output:
	// alice
	// anonymous
}

// A session bound to its client's /16 (IPv4) or /32 (IPv6) network.
func ExampleWithIPBinding() {
	m, err := session.New(session.WithSecret(exampleSecret), session.WithIPBinding(16, 32))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(exampleBindingHandler())
	c := exampleLogin(h, "alice", "curl/8.5.0", "198.51.100.7:1000")

	fmt.Println(exampleWhoAmI(h, c, "curl/8.5.0", "198.51.7.1:2000"))
	fmt.Println(exampleWhoAmI(h, c, "curl/8.5.0", "203.0.113.9:3000"))
	// Output:
	// alice
	// anonymous
}
