package session_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/sessionkit/session"
)

// exampleLogin logs a client in as user, with the given User-Agent and
// address, and returns the session cookie.
func exampleLogin(h http.Handler, user, ua, addr string) *http.Cookie {
	req := httptest.NewRequest("POST", "https://example.com/login/"+user, nil)
	req.Header.Set("User-Agent", ua)
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result().Cookies()[0]
}

func exampleDevicesHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Renew(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.SetUser(r.PathValue("user")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

// A "my devices" page lists the user's sessions with their network and
// browser; here the network is recorded as a /24 (IPv4) or /48 (IPv6).
func ExampleWithDeviceIP() {
	m, err := session.New(session.WithSecret(exampleSecret), session.WithDeviceIP(24, 48))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(exampleDevicesHandler())
	exampleLogin(h, "alice", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "203.0.113.77:50000")
	exampleLogin(h, "alice", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "[2001:db8:1:2::99]:50000")

	infos, err := m.UserSessions(context.Background(), "alice")
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range infos {
		fmt.Printf("%s from %s\n", in.UserAgent, in.IP)
	}
	// Output:
	// Firefox on Linux from 203.0.113.0/24
	// Safari on iOS from 2001:db8:1::/48
}

// Behind a reverse proxy at 10.0.0.2, the client's address is the one the
// proxy appends to X-Forwarded-For; the header of any other peer is
// ignored.
func ExampleWithClientIPHeader() {
	m, err := session.New(session.WithSecret(exampleSecret),
		session.WithDeviceIP(32, 128),
		session.WithClientIPHeader("X-Forwarded-For", netip.MustParsePrefix("10.0.0.2/32")))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(exampleDevicesHandler())
	req := httptest.NewRequest("POST", "https://example.com/login/alice", nil)
	req.RemoteAddr = "10.0.0.2:41000"
	req.Header.Set("X-Forwarded-For", "192.0.2.1, 198.51.100.23")
	h.ServeHTTP(httptest.NewRecorder(), req)

	infos, _ := m.UserSessions(context.Background(), "alice")
	fmt.Println(infos[0].IP)
	// Output: 198.51.100.23
}

// A "log out" button next to each session of the devices page.
func ExampleManager_RevokeSession() {
	m, err := session.New(session.WithSecret(exampleSecret))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(exampleDevicesHandler())
	exampleLogin(h, "alice", "curl/8.5.0", "192.0.2.1:1")
	exampleLogin(h, "alice", "curl/8.5.0", "192.0.2.1:2")

	ctx := context.Background()
	infos, _ := m.UserSessions(ctx, "alice")
	ok, err := m.RevokeSession(ctx, "alice", infos[0].Handle)
	if err != nil {
		log.Fatal(err)
	}
	left, _ := m.UserSessions(ctx, "alice")
	fmt.Println(ok, len(left))
	// Output: true 1
}
