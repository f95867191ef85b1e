package session_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session"
)

// The interfaces a ResponseWriter may have besides http.ResponseWriter.
var optionalInterfaces = map[string]func(http.ResponseWriter) bool{
	"Flusher":      func(w http.ResponseWriter) bool { _, ok := w.(http.Flusher); return ok },
	"FlushError":   func(w http.ResponseWriter) bool { _, ok := w.(interface{ FlushError() error }); return ok },
	"CloseNotify":  func(w http.ResponseWriter) bool { _, ok := w.(interface{ CloseNotify() <-chan bool }); return ok },
	"Hijacker":     func(w http.ResponseWriter) bool { _, ok := w.(http.Hijacker); return ok },
	"ReaderFrom":   func(w http.ResponseWriter) bool { _, ok := w.(io.ReaderFrom); return ok },
	"StringWriter": func(w http.ResponseWriter) bool { _, ok := w.(io.StringWriter); return ok },
	"Pusher":       func(w http.ResponseWriter) bool { _, ok := w.(http.Pusher); return ok },
	"Deadlines": func(w http.ResponseWriter) bool {
		_, ok := w.(interface{ SetWriteDeadline(time.Time) error })
		return ok
	},
	"FullDuplex": func(w http.ResponseWriter) bool { _, ok := w.(interface{ EnableFullDuplex() error }); return ok },
	"Unwrap":     func(w http.ResponseWriter) bool { _, ok := w.(interface{ Unwrap() http.ResponseWriter }); return ok },
}

// checkMirror fails unless wrapped has exactly the optional interfaces of
// orig (plus Unwrap) and unwraps to it.
func checkMirror(t *testing.T, name string, orig, wrapped http.ResponseWriter) {
	t.Helper()
	for iface, has := range optionalInterfaces {
		want := has(orig) || iface == "Unwrap"
		if got := has(wrapped); got != want {
			t.Errorf("%s: wrapper has %s = %v, the wrapped writer %v", name, iface, got, want)
		}
	}
	if !unwrapsTo(wrapped, orig) {
		t.Errorf("%s: Unwrap does not lead to the wrapped writer", name)
	}
}

// unwrapsTo reports whether w reaches target through Unwrap.
func unwrapsTo(w, target http.ResponseWriter) bool {
	for range 4 {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		if w = u.Unwrap(); w == target {
			return true
		}
	}
	return false
}

// Writers with few interfaces, as middleware of other libraries produce.
type (
	plainWriter   struct{ http.ResponseWriter }
	flushOnly     struct{ http.ResponseWriter }
	hijackFlusher struct{ http.ResponseWriter }
)

func (flushOnly) Flush()     {}
func (hijackFlusher) Flush() {}
func (hijackFlusher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, http.ErrNotSupported
}

// The writer handed to the handler exposes exactly the optional interfaces
// of the writer it wraps, for net/http's HTTP/1 and HTTP/2 writers, the
// httptest recorder and writers of other middleware.
func TestWrapperMirrorsInterfaces(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var seen http.ResponseWriter
	check := func(name string) http.Handler {
		inner := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			checkMirror(t, name, seen, w)
			session.MustFromContext(r.Context()).Set("k", "v")
			io.WriteString(w, "ok")
		}))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = w
			inner.ServeHTTP(w, r)
		})
	}

	// HTTP/1.1 and HTTP/2 servers.
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "http1", true: "http2"}[h2]
		srv := httptest.NewUnstartedServer(check(name))
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if h2 && resp.ProtoMajor != 2 {
			t.Errorf("http2 server answered over %s", resp.Proto)
		}
		if len(resp.Cookies()) != 1 {
			t.Errorf("%s: no session cookie", name)
		}
		srv.Close()
	}

	// The recorder and wrappers of other middleware.
	for name, wrap := range map[string]func(http.ResponseWriter) http.ResponseWriter{
		"recorder":       func(w http.ResponseWriter) http.ResponseWriter { return w },
		"plain":          func(w http.ResponseWriter) http.ResponseWriter { return plainWriter{w} },
		"flush only":     func(w http.ResponseWriter) http.ResponseWriter { return flushOnly{w} },
		"hijack+flusher": func(w http.ResponseWriter) http.ResponseWriter { return hijackFlusher{w} },
	} {
		rec := httptest.NewRecorder()
		check(name).ServeHTTP(wrap(rec), httptest.NewRequest("GET", "/", nil))
		if !strings.Contains(rec.Header().Get("Set-Cookie"), "session=") {
			t.Errorf("%s: no session cookie", name)
		}
	}
}

