package redisstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// TestIndexKeepsLatestDeadline: the index key expires with its latest
// entry; a later deadline moves an entry (and the key's expiry) later, an
// earlier one moves nothing earlier.
func TestIndexKeepsLatestDeadline(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	s := newStore(t, c)
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	hour, day2 := now.Add(time.Hour), now.Add(48*time.Hour)
	add := func(key string, deadline time.Time) {
		t.Helper()
		if err := s.AddUserKey(ctx, "alice", key, deadline); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, expiry time.Time, scores map[string]time.Time) {
		t.Helper()
		st := readIndex(t, s, c, "alice")
		if got := time.UnixMilli(int64(st.Expiry / time.Millisecond)); !got.Equal(expiry) {
			t.Errorf("%s: index expires at %v, want %v", what, got, expiry)
		}
		if len(st.Members) != len(scores) {
			t.Errorf("%s: index %+v, want %d members", what, st.Members, len(scores))
		}
		for _, z := range st.Members {
			if d, ok := scores[z.Member.(string)]; !ok || int64(z.Score) != d.UnixMilli() {
				t.Errorf("%s: entry %v at %v, want %v", what, z.Member, time.UnixMilli(int64(z.Score)), d)
			}
		}
	}
	add("a", hour)
	want("first entry", hour, map[string]time.Time{"a": hour})
	add("a", day2)
	want("a moved later", day2, map[string]time.Time{"a": day2})
	add("b", hour)
	want("b added earlier", day2, map[string]time.Time{"a": day2, "b": hour})
	add("a", hour)
	want("a added again earlier", day2, map[string]time.Time{"a": day2, "b": hour})
	if err := s.RemoveUserKey(ctx, "alice", "b"); err != nil {
		t.Fatal(err)
	}
	want("b removed", day2, map[string]time.Time{"a": day2})
}

// TestLimitUserKeysOneRoundTrip: on one server the limit is one script.
func TestLimitUserKeysOneRoundTrip(t *testing.T) {
	srv := redistest.StartServer(t)
	c := client(t, srv.Addr())
	s := newStore(t, c)
	var rt redistest.RoundTrips
	c.AddHook(&rt)
	testLimitRoundTrips(t, s, c, &rt, 1)
}

// testLimitRoundTrips limits alice, who has three live sessions, a session
// renewed away (in Cluster its entry stays in the index) and an entry
// without a record, to two sessions: the stale entries are not counted and
// are dropped, one session goes, in at most trips round trips.
func testLimitRoundTrips(t *testing.T, s *redisstore.Store, c redis.UniversalClient, rt *redistest.RoundTrips, trips int64) {
	ctx := t.Context()
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	base := time.Now().Add(24 * time.Hour)
	for i, k := range []string{"renewed-away", "s1", "s2", "s3"} {
		if _, err := s.Save(ctx, k, []byte(k), exp, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUserKey(ctx, "alice", k, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddUserKey(ctx, "alice", "never-saved", base); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "renewed-away", 1, "s4", []byte("s4"), exp, "alice", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rt.Reset()
	victims, err := s.LimitUserKeys(ctx, "alice", "s1", 3)
	if err != nil || !slices.Equal(victims, []string{"s2"}) {
		t.Errorf("LimitUserKeys(keep s1, max 3) = %q, %v; want [s2]", victims, err)
	}
	if rt.Trips() > trips {
		t.Errorf("LimitUserKeys took %d round trips, want at most %d", rt.Trips(), trips)
	}
	wantAbsent(t, s, c, "s2")
	st := readIndex(t, s, c, "alice")
	if got, want := members(st), []string{"s1", "s3", "s4"}; !slices.Equal(got, want) {
		t.Errorf("index members = %q, want %q (stale entries dropped)", got, want)
	}
}
