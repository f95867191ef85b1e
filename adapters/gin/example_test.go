package sessiongin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/sessionkit/session"
	sessiongin "github.com/sessionkit/session/adapters/gin"
)

func Example() {
	// The secret: 32 or more random bytes, from your secret store.
	m, err := session.New(session.WithSecret([]byte("example secret: 32+ random bytes in production")))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(sessiongin.Middleware(m))
	r.POST("/cart/:item", func(c *gin.Context) {
		s := sessiongin.MustFromContext(c)
		cart, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		cart = append(cart, c.Param("item"))
		if err := s.Set("cart", cart); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.JSON(http.StatusOK, cart)
	})
	r.POST("/login", func(c *gin.Context) {
		// After checking the credentials:
		s := sessiongin.MustFromContext(c)
		if err := s.Renew(); err != nil { // a new ID on every privilege change
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		if err := s.SetUser("alice"); err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		c.String(http.StatusOK, "welcome")
	})
	r.GET("/account", sessiongin.RequireUser(), func(c *gin.Context) {
		user, _ := sessiongin.MustFromContext(c).User()
		c.String(http.StatusOK, "account of "+user)
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
		fmt.Println(method, path, rec.Code, rec.Body.String(), "renewed cookie:", renewed)
	}
	do("GET", "/account")
	do("POST", "/cart/apple")
	do("POST", "/cart/pear")
	do("POST", "/login")
	do("GET", "/account")
	// Output:
	// GET /account 401  renewed cookie: false
	// POST /cart/apple 200 ["apple"] renewed cookie: false
	// POST /cart/pear 200 ["apple","pear"] renewed cookie: false
	// POST /login 200 welcome renewed cookie: true
	// GET /account 200 account of alice renewed cookie: false
}
