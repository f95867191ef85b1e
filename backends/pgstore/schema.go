package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionkit/session/backends"
)

// names are the quoted table names of one prefix.
type names struct {
	schema, records, userKeys string
	prefix                    string
}

func namesFor(prefix string) names {
	return names{
		prefix:   prefix,
		schema:   pgx.Identifier{prefix + "schema"}.Sanitize(),
		records:  pgx.Identifier{prefix + "records"}.Sanitize(),
		userKeys: pgx.Identifier{prefix + "user_keys"}.Sanitize(),
	}
}

// schemaTemplate is the schema of version SchemaVersion; {p} stands for the
// prefix. Keys compare byte-wise (COLLATE "C"), expiries and deadlines are
// absolute instants.
const schemaTemplate = `CREATE TABLE IF NOT EXISTS {p}schema (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per session: the encrypted blob, its compare-and-set version
-- (1 on creation, +1 on every save) and the instant it expires.
CREATE TABLE IF NOT EXISTS {p}records (
    key     text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL CHECK (version > 0),
    blob    bytea NOT NULL,
    expiry  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS {p}records_expiry_idx ON {p}records (expiry);

-- The user index: the sessions bound to each user, with the absolute
-- deadline that orders them for per-user limits.
CREATE TABLE IF NOT EXISTS {p}user_keys (
    user_id  text COLLATE "C" NOT NULL,
    key      text COLLATE "C" NOT NULL,
    deadline timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

INSERT INTO {p}schema (version) VALUES (1) ON CONFLICT DO NOTHING;
`

// Schema returns the SQL that creates the tables and indexes of the
// current SchemaVersion for the given prefix ("" means DefaultPrefix), for
// teams that run their own migrations (see WithCreateSchema). The
// statements are idempotent.
func Schema(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return strings.ReplaceAll(schemaTemplate, "{p}", prefix)
}

// ErrSchemaVersion is matched by the error of a store whose tables carry a
// schema version other than SchemaVersion (written by a newer release), or
// no version row. It matches backends.ErrMisconfigured too.
var ErrSchemaVersion = fmt.Errorf("pgstore: unsupported schema version: %w", backends.ErrMisconfigured)

// ensureSchema checks the schema version once per Store, creating the
// tables first when allowed. A failure is not remembered: the next
// operation tries again (the database may have been down).
func (s *Store) ensureSchema(ctx context.Context) error {
	if s.schemaReady.Load() {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaReady.Load() {
		return nil
	}
	// Read the version first: a role without the CREATE privilege works
	// on tables that exist.
	var version *int32
	err := s.pool.QueryRow(ctx, "SELECT max(version) FROM "+s.names.schema).Scan(&version)
	if err != nil && s.cfg.createSchema && undefinedTable(err) {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// One instance creates the tables while the others wait:
			// concurrent CREATE TABLE IF NOT EXISTS can otherwise fail.
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("schema", s.cfg.prefix)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, Schema(s.cfg.prefix)); err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT max(version) FROM "+s.names.schema).Scan(&version)
		})
		if err != nil {
			return fmt.Errorf("creating the schema: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("reading the schema version (the tables are created by the SQL of pgstore.Schema): %w", err)
	}
	switch {
	case version == nil:
		return fmt.Errorf("%w: table %s has no version row", ErrSchemaVersion, s.names.schema)
	case *version != SchemaVersion:
		return fmt.Errorf("%w: tables at version %d, this release reads version %d", ErrSchemaVersion, *version, SchemaVersion)
	}
	s.schemaReady.Store(true)
	return nil
}

// lockKey returns the advisory lock key of a name: 64 bits of FNV-1a over
// the kind, the table prefix and the name.
func lockKey(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sessionkit/pgstore\x00" + kind + "\x00"))
	h.Write([]byte(name))
	return int64(h.Sum64())
}

var errNoRows = pgx.ErrNoRows

// undefinedTable reports whether err is PostgreSQL's undefined_table.
func undefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
