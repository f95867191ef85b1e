package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

func init() {
	register("UserIndex",
		testCase{name: "AddListRemove", fn: testUserIndexBasic},
		testCase{name: "DeletedRecordsHidden", fn: testUserIndexDeleted},
		testCase{name: "ExpiredRecordsHidden", fn: testUserIndexExpired},
		testCase{name: "TouchedRecordsListed", fn: testUserIndexTouched},
		testCase{name: "DeadlinesOnlyMoveLater", fn: testUserIndexDeadlines},
	)
	register("Renewer",
		testCase{name: "MovesRecordAndIndex", fn: testRenewMoves},
		testCase{name: "ExistingNewKey", fn: testRenewConflict},
		testCase{name: "WithoutUser", fn: testRenewNoUser},
		testCase{name: "MissingOldKey", fn: testRenewMissingOld},
		testCase{name: "DeletedOldKey", fn: testRenewDeletedOld},
		testCase{name: "StaleVersion", fn: testRenewStaleVersion},
		testCase{name: "ZeroExpiry", fn: testRenewZeroExpiry},
		testCase{name: "Race", fn: testRenewRace},
	)
	register("Iterator",
		testCase{name: "SeesAllKeys", fn: testKeysAll},
		testCase{name: "StopsEarly", fn: testKeysStop},
		testCase{name: "Empty", fn: testKeysEmpty},
	)
	register("Counter",
		testCase{name: "Counts", fn: testCount},
	)
	register("Pinger",
		testCase{name: "Healthy", fn: testPing},
	)
}

func userKeys(t *testing.T, ui backends.UserIndex, user string) []string {
	t.Helper()
	keys, err := ui.UserKeys(t.Context(), user)
	if err != nil {
		t.Fatalf("UserKeys(%q): %v", user, err)
	}
	slices.Sort(keys)
	return keys
}

func wantUserKeys(t *testing.T, ui backends.UserIndex, user string, want ...string) {
	t.Helper()
	got := userKeys(t, ui, user)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("UserKeys(%q) = %q, want %q", user, got, want)
	}
}

func addUserKey(t *testing.T, ui backends.UserIndex, user, key string, deadline time.Time) {
	t.Helper()
	if err := ui.AddUserKey(t.Context(), user, key, deadline); err != nil {
		t.Fatalf("AddUserKey(%q, %q): %v", user, key, err)
	}
}

func removeUserKey(t *testing.T, ui backends.UserIndex, user, key string) {
	t.Helper()
	if err := ui.RemoveUserKey(t.Context(), user, key); err != nil {
		t.Fatalf("RemoveUserKey(%q, %q): %v", user, key, err)
	}
}

func testUserIndexBasic(t *testing.T, s backends.Store) {
	ui := s.(backends.UserIndex)
	for _, k := range []string{"a1", "a2", "b1"} {
		save(t, s, k, []byte(k), hour(), 0)
	}
	addUserKey(t, ui, "alice", "a1", day())
	addUserKey(t, ui, "alice", "a2", day())
	addUserKey(t, ui, "alice", "a1", day()) // adding twice is harmless
	addUserKey(t, ui, "bob", "b1", day())

	wantUserKeys(t, ui, "alice", "a1", "a2")
	wantUserKeys(t, ui, "bob", "b1")
	wantUserKeys(t, ui, "carol")

	removeUserKey(t, ui, "alice", "a1")
	wantUserKeys(t, ui, "alice", "a2")
	wantUserKeys(t, ui, "bob", "b1")
	// The index is only an index: the record itself is still there.
	mustLoad(t, s, "a1", 1, []byte("a1"))

	removeUserKey(t, ui, "alice", "a1")  // already removed
	removeUserKey(t, ui, "nobody", "zz") // unknown user
	removeUserKey(t, ui, "alice", "a2")  // last key of a user
	wantUserKeys(t, ui, "alice")
	addUserKey(t, ui, "alice", "a1", day()) // and the user can come back
	wantUserKeys(t, ui, "alice", "a1")
}

