package pgstore_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/storeurl"
)

// A manager keeping sessions in PostgreSQL, with fail-over to memory while
// the database cannot be reached.
func ExampleOpen() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"), pgstore.WithPrefix("myapp_"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	m, err := session.New(session.WithSecret([]byte(os.Getenv("SESSION_SECRET"))), session.WithFailover(st))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// A store on a pool the application already has, with a janitor that runs
// every five minutes.
func ExampleNew() {
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	st, err := pgstore.New(pool, pgstore.WithJanitor(5*time.Minute, 500), pgstore.WithTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
}

// The store taken from configuration: importing pgstore registers the
// postgres:// scheme.
func Example_storeURL() {
	st, err := storeurl.Open(context.Background(), "postgres://app@127.0.0.1:5432/app?sslmode=disable&table_prefix=myapp_")
	if err != nil {
		log.Fatal(err)
	}
	defer storeurl.Close(st)
}

// The SQL for a team that creates the tables with its own migrations.
func ExampleSchema() {
	os.Stdout.WriteString(pgstore.Schema("myapp_")[:44])
	// Output: CREATE TABLE IF NOT EXISTS myapp_schema (
}

// Expired rows deleted on the application's own schedule, with the janitor
// off.
func ExampleStore_Sweep() {
	st, err := pgstore.Open(context.Background(), os.Getenv("DATABASE_URL"), pgstore.WithJanitor(-1, 0))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	records, entries, err := st.Sweep(context.Background())
	log.Printf("deleted %d expired records and %d index entries (%v)", records, entries, err)
}

// Sessions moved from Redis (or any store) into PostgreSQL with their
// versions: transfer.Copy writes each record with Import, and the user
// index with AddUserKey.
func ExampleStore_Import() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	rec := backends.Record{Blob: []byte("encrypted session"), Version: 7, Expiry: time.Now().Add(time.Hour)}
	written, err := st.Import(ctx, "key", rec, false)
	log.Printf("written %v (%v)", written, err)
}
