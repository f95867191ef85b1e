package redisstore_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// writeTwoFieldRecord stores a record the way the store wrote it before the
// field e existed: HSET {v, d} and PEXPIREAT, nothing else.
func writeTwoFieldRecord(t *testing.T, c *redis.Client, key string, version uint64, blob string, exp time.Time) {
	t.Helper()
	ctx := t.Context()
	if err := c.HSet(ctx, key, "v", strconv.FormatUint(version, 10), "d", blob).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.PExpireAt(ctx, key, exp).Err(); err != nil {
		t.Fatal(err)
	}
}

// storedExpiryField returns the field e of the record under key ("" when
// it is missing).
func storedExpiryField(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	e, err := c.HGet(t.Context(), key, "e").Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return e
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// TestUpgradeFromTwoFieldLayout reads and writes records of the layout
// before the field e ({v, d} with the expiry only in PEXPIREAT), written
// with raw commands as the earlier store did: each is read with its
// version, blob and expiry, gets e on its first read or write, and every
// operation works on it.
func TestUpgradeFromTwoFieldLayout(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	var rt redistest.RoundTrips
	c.AddHook(&rt)
	s := newStore(t, c, redisstore.WithTimeout(suiteTimeout))
	ctx := t.Context()
	p := s.Prefix()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	later := exp.Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	if err := s.LoadScripts(ctx); err != nil { // as on a warm server
		t.Fatal(err)
	}

	for _, k := range []string{"read", "save", "touch", "renew", "delete", "stale"} {
		writeTwoFieldRecord(t, c, p+k, 3, "old "+k, exp)
	}

	t.Run("Load", func(t *testing.T) {
		rt.Reset()
		rec, found, err := s.Load(ctx, "read")
		if err != nil || !found || rec.Version != 3 || string(rec.Blob) != "old read" || !rec.Expiry.Equal(exp) {
			t.Fatalf("Load = %+v %v %v; want version 3, old read, expiry %v", rec, found, err, exp)
		}
		if rt.Trips() != 2 {
			t.Errorf("first Load of a two-field record: %d round trips, want 2 (HMGET, script)", rt.Trips())
		}
		if e := storedExpiryField(t, c, p+"read"); e != ms(exp) {
			t.Errorf("after the first Load, e = %q, want %s", e, ms(exp))
		}
		rt.Reset()
		rec, found, err = s.Load(ctx, "read")
		if err != nil || !found || rec.Version != 3 || !rec.Expiry.Equal(exp) {
			t.Fatalf("second Load = %+v %v %v", rec, found, err)
		}
		if rt.Trips() != 1 {
			t.Errorf("Load of a migrated record: %d round trips, want 1", rt.Trips())
		}
		if ttl, _ := c.PExpireTime(ctx, p+"read").Result(); ttl.Milliseconds() != exp.UnixMilli() {
			t.Errorf("the read moved the key's expiry to %d", ttl.Milliseconds())
		}
	})

	t.Run("Save", func(t *testing.T) {
		if _, err := s.Save(ctx, "save", []byte("x"), later, 2); !backends.IsConflict(err) {
			t.Fatalf("Save with a wrong version = %v, want conflict", err)
		}
		v, err := s.Save(ctx, "save", []byte("new save"), later, 3)
		if err != nil || v != 4 {
			t.Fatalf("Save = %d, %v; want 4", v, err)
		}
		if e := storedExpiryField(t, c, p+"save"); e != ms(later) {
			t.Errorf("after Save, e = %q, want %s", e, ms(later))
		}
		mustRecord(t, s, "save", 4, "new save", later)
	})

	t.Run("Touch", func(t *testing.T) {
		if err := s.Touch(ctx, "touch", later); err != nil {
			t.Fatal(err)
		}
		if e := storedExpiryField(t, c, p+"touch"); e != ms(later) {
			t.Errorf("after Touch, e = %q, want %s", e, ms(later))
		}
		mustRecord(t, s, "touch", 3, "old touch", later)
	})

	t.Run("Renew", func(t *testing.T) {
		if err := c.ZAdd(ctx, indexKeyOf(t, s, c, "bob"), redis.Z{Score: float64(day.UnixMilli()), Member: "renew"}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Renew(ctx, "renew", 3, "renewed", []byte("new renew"), later, "bob", day); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.Load(ctx, "renew"); found {
			t.Error("the old record survived its renewal")
		}
		mustRecord(t, s, "renewed", 1, "new renew", later)
		keys, err := s.UserKeys(ctx, "bob")
		if err != nil || len(keys) != 1 || keys[0] != "renewed" {
			t.Errorf("UserKeys = %q, %v; want [renewed]", keys, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if err := s.Delete(ctx, "delete"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.Load(ctx, "delete"); found {
			t.Error("the record survived Delete")
		}
	})

	t.Run("DeleteIfVersion", func(t *testing.T) {
		if v, err := s.Save(ctx, "stale", nil, time.Now().Add(-time.Second), 3); err != nil || v != 0 {
			t.Fatalf("Save with a past expiry = %d, %v", v, err)
		}
		if n, _ := c.Exists(ctx, p+"stale").Result(); n != 0 {
			t.Error("the record survived a delete-if-version")
		}
	})
}

// mustRecord loads key and checks its version, blob and expiry.
func mustRecord(t *testing.T, s *redisstore.Store, key string, version uint64, blob string, exp time.Time) {
	t.Helper()
	rec, found, err := s.Load(t.Context(), key)
	if err != nil || !found || rec.Version != version || string(rec.Blob) != blob || !rec.Expiry.Equal(exp.Truncate(time.Millisecond)) {
		t.Fatalf("Load(%s) = v%d %q %v, found %v, %v; want v%d %q %v", key, rec.Version, rec.Blob, rec.Expiry, found, err, version, blob, exp)
	}
}

// indexKeyOf returns the key of userID's index, as the store names it.
func indexKeyOf(t *testing.T, s *redisstore.Store, c *redis.Client, userID string) string {
	t.Helper()
	ctx := t.Context()
	if err := s.AddUserKey(ctx, userID, "probe", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, s.Prefix()+"user:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if n, _ := c.ZScore(ctx, k, "probe").Result(); n > 0 {
			c.ZRem(ctx, k, "probe")
			return k
		}
	}
	t.Fatal("no index found")
	return ""
}

// TestMixedFleet has writers of the earlier layout (an instance not yet
// upgraded) change records of the new one: they set PEXPIREAT (a touch) or
// {v, d} and PEXPIREAT (a save) and leave e behind. A reader of the new
// layout whose e has passed while the key lives reads the key's expiry and
// repairs e: the session stays alive as long as its key does.
func TestMixedFleet(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	s := newStore(t, c, redisstore.WithTimeout(suiteTimeout))
	ctx := t.Context()
	p := s.Prefix()
	soon := time.Now().Add(time.Second)
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for _, k := range []string{"touched", "saved"} {
		if _, err := s.Save(ctx, k, []byte("new "+k), soon, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The earlier store's Touch: PEXPIREAT only.
	if err := c.PExpireAt(ctx, p+"touched", later).Err(); err != nil {
		t.Fatal(err)
	}
	// The earlier store's Save: HSET v d, PEXPIREAT.
	writeTwoFieldRecord(t, c, p+"saved", 2, "old saved", later)
	time.Sleep(time.Until(soon.Add(100 * time.Millisecond))) // e has passed, the keys have not
	mustRecord(t, s, "touched", 1, "new touched", later)
	mustRecord(t, s, "saved", 2, "old saved", later)
	for _, k := range []string{"touched", "saved"} {
		if e := storedExpiryField(t, c, p+k); e != ms(later) {
			t.Errorf("%s: e = %q after the read, want %s", k, e, ms(later))
		}
	}
	// A record whose e and key have both passed is gone.
	if _, err := s.Save(ctx, "gone", []byte("x"), time.Now().Add(100*time.Millisecond), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, found, err := s.Load(ctx, "gone"); found || err != nil {
		t.Errorf("Load(gone) = found %v, %v; want not found", found, err)
	}
}

// TestUpgradeKeepsUsersLoggedIn logs a user in through the session
// manager, turns the record into the earlier layout (HDEL e: what the
// earlier store wrote), and checks that the next requests still see the
// user and the data, read and write it, and that the record is then in the
// new layout.
func TestUpgradeKeepsUsersLoggedIn(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	store := newStore(t, c, redisstore.WithTimeout(suiteTimeout))
	m, err := session.New(session.WithSecret([]byte("layout upgrade test secret 9b2e6d4a0c7f1385")), session.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.SetUser("alice"); err != nil {
			t.Error(err)
		}
		if err := s.Set("cart", []string{"lamp"}); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		cart, _, err := session.Get[[]string](s, "cart")
		if err != nil {
			t.Error(err)
		}
		user, err := s.User()
		if err != nil {
			t.Error(err)
		}
		_, _ = w.Write([]byte(user + " " + strings.Join(cart, ",")))
	})
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		cart, _, _ := session.Get[[]string](s, "cart")
		if err := s.Set("cart", append(cart, "desk")); err != nil {
			t.Error(err)
		}
	})
	ts := httptest.NewServer(m.Middleware(mux))
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	do := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, ts.URL+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return b.String()
	}
	do("POST", "/login")
	if got := do("GET", "/me"); got != "alice lamp" {
		t.Fatalf("before the downgrade of the record: %q", got)
	}
	keys := recordKeys(t, c, store.Prefix())
	if len(keys) != 1 {
		t.Fatalf("records: %q", keys)
	}
	if err := c.HDel(t.Context(), keys[0], "e").Err(); err != nil {
		t.Fatal(err)
	}
	if got := do("GET", "/me"); got != "alice lamp" {
		t.Fatalf("a record of the earlier layout reads as %q, want alice lamp", got)
	}
	if err := c.HDel(t.Context(), keys[0], "e").Err(); err != nil {
		t.Fatal(err)
	}
	do("POST", "/add")
	if got := do("GET", "/me"); got != "alice lamp,desk" {
		t.Fatalf("after a write on a record of the earlier layout: %q", got)
	}
	keys = recordKeys(t, c, store.Prefix())
	if len(keys) != 1 || storedExpiryField(t, c, keys[0]) == "" {
		t.Errorf("records after the write: %q, want one with e", keys)
	}
}

// recordKeys returns the keys of the session records under prefix.
func recordKeys(t *testing.T, c *redis.Client, prefix string) []string {
	t.Helper()
	var out []string
	for _, k := range c.Keys(context.Background(), prefix+"*").Val() {
		if !strings.HasPrefix(k, prefix+"user:") {
			out = append(out, k)
		}
	}
	return out
}
