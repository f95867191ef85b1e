package session_test

// Regression tests for the fault and concurrency scenarios that broke the
// guarantees of DESIGN.md (lifecycle 6–9, fail-over). Each drives the real
// middleware in process, with the primary store behind a switch.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// switchStore is a memstore behind a switch: failNext makes the next
// operations fail as an outage would, down makes every operation fail, and
// deferred writes time out for the caller but are applied later.
type switchStore struct {
	*memstore.Store
	mu       sync.Mutex
	fail     int
	down     bool
	defer_   bool
	deferred []func()
}

func newSwitchStore(t testing.TB) *switchStore {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &switchStore{Store: ms}
}

var quiet = slog.New(slog.DiscardHandler)

var errOutage = backends.Unavailable(errors.New("connection refused"))

func (s *switchStore) failNext(n int) { s.mu.Lock(); s.fail = n; s.mu.Unlock() }
func (s *switchStore) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

// deferWrites makes writes time out for the caller while they are applied
// later, by applyDeferred: commands that ran on the server after the
// client gave up.
func (s *switchStore) deferWrites(d bool) { s.mu.Lock(); s.defer_ = d; s.mu.Unlock() }

func (s *switchStore) applyDeferred() {
	s.mu.Lock()
	fns := s.deferred
	s.deferred = nil
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func (s *switchStore) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errOutage
	}
	if s.fail > 0 {
		s.fail--
		return errOutage
	}
	return nil
}

// write runs fn now, or defers it and reports a timeout.
func (s *switchStore) write(fn func() error) error {
	if err := s.check(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.defer_ {
		s.deferred = append(s.deferred, func() { fn() })
		s.mu.Unlock()
		return backends.Unavailable(context.DeadlineExceeded)
	}
	s.mu.Unlock()
	return fn()
}

func (s *switchStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	if err := s.check(); err != nil {
		return backends.Record{}, false, err
	}
	return s.Store.Load(ctx, key)
}

func (s *switchStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	var out uint64
	err := s.write(func() error {
		var e error
		out, e = s.Store.Save(context.WithoutCancel(ctx), key, blob, exp, v)
		return e
	})
	return out, err
}

func (s *switchStore) Touch(ctx context.Context, key string, exp time.Time) error {
	return s.write(func() error { return s.Store.Touch(context.WithoutCancel(ctx), key, exp) })
}

func (s *switchStore) Delete(ctx context.Context, key string) error {
	return s.write(func() error { return s.Store.Delete(context.WithoutCancel(ctx), key) })
}

func (s *switchStore) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, user string, deadline time.Time) error {
	return s.write(func() error {
		return s.Store.Renew(context.WithoutCancel(ctx), oldKey, oldVersion, newKey, blob, exp, user, deadline)
	})
}

func (s *switchStore) AddUserKey(ctx context.Context, user, key string, deadline time.Time) error {
	return s.write(func() error { return s.Store.AddUserKey(context.WithoutCancel(ctx), user, key, deadline) })
}

func (s *switchStore) RemoveUserKey(ctx context.Context, user, key string) error {
	return s.write(func() error { return s.Store.RemoveUserKey(context.WithoutCancel(ctx), user, key) })
}

func (s *switchStore) UserKeys(ctx context.Context, user string) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.Store.UserKeys(ctx, user)
}

func (s *switchStore) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// rig is a manager over a fail-over store whose primary is a switchStore.
type rig struct {
	t  testing.TB
	p  *switchStore
	fo *degrade.Store
	m  *session.Manager
}

// newRig builds a rig whose fail-over store keeps no copies of the
// primary's records, so a session that only the primary holds is served
// empty during an outage: the hardest case. newRigWithCopies keeps them.
func newRig(t *testing.T, threshold int, opts ...session.Option) *rig {
	t.Helper()
	return newRigCopies(t, 0, threshold, opts...)
}

func newRigWithCopies(t *testing.T, threshold int, opts ...session.Option) *rig {
	t.Helper()
	return newRigCopies(t, degrade.DefaultCopyBytes, threshold, opts...)
}

