// Package pgstore keeps sessions in PostgreSQL through pgx v5 (pgxpool):
// the store for a team that runs no Redis, shared by every instance of the
// application.
//
// Create a Store on your own pool with New (Close leaves the pool open) or
// from a URL with Open. Importing the package also registers the
// postgres:// and postgresql:// schemes with backends/storeurl:
//
//	import _ "github.com/sessionkit/session/backends/pgstore"
//
//	st, err := storeurl.Open(ctx, "postgres://app:secret@db.internal:5432/app?sslmode=verify-full&table_prefix=myapp_")
//
// # Tables
//
// With the default prefix "session_" the store uses three tables, created
// on first use unless WithCreateSchema(false) (Schema returns the SQL):
//
//	session_records    key text PRIMARY KEY, version bigint, blob bytea, expiry timestamptz
//	session_user_keys  user_id text, key text, deadline timestamptz, PRIMARY KEY (user_id, key)
//	session_schema     version integer: one row, SchemaVersion
//
// Keys are the opaque strings the session manager chooses (a hash of the
// session ID, never the ID itself) and must be valid UTF-8 without NUL.
//
// # Guarantees
//
// Save is a compare-and-set in one statement (UPDATE … WHERE key = $1 AND
// version = $2), so of concurrent writers of one version exactly one wins.
// Renew and LimitUserKeys are single transactions: a renewal never revives
// a record that was deleted or changed since it was loaded, and the user
// index moves with the record. A record past its expiry is never returned,
// whether or not the janitor has deleted it yet; expiries are compared
// with the application's clock, so keep the clocks of the instances in
// sync (NTP).
//
// # Round trips
//
//	Load, Save, Touch, Delete   1   one statement
//	Import                      1   one INSERT … ON CONFLICT
//	AddUserKey, RemoveUserKey   1
//	UserKeys                    1   a SELECT with a DELETE of stale entries in a CTE
//	Renew                       2   BEGIN and the statements in one pipeline, COMMIT
//	LimitUserKeys               3   BEGIN, advisory lock and SELECT; DELETEs; COMMIT
//	Keys                        1 per 500 keys
//	Count, Ping                 1
//
// The first operation of a Store also checks (or creates) the schema: one
// more round trip, or a short transaction.
//
// # Janitor
//
// A background goroutine deletes expired records and stale index entries
// every minute (WithJanitor), in statements of at most 1000 rows that pick
// their rows with FOR UPDATE SKIP LOCKED, so the janitors of several
// instances share the work and never wait for a request's locks.
//
// # Errors
//
// Every error is a *backends.OpError with Backend "postgres". Connection
// failures, timeouts, a server shutting down or starting up, too many
// connections and a read-only server match backends.ErrUnavailable, so
// session.WithFailover serves from memory while the database is away.
// Wrong credentials, an unknown database, missing tables or privileges,
// TLS refused and an unsupported schema version match
// backends.ErrMisconfigured. Errors about the data itself (a constraint,
// a key that is not UTF-8) match neither.
package pgstore
