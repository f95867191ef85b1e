package admin_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/admin"
)

// The handler is mounted behind the application's own login: here the
// operator is whoever the session says, if that user is on the staff list.
func ExampleNew() {
	m, err := session.New(session.WithSecret([]byte("example secret: use 32+ random bytes in production")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	staff := map[string]bool{"root": true}
	h, err := admin.New(m, func(r *http.Request) (string, bool) {
		user, err := session.MustFromContext(r.Context()).User()
		return user, err == nil && staff[user]
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// A real login checks a password first.
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.SetUser(r.FormValue("user"))
	})
	mux.Handle("/admin/api/", http.StripPrefix("/admin/api", h))
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()

	browser := func(user string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Post(srv.URL+"/login?user="+user, "", nil)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return c
	}
	show := func(resp *http.Response, err error) {
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}

	browser("alice")
	browser("alice")
	operator := browser("root")

	// Alice is not staff; the operator is.
	show(browser("alice").Get(srv.URL + "/admin/api/counts"))
	show(operator.Get(srv.URL + "/admin/api/counts"))
	// Log Alice out everywhere: a JSON POST (a form post is refused).
	show(operator.Post(srv.URL+"/admin/api/users/revoke", "application/x-www-form-urlencoded", strings.NewReader("user=alice")))
	show(operator.Post(srv.URL+"/admin/api/users/revoke", "application/json", strings.NewReader(`{"user":"alice"}`)))
	show(operator.Get(srv.URL + "/admin/api/sessions?user=alice"))
	// Output:
	// 403 {"error":"forbidden"}
	// 200 {"stores":[{"name":"memstore","sessions":4}]}
	// 415 {"error":"Content-Type must be application/json"}
	// 200 {"revoked":3}
	// 200 {"sessions":[],"user":"alice"}
}