func testUserIndexDeleted(t *testing.T, s backends.Store) {
	ui := s.(backends.UserIndex)
	for _, k := range []string{"a1", "a2", "a3"} {
		save(t, s, k, []byte(k), hour(), 0)
		addUserKey(t, ui, "alice", k, day())
	}
	if err := s.Delete(t.Context(), "a1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// A record deleted by a Save with a past expiry counts too.
	if _, err := s.Save(t.Context(), "a3", nil, time.Now().Add(-time.Second), 1); err != nil {
		t.Fatalf("Save(past expiry): %v", err)
	}
	wantUserKeys(t, ui, "alice", "a2")
	wantUserKeys(t, ui, "alice", "a2") // and again, once lazily cleaned
}

func testUserIndexExpired(t *testing.T, s backends.Store) {
	ui := s.(backends.UserIndex)
	save(t, s, "long", []byte("x"), hour(), 0)
	save(t, s, "short", []byte("y"), time.Now().Add(shortTTL), 0)
	// The entry's deadline is far away: the record's expiry decides.
	addUserKey(t, ui, "alice", "long", day())
	addUserKey(t, ui, "alice", "short", day())
	deadline := time.Now().Add(goneTimeout)
	for {
		keys := userKeys(t, ui, "alice")
		if !slices.Contains(keys, "long") {
			t.Fatalf("UserKeys(alice) = %q lost the live key", keys)
		}
		if !slices.Contains(keys, "short") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UserKeys(alice) = %q still lists the expired record after %v", keys, goneTimeout)
		}
		time.Sleep(pollEvery)
	}
	wantUserKeys(t, ui, "alice", "long")
}

// testUserIndexTouched checks that an entry outlives the idle expiry its
// record had when it was added: touches extend the record, and the entry
// lives until the absolute deadline while the record exists.
func testUserIndexTouched(t *testing.T, s backends.Store) {
	ui := s.(backends.UserIndex)
	start := time.Now()
	save(t, s, "k", []byte("x"), start.Add(shortTTL), 0)
	addUserKey(t, ui, "alice", "k", day())
	if err := s.Touch(t.Context(), "k", hour()); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	time.Sleep(time.Until(start.Add(shortTTL + earlyMargin)))
	wantUserKeys(t, ui, "alice", "k")
}

// shortDeadline is the index deadline of the entries that
// testUserIndexDeadlines moves later: long enough to be in the future when
// the entry is added on a loaded machine, short enough to wait out.
const shortDeadline = shortTTL

// testUserIndexDeadlines: an entry's deadline only ever moves later, and
// no entry shortens another's. The cases, checked after one wait past the
// short deadline:
//   - "extended": a session whose deadline is extended (remember-me set
//     after login) is indexed again with the later deadline, and its entry
//     outlives the first deadline;
//   - "renewed": the same for an entry added by Renew;
//   - "again": an entry added again with an earlier deadline (a stale
//     writer) keeps its later one;
//   - "long" and "brief": an entry with an earlier deadline than the others
//     (a short session of a user with long ones) shortens nothing else.
func testUserIndexDeadlines(t *testing.T, s backends.Store) {
	ui := s.(backends.UserIndex)
	start := time.Now()
	short := start.Add(shortDeadline)
	later := start.Add(48 * time.Hour)
	for _, k := range []string{"extended", "long", "again", "brief"} {
		save(t, s, k, []byte(k), hour(), 0)
	}
	addUserKey(t, ui, "alice", "extended", short)
	addUserKey(t, ui, "alice", "extended", later)
	addUserKey(t, ui, "alice", "long", day())
	addUserKey(t, ui, "alice", "again", day())
	addUserKey(t, ui, "alice", "brief", short)
	addUserKey(t, ui, "alice", "again", short)
	want := []string{"again", "extended", "long"}
	if r, ok := s.(backends.Renewer); ok {
		save(t, s, "old", []byte("y"), hour(), 0)
		addUserKey(t, ui, "alice", "old", short)
		if err := r.Renew(t.Context(), "old", 1, "renewed", []byte("y"), hour(), "alice", short); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		addUserKey(t, ui, "alice", "renewed", later)
		want = append(want, "renewed")
	}
	time.Sleep(time.Until(short.Add(earlyMargin)))
	keys := userKeys(t, ui, "alice")
	// "brief" is past its deadline: the store may list it (its record
	// exists) or not.
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "brief" })
	if !slices.Equal(keys, want) {
		t.Errorf("UserKeys(alice) = %q (ignoring brief), want %q", keys, want)
	}
}