func newRigCopies(t *testing.T, copyBytes int64, threshold int, opts ...session.Option) *rig {
	t.Helper()
	p := newSwitchStore(t)
	fo, err := degrade.New(p, degrade.WithLogger(quiet), degrade.WithFailureThreshold(threshold), degrade.WithProbeInterval(10*time.Millisecond), degrade.WithCopies(copyBytes))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fo.Close() })
	m, err := session.New(append([]session.Option{session.WithSecret(testSecret), session.WithStore(fo), session.WithLogger(quiet), session.WithMaxLifetime(30 * 24 * time.Hour)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, p: p, fo: fo, m: m}
}

// call runs h as one request carrying cookie and returns the response
// and the cookie the client holds afterwards.
func (r *rig) call(cookie *http.Cookie, h func(s *session.Session, w http.ResponseWriter) error) (*http.Response, *http.Cookie) {
	r.t.Helper()
	req := httptest.NewRequest("POST", "https://example.com/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	r.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := h(session.MustFromContext(req.Context()), w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})).ServeHTTP(rec, req)
	resp := rec.Result()
	next := cookie
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			next = c
			if c.MaxAge < 0 {
				next = nil
			}
		}
	}
	return resp, next
}

func (r *rig) must(cookie *http.Cookie, h func(s *session.Session, w http.ResponseWriter) error) *http.Cookie {
	r.t.Helper()
	resp, c := r.call(cookie, h)
	if resp.StatusCode != 200 {
		r.t.Fatalf("status %d", resp.StatusCode)
	}
	return c
}

// state reads the session's user and values.
func (r *rig) state(cookie *http.Cookie) (user string, keys []string) {
	r.t.Helper()
	r.must(cookie, func(s *session.Session, _ http.ResponseWriter) error {
		var err error
		if user, err = s.User(); err != nil {
			return err
		}
		keys, err = s.Keys()
		return err
	})
	return user, keys
}

func (r *rig) recovered() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.fo.Status()
		if st.State == degrade.StateClosed && st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no recovery: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func login(user string) func(s *session.Session, _ http.ResponseWriter) error {
	return func(s *session.Session, _ http.ResponseWriter) error {
		if err := s.Renew(); err != nil {
			return err
		}
		return s.SetUser(user)
	}
}

func set(keys ...string) func(s *session.Session, _ http.ResponseWriter) error {
	return func(s *session.Session, _ http.ResponseWriter) error {
		for _, k := range keys {
			if err := s.Set(k, true); err != nil {
				return err
			}
		}
		return nil
	}
}

func wantState(t *testing.T, r *rig, c *http.Cookie, user string, keys ...string) {
	t.Helper()
	u, k := r.state(c)
	slices.Sort(keys)
	if u != user || !slices.Equal(k, keys) {
		t.Fatalf("session: user %q keys %v, want user %q keys %v", u, k, user, keys)
	}
}

// Scenario 1: a Load served empty by the fallback, then Set, Commit, Set:
// the commit merges onto the primary's record, and the second save must
// not overwrite it with the request's empty copy.
func TestMergeThenSecondSaveKeepsTheRecord(t *testing.T) {
	r := newRig(t, 5)
	c := r.must(nil, login("alice"))
	c = r.must(c, set("cart"))
	r.p.failNext(1)
	c = r.must(c, func(s *session.Session, _ http.ResponseWriter) error {
		if err := s.Set("a", true); err != nil {
			return err
		}
		if err := s.Commit(); err != nil {
			return err
		}
		return s.Set("b", true)
	})
	r.recovered()
	wantState(t, r, c, "alice", "a", "b", "cart")
}

