package redisstore_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storetest"
	"github.com/sessionkit/session/internal/redistest"
)

// TestCluster runs the conformance suite and a cross-slot workload against a
// three-master Redis Cluster.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	cl := redistest.StartCluster(t, 3)
	url := "redis+cluster://" + strings.Join(cl.Addrs(), ",")
	s, err := redisstore.NewFromURL(url, redisstore.WithPingOnStart(), redisstore.WithTimeout(suiteTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, ok := s.Client().(*redis.ClusterClient); !ok {
		t.Fatalf("NewFromURL(%s) made a %T", url, s.Client())
	}

	t.Run("Conformance", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		storetest.Run(t, func(t *testing.T) backends.Store {
			return newStore(t, cc, redisstore.WithTimeout(suiteTimeout))
		})
	})

	t.Run("SpreadOverSlots", func(t *testing.T) {
		ctx := t.Context()
		exp := time.Now().Add(time.Hour)
		day := time.Now().Add(24 * time.Hour)
		const n = 200
		users := []string{"alice", "bob", "carol", "dave"}
		want := map[string][]string{}
		for i := range n {
			k := strconv.Itoa(i) + "-session-hash"
			if _, err := s.Save(ctx, k, []byte("v"+strconv.Itoa(i)), exp, 0); err != nil {
				t.Fatal(err)
			}
			u := users[i%len(users)]
			if err := s.AddUserKey(ctx, u, k, day); err != nil {
				t.Fatal(err)
			}
			want[u] = append(want[u], k)
		}
		// The records landed on every master.
		perNode := map[string]int{}
		for _, node := range cl.Nodes() {
			keys, _, err := node.Client().Scan(ctx, 0, s.Prefix()+"*", 10000).Result()
			if err != nil {
				t.Fatal(err)
			}
			perNode[node.Addr()] = len(keys)
			if len(keys) == 0 {
				t.Errorf("node %s holds no session", node.Addr())
			}
		}
		t.Logf("keys per node (records and indexes): %v", perNode)

		if c, err := s.Count(ctx); err != nil || c != n {
			t.Errorf("Count = %d, %v; want %d", c, err, n)
		}
		seen := map[string]bool{}
		if err := s.Keys(ctx, func(k string) bool { seen[k] = true; return true }); err != nil {
			t.Fatal(err)
		}
		if len(seen) != n {
			t.Errorf("Keys saw %d keys, want %d", len(seen), n)
		}
		for _, u := range users {
			got, err := s.UserKeys(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want[u])
			if !slices.Equal(got, want[u]) {
				t.Errorf("UserKeys(%s) = %d keys, want %d", u, len(got), len(want[u]))
			}
		}

		// Renew across slots moves the record and the index entry.
		old := want["alice"][0]
		if err := s.Renew(ctx, old, 1, "renewed", []byte("carried"), exp, "alice", day); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.Load(ctx, old); found {
			t.Error("old record survived Renew")
		}
		if rec, found, err := s.Load(ctx, "renewed"); err != nil || !found || string(rec.Blob) != "carried" {
			t.Errorf("Load(renewed) = %q %v %v", rec.Blob, found, err)
		}
		// Revoke everywhere but "renewed": delete every other session of alice.
		keys, err := s.UserKeys(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k == "renewed" {
				continue
			}
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.UserKeys(ctx, "alice"); err != nil || !slices.Equal(got, []string{"renewed"}) {
			t.Errorf("UserKeys(alice) after revoke = %q, %v", got, err)
		}
		if got, _ := s.UserKeys(ctx, "bob"); len(got) != len(want["bob"]) {
			t.Errorf("revoking alice touched bob: %d keys", len(got))
		}
		if c, err := s.Count(ctx); err != nil || c != n-len(want["alice"])+1 {
			t.Errorf("Count after revoke = %d, %v; want %d", c, err, n-len(want["alice"])+1)
		}

		// A script cache flushed on every node is survived, in the
		// Cluster's Renew pipeline too.
		for _, node := range cl.Nodes() {
			if err := node.Client().ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Renew(ctx, "renewed", 1, "renewed2", []byte("again"), exp, "alice", day); err != nil {
			t.Fatalf("Renew after SCRIPT FLUSH: %v", err)
		}
		if got, err := s.UserKeys(ctx, "alice"); err != nil || !slices.Equal(got, []string{"renewed2"}) {
			t.Errorf("UserKeys(alice) = %q, %v", got, err)
		}
	})

	t.Run("RoundTrips", func(t *testing.T) {
		ctx := t.Context()
		var rt redistest.RoundTrips
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		st := newStore(t, cc, redisstore.WithTimeout(suiteTimeout))
		exp := time.Now().Add(time.Hour)
		day := time.Now().Add(24 * time.Hour)
		if err := st.LoadScripts(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Save(ctx, "a", []byte("x"), exp, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.AddUserKey(ctx, "u", "a", day); err != nil {
			t.Fatal(err)
		}
		cc.AddHook(&rt)
		for _, tc := range []struct {
			name  string
			op    func() error
			trips int64
		}{
			{"Load", func() error { _, _, err := st.Load(ctx, "a"); return err }, 1},
			{"Save", func() error { _, err := st.Save(ctx, "a", []byte("y"), exp, 1); return err }, 1},
			{"Touch", func() error { return st.Touch(ctx, "a", exp) }, 1},
			// Create the new record, index it, delete the old one.
			{"Renew", func() error { return st.Renew(ctx, "a", 2, "b", []byte("z"), exp, "u", day) }, 3},
			{"RenewWithoutUser", func() error { return st.Renew(ctx, "b", 1, "c", []byte("z"), exp, "", day) }, 2},
		} {
			rt.Reset()
			if err := tc.op(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if rt.Trips() != tc.trips {
				t.Errorf("%s: %d round trips, want %d", tc.name, rt.Trips(), tc.trips)
			}
		}
	})

	// A logout that lands before the renewal's check of the old record
	// wins. The conflict takes four round trips: create the new record,
	// index it, check the old one, take the new one back.
	t.Run("RenewAfterLogout", func(t *testing.T) {
		var rt redistest.RoundTrips
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		st := newStore(t, cc, redisstore.WithTimeout(suiteTimeout))
		cc.AddHook(&rt)
		testRenewAfterLogout(t, st, cc, &rt, 4)
	})

	t.Run("LimitUserKeys", func(t *testing.T) {
		var rt redistest.RoundTrips
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		cc.AddHook(&rt)
		testLimitRoundTrips(t, newStore(t, cc, redisstore.WithTimeout(suiteTimeout)), cc, &rt, 4)
	})

	// Every partial failure of the renewal in steps either completes it or
	// leaves the old record and the index as they were.
	t.Run("RenewFaults", func(t *testing.T) {
		var h faultHook
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		cc.AddHook(&h)
		testRenewFaults(t, &h, func(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
			return newStore(t, cc, redisstore.WithTimeout(suiteTimeout)), cc
		}, stepFaults)
	})

	// A taken new key is found first and changes nothing, neither the
	// records nor either user's index.
	t.Run("RenewOntoTakenKey", func(t *testing.T) {
		ctx := t.Context()
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		st := newStore(t, cc, redisstore.WithTimeout(suiteTimeout))
		exp := time.Now().Add(time.Hour)
		day := time.Now().Add(24 * time.Hour)
		for _, r := range []struct{ key, user string }{{"old", "alice"}, {"taken", "bob"}} {
			if _, err := st.Save(ctx, r.key, []byte(r.user), exp, 0); err != nil {
				t.Fatal(err)
			}
			if err := st.AddUserKey(ctx, r.user, r.key, day); err != nil {
				t.Fatal(err)
			}
		}
		before := readIndex(t, st, cc, "alice")
		err := st.Renew(ctx, "old", 1, "taken", []byte("carried"), exp, "alice", day)
		wantConflict(t, "taken new key", err)
		t.Logf("taken new key: %v", err)
		wantRecord(t, st, "old", 1, "alice")
		wantRecord(t, st, "taken", 1, "bob")
		if after := readIndex(t, st, cc, "alice"); !reflect.DeepEqual(after, before) {
			t.Errorf("alice's index changed:\n before %+v\n after  %+v", before, after)
		}
		if got, err := st.UserKeys(ctx, "bob"); err != nil || !slices.Equal(got, []string{"taken"}) {
			t.Errorf("UserKeys(bob) = %q, %v", got, err)
		}
	})
}

// TestSentinelFailover writes sessions through a Sentinel-managed master,
// kills it, and reads and writes them through the same store once the
// replica is promoted.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel group")
	}
	g := redistest.StartSentinel(t)
	url := "redis+sentinel://" + strings.Join(g.SentinelAddrs(), ",") + "/" + g.MasterName()
	s, err := redisstore.NewFromURL(url, redisstore.WithPingOnStart(), redisstore.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	const n = 20
	for i := range n {
		k := "s" + strconv.Itoa(i)
		if _, err := s.Save(ctx, k, []byte("v1"), exp, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUserKey(ctx, "alice", k, day); err != nil {
			t.Fatal(err)
		}
	}
	// The replica acknowledged every write.
	if acked, err := s.Client().Do(ctx, "WAIT", 1, 2000).Int(); err != nil || acked < 1 {
		t.Fatalf("WAIT 1: %d, %v", acked, err)
	}

	old := g.Master().Addr()
	g.Master().Kill()
	start := time.Now()
	newMaster := g.WaitFailover(old, 30*time.Second)
	t.Logf("promoted %s in %v", newMaster, time.Since(start).Round(time.Millisecond))

	// The go-redis failover client follows the switch; the first operations
	// may still fail while it reconnects, always as ErrUnavailable.
	deadline := time.Now().Add(15 * time.Second)
	var unavailable int
	for {
		_, err := s.Save(ctx, "s0", []byte("v2"), exp, 1)
		if err == nil {
			break
		}
		if !backends.IsUnavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Save after failover: %v (not ErrUnavailable)", err)
		}
		unavailable++
		if time.Now().After(deadline) {
			t.Fatalf("store still failing 15s after promotion: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d unavailable errors before the store followed the new master (%v after the kill)", unavailable, time.Since(start).Round(time.Millisecond))
	for i := range n {
		k := "s" + strconv.Itoa(i)
		rec, found, err := s.Load(ctx, k)
		want := "v1"
		if i == 0 {
			want = "v2"
		}
		if err != nil || !found || string(rec.Blob) != want {
			t.Fatalf("Load(%s) after failover = %q %v %v, want %q", k, rec.Blob, found, err, want)
		}
	}
	if keys, err := s.UserKeys(ctx, "alice"); err != nil || len(keys) != n {
		t.Errorf("UserKeys after failover = %d keys, %v", len(keys), err)
	}
	if err := s.Renew(ctx, "s1", 1, "s1-renewed", []byte("r"), exp, "alice", day); err != nil {
		t.Errorf("Renew after failover: %v", err)
	}
	if _, ok := s.Client().(*redis.Client); !ok {
		t.Errorf("sentinel URL made a %T", s.Client())
	}
}

// TestRing runs the conformance suite on a go-redis Ring of two servers,
// where a session's record and its user's index may live on different shards.
func TestRing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	a, b := redistest.StartServer(t), redistest.StartServer(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
	t.Cleanup(func() { _ = ring.Close() })
	storetest.Run(t, func(t *testing.T) backends.Store {
		return newStore(t, ring, redisstore.WithTimeout(suiteTimeout))
	})
}