// A probe stands for the writer of another middleware, below the session's:
// it has a chosen combination of optional interfaces (newProbe) and unwraps
// to under, a writer with every interface, as net/http's are (or, when
// bare, to one with none). Every call that reaches either is logged with
// whether the session cookie was in the response header at that moment.
type probe struct {
	rec   *httptest.ResponseRecorder
	bare  bool
	calls []probeCall
}

type probeCall struct {
	method string
	cookie bool
}

func (p *probe) record(method string) {
	p.calls = append(p.calls, probeCall{method, p.rec.Header().Get("Set-Cookie") != ""})
}

func (p *probe) Header() http.Header         { return p.rec.Header() }
func (p *probe) Write(b []byte) (int, error) { p.record("Write"); return p.rec.Write(b) }
func (p *probe) WriteHeader(code int)        { p.record("WriteHeader"); p.rec.WriteHeader(code) }
func (p *probe) Unwrap() http.ResponseWriter {
	if p.bare {
		return plainWriter{p.rec}
	}
	return (*probeUnder)(p)
}

type (
	probeFlush       probe
	probeFlushError  probe
	probeCloseNotify probe
	probeHijack      probe
	probeReadFrom    probe
	probeDeadlines   probe
	probeFullDuplex  probe
	probePush        probe
	probeWriteString probe
	// probeUnder is the writer under a probe, with every interface.
	probeUnder probe
)

func (p *probeFlush) Flush()                 { (*probe)(p).record("Flush") }
func (p *probeFlushError) FlushError() error { (*probe)(p).record("FlushError"); return nil }
func (p *probeCloseNotify) CloseNotify() <-chan bool {
	(*probe)(p).record("CloseNotify")
	return nil
}
func (p *probeHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	(*probe)(p).record("Hijack")
	return nil, nil, nil
}
func (p *probeReadFrom) ReadFrom(r io.Reader) (int64, error) {
	(*probe)(p).record("ReadFrom")
	return io.Copy(p.rec, r)
}
func (p *probeDeadlines) SetReadDeadline(time.Time) error {
	(*probe)(p).record("SetReadDeadline")
	return nil
}
func (p *probeDeadlines) SetWriteDeadline(time.Time) error {
	(*probe)(p).record("SetWriteDeadline")
	return nil
}
func (p *probeFullDuplex) EnableFullDuplex() error {
	(*probe)(p).record("EnableFullDuplex")
	return nil
}
func (p *probePush) Push(string, *http.PushOptions) error { (*probe)(p).record("Push"); return nil }
func (p *probeWriteString) WriteString(s string) (int, error) {
	(*probe)(p).record("WriteString")
	return p.rec.WriteString(s)
}

func (p *probeUnder) Header() http.Header { return p.rec.Header() }
func (p *probeUnder) Write(b []byte) (int, error) {
	(*probe)(p).record("under.Write")
	return p.rec.Write(b)
}
func (p *probeUnder) WriteHeader(code int) { (*probe)(p).record("under.WriteHeader") }
func (p *probeUnder) FlushError() error    { (*probe)(p).record("under.Flush"); return nil }
func (p *probeUnder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	(*probe)(p).record("under.Hijack")
	return nil, nil, nil
}
func (p *probeUnder) SetReadDeadline(time.Time) error {
	(*probe)(p).record("under.SetReadDeadline")
	return nil
}
func (p *probeUnder) SetWriteDeadline(time.Time) error {
	(*probe)(p).record("under.SetWriteDeadline")
	return nil
}
func (p *probeUnder) EnableFullDuplex() error {
	(*probe)(p).record("under.EnableFullDuplex")
	return nil
}

// writerAction is one thing a handler does with its writer. sends: the
// action sends the response headers, so the session must be saved before
// it reaches a writer below. needs: the interface bits of the probe the
// action needs directly (0: always possible).
type writerAction struct {
	name  string
	sends bool
	do    func(w http.ResponseWriter) error
}

