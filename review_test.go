package session_test

// Regression tests for interleavings of slow requests, logouts, outages and
// late writes that broke the guarantees of docs/degradation.md ("The
// guarantees") and DESIGN.md (request lifecycle 6-9, fail-over).

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
)

// hookStore is a switchStore with hooks: afterLoad runs once a Load has
// read the record, before it returns it; beforeAddUserKey runs before an
// index addition. Each hook is taken (and cleared) by the first call.
type hookStore struct {
	*switchStore
	mu               sync.Mutex
	afterLoad        func(key string)
	beforeAddUserKey func(user, key string)
	afterUserKeys    func()
}

func (h *hookStore) takeAfterLoad() func(string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.afterLoad
	h.afterLoad = nil
	return f
}

func (h *hookStore) takeBeforeAdd() func(string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.beforeAddUserKey
	h.beforeAddUserKey = nil
	return f
}

func (h *hookStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	rec, found, err := h.switchStore.Load(ctx, key)
	if err == nil && found {
		if f := h.takeAfterLoad(); f != nil {
			f(key)
		}
	}
	return rec, found, err
}

func (h *hookStore) AddUserKey(ctx context.Context, user, key string, deadline time.Time) error {
	if f := h.takeBeforeAdd(); f != nil {
		f(user, key)
	}
	return h.switchStore.AddUserKey(ctx, user, key, deadline)
}

func (h *hookStore) UserKeys(ctx context.Context, user string) ([]string, error) {
	keys, err := h.switchStore.UserKeys(ctx, user)
	h.mu.Lock()
	f := h.afterUserKeys
	h.afterUserKeys = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return keys, err
}

// newHookRig is a rig whose fail-over store's primary is a hookStore.
func newHookRig(t *testing.T, copyBytes int64, threshold int, opts ...session.Option) (*rig, *hookStore) {
	t.Helper()
	h := &hookStore{switchStore: newSwitchStore(t)}
	fo, err := degrade.New(h, degrade.WithLogger(quiet), degrade.WithFailureThreshold(threshold),
		degrade.WithProbeInterval(10*time.Millisecond), degrade.WithCopies(copyBytes))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fo.Close() })
	m, err := session.New(append([]session.Option{session.WithSecret(testSecret), session.WithStore(fo), session.WithLogger(quiet), session.WithMaxLifetime(30 * 24 * time.Hour)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, p: h.switchStore, fo: fo, m: m}, h
}

// A new session whose first save timed out on the client (it is served by
// the fallback and replayed at recovery) is logged out after the recovery;
// then the timed-out save runs on the server. It must not bring the
// logged-out ID back: a timed-out write that runs later is harmless.
func TestTimedOutCreateThatRunsLaterCannotReviveALoggedOutID(t *testing.T) {
	r := newRig(t, 1)
	r.p.deferWrites(true)
	resp, c := r.call(nil, set("cart"))
	r.p.deferWrites(false)
	if resp.StatusCode != 200 || c == nil {
		t.Fatalf("create: status %d, cookie %v", resp.StatusCode, c != nil)
	}
	r.recovered()
	wantState(t, r, c, "", "cart")
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Destroy() })
	wantState(t, r, c, "")
	// The save of the first request reaches the server only now.
	r.p.applyDeferred()
	wantState(t, r, c, "")
}

// A request loads the session from the primary; the session is logged out
// (on the primary, the circuit closed); then the primary fails, and the
// slow request saves. The fallback accepts the save, as it holds no copy
// of the key, and from then on serves the logged-out ID, its data and its
// user, to every request during the outage.
func TestSlowSaveAfterLogoutNeverServesTheIDDuringTheOutage(t *testing.T) {
	r := newRig(t, 1)
	c := r.must(nil, login("alice"))
	c = r.must(c, set("cart"))
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
	r.p.setDown(true)
	close(release)
	<-done
	// Still during the outage: the logged-out ID serves nothing.
	wantState(t, r, c, "")
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c, "")
}

