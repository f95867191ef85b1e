// Package sessiongin connects session.Manager to the gin web framework
// (github.com/gin-gonic/gin).
//
//	r := gin.New()
//	r.Use(sessiongin.Middleware(m))
//	r.POST("/cart/:item", func(c *gin.Context) {
//		s := sessiongin.MustFromContext(c)
//		cart, _, err := session.Get[[]string](s, "cart")
//		...
//		s.Set("cart", append(cart, c.Param("item")))
//		c.JSON(http.StatusOK, cart)
//	})
//	r.GET("/account", sessiongin.RequireUser(), account)
//
// Middleware runs the rest of the chain inside Manager.Middleware, so the
// root package's guarantees hold unchanged: the session is loaded only when
// a handler uses it, it is saved before gin sends the response headers, and
// responses served by a fallback store carry the degraded header.
//
// gin sends the headers at WriteHeaderNow, which it calls on the first
// body write, on Flush, in AbortWithStatus and after the last handler.
// Middleware replaces c.Writer, for the handlers after it, by a writer that
// saves the session at each of these points (c.JSON, c.String, c.Data,
// c.Stream, c.SSEvent, c.File, c.Redirect, c.AbortWithStatus, writes
// through c.Writer and through http.ResponseController). c.Status and
// c.Writer.WriteHeader only record the status, as everywhere in gin: the
// session can still change after them.
package sessiongin

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/sessionkit/session"
)

// Middleware returns gin middleware that gives the handlers after it a
// session (see FromContext). Install it with Engine.Use or on a group;
// handlers before it have no session.
//
// If saving the session fails before the response is sent, the manager's
// error handler answers (500 by default) and the handlers' own output is
// dropped (see Manager.Middleware).
func Middleware(m *session.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		orig := c.Writer
		defer func() { c.Writer = orig }()
		m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Request = r
			c.Writer = &responseWriter{ResponseWriter: orig, hooked: w}
			c.Next()
		})).ServeHTTP(orig, c.Request)
	}
}

// FromContext returns the session of the request. It returns
// session.ErrNoSession when the request did not pass through Middleware.
func FromContext(c *gin.Context) (*session.Session, error) {
	return session.FromContext(c.Request.Context())
}

// MustFromContext is like FromContext but panics when there is no session:
// use it where a missing middleware is a programming error.
func MustFromContext(c *gin.Context) *session.Session {
	return session.MustFromContext(c.Request.Context())
}

// RequireUser returns gin middleware that lets a request through only if
// its session is bound to a user (Session.SetUser). Other requests are
// aborted with 401 Unauthorized; a request whose session cannot be loaded
// (the store failed), or that did not pass through Middleware, is aborted
// with 500 Internal Server Error and the error added to c.Errors. Place it
// after Middleware:
//
//	r.GET("/account", sessiongin.RequireUser(), account)
//
// RequireUser only reads the session, so it causes no write: at most the
// cheap idle-timeout extension of a stored session.
func RequireUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := FromContext(c)
		if err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		user, err := s.User()
		if err != nil {
			c.AbortWithError(http.StatusInternalServerError, err)
			return
		}
		if user == "" {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Next()
	}
}

// responseWriter is the gin.ResponseWriter the handlers after Middleware
// see. Status, size and headers stay with gin's writer; everything that
// sends the response goes through hooked, the same writer behind the
// session middleware's hooks, which save the session first.
type responseWriter struct {
	gin.ResponseWriter
	hooked http.ResponseWriter // wraps the embedded gin.ResponseWriter
}

// WriteHeaderNow saves the session, then sends the recorded status.
func (w *responseWriter) WriteHeaderNow() {
	if !w.ResponseWriter.Written() {
		// The hook saves the session (or lets the error handler answer),
		// then passes the status to gin's writer, which records it.
		w.hooked.WriteHeader(w.ResponseWriter.Status())
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	return w.hooked.Write(b)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	return io.WriteString(w.hooked, s)
}

func (w *responseWriter) Flush() {
	w.hooked.(http.Flusher).Flush()
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.hooked.(http.Hijacker).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter {
	return w.hooked
}
