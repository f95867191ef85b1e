package sessionchi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/sessionkit/session"
	sessionchi "github.com/sessionkit/session/adapters/chi"
)

func Example() {
	// The secret: 32 or more random bytes, from your secret store.
	m, err := session.New(session.WithSecret([]byte("example secret: 32+ random bytes in production")))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	r := chi.NewRouter()
	r.Use(sessionchi.Middleware(m))
	r.Post("/cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		s := sessionchi.MustFromRequest(r)
		cart, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		cart = append(cart, chi.URLParam(r, "item"))
		if err := s.Set("cart", cart); err != nil {
			http.Error(w, "cart too large", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(cart)
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		// After checking the credentials:
		s := sessionchi.MustFromRequest(r)
		if err := s.Renew(); err != nil { // a new ID on every privilege change
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		if err := s.SetUser("alice"); err != nil {
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "welcome\n")
	})
	r.With(sessionchi.RequireUser).Get("/account", func(w http.ResponseWriter, r *http.Request) {
		user, _ := sessionchi.MustFromRequest(r).User()
		fmt.Fprintf(w, "account of %s\n", user)
	})

	// A browser: it keeps the session cookie between requests.
	var cookie *http.Cookie
	do := func(method, path string) {
		req := httptest.NewRequest(method, "https://shop.example"+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		renewed := false
		for _, c := range rec.Result().Cookies() {
			if c.Name == "session" {
				renewed = cookie != nil
				cookie = c
			}
		}
		fmt.Printf("%s %s %d renewed cookie: %v: %s", method, path, rec.Code, renewed, rec.Body)
	}
	do("GET", "/account")
	do("POST", "/cart/apple")
	do("POST", "/cart/pear")
	do("POST", "/login")
	do("GET", "/account")
	// Output:
	// GET /account 401 renewed cookie: false: Unauthorized
	// POST /cart/apple 200 renewed cookie: false: ["apple"]
	// POST /cart/pear 200 renewed cookie: false: ["apple","pear"]
	// POST /login 200 renewed cookie: true: welcome
	// GET /account 200 renewed cookie: false: account of alice
}
