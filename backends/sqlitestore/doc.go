// Package sqlitestore keeps sessions in an SQLite database file through
// modernc.org/sqlite (pure Go, no cgo): the embedded store for a single
// instance of an application that must keep its sessions across restarts.
//
// Open a Store on a file with Open. Importing the package also registers
// the sqlite scheme with backends/storeurl:
//
//	import _ "github.com/sessionkit/session/backends/sqlitestore"
//
//	st, err := storeurl.Open(ctx, "sqlite:///var/lib/myapp/sessions.db")
//
// The forms are sqlite:///absolute/path.db and sqlite:relative/path.db,
// with the options as query parameters (see OpenURL).
//
// # Tables
//
// With the default prefix "session_" the store uses three tables, created
// on first use unless WithCreateSchema(false) (Schema returns the SQL):
//
//	session_records    key TEXT PRIMARY KEY, version INTEGER, blob BLOB, expiry INTEGER (Unix ms)
//	session_user_keys  user_id TEXT, key TEXT, deadline INTEGER (Unix ms), PRIMARY KEY (user_id, key)
//	session_schema     version INTEGER: one row, SchemaVersion
//
// # Guarantees
//
// The database is in WAL mode: reads run concurrently with the writer.
// Writes go through one connection, one at a time, so a compare-and-set
// (UPDATE … WHERE key = ? AND version = ?) never loses an update, and
// Renew and LimitUserKeys are single transactions (BEGIN IMMEDIATE): a
// renewal never revives a record that was deleted or changed since it was
// loaded, and the user index moves with the record. A record past its
// expiry is never returned, whether or not the janitor has deleted it yet.
// Expiries are kept in milliseconds.
//
// # Janitor
//
// A background goroutine deletes expired records and stale index entries
// every minute (WithJanitor), in statements of at most 1000 rows, so
// requests write between two batches.
//
// # Errors
//
// Every error is a *backends.OpError with Backend "sqlite". A database
// locked by another process beyond the busy timeout (SQLITE_BUSY), I/O
// errors, a full disk and timeouts match backends.ErrUnavailable, so
// session.WithFailover serves from memory meanwhile. A file that cannot
// be opened or written, missing tables and an unsupported schema version
// match backends.ErrMisconfigured.
package sqlitestore