// Scenario 2: a slow request that changes the lifetime must not write back
// the user it loaded over a concurrent login.
func TestMetadataMergesFieldByField(t *testing.T) {
	r := newRig(t, 5)
	c := r.must(nil, set("x"))
	loaded, release := make(chan struct{}), make(chan struct{})
	done := make(chan *http.Cookie)
	go func() {
		_, c2 := r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
			if _, err := s.User(); err != nil {
				return err
			}
			close(loaded)
			<-release
			return s.SetLifetime(time.Hour, 48*time.Hour)
		})
		done <- c2
	}()
	<-loaded
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.SetUser("alice") })
	close(release)
	c = <-done
	wantState(t, r, c, "alice", "x")
	// During an outage, a session served empty that calls SetLifetime
	// does not log its user out on recovery, nor move its creation.
	var created time.Time
	infos, _ := r.m.UserSessions(t.Context(), "alice")
	if len(infos) != 1 {
		t.Fatalf("alice has %d sessions", len(infos))
	}
	created = infos[0].Created
	r.p.setDown(true)
	c = r.must(c, func(s *session.Session, _ http.ResponseWriter) error {
		return s.SetLifetime(time.Hour, 72*time.Hour)
	})
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c, "alice", "x")
	infos, _ = r.m.UserSessions(t.Context(), "alice")
	if len(infos) != 1 || !infos[0].Created.Equal(created) || !infos[0].Persistent {
		t.Fatalf("after recovery: %+v, created %v", infos, created)
	}
}

// Scenario 3: extending a bound session's deadline keeps it in the index.
func TestUserIndexFollowsAnExtendedDeadline(t *testing.T) {
	r := newRig(t, 5, session.WithLifetime(300*time.Millisecond), session.WithIdleTimeout(300*time.Millisecond), session.WithTouchInterval(100*time.Millisecond))
	c := r.must(nil, login("alice"))
	c = r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.SetLifetime(time.Hour, 48*time.Hour) })
	time.Sleep(500 * time.Millisecond)
	wantState(t, r, c, "alice")
	if n, err := r.m.RevokeUser(t.Context(), "alice"); err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v", n, err)
	}
	wantState(t, r, c, "")
}

// Scenario 4: a per-user limit that cannot be enforced during an outage
// never costs the login its session or its cookie.
func TestLoginDuringOutageWithUserLimit(t *testing.T) {
	r := newRig(t, 1, session.WithMaxSessionsPerUser(3))
	c := r.must(nil, set("cart"))
	r.p.setDown(true)
	resp, c2 := r.call(c, login("alice"))
	if resp.StatusCode != 200 || c2 == nil || c2.Value == c.Value {
		t.Fatalf("login during the outage: status %d, cookie changed %v", resp.StatusCode, c2 != nil && c2.Value != c.Value)
	}
	// The primary could not be asked what the session held: during the
	// outage it has the login's changes only.
	wantState(t, r, c2, "alice")
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c2, "alice", "cart")
	wantState(t, r, c, "")
}

// Scenario 5: a renewal at the moment the primary fails is journaled as a
// move, never silently dropped.
func TestRenewalAtFailoverIsKept(t *testing.T) {
	r := newRig(t, 5)
	c := r.must(nil, set("cart"))
	resp, c2 := r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
		if _, err := s.Keys(); err != nil {
			return err
		}
		r.p.setDown(true)
		if err := s.Renew(); err != nil {
			return err
		}
		if err := s.SetUser("alice"); err != nil {
			return err
		}
		return s.Set("note", true)
	})
	if resp.StatusCode != 200 || c2 == nil || c2.Value == c.Value {
		t.Fatalf("renewal at fail-over: status %d, new cookie %v", resp.StatusCode, c2 != nil && c2.Value != c.Value)
	}
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c2, "alice", "cart", "note")
	wantState(t, r, c, "")
}

// Scenario 8: a store without atomic renewal is renewed safely: a logout
// between the renewal's steps is never undone.
func TestStepwiseRenewalCannotUndoALogout(t *testing.T) {
	st := &plainStore{keepingStore: newKeepingStore()}
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, m: m}
	c := r.must(nil, login("alice"))
	c = r.must(c, set("cart"))
	st.beforeSave = func(key string) {
		// The logout completes between the renewal's load and its save.
		st.beforeSave = nil
		r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Destroy() })
	}
	_, c2 := r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
		if _, err := s.Keys(); err != nil {
			return err
		}
		return s.Renew()
	})
	if c2 != nil {
		wantState(t, r, c2, "")
	}
	wantState(t, r, c, "")
}

// plainStore is a store with compare-and-set but without Renew or a user
// index, with a hook before each save.
type plainStore struct {
	*keepingStore
	beforeSave func(key string)
}

