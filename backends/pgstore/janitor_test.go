package pgstore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/pgstore"
)

// rows counts the rows of one of the store's tables, expired ones included.
func rows(t *testing.T, st *pgstore.Store, table string) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(), "SELECT count(*) FROM "+st.Prefix()+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSweepSharedByInstances: expired records and the index entries of
// gone records are deleted in batches; two stores on one set of tables
// (two instances of an application) sweeping at once delete each row once
// and leave the live ones.
func TestSweepSharedByInstances(t *testing.T) {
	_, pool := startServer(t)
	ctx := context.Background()
	a := newStore(t, pool, pgstore.WithJanitor(-1, 3))
	b, err := pgstore.New(pool, pgstore.WithPrefix(a.Prefix()), pgstore.WithJanitor(-1, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const expired, live = 25, 5
	// The expired rows are written directly, already past their expiry,
	// so that no timing decides how many there are.
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range expired {
		k := "old" + strconv.Itoa(i)
		if _, err := pool.Exec(ctx, "INSERT INTO "+a.Prefix()+"records VALUES ($1, 1, '', now() - interval '1 minute')", k); err != nil {
			t.Fatal(err)
		}
		if err := a.AddUserKey(ctx, "alice", k, hour()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range live {
		k := "live" + strconv.Itoa(i)
		if _, err := a.Save(ctx, k, []byte("x"), hour(), 0); err != nil {
			t.Fatal(err)
		}
		if err := a.AddUserKey(ctx, "alice", k, hour()); err != nil {
			t.Fatal(err)
		}
	}
	if n := rows(t, a, "records"); n != expired+live {
		t.Fatalf("%d rows before the sweep, want %d (no janitor ran)", n, expired+live)
	}
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		records, entries int
	)
	for _, st := range []*pgstore.Store{a, b} {
		wg.Go(func() {
			r, e, err := st.Sweep(ctx)
			if err != nil {
				t.Errorf("Sweep: %v", err)
			}
			mu.Lock()
			records += r
			entries += e
			mu.Unlock()
		})
	}
	wg.Wait()
	// A row one sweep skipped because the other held it locked may be
	// left for a later pass: sweep once more to finish.
	r, e, err := a.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	records, entries = records+r, entries+e
	if records != expired || entries != expired {
		t.Errorf("sweeps deleted %d records and %d index entries, want %d of each", records, entries, expired)
	}
	if n := rows(t, a, "records"); n != live {
		t.Errorf("%d records left, want the %d live ones", n, live)
	}
	if n := rows(t, a, "user_keys"); n != live {
		t.Errorf("%d index entries left, want the %d live ones", n, live)
	}
	if keys, err := a.UserKeys(ctx, "alice"); err != nil || len(keys) != live {
		t.Errorf("UserKeys = %q, %v", keys, err)
	}
}

// TestJanitorRuns: the background janitor deletes expired rows by itself.
func TestJanitorRuns(t *testing.T) {
	_, pool := startServer(t)
	ctx := context.Background()
	st := newStore(t, pool, pgstore.WithJanitor(50*time.Millisecond, 2))
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, err := pool.Exec(ctx, "INSERT INTO "+st.Prefix()+"records VALUES ($1, 1, '', now() - interval '1 minute')", "k"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for rows(t, st, "records") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d expired rows left after 10 s of janitor", rows(t, st, "records"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHundredWriters: 100 goroutines increment one counter by load and
// compare-and-set, retrying on conflict: no increment is lost.
func TestHundredWriters(t *testing.T) {
	_, pool := startServer(t)
	st := newStore(t, pool)
	hundredWriters(t, st)
}

func hundredWriters(t *testing.T, st backends.Store) {
	const writers, increments = 100, 5
	ctx := context.Background()
	if _, err := st.Save(ctx, "counter", []byte("0"), hour(), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range increments {
				for {
					rec, found, err := st.Load(ctx, "counter")
					if err != nil || !found {
						t.Errorf("writer %d: Load = %v, %v", w, found, err)
						return
					}
					n, _ := strconv.Atoi(string(rec.Blob))
					_, err = st.Save(ctx, "counter", []byte(strconv.Itoa(n+1)), hour(), rec.Version)
					if errors.Is(err, backends.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("writer %d: Save: %v", w, err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	rec, _, err := st.Load(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Blob) != strconv.Itoa(writers*increments) || rec.Version != writers*increments+1 {
		t.Fatalf("counter = %s at version %d, want %d at version %d", rec.Blob, rec.Version, writers*increments, writers*increments+1)
	}
}
