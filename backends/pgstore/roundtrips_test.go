package pgstore_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/internal/pgtest"
)

// tripCounter counts round trips to the server: a write on a connection
// after a read (or the first write) starts one; writes in a row are one
// trip (a pipeline).
type tripCounter struct {
	mu    sync.Mutex
	trips int
}

func (c *tripCounter) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.trips
	c.trips = 0
	return n
}

type countingConn struct {
	net.Conn
	c       *tripCounter
	writing bool // the last transfer was a write
}

func (cc *countingConn) Write(b []byte) (int, error) {
	cc.c.mu.Lock()
	if !cc.writing {
		cc.c.trips++
		cc.writing = true
	}
	cc.c.mu.Unlock()
	return cc.Conn.Write(b)
}

func (cc *countingConn) Read(b []byte) (int, error) {
	n, err := cc.Conn.Read(b)
	if n > 0 {
		cc.c.mu.Lock()
		cc.writing = false
		cc.c.mu.Unlock()
	}
	return n, err
}

// TestRoundTripsPerRequest counts the round trips to PostgreSQL of each
// kind of request through the session manager, on a pool of one
// connection: a request that does not touch its session makes none, a
// read one, a write two (read, compare-and-set), a login with renewal
// three (read; the renewal transaction in one pipeline; COMMIT), a read
// that extends the idle timeout two (read, touch). The first use of each
// statement on a connection costs one more (pgx prepares it, then keeps
// it).
func TestRoundTripsPerRequest(t *testing.T) {
	pgtest.Require(t)
	srv := pgtest.Start(t)
	counter := &tripCounter{}
	pcfg, err := pgxpool.ParseConfig(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 1
	pcfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pcfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, c: counter}, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := newStore(t, pool, pgstore.WithJanitor(-1, 0))
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(st), session.WithTouchInterval(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /untouched", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /get/{k}", func(w http.ResponseWriter, r *http.Request) {
		v, _, _ := session.Get[string](session.MustFromContext(r.Context()), r.PathValue("k"))
		io.WriteString(w, v)
	})
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set(r.PathValue("k"), r.PathValue("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /login/{u}", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		err := s.SetUser(r.PathValue("u"))
		if err == nil {
			err = s.Renew()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	web := httptest.NewTLSServer(m.Middleware(mux))
	defer web.Close()
	c := web.Client()
	c.Jar, _ = cookiejar.New(nil)
	do := func(method, path, want string) {
		t.Helper()
		req, _ := http.NewRequest(method, web.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (want != "" && string(body) != want) {
			t.Fatalf("%s %s = %d %q, want 200 %q", method, path, resp.StatusCode, body, want)
		}
	}
	count := func(check bool, name string, want int, method, path, body string) {
		t.Helper()
		counter.take()
		do(method, path, body)
		if got := counter.take(); check && got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
	}

	do("POST", "/set/a/1", "") // the session exists; the schema is checked, the connection open
	// The first pass is not counted: pgx prepares each statement the first
	// time a connection runs it (one more round trip), then reuses it.
	for pass := range 2 {
		check := pass == 1
		count(check, "untouched", 0, "GET", "/untouched", "")
		count(check, "read-only", 1, "GET", "/get/a", "1")
		count(check, "write", 2, "POST", "/set/b/2", "")
		count(check, "login with renewal", 3, "POST", "/login/alice", "")
		time.Sleep(400 * time.Millisecond) // past the touch interval
		count(check, "read with touch", 2, "GET", "/get/a", "1")
		count(check, "read within the touch interval", 1, "GET", "/get/a", "1")
	}
}
