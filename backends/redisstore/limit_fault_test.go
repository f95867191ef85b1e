package redisstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// limitSetup gives alice three sessions, "a" the oldest and "keep" the
// newest, and returns the store.
func limitSetup(t *testing.T, s *redisstore.Store) {
	t.Helper()
	ctx := t.Context()
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	base := time.Now().Add(24 * time.Hour)
	for i, k := range []string{"a", "b", "keep"} {
		if _, err := s.Save(ctx, k, []byte(k), exp, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUserKey(ctx, "alice", k, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
}

func wantUserKeysOf(t *testing.T, s *redisstore.Store, user string, want ...string) {
	t.Helper()
	got, err := s.UserKeys(t.Context(), user)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("UserKeys(%s) = %q, %v; want %q", user, got, err, want)
	}
}

// TestLimitFaultsRing: in steps (Cluster, Ring), a limit whose index step
// lost its reply, or whose deletes failed, leaves its victims listed by
// UserKeys and deleted by the next call: never alive outside the index.
func TestLimitFaultsRing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	a, b := redistest.StartServer(t), redistest.StartServer(t)
	var h faultHook
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	ring.AddHook(&h)
	for _, tc := range []struct {
		name     string
		returned []string // the keys returned with the error
		faults   func(s *redisstore.Store) []fault
	}{
		{"IndexStepReplyLost", nil, func(s *redisstore.Store) []fault {
			return []fault{{key: indexKey(s, "alice"), lost: true}}
		}},
		{"DeletesNotSent", []string{"a", "b"}, func(s *redisstore.Store) []fault {
			return []fault{{key: recordKey(s, "a"), pipeline: true, name: "del"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStore(t, ring, redisstore.WithTimeout(suiteTimeout))
			limitSetup(t, s)
			h.arm(tc.faults(s)...)
			victims, err := s.LimitUserKeys(ctx, "alice", "keep", 1)
			if !h.firedAll() {
				t.Fatalf("the fault was not injected (LimitUserKeys: %q, %v)", victims, err)
			}
			h.arm()
			t.Logf("LimitUserKeys: %q, %v", victims, err)
			if !backends.IsUnavailable(err) {
				t.Errorf("LimitUserKeys = %v, want ErrUnavailable", err)
			}
			if slices.Sort(victims); tc.returned != nil && !slices.Equal(victims, tc.returned) {
				t.Errorf("LimitUserKeys returned %q with its error, want %q (to delete)", victims, tc.returned)
			}
			// Whatever survived is listed, so RevokeUser would find it.
			var alive []string
			for _, k := range []string{"a", "b", "keep"} {
				if _, found, err := s.Load(ctx, k); err != nil {
					t.Fatal(err)
				} else if found {
					alive = append(alive, k)
				}
			}
			wantUserKeysOf(t, s, "alice", alive...)
			victims, err = s.LimitUserKeys(ctx, "alice", "keep", 1)
			slices.Sort(victims)
			if err != nil || !slices.Equal(victims, []string{"a", "b"}) {
				t.Errorf("LimitUserKeys after the fault = %q, %v; want [a b]", victims, err)
			}
			wantAbsent(t, s, ring, "a")
			wantAbsent(t, s, ring, "b")
			wantUserKeysOf(t, s, "alice", "keep")
		})
	}
}

// TestLimitReplyLostOnTheWire: the index step's reply is lost on the wire
// and go-redis runs the script again. The retry finds the limit enforced;
// it must still return, and so delete, the victims the first run picked.
func TestLimitReplyLostOnTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	var marker cutMarker
	a := startCutProxy(t, redistest.StartServer(t).Addr(), &marker)
	b := startCutProxy(t, redistest.StartServer(t).Addr(), &marker)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	s := newStore(t, ring, redisstore.WithTimeout(suiteTimeout))
	limitSetup(t, s)
	// The revoking set is read in step 1, then named by the index step.
	marker.arm([]byte(indexKey(s, "alice")+":revoking"), 1)
	victims, err := s.LimitUserKeys(t.Context(), "alice", "keep", 1)
	if !marker.fired() {
		t.Fatalf("the proxy cut nothing (LimitUserKeys: %q, %v)", victims, err)
	}
	slices.Sort(victims)
	if err != nil || !slices.Equal(victims, []string{"a", "b"}) {
		t.Errorf("LimitUserKeys = %q, %v; want [a b] (go-redis retried the index step)", victims, err)
	}
	wantAbsent(t, s, ring, "a")
	wantAbsent(t, s, ring, "b")
	wantUserKeysOf(t, s, "alice", "keep")
}
