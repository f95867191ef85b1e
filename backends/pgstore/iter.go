package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// keysBatch is how many keys one statement of Keys reads.
const keysBatch = 500

// Keys calls fn for each live key until fn returns false. It reads the keys
// in batches of 500 in key order, each batch with its own statement
// (keyset pagination: WHERE key > the last key seen), so it holds no
// transaction or lock open while fn runs, and fn may use the store.
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	if _, cancel, err := s.begin(ctx, "keys"); err != nil {
		return err
	} else {
		cancel()
	}
	after, first := "", true
	for {
		if err := ctx.Err(); err != nil {
			return opError(ctx, "keys", err)
		}
		keys, err := s.keysAfter(ctx, after, first)
		if err != nil {
			return opError(ctx, "keys", err)
		}
		for _, k := range keys {
			if !fn(k) {
				return nil
			}
		}
		if len(keys) < keysBatch {
			return nil
		}
		after, first = keys[len(keys)-1], false
	}
}

func (s *Store) keysAfter(ctx context.Context, after string, first bool) ([]string, error) {
	c, cancel := ctx, context.CancelFunc(func() {})
	if s.cfg.timeout > 0 {
		c, cancel = context.WithTimeout(ctx, s.cfg.timeout)
	}
	defer cancel()
	r := s.names.records
	var rows pgx.Rows
	var err error
	if first {
		rows, err = s.pool.Query(c, "SELECT key FROM "+r+" WHERE expiry > $1 ORDER BY key LIMIT $2", time.Now(), keysBatch)
	} else {
		rows, err = s.pool.Query(c, "SELECT key FROM "+r+" WHERE key > $1 AND expiry > $2 ORDER BY key LIMIT $3", after, time.Now(), keysBatch)
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Count returns the number of live records. One round trip: SELECT
// count(*), which reads the expiry index (a scan of the live rows: on a
// large table, call it sparingly).
func (s *Store) Count(ctx context.Context) (int, error) {
	c, cancel, err := s.begin(ctx, "count")
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(c, "SELECT count(*) FROM "+s.names.records+" WHERE expiry > $1", time.Now()).Scan(&n); err != nil {
		return 0, opError(ctx, "count", err)
	}
	return int(n), nil
}

// Ping checks that the database answers and that the tables are in place
// (created on the first Ping when allowed, see WithCreateSchema). A
// database that cannot be reached gives an error matching
// backends.ErrUnavailable; wrong credentials, an unknown database, missing
// tables or a schema version this release cannot read give one matching
// backends.ErrMisconfigured.
func (s *Store) Ping(ctx context.Context) error {
	c, cancel, err := s.begin(ctx, "ping")
	if err != nil {
		return err
	}
	defer cancel()
	return opError(ctx, "ping", s.pool.Ping(c))
}
