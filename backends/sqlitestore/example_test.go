package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/backends/storeurl"
)

// A manager keeping its sessions in a file, so that they survive restarts.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(filepath.Join(dir, "sessions.db"), sqlitestore.WithJanitor(10*time.Minute, 0))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	m, err := session.New(session.WithSecret([]byte("example secret: use 32+ random bytes in production")), session.WithStore(st))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println("ready")
	// Output: ready
}

// The store taken from configuration: importing sqlitestore registers the
// sqlite scheme.
func ExampleOpenURL() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	st, err := storeurl.Open(context.Background(), "sqlite://"+filepath.Join(dir, "sessions.db")+"?table_prefix=myapp_")
	if err != nil {
		log.Fatal(err)
	}
	defer storeurl.Close(st)
	fmt.Println(st.(*sqlitestore.Store).Prefix())
	u, _ := url.Parse("sqlite:sessions.db")
	fmt.Println(u.Opaque)
	// Output:
	// myapp_
	// sessions.db
}

// The SQL for a team that creates the tables with its own migrations.
func ExampleSchema() {
	fmt.Print(sqlitestore.Schema("myapp_")[:44])
	// Output: CREATE TABLE IF NOT EXISTS myapp_schema (
}

// Expired rows deleted on the application's own schedule, with the janitor
// off.
func ExampleStore_Sweep() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(filepath.Join(dir, "sessions.db"), sqlitestore.WithJanitor(-1, 0))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	records, entries, err := st.Sweep(context.Background())
	fmt.Println(records, entries, err)
	// Output: 0 0 <nil>
}

// A record written with the version it has in another store, as
// transfer.Copy and transfer.Restore do; a lower version never replaces
// it.
func ExampleStore_Import() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(filepath.Join(dir, "sessions.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	fmt.Println(st.Import(ctx, "key", backends.Record{Blob: []byte("v7"), Version: 7, Expiry: exp}, false))
	fmt.Println(st.Import(ctx, "key", backends.Record{Blob: []byte("v6"), Version: 6, Expiry: exp}, false))
	rec, _, _ := st.Load(ctx, "key")
	fmt.Println(string(rec.Blob), rec.Version)
	// Output:
	// true <nil>
	// false <nil>
	// v7 7
}
