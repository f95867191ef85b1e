package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
)

// noNil returns b, or an empty slice for nil: a nil []byte is NULL.
func noNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Load returns the record stored under key, unless it has expired. It runs
// on a reader connection, concurrently with writes.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	c, cancel, err := s.begin(ctx, "load")
	if err != nil {
		return backends.Record{}, false, err
	}
	defer cancel()
	var (
		rec             backends.Record
		version, expiry int64
	)
	err = s.r.QueryRowContext(c, "SELECT version, blob, expiry FROM "+s.names.records+" WHERE key = ?1 AND expiry > ?2",
		key, ms(time.Now())).Scan(&version, &rec.Blob, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return backends.Record{}, false, nil
	}
	if err != nil {
		return backends.Record{}, false, opError(ctx, "load", err)
	}
	if version <= 0 {
		return backends.Record{}, false, opError(ctx, "load", fmt.Errorf("%w: version %d", backends.ErrInvalidRecord, version))
	}
	rec.Version = uint64(version)
	rec.Expiry = time.UnixMilli(expiry)
	if len(rec.Blob) == 0 {
		rec.Blob = nil
	}
	return rec, true, nil
}

// Save stores blob under key if the stored version equals expected (see
// backends.Store), in one statement on the writer connection:
//
//   - expected 0: INSERT … ON CONFLICT (key) DO UPDATE … WHERE the stored
//     record has expired (an expired record counts as missing and is
//     replaced, at version 1);
//   - expected n > 0: UPDATE … SET version = version + 1 … WHERE key = ?
//     AND version = n AND the record has not expired;
//   - an expiry that has passed: DELETE … WHERE key = ? AND version = n
//     (for expected 0, a SELECT that checks the key is free).
//
// Writes are serialized, so of concurrent writers of one version exactly
// one succeeds; the others get an error matching backends.ErrConflict.
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
	r := s.names.records
	var res sql.Result
	switch {
	case !expiry.After(now) && expected == 0:
		var one int
		err := s.r.QueryRowContext(c, "SELECT 1 FROM "+r+" WHERE key = ?1 AND expiry > ?2", key, ms(now)).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return 0, nil
		case err != nil:
			return 0, opError(ctx, "save", err)
		}
		return 0, opError(ctx, "save", fmt.Errorf("%w: the key exists", backends.ErrConflict))
	case !expiry.After(now):
		res, err = s.w.ExecContext(c, "DELETE FROM "+r+" WHERE key = ?1 AND version = ?2 AND expiry > ?3", key, int64(expected), ms(now))
	case expected == 0:
		res, err = s.w.ExecContext(c, upsertSQL(r), key, noNil(blob), ms(expiry), ms(now))
	default:
		res, err = s.w.ExecContext(c, "UPDATE "+r+" SET version = version + 1, blob = ?2, expiry = ?3"+
			" WHERE key = ?1 AND version = ?5 AND expiry > ?4", key, noNil(blob), ms(expiry), ms(now), int64(expected))
	}
	if err != nil {
		return 0, opError(ctx, "save", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, opError(ctx, "save", fmt.Errorf("%w: the stored version is not %d", backends.ErrConflict, expected))
	}
	if !expiry.After(now) {
		return 0, nil
	}
	return expected + 1, nil
}

// upsertSQL creates key ?1 at version 1 with blob ?2 and expiry ?3 unless a
// record that has not expired at ?4 holds it.
func upsertSQL(records string) string {
	return "INSERT INTO " + records + " (key, version, blob, expiry) VALUES (?1, 1, ?2, ?3)" +
		" ON CONFLICT (key) DO UPDATE SET version = 1, blob = excluded.blob, expiry = excluded.expiry" +
		" WHERE " + records + ".expiry <= ?4"
}

// Touch sets the expiry of an existing, live record without changing its
// data or version; an expiry that has passed deletes it.
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
		_, err = s.w.ExecContext(c, "DELETE FROM "+s.names.records+" WHERE key = ?1", key)
	} else {
		_, err = s.w.ExecContext(c, "UPDATE "+s.names.records+" SET expiry = ?2 WHERE key = ?1 AND expiry > ?3", key, ms(expiry), ms(now))
	}
	return opError(ctx, "touch", err)
}

// Delete removes the record.
func (s *Store) Delete(ctx context.Context, key string) error {
	c, cancel, err := s.begin(ctx, "delete")
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.w.ExecContext(c, "DELETE FROM "+s.names.records+" WHERE key = ?1", key)
	return opError(ctx, "delete", err)
}

// Renew replaces oldKey by newKey in one transaction (see
// backends.Renewer): it checks oldKey's version (0: oldKey must not exist
// or has expired), creates newKey at version 1 unless a live record holds
// it, deletes oldKey and, for a non-empty userID, moves the user index
// entry, with the later of the deadlines when newKey was indexed already.
// Otherwise it changes nothing and returns an error matching
// backends.ErrConflict. An expiry that has passed deletes oldKey without
// creating newKey.
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
	return opError(ctx, "renew", s.inTx(c, func(tx *sql.Tx) error {
		now := time.Now()
		r, u := s.names.records, s.names.userKeys
		var have int64
		err := tx.QueryRowContext(c, "SELECT version FROM "+r+" WHERE key = ?1 AND expiry > ?2", oldKey, ms(now)).Scan(&have)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if uint64(have) != oldVersion {
			return fmt.Errorf("%w: old key at version %d, not %d", backends.ErrConflict, have, oldVersion)
		}
		write := expiry.After(now)
		if write {
			res, err := tx.ExecContext(c, upsertSQL(r), newKey, noNil(blob), ms(expiry), ms(now))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("%w: the new key exists", backends.ErrConflict)
			}
		} else {
			var n int64
			if err := tx.QueryRowContext(c, "SELECT count(*) FROM "+r+" WHERE key = ?1 AND expiry > ?2", newKey, ms(now)).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("%w: the new key exists", backends.ErrConflict)
			}
		}
		if _, err := tx.ExecContext(c, "DELETE FROM "+r+" WHERE key = ?1", oldKey); err != nil {
			return err
		}
		if userID == "" {
			return nil
		}
		if _, err := tx.ExecContext(c, "DELETE FROM "+u+" WHERE user_id = ?1 AND key = ?2", userID, oldKey); err != nil {
			return err
		}
		if write {
			_, err = tx.ExecContext(c, addUserKeySQL(u), userID, newKey, ms(deadline))
		}
		return err
	}))
}

// inTx runs fn in a transaction on the writer (BEGIN IMMEDIATE), committed
// when fn returns nil and rolled back otherwise.
func (s *Store) inTx(c context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(c, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// addUserKeySQL adds (?1 user, ?2 key) with deadline ?3, keeping the later
// deadline of an existing entry.
func addUserKeySQL(table string) string {
	return "INSERT INTO " + table + " (user_id, key, deadline) VALUES (?1, ?2, ?3)" +
		" ON CONFLICT (user_id, key) DO UPDATE SET deadline = excluded.deadline WHERE " + table + ".deadline < excluded.deadline"
}
