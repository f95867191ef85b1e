package sqlitestore

import (
	"context"
	"time"
)

// keysBatch is how many keys one statement of Keys reads.
const keysBatch = 500

// Keys calls fn for each live key until fn returns false. It reads the keys
// in batches of 500 in key order, each batch with its own statement (WHERE
// key > the last key seen), so it holds no transaction open while fn runs,
// and fn may use the store.
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
	q := "SELECT key FROM " + s.names.records + " WHERE expiry > ?1 AND key > ?2 ORDER BY key LIMIT ?3"
	if first {
		q = "SELECT key FROM " + s.names.records + " WHERE expiry > ?1 ORDER BY key LIMIT ?3"
	}
	rows, err := s.r.QueryContext(c, q, ms(time.Now()), after, keysBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := make([]string, 0, keysBatch)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// Count returns the number of live records.
func (s *Store) Count(ctx context.Context) (int, error) {
	c, cancel, err := s.begin(ctx, "count")
	if err != nil {
		return 0, err
	}
	defer cancel()
	var n int
	if err := s.r.QueryRowContext(c, "SELECT count(*) FROM "+s.names.records+" WHERE expiry > ?1", ms(time.Now())).Scan(&n); err != nil {
		return 0, opError(ctx, "count", err)
	}
	return n, nil
}

// Ping checks that the database file can be read and that the tables are
// in place (created on the first Ping when allowed, see WithCreateSchema).
// A file that cannot be opened or written, missing tables or a schema
// version this release cannot read give an error matching
// backends.ErrMisconfigured.
func (s *Store) Ping(ctx context.Context) error {
	c, cancel, err := s.begin(ctx, "ping")
	if err != nil {
		return err
	}
	defer cancel()
	return opError(ctx, "ping", s.r.PingContext(c))
}
