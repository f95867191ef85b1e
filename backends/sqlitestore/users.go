package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sessionkit/session/backends"
)

// AddUserKey records that key belongs to userID, with the later of deadline
// and the entry's current deadline.
//
// Entries live while their records do: UserKeys leaves out (and deletes)
// entries whose records are gone or expired, and the janitor deletes them
// in the background. Add the key after saving its record.
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	c, cancel, err := s.begin(ctx, "add_user_key")
	if err != nil {
		return err
	}
	defer cancel()
	if deadline.IsZero() {
		return opError(ctx, "add_user_key", backends.ErrNoExpiry)
	}
	if userID == "" {
		return opError(ctx, "add_user_key", errors.New("empty user ID"))
	}
	_, err = s.w.ExecContext(c, addUserKeySQL(s.names.userKeys), userID, key, ms(deadline))
	return opError(ctx, "add_user_key", err)
}

// RemoveUserKey forgets key for userID.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	c, cancel, err := s.begin(ctx, "remove_user_key")
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.w.ExecContext(c, "DELETE FROM "+s.names.userKeys+" WHERE user_id = ?1 AND key = ?2", userID, key)
	return opError(ctx, "remove_user_key", err)
}

// UserKeys returns the keys of userID's sessions whose records exist and
// have not expired. The entries of the others are deleted, by a statement
// on the writer when there are any.
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	c, cancel, err := s.begin(ctx, "user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	u, r := s.names.userKeys, s.names.records
	rows, err := s.r.QueryContext(c, "SELECT u.key, x.key IS NOT NULL FROM "+u+" u LEFT JOIN "+r+" x ON x.key = u.key AND x.expiry > ?2"+
		" WHERE u.user_id = ?1", userID, ms(time.Now()))
	if err != nil {
		return nil, opError(ctx, "user_keys", err)
	}
	defer rows.Close()
	var live, dead []string
	for rows.Next() {
		var k string
		var ok bool
		if err := rows.Scan(&k, &ok); err != nil {
			return nil, opError(ctx, "user_keys", err)
		}
		if ok {
			live = append(live, k)
		} else {
			dead = append(dead, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, opError(ctx, "user_keys", err)
	}
	if len(dead) > 0 {
		// Best effort: the janitor or the next call deletes what is left.
		// The record is checked again, in case it was saved since.
		_ = s.inTx(c, func(tx *sql.Tx) error {
			for _, k := range dead {
				if _, err := tx.ExecContext(c, "DELETE FROM "+u+" WHERE user_id = ?1 AND key = ?2 AND NOT EXISTS"+
					" (SELECT 1 FROM "+r+" x WHERE x.key = ?2 AND x.expiry > ?3)", userID, k, ms(time.Now())); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return live, nil
}

// LimitUserKeys deletes the records and index entries of userID's live
// sessions beyond max, those with the earliest index deadline first (equal
// deadlines in byte order of their keys), never keep, and returns the keys
// it deleted (see backends.UserLimiter). Entries whose records are gone or
// expired are deleted and not counted. It is one write transaction, atomic
// with respect to every other operation of the store.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	c, cancel, err := s.begin(ctx, "limit_user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	if max < 0 {
		return nil, opError(ctx, "limit_user_keys", fmt.Errorf("negative limit %d", max))
	}
	var victims []string
	err = s.inTx(c, func(tx *sql.Tx) error {
		victims = nil
		u, r := s.names.userKeys, s.names.records
		rows, err := tx.QueryContext(c, "SELECT u.key, u.deadline, x.key IS NOT NULL FROM "+u+" u LEFT JOIN "+r+" x ON x.key = u.key AND x.expiry > ?2"+
			" WHERE u.user_id = ?1", userID, ms(time.Now()))
		if err != nil {
			return err
		}
		type entry struct {
			key      string
			deadline int64
		}
		var live []entry
		var dead []string
		for rows.Next() {
			var e entry
			var ok bool
			if err := rows.Scan(&e.key, &e.deadline, &ok); err != nil {
				rows.Close()
				return err
			}
			if ok {
				live = append(live, e)
			} else {
				dead = append(dead, e.key)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if excess := len(live) - max; excess > 0 {
			slices.SortFunc(live, func(a, b entry) int {
				if c := cmp.Compare(a.deadline, b.deadline); c != 0 {
					return c
				}
				return strings.Compare(a.key, b.key)
			})
			for _, e := range live {
				if excess == 0 {
					break
				}
				if e.key == keep {
					continue
				}
				victims = append(victims, e.key)
				excess--
			}
		}
		for _, k := range victims {
			if _, err := tx.ExecContext(c, "DELETE FROM "+r+" WHERE key = ?1", k); err != nil {
				return err
			}
		}
		for _, k := range append(dead, victims...) {
			if _, err := tx.ExecContext(c, "DELETE FROM "+u+" WHERE user_id = ?1 AND key = ?2", userID, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, opError(ctx, "limit_user_keys", err)
	}
	return victims, nil
}
