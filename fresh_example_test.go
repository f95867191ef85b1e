package session_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/sessionkit/session"
)

func ExampleFreshReads() {
	m, err := session.New(session.WithSecret(exampleSecret))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).SetUser("alice"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	// Pages read the session through the store's near-cache, if it has
	// one; the admin routes always ask the store itself, so that a user
	// logged out or revoked through another instance a moment ago is
	// refused here at once.
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := session.MustFromContext(r.Context()).User()
		if err != nil || user == "" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "admin for %s", user)
	})
	root := http.NewServeMux()
	root.Handle("/", m.Middleware(mux))
	root.Handle("/admin/", session.FreshReads(m.Middleware(admin)))

	login := do(root, "POST", "https://example.com/login", nil)
	resp := do(root, "GET", "https://example.com/admin/", login.Cookies())
	body := make([]byte, 32)
	n, _ := resp.Body.Read(body)
	fmt.Println(string(body[:n]))
	// Output:
	// admin for alice
}
