package replicate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/replicate"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

var testSecret = []byte("an application secret of at least thirty-two bytes")

func cartApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Set(r.FormValue("item"), r.FormValue("qty")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		keys, err := s.Keys()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := map[string]string{}
		for _, k := range keys {
			v, _, _ := session.Get[string](s, k)
			out[k] = v
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}

type shopper struct {
	c    *http.Client
	base string
	cart map[string]string
}

func (s *shopper) add(t *testing.T, item, qty string) {
	t.Helper()
	resp, err := s.c.PostForm(s.base+"/add", url.Values{"item": {item}, "qty": {qty}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("add: %d %s", resp.StatusCode, body)
	}
	s.cart[item] = qty
}

func (s *shopper) check(t *testing.T, when string, degraded bool) {
	t.Helper()
	resp, err := s.c.Get(s.base + "/cart")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("%s: %d %v", when, resp.StatusCode, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(s.cart) {
		t.Errorf("%s: cart %v, want %v", when, got, s.cart)
	}
	if d := resp.Header.Get("X-Session-Degraded") == "true"; d != degraded {
		t.Errorf("%s: degraded header %v, want %v", when, d, degraded)
	}
}

// TestStandbyServesWhenPrimaryStops uses the replicated standby Redis as
// the fail-over target of session.WithFailover: once the primary Redis is
// killed, every shopper still has the cart it built (served from the
// standby, with the degraded header) and can go on shopping.
func TestStandbyServesWhenPrimaryStops(t *testing.T) {
	redistest.Require(t)
	pa, pb := redistest.StartServer(t, redistest.WithAppendOnly()), redistest.StartServer(t)
	primary := redisStore(t, redisClient(t, pa), "session:")
	standby := redisStore(t, redisClient(t, pb), "session:")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rep := newRep(t, primary, []backends.Store{standby}, replicate.WithLogger(quiet))
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quiet),
		session.WithFailover(rep, degrade.WithFallback(standby), degrade.WithTimeout(200*time.Millisecond),
			degrade.WithFailureThreshold(1), degrade.WithProbeInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv := httptest.NewTLSServer(m.Middleware(cartApp()))
	t.Cleanup(srv.Close)

	shoppers := make([]*shopper, 5)
	for i := range shoppers {
		jar, _ := cookiejar.New(nil)
		shoppers[i] = &shopper{c: &http.Client{Transport: srv.Client().Transport, Jar: jar, Timeout: 10 * time.Second}, base: srv.URL, cart: map[string]string{}}
		shoppers[i].add(t, "apples", fmt.Sprint(i+1))
		shoppers[i].add(t, "pears", fmt.Sprint(2*i+1))
		shoppers[i].check(t, "before the outage", false)
	}
	if err := rep.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := rep.Stats(); st.Copied == 0 || st.QueueDepth != 0 {
		t.Fatalf("replication stats %+v: nothing copied", st)
	}

	pa.Kill()
	for i, s := range shoppers {
		s.check(t, fmt.Sprintf("shopper %d during the outage", i), true)
		s.add(t, "plums", "3")
		s.check(t, fmt.Sprintf("shopper %d after adding during the outage", i), true)
	}

	// The primary returns with its data: the outage's writes are replayed
	// onto it, and requests are served from it again.
	pa.Restart(true)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := shoppers[0].c.Get(srv.URL + "/cart")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Session-Degraded") != "true" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still degraded 15 s after the primary came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, s := range shoppers {
		s.check(t, fmt.Sprintf("shopper %d after the recovery", i), false)
	}
}