func (p *plainStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	if f := p.beforeSave; f != nil {
		f(key)
	}
	return p.keepingStore.Save(ctx, key, blob, exp, v)
}

// Scenario 9: a touch interval not shorter than the idle timeout is refused,
// and the default interval adapts to a short idle timeout.
func TestTouchIntervalAndIdleTimeout(t *testing.T) {
	_, err := session.New(session.WithSecret(testSecret), session.WithIdleTimeout(time.Minute), session.WithTouchInterval(time.Minute))
	if !errors.Is(err, session.ErrInvalidConfig) {
		t.Fatalf("touch interval = idle timeout: %v", err)
	}
	// Idle 2 s with the default 1-minute interval: reads every 250 ms
	// keep the session alive well past its idle timeout.
	r := newRig(t, 5, session.WithIdleTimeout(2*time.Second))
	c := r.must(nil, set("x"))
	for range 16 {
		time.Sleep(250 * time.Millisecond)
		wantState(t, r, c, "", "x")
	}
}

// Scenarios 10 and 11: a session whose load the fallback served never
// writes under its ID: a slow request after a logout during the outage,
// or a cookie logged out before the outage, does not bring the ID back.
func TestOutageWritesNeverReviveALoggedOutID(t *testing.T) {
	r := newRig(t, 1)
	c := r.must(nil, login("alice"))
	c = r.must(c, set("cart"))
	r.p.setDown(true)
	loaded, release := make(chan struct{}), make(chan struct{})
	done := make(chan *http.Cookie)
	go func() {
		_, c2 := r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
			if _, err := s.Keys(); err != nil {
				return err
			}
			close(loaded)
			<-release
			return s.Set("late", true)
		})
		done <- c2
	}()
	<-loaded
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Destroy() })
	close(release)
	slow := <-done
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c, "")
	if slow != nil && slow.Value != c.Value {
		if u, keys := r.state(slow); u != "" || slices.Contains(keys, "cart") {
			t.Fatalf("the slow request's session has user %q keys %v", u, keys)
		}
	}

	// Logged out before the outage, replayed during it.
	c = r.must(nil, login("bob"))
	c = r.must(c, set("cart"))
	old := c
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Destroy() })
	r.p.setDown(true)
	_, c3 := r.call(old, set("x"))
	if c3 != nil && c3.Value == old.Value {
		t.Fatal("the logged-out ID was re-issued during the outage")
	}
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, old, "")
	if n, _ := r.m.UserSessions(t.Context(), "bob"); len(n) != 0 {
		t.Fatalf("bob has %d sessions", len(n))
	}
}

// Scenario 12: Destroy after the response was sent still deletes the record.
func TestDestroyAfterTheBodyDeletesTheRecord(t *testing.T) {
	r := newRig(t, 5)
	c := r.must(nil, login("alice"))
	var derr error
	r.call(c, func(s *session.Session, w http.ResponseWriter) error {
		if _, err := s.User(); err != nil {
			return err
		}
		w.Write([]byte("bye"))
		derr = s.Destroy()
		return nil
	})
	if !errors.Is(derr, session.ErrCommitted) {
		t.Fatalf("Destroy after the body: %v", derr)
	}
	wantState(t, r, c, "")
	if infos, _ := r.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Fatalf("alice still has %d sessions", len(infos))
	}
}

// Scenario 13: a renewal that timed out on the client but ran on the
// server later, during or after the outage, loses nothing and the login
// response carries the new ID.
func TestTimedOutRenewalThatRunsLater(t *testing.T) {
	for _, when := range []string{"before recovery", "after recovery"} {
		t.Run(when, func(t *testing.T) {
			r := newRig(t, 1)
			c := r.must(nil, set("cart"))
			r.p.deferWrites(true)
			resp, c2 := r.call(c, login("alice"))
			r.p.deferWrites(false)
			if resp.StatusCode != 200 || c2 == nil || c2.Value == c.Value {
				t.Fatalf("login: status %d, new ID %v", resp.StatusCode, c2 != nil && c2.Value != c.Value)
			}
			c2 = r.must(c2, set("during"))
			if when == "before recovery" {
				r.p.applyDeferred()
			}
			r.recovered()
			if when == "after recovery" {
				r.p.applyDeferred()
			}
			wantState(t, r, c2, "alice", "cart", "during")
			wantState(t, r, c, "")
		})
	}
}

