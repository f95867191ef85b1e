package transfer_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/transfer"
)

// TestSecretUsersReadsTheManagersSessions checks that SecretUsers derives
// the keys a manager configured with WithSecret alone encrypts with.
func TestSecretUsersReadsTheManagersSessions(t *testing.T) {
	st, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old := []byte("an older application secret, also thirty-two bytes+")
	m, err := session.New(session.WithSecret(testSecret, old), session.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		_ = session.MustFromContext(r.Context()).SetUser("carol")
	})
	srv := newTLS(t, m.Middleware(mux))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: srv.Client().Transport, Jar: jar}
	if _, err := c.PostForm(srv.URL+"/login", url.Values{}); err != nil {
		t.Fatal(err)
	}

	users, err := transfer.SecretUsers(testSecret, old)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = st.Keys(t.Context(), func(k string) bool {
		rec, _, _ := st.Load(t.Context(), k)
		u, deadline, err := users(k, rec)
		if err != nil || u != "carol" || deadline.Before(time.Now()) {
			t.Errorf("user of %s = %q %v %v, want carol", k, u, deadline, err)
		}
		n++
		return true
	})
	if n != 1 {
		t.Fatalf("%d sessions stored, want 1", n)
	}
	if _, err := transfer.SecretUsers([]byte("short")); err == nil {
		t.Error("a short secret accepted")
	}
	var _ backends.Store = st
}
