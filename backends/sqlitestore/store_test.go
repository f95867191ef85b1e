package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/backends/storeurl"
)

func hour() time.Time { return time.Now().Add(time.Hour) }

// TestSurvivesRestart: sessions, versions and the user index are on disk,
// in WAL mode, in the file named (odd characters included).
func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a dir", "sessions?#%.db")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(ctx, "k", []byte("v1"), hour(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(ctx, "k", []byte("v2"), hour(), 1); err != nil {
		t.Fatal(err)
	}
	if err := st.AddUserKey(ctx, "alice", "k", hour()); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := st.DB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	st = open(t, path)
	rec, found, err := st.Load(ctx, "k")
	if err != nil || !found || string(rec.Blob) != "v2" || rec.Version != 2 {
		t.Fatalf("after reopening: Load = %q v%d %v %v; want v2 at version 2", rec.Blob, rec.Version, found, err)
	}
	if keys, err := st.UserKeys(ctx, "alice"); err != nil || len(keys) != 1 || keys[0] != "k" {
		t.Fatalf("after reopening: UserKeys = %q, %v", keys, err)
	}
}

// TestHundredWriters: 100 goroutines increment one counter by load and
// compare-and-set, retrying on conflict: no increment is lost.
func TestHundredWriters(t *testing.T) {
	const writers, increments = 100, 5
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "s.db"))
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

func rows(t *testing.T, st *sqlitestore.Store, table string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow("SELECT count(*) FROM " + st.Prefix() + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSweep: expired records and the index entries of gone records are
// deleted in batches; live ones stay.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "s.db"), sqlitestore.WithJanitor(-1, 3))
	const expired, live = 25, 5
	// The expired rows are written directly, already past their expiry,
	// so that no timing decides how many there are.
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute).UnixMilli()
	for i := range expired + live {
		k := "k" + strconv.Itoa(i)
		if i < expired {
			if _, err := st.DB().ExecContext(ctx, "INSERT INTO session_records VALUES (?, 1, x'', ?)", k, past); err != nil {
				t.Fatal(err)
			}
		} else if _, err := st.Save(ctx, k, []byte("x"), hour(), 0); err != nil {
			t.Fatal(err)
		}
		if err := st.AddUserKey(ctx, "alice", k, hour()); err != nil {
			t.Fatal(err)
		}
	}
	if n := rows(t, st, "records"); n != expired+live {
		t.Fatalf("%d rows before the sweep, want %d", n, expired+live)
	}
	records, entries, err := st.Sweep(ctx)
	if err != nil || records != expired || entries != expired {
		t.Fatalf("Sweep = %d records, %d entries, %v; want %d of each", records, entries, err, expired)
	}
	if n := rows(t, st, "records"); n != live {
		t.Errorf("%d records left, want %d", n, live)
	}
	if n := rows(t, st, "user_keys"); n != live {
		t.Errorf("%d index entries left, want %d", n, live)
	}
}