var writerActions = []writerAction{
	{"Write", true, func(w http.ResponseWriter) error { _, err := w.Write([]byte("x")); return err }},
	{"WriteHeader", true, func(w http.ResponseWriter) error { w.WriteHeader(http.StatusTeapot); return nil }},
	{"io.WriteString", true, func(w http.ResponseWriter) error { _, err := io.WriteString(w, "x"); return err }},
	{"io.Copy", true, func(w http.ResponseWriter) error {
		_, err := io.Copy(w, strings.NewReader("x"))
		return err
	}},
	{"Flusher", true, func(w http.ResponseWriter) error {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return nil
	}},
	{"FlushError", true, func(w http.ResponseWriter) error {
		if f, ok := w.(interface{ FlushError() error }); ok {
			return f.FlushError()
		}
		return nil
	}},
	{"ResponseController.Flush", true, func(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() }},
	{"ResponseController.Hijack", true, func(w http.ResponseWriter) error {
		_, _, err := http.NewResponseController(w).Hijack()
		return err
	}},
	{"Hijacker", true, func(w http.ResponseWriter) error {
		if h, ok := w.(http.Hijacker); ok {
			_, _, err := h.Hijack()
			return err
		}
		return nil
	}},
	{"ResponseController.SetReadDeadline", false, func(w http.ResponseWriter) error {
		return http.NewResponseController(w).SetReadDeadline(time.Time{})
	}},
	{"ResponseController.SetWriteDeadline", false, func(w http.ResponseWriter) error {
		return http.NewResponseController(w).SetWriteDeadline(time.Time{})
	}},
	{"ResponseController.EnableFullDuplex", false, func(w http.ResponseWriter) error {
		return http.NewResponseController(w).EnableFullDuplex()
	}},
	{"Pusher", false, func(w http.ResponseWriter) error {
		if p, ok := w.(http.Pusher); ok {
			return p.Push("/x", nil)
		}
		return nil
	}},
	{"CloseNotifier", false, func(w http.ResponseWriter) error {
		if c, ok := w.(interface{ CloseNotify() <-chan bool }); ok {
			c.CloseNotify()
		}
		return nil
	}},
}

// For every combination of optional interfaces the writer below may have
// (as httpsnoop tests its wrapper), and for every way a handler can use its
// writer: the wrapper has exactly the interfaces of the writer below, every
// call that sends the headers reaches a writer below only after the
// session was saved (the cookie is in the header), a hijack leaves the
// session unsaved, calls that send nothing leave the session open to
// changes, and a ResponseController call that no writer below supports
// fails with http.ErrNotSupported without saving the session.
func TestWrapperCombinations(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for combo := range 1 << len(comboInterfaces) {
		for _, bare := range []bool{false, true} {
			for _, a := range writerActions {
				p := &probe{rec: httptest.NewRecorder(), bare: bare}
				inner := newProbe(p, combo)
				name := fmt.Sprintf("combo %09b bare=%v %s", combo, bare, a.name)
				var actErr, laterSet error
				m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					checkMirror(t, name, inner, w)
					s := session.MustFromContext(r.Context())
					if err := s.Set("k", "v"); err != nil {
						t.Fatal(err)
					}
					actErr = a.do(w)
					laterSet = s.Set("k2", "v")
				})).ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
				checkProbe(t, name, a, p, actErr, laterSet)
				if t.Failed() {
					return
				}
			}
		}
	}
}

func checkProbe(t *testing.T, name string, a writerAction, p *probe, actErr, laterSet error) {
	t.Helper()
	hijacked := false
	sent := false
	for _, c := range p.calls {
		switch {
		case strings.HasSuffix(c.method, "Hijack"):
			hijacked = true
			if c.cookie {
				t.Errorf("%s: hijack reached a writer after the session cookie was set", name)
			}
		case strings.Contains(c.method, "Deadline") || strings.HasSuffix(c.method, "FullDuplex") || c.method == "Push" || c.method == "CloseNotify":
			if a.sends {
				t.Errorf("%s: unexpected call %s", name, c.method)
			}
		default:
			sent = true
			if !c.cookie {
				t.Errorf("%s: %s reached a writer below before the session was saved", name, c.method)
			}
		}
	}
	cookie := p.rec.Header().Get("Set-Cookie") != ""
	unsupported := errors.Is(actErr, http.ErrNotSupported)
	switch {
	case actErr != nil && !unsupported:
		t.Errorf("%s: %v", name, actErr)
	case hijacked:
		if cookie {
			t.Errorf("%s: the session of a hijacked connection was saved", name)
		}
	case unsupported && a.sends:
		if laterSet != nil {
			t.Errorf("%s: an unsupported call closed the session: %v", name, laterSet)
		}
	case !a.sends && len(p.calls) > 0:
		if laterSet != nil {
			t.Errorf("%s: a call that sends nothing closed the session: %v", name, laterSet)
		}
		if !cookie {
			t.Errorf("%s: no session cookie", name)
		}
	case sent:
		if !errors.Is(laterSet, session.ErrCommitted) {
			t.Errorf("%s: after the headers went out, Set returned %v, want ErrCommitted", name, laterSet)
		}
	}
	if !hijacked && !cookie {
		t.Errorf("%s: no session cookie", name)
	}
}