// A Load of the primary that read the record before a logout hands it to
// the store's last known copies after the logout dropped them. During the
// next outage the logged-out ID is served from that copy: its data and
// its user.
func TestLoggedOutIDIsNotServedFromACopyDuringAnOutage(t *testing.T) {
	r, h := newHookRig(t, degrade.DefaultCopyBytes, 1)
	c := r.must(nil, login("alice"))
	c = r.must(c, set("cart"))
	read, release := make(chan struct{}), make(chan struct{})
	h.mu.Lock()
	h.afterLoad = func(string) { close(read); <-release }
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
			_, err := s.Keys()
			return err
		})
	}()
	<-read
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Destroy() })
	close(release)
	<-done
	r.p.setDown(true)
	wantState(t, r, c, "")
	r.p.setDown(false)
	r.recovered()
	wantState(t, r, c, "")
}

// A slow request's user index update that lands after a concurrent
// request rebound the session to another user leaves the session in the
// first user's index. RevokeUser of that user must not revoke a session
// bound to someone else, and UserSessions and RevokeUser must agree.
func TestRevokeUserSparesASessionReboundToAnotherUser(t *testing.T) {
	r, h := newHookRig(t, 0, 5)
	c := r.must(nil, login("alice"))
	blocked, release := make(chan struct{}), make(chan struct{})
	h.mu.Lock()
	h.beforeAddUserKey = func(user, _ string) { close(blocked); <-release }
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A new deadline: the index entry of alice is updated after the
		// save.
		r.call(c, func(s *session.Session, _ http.ResponseWriter) error { return s.SetLifetime(time.Hour, 48*time.Hour) })
	}()
	<-blocked
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.SetUser("bob") })
	close(release)
	<-done
	wantState(t, r, c, "bob")
	infos, err := r.m.UserSessions(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.m.RevokeUser(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 || n != 0 {
		t.Errorf("alice: %d sessions listed, RevokeUser revoked %d; want 0 and 0", len(infos), n)
	}
	wantState(t, r, c, "bob")
}

// Session.Delete records a deletion even when the request does not see the
// key, "so that it also removes a value that a concurrent request ...
// holds under key". A request that loaded the session before a concurrent
// request set the key, and deletes it afterwards, must remove it: on the
// same key the later save wins.
func TestDeleteOfAnUnseenKeyRemovesAConcurrentWrite(t *testing.T) {
	r := newRig(t, 5)
	c := r.must(nil, set("a"))
	loaded, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
			if _, err := s.Keys(); err != nil {
				return err
			}
			close(loaded)
			<-release
			return s.Delete("x")
		})
	}()
	<-loaded
	r.must(c, set("x"))
	close(release)
	<-done
	wantState(t, r, c, "", "a")
}

// The journal holds at most WithJournalLimit entries (Status.Entries "at
// most the journal limit"): a login that rebinds a session during an
// outage journals the removal of the old user's index entry under the key
// renewed away, an entry that was never reserved.
func TestJournalEntriesStayWithinTheLimit(t *testing.T) {
	const limit = 5
	p := newSwitchStore(t)
	fo, err := degrade.New(p, degrade.WithLogger(quiet), degrade.WithFailureThreshold(1), degrade.WithProbeInterval(time.Hour), degrade.WithJournalLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fo.Close() })
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(fo), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, p: p, fo: fo, m: m}
	var cookies []*http.Cookie
	for range limit {
		cookies = append(cookies, r.must(nil, login("alice")))
	}
	p.setDown(true)
	for i, c := range cookies {
		r.call(c, login("bob"))
		if st := fo.Status(); st.Entries > limit {
			t.Fatalf("after login %d: %d journal entries, limit %d", i+1, st.Entries, limit)
		}
	}
}

