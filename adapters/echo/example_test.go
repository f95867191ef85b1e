package sessionecho_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v5"

	"github.com/sessionkit/session"
	sessionecho "github.com/sessionkit/session/adapters/echo"
)

func Example() {
	// The secret: 32 or more random bytes, from your secret store.
	m, err := session.New(session.WithSecret([]byte("example secret: 32+ random bytes in production")))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	e := echo.New()
	e.Use(sessionecho.Middleware(m))
	e.POST("/cart/:item", func(c *echo.Context) error {
		s, err := sessionecho.FromContext(c)
		if err != nil {
			return err
		}
		cart, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			return err
		}
		cart = append(cart, c.Param("item"))
		if err := s.Set("cart", cart); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, cart)
	})
	e.POST("/login", func(c *echo.Context) error {
		// After checking the credentials:
		s := sessionecho.MustFromContext(c)
		if err := s.Renew(); err != nil { // a new ID on every privilege change
			return err
		}
		if err := s.SetUser("alice"); err != nil {
			return err
		}
		return c.String(http.StatusOK, "welcome\n")
	})
	e.GET("/account", func(c *echo.Context) error {
		user, err := sessionecho.MustFromContext(c).User()
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, "account of "+user+"\n")
	}, sessionecho.RequireUser())

	// A browser: it keeps the session cookie between requests.
	var cookie *http.Cookie
	do := func(method, path string) {
		req := httptest.NewRequest(method, "https://shop.example"+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
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
	// GET /account 401 renewed cookie: false: {"message":"Unauthorized"}
	// POST /cart/apple 200 renewed cookie: false: ["apple"]
	// POST /cart/pear 200 renewed cookie: false: ["apple","pear"]
	// POST /login 200 renewed cookie: true: welcome
	// GET /account 200 renewed cookie: false: account of alice
}
