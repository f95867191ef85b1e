package session

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// The response-writer wrapper: what the middleware hands to the handler.
//
// It has exactly the optional interfaces of the writer it wraps (so that
// code testing for http.Flusher, http.Hijacker, io.ReaderFrom, ... sees
// what the server offers), and every method that can send the response
// headers saves the session first. Its Unwrap returns a controlWriter, the
// view http.ResponseController uses: that view offers every method the
// controller looks for and saves the session (or marks it hijacked) before
// passing the call down the chain of writers, so the controller never
// reaches a writer below the session's through Unwrap.
//
// The writers of net/http's HTTP/1 and HTTP/2 servers and of httptest get
// a wrapper that lives inside the Session (no allocation). Every other
// combination of interfaces gets one of the generated types of
// writer_combos.go.

// The optional interfaces the wrapper mirrors, as bits of a combination.
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

type flushErrorer interface{ FlushError() error }

type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

type fullDuplexer interface{ EnableFullDuplex() error }

// closeNotifier is http.CloseNotifier, which is deprecated but still
// implemented by net/http's writers; the wrapper mirrors it.
type closeNotifier interface{ CloseNotify() <-chan bool }

// interfacesOf returns the combination of optional interfaces w has.
func interfacesOf(w http.ResponseWriter) int {
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
	return combo
}

// wrap returns the writer handed to the handler.
func (s *Session) wrap(w http.ResponseWriter) http.ResponseWriter {
	s.rw.s, s.rw.w = s, w
	switch combo := interfacesOf(w); combo {
	case comboRecorder:
		return (*rwRecorder)(&s.rw)
	case comboHTTP1:
		return (*rwHTTP1)(&s.rw)
	case comboHTTP2:
		return (*rwHTTP2)(&s.rw)
	default:
		return wrapCombo(&s.rw, combo)
	}
}

// respWriter is the wrapper's state, a field of Session. Its exported
// methods are those of every wrapper; the optional ones are lower-case
// here and given their names by the types that have them.
type respWriter struct {
	s *Session
	w http.ResponseWriter
}

func (rw *respWriter) Header() http.Header { return rw.w.Header() }

// Unwrap returns the view of the writer that http.ResponseController uses.
func (rw *respWriter) Unwrap() http.ResponseWriter { return (*controlWriter)(rw) }

