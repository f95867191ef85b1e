package session_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/sessiontest"
)

// secEnv serves secApp behind a manager, for the tests of devices,
// binding and rotation. Its requests carry cookies explicitly (no jar), so
// that a test can replay any ID it has seen.
type secEnv struct {
	t     *testing.T
	m     *session.Manager
	store *countingStore
	srv   *httptest.Server
	logs  *sessiontest.LogBuffer
}

func newSecEnv(t *testing.T, store backends.Store, opts ...session.Option) *secEnv {
	t.Helper()
	ev := &secEnv{t: t, logs: &sessiontest.LogBuffer{}}
	if store == nil {
		ev.store = newCountingStore(t)
		store = ev.store
	}
	logger := slog.New(slog.NewTextHandler(ev.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]session.Option{
		session.WithSecret(testSecret),
		session.WithStore(store),
		session.WithLogger(logger),
	}, opts...)
	m, err := session.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ev.m = m
	ev.srv = httptest.NewServer(m.Middleware(secApp(t, m)))
	t.Cleanup(ev.srv.Close)
	return ev
}

// secApp is the application of the secEnv tests.
func secApp(t *testing.T, m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	sess := func(r *http.Request) *session.Session { return session.MustFromContext(r.Context()) }
	fail := func(w http.ResponseWriter, err error) {
		t.Errorf("handler: %v", err)
		http.Error(w, err.Error(), 599)
	}
	mux.HandleFunc("POST /login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		if err := s.Renew(); err != nil {
			if errors.Is(err, session.ErrPreviousID) {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			fail(w, err)
			return
		}
		if err := s.SetUser(r.PathValue("user")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "welcome")
	})
	mux.HandleFunc("POST /set/{key}/{val}", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Set(r.PathValue("key"), r.PathValue("val")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		keys, err := sess(r).Keys()
		if err != nil {
			fail(w, err)
			return
		}
		json.NewEncoder(w).Encode(keys)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, err := sess(r).User()
		if err != nil {
			fail(w, err)
			return
		}
		if u == "" {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, u)
	})
	mux.HandleFunc("GET /handle", func(w http.ResponseWriter, r *http.Request) {
		h, err := sess(r).Handle()
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, h)
	})
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		u, err := sess(r).User()
		if err != nil {
			fail(w, err)
			return
		}
		infos, err := m.UserSessions(r.Context(), u)
		if err != nil {
			fail(w, err)
			return
		}
		json.NewEncoder(w).Encode(infos)
	})
	// /slow/{gate}/{action}: load the session, signal, wait, then act
	// (the gates of helpers_test.go).
	mux.HandleFunc("POST /slow/{gate}/{action}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		if _, err := s.Keys(); err != nil {
			fail(w, err)
			return
		}
		gv, ok := gates.Load(r.PathValue("gate"))
		if !ok {
			fail(w, errors.New("no such gate"))
			return
		}
		g := gv.(*gate)
		close(g.loaded)
		<-g.release
		var err error
		switch r.PathValue("action") {
		case "set":
			err = s.Set("late", "write")
		case "renew":
			err = s.Renew()
		}
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "done")
	})
	mux.HandleFunc("POST /revoke/{handle}", func(w http.ResponseWriter, r *http.Request) {
		u, err := sess(r).User()
		if err != nil {
			fail(w, err)
			return
		}
		ok, err := m.RevokeSession(r.Context(), u, r.PathValue("handle"))
		if err != nil {
			fail(w, err)
			return
		}
		json.NewEncoder(w).Encode(ok)
	})
	return mux
}

// reply is what secEnv.do saw of a response.
type reply struct {
	status int
	body   string
	cookie *http.Cookie // the session cookie it set, if any
	header http.Header
}

// do sends one request carrying session cookie id ("" for none) and the
// headers given as name, value pairs.
func (ev *secEnv) do(method, path, cookie string, headers ...string) reply {
	ev.t.Helper()
	rp, err := ev.send(method, path, cookie, headers...)
	if err != nil {
		ev.t.Fatal(err)
	}
	return rp
}

// send is do for other goroutines than the test's: it returns the error.
func (ev *secEnv) send(method, path, cookie string, headers ...string) (reply, error) {
	req, err := http.NewRequest(method, ev.srv.URL+path, nil)
	if err != nil {
		return reply{}, err
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: cookie})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ev.srv.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	rp := reply{status: resp.StatusCode, body: strings.TrimSpace(string(b)), header: resp.Header}
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			rp.cookie = c
		}
	}
	return rp, err
}

