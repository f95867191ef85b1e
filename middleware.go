package session

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/felixge/httpsnoop"

	"github.com/sessionkit/session/backends"
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
	if fw := s.fastWrap(w); fw != nil {
		return fw
	}
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

// Fast path: the writers of net/http's HTTP/1 and HTTP/2 servers and of
// httptest get a wrapper that lives inside the Session (no allocation) and
// calls the session's hooks as methods. Every other writer goes through
// httpsnoop, which mirrors any combination of interfaces.

type flushErrorer interface{ FlushError() error }

type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

type fullDuplexer interface{ EnableFullDuplex() error }

// closeNotifier is http.CloseNotifier, which is deprecated but still
// implemented by net/http's writers; the wrapper mirrors it.
type closeNotifier interface{ CloseNotify() <-chan bool }

const (
	ifFlusher = 1 << iota
	ifFlushError
	ifCloseNotifier
	ifHijacker
	ifReaderFrom
	ifDeadliner
	ifFullDuplex
	ifPusher
	ifStringWriter

	comboRecorder = ifFlusher | ifStringWriter
	comboHTTP1    = ifFlusher | ifFlushError | ifCloseNotifier | ifHijacker | ifReaderFrom | ifDeadliner | ifFullDuplex | ifStringWriter
	comboHTTP2    = ifFlusher | ifFlushError | ifCloseNotifier | ifDeadliner | ifFullDuplex | ifPusher | ifStringWriter
)

func (s *Session) fastWrap(w http.ResponseWriter) http.ResponseWriter {
	var combo int
	if _, ok := w.(http.Flusher); ok {
		combo |= ifFlusher
	}
	if _, ok := w.(flushErrorer); ok {
		combo |= ifFlushError
	}
	if _, ok := w.(closeNotifier); ok {
		combo |= ifCloseNotifier
	}
	if _, ok := w.(http.Hijacker); ok {
		combo |= ifHijacker
	}
	if _, ok := w.(io.ReaderFrom); ok {
		combo |= ifReaderFrom
	}
	if _, ok := w.(deadliner); ok {
		combo |= ifDeadliner
	}
	if _, ok := w.(fullDuplexer); ok {
		combo |= ifFullDuplex
	}
	if _, ok := w.(http.Pusher); ok {
		combo |= ifPusher
	}
	if _, ok := w.(io.StringWriter); ok {
		combo |= ifStringWriter
	}
	s.rw.s, s.rw.w = s, w
	switch combo {
	case comboRecorder:
		return (*rwRecorder)(&s.rw)
	case comboHTTP1:
		return (*rwHTTP1)(&s.rw)
	case comboHTTP2:
		return (*rwHTTP2)(&s.rw)
	}
	return nil
}

// respWriter is the wrapper's state, a field of Session.
type respWriter struct {
	s *Session
	w http.ResponseWriter
}

func (rw *respWriter) Header() http.Header         { return rw.w.Header() }
func (rw *respWriter) Unwrap() http.ResponseWriter { return rw.w }

func (rw *respWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.w.WriteHeader(code)
		return
	}
	if rw.s.beforeWrite() {
		rw.w.WriteHeader(code)
	}
}

func (rw *respWriter) Write(b []byte) (int, error) {
	if !rw.s.beforeWrite() {
		return 0, ErrWriteAfterFailedCommit
	}
	return rw.w.Write(b)
}

func (rw *respWriter) WriteString(str string) (int, error) {
	if !rw.s.beforeWrite() {
		return 0, ErrWriteAfterFailedCommit
	}
	return rw.w.(io.StringWriter).WriteString(str)
}

func (rw *respWriter) Flush() {
	if rw.s.beforeWrite() {
		rw.w.(http.Flusher).Flush()
	}
}

func (rw *respWriter) FlushError() error {
	if !rw.s.beforeWrite() {
		return ErrWriteAfterFailedCommit
	}
	return rw.w.(flushErrorer).FlushError()
}

func (rw *respWriter) ReadFrom(src io.Reader) (int64, error) {
	if !rw.s.beforeWrite() {
		return 0, ErrWriteAfterFailedCommit
	}
	return rw.w.(io.ReaderFrom).ReadFrom(src)
}

func (rw *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	rw.s.mu.Lock()
	rw.s.hijacked = true
	rw.s.mu.Unlock()
	return rw.w.(http.Hijacker).Hijack()
}

