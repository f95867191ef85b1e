// Package sessionchi connects session.Manager to the chi router
// (github.com/go-chi/chi/v5).
//
// chi routes plain net/http handlers, so Manager.Middleware already is chi
// middleware: Middleware here is the same function under a name that reads
// well next to r.Use. The package adds the helpers a chi application wants
// at its routes: FromRequest to reach the session from a handler, and
// RequireUser to guard a route or a group with r.With or r.Group.
//
//	r := chi.NewRouter()
//	r.Use(sessionchi.Middleware(m))
//	r.Post("/cart/{item}", addToCart)
//	r.With(sessionchi.RequireUser).Get("/account", account)
//
// Everything the root package guarantees holds unchanged: the session is
// loaded only when a handler uses it, it is saved before the first byte of
// the response (chi's own middleware such as middleware.Compress or
// middleware.WrapResponseWriter may sit on either side), and responses
// served by a fallback store carry the degraded header.
package sessionchi

import (
	"net/http"

	"github.com/sessionkit/session"
)

// Middleware returns m.Middleware, for r.Use and r.With. Handlers behind
// it reach their session with FromRequest (or session.FromContext).
func Middleware(m *session.Manager) func(http.Handler) http.Handler {
	return m.Middleware
}

// FromRequest returns the session of r. It returns session.ErrNoSession
// when r did not pass through Middleware.
func FromRequest(r *http.Request) (*session.Session, error) {
	return session.FromContext(r.Context())
}

// MustFromRequest is like FromRequest but panics when r has no session:
// use it where a missing middleware is a programming error.
func MustFromRequest(r *http.Request) *session.Session {
	return session.MustFromContext(r.Context())
}

// RequireUser is chi middleware that lets a request through only if its
// session is bound to a user (Session.SetUser). Other requests get
// 401 Unauthorized; a request whose session cannot be loaded (the store
// failed) gets 500 Internal Server Error, and one that did not pass
// through Middleware also gets 500, as a configuration error. Place it
// after Middleware:
//
//	r.With(sessionchi.RequireUser).Get("/account", account)
//
// RequireUser only reads the session, so it causes no write: at most the
// cheap idle-timeout extension of a stored session.
func RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := FromRequest(r)
		if err != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		user, err := s.User()
		if err != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		if user == "" {
			http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
