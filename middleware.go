package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/sessionkit/session/backends"
)

type ctxKey struct{}

// FromContext returns the session of the request whose context is ctx. It
// returns ErrNoSession when the request did not pass through
// Manager.Middleware.
//
// Pass the request's context (r.Context()). A framework's own context
// that implements context.Context without carrying the request's values,
// as gin's *gin.Context does unless the engine has ContextWithFallback,
// gets an error wrapping ErrNoSession that names the fix (for gin:
// sessiongin.FromContext(c)).
func FromContext(ctx context.Context) (*Session, error) {
	if s, ok := ctx.Value(ctxKey{}).(*Session); ok {
		return s, nil
	}
	if t := reflect.TypeOf(ctx); t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "github.com/gin-gonic/gin" {
		return nil, noSessionError(fmt.Sprintf("session: no session in a %v, which does not carry the request's context values: "+
			"use sessiongin.FromContext(c) (github.com/sessionkit/session/adapters/gin) or session.FromContext(c.Request.Context()), "+
			"or set the engine's ContextWithFallback to true", t))
	}
	return nil, ErrNoSession
}

// noSessionError is ErrNoSession with a message of its own.
type noSessionError string

func (e noSessionError) Error() string { return string(e) }
func (e noSessionError) Unwrap() error { return ErrNoSession }

// MustFromContext is like FromContext but panics when there is no session:
// use it where a missing middleware is a programming error.
func MustFromContext(ctx context.Context) *Session {
	s, err := FromContext(ctx)
	if err != nil {
		panic(err)
	}
	return s
}

// ErrWriteAfterFailedCommit is returned by writes of a handler whose
// session could not be saved: the error handler has already answered the
// request, so the handler's own output is dropped.
var ErrWriteAfterFailedCommit = errors.New("session: response replaced by the error handler after a failed save")

// Middleware returns a handler that gives next a session (see FromContext).
// The session is loaded from the store only when next first uses it, and
// saved just before the response headers go out: on the first WriteHeader
// (for a final status, not 1xx), Write, WriteString, ReadFrom or Flush, or
// when next returns, whichever comes first, so the cookie always precedes
// the body. The writer passed to next keeps exactly the optional interfaces
// (http.Flusher, http.Hijacker, io.ReaderFrom, io.StringWriter, ...) of the
// writer it wraps and implements Unwrap for http.ResponseController. The
// controller's Flush saves the session first and its Hijack marks the
// session hijacked, even when the writer the middleware received has no
// such method and the controller finds it further down through Unwrap (as
// under a middleware whose writer has only Header, Write, WriteHeader and
// Unwrap). SetReadDeadline, SetWriteDeadline and EnableFullDuplex send
// nothing: they pass through and leave the session open to changes.
//
// Every response of a request that used its session carries "Vary: Cookie"
// (or the token header's name); one that sets the cookie also gets
// "Cache-Control: no-store" unless the handler chose a private or no-store
// policy. The cookie and these headers are put back just before the
// headers are sent if a wrapper inside the middleware replaced the header
// map after an explicit Commit (as http.TimeoutHandler does).
//
// If saving fails before anything was sent, the manager's error handler
// answers instead (500 by default) and the handler's later writes return
// ErrWriteAfterFailedCommit. A hijacked connection is left alone: commit
// explicitly before Hijack if the session changed.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &Session{m: m, w: w}
		s.sctx = sessCtx{Context: r.Context(), s: s}
		r = r.WithContext(&s.sctx)
		s.r = r
		next.ServeHTTP(s.wrap(w), r)
		s.beforeWrite()
	})
}

// beforeWrite saves the session once, before the response headers are
// sent. It reports whether the caller may go on writing.
func (s *Session) beforeWrite() bool {
	s.mu.Lock()
	if s.sent || s.hijacked {
		ok := !s.failed
		s.mu.Unlock()
		return ok
	}
	err := s.commit()
	if err == nil {
		s.finishHeaders()
	}
	s.sent = true
	if err != nil {
		s.failed = true
	}
	s.mu.Unlock()
	if err != nil {
		s.m.errorHandler(s.w, s.r, err)
		return false
	}
	return true
}

// sessCtx is the request's context plus the session and its store report,
// in one value that lives inside the Session.
type sessCtx struct {
	context.Context
	s *Session
}

func (c *sessCtx) Value(k any) any {
	if _, ok := k.(ctxKey); ok {
		return c.s
	}
	if backends.IsReportKey(k) {
		return &c.s.report
	}
	return c.Context.Value(k)
}
