package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionkit/session/backends"
)

// noNil returns b, or an empty slice for nil: a nil []byte is NULL to pgx.
func noNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Load returns the record stored under key, unless it has expired. One
// round trip: one SELECT by primary key.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	c, cancel, err := s.begin(ctx, "load")
	if err != nil {
		return backends.Record{}, false, err
	}
	defer cancel()
	var (
		rec     backends.Record
		version int64
	)
	err = s.pool.QueryRow(c, "SELECT version, blob, expiry FROM "+s.names.records+" WHERE key = $1 AND expiry > $2",
		key, time.Now()).Scan(&version, &rec.Blob, &rec.Expiry)
	if isNoRows(err) {
		return backends.Record{}, false, nil
	}
	if err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	if version <= 0 {
		return backends.Record{}, false, opError(ctx, "load", fmt.Errorf("%w: version %d", backends.ErrInvalidRecord, version))
	}
	rec.Version = uint64(version)
	if len(rec.Blob) == 0 {
		rec.Blob = nil
	}
	return rec, true, nil
}

// Save stores blob under key if the stored version equals expected (see
// backends.Store). One round trip, one statement:
//
//   - expected 0: INSERT … ON CONFLICT (key) DO UPDATE … WHERE the stored
//     record has expired (an expired record counts as missing and is
//     replaced, at version 1);
//   - expected n > 0: UPDATE … SET version = version + 1 … WHERE key = $1
//     AND version = n AND the record has not expired;
//   - an expiry that has passed: DELETE … WHERE key = $1 AND version = n
//     (for expected 0, a SELECT that checks the key is free).
//
// PostgreSQL locks the row for the UPDATE and DELETE and evaluates their
// WHERE clause again on the latest committed version of the row, so of
// concurrent writers of one version exactly one succeeds; the others get
// an error matching backends.ErrConflict.
//
// When a delete was sent and its reply lost, the error matches
// backends.ErrOutcomeUnknown (and backends.ErrUnavailable): the record may
// or may not be deleted.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	c, cancel, err := s.begin(ctx, "save")
	if err != nil {
		return 0, err
	}
	defer cancel()
	if expiry.IsZero() {
		return 0, opError(ctx, "save", backends.ErrNoExpiry)
	}
	now := time.Now()
	if !expiry.After(now) {
		return 0, s.deleteIfVersion(ctx, c, key, expected, now)
	}
	var sql string
	args := []any{key, noNil(blob), expiry, now}
	if expected == 0 {
		sql = "INSERT INTO " + s.names.records + " AS r (key, version, blob, expiry) VALUES ($1, 1, $2, $3)" +
			" ON CONFLICT (key) DO UPDATE SET version = 1, blob = EXCLUDED.blob, expiry = EXCLUDED.expiry WHERE r.expiry <= $4"
	} else {
		sql = "UPDATE " + s.names.records + " SET version = version + 1, blob = $2, expiry = $3" +
			" WHERE key = $1 AND version = $5 AND expiry > $4"
		args = append(args, int64(expected))
	}
	tag, err := s.pool.Exec(c, sql, args...)
	if err != nil {
		return 0, opError(ctx, "save", err)
	}
	if tag.RowsAffected() != 1 {
		return 0, opError(ctx, "save", fmt.Errorf("%w: the stored version is not %d", backends.ErrConflict, expected))
	}
	return expected + 1, nil
}

// deleteIfVersion is Save with an expiry that has passed.
func (s *Store) deleteIfVersion(caller, c context.Context, key string, expected uint64, now time.Time) error {
	if expected == 0 {
		var one int
		err := s.pool.QueryRow(c, "SELECT 1 FROM "+s.names.records+" WHERE key = $1 AND expiry > $2", key, now).Scan(&one)
		switch {
		case isNoRows(err):
			return nil
		case err != nil:
			return opError(caller, "save", err)
		}
		return opError(caller, "save", fmt.Errorf("%w: the key exists", backends.ErrConflict))
	}
	tag, err := s.pool.Exec(c, "DELETE FROM "+s.names.records+" WHERE key = $1 AND version = $2 AND expiry > $3",
		key, int64(expected), now)
	if err != nil {
		return opError(caller, "save", unknownOutcome(err))
	}
	if tag.RowsAffected() != 1 {
		return opError(caller, "save", fmt.Errorf("%w: the stored version is not %d", backends.ErrConflict, expected))
	}
	return nil
}