// Scenario 14: an item removed during an outage from a session served
// empty does not come back.
func TestDeleteDuringOutageIsReplayed(t *testing.T) {
	r := newRig(t, 1)
	c := r.must(nil, set("a", "b"))
	r.p.setDown(true)
	c = r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Delete("a") })
	c = r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Delete("b") })
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c, "")
}

// Scenarios 7, 16 and 17: the journal is bounded in bytes whatever is
// journaled; at the bound writes are refused, not dropped after serving.
func TestJournalIsBoundedInBytes(t *testing.T) {
	p := newSwitchStore(t)
	fo, err := degrade.New(p, degrade.WithLogger(quiet), degrade.WithFailureThreshold(1), degrade.WithProbeInterval(time.Hour), degrade.WithJournalBytes(1<<20), degrade.WithJournalLimit(50))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fo.Close() })
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(fo), session.WithMaxSize(64<<10), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, p: p, fo: fo, m: m}
	p.setDown(true)
	big := make([]byte, 24<<10)
	c := r.must(nil, set("x"))
	var refused atomic.Int64
	for range 200 {
		resp, c2 := r.call(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Set("big", big) })
		if resp.StatusCode != 200 {
			refused.Add(1)
			continue
		}
		c = c2
		if st := fo.Status(); st.Bytes > 1<<20 {
			t.Fatalf("journal holds %d bytes", st.Bytes)
		}
	}
	// One session's changes are compacted: never refused.
	if refused.Load() != 0 {
		t.Fatalf("%d saves of one session refused", refused.Load())
	}
	for range 200 {
		resp, c2 := r.call(c, login("alice"))
		if resp.StatusCode == 200 {
			c = c2
		} else {
			refused.Add(1)
		}
		st := fo.Status()
		if st.Bytes > 1<<20 || st.Entries > 50 {
			t.Fatalf("journal: %+v", st)
		}
	}
	if refused.Load() == 0 || fo.Status().Refused == 0 {
		t.Fatal("no renewal was refused at the bound")
	}
}

// Scenario 10, other instance: a session saved to the fallback during an
// outage, and logged out on the primary by another instance meanwhile,
// is not recreated by recovery.
func TestRecoveryDoesNotReviveARecordDeletedElsewhere(t *testing.T) {
	r := newRig(t, 1)
	c := r.must(nil, login("alice"))
	c = r.must(c, set("cart"))
	resp, c2 := r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
		if _, err := s.Keys(); err != nil {
			return err
		}
		r.p.setDown(true)
		return s.Set("late", true)
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Another instance logs the session out on the primary.
	h, err := session.New(session.WithSecret(testSecret), session.WithStore(r.p.Store), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := h.RevokeUser(t.Context(), "alice"); err != nil || n != 1 {
		t.Fatalf("RevokeUser on the primary: %d, %v", n, err)
	}
	r.p.setDown(false)
	r.recovered()
	// The write could not be vouched for: it moved to a fresh ID, which
	// recovery starts as a new anonymous session from its changes alone.
	if c2 == nil || c2.Value == c.Value {
		t.Fatal("the outage write kept the session's ID")
	}
	wantState(t, r, c2, "", "late")
	wantState(t, r, c, "")
	if infos, _ := r.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Fatalf("alice has %d sessions after recovery", len(infos))
	}
}

