package migrate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/migrate"
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

// app is the test application: it sets, reads and dumps values, logs in
// (binding a user and renewing the ID), renews, logs out and revokes all
// sessions of a user.
func app(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Set(r.FormValue("k"), r.FormValue("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /dump", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		keys, err := s.Keys()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := map[string]string{}
		for _, k := range keys {
			v, _, err := session.Get[string](s, k)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out[k] = v
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.SetUser(r.FormValue("u")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.Renew(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Renew(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.RevokeUser(r.Context(), r.FormValue("u")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return m.Middleware(mux)
}

// instance is one application process: its own stores, migration store,
// manager and server.
type instance struct {
	mig *migrate.Store
	srv *httptest.Server
}

// device is one browser of a user.
type device struct {
	c     *http.Client
	model map[string]string // every acknowledged value
}

// graveyard keeps the cookies of ended sessions: none may ever serve data
// again, in any later phase.
type graveyard struct {
	mu      sync.Mutex
	cookies [][]*http.Cookie
}

func (g *graveyard) add(c []*http.Cookie) {
	g.mu.Lock()
	g.cookies = append(g.cookies, c)
	g.mu.Unlock()
}

func (g *graveyard) all() [][]*http.Cookie {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]*http.Cookie(nil), g.cookies...)
}

type driver struct {
	dead  *graveyard
	t     *testing.T
	insts []*instance
	rng   *rand.Rand
	acks  int
}

func (d *driver) url(path string) string {
	return d.insts[d.rng.IntN(len(d.insts))].srv.URL + path
}

func (d *driver) post(dev *device, path string, form url.Values) bool {
	resp, err := dev.c.PostForm(d.url(path), form)
	if err != nil {
		d.t.Errorf("POST %s: %v", path, err)
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.t.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
		return false
	}
	d.acks++
	return true
}

// dump returns the values of the session dev's cookie (or cookie, if given)
// names.
func (d *driver) dump(dev *device, cookie []*http.Cookie) map[string]string {
	req, _ := http.NewRequest("GET", d.url("/dump"), nil)
	c := dev.c
	if cookie != nil {
		c = &http.Client{Transport: dev.c.Transport, Timeout: dev.c.Timeout}
		for _, ck := range cookie {
			req.AddCookie(ck)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		d.t.Errorf("GET /dump: %v", err)
		return nil
	}
	defer resp.Body.Close()
	out := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		d.t.Errorf("GET /dump: %d %v", resp.StatusCode, err)
	}
	return out
}

func (d *driver) expect(dev *device, what string, cookie []*http.Cookie, want map[string]string) {
	got := d.dump(dev, cookie)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		d.t.Errorf("%s: session holds %v, want %v", what, got, want)
	}
}

// TestMigrationUnderLoad moves sessions from one Redis server to another
// through every phase, published in the control record, while two
// application instances serve users who set values, log in (renewing their
// ID), renew, log out and revoke all their sessions. Every acknowledged
// write is read back right away and at the end; a logged-out cookie must
// never serve data again, and a revocation must end the sessions of both
// devices of the user in every phase.
func TestMigrationUnderLoad(t *testing.T) {
	redistest.Require(t)
	t.Run("RedisToRedis", func(t *testing.T) {
		a, b := redistest.StartServer(t), redistest.StartServer(t)
		migrationUnderLoad(t, func(t *testing.T) (old, new backends.Store) {
			return redisPairOn(t, redisClient(t, a), redisClient(t, b), "s:")
		})
	})
	t.Run("MemoryToRedis", func(t *testing.T) {
		// One process's memory store, seen by both instances (two
		// handlers of one process), moved to Redis.
		mem := newMem(t)
		b := redistest.StartServer(t)
		migrationUnderLoad(t, func(t *testing.T) (old, new backends.Store) {
			_, new = redisPairOn(t, redisClient(t, b), redisClient(t, b), "s:")
			return mem, new
		})
	})
}

func migrationUnderLoad(t *testing.T, stores func(t *testing.T) (old, new backends.Store)) {
	const poll = 20 * time.Millisecond
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var insts []*instance
	for range 2 {
		old, new := stores(t)
		mig, err := migrate.New(old, new, migrate.State{}, migrate.WithControl(poll), migrate.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mig.Close() })
		m, err := session.New(session.WithSecret(testSecret), session.WithKeyring(keyring(t)),
			session.WithStore(mig), session.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		srv := httptest.NewTLSServer(app(m))
		t.Cleanup(srv.Close)
		insts = append(insts, &instance{mig: mig, srv: srv})
	}
	// The operator's view: the two stores, as a command-line tool opens them.
	toolOld, toolNew := stores(t)
	pipeline, err := codec.New(codec.WithKeyring(keyring(t)))
	if err != nil {
		t.Fatal(err)
	}

	var dead graveyard
	checkDead := func(when string) {
		d := &driver{t: t, insts: insts, rng: rand.New(rand.NewPCG(99, 7))}
		probe := &device{c: &http.Client{Transport: insts[0].srv.Client().Transport, Timeout: 20 * time.Second}}
		for _, c := range dead.all() {
			d.expect(probe, "ended session "+when, c, map[string]string{})
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	totalAcks := 0
	for u := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%d", u)
			d := &driver{dead: &dead, t: t, insts: insts, rng: rand.New(rand.NewPCG(uint64(u), 7))}
			devs := make([]*device, 2)
			for i := range devs {
				jar, _ := cookiejar.New(nil)
				devs[i] = &device{c: &http.Client{Transport: insts[0].srv.Client().Transport, Jar: jar, Timeout: 20 * time.Second}, model: map[string]string{}}
				d.post(devs[i], "/login", url.Values{"u": {user}})
			}
			for n := 0; ; n++ {
				select {
				case <-stop:
					for i, dev := range devs {
						d.expect(dev, fmt.Sprintf("%s device %d at the end", user, i), nil, dev.model)
					}
					mu.Lock()
					totalAcks += d.acks
					mu.Unlock()
					return
				default:
				}
				dev := devs[d.rng.IntN(2)]
				switch op := d.rng.IntN(20); {
				case op < 12:
					k, v := fmt.Sprintf("k%d", d.rng.IntN(4)), fmt.Sprintf("v%d", n)
					if d.post(dev, "/set", url.Values{"k": {k}, "v": {v}}) {
						dev.model[k] = v
					}
					d.expect(dev, user+" after set", nil, dev.model)
				case op < 15:
					d.post(dev, "/renew", nil)
					d.expect(dev, user+" after renew", nil, dev.model)
				case op < 17:
					u, _ := url.Parse(insts[0].srv.URL)
					before := dev.c.Jar.Cookies(u)
					if d.post(dev, "/logout", nil) {
						d.dead.add(before)
						dev.model = map[string]string{}
						d.expect(dev, user+" old cookie after logout", before, map[string]string{})
						d.post(dev, "/login", url.Values{"u": {user}})
					}
				case op < 18:
					u, _ := url.Parse(insts[0].srv.URL)
					before := [][]*http.Cookie{devs[0].c.Jar.Cookies(u), devs[1].c.Jar.Cookies(u)}
					if d.post(dev, "/revoke", url.Values{"u": {user}}) {
						d.dead.add(before[0])
						d.dead.add(before[1])
						for i, o := range devs {
							o.model = map[string]string{}
							d.expect(o, fmt.Sprintf("%s device %d after revoke", user, i), nil, map[string]string{})
							d.post(o, "/login", url.Values{"u": {user}})
						}
					}
				default:
					d.expect(dev, user+" read", nil, dev.model)
				}
			}
		}()
	}

	ctx := t.Context()
	waitAll := func(want migrate.State) {
		deadline := time.Now().Add(10 * time.Second)
		for _, in := range insts {
			for in.mig.State() != want {
				if time.Now().After(deadline) {
					t.Fatalf("instance still in %v, want %v", in.mig.State(), want)
				}
				time.Sleep(poll)
			}
		}
	}
	steps := []migrate.State{
		{Phase: migrate.WriteBoth, Rollout: 50},
		{Phase: migrate.WriteBoth, Rollout: 100},
		{Phase: migrate.ReadNew, Rollout: 50},
		{Phase: migrate.ReadNew, Rollout: 100},
		{Phase: migrate.NewOnly, Rollout: 100},
	}
	time.Sleep(300 * time.Millisecond) // traffic in old-only
	for _, st := range steps {
		if _, err := migrate.Publish(ctx, toolNew, migrate.DefaultControlKey, st, false); err != nil {
			t.Fatal(err)
		}
		waitAll(st)
		if st == (migrate.State{Phase: migrate.WriteBoth, Rollout: 100}) {
			// The backfill: every session nobody wrote since write-both.
			cs, err := transfer.Copy(ctx, toolNew, toolOld, transfer.Options{Users: transfer.CodecUsers(pipeline)})
			if err != nil || cs.Failed != 0 {
				t.Fatalf("backfill: %+v %v %v", cs, err, cs.Errors)
			}
			t.Logf("backfill: %+v", cs)
		}
		time.Sleep(400 * time.Millisecond)
		checkDead("in " + st.String())
	}
	close(stop)
	wg.Wait()
	for i, in := range insts {
		st := in.mig.Status()
		t.Logf("instance %d: %+v", i, st)
	}
	checkDead("at the end")
	t.Logf("%d acknowledged requests, %d ended sessions checked", totalAcks, len(dead.all()))
	if totalAcks < 100 {
		t.Errorf("only %d acknowledged requests: the test exercised little", totalAcks)
	}
}
