package redisstore_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// TestRenewAfterLogout: on one server, a renewal cannot bring back a
// session that a logout deleted, nor renew from a stale version, and a
// conflict changes neither the records nor the user index.
func TestRenewAfterLogout(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	var rt redistest.RoundTrips
	c.AddHook(&rt)
	testRenewAfterLogout(t, newStore(t, c), c, &rt, 1)
}

// indexKey is the name of userID's index (see the package documentation).
func indexKey(s *redisstore.Store, userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return s.Prefix() + "user:{" + hex.EncodeToString(sum[:])[:32] + "}"
}

// indexState is everything stored in a user index: members, scores, expiry.
type indexState struct {
	Members []redis.Z
	Expiry  time.Duration
}

func readIndex(t *testing.T, s *redisstore.Store, c redis.UniversalClient, userID string) indexState {
	t.Helper()
	k := indexKey(s, userID)
	m, err := c.ZRangeWithScores(t.Context(), k, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	exp, err := c.PExpireTime(t.Context(), k).Result()
	if err != nil {
		t.Fatal(err)
	}
	return indexState{m, exp}
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	var oe *backends.OpError
	if !backends.IsConflict(err) || !errors.As(err, &oe) || oe.Op != "renew" || oe.Backend != "redis" {
		t.Errorf("%s: Renew = %v, want a renew OpError matching ErrConflict", what, err)
	}
	if backends.IsUnavailable(err) {
		t.Errorf("%s: a conflict is not an outage: %v", what, err)
	}
}

func wantAbsent(t *testing.T, s *redisstore.Store, c redis.UniversalClient, key string) {
	t.Helper()
	if n, err := c.Exists(t.Context(), s.Prefix()+key).Result(); err != nil || n != 0 {
		t.Errorf("record %q exists (%d, %v), want absent", key, n, err)
	}
}

func wantRecord(t *testing.T, s *redisstore.Store, key string, version uint64, blob string) {
	t.Helper()
	rec, found, err := s.Load(t.Context(), key)
	if err != nil || !found || rec.Version != version || string(rec.Blob) != blob {
		t.Errorf("Load(%s) = %q v%d found %v, %v; want %q v%d", key, rec.Blob, rec.Version, found, err, blob, version)
	}
}

// testRenewAfterLogout runs on one server and in Cluster. c is the store's
// client, with rt installed; a renewal whose old record is gone takes
// conflictTrips round trips.
func testRenewAfterLogout(t *testing.T, s *redisstore.Store, c redis.UniversalClient, rt *redistest.RoundTrips, conflictTrips int64) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"old", "other"} {
		if _, err := s.Save(ctx, k, []byte(k), exp, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUserKey(ctx, "alice", k, day); err != nil {
			t.Fatal(err)
		}
	}

	// A logout deletes old; a slow request that loaded old at version 1
	// then renews it.
	if err := s.Delete(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	before := readIndex(t, s, c, "alice")
	rt.Reset()
	err := s.Renew(ctx, "old", 1, "new", []byte("revived"), exp, "alice", day)
	wantConflict(t, "deleted old key", err)
	if rt.Trips() != conflictTrips {
		t.Errorf("conflicting Renew took %d round trips, want %d", rt.Trips(), conflictTrips)
	}
	wantAbsent(t, s, c, "new")
	wantAbsent(t, s, c, "old")
	if after := readIndex(t, s, c, "alice"); !reflect.DeepEqual(after, before) {
		t.Errorf("user index changed by a conflicting Renew:\n before %+v\n after  %+v", before, after)
	}
	t.Logf("deleted old key: %v", err)

	// Another request saved "other" (version 2) after this one loaded it.
	if _, err := s.Save(ctx, "other", []byte("other v2"), exp, 1); err != nil {
		t.Fatal(err)
	}
	before = readIndex(t, s, c, "alice")
	err = s.Renew(ctx, "other", 1, "new", []byte("stale"), exp, "alice", day)
	wantConflict(t, "stale version", err)
	wantRecord(t, s, "other", 2, "other v2")
	wantAbsent(t, s, c, "new")
	// Version 0 of an existing key, a version of a key that never existed.
	wantConflict(t, "version 0 of an existing key", s.Renew(ctx, "other", 0, "new", []byte("x"), exp, "alice", day))
	wantConflict(t, "version 3 of a missing key", s.Renew(ctx, "never", 3, "new", []byte("x"), exp, "alice", day))
	wantConflict(t, "onto itself", s.Renew(ctx, "other", 2, "other", []byte("x"), exp, "alice", day))
	wantRecord(t, s, "other", 2, "other v2")
	wantAbsent(t, s, c, "new")
	if after := readIndex(t, s, c, "alice"); !reflect.DeepEqual(after, before) {
		t.Errorf("user index changed by a conflicting Renew:\n before %+v\n after  %+v", before, after)
	}
	t.Logf("stale version: %v", err)

	// An old key holding something this store did not write.
	if err := c.Set(ctx, s.Prefix()+"foreign", "someone else's", 0).Err(); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "foreign old key", s.Renew(ctx, "foreign", 0, "new", []byte("x"), exp, "alice", day))
	wantConflict(t, "foreign old key", s.Renew(ctx, "foreign", 1, "new", []byte("x"), exp, "alice", day))
	if v, err := c.Get(ctx, s.Prefix()+"foreign").Result(); err != nil || v != "someone else's" {
		t.Errorf("foreign value = %q, %v", v, err)
	}
	wantAbsent(t, s, c, "new")
	if after := readIndex(t, s, c, "alice"); !reflect.DeepEqual(after, before) {
		t.Errorf("user index changed by a conflicting Renew:\n before %+v\n after  %+v", before, after)
	}

	// The right version renews.
	if err := s.Renew(ctx, "other", 2, "new", []byte("carried"), exp, "alice", day); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, "new", 1, "carried")
	wantAbsent(t, s, c, "other")
	if got, err := s.UserKeys(ctx, "alice"); err != nil || !reflect.DeepEqual(got, []string{"new"}) {
		t.Errorf("UserKeys(alice) = %q, %v; want [new]", got, err)
	}

	// Logout and renewal at the same time: the renewal either ran first
	// (and succeeded) or conflicts and creates nothing. The old record
	// never survives.
	const rounds = 100
	var won, lost int
	for i := range rounds {
		oldKey, newKey := "race-"+strconv.Itoa(i), "race-new-"+strconv.Itoa(i)
		if _, err := s.Save(ctx, oldKey, []byte("x"), exp, 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var renewErr, delErr error
		wg.Go(func() { renewErr = s.Renew(ctx, oldKey, 1, newKey, []byte("r"), exp, "bob", day) })
		wg.Go(func() { delErr = s.Delete(ctx, oldKey) })
		wg.Wait()
		if delErr != nil {
			t.Fatal(delErr)
		}
		wantAbsent(t, s, c, oldKey)
		switch {
		case renewErr == nil:
			won++
			wantRecord(t, s, newKey, 1, "r")
		case backends.IsConflict(renewErr):
			lost++
			wantAbsent(t, s, c, newKey)
		default:
			t.Fatalf("round %d: Renew: %v", i, renewErr)
		}
	}
	keys, err := s.UserKeys(ctx, "bob")
	if err != nil || len(keys) != won {
		t.Errorf("UserKeys(bob) = %d keys, %v; want %d (one per successful renewal)", len(keys), err, won)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "race-new-") {
			t.Errorf("UserKeys(bob) lists %q", k)
		}
	}
	t.Logf("logout against renewal: renewal first %d times, logout first %d times", won, lost)
}
