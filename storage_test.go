package session_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/cookies"
)

// storedRecords returns every record the store holds.
func storedRecords(t *testing.T, st *countingStore) map[string]backends.Record {
	t.Helper()
	out := map[string]backends.Record{}
	ctx := context.Background()
	var keys []string
	if err := st.Keys(ctx, func(k string) bool { keys = append(keys, k); return true }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		rec, ok, err := st.Store.Load(ctx, k)
		if err != nil || !ok {
			t.Fatalf("load %s: %v %v", k, ok, err)
		}
		out[k] = rec
	}
	return out
}

// What the store holds reveals neither the session ID nor the values.
func TestStoreHoldsNoIDAndNoPlaintext(t *testing.T) {
	signKey := []byte("Xq7vN2pL9dR4tY8wK1mZ6cB3hF5jG0sA")
	ev := newEnv(t, session.WithCookieKeys(signKey))
	c := ev.client()
	e := ev.expectWith(c)
	e.POST("/set/secret/correct-horse-battery-staple").Expect().Status(200)
	e.POST("/login/alice-in-wonderland").Expect().Status(200)

	signer, err := cookies.NewSigner([][]byte{signKey}, 0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := signer.Verify("session", ev.sessionCookie(c).Value)
	if err != nil {
		t.Fatal(err)
	}
	recs := storedRecords(t, ev.store)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	for key, rec := range recs {
		if strings.Contains(key, id) {
			t.Errorf("store key %q contains the session ID", key)
		}
		for _, plain := range []string{id, "correct-horse-battery-staple", "alice-in-wonderland", "secret"} {
			if bytes.Contains(rec.Blob, []byte(plain)) {
				t.Errorf("stored blob contains %q in clear", plain)
			}
		}
	}
}

// A record that cannot be opened (corrupt, foreign, wrong key) gives a fresh
// session and a logged security event, never a 5xx.
func TestUndecodableRecordGivesFreshSession(t *testing.T) {
	ev := newEnv(t)
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200)
	ctx := context.Background()
	for key, rec := range storedRecords(t, ev.store) {
		bad := bytes.Clone(rec.Blob)
		bad[len(bad)-1] ^= 0xff
		if _, err := ev.store.Store.Save(ctx, key, bad, rec.Expiry, rec.Version); err != nil {
			t.Fatal(err)
		}
	}
	e.GET("/get/a").Expect().Status(200).Body().IsEqual("-")
	logs := ev.logs.String()
	if !strings.Contains(logs, "stored session cannot be decoded") || !strings.Contains(logs, "level=WARN") {
		t.Fatalf("no security event logged: %s", logs)
	}
	// The fresh session works and gets a new ID.
	e.POST("/set/b/2").Expect().Status(200).Cookie("session").Value().NotEmpty()
	e.GET("/get/b").Expect().Body().IsEqual("2")
}

// Rotating the secret keeps old sessions readable; new writes use the new
// keys; dropping the old secret makes old sessions fresh, not errors.
func TestSecretRotation(t *testing.T) {
	oldSecret := []byte("the old application secret, 32+ bytes long")
	newSecret := []byte("the new application secret, 32+ bytes long")
	store := newCountingStore(t)
	manager := func(secrets ...[]byte) *session.Manager {
		m, err := session.New(session.WithSecret(secrets...), session.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	app := testApp(t)
	// serve sends one request through m and returns the response and body.
	serve := func(m *session.Manager, method, path string, ck *http.Cookie) (*http.Response, string) {
		t.Helper()
		srv := newPlainServer(t, withManager(m, m.Middleware(app)))
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if ck != nil {
			req.AddCookie(ck)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp, buf.String()
	}
	body := func(m *session.Manager, path string, ck *http.Cookie) string {
		_, b := serve(m, "GET", path, ck)
		return b
	}

	before := manager(oldSecret)
	resp, _ := serve(before, "POST", "/set/a/1", nil)
	oldCookie := resp.Cookies()[0]

	rotated := manager(newSecret, oldSecret)
	if got := body(rotated, "/get/a", oldCookie); got != "1" {
		t.Fatalf("after rotation the old session reads %q, want 1", got)
	}
	// A renewal writes with the new keys: a manager that only knows the
	// new secret reads it.
	resp, _ = serve(rotated, "POST", "/login/alice", oldCookie)
	newCookie := resp.Cookies()[0]
	onlyNew := manager(newSecret)
	if got := body(onlyNew, "/get/a", newCookie); got != "1" {
		t.Fatalf("session written after rotation reads %q with the new secret alone", got)
	}
	// Without the old secret, a session from before is simply fresh.
	resp2, _ := serve(before, "POST", "/set/b/2", nil)
	if got := body(onlyNew, "/get/b", resp2.Cookies()[0]); got != "-" {
		t.Fatalf("old session read %q without the old secret, want a fresh session", got)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	cases := map[string][]session.Option{
		"no secret":            nil,
		"short secret":         {session.WithSecret([]byte("short"))},
		"idle over lifetime":   {session.WithSecret(testSecret), session.WithIdleTimeout(2 * 3600e9), session.WithLifetime(3600e9)},
		"host prefix + domain": {session.WithSecret(testSecret), session.WithCookie(cookies.Config{HostPrefix: true, Domain: "example.com", Secure: cookies.SecureAlways})},
		"bad cookie name":      {session.WithSecret(testSecret), session.WithCookie(cookies.Config{Name: "bad name"})},
		"tiny max size":        {session.WithSecret(testSecret), session.WithMaxSize(10)},
		"bad header":           {session.WithSecret(testSecret), session.WithTokenHeader("Bad Header")},
		"nil store":            {session.WithSecret(testSecret), session.WithStore(nil)},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := session.New(opts...)
			if err == nil {
				m.Close()
				t.Fatal("New accepted an invalid configuration")
			}
			if !errorsIs(err, session.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}
