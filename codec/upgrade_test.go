package codec_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/codec"
)

// upgradeRig is one application instance: a manager on the shared store,
// configured with the serializer of one release.
func upgradeManager(t *testing.T, store *memstore.Store, opts ...codec.Option) *session.Manager {
	t.Helper()
	m, err := session.New(
		session.WithStore(store),
		session.WithSecret([]byte("Upgrade test secret: 7f3a9c1e52b84d06 kept fixed")),
		session.WithLogger(slog.New(slog.DiscardHandler)),
		session.WithCodecOptions(opts...),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// storedSerializer returns the serializer named by the stored blob of
// alice's session.
func storedSerializer(t *testing.T, store *memstore.Store) string {
	t.Helper()
	ctx := context.Background()
	keys, err := store.UserKeys(ctx, "alice")
	if err != nil || len(keys) != 1 {
		t.Fatalf("alice's sessions: %v, %v", keys, err)
	}
	rec, ok, err := store.Load(ctx, keys[0])
	if err != nil || !ok {
		t.Fatalf("load: %v %v", ok, err)
	}
	return string(rec.Blob[4 : 4+int(rec.Blob[3])])
}

// TestUpgradeFromJSONKeepsUsersLoggedIn runs the upgrade through the
// middleware: a release that stored values as JSON logs alice in and fills
// her cart; the release with the CBOR default, on the same store and
// secret, serves the same cookie: alice is still logged in, her cart reads
// back into its type, and her next write stores the session in CBOR. The
// JSON release, put back, reads that session too.
func TestUpgradeFromJSONKeepsUsersLoggedIn(t *testing.T) {
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	before := upgradeManager(t, store, codec.WithSerializer(codec.JSON{}))
	after := upgradeManager(t, store)
	cart := goldenCartOf(20)
	price := money{cents: 1999, currency: "EUR"}

	login := before.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.SetUser("alice"); err != nil {
			t.Error(err)
		}
		if err := s.Set("cart", cart); err != nil {
			t.Error(err)
		}
		if err := s.Set("price", price); err != nil {
			t.Error(err)
		}
	}))
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest("POST", "/login", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies", len(cookies))
	}
	if got := storedSerializer(t, store); got != "json" {
		t.Fatalf("the JSON release stored %q", got)
	}

	// read checks the session with the cookie through m, and writes to it
	// when write is set.
	read := func(m *session.Manager, write bool) {
		t.Helper()
		h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.MustFromContext(r.Context())
			user, err := s.User()
			if err != nil || user != "alice" {
				t.Errorf("user %q, %v; want alice", user, err)
			}
			c, ok, err := session.Get[goldenCart](s, "cart")
			if err != nil || !ok || !reflect.DeepEqual(c, cart) {
				t.Errorf("cart: %v %v, equal %v", ok, err, reflect.DeepEqual(c, cart))
			}
			p, ok, err := session.Get[money](s, "price")
			if err != nil || !ok || p != price {
				t.Errorf("price %+v %v %v, want %+v", p, ok, err, price)
			}
			if write {
				if err := s.Set("visited", r.URL.Path); err != nil {
					t.Error(err)
				}
			}
			io.WriteString(w, "ok")
		}))
		req := httptest.NewRequest("GET", "/cart", nil)
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}

	read(after, false)
	if got := storedSerializer(t, store); got != "json" {
		t.Fatalf("a read rewrote the session (%q)", got)
	}
	read(after, true)
	if got := storedSerializer(t, store); got != "cbor" {
		t.Fatalf("after a write the store holds %q, want cbor", got)
	}
	read(after, false)
	read(before, true)
	if got := storedSerializer(t, store); got != "json" {
		t.Fatalf("after a write by the JSON release the store holds %q, want json", got)
	}
	read(after, false)
}
