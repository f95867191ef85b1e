package crossstore_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/pgtest"
	"github.com/sessionkit/session/internal/redistest"
)

// sessions is how many records each test moves.
const sessions = 3000

// users is how many users the bound sessions (one in three) belong to.
const users = 40

// store is what every store of these tests implements.
type store interface {
	backends.Store
	backends.Iterator
	backends.Counter
	backends.UserIndex
	backends.Importer
}

// fixture holds the servers of one test and makes stores on them, each
// empty.
type fixture struct {
	t     *testing.T
	redis *redistest.Server
	pool  *pgxpool.Pool
	codec *codec.Pipeline
	n     int
}

func newFixture(t *testing.T) *fixture {
	redistest.Require(t)
	pgtest.Require(t)
	f := &fixture{t: t, redis: redistest.StartServer(t)}
	pg := pgtest.Start(t)
	pool, err := pgxpool.New(context.Background(), pg.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f.pool = pool
	kr, err := codec.NewKeyring(codec.AESGCM, codec.Key{ID: 1, Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	if f.codec, err = codec.New(codec.WithKeyring(kr)); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) prefix() string { f.n++; return fmt.Sprintf("s%d_", f.n) }

func (f *fixture) newRedis() store {
	c := redis.NewClient(&redis.Options{Addr: f.redis.Addr(), ContextTimeoutEnabled: true})
	f.t.Cleanup(func() { _ = c.Close() })
	s, err := redisstore.New(c, redisstore.WithPrefix(f.prefix()), redisstore.WithTimeout(10*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) newPostgres() store {
	s, err := pgstore.New(f.pool, pgstore.WithPrefix(f.prefix()), pgstore.WithTimeout(10*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

func (f *fixture) newSQLite() store {
	s, err := sqlitestore.Open(filepath.Join(f.t.TempDir(), f.prefix()+"sessions.db"), sqlitestore.WithTimeout(30*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

// contents is what a store should hold: the records, and the keys of each
// user's sessions.
type contents struct {
	records map[string]backends.Record
	users   map[string][]string
}

// fill saves sessions encoded sessions in st through the codec, at
// versions 1 to 3, with TTLs of one hour plus i seconds; one in three is
// bound to a user (its index entry added as the manager does).
func (f *fixture) fill(st store) contents {
	f.t.Helper()
	ctx := f.t.Context()
	want := contents{records: make(map[string]backends.Record, sessions), users: make(map[string][]string)}
	now := time.Now()
	for i := range sessions {
		key := fmt.Sprintf("key-%05d", i)
		d := &codec.Data{Created: now, Deadline: now.Add(24 * time.Hour), Values: map[string][]byte{"cart": fmt.Appendf(nil, `{"p%03d":%d}`, i%100, i%5+1)}}
		if i%3 == 0 {
			d.UserID = fmt.Sprintf("user-%02d", i%users)
		}
		exp := now.Add(time.Hour + time.Duration(i)*time.Second)
		var v uint64
		var blob []byte
		for range i%3 + 1 {
			var err error
			if blob, err = f.codec.Encode(d, []byte(key)); err != nil {
				f.t.Fatal(err)
			}
			if v, err = st.Save(ctx, key, blob, exp, v); err != nil {
				f.t.Fatal(err)
			}
		}
		if d.UserID != "" {
			if err := st.AddUserKey(ctx, d.UserID, key, d.Deadline); err != nil {
				f.t.Fatal(err)
			}
			want.users[d.UserID] = append(want.users[d.UserID], key)
		}
		want.records[key] = backends.Record{Blob: blob, Version: v, Expiry: exp}
	}
	return want
}

// check verifies that st holds exactly want: every record with its
// version, its blob and its expiry to within a second, the count, and each
// user's index.
func (f *fixture) check(name string, st store, want contents) {
	t := f.t
	t.Helper()
	ctx := t.Context()
	bad := 0
	for key, w := range want.records {
		got, found, err := st.Load(ctx, key)
		switch {
		case err != nil:
			t.Fatalf("%s: %v", name, err)
		case !found:
			t.Errorf("%s: %s missing", name, key)
		case got.Version != w.Version || !bytes.Equal(got.Blob, w.Blob):
			t.Errorf("%s: %s at version %d (blob of %d bytes), want version %d (%d bytes)", name, key, got.Version, len(got.Blob), w.Version, len(w.Blob))
		case got.Expiry.Sub(w.Expiry).Abs() >= time.Second:
			t.Errorf("%s: %s expires at %v, want %v", name, key, got.Expiry, w.Expiry)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatalf("%s: too many differences", name)
		}
	}
	if n, err := st.Count(ctx); err != nil || n != len(want.records) {
		t.Errorf("%s: Count = %d, %v; want %d", name, n, err, len(want.records))
	}
	for _, u := range slices.Sorted(maps.Keys(want.users)) {
		got, err := st.UserKeys(ctx, u)
		if err != nil {
			t.Fatalf("%s: UserKeys(%s): %v", name, u, err)
		}
		slices.Sort(got)
		if w := slices.Sorted(slices.Values(want.users[u])); !slices.Equal(got, w) {
			t.Fatalf("%s: UserKeys(%s) = %d keys, want %d", name, u, len(got), len(w))
		}
	}
}

// copyAll copies src to dst with the user index and checks the statistics.
func (f *fixture) copyAll(name string, dst, src store, want contents) {
	f.t.Helper()
	st, err := transfer.Copy(f.t.Context(), dst, src, transfer.Options{Users: transfer.CodecUsers(f.codec)})
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	if st.Copied != sessions || st.Failed != 0 || st.Indexed != int64(indexed(want)) {
		f.t.Fatalf("%s: %+v (errors %v), want %d copied and %d indexed", name, st, st.Errors, sessions, indexed(want))
	}
	f.check(name, dst, want)
}

func indexed(c contents) int {
	n := 0
	for _, keys := range c.users {
		n += len(keys)
	}
	return n
}

// TestCopyRedisPostgresSQLiteRedis copies a few thousand sessions around
// the three stores, Redis to PostgreSQL to SQLite to Redis: each copy holds
// every record with its version, its blob and its expiry, and the user
// index. Copying again changes nothing.
func TestCopyRedisPostgresSQLiteRedis(t *testing.T) {
	f := newFixture(t)
	start := f.newRedis()
	want := f.fill(start)
	pg, lite, back := f.newPostgres(), f.newSQLite(), f.newRedis()
	f.copyAll("Redis to PostgreSQL", pg, start, want)
	f.copyAll("PostgreSQL to SQLite", lite, pg, want)
	f.copyAll("SQLite to Redis", back, lite, want)

	// A second copy finds every record at its version and writes nothing.
	for _, c := range []struct {
		name     string
		dst, src store
	}{{"PostgreSQL to SQLite again", lite, pg}, {"SQLite to Redis again", back, lite}} {
		st, err := transfer.Copy(t.Context(), c.dst, c.src, transfer.Options{})
		if err != nil || st.Copied != 0 || st.Skipped != sessions || st.Failed != 0 {
			t.Fatalf("%s: %+v, %v; want every record skipped", c.name, st, err)
		}
	}

	// A record saved in SQLite since the copy is newer there: a copy from
	// PostgreSQL keeps it.
	ctx := t.Context()
	rec := want.records["key-00002"]
	if _, err := lite.Save(ctx, "key-00002", []byte("newer"), rec.Expiry, rec.Version); err != nil {
		t.Fatal(err)
	}
	if st, err := transfer.Copy(ctx, lite, pg, transfer.Options{}); err != nil || st.Copied != 0 {
		t.Fatalf("copy over a newer record: %+v, %v", st, err)
	}
	if got, _, _ := lite.Load(ctx, "key-00002"); string(got.Blob) != "newer" || got.Version != rec.Version+1 {
		t.Fatalf("the newer record became %q v%d", got.Blob, got.Version)
	}
}

// TestBackupRestoreBetweenSQLStores backs up PostgreSQL and restores the
// stream into SQLite, then backs up that SQLite store and restores it into
// another PostgreSQL store: records, versions, expiries and user index
// entries arrive each time. Restoring a stream again writes nothing.
func TestBackupRestoreBetweenSQLStores(t *testing.T) {
	f := newFixture(t)
	pg := f.newPostgres()
	want := f.fill(pg)
	lite, pg2 := f.newSQLite(), f.newPostgres()
	for _, c := range []struct {
		name     string
		src, dst store
	}{{"PostgreSQL to SQLite", pg, lite}, {"SQLite to PostgreSQL", lite, pg2}} {
		var buf bytes.Buffer
		st, err := transfer.Backup(t.Context(), &buf, c.src, transfer.Options{Users: transfer.CodecUsers(f.codec)})
		if err != nil || st.Copied != sessions || st.Indexed != int64(indexed(want)) || st.Failed != 0 {
			t.Fatalf("%s: Backup = %+v, %v", c.name, st, err)
		}
		stream := buf.Bytes()
		// The index entries travel in the stream: Restore needs no keys.
		st, err = transfer.Restore(t.Context(), c.dst, bytes.NewReader(stream), transfer.Options{})
		if err != nil || st.Copied != sessions || st.Indexed != int64(indexed(want)) || st.Failed != 0 {
			t.Fatalf("%s: Restore = %+v, %v", c.name, st, err)
		}
		f.check(c.name, c.dst, want)
		st, err = transfer.Restore(t.Context(), c.dst, bytes.NewReader(stream), transfer.Options{})
		if err != nil || st.Copied != 0 || st.Skipped != sessions {
			t.Fatalf("%s: second Restore = %+v, %v; want every record skipped", c.name, st, err)
		}
	}
}