// Touch sets the expiry of an existing, live record without changing its
// data or version; an expiry that has passed deletes it. One round trip:
// one UPDATE (or DELETE).
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	c, cancel, err := s.begin(ctx, "touch")
	if err != nil {
		return err
	}
	defer cancel()
	if expiry.IsZero() {
		return opError(ctx, "touch", backends.ErrNoExpiry)
	}
	now := time.Now()
	if !expiry.After(now) {
		_, err = s.pool.Exec(c, "DELETE FROM "+s.names.records+" WHERE key = $1", key)
	} else {
		_, err = s.pool.Exec(c, "UPDATE "+s.names.records+" SET expiry = $2 WHERE key = $1 AND expiry > $3", key, expiry, now)
	}
	return opError(ctx, "touch", err)
}

// Delete removes the record. One round trip: one DELETE.
func (s *Store) Delete(ctx context.Context, key string) error {
	c, cancel, err := s.begin(ctx, "delete")
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.pool.Exec(c, "DELETE FROM "+s.names.records+" WHERE key = $1", key)
	return opError(ctx, "delete", err)
}

// Renew replaces oldKey by newKey in one transaction (see
// backends.Renewer): it locks oldKey's row and checks its version (0:
// oldKey must not exist or has expired), creates newKey at version 1 unless
// a live record holds it, deletes oldKey and, for a non-empty userID, moves
// the user index entry, with the later of the deadlines when newKey was
// indexed already. Otherwise it changes nothing and returns an error
// matching backends.ErrConflict. An expiry that has passed deletes oldKey
// without creating newKey.
//
// Two round trips: the transaction's statements go in one pipeline (BEGIN
// included), then COMMIT or ROLLBACK. When COMMIT was sent and its reply
// lost, the error matches backends.ErrOutcomeUnknown: the renewal happened
// entirely or not at all.
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	c, cancel, err := s.begin(ctx, "renew")
	if err != nil {
		return err
	}
	defer cancel()
	if expiry.IsZero() || (userID != "" && deadline.IsZero()) {
		return opError(ctx, "renew", backends.ErrNoExpiry)
	}
	if oldKey == newKey {
		return opError(ctx, "renew", fmt.Errorf("%w: old and new key are the same", backends.ErrConflict))
	}
	for attempt := 0; ; attempt++ {
		err = s.renew(c, oldKey, oldVersion, newKey, blob, expiry, userID, deadline)
		if err == nil || !retryable(err) || attempt == 2 {
			return opError(ctx, "renew", err)
		}
	}
}

func (s *Store) renew(c context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	now := time.Now()
	write := expiry.After(now)
	r, u := s.names.records, s.names.userKeys
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	var have int64
	b.Queue("SELECT version FROM "+r+" WHERE key = $1 AND expiry > $2 FOR UPDATE", oldKey, now).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&have); !isNoRows(err) {
			return err
		}
		return nil
	})
	var created int64
	if write {
		b.Queue("INSERT INTO "+r+" AS r (key, version, blob, expiry) VALUES ($1, 1, $2, $3)"+
			" ON CONFLICT (key) DO UPDATE SET version = 1, blob = EXCLUDED.blob, expiry = EXCLUDED.expiry WHERE r.expiry <= $4",
			newKey, noNil(blob), expiry, now).Exec(func(tag pgconn.CommandTag) error {
			created = tag.RowsAffected()
			return nil
		})
	} else {
		b.Queue("SELECT count(*) FROM "+r+" WHERE key = $1 AND expiry > $2", newKey, now).QueryRow(func(row pgx.Row) error {
			var n int64
			err := row.Scan(&n)
			created = 1 - n
			return err
		})
	}
	b.Queue("DELETE FROM "+r+" WHERE key = $1", oldKey)
	if userID != "" {
		b.Queue("DELETE FROM "+u+" WHERE user_id = $1 AND key = $2", userID, oldKey)
		if write {
			b.Queue(addUserKeySQL(u), userID, newKey, deadline)
		}
	}
	res := s.pool.SendBatch(c, b)
	tx := res.Tx()
	defer tx.Rollback(context.WithoutCancel(c)) //nolint:errcheck // after Commit a no-op
	if err := res.Close(); err != nil {
		return err
	}
	switch {
	case uint64(have) != oldVersion:
		return fmt.Errorf("%w: old key at version %d, not %d", backends.ErrConflict, have, oldVersion)
	case created != 1:
		return fmt.Errorf("%w: the new key exists", backends.ErrConflict)
	}
	return unknownOutcome(tx.Commit(c))
}

// addUserKeySQL adds ($1 user, $2 key) with deadline $3, keeping the later
// deadline of an existing entry.
func addUserKeySQL(table string) string {
	return "INSERT INTO " + table + " AS u (user_id, key, deadline) VALUES ($1, $2, $3)" +
		" ON CONFLICT (user_id, key) DO UPDATE SET deadline = EXCLUDED.deadline WHERE u.deadline < EXCLUDED.deadline"
}