// login logs user in from a new client and returns its cookie value.
func (ev *secEnv) login(user string, headers ...string) string {
	ev.t.Helper()
	rp := ev.do("POST", "/login/"+user, "", headers...)
	if rp.status != 200 || rp.cookie == nil {
		ev.t.Fatalf("login %s: %d %q, cookie %v", user, rp.status, rp.body, rp.cookie)
	}
	return rp.cookie.Value
}

func (ev *secEnv) devices(cookie string, headers ...string) []session.SessionInfo {
	ev.t.Helper()
	rp := ev.do("GET", "/devices", cookie, headers...)
	if rp.status != 200 {
		ev.t.Fatalf("GET /devices: %d %q", rp.status, rp.body)
	}
	var infos []session.SessionInfo
	if err := json.Unmarshal([]byte(rp.body), &infos); err != nil {
		ev.t.Fatal(err)
	}
	return infos
}

const (
	uaFirefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaSafariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaChromeWin    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// TestDevicesListed: UserSessions describes each session with its
// creation, last use, network (as configured, from the trusted proxy's
// header) and a User-Agent summary.
func TestDevicesListed(t *testing.T) {
	ev := newSecEnv(t, nil,
		session.WithDeviceIP(24, 48),
		session.WithClientIPHeader("X-Forwarded-For", netip.MustParsePrefix("127.0.0.0/8")))
	before := time.Now().Add(-time.Second)
	laptop := ev.login("alice", "User-Agent", uaFirefoxLinux, "X-Forwarded-For", "192.0.2.200, 203.0.113.77")
	phone := ev.login("alice", "User-Agent", uaSafariIPhone, "X-Forwarded-For", "2001:db8:1:2::99")
	ev.login("bob", "User-Agent", uaChromeWin)

	infos := ev.devices(laptop, "User-Agent", uaFirefoxLinux)
	if len(infos) != 2 {
		t.Fatalf("alice has %d sessions listed, want 2: %+v", len(infos), infos)
	}
	want := map[string][2]string{
		handleOf(t, ev, laptop, uaFirefoxLinux): {"203.0.113.0/24", "Firefox on Linux"},
		handleOf(t, ev, phone, uaSafariIPhone):  {"2001:db8:1::/48", "Safari on iOS"},
	}
	for _, in := range infos {
		w, ok := want[in.Handle]
		if !ok {
			t.Errorf("unexpected session %+v", in)
			continue
		}
		if in.IP != w[0] || in.UserAgent != w[1] {
			t.Errorf("session listed as IP %q, UserAgent %q; want %q, %q", in.IP, in.UserAgent, w[0], w[1])
		}
		if in.Created.Before(before) || in.LastSeen.Before(in.Created) || !in.Expires.After(in.LastSeen) {
			t.Errorf("times of %+v out of order", in)
		}
	}
}

func handleOf(t *testing.T, ev *secEnv, cookie, ua string) string {
	t.Helper()
	rp := ev.do("GET", "/handle", cookie, "User-Agent", ua)
	if rp.status != 200 || rp.body == "" {
		t.Fatalf("GET /handle: %d %q", rp.status, rp.body)
	}
	return rp.body
}

// TestDevicesIPNotRecordedByDefault: without WithDeviceIP no address is
// kept, and a forwarded header is ignored unless configured.
func TestDevicesIPNotRecordedByDefault(t *testing.T) {
	ev := newSecEnv(t, nil)
	c := ev.login("alice", "User-Agent", uaChromeWin, "X-Forwarded-For", "203.0.113.7")
	infos := ev.devices(c, "User-Agent", uaChromeWin)
	if len(infos) != 1 || infos[0].IP != "" || infos[0].UserAgent != "Chrome on Windows" {
		t.Fatalf("listed %+v, want one Chrome on Windows session without an address", infos)
	}
}

// TestDevicesClientIPHeaderFromUntrustedPeer: a header sent by a client
// that is not one of the trusted proxies is ignored: its own address is
// recorded.
func TestDevicesClientIPHeaderFromUntrustedPeer(t *testing.T) {
	ev := newSecEnv(t, nil,
		session.WithDeviceIP(32, 128),
		session.WithClientIPHeader("X-Forwarded-For", netip.MustParsePrefix("10.0.0.0/8")))
	c := ev.login("alice", "X-Forwarded-For", "203.0.113.7")
	infos := ev.devices(c)
	if len(infos) != 1 || infos[0].IP != "127.0.0.1" {
		t.Fatalf("listed %+v, want the peer's own address 127.0.0.1", infos)
	}
}

// TestDevicesLastSeenWithoutExtraWrites: reading a session writes nothing
// (the metadata rides along with writes), and LastSeen moves with a
// later write.
func TestDevicesLastSeenWithoutExtraWrites(t *testing.T) {
	ev := newSecEnv(t, nil)
	c := ev.login("alice")
	first := ev.devices(c)[0].LastSeen
	saves := ev.store.saves.Load()
	for range 3 {
		if rp := ev.do("GET", "/me", c); rp.status != 200 || rp.cookie != nil {
			t.Fatalf("GET /me: %d, cookie %v", rp.status, rp.cookie)
		}
	}
	if n := ev.store.saves.Load() - saves; n != 0 {
		t.Errorf("reads made %d saves, want 0", n)
	}
	time.Sleep(5 * time.Millisecond)
	if rp := ev.do("POST", "/set/k/v", c); rp.status != 200 {
		t.Fatalf("POST /set: %d %q", rp.status, rp.body)
	}
	if n := ev.store.saves.Load() - saves; n != 1 {
		t.Errorf("a write made %d saves, want 1", n)
	}
	if last := ev.devices(c)[0].LastSeen; !last.After(first) {
		t.Errorf("LastSeen %v did not move past %v with a write", last, first)
	}
	rp := ev.do("GET", "/keys", c)
	if rp.body != `["k"]` {
		t.Errorf("keys besides the metadata: %s", rp.body)
	}
}

// TestRevokeSession: one session of a user can be logged out by its
// handle; the user's other sessions, and other users' sessions, stay.
func TestRevokeSession(t *testing.T) {
	ev := newSecEnv(t, nil)
	a1, a2 := ev.login("alice"), ev.login("alice")
	b := ev.login("bob")
	h2, hb := handleOf(t, ev, a2, ""), handleOf(t, ev, b, "")
	if rp := ev.do("POST", "/revoke/"+hb, a1); rp.body != "false" {
		t.Errorf("alice revoking bob's session: %q, want false", rp.body)
	}
	if rp := ev.do("POST", "/revoke/not-a-handle", a1); rp.body != "false" {
		t.Errorf("revoking a malformed handle: %q, want false", rp.body)
	}
	if rp := ev.do("POST", "/revoke/"+h2, a1); rp.body != "true" {
		t.Fatalf("alice revoking her other session: %d %q, want true", rp.status, rp.body)
	}
	if rp := ev.do("GET", "/me", a2); rp.status != http.StatusUnauthorized {
		t.Errorf("revoked session: %d %q, want 401", rp.status, rp.body)
	}
	for _, c := range []string{a1, b} {
		if rp := ev.do("GET", "/me", c); rp.status != 200 {
			t.Errorf("a session that was not revoked: %d %q", rp.status, rp.body)
		}
	}
	if n := len(ev.devices(a1)); n != 1 {
		t.Errorf("alice has %d sessions, want 1", n)
	}
	if !strings.Contains(ev.logs.String(), "event=user_revoked") {
		t.Error("no user_revoked audit record")
	}
}

func TestDeviceOptionsValidated(t *testing.T) {
	for name, opt := range map[string]session.Option{
		"v4 bits 0":        session.WithDeviceIP(0, 48),
		"v6 bits 129":      session.WithDeviceIP(24, 129),
		"empty header":     session.WithClientIPHeader(""),
		"bad header":       session.WithClientIPHeader("X Forwarded"),
		"invalid proxy":    session.WithClientIPHeader("X-Real-IP", netip.Prefix{}),
		"binding bits":     session.WithIPBinding(33, 48),
		"rotation 10ms":    session.WithRotationInterval(10 * time.Millisecond),
		"rotation < 0":     session.WithRotationInterval(-time.Hour),
		"grace > max":      session.WithRotationGrace(2 * time.Minute),
		"grace < 0":        session.WithRotationGrace(-time.Second),
		"grace, no period": session.WithRotationGrace(time.Second),
	} {
		if _, err := session.New(session.WithSecret(testSecret), opt); !errors.Is(err, session.ErrInvalidConfig) {
			t.Errorf("%s: New: %v, want ErrInvalidConfig", name, err)
		}
	}
}
