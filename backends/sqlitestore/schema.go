package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/sessionkit/session/backends"
)

// names are the quoted table names of one prefix.
type names struct {
	schema, records, userKeys string
}

func namesFor(prefix string) names {
	return names{
		schema:   `"` + prefix + `schema"`,
		records:  `"` + prefix + `records"`,
		userKeys: `"` + prefix + `user_keys"`,
	}
}

// schemaTemplate is the schema of version SchemaVersion; {p} stands for the
// prefix. Keys compare byte-wise (SQLite's BINARY collation); expiries and
// deadlines are Unix milliseconds.
const schemaTemplate = `CREATE TABLE IF NOT EXISTS {p}schema (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL -- Unix seconds
);

-- One row per session: the encrypted blob, its compare-and-set version
-- (1 on creation, +1 on every save) and the instant it expires.
CREATE TABLE IF NOT EXISTS {p}records (
    key     TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version > 0),
    blob    BLOB NOT NULL,
    expiry  INTEGER NOT NULL -- Unix milliseconds
);
CREATE INDEX IF NOT EXISTS {p}records_expiry_idx ON {p}records (expiry);

-- The user index: the sessions bound to each user, with the absolute
-- deadline that orders them for per-user limits.
CREATE TABLE IF NOT EXISTS {p}user_keys (
    user_id  TEXT NOT NULL,
    key      TEXT NOT NULL,
    deadline INTEGER NOT NULL, -- Unix milliseconds
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;

INSERT OR IGNORE INTO {p}schema (version, applied_at) VALUES (1, CAST(strftime('%s', 'now') AS INTEGER));
`

// Schema returns the SQL that creates the tables and indexes of the
// current SchemaVersion for the given prefix ("" means DefaultPrefix). The
// statements are idempotent.
func Schema(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return strings.ReplaceAll(schemaTemplate, "{p}", prefix)
}

// ErrSchemaVersion is matched by the error of a store whose tables carry a
// schema version other than SchemaVersion, or no version row. It matches
// backends.ErrMisconfigured too.
var ErrSchemaVersion = fmt.Errorf("sqlitestore: unsupported schema version: %w", backends.ErrMisconfigured)

// ensureSchema checks the schema version once per Store, creating the
// tables first when allowed. A failure is not remembered.
func (s *Store) ensureSchema(ctx context.Context) error {
	if s.schemaReady.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaReady.Load() {
		return nil
	}
	var version sql.NullInt64
	if s.cfg.createSchema {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
		defer tx.Rollback() //nolint:errcheck // after Commit a no-op
		if _, err := tx.ExecContext(ctx, Schema(s.cfg.prefix)); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT max(version) FROM "+s.names.schema).Scan(&version); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
	} else if err := s.w.QueryRowContext(ctx, "SELECT max(version) FROM "+s.names.schema).Scan(&version); err != nil {
		return fmt.Errorf("reading the schema version (the tables are created by the SQL of sqlitestore.Schema): %w", err)
	}
	switch {
	case !version.Valid:
		return fmt.Errorf("%w: table %s has no version row", ErrSchemaVersion, s.names.schema)
	case version.Int64 != SchemaVersion:
		return fmt.Errorf("%w: tables at version %d, this release reads version %d", ErrSchemaVersion, version.Int64, SchemaVersion)
	}
	s.schemaReady.Store(true)
	return nil
}
