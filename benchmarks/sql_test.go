package benchmarks

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver scs's sqlite3store is documented with (cgo)

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/internal/pgtest"
	"github.com/sessionkit/session/internal/redistest"
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

var (
	sqlLoad       = flag.String("sqlload", "", "run the HTTP 90/10 load on PostgreSQL and SQLite beside Redis, for the comma-separated targets given (\"all\": every target), with the -publish.n, -publish.c, -publish.rounds and -publish.max settings (TestSQLLoad)")
	sqlLoadBudget = flag.Duration("sqlload.budget", 2*time.Minute, "TestSQLLoad: time budget; rounds stop early rather than exceed it")
)

// sqlLoadTargets are the targets of TestSQLLoad: the bare handler,
// sessionkit and scs on Redis (scs with a pool as large as the load's
// client count, see tSCSPool), then the SQL targets.
func sqlLoadTargets(tb testing.TB, redisSrv *redistest.Server, pg *pgtest.Server) []cartTarget {
	sqlTargets := newSQLCartTargets(tb, pg)
	out := []cartTarget{
		sqlTargets[0],
		{name: tSessionkit + " (Redis)", store: "Redis", handler: newSessionkitRedis(tb, redisSrv, false)},
		{name: "SCS (Redis, MaxIdle " + fmt.Sprint(*pubClients) + ")", store: "Redis", handler: newSCSRedis(tb, redisSrv, *pubClients)},
	}
	return append(out, sqlTargets[1:]...)
}

// TestSQLLoad runs the HTTP load of the published Redis comparison (each
// of -publish.c keep-alive clients holds two sessions; one request in ten
// adds a line to a 20-item cart, the others read a 5-item cart) against
// sessionkit and scs on PostgreSQL, on SQLite and, for reference, on Redis,
// in interleaved rounds, and logs the medians as a table for
// docs/benchmarks.md. The servers (redis-server, a PostgreSQL cluster) are
// started on free 127.0.0.1 ports; clients, servers and databases share the
// machine's CPUs.
//
//	go test -run '^TestSQLLoad$' -count 1 -timeout 10m . -args -sqlload all -publish.n 15000 -publish.rounds 3
func TestSQLLoad(t *testing.T) {
	if *sqlLoad == "" {
		t.Skip("pass -args -sqlload TARGETS (all: every target)")
	}
	if raceEnabled {
		t.Fatal("TestSQLLoad measures speed: run it without -race")
	}
	pgtest.Require(t)
	redistest.Require(t)
	budgetEnd := time.Now().Add(*sqlLoadBudget)
	redisSrv := redistest.StartServer(t)
	var targets []cartTarget
	want := strings.Split(*sqlLoad, ",")
	for _, tg := range sqlLoadTargets(t, redisSrv, pgtest.Start(t)) {
		if *sqlLoad == "all" || slices.Contains(want, tg.name) {
			targets = append(targets, tg)
		}
	}
	if len(targets) == 0 {
		t.Fatalf("no target in %q", *sqlLoad)
	}
	ctx := t.Context()
	rc := redisSrv.Client()

	type server struct {
		srv     *httptest.Server
		client  *http.Client
		clients []loadClient
	}
	servers := make([]server, len(targets))
	for i, tg := range targets {
		s := httptest.NewServer(tg.handler)
		t.Cleanup(s.Close)
		tr := &http.Transport{MaxIdleConnsPerHost: *pubClients, MaxConnsPerHost: *pubClients}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		servers[i] = server{srv: s, client: c, clients: make([]loadClient, *pubClients)}
		for j := range servers[i].clients {
			servers[i].clients[j] = loadClient{cart: seedHTTP(t, c, s.URL+"/seed"), cart20: seedHTTP(t, c, s.URL+"/seed20")}
		}
		// Warm up connections, pools and caches.
		runMix(ctx, rc, c, s.URL, servers[i].clients, *pubClients*20, *pubRoundMax)
	}

	results := make([][]mixResult, len(targets))
	rounds := 0
	var longest time.Duration
	for round := range *pubRounds {
		if round > 0 && time.Now().Add(longest).After(budgetEnd) {
			t.Logf("time budget: stopping after %d rounds", round)
			break
		}
		roundStart := time.Now()
		for i, tg := range targets {
			r := runMix(ctx, rc, servers[i].client, servers[i].srv.URL, servers[i].clients, *pubRequests, *pubRoundMax)
			t.Logf("round %d %-26s %6d req in %v: %6.0f req/s, p50 %v, p99 %v, %d errors",
				round, tg.name, r.requests, r.elapsed.Round(time.Millisecond), r.rps(), r.p50, r.p99, r.errors)
			if r.errors > 0 {
				t.Fatalf("%s: %d failed requests, first: %s", tg.name, r.errors, r.firstErr)
			}
			results[i] = append(results[i], r)
		}
		rounds++
		longest = max(longest, time.Since(roundStart))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d rounds, %d clients, at most %d requests or %v per target and round (load average %s):\n",
		rounds, *pubClients, *pubRequests, *pubRoundMax, loadAverage())
	b.WriteString("| library | store | requests/s | p50 | p99 | requests/s by round |\n|---|---|--:|--:|--:|---|\n")
	for i, tg := range targets {
		rs := results[i]
		var byRound []string
		for _, r := range rs {
			byRound = append(byRound, fmt.Sprintf("%.0f", r.rps()))
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f µs | %.0f µs | %s |\n", tg.name, tg.store,
			medianOf(rs, mixResult.rps),
			medianOf(rs, func(r mixResult) float64 { return float64(r.p50.Microseconds()) }),
			medianOf(rs, func(r mixResult) float64 { return float64(r.p99.Microseconds()) }),
			strings.Join(byRound, ", "))
	}
	t.Log(b.String())
}