func testRenewMoves(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	save(t, s, "old", []byte("v1"), hour(), 0)
	save(t, s, "old", []byte("v2"), hour(), 1)
	save(t, s, "other", []byte("o"), hour(), 0)
	ui, hasIndex := s.(backends.UserIndex)
	if hasIndex {
		addUserKey(t, ui, "alice", "old", day())
		addUserKey(t, ui, "alice", "other", day())
		addUserKey(t, ui, "bob", "old", day()) // not renewed for bob
	}
	exp := time.Now().Add(2*time.Hour + 345*time.Millisecond)
	if err := r.Renew(t.Context(), "old", 2, "new", []byte("carried"), exp, "alice", day()); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	rec := mustLoad(t, s, "new", 1, []byte("carried"))
	wantExpiry(t, "new", rec.Expiry, exp)
	mustMiss(t, s, "old")
	mustLoad(t, s, "other", 1, []byte("o"))
	if hasIndex {
		wantUserKeys(t, ui, "alice", "new", "other")
		wantUserKeys(t, ui, "bob")
	} else {
		t.Log("store does not implement backends.UserIndex: index move not checked")
	}
	save(t, s, "new", []byte("next"), hour(), 1)
}

func testRenewConflict(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	oldExp := hour()
	save(t, s, "old", []byte("v1"), oldExp, 0)
	save(t, s, "old", []byte("v2"), oldExp, 1)
	save(t, s, "taken", []byte("someone else"), hour(), 0)
	ui, hasIndex := s.(backends.UserIndex)
	if hasIndex {
		addUserKey(t, ui, "alice", "old", day())
	}
	err := r.Renew(t.Context(), "old", 2, "taken", []byte("carried"), hour(), "alice", day())
	wantErr(t, err, "renew", backends.ErrConflict)
	rec := mustLoad(t, s, "old", 2, []byte("v2"))
	wantExpiry(t, "old", rec.Expiry, oldExp)
	mustLoad(t, s, "taken", 1, []byte("someone else"))
	if hasIndex {
		wantUserKeys(t, ui, "alice", "old")
	}
}

func testRenewNoUser(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	save(t, s, "old", []byte("v1"), hour(), 0)
	if err := r.Renew(t.Context(), "old", 1, "new", []byte("carried"), hour(), "", day()); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	mustLoad(t, s, "new", 1, []byte("carried"))
	mustMiss(t, s, "old")
}

// testRenewMissingOld renews a session that has no stored record (version
// 0): the new record is created.
func testRenewMissingOld(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	if err := r.Renew(t.Context(), "gone", 0, "new", []byte("carried"), hour(), "", day()); err != nil {
		t.Fatalf("Renew(missing old key): %v", err)
	}
	mustLoad(t, s, "new", 1, []byte("carried"))
	mustMiss(t, s, "gone")
}

// testRenewDeletedOld renews a session whose record was deleted (a logout)
// after it was loaded: nothing may be created, so the logout holds.
func testRenewDeletedOld(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	save(t, s, "old", []byte("v1"), hour(), 0)
	if err := s.Delete(t.Context(), "old"); err != nil {
		t.Fatal(err)
	}
	err := r.Renew(t.Context(), "old", 1, "new", []byte("carried"), hour(), "alice", day())
	wantErr(t, err, "renew", backends.ErrConflict)
	mustMiss(t, s, "new")
	mustMiss(t, s, "old")
	if ui, ok := s.(backends.UserIndex); ok {
		wantUserKeys(t, ui, "alice")
	}
}

// testRenewStaleVersion renews from a version that another writer replaced:
// nothing changes, so the caller can merge and try again.
func testRenewStaleVersion(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	save(t, s, "old", []byte("v1"), hour(), 0)
	save(t, s, "old", []byte("v2"), hour(), 1)
	err := r.Renew(t.Context(), "old", 1, "new", []byte("carried"), hour(), "", day())
	wantErr(t, err, "renew", backends.ErrConflict)
	mustLoad(t, s, "old", 2, []byte("v2"))
	mustMiss(t, s, "new")
	// Renewing a missing key as if it existed, or an existing one as if
	// it did not, conflicts too.
	wantErr(t, r.Renew(t.Context(), "none", 3, "new", []byte("x"), hour(), "", day()), "renew", backends.ErrConflict)
	wantErr(t, r.Renew(t.Context(), "old", 0, "new", []byte("x"), hour(), "", day()), "renew", backends.ErrConflict)
	mustMiss(t, s, "new")
}

