package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

func newStore(t *testing.T, opts memstore.Options) *memstore.Store {
	t.Helper()
	s, err := memstore.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hour() time.Time { return time.Now().Add(time.Hour) }

func mustSave(t *testing.T, s *memstore.Store, key string, blob []byte, expected uint64) {
	t.Helper()
	if _, err := s.Save(context.Background(), key, blob, hour(), expected); err != nil {
		t.Fatalf("Save(%q): %v", key, err)
	}
}

func present(t *testing.T, s *memstore.Store, key string) bool {
	t.Helper()
	_, found, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", key, err)
	}
	return found
}

// contents lists the live keys, sorted, without touching their recency
// (a Load would).
func contents(t *testing.T, s *memstore.Store) []string {
	t.Helper()
	var keys []string
	if err := s.Keys(context.Background(), func(k string) bool { keys = append(keys, k); return true }); err != nil {
		t.Fatalf("Keys: %v", err)
	}
	slices.Sort(keys)
	return keys
}

func wantContents(t *testing.T, s *memstore.Store, want ...string) {
	t.Helper()
	if got := contents(t, s); !slices.Equal(got, want) {
		t.Errorf("store holds %q, want %q", got, want)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for _, opts := range []memstore.Options{
		{Shards: -1},
		{Shards: memstore.MaxShards + 1},
		{MaxSessions: -1},
		{MaxBytes: -1},
		{Shards: 8, MaxSessions: 7},
		{Shards: 8, MaxBytes: 7},
	} {
		if s, err := memstore.New(opts); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded, want an error", opts)
		}
	}
	for _, opts := range []memstore.Options{
		{},
		{Shards: 1, MaxSessions: 1, MaxBytes: 1},
		{Shards: 7, MaxSessions: 7, MaxBytes: 7, JanitorInterval: -1},
		{Shards: memstore.MaxShards, JanitorInterval: time.Hour},
	} {
		s, err := memstore.New(opts)
		if err != nil {
			t.Errorf("New(%+v): %v", opts, err)
			continue
		}
		s.Close()
	}
}

// TestEvictsLeastRecentlyUsedByCount checks that eviction follows use, not
// insertion: a Load or Touch makes a record recent again.
func TestEvictsLeastRecentlyUsedByCount(t *testing.T) {
	s := newStore(t, memstore.Options{Shards: 1, MaxSessions: 3, JanitorInterval: -1})
	ctx := context.Background()
	mustSave(t, s, "a", []byte("1"), 0)
	mustSave(t, s, "b", []byte("2"), 0)
	mustSave(t, s, "c", []byte("3"), 0)
	present(t, s, "a") // a is now the most recently used; b the least
	mustSave(t, s, "d", []byte("4"), 0)
	wantContents(t, s, "a", "c", "d")
	// Order is now (least recent first) c, a, d. Touch c, add e: a goes.
	if err := s.Touch(ctx, "c", hour()); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, "e", []byte("5"), 0)
	wantContents(t, s, "c", "d", "e")
	if st := s.Stats(); st.Sessions != 3 || st.Evictions != 2 {
		t.Errorf("Stats = %+v, want 3 sessions and 2 evictions", st)
	}
}

func TestEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	// Each record is 1 byte of key and 30 of blob: three fit in 100 bytes.
	s := newStore(t, memstore.Options{Shards: 1, MaxBytes: 100, JanitorInterval: -1})
	blob := make([]byte, 30)
	mustSave(t, s, "a", blob, 0)
	mustSave(t, s, "b", blob, 0)
	mustSave(t, s, "c", blob, 0)
	present(t, s, "a")
	mustSave(t, s, "d", blob, 0)
	wantContents(t, s, "a", "c", "d")
	if st := s.Stats(); st.Bytes != 93 || st.Evictions != 1 {
		t.Errorf("Stats = %+v, want 93 bytes and 1 eviction", st)
	}

	// Growing a record evicts others until it fits, never the record itself.
	if _, err := s.Save(context.Background(), "d", make([]byte, 99), hour(), 1); err != nil {
		t.Fatalf("growing d: %v", err)
	}
	wantContents(t, s, "d")
	if st := s.Stats(); st.Sessions != 1 || st.Bytes != 100 {
		t.Errorf("Stats after growing d = %+v, want d alone at 100 bytes", st)
	}
}

