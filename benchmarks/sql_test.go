package benchmarks

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver scs's sqlite3store is documented with (cgo)

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/internal/pgtest"
)

// The SQL comparison: the cart workload of the Redis comparison (read a
// 5-item cart, add a line to a 20-item cart), in process, with sessionkit's
// pgstore and sqlitestore beside scs's pgxstore and sqlite3store, each
// configured as its documentation shows.
//
//	go test -run '^$' -bench CartSQL -benchmem -count 6 .

// Names of the SQL targets, in the order of the tables.
const (
	tSessionkitPG     = "Sessionkit (PostgreSQL)"
	tSCSPG            = "SCS (pgxstore)"
	tSessionkitSQLite = "Sessionkit (SQLite)"
	tSCSSQLite        = "SCS (sqlite3store)"
	tSCSSQLiteWAL     = "SCS (sqlite3store, WAL)"
)

// newSQLCartTargets returns the bare handler and the libraries on
// PostgreSQL (the cluster srv) and on SQLite files of their own.
func newSQLCartTargets(tb testing.TB, srv *pgtest.Server) []cartTarget {
	tb.Helper()
	return []cartTarget{
		{name: tBare, store: "none", handler: newBare()},
		{name: tSessionkitPG, store: "PostgreSQL", handler: newSessionkitPG(tb, srv)},
		{name: tSCSPG, store: "PostgreSQL", handler: newSCSPG(tb, srv)},
		{name: tSessionkitSQLite, store: "SQLite", handler: newSessionkitSQLite(tb)},
		{name: tSCSSQLite, store: "SQLite", handler: newSCSSQLite(tb, "")},
		{name: tSCSSQLiteWAL, store: "SQLite", handler: newSCSSQLite(tb, "?_journal_mode=WAL&_synchronous=NORMAL")},
	}
}

// newSessionkitPG serves the workload from pgstore.Open with its defaults
// (tables created on first use, janitor every minute) and session.WithStore.
func newSessionkitPG(tb testing.TB, srv *pgtest.Server) http.Handler {
	tb.Helper()
	st, err := pgstore.Open(context.Background(), srv.URL(""))
	if err != nil {
		tb.Fatalf("pgstore.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return newSessionkit(tb, session.WithStore(st))
}

// newSCSPG is scs with scs/pgxstore on a pgx pool with default options, on
// the table of the pgxstore README.
func newSCSPG(tb testing.TB, srv *pgtest.Server) http.Handler {
	tb.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.URL(""))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);`); err != nil {
		tb.Fatalf("creating the pgxstore table: %v", err)
	}
	st := pgxstore.New(pool)
	tb.Cleanup(st.StopCleanup)
	return newSCS(st)
}

// newSessionkitSQLite serves the workload from sqlitestore.Open with its
// defaults (WAL, janitor every minute) on a new file.
func newSessionkitSQLite(tb testing.TB) http.Handler {
	tb.Helper()
	st, err := sqlitestore.Open(filepath.Join(tb.TempDir(), "sessions.db"))
	if err != nil {
		tb.Fatalf("sqlitestore.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return newSessionkit(tb, session.WithStore(st))
}

// newSCSSQLite is scs with scs/sqlite3store on mattn/go-sqlite3, on the
// table of the sqlite3store README, in a new file. With params "" the
// database is opened as in that README (SQLite's defaults: a rollback
// journal and synchronous=FULL, one fsync per write); with
// "?_journal_mode=WAL&_synchronous=NORMAL" it has the journal and
// durability of sqlitestore, for a like-for-like comparison.
func newSCSSQLite(tb testing.TB, params string) http.Handler {
	tb.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(tb.TempDir(), "scs.db")+params)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE sessions (
	token TEXT PRIMARY KEY,
	data BLOB NOT NULL,
	expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions(expiry);`); err != nil {
		tb.Fatalf("creating the sqlite3store table: %v", err)
	}
	st := sqlite3store.New(db)
	tb.Cleanup(st.StopCleanup)
	return newSCS(st)
}

// TestSQLCartWorkloadsAgree checks that every library on PostgreSQL and
// SQLite answers the cart workload as the bare handler does, and that adds
// are stored: a GET after two adds to a 5-item cart sees 7 lines.
func TestSQLCartWorkloadsAgree(t *testing.T) {
	pgtest.Require(t)
	targets := newSQLCartTargets(t, pgtest.Start(t))
	want := map[string]string{}
	for _, tg := range targets {
		for _, wl := range cartWorkloads {
			cookies := seedCart(t, tg, wl)
			for range 3 {
				rec := httptest.NewRecorder()
				serve(tg.handler, rec, cartRequest(wl, cookies))
				if rec.Code != http.StatusOK {
					t.Fatalf("%s %s: status %d: %s", tg.name, wl.path, rec.Code, rec.Body)
				}
				if tg.name == tBare {
					want[wl.path] = rec.Body.String()
				} else if got := rec.Body.String(); got != want[wl.path] {
					t.Fatalf("%s %s: body %q, want %q", tg.name, wl.path, got, want[wl.path])
				}
			}
		}
		if tg.store == "none" {
			continue
		}
		get, add := cartWorkloads[0], cartWorkloads[1]
		cookies := seedCart(t, tg, get)
		for range 2 {
			serve(tg.handler, httptest.NewRecorder(), cartRequest(add, cookies))
		}
		rec := httptest.NewRecorder()
		serve(tg.handler, rec, cartRequest(get, cookies))
		if n := countItems(t, rec.Body.Bytes()); n != 7 {
			t.Fatalf("%s: cart has %d items after two adds to 5, want 7", tg.name, n)
		}
	}
}

// BenchmarkCartSQL runs the cart workload through every SQL target, on a
// PostgreSQL cluster it starts and on SQLite files in a temporary
// directory. Sub-benchmarks are named Target/Workload.
func BenchmarkCartSQL(b *testing.B) {
	pgtest.Require(b)
	for _, tg := range newSQLCartTargets(b, pgtest.Start(b)) {
		for _, wl := range cartWorkloads {
			cookies := seedCart(b, tg, wl)
			b.Run(benchName(tg.name)+"/"+wl.name, func(b *testing.B) {
				req := cartRequest(wl, cookies)
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					serve(tg.handler, rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