// Scenario 6: two concurrent logins of one user under a limit of one never
// revoke each other: exactly one session survives, on every store.
func TestConcurrentLoginsUnderAUserLimit(t *testing.T) {
	stores := map[string]func(t *testing.T) backends.Store{
		"memory": func(t *testing.T) backends.Store { return newSwitchStore(t).Store },
		"redis": func(t *testing.T) backends.Store {
			redistest.Require(t)
			srv := redistest.StartServer(t)
			st, err := redisstore.NewFromURL(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			st := mk(t)
			m, err := session.New(session.WithSecret(testSecret), session.WithStore(st), session.WithMaxSessionsPerUser(1), session.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			r := &rig{t: t, m: m}
			for round := range 20 {
				var wg sync.WaitGroup
				cookies := make([]*http.Cookie, 2)
				for i := range cookies {
					c := r.must(nil, set("x"))
					wg.Go(func() { _, cookies[i] = r.call(c, login("alice")) })
				}
				wg.Wait()
				live := 0
				for _, c := range cookies {
					if u, _ := r.state(c); u == "alice" {
						live++
					}
				}
				infos, err := m.UserSessions(t.Context(), "alice")
				if err != nil {
					t.Fatal(err)
				}
				if live != 1 || len(infos) != 1 {
					t.Fatalf("round %d: %d logged-in sessions, %d listed; want exactly 1", round, live, len(infos))
				}
			}
		})
	}
}

// With copies of the primary's records (the default), a session this
// process has seen keeps its data and user during an outage; its writes
// move it to a fresh ID that recovery builds on the primary's record, so a
// read-modify-write of a value during the outage loses nothing, and a
// logout on the primary meanwhile is not undone.
func TestOutageServesTheLastKnownCopy(t *testing.T) {
	r := newRigWithCopies(t, 1)
	c := r.must(nil, login("alice"))
	c = r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Set("n", 1) })
	incr := func(s *session.Session, _ http.ResponseWriter) error {
		n, _, err := session.Get[int](s, "n")
		if err != nil {
			return err
		}
		return s.Set("n", n+1)
	}
	r.p.setDown(true)
	wantState(t, r, c, "alice", "n")
	c2 := r.must(c, incr)
	if c2 == nil || c2.Value == c.Value {
		t.Fatal("a write to a copy kept the session's ID")
	}
	c2 = r.must(c2, incr)
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c2, "alice", "n")
	wantState(t, r, c, "")
	r.must(c2, func(s *session.Session, _ http.ResponseWriter) error {
		if n, _, err := session.Get[int](s, "n"); err != nil || n != 3 {
			t.Errorf("n = %d, %v after two increments during the outage, want 3", n, err)
		}
		return nil
	})
	if infos, _ := r.m.UserSessions(t.Context(), "alice"); len(infos) != 1 {
		t.Fatalf("alice has %d sessions", len(infos))
	}

	// Logged out on the primary by another process during the outage:
	// served from the copy meanwhile, never revived.
	c3 := r.must(nil, login("bob"))
	c3 = r.must(c3, set("cart"))
	r.p.setDown(true)
	other, err := session.New(session.WithSecret(testSecret), session.WithStore(r.p.Store), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := other.RevokeUser(t.Context(), "bob"); err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v", n, err)
	}
	c4 := r.must(c3, set("late"))
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c3, "")
	if u, keys := r.state(c4); u != "" || slices.Contains(keys, "cart") {
		t.Fatalf("the revoked session came back: user %q keys %v", u, keys)
	}
}

// Session.Degraded agrees with the degraded header, for a brand-new
// session too: while the circuit is open, a session that has not reached
// the store yet is degraded.
func TestDegradedAgreesWithTheHeader(t *testing.T) {
	r := newRig(t, 1)
	r.p.setDown(true)
	r.must(nil, set("x")) // opens the circuit
	for _, write := range []bool{false, true} {
		var told bool
		resp, _ := r.call(nil, func(s *session.Session, _ http.ResponseWriter) error {
			told = s.Degraded()
			if write {
				return s.Set("y", 1)
			}
			return nil
		})
		if h := resp.Header.Get("X-Session-Degraded") == "true"; !told || !h {
			t.Fatalf("write %v: Degraded() = %v, header %v", write, told, h)
		}
	}
	r.p.setDown(false)
	r.recovered()
	var told bool
	resp, _ := r.call(nil, func(s *session.Session, _ http.ResponseWriter) error {
		told = s.Degraded()
		return s.Set("y", 1)
	})
	if h := resp.Header.Get("X-Session-Degraded") == "true"; told || h {
		t.Fatalf("healthy: Degraded() = %v, header %v", told, h)
	}
}