// The per-user session limit is not enforced during an outage and
// "applies again at the user's next login after it". A login after the
// circuit closed, while sessions of the user logged in during the outage
// are still pending replay, must count them (UserKeys does): afterwards
// the user has at most the limit.
func TestUserLimitAtTheFirstLoginAfterTheOutageCountsPendingSessions(t *testing.T) {
	r, h := newHookRig(t, 0, 1, session.WithMaxSessionsPerUser(1))
	anon := []*http.Cookie{r.must(nil, set("x")), r.must(nil, set("y"))}
	r.p.setDown(true)
	for _, c := range anon {
		if resp, _ := r.call(c, login("alice")); resp.StatusCode != 200 {
			t.Fatalf("login during the outage: status %d", resp.StatusCode)
		}
	}
	// Hold the replay on the first session it builds on its old record.
	held, release := make(chan struct{}), make(chan struct{})
	h.mu.Lock()
	h.afterLoad = func(string) { close(held); <-release }
	h.mu.Unlock()
	r.p.setDown(false)
	<-held
	if st := r.fo.Status(); st.State == degrade.StateOpen || st.Pending == 0 {
		close(release)
		t.Fatalf("not recovering with sessions pending: %+v", st)
	}
	// The login replays alice's pending sessions before it enforces the
	// limit: it waits for the held replay.
	status := make(chan int)
	go func() {
		resp, _ := r.call(nil, login("alice"))
		status <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if code := <-status; code != 200 {
		t.Fatalf("login after the outage: status %d", code)
	}
	r.recovered()
	infos, err := r.m.UserSessions(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) > 1 {
		t.Fatalf("alice has %d sessions after her first login after the outage; the limit is 1", len(infos))
	}
}

// A session logged in during an outage is replayed onto the primary while
// RevokeUser, after the outage, lists the user's sessions: the primary's
// index was read before the replay indexed the session, and the journal
// looked at after the replay took it out. RevokeUser must revoke it all
// the same ("log out everywhere" leaves no session of the user alive).
func TestRevokeUserDuringRecoveryRevokesASessionReplayedMeanwhile(t *testing.T) {
	h := &hookStore{switchStore: newSwitchStore(t)}
	// One session a second: the background replay leaves the session
	// pending long enough for RevokeUser to list first.
	fo, err := degrade.New(h, degrade.WithLogger(quiet), degrade.WithFailureThreshold(1),
		degrade.WithProbeInterval(10*time.Millisecond), degrade.WithReplayRate(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fo.Close() })
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(fo), session.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, p: h.switchStore, fo: fo, m: m}
	r.p.setDown(true)
	c := r.must(nil, func(s *session.Session, w http.ResponseWriter) error {
		if err := login("bob")(s, w); err != nil {
			return err
		}
		return s.Set("cart", true)
	})
	r.p.setDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for fo.State() == degrade.StateOpen {
		if time.Now().After(deadline) {
			t.Fatal("the circuit stays open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pendingThen := -1
	var drainErr error
	h.mu.Lock()
	h.afterUserKeys = func() {
		pendingThen = fo.Status().Pending
		drainErr = fo.Drain(t.Context())
	}
	h.mu.Unlock()
	n, err := m.RevokeUser(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if drainErr != nil {
		t.Fatalf("Drain: %v", drainErr)
	}
	if pendingThen != 1 {
		t.Fatalf("%d sessions pending when the primary's index was read, want 1 (replayed before RevokeUser listed?)", pendingThen)
	}
	if n != 1 {
		t.Errorf("RevokeUser(bob) revoked %d sessions, want 1", n)
	}
	wantState(t, r, c, "")
}

// A request saves an item at an explicit Commit and goes on; a concurrent
// request removes that item and saves before the first request's second
// save. The remove is the later save of that key and wins: the first
// request's second save carries only what it changed after its Commit.
// (The consistency checker's model orders such a pair by saves, not by
// responses.)
func TestRemoveAfterACommitWinsOverTheCommittedItem(t *testing.T) {
	r := newRig(t, 5)
	c := r.must(nil, set("a"))
	committed, resume := make(chan struct{}), make(chan struct{})
	codes := make(chan int, 1)
	go func() {
		resp, _ := r.call(c, func(s *session.Session, _ http.ResponseWriter) error {
			if err := s.Set("x", true); err != nil {
				return err
			}
			if err := s.Commit(); err != nil {
				return err
			}
			close(committed)
			<-resume
			return s.Set("y", true)
		})
		codes <- resp.StatusCode
	}()
	select {
	case <-committed:
	case code := <-codes:
		t.Fatalf("the committing request answered %d before its Commit", code)
	}
	r.must(c, func(s *session.Session, _ http.ResponseWriter) error { return s.Delete("x") })
	close(resume)
	if code := <-codes; code != http.StatusOK {
		t.Fatalf("the committing request answered %d", code)
	}
	wantState(t, r, c, "", "a", "y")
}
