package pgstore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/degrade"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-pgstore-test")

// app is a tiny handler over the session: POST /set/{k}/{v}, GET /get/{k}.
func app(t *testing.T, m *session.Manager) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set(r.PathValue("k"), r.PathValue("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /get/{k}", func(w http.ResponseWriter, r *http.Request) {
		v, _, err := session.Get[string](session.MustFromContext(r.Context()), r.PathValue("k"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, v)
	})
	srv := httptest.NewTLSServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv
}

type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar = jar
	return &browser{t: t, base: srv.URL, c: c}
}

// do sends a request and returns the body and whether the response carried
// the degraded header. Any status but 200 fails the test.
func (b *browser) do(method, path string) (string, bool) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, nil)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, body)
	}
	return string(body), resp.Header.Get("X-Session-Degraded") == "true"
}

// TestFailoverToMemoryAndBack stops PostgreSQL under a manager with
// WithFailover: requests go on, served from memory and marked degraded;
// when the database is back, what was written meanwhile is merged into it.
func TestFailoverToMemoryAndBack(t *testing.T) {
	srv, pool := startServer(t)
	st := newStore(t, pool, pgstore.WithTimeout(300*time.Millisecond))
	m, err := session.New(session.WithSecret(testSecret), session.WithFailover(st,
		degrade.WithTimeout(300*time.Millisecond), degrade.WithProbeInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	web := app(t, m)
	b := newBrowser(t, web)

	if _, degraded := b.do("POST", "/set/before/1"); degraded {
		t.Fatal("degraded with the database up")
	}
	srv.Stop()
	if _, _, err := st.Load(context.Background(), "any"); !backends.IsUnavailable(err) {
		t.Fatalf("Load with the database stopped: %v, want an error matching ErrUnavailable", err)
	}
	if _, degraded := b.do("POST", "/set/during/2"); !degraded {
		t.Error("write during the outage not marked degraded")
	}
	if v, degraded := b.do("GET", "/get/during"); v != "2" || !degraded {
		t.Errorf("read during the outage = %q (degraded %v), want 2, degraded", v, degraded)
	}
	if v, _ := b.do("GET", "/get/before"); v != "1" {
		t.Errorf("value written before the outage, read during it = %q, want 1", v)
	}

	srv.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, degraded := b.do("GET", "/get/during")
		if !degraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still degraded 30 s after the database returned")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, want := range []struct{ k, v string }{{"before", "1"}, {"during", "2"}} {
		if v, degraded := b.do("GET", "/get/"+want.k); v != want.v || degraded {
			t.Errorf("after recovery %s = %q (degraded %v), want %q", want.k, v, degraded, want.v)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The primary itself holds the merged session: a manager on the store
	// alone, without fail-over, reads it with the same cookie.
	direct, err := session.New(session.WithSecret(testSecret), session.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	web2 := app(t, direct)
	b2 := &browser{t: t, base: web2.URL, c: web2.Client()}
	b2.c.Jar = b.c.Jar
	// The jar holds the cookie for the first server's host and port.
	u1, _ := http.NewRequest("GET", web.URL, nil)
	u2, _ := http.NewRequest("GET", web2.URL, nil)
	b2.c.Jar.SetCookies(u2.URL, b.c.Jar.Cookies(u1.URL))
	if v, _ := b2.do("GET", "/get/during"); v != "2" {
		t.Errorf("the outage write read from PostgreSQL alone = %q, want 2", v)
	}
	if n, err := st.Count(ctx); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want the one session", n, err)
	}
}