func TestRefusesRecordsOverShardBudget(t *testing.T) {
	// Four shards of 100 bytes: the largest record is 100 bytes of key+blob.
	s := newStore(t, memstore.Options{Shards: 4, MaxBytes: 400, JanitorInterval: -1})
	ctx := context.Background()
	mustSave(t, s, "k", make([]byte, 99), 0)
	_, err := s.Save(ctx, "k", make([]byte, 100), hour(), 1)
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Save of 101 bytes = %v, want ErrTooLarge", err)
	}
	var oe *backends.OpError
	if !errors.As(err, &oe) || oe.Op != "save" || oe.Backend != "memory" {
		t.Errorf("error %v does not say the memory store's save failed", err)
	}
	err = s.Renew(ctx, "k", 1, "new", make([]byte, 100), hour(), "", hour())
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Errorf("Renew with 103 bytes = %v, want ErrTooLarge", err)
	}
	if rec, found, _ := s.Load(ctx, "k"); !found || rec.Version != 1 || len(rec.Blob) != 99 {
		t.Errorf("the refused writes changed the record: found %v, version %d, %d bytes", found, rec.Version, len(rec.Blob))
	}
	// Deleting with a past expiry is never too large.
	if v, err := s.Save(ctx, "k", make([]byte, 1000), time.Now().Add(-time.Second), 1); err != nil || v != 0 {
		t.Errorf("Save(past expiry, large blob) = %d, %v; want 0, nil", v, err)
	}
}

func TestExpiredRecordsNeverReturned(t *testing.T) {
	s := newStore(t, memstore.Options{JanitorInterval: -1})
	ctx := context.Background()
	exp := time.Now().Add(30 * time.Millisecond)
	if _, err := s.Save(ctx, "k", []byte("x"), exp, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(exp))
	if present(t, s, "k") {
		t.Fatal("Load returned a record past its expiry")
	}
	if st := s.Stats(); st.Sessions != 0 || st.Expirations != 1 {
		t.Errorf("Stats = %+v, want the expired record removed by Load", st)
	}
}

func TestJanitorRemovesExpiredRecords(t *testing.T) {
	s := newStore(t, memstore.Options{Shards: 4, JanitorInterval: 10 * time.Millisecond})
	ctx := context.Background()
	const n = 100
	exp := time.Now().Add(50 * time.Millisecond)
	for i := range n {
		if _, err := s.Save(ctx, "short-"+strconv.Itoa(i), []byte("x"), exp, 0); err != nil {
			t.Fatal(err)
		}
	}
	mustSave(t, s, "long", []byte("y"), 0)
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Sessions != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Stats = %+v: the janitor did not remove the expired records", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.Expirations != n || st.Bytes != int64(len("long")+1) {
		t.Errorf("Stats = %+v, want %d expirations and only the live record's bytes", st, n)
	}
}

