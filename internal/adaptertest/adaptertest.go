// Package adaptertest holds the scenarios that every framework adapter
// module (adapters/chi, adapters/echo, adapters/echov4, adapters/gin) runs
// against a real router of its framework, on an httptest TLS server with a
// cookie jar, driven by httpexpect.
//
// An adapter module describes itself with an [Adapter] and runs them all
// with
//
//	func TestScenarios(t *testing.T) { adaptertest.Run(t, adapter) }
//
// The router that Adapter.NewRouter builds serves these routes, through the
// adapter's middleware:
//
//	GET  /untouched      "hello", never touches the session
//	POST /cart/{item}    appends item to the cart, answers the cart as JSON
//	GET  /cart           the cart as JSON: {"items":[...]}
//	GET  /value/{key}    the string stored under key, or "-"
//	POST /login/{user}   Renew and SetUser, "welcome"
//	POST /logout         Destroy, "bye"
//	GET  /me             behind the adapter's RequireUser: the user ID
//	GET  /write/{how}    sets "how" to {how}, then answers as WriteCases[how] says;
//	                     "string" writes "body" with status 200 the framework's usual way
//
// The package is imported by tests only, never by the library itself.
package adaptertest

import (
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/sessiontest"
)

// Secret is the application secret of the managers the scenarios create.
var Secret = []byte("adapter-tests-0123456789abcdef-0123456789abcdef")

// Adapter describes the adapter under test.
type Adapter struct {
	// NewRouter returns a router of the adapter's framework serving the
	// routes of the package documentation through the adapter's
	// middleware on m.
	NewRouter func(t *testing.T, m *session.Manager) http.Handler

	// WriteCases are the ways the router's handlers produce a body, by the
	// {how} of GET /write/{how}: what each answers. It must hold "string".
	WriteCases map[string]WriteCase
}

// WriteCase is what GET /write/{how} answers.
type WriteCase struct {
	Status int
	Body   string
}

// scenarios are the scenarios Run runs, each as a subtest of its name.
var scenarios = []struct {
	name string
	run  func(*testing.T, Adapter)
}{
	{"TestUntouchedSessionCostsNothing", UntouchedSessionCostsNothing},
	{"TestAnonymousCart", AnonymousCart},
	{"TestLoginRenewsCookie", LoginRenewsCookie},
	{"TestLogoutExpiresCookie", LogoutExpiresCookie},
	{"TestCookieOnEveryWritePath", CookieOnEveryWritePath},
	{"TestTamperedCookieGivesFreshSession", TamperedCookieGivesFreshSession},
	{"TestDegradedHeaderWhenStoreFailsOver", DegradedHeaderWhenStoreFailsOver},
	{"TestDegradedHeaderNameIsConfigurable", DegradedHeaderNameIsConfigurable},
	{"TestStoreFailureAnswersWithErrorHandler", StoreFailureAnswersWithErrorHandler},
}

// Run runs every scenario against a, each as a subtest named after the
// test it was in each adapter module ("TestAnonymousCart" and so on).
func Run(t *testing.T, a Adapter) {
	if a.NewRouter == nil {
		t.Fatal("adaptertest: Adapter.NewRouter is nil")
	}
	if want := (WriteCase{http.StatusOK, "body"}); a.WriteCases["string"] != want {
		t.Fatalf("adaptertest: WriteCases[\"string\"] is %+v, want %+v", a.WriteCases["string"], want)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, a) })
	}
}

// Env is a's router served over TLS with a manager on a store.
type Env struct {
	t      *testing.T
	m      *session.Manager
	srv    *httptest.Server
	logs   *sessiontest.LogBuffer // the manager's log
	srvLog *sessiontest.LogBuffer // net/http's log: superfluous WriteHeader calls and the like
}

// NewEnv serves a's router over TLS with a manager on store, configured
// with opts after the test defaults (Secret, store, a logger into the
// environment's log). When t ends the server is closed, and any line that
// net/http logged fails the test.
func NewEnv(t *testing.T, a Adapter, store backends.Store, opts ...session.Option) *Env {
	t.Helper()
	ev := &Env{t: t, logs: &sessiontest.LogBuffer{}, srvLog: &sessiontest.LogBuffer{}}
	all := append([]session.Option{
		session.WithSecret(Secret),
		session.WithStore(store),
		session.WithLogger(slog.New(slog.NewTextHandler(ev.logs, nil))),
	}, opts...)
	m, err := session.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	ev.m = m
	ev.srv = httptest.NewUnstartedServer(a.NewRouter(t, m))
	ev.srv.Config.ErrorLog = log.New(ev.srvLog, "", 0)
	ev.srv.StartTLS()
	t.Cleanup(func() {
		ev.srv.Close()
		for _, line := range strings.Split(ev.srvLog.String(), "\n") {
			// Handshakes cut short by Close are not the handlers' doing.
			if line != "" && !strings.Contains(line, "TLS handshake error") {
				t.Errorf("server log: %s", line)
			}
		}
	})
	return ev
}

// Browser returns an httpexpect instance with its own cookie jar, and the
// jar's client.
func (ev *Env) Browser() (*httpexpect.Expect, *http.Client) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Transport: ev.srv.Client().Transport,
		Jar:       jar,
		Timeout:   20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return ev.expect(c), c
}

func (ev *Env) expect(c *http.Client) *httpexpect.Expect {
	return httpexpect.WithConfig(httpexpect.Config{
		TestName: ev.t.Name(),
		BaseURL:  ev.srv.URL,
		Client:   c,
		Reporter: httpexpect.NewAssertReporter(ev.t),
	})
}

// withCookie returns a client without a jar that always sends the session
// cookie value v.
func (ev *Env) withCookie(v string) *httpexpect.Expect {
	_, c := ev.Browser()
	c.Jar = nil
	return ev.expect(c).Builder(func(r *httpexpect.Request) { r.WithCookie("session", v) })
}

func (ev *Env) cookie(c *http.Client) string {
	u, _ := http.NewRequest("GET", ev.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(u.URL) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}