func (rw *respWriter) CloseNotify() <-chan bool {
	return rw.w.(closeNotifier).CloseNotify()
}

func (rw *respWriter) SetReadDeadline(t time.Time) error {
	return rw.w.(deadliner).SetReadDeadline(t)
}

func (rw *respWriter) SetWriteDeadline(t time.Time) error {
	return rw.w.(deadliner).SetWriteDeadline(t)
}

func (rw *respWriter) EnableFullDuplex() error { return rw.w.(fullDuplexer).EnableFullDuplex() }

func (rw *respWriter) Push(target string, opts *http.PushOptions) error {
	return rw.w.(http.Pusher).Push(target, opts)
}

type rwRecorder respWriter

func (rw *rwRecorder) Header() http.Header               { return (*respWriter)(rw).Header() }
func (rw *rwRecorder) Unwrap() http.ResponseWriter       { return rw.w }
func (rw *rwRecorder) WriteHeader(code int)              { (*respWriter)(rw).WriteHeader(code) }
func (rw *rwRecorder) Write(b []byte) (int, error)       { return (*respWriter)(rw).Write(b) }
func (rw *rwRecorder) WriteString(s string) (int, error) { return (*respWriter)(rw).WriteString(s) }
func (rw *rwRecorder) Flush()                            { (*respWriter)(rw).Flush() }

type rwHTTP1 respWriter

func (rw *rwHTTP1) Header() http.Header                          { return (*respWriter)(rw).Header() }
func (rw *rwHTTP1) Unwrap() http.ResponseWriter                  { return rw.w }
func (rw *rwHTTP1) WriteHeader(code int)                         { (*respWriter)(rw).WriteHeader(code) }
func (rw *rwHTTP1) Write(b []byte) (int, error)                  { return (*respWriter)(rw).Write(b) }
func (rw *rwHTTP1) WriteString(s string) (int, error)            { return (*respWriter)(rw).WriteString(s) }
func (rw *rwHTTP1) Flush()                                       { (*respWriter)(rw).Flush() }
func (rw *rwHTTP1) FlushError() error                            { return (*respWriter)(rw).FlushError() }
func (rw *rwHTTP1) CloseNotify() <-chan bool                     { return (*respWriter)(rw).CloseNotify() }
func (rw *rwHTTP1) Hijack() (net.Conn, *bufio.ReadWriter, error) { return (*respWriter)(rw).Hijack() }
func (rw *rwHTTP1) ReadFrom(src io.Reader) (int64, error)        { return (*respWriter)(rw).ReadFrom(src) }
func (rw *rwHTTP1) SetReadDeadline(t time.Time) error            { return (*respWriter)(rw).SetReadDeadline(t) }
func (rw *rwHTTP1) SetWriteDeadline(t time.Time) error           { return (*respWriter)(rw).SetWriteDeadline(t) }
func (rw *rwHTTP1) EnableFullDuplex() error                      { return (*respWriter)(rw).EnableFullDuplex() }

type rwHTTP2 respWriter

func (rw *rwHTTP2) Header() http.Header                      { return (*respWriter)(rw).Header() }
func (rw *rwHTTP2) Unwrap() http.ResponseWriter              { return rw.w }
func (rw *rwHTTP2) WriteHeader(code int)                     { (*respWriter)(rw).WriteHeader(code) }
func (rw *rwHTTP2) Write(b []byte) (int, error)              { return (*respWriter)(rw).Write(b) }
func (rw *rwHTTP2) WriteString(s string) (int, error)        { return (*respWriter)(rw).WriteString(s) }
func (rw *rwHTTP2) Flush()                                   { (*respWriter)(rw).Flush() }
func (rw *rwHTTP2) FlushError() error                        { return (*respWriter)(rw).FlushError() }
func (rw *rwHTTP2) CloseNotify() <-chan bool                 { return (*respWriter)(rw).CloseNotify() }
func (rw *rwHTTP2) SetReadDeadline(t time.Time) error        { return (*respWriter)(rw).SetReadDeadline(t) }
func (rw *rwHTTP2) SetWriteDeadline(t time.Time) error       { return (*respWriter)(rw).SetWriteDeadline(t) }
func (rw *rwHTTP2) EnableFullDuplex() error                  { return (*respWriter)(rw).EnableFullDuplex() }
func (rw *rwHTTP2) Push(t string, o *http.PushOptions) error { return (*respWriter)(rw).Push(t, o) }

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
