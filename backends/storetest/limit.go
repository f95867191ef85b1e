package storetest

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

func init() {
	register("UserLimiter",
		testCase{name: "DeletesOldestBeyondMax", fn: testLimitOldest},
		testCase{name: "EqualDeadlinesInKeyOrder", fn: testLimitTies},
		testCase{name: "KeepNeverDeleted", fn: testLimitKeep},
		testCase{name: "KeepNotIndexed", fn: testLimitKeepAbsent},
		testCase{name: "DeadEntriesNotCounted", fn: testLimitDead},
		testCase{name: "OtherUsersUntouched", fn: testLimitOthers},
		testCase{name: "NegativeMax", fn: testLimitNegative},
		testCase{name: "ConcurrentLogins", fn: testLimitConcurrent},
	)
}

// limiter returns s as both a UserLimiter and a UserIndex, which it must be.
func limiter(t *testing.T, s backends.Store) (backends.UserLimiter, backends.UserIndex) {
	t.Helper()
	ui, ok := s.(backends.UserIndex)
	if !ok {
		t.Fatalf("store %T implements backends.UserLimiter but not backends.UserIndex", s)
	}
	return s.(backends.UserLimiter), ui
}

// limit calls LimitUserKeys and fails the test unless it deletes exactly
// want, in any order.
func limit(t *testing.T, l backends.UserLimiter, user, keep string, max int, want ...string) {
	t.Helper()
	got, err := l.LimitUserKeys(t.Context(), user, keep, max)
	if err != nil {
		t.Fatalf("LimitUserKeys(%q, keep %q, max %d): %v", user, keep, max, err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("LimitUserKeys(%q, keep %q, max %d) deleted %q, want %q", user, keep, max, got, want)
	}
}

// indexed saves key and adds it to user's index with the given deadline.
func indexed(t *testing.T, s backends.Store, ui backends.UserIndex, user, key string, deadline time.Time) {
	t.Helper()
	save(t, s, key, []byte(key), hour(), 0)
	addUserKey(t, ui, user, key, deadline)
}

// testLimitOldest: the sessions with the earliest deadlines go first, in
// deadline order and not in the order they were added; keep stays.
func testLimitOldest(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	base := day()
	// Added out of deadline order: e, a, d, b, c.
	for _, k := range []string{"e", "a", "d", "b", "c"} {
		indexed(t, s, ui, "alice", k, base.Add(time.Duration(k[0]-'a')*time.Minute))
	}
	limit(t, l, "alice", "c", 5)
	limit(t, l, "alice", "c", 2, "a", "b", "d")
	for _, k := range []string{"a", "b", "d"} {
		mustMiss(t, s, k)
	}
	mustLoad(t, s, "c", 1, []byte("c"))
	mustLoad(t, s, "e", 1, []byte("e"))
	wantUserKeys(t, ui, "alice", "c", "e")
	limit(t, l, "alice", "c", 2) // within the limit: nothing to do
	limit(t, l, "alice", "c", 1, "e")
	wantUserKeys(t, ui, "alice", "c")

	// A deadline moved later by AddUserKey makes the session younger.
	indexed(t, s, ui, "bob", "x", base)
	indexed(t, s, ui, "bob", "y", base.Add(time.Minute))
	addUserKey(t, ui, "bob", "x", base.Add(time.Hour))
	limit(t, l, "bob", "", 1, "y")
	wantUserKeys(t, ui, "bob", "x")
}

// testLimitTies: equal deadlines are ordered by key, byte-wise.
func testLimitTies(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	d := day()
	for _, k := range []string{"k3", "K9", "k1", "k2"} {
		indexed(t, s, ui, "alice", k, d)
	}
	limit(t, l, "alice", "", 2, "K9", "k1")
	wantUserKeys(t, ui, "alice", "k2", "k3")
}

// testLimitKeep: keep counts towards max but is never deleted, even when it
// is the oldest and when max is 0.
func testLimitKeep(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	base := day()
	for i, k := range []string{"oldest", "mid", "newest"} {
		indexed(t, s, ui, "alice", k, base.Add(time.Duration(i)*time.Minute))
	}
	limit(t, l, "alice", "oldest", 2, "mid")
	wantUserKeys(t, ui, "alice", "newest", "oldest")
	limit(t, l, "alice", "oldest", 0, "newest")
	wantUserKeys(t, ui, "alice", "oldest")
	mustLoad(t, s, "oldest", 1, []byte("oldest"))
	limit(t, l, "alice", "", 0, "oldest")
	wantUserKeys(t, ui, "alice")
	mustMiss(t, s, "oldest")
}

// testLimitKeepAbsent: a keep that is not indexed, or whose record is gone,
// protects nothing and counts for nothing.
func testLimitKeepAbsent(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	base := day()
	for i, k := range []string{"a", "b", "c"} {
		indexed(t, s, ui, "alice", k, base.Add(time.Duration(i)*time.Minute))
	}
	save(t, s, "unindexed", []byte("u"), hour(), 0)
	limit(t, l, "alice", "unindexed", 2, "a")
	mustLoad(t, s, "unindexed", 1, []byte("u"))
	// keep indexed but deleted: not counted.
	if err := s.Delete(t.Context(), "c"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	limit(t, l, "alice", "c", 1)
	wantUserKeys(t, ui, "alice", "b")
}

// testLimitDead: entries of deleted, expired and never saved records are
// not counted (and are dropped from the index).
func testLimitDead(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	base := day()
	// The dead entries have the earliest deadlines: counted, they would
	// shield the live sessions from the limit.
	indexed(t, s, ui, "alice", "deleted", base)
	save(t, s, "expired", []byte("x"), time.Now().Add(shortTTL), 0)
	addUserKey(t, ui, "alice", "expired", base.Add(time.Second))
	addUserKey(t, ui, "alice", "never-saved", base.Add(2*time.Second))
	indexed(t, s, ui, "alice", "live1", base.Add(time.Minute))
	indexed(t, s, ui, "alice", "live2", base.Add(2*time.Minute))
	indexed(t, s, ui, "alice", "live3", base.Add(3*time.Minute))
	if err := s.Delete(t.Context(), "deleted"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventuallyGone(t, s, "expired")
	limit(t, l, "alice", "", 3)
	wantUserKeys(t, ui, "alice", "live1", "live2", "live3")
	limit(t, l, "alice", "", 2, "live1")
	wantUserKeys(t, ui, "alice", "live2", "live3")
	// A key indexed again after its entry was dropped is counted again.
	addUserKey(t, ui, "alice", "never-saved", base)
	save(t, s, "never-saved", []byte("now saved"), hour(), 0)
	limit(t, l, "alice", "", 2, "never-saved")
}

// testLimitOthers: the limit of one user deletes nothing of another user or
// of sessions bound to nobody.
func testLimitOthers(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	d := day()
	for _, k := range []string{"a1", "a2", "a3"} {
		indexed(t, s, ui, "alice", k, d)
	}
	indexed(t, s, ui, "bob", "b1", d.Add(-time.Hour))
	save(t, s, "anonymous", []byte("n"), hour(), 0)
	limit(t, l, "carol", "", 0)
	limit(t, l, "alice", "a3", 1, "a1", "a2")
	wantUserKeys(t, ui, "bob", "b1")
	mustLoad(t, s, "b1", 1, []byte("b1"))
	mustLoad(t, s, "anonymous", 1, []byte("n"))
}

func testLimitNegative(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	indexed(t, s, ui, "alice", "a", day())
	victims, err := l.LimitUserKeys(t.Context(), "alice", "", -1)
	wantErr(t, err, "", nil)
	if len(victims) != 0 {
		t.Errorf("LimitUserKeys(max -1) deleted %q", victims)
	}
	mustLoad(t, s, "a", 1, []byte("a"))
	wantUserKeys(t, ui, "alice", "a")
}

// testLimitConcurrent is the login race under a limit of one session per
// user: each of many goroutines saves a session, indexes it and enforces
// the limit with its own session as keep, all at once. Afterwards exactly
// one session is live and indexed, and every other one was deleted by
// exactly one call. Counting, then deleting in separate steps would let two
// logins each see the other's session and delete it, leaving none. In the
// even rounds every goroutine indexes its session before any enforces the
// limit, so that every call sees every session: the interleaving that
// breaks a limit counted and enforced in separate steps.
func testLimitConcurrent(t *testing.T, s backends.Store) {
	l, ui := limiter(t, s)
	const (
		rounds  = 4
		workers = 12
	)
	for r := range rounds {
		user := "user-" + strconv.Itoa(r)
		var (
			wg, indexed sync.WaitGroup
			mu          sync.Mutex
			deleted     = map[string]int{}
		)
		start := make(chan struct{})
		indexed.Add(workers)
		for w := range workers {
			key := user + "/session-" + strconv.Itoa(w)
			wg.Go(func() {
				<-start
				_, err := s.Save(t.Context(), key, []byte(key), hour(), 0)
				if err == nil {
					err = ui.AddUserKey(t.Context(), user, key, day())
				}
				indexed.Done()
				if err != nil {
					t.Errorf("indexing %s: %v", key, err)
					return
				}
				if r%2 == 0 {
					indexed.Wait()
				}
				victims, err := l.LimitUserKeys(t.Context(), user, key, 1)
				if err != nil {
					t.Errorf("LimitUserKeys(keep %s): %v", key, err)
					return
				}
				mu.Lock()
				for _, v := range victims {
					deleted[v]++
				}
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		keys := userKeys(t, ui, user)
		if len(keys) != 1 {
			t.Fatalf("round %d: UserKeys = %q after %d concurrent logins under a limit of 1, want exactly one", r, keys, workers)
		}
		var live []string
		for w := range workers {
			key := user + "/session-" + strconv.Itoa(w)
			if _, found := load(t, s, key); found {
				live = append(live, key)
				continue
			}
			if deleted[key] != 1 {
				t.Errorf("round %d: %s is gone but was reported deleted %d times, want once", r, key, deleted[key])
			}
		}
		if !slices.Equal(live, keys) {
			t.Fatalf("round %d: live sessions %q, index %q; want the same single session", r, live, keys)
		}
		if deleted[live[0]] != 0 {
			t.Errorf("round %d: the surviving %s was reported deleted", r, live[0])
		}
	}
}
