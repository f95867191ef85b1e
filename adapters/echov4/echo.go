// Package sessionecho connects session.Manager to Echo v4
// (github.com/labstack/echo/v4). It has the same API, under the same
// package name, as github.com/sessionkit/session/adapters/echo for Echo
// v5, so moving an application to Echo v5 changes only the import path.
//
//	e := echo.New()
//	e.Use(sessionecho.Middleware(m))
//	e.POST("/cart/:item", func(c echo.Context) error {
//		s, err := sessionecho.FromContext(c)
//		if err != nil {
//			return err
//		}
//		cart, _, err := session.Get[[]string](s, "cart")
//		...
//		return c.JSON(http.StatusOK, cart)
//	})
//	e.GET("/account", account, sessionecho.RequireUser())
//
// Middleware runs the rest of the chain inside Manager.Middleware, so the
// root package's guarantees hold unchanged: the session is loaded only when
// a handler uses it, it is saved before the response headers go out, and
// responses served by a fallback store carry the degraded header.
//
// The handlers after Middleware see, as c.Response(), an *echo.Response
// whose Writer saves the session before its first WriteHeader, Write or
// Flush and then passes the call on to the application's *echo.Response
// (as echo.WrapMiddleware does for net/http middleware). So c.JSON,
// c.String, c.Blob, c.Stream, c.File, c.NoContent, c.Redirect, writes
// through c.Response(), c.Response().Writer or c.Response().Unwrap() (the
// session's writer, and the view of it that it unwraps to),
// c.Response().Flush() and http.ResponseController all send the cookie.
// Middleware before the session's keeps seeing the original
// *echo.Response, with the status that was really sent; a handler that
// digs that one out from under the session's writer and writes to it
// directly bypasses the save. A handler
// that returns an error has its session saved as it returns; Echo's error
// handler then answers with the cookie.
package sessionecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sessionkit/session"
)

// Middleware returns Echo middleware that gives the handlers after it a
// session (see FromContext). Install it with Echo.Use, on a group, or on a
// route.
//
// If saving the session fails before the response is sent, the manager's
// error handler answers (500 by default) and the handlers' own output is
// dropped (see Manager.Middleware).
func Middleware(m *session.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			orig := c.Response()
			// Echo resets the context's response in place when it reuses
			// the context: it must be Echo's own again afterwards.
			defer c.SetResponse(orig)
			var err error
			m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				c.SetResponse(echo.NewResponse(w, c.Echo()))
				err = next(c)
			})).ServeHTTP(orig, c.Request())
			return err
		}
	}
}

// FromContext returns the session of the request. It returns
// session.ErrNoSession when the request did not pass through Middleware.
func FromContext(c echo.Context) (*session.Session, error) {
	return session.FromContext(c.Request().Context())
}

// MustFromContext is like FromContext but panics when there is no session:
// use it where a missing middleware is a programming error.
func MustFromContext(c echo.Context) *session.Session {
	return session.MustFromContext(c.Request().Context())
}

// RequireUser returns Echo middleware that lets a request through only if
// its session is bound to a user (Session.SetUser). For other requests it
// returns echo.ErrUnauthorized (401); when the session cannot be loaded
// (the store failed), or the request did not pass through Middleware, it
// returns that error, which Echo's error handler answers with 500. Place it
// after Middleware:
//
//	e.GET("/account", account, sessionecho.RequireUser())
//
// RequireUser only reads the session, so it causes no write: at most the
// cheap idle-timeout extension of a stored session.
func RequireUser() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s, err := FromContext(c)
			if err != nil {
				return err
			}
			user, err := s.User()
			if err != nil {
				return err
			}
			if user == "" {
				return echo.ErrUnauthorized
			}
			return next(c)
		}
	}
}
