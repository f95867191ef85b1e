package redisstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// instance is one application instance: a session manager on a store of
// its own client, with a few routes.
type instance struct {
	h http.Handler
}

func newInstance(t *testing.T, store *redisstore.Store) *instance {
	t.Helper()
	m, err := session.New(session.WithSecret([]byte("near-cache test secret 4c1f8a7d29e6b035")), session.WithStore(store),
		session.WithTouchInterval(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set(r.PathValue("k"), r.PathValue("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	get := func(w http.ResponseWriter, r *http.Request) {
		v, _, err := session.Get[string](session.MustFromContext(r.Context()), r.PathValue("k"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, v)
	}
	mux.HandleFunc("GET /get/{k}", get)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	admin := http.NewServeMux()
	admin.HandleFunc("GET /admin/get/{k}", get)
	root := http.NewServeMux()
	root.Handle("/", m.Middleware(mux))
	root.Handle("/admin/", session.FreshReads(m.Middleware(admin)))
	return &instance{h: root}
}

// do sends a request with cookie (if any) and returns the body and the
// session cookie the response sets (or cookie again).
func (in *instance) do(t *testing.T, method, path string, cookie *http.Cookie) (string, *http.Cookie) {
	t.Helper()
	req := httptest.NewRequest(method, "https://example.com"+path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	in.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge >= 0 {
			cookie = c
		}
	}
	return rec.Body.String(), cookie
}

// commands returns what the server ran while fn ran.
func commands(t *testing.T, srv *redistest.Server, fn func()) map[string]int64 {
	t.Helper()
	before := srv.CommandStats(t.Context())
	fn()
	return redistest.Delta(before, srv.CommandStats(t.Context()))
}

// TestNearCacheTwoManagers runs two instances, A and B, each a session
// manager on its own client with client-side caching, against one server.
func TestNearCacheTwoManagers(t *testing.T) {
	srv := redistest.StartServer(t)
	const bound = time.Second
	p := newPrefix()
	a := newInstance(t, newStore(t, nearClient(t, srv.Addr(), bound, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout)))
	b := newInstance(t, newStore(t, nearClient(t, srv.Addr(), bound, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout)))

	_, ck := b.do(t, "POST", "/set/a/1", nil)
	for i := range 3 {
		var got string
		d := commands(t, srv, func() { got, _ = a.do(t, "GET", "/get/a", ck) })
		if got != "1" {
			t.Fatalf("A reads %q, want 1", got)
		}
		want := int64(0) // served by A's cache
		if i == 0 {
			want = 1 // the first read fills it
		}
		if d["hmget"] != want || len(d) != int(want) {
			t.Errorf("read %d by A: the server ran %v, want %d HMGET and nothing else", i+1, d, want)
		}
	}
	// A fresh read goes to the server.
	d := commands(t, srv, func() {
		if got, _ := a.do(t, "GET", "/admin/get/a", ck); got != "1" {
			t.Errorf("A's fresh read: %q", got)
		}
	})
	if d["hmget"] != 1 {
		t.Errorf("A's fresh read: the server ran %v, want one HMGET", d)
	}

	// B writes: A sees it within the bound.
	b.do(t, "POST", "/set/b/2", ck)
	took := eventually(t, "A sees B's write", bound+slack, func() bool {
		got, _ := a.do(t, "GET", "/get/b", ck)
		return got == "2"
	})
	t.Logf("A saw B's write after %v", took)

	// B logs out: A sees it within the bound.
	b.do(t, "POST", "/logout", ck)
	took = eventually(t, "A sees B's logout", bound+slack, func() bool {
		got, _ := a.do(t, "GET", "/get/a", ck)
		return got == ""
	})
	t.Logf("A saw B's logout after %v", took)
}

// TestNearCacheTwoManagersStale leaves A's copy stale (B's invalidations
// stay unread on A's idle connection): A's write on the stale copy loses
// the compare-and-set and is merged onto B's record, a fresh read sees a
// logout at once, and a write on the stale copy of a logged-out session
// does not bring the session back.
func TestNearCacheTwoManagersStale(t *testing.T) {
	srv := redistest.StartServer(t)
	const bound = time.Minute
	p := newPrefix()
	a := newInstance(t, newStore(t, nearClient(t, srv.Addr(), bound, time.Hour), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout)))
	b := newInstance(t, newStore(t, nearClient(t, srv.Addr(), bound, 0), redisstore.WithPrefix(p), redisstore.WithTimeout(suiteTimeout)))

	_, ck := b.do(t, "POST", "/set/x/1", nil)
	if got, _ := a.do(t, "GET", "/get/x", ck); got != "1" { // A caches the record
		t.Fatalf("A reads %q", got)
	}
	b.do(t, "POST", "/set/y/2", ck)
	if got, _ := a.do(t, "GET", "/get/y", ck); got != "" {
		t.Fatalf("A's copy is not stale (reads y = %q): the test needs it to be", got)
	}

	// A writes on its stale copy: the save conflicts, the merge reads
	// around the cache, and both writes survive.
	d := commands(t, srv, func() { a.do(t, "POST", "/set/z/3", ck) })
	if d["evalsha"] != 2 || d["hmget"] != 1 {
		t.Errorf("A's write on a stale copy: the server ran %v, want 2 saves (the first conflicts) and 1 read (the merge)", d)
	}
	for k, want := range map[string]string{"x": "1", "y": "2", "z": "3"} {
		if got, _ := b.do(t, "GET", "/get/"+k, ck); got != want {
			t.Errorf("after the merge, %s = %q, want %q", k, got, want)
		}
	}

	// Another session, which A reads (and caches) but does not write.
	_, ck2 := b.do(t, "POST", "/set/x/1", nil)
	if got, _ := a.do(t, "GET", "/get/x", ck2); got != "1" {
		t.Fatalf("A reads x = %q", got)
	}
	// B logs out. A's cached copy still shows the session (for up to the
	// bound, here because the invalidation stays unread).
	b.do(t, "POST", "/logout", ck2)
	if got, _ := a.do(t, "GET", "/get/x", ck2); got != "1" {
		t.Fatalf("A's copy is not stale (reads x = %q after the logout): the test needs it to be", got)
	}

	// A writes on its stale copy of the logged-out session: the save
	// conflicts, the merge finds the record gone, and the session is not
	// brought back under its ID.
	d = commands(t, srv, func() { a.do(t, "POST", "/set/w/4", ck2) })
	if d["evalsha"] < 1 || d["hmget"] != 1 {
		t.Errorf("A's write on a stale copy of a logged-out session: the server ran %v, want a failed save and a fresh read", d)
	}
	for _, k := range []string{"x", "w"} {
		if got, _ := b.do(t, "GET", "/get/"+k, ck2); got != "" {
			t.Errorf("the logged-out session came back: %s = %q", k, got)
		}
	}
	// A fresh read on A sees the logout.
	if got, _ := a.do(t, "GET", "/admin/get/x", ck2); got != "" {
		t.Errorf("A's fresh read after the logout shows x = %q", got)
	}
}