// TestJanitorRuns: the background janitor deletes expired rows by itself.
func TestJanitorRuns(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "s.db"), sqlitestore.WithJanitor(50*time.Millisecond, 2))
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, err := st.DB().ExecContext(ctx, "INSERT INTO session_records VALUES (?, 1, x'', ?)", "k"+strconv.Itoa(i), time.Now().Add(-time.Minute).UnixMilli()); err != nil {
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

// TestErrorClasses: a file that cannot be opened, missing tables and a
// newer schema match ErrMisconfigured; a database another connection keeps
// locked past the timeout matches ErrUnavailable.
func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	t.Run("NoSuchDirectory", func(t *testing.T) {
		st := open(t, filepath.Join(dir, "missing", "s.db"))
		err := st.Ping(ctx)
		if !backends.IsMisconfigured(err) || backends.IsUnavailable(err) {
			t.Fatalf("Ping of a file in a missing directory = %v, want misconfigured", err)
		}
	})

	t.Run("MissingTables", func(t *testing.T) {
		path := filepath.Join(dir, "empty.db")
		st := open(t, path, sqlitestore.WithCreateSchema(false))
		_, _, err := st.Load(ctx, "k")
		if !backends.IsMisconfigured(err) {
			t.Fatalf("Load without tables = %v, want misconfigured", err)
		}
		if _, err := st.DB().ExecContext(ctx, sqlitestore.Schema("")); err != nil {
			t.Fatalf("running Schema(): %v", err)
		}
		if _, _, err := st.Load(ctx, "k"); err != nil {
			t.Fatalf("Load after the schema was created: %v", err)
		}
	})

	t.Run("NewerSchema", func(t *testing.T) {
		path := filepath.Join(dir, "newer.db")
		st := open(t, path)
		if err := st.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().ExecContext(ctx, "INSERT INTO session_schema (version, applied_at) VALUES (2, 0)"); err != nil {
			t.Fatal(err)
		}
		again := open(t, path)
		if err := again.Ping(ctx); !errors.Is(err, sqlitestore.ErrSchemaVersion) || !backends.IsMisconfigured(err) {
			t.Fatalf("Ping on a newer schema = %v, want ErrSchemaVersion", err)
		}
	})

	t.Run("Locked", func(t *testing.T) {
		path := filepath.Join(dir, "locked.db")
		st := open(t, path, sqlitestore.WithTimeout(300*time.Millisecond))
		if err := st.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		// Another process's writer holds the lock.
		other, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		conn, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
		_, err = st.Save(ctx, "k", []byte("x"), hour(), 0)
		if !backends.IsUnavailable(err) {
			t.Fatalf("Save while another connection holds the lock = %v, want unavailable", err)
		}
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Save(ctx, "k", []byte("x"), hour(), 0); err != nil {
			t.Fatalf("Save once the lock is released: %v", err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		st := open(t, filepath.Join(dir, "closed.db"))
		st.Close()
		if _, _, err := st.Load(ctx, "k"); !errors.Is(err, backends.ErrClosed) {
			t.Fatalf("Load after Close = %v, want ErrClosed", err)
		}
	})
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs.db")
	t.Chdir(dir)
	for _, tc := range []struct{ url, path, prefix string }{
		{"sqlite://" + abs + "?table_prefix=app_&janitor_interval=-1s&op_timeout=5s", abs, "app_"},
		{"sqlite:rel.db?create_schema=true&janitor_batch=10", "rel.db", "session_"},
	} {
		st, err := storeurl.Open(ctx, tc.url)
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.url, err)
		}
		ss, ok := st.(*sqlitestore.Store)
		if !ok {
			t.Fatalf("Open(%q) = %T", tc.url, st)
		}
		if ss.Path() != tc.path || ss.Prefix() != tc.prefix {
			t.Errorf("Open(%q): path %q prefix %q, want %q %q", tc.url, ss.Path(), ss.Prefix(), tc.path, tc.prefix)
		}
		if _, err := st.Save(ctx, "k", []byte("v"), hour(), 0); err != nil {
			t.Fatal(err)
		}
		storeurl.Close(st)
		if _, err := os.Stat(filepath.Join(dir, filepath.Base(tc.path))); err != nil {
			t.Errorf("Open(%q) did not write %s: %v", tc.url, tc.path, err)
		}
	}
	for _, bad := range []string{
		"sqlite://host/s.db",
		"sqlite://",
		"sqlite:///s.db?colour=blue",
		"sqlite:///s.db?table_prefix=Bad-Prefix",
		"sqlite:///s.db?janitor_interval=often",
	} {
		st, err := storeurl.Open(ctx, bad)
		if err == nil {
			storeurl.Close(st)
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		if !errors.Is(err, storeurl.ErrBadURL) {
			t.Errorf("Open(%q) = %v, want ErrBadURL", bad, err)
		}
		if !strings.Contains(err.Error(), "sqlite") {
			t.Errorf("Open(%q) = %v: does not say which store", bad, err)
		}
	}
}
