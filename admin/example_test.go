package admin_test

import (
	"fmt"
	"io"
	"iter"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/admin"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

// The handler is mounted behind the application's own login: here the
// operator is whoever the session says, if that user is on the staff list.
func ExampleNew() {
	m, err := session.New(session.WithSecret([]byte("example secret: use 32+ random bytes in production")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	staff := map[string]bool{"root": true}
	h, err := admin.New(m, func(r *http.Request) (string, bool) {
		user, err := session.MustFromContext(r.Context()).User()
		return user, err == nil && staff[user]
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// A real login checks a password first.
		s := session.MustFromContext(r.Context())
		s.Renew()
		s.SetUser(r.FormValue("user"))
	})
	mux.Handle("/admin/api/", http.StripPrefix("/admin/api", h))
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()

	browser := func(user string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Post(srv.URL+"/login?user="+user, "", nil)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return c
	}
	show := func(resp *http.Response, err error) {
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}

	browser("alice")
	browser("alice")
	operator := browser("root")

	// Alice is not staff; the operator is.
	show(browser("alice").Get(srv.URL + "/admin/api/counts"))
	show(operator.Get(srv.URL + "/admin/api/counts"))
	// Log Alice out everywhere: a JSON POST (a form post is refused).
	show(operator.Post(srv.URL+"/admin/api/users/revoke", "application/x-www-form-urlencoded", strings.NewReader("user=alice")))
	show(operator.Post(srv.URL+"/admin/api/users/revoke", "application/json", strings.NewReader(`{"user":"alice"}`)))
	show(operator.Get(srv.URL + "/admin/api/sessions?user=alice"))
	// Output:
	// 403 {"error":"forbidden"}
	// 200 {"stores":[{"name":"memstore","sessions":4}]}
	// 415 {"error":"Content-Type must be application/json"}
	// 200 {"revoked":3}
	// 200 {"user":"alice","sessions":[]}
}

// An administration page served from another origin: trust it explicitly.
func ExampleWithCrossOriginProtection() {
	m, err := session.New(session.WithSecret([]byte("example secret: use 32+ random bytes in production")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin("https://ops.example.com"); err != nil {
		log.Fatal(err)
	}
	h, err := admin.New(m, func(r *http.Request) (string, bool) { return "ops", true }, // an authenticating proxy stands in front
		admin.WithCrossOriginProtection(cop), admin.WithTimeout(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	for _, origin := range []string{"https://ops.example.com", "https://elsewhere.example"} {
		req := httptest.NewRequest("POST", "https://shop.example.com/users/revoke", strings.NewReader(`{"user":"alice"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(origin, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// https://ops.example.com 200 {"revoked":0}
	// https://elsewhere.example 403 {"error":"cross-origin request refused"}
}

// migration stands for a store that migrates sessions from one store to
// another: it reports its phase and the stores it is built on.
type migration struct {
	backends.Store // reads and writes: the real thing forwards them by phase
	old, new       backends.Store
}

func (s migration) Name() string           { return "migration" }
func (s migration) MigrationPhase() string { return "read-new" }
func (s migration) WrappedStores() iter.Seq2[string, backends.Store] {
	return func(yield func(string, backends.Store) bool) {
		_ = yield("old", s.old) && yield("new", s.new)
	}
}

// A store that implements Wrapper and Migration shows its phase and its
// stores in GET /stores.
func ExampleMigration() {
	old, _ := memstore.New(memstore.Options{})
	defer old.Close()
	nw, _ := memstore.New(memstore.Options{})
	defer nw.Close()
	m, err := session.New(session.WithSecret([]byte("example secret: use 32+ random bytes in production")),
		session.WithStore(migration{Store: old, old: old, new: nw}))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h, err := admin.New(m, func(r *http.Request) (string, bool) { return "ops", true })
	if err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/stores", nil))
	fmt.Println(strings.TrimSpace(rec.Body.String()))
	// Output:
	// {"stores":[{"name":"migration","depth":0,"migration":{"phase":"read-new"}},{"name":"memstore","role":"old","depth":1},{"name":"memstore","role":"new","depth":1}]}
}
