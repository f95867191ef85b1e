package transfer_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/redistest"
)

var (
	testSecret = []byte("an application secret of at least thirty-two bytes")
	testKey    = []byte("0123456789abcdef0123456789abcdef")
)

func keyring(t *testing.T) *codec.Keyring {
	kr, err := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// shop is an application on one store: /login binds a user, /add puts an
// item in the cart, /cart shows it.
type shop struct {
	m   *session.Manager
	srv *httptest.Server
}

func newShop(t *testing.T, st backends.Store) *shop {
	m, err := session.New(session.WithSecret(testSecret), session.WithKeyring(keyring(t)), session.WithStore(st),
		session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		err := s.SetUser(r.FormValue("u"))
		if err == nil {
			err = s.Renew()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		_ = session.MustFromContext(r.Context()).Set(r.FormValue("item"), "1")
	})
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		keys, _ := session.MustFromContext(r.Context()).Keys()
		_ = json.NewEncoder(w).Encode(keys)
	})
	srv := httptest.NewTLSServer(m.Middleware(mux))
	t.Cleanup(srv.Close)
	return &shop{m: m, srv: srv}
}

func newTLS(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func (s *shop) cart(t *testing.T, c *http.Client) []string {
	resp, err := c.Get(s.srv.URL + "/cart")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var keys []string
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestBackupRestoreIntoEmptyServer backs up the sessions of a shop on one
// Redis server, restores them into an empty one, and checks that a second
// shop on the restored server serves the same carts to the same cookies and
// that RevokeUser (log out everywhere) finds every session of a user.
func TestBackupRestoreIntoEmptyServer(t *testing.T) {
	redistest.Require(t)
	a, b := redistest.StartServer(t), redistest.StartServer(t)
	first := newShop(t, newRedis(t, a))
	type visitor struct {
		c    *http.Client
		user string
		item string
	}
	var visitors []visitor
	for i, user := range []string{"alice", "alice", "alice", "bob", "bob", ""} {
		jar, _ := cookiejar.New(nil)
		v := visitor{c: &http.Client{Transport: first.srv.Client().Transport, Jar: jar}, user: user, item: "item" + string(rune('a'+i))}
		if user != "" {
			if _, err := v.c.PostForm(first.srv.URL+"/login", url.Values{"u": {user}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := v.c.PostForm(first.srv.URL+"/add", url.Values{"item": {v.item}}); err != nil {
			t.Fatal(err)
		}
		visitors = append(visitors, v)
	}

	for _, v := range visitors {
		if got := first.cart(t, v.c); len(got) != 1 {
			u, _ := url.Parse(first.srv.URL)
			t.Fatalf("first shop cart %v, cookies %v", got, v.c.Jar.Cookies(u))
		}
	}
	pipeline, err := codec.New(codec.WithKeyring(keyring(t)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	bst, err := transfer.Backup(t.Context(), &buf, first.m.Store(), transfer.Options{Users: transfer.CodecUsers(pipeline)})
	if err != nil || bst.Copied != int64(len(visitors)) || bst.Indexed != 5 {
		t.Fatalf("Backup = %+v, %v; want %d records, 5 indexed", bst, err, len(visitors))
	}
	// Every line is JSON on its own (what jq reads).
	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not JSON: %s", i+1, line)
		}
	}
	restored := newRedis(t, b)
	rst, err := transfer.Restore(t.Context(), restored, bytes.NewReader(buf.Bytes()), transfer.Options{})
	if err != nil || rst.Copied != int64(len(visitors)) || rst.Indexed != 5 {
		t.Fatalf("Restore = %+v, %v", rst, err)
	}
	// Restoring again with SkipExisting changes nothing.
	if again, err := transfer.Restore(t.Context(), restored, bytes.NewReader(buf.Bytes()), transfer.Options{Mode: transfer.SkipExisting}); err != nil || again.Skipped != int64(len(visitors)) {
		t.Fatalf("second Restore = %+v, %v", again, err)
	}

	second := newShop(t, restored)
	for _, v := range visitors {
		v.c.Transport = second.srv.Client().Transport
		// The jar is per host: the cookies apply to the second shop too.
		if got := second.cart(t, v.c); len(got) != 1 || got[0] != v.item {
			t.Errorf("%s's cart on the restored server: %v, want [%s]", v.user, got, v.item)
		}
	}
	n, err := second.m.RevokeUser(t.Context(), "alice")
	if err != nil || n != 3 {
		t.Fatalf("RevokeUser(alice) = %d, %v; want 3", n, err)
	}
	for _, v := range visitors {
		got := second.cart(t, v.c)
		if v.user == "alice" && len(got) != 0 {
			t.Errorf("alice's session survived the revocation: %v", got)
		}
		if v.user != "alice" && len(got) != 1 {
			t.Errorf("%q's session lost by alice's revocation: %v", v.user, got)
		}
	}
}