func TestCloseStopsJanitor(t *testing.T) {
	settle := func(cond func(int) bool) int {
		deadline := time.Now().Add(2 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if cond(n) || time.Now().After(deadline) {
				return n
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	before := runtime.NumGoroutine()
	const stores = 10
	var all []*memstore.Store
	for range stores {
		s, err := memstore.New(memstore.Options{JanitorInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	if n := settle(func(n int) bool { return n >= before+stores }); n < before+stores {
		t.Fatalf("%d goroutines with %d janitors running, started from %d", n, stores, before)
	}
	for _, s := range all {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if n := settle(func(n int) bool { return n <= before }); n > before {
		t.Errorf("%d goroutines after Close, %d before New: janitors still running", n, before)
	}
}

func TestClosed(t *testing.T) {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustSave(t, s, "k", []byte("x"), 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, loadErr := s.Load(ctx, "k")
	_, saveErr := s.Save(ctx, "k", []byte("y"), hour(), 1)
	_, userKeysErr := s.UserKeys(ctx, "u")
	_, countErr := s.Count(ctx)
	_, limitErr := s.LimitUserKeys(ctx, "u", "", 1)
	for op, err := range map[string]error{
		"load":          loadErr,
		"save":          saveErr,
		"touch":         s.Touch(ctx, "k", hour()),
		"delete":        s.Delete(ctx, "k"),
		"renew":         s.Renew(ctx, "k", 1, "n", nil, hour(), "u", hour()),
		"adduserkey":    s.AddUserKey(ctx, "u", "k", hour()),
		"removeuserkey": s.RemoveUserKey(ctx, "u", "k"),
		"userkeys":      userKeysErr,
		"limituserkeys": limitErr,
		"keys":          s.Keys(ctx, func(string) bool { return true }),
		"count":         countErr,
		"ping":          s.Ping(ctx),
	} {
		var oe *backends.OpError
		if !errors.Is(err, backends.ErrClosed) || !errors.As(err, &oe) || oe.Op != op {
			t.Errorf("%s after Close = %v, want an OpError for %q matching ErrClosed", op, err, op)
		}
	}
	if st := s.Stats(); st.Sessions != 0 || st.Bytes != 0 {
		t.Errorf("Stats after Close = %+v, want the records released", st)
	}
}

func TestStats(t *testing.T) {
	s := newStore(t, memstore.Options{JanitorInterval: -1})
	ctx := context.Background()
	if st := s.Stats(); st != (memstore.Stats{}) {
		t.Errorf("Stats of a new store = %+v", st)
	}
	mustSave(t, s, "k1", make([]byte, 10), 0) // 12 bytes
	mustSave(t, s, "k2", make([]byte, 20), 0) // 22 bytes
	mustSave(t, s, "k1", make([]byte, 5), 1)  // now 7 bytes
	if st := s.Stats(); st.Sessions != 2 || st.Bytes != 29 {
		t.Errorf("Stats = %+v, want 2 sessions, 29 bytes", st)
	}
	if err := s.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "k1", 2, "renewed", make([]byte, 3), hour(), "", hour()); err != nil {
		t.Fatal(err)
	}
	want := memstore.Stats{Sessions: 1, Bytes: int64(len("renewed") + 3)}
	if st := s.Stats(); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

// TestConcurrentMultiShardOperations mixes operations that take several
// shard locks (Renew, UserKeys, LimitUserKeys) with single-shard ones on few
// shards, so that a lock-order mistake deadlocks and a missing lock races.
func TestConcurrentMultiShardOperations(t *testing.T) {
	s := newStore(t, memstore.Options{Shards: 4, MaxSessions: 64, JanitorInterval: time.Millisecond})
	ctx := context.Background()
	const workers = 8
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			user := "user-" + strconv.Itoa(w%3)
			key := fmt.Sprintf("w%d-0", w)
			if _, err := s.Save(ctx, key, []byte("x"), hour(), 0); err != nil {
				t.Error(err)
				return
			}
			for i := 1; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if err := s.AddUserKey(ctx, user, key, hour()); err != nil {
					t.Error(err)
					return
				}
				next := fmt.Sprintf("w%d-%d", w, i)
				err := s.Renew(ctx, key, 1, next, []byte("x"), hour(), user, hour())
				if err != nil {
					t.Error(err)
					return
				}
				key = next
				if _, err := s.UserKeys(ctx, user); err != nil {
					t.Error(err)
					return
				}
				// A limit no user reaches: it locks as a real one does.
				if victims, err := s.LimitUserKeys(ctx, user, key, workers); err != nil || len(victims) > 0 {
					t.Errorf("LimitUserKeys = %q, %v", victims, err)
					return
				}
				if _, _, err := s.Load(ctx, key); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	close(done)
	wg.Wait()
	if st := s.Stats(); st.Sessions > 64 {
		t.Errorf("Stats = %+v: over MaxSessions", st)
	}
}
