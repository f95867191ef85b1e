package session

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/felixge/httpsnoop"
)

type ctxKey struct{}

// FromContext returns the session of the request whose context is ctx. It
// returns ErrNoSession when the request did not pass through
// Manager.Middleware.
func FromContext(ctx context.Context) (*Session, error) {
	if s, ok := ctx.Value(ctxKey{}).(*Session); ok {
		return s, nil
	}
	return nil, ErrNoSession
}

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
// writer it wraps and implements Unwrap for http.ResponseController.
//
// If saving fails before anything was sent, the manager's error handler
// answers instead (500 by default) and the handler's later writes return
// ErrWriteAfterFailedCommit. A hijacked connection is left alone: commit
// explicitly before Hijack if the session changed.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &Session{m: m, w: w}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
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

func (s *Session) wrap(w http.ResponseWriter) http.ResponseWriter {
	return httpsnoop.Wrap(w, httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(code int) {
				if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
					next(code) // informational: headers of the final response come later
					return
				}
				if s.beforeWrite() {
					next(code)
				}
			}
		},
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			return func(b []byte) (int, error) {
				if !s.beforeWrite() {
					return 0, ErrWriteAfterFailedCommit
				}
				return next(b)
			}
		},
		WriteString: func(next httpsnoop.WriteStringFunc) httpsnoop.WriteStringFunc {
			return func(str string) (int, error) {
				if !s.beforeWrite() {
					return 0, ErrWriteAfterFailedCommit
				}
				return next(str)
			}
		},
		ReadFrom: func(next httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
			return func(src io.Reader) (int64, error) {
				if !s.beforeWrite() {
					return 0, ErrWriteAfterFailedCommit
				}
				return next(src)
			}
		},
		Flush: func(next httpsnoop.FlushFunc) httpsnoop.FlushFunc {
			return func() {
				if s.beforeWrite() {
					next()
				}
			}
		},
		FlushError: func(next httpsnoop.FlushErrorFunc) httpsnoop.FlushErrorFunc {
			return func() error {
				if !s.beforeWrite() {
					return ErrWriteAfterFailedCommit
				}
				return next()
			}
		},
		Hijack: func(next httpsnoop.HijackFunc) httpsnoop.HijackFunc {
			return func() (net.Conn, *bufio.ReadWriter, error) {
				s.mu.Lock()
				s.hijacked = true
				s.mu.Unlock()
				return next()
			}
		},
	})
}