// Scenario 18: on Redis Cluster, a login while the master that holds the
// user's index is down (stopped: its commands time out, the other masters
// answer) never loses the session silently. The renewal's first step (the
// new record) succeeds on a master that is up and its second (the index)
// fails: the login either answers with a new ID that keeps the cart and
// the user once the master is back (the fail-over store journals the
// renewal and replays it), or fails and leaves the session as it was.
func TestClusterLoginWhileTheUserIndexMasterIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	redistest.Require(t)
	cl := redistest.StartCluster(t, 3)
	ctx := t.Context()
	for _, n := range cl.Nodes() {
		// The masters that are up keep serving their slots while one is
		// down, however long that takes on a busy machine.
		if err := n.Client().ConfigSet(ctx, "cluster-require-full-coverage", "no").Err(); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := redisstore.NewFromURL("redis+cluster://" + strings.Join(cl.Addrs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	fo, err := degrade.New(rs, degrade.WithLogger(quiet), degrade.WithTimeout(300*time.Millisecond), degrade.WithProbeInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fo.Close() })
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(fo), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, fo: fo, m: m}
	cc := cl.Client()
	masterOf := func(key string) string {
		t.Helper()
		c, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return c.Options().Addr
	}
	indexKey := func(user string) string {
		sum := sha256.Sum256([]byte(user))
		return rs.Prefix() + "user:{" + hex.EncodeToString(sum[:])[:32] + "}"
	}

	const user = "alice"
	down := masterOf(indexKey(user))
	var node *redistest.Server
	for _, n := range cl.Nodes() {
		if n.Addr() == down {
			node = n
		}
	}
	if node == nil {
		t.Fatalf("no node is %s", down)
	}
	// Three carts whose records live on the masters that stay up.
	type cart struct {
		item        string
		cookie, old *http.Cookie
		loggedIn    bool
	}
	var carts []*cart
	for i := 0; len(carts) < 3 && i < 60; i++ {
		item := "item" + strconv.Itoa(i)
		var h string
		c := r.must(nil, func(s *session.Session, _ http.ResponseWriter) error {
			if err := s.Set(item, true); err != nil {
				return err
			}
			var err error
			h, err = s.Handle()
			return err
		})
		if masterOf(rs.Prefix()+h) != down {
			carts = append(carts, &cart{item: item, cookie: c, old: c})
		}
	}
	if len(carts) < 3 {
		t.Fatalf("only %d of 60 sessions landed off %s", len(carts), down)
	}

	node.Stop()
	stopped := true
	defer func() {
		if stopped {
			node.Cont()
		}
	}()
	for i, c := range carts {
		resp, next := r.call(c.cookie, login(user))
		switch {
		case resp.StatusCode == http.StatusOK && (next == nil || next.Value == c.cookie.Value):
			t.Errorf("login %d: 200 without a new session ID (degraded %q)", i, resp.Header.Get("X-Session-Degraded"))
		case resp.StatusCode == http.StatusOK:
			c.cookie, c.loggedIn = next, true
		default:
			t.Logf("login %d: %d (the session stays as it was)", i, resp.StatusCode)
		}
	}
	node.Cont()
	stopped = false
	r.recovered()

	acked := 0
	for i, c := range carts {
		want := ""
		if c.loggedIn {
			want = user
			acked++
		}
		u, keys := r.state(c.cookie)
		if u != want || !slices.Equal(keys, []string{c.item}) {
			t.Errorf("cart %d after recovery: user %q keys %v, want user %q keys [%s]", i, u, keys, want, c.item)
		}
		if c.loggedIn {
			if u, keys := r.state(c.old); u != "" || len(keys) != 0 {
				t.Errorf("cart %d: the ID renewed away serves user %q keys %v", i, u, keys)
			}
		}
	}
	infos, err := m.UserSessions(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != acked {
		t.Errorf("UserSessions(%s) lists %d sessions, want the %d logins that succeeded", user, len(infos), acked)
	}
	t.Logf("%d of %d logins succeeded while the index's master was down", acked, len(carts))
}