func (rw *respWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.w.WriteHeader(code) // informational: the final headers come later
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

func (rw *respWriter) writeString(str string) (int, error) {
	if !rw.s.beforeWrite() {
		return 0, ErrWriteAfterFailedCommit
	}
	return rw.w.(io.StringWriter).WriteString(str)
}

func (rw *respWriter) flush() {
	if rw.s.beforeWrite() {
		rw.w.(http.Flusher).Flush()
	}
}

func (rw *respWriter) flushError() error {
	if !rw.s.beforeWrite() {
		return ErrWriteAfterFailedCommit
	}
	return rw.w.(flushErrorer).FlushError()
}

func (rw *respWriter) readFrom(src io.Reader) (int64, error) {
	if !rw.s.beforeWrite() {
		return 0, ErrWriteAfterFailedCommit
	}
	return rw.w.(io.ReaderFrom).ReadFrom(src)
}

func (rw *respWriter) hijack() (net.Conn, *bufio.ReadWriter, error) {
	rw.s.markHijacked()
	return rw.w.(http.Hijacker).Hijack()
}

func (rw *respWriter) closeNotify() <-chan bool { return rw.w.(closeNotifier).CloseNotify() }

func (rw *respWriter) setReadDeadline(t time.Time) error {
	return rw.w.(deadliner).SetReadDeadline(t)
}

func (rw *respWriter) setWriteDeadline(t time.Time) error {
	return rw.w.(deadliner).SetWriteDeadline(t)
}

func (rw *respWriter) enableFullDuplex() error { return rw.w.(fullDuplexer).EnableFullDuplex() }

func (rw *respWriter) push(target string, opts *http.PushOptions) error {
	return rw.w.(http.Pusher).Push(target, opts)
}

func (s *Session) markHijacked() {
	s.mu.Lock()
	s.hijacked = true
	s.mu.Unlock()
}

// controlWriter is the view of the wrapper that its Unwrap returns. It has
// every method http.ResponseController looks for, so the controller stops
// here instead of unwrapping further: Flush saves the session and Hijack
// marks it hijacked before the call goes down the chain of writers below
// (through their own Unwrap where needed), exactly as the wrapper's own
// methods do. Deadlines and full duplex send nothing and pass through.
// A method no writer below supports returns http.ErrNotSupported without
// touching the session. Unwrap goes on to the writer under the session's,
// for code that looks for a writer of a given type; writing to that writer
// directly bypasses the session.
type controlWriter respWriter

func (cw *controlWriter) rw() *respWriter                   { return (*respWriter)(cw) }
func (cw *controlWriter) Header() http.Header               { return cw.w.Header() }
func (cw *controlWriter) WriteHeader(code int)              { cw.rw().WriteHeader(code) }
func (cw *controlWriter) Write(b []byte) (int, error)       { return cw.rw().Write(b) }
func (cw *controlWriter) Unwrap() http.ResponseWriter       { return cw.w }
func (cw *controlWriter) WriteString(s string) (int, error) { return io.WriteString(cw.rw(), s) }

// Flush saves the session and flushes, if a writer below can.
func (cw *controlWriter) Flush() { cw.FlushError() }

// FlushError saves the session and flushes, if a writer below can.
func (cw *controlWriter) FlushError() error {
	if !below(cw.w, ifFlusher|ifFlushError) {
		return http.ErrNotSupported
	}
	if !cw.s.beforeWrite() {
		return ErrWriteAfterFailedCommit
	}
	return http.NewResponseController(cw.w).Flush()
}

// Hijack marks the session hijacked and hijacks, if a writer below can.
func (cw *controlWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !below(cw.w, ifHijacker) {
		return nil, nil, http.ErrNotSupported
	}
	cw.s.markHijacked()
	return http.NewResponseController(cw.w).Hijack()
}

func (cw *controlWriter) SetReadDeadline(t time.Time) error {
	return http.NewResponseController(cw.w).SetReadDeadline(t)
}

func (cw *controlWriter) SetWriteDeadline(t time.Time) error {
	return http.NewResponseController(cw.w).SetWriteDeadline(t)
}

func (cw *controlWriter) EnableFullDuplex() error {
	return http.NewResponseController(cw.w).EnableFullDuplex()
}

// below reports whether w, or a writer reached from it through Unwrap, has
// one of the interfaces in combo: whether http.ResponseController would
// find the method.
func below(w http.ResponseWriter, combo int) bool {
	for w != nil {
		if interfacesOf(w)&combo != 0 {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// Method carriers of the generated combinations: each gives a respWriter
// one optional method under its exported name.
type (
	withFlush       respWriter
	withFlushError  respWriter
	withCloseNotify respWriter
	withHijack      respWriter
	withReadFrom    respWriter
	withDeadlines   respWriter
	withFullDuplex  respWriter
	withPush        respWriter
	withWriteString respWriter
)

func (w *withFlush) Flush()                         { (*respWriter)(w).flush() }
func (w *withFlushError) FlushError() error         { return (*respWriter)(w).flushError() }
func (w *withCloseNotify) CloseNotify() <-chan bool { return (*respWriter)(w).closeNotify() }
func (w *withHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return (*respWriter)(w).hijack()
}
func (w *withReadFrom) ReadFrom(src io.Reader) (int64, error) { return (*respWriter)(w).readFrom(src) }
func (w *withDeadlines) SetReadDeadline(t time.Time) error {
	return (*respWriter)(w).setReadDeadline(t)
}
func (w *withDeadlines) SetWriteDeadline(t time.Time) error {
	return (*respWriter)(w).setWriteDeadline(t)
}
func (w *withFullDuplex) EnableFullDuplex() error { return (*respWriter)(w).enableFullDuplex() }
func (w *withPush) Push(target string, opts *http.PushOptions) error {
	return (*respWriter)(w).push(target, opts)
}
func (w *withWriteString) WriteString(s string) (int, error) { return (*respWriter)(w).writeString(s) }

// The fast paths: the writers of httptest, and of net/http's HTTP/1 and
// HTTP/2 servers.

type rwRecorder respWriter

func (rw *rwRecorder) Header() http.Header               { return rw.w.Header() }
func (rw *rwRecorder) Unwrap() http.ResponseWriter       { return (*controlWriter)(rw) }
func (rw *rwRecorder) WriteHeader(code int)              { (*respWriter)(rw).WriteHeader(code) }
func (rw *rwRecorder) Write(b []byte) (int, error)       { return (*respWriter)(rw).Write(b) }
func (rw *rwRecorder) WriteString(s string) (int, error) { return (*respWriter)(rw).writeString(s) }
func (rw *rwRecorder) Flush()                            { (*respWriter)(rw).flush() }

type rwHTTP1 respWriter

func (rw *rwHTTP1) Header() http.Header                          { return rw.w.Header() }
func (rw *rwHTTP1) Unwrap() http.ResponseWriter                  { return (*controlWriter)(rw) }
func (rw *rwHTTP1) WriteHeader(code int)                         { (*respWriter)(rw).WriteHeader(code) }
func (rw *rwHTTP1) Write(b []byte) (int, error)                  { return (*respWriter)(rw).Write(b) }
func (rw *rwHTTP1) WriteString(s string) (int, error)            { return (*respWriter)(rw).writeString(s) }
func (rw *rwHTTP1) Flush()                                       { (*respWriter)(rw).flush() }
func (rw *rwHTTP1) FlushError() error                            { return (*respWriter)(rw).flushError() }
func (rw *rwHTTP1) CloseNotify() <-chan bool                     { return (*respWriter)(rw).closeNotify() }
func (rw *rwHTTP1) Hijack() (net.Conn, *bufio.ReadWriter, error) { return (*respWriter)(rw).hijack() }
func (rw *rwHTTP1) ReadFrom(src io.Reader) (int64, error)        { return (*respWriter)(rw).readFrom(src) }
func (rw *rwHTTP1) SetReadDeadline(t time.Time) error            { return (*respWriter)(rw).setReadDeadline(t) }
func (rw *rwHTTP1) SetWriteDeadline(t time.Time) error           { return (*respWriter)(rw).setWriteDeadline(t) }
func (rw *rwHTTP1) EnableFullDuplex() error                      { return (*respWriter)(rw).enableFullDuplex() }

type rwHTTP2 respWriter

func (rw *rwHTTP2) Header() http.Header                      { return rw.w.Header() }
func (rw *rwHTTP2) Unwrap() http.ResponseWriter              { return (*controlWriter)(rw) }
func (rw *rwHTTP2) WriteHeader(code int)                     { (*respWriter)(rw).WriteHeader(code) }
func (rw *rwHTTP2) Write(b []byte) (int, error)              { return (*respWriter)(rw).Write(b) }
func (rw *rwHTTP2) WriteString(s string) (int, error)        { return (*respWriter)(rw).writeString(s) }
func (rw *rwHTTP2) Flush()                                   { (*respWriter)(rw).flush() }
func (rw *rwHTTP2) FlushError() error                        { return (*respWriter)(rw).flushError() }
func (rw *rwHTTP2) CloseNotify() <-chan bool                 { return (*respWriter)(rw).closeNotify() }
func (rw *rwHTTP2) SetReadDeadline(t time.Time) error        { return (*respWriter)(rw).setReadDeadline(t) }
func (rw *rwHTTP2) SetWriteDeadline(t time.Time) error       { return (*respWriter)(rw).setWriteDeadline(t) }
func (rw *rwHTTP2) EnableFullDuplex() error                  { return (*respWriter)(rw).enableFullDuplex() }
func (rw *rwHTTP2) Push(t string, o *http.PushOptions) error { return (*respWriter)(rw).push(t, o) }
