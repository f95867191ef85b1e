package session_test

import (
	"bufio"
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
	if u, ok := wrapped.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != orig {
		t.Errorf("%s: Unwrap does not return the wrapped writer", name)
	}
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