func testRenewZeroExpiry(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	save(t, s, "old", []byte("v1"), hour(), 0)
	err := r.Renew(t.Context(), "old", 1, "new", []byte("carried"), time.Time{}, "", day())
	wantErr(t, err, "renew", backends.ErrNoExpiry)
	mustLoad(t, s, "old", 1, []byte("v1"))
	mustMiss(t, s, "new")
}

// testRenewRace renews several sessions onto one new key at once: exactly
// one renewal may win, and the losers keep their old records.
func testRenewRace(t *testing.T, s backends.Store) {
	r := s.(backends.Renewer)
	const workers = 8
	for w := range workers {
		save(t, s, "old-"+strconv.Itoa(w), []byte(strconv.Itoa(w)), hour(), 0)
	}
	winners := race(t, workers, "Renew", func(w int) error {
		return r.Renew(t.Context(), "old-"+strconv.Itoa(w), 1, "new", []byte(strconv.Itoa(w)), hour(), "", day())
	})
	if len(winners) != 1 {
		t.Fatalf("%d renewals onto one key succeeded (%v), want exactly 1", len(winners), winners)
	}
	mustLoad(t, s, "new", 1, []byte(strconv.Itoa(winners[0])))
	for w := range workers {
		if w == winners[0] {
			mustMiss(t, s, "old-"+strconv.Itoa(w))
		} else {
			mustLoad(t, s, "old-"+strconv.Itoa(w), 1, []byte(strconv.Itoa(w)))
		}
	}
}

func testKeysAll(t *testing.T, s backends.Store) {
	it := s.(backends.Iterator)
	want := map[string]bool{}
	for i := range 100 {
		k := "key:" + strconv.Itoa(i)
		if i%10 == 0 {
			k = "{odd}/ключ " + strconv.Itoa(i)
		}
		save(t, s, k, []byte(k), hour(), 0)
		want[k] = true
	}
	for i := 1; i < 100; i += 10 {
		k := "key:" + strconv.Itoa(i)
		if err := s.Delete(t.Context(), k); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		delete(want, k)
	}
	seen := map[string]int{}
	err := it.Keys(t.Context(), func(k string) bool {
		seen[k]++
		// fn may use the store while iterating.
		if _, _, err := s.Load(t.Context(), k); err != nil {
			t.Errorf("Load(%q) inside Keys: %v", k, err)
		}
		return true
	})
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("Keys did not report %q", k)
		}
	}
	for k := range seen {
		if !want[k] {
			t.Errorf("Keys reported %q, which was deleted or never saved", k)
		}
	}
}

func testKeysStop(t *testing.T, s backends.Store) {
	it := s.(backends.Iterator)
	for i := range 40 {
		save(t, s, "k"+strconv.Itoa(i), []byte("x"), hour(), 0)
	}
	for _, stopAt := range []int{1, 5} {
		calls := 0
		err := it.Keys(t.Context(), func(string) bool {
			calls++
			return calls < stopAt
		})
		if err != nil {
			t.Fatalf("Keys: %v", err)
		}
		if calls != stopAt {
			t.Errorf("fn returned false on call %d, but was called %d times", stopAt, calls)
		}
	}
}

func testKeysEmpty(t *testing.T, s backends.Store) {
	it := s.(backends.Iterator)
	calls := 0
	if err := it.Keys(t.Context(), func(string) bool { calls++; return true }); err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if calls != 0 {
		t.Errorf("Keys on an empty store called fn %d times", calls)
	}
}

func testCount(t *testing.T, s backends.Store) {
	c := s.(backends.Counter)
	count := func() int {
		t.Helper()
		n, err := c.Count(t.Context())
		if err != nil {
			t.Fatalf("Count: %v", err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("Count of an empty store = %d", n)
	}
	for i := range 10 {
		save(t, s, "k"+strconv.Itoa(i), []byte("x"), hour(), 0)
	}
	if n := count(); n != 10 {
		t.Errorf("Count after 10 saves = %d", n)
	}
	save(t, s, "k0", []byte("y"), hour(), 1) // an update is not a new record
	for i := range 3 {
		if err := s.Delete(t.Context(), "k"+strconv.Itoa(i)); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if n := count(); n != 7 {
		t.Errorf("Count after an update and 3 deletes = %d, want 7", n)
	}
}

func testPing(t *testing.T, s backends.Store) {
	if err := s.(backends.Pinger).Ping(t.Context()); err != nil {
		t.Fatalf("Ping on a healthy store: %v", err)
	}
}
