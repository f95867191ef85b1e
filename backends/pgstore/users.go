package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessionkit/session/backends"
)

// AddUserKey records that key belongs to userID, with the later of deadline
// and the entry's current deadline. One round trip: one INSERT … ON
// CONFLICT DO UPDATE.
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
	_, err = s.pool.Exec(c, addUserKeySQL(s.names.userKeys), userID, key, deadline)
	return opError(ctx, "add_user_key", err)
}

// RemoveUserKey forgets key for userID. One round trip: one DELETE.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	c, cancel, err := s.begin(ctx, "remove_user_key")
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.pool.Exec(c, "DELETE FROM "+s.names.userKeys+" WHERE user_id = $1 AND key = $2", userID, key)
	return opError(ctx, "remove_user_key", err)
}

// UserKeys returns the keys of userID's sessions whose records exist and
// have not expired, and deletes the other entries. One round trip: one
// statement (a DELETE of the dead entries beside the SELECT of the live
// ones, in a common table expression).
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	c, cancel, err := s.begin(ctx, "user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	u, r := s.names.userKeys, s.names.records
	sql := "WITH dead AS (DELETE FROM " + u + " d WHERE d.user_id = $1 AND NOT EXISTS" +
		" (SELECT 1 FROM " + r + " r WHERE r.key = d.key AND r.expiry > $2) RETURNING d.key)" +
		" SELECT u.key FROM " + u + " u JOIN " + r + " r ON r.key = u.key AND r.expiry > $2 WHERE u.user_id = $1"
	rows, err := s.pool.Query(c, sql, userID, time.Now())
	if err != nil {
		return nil, opError(ctx, "user_keys", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, opError(ctx, "user_keys", err)
	}
	return keys, nil
}

// LimitUserKeys deletes the records and index entries of userID's live
// sessions beyond max, those with the earliest index deadline first (equal
// deadlines in byte order of their keys), never keep, and returns the keys
// it deleted (see backends.UserLimiter). Entries whose records are gone or
// expired are deleted and not counted.
//
// It is one transaction that first takes a transaction-scoped advisory
// lock on the user (pg_advisory_xact_lock), so the calls for one user run
// one after the other, each seeing what the previous ones committed. A
// Save of a victim that commits between the count and the delete is
// deleted with it: the session is over the limit either way. Three round
// trips: BEGIN, the lock and the SELECT in one pipeline; the DELETEs;
// COMMIT (two round trips when nothing needs deleting). When COMMIT was sent and its
// reply lost, the error matches backends.ErrOutcomeUnknown and the
// returned keys may or may not have been deleted: delete them.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	c, cancel, err := s.begin(ctx, "limit_user_keys")
	if err != nil {
		return nil, err
	}
	defer cancel()
	if max < 0 {
		return nil, opError(ctx, "limit_user_keys", fmt.Errorf("negative limit %d", max))
	}
	for attempt := 0; ; attempt++ {
		victims, err := s.limit(c, userID, keep, max)
		if err == nil || !retryable(err) || attempt == 2 {
			return victims, opError(ctx, "limit_user_keys", err)
		}
	}
}

type entry struct {
	key      string
	deadline time.Time
	live     bool
}

func (s *Store) limit(c context.Context, userID, keep string, max int) ([]string, error) {
	u, r := s.names.userKeys, s.names.records
	now := time.Now()
	var entries []entry
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue("SELECT pg_advisory_xact_lock($1)", lockKey("user", s.cfg.prefix+"\x00"+userID))
	b.Queue("SELECT u.key, u.deadline, r.key IS NOT NULL FROM "+u+" u LEFT JOIN "+r+" r ON r.key = u.key AND r.expiry > $2"+
		" WHERE u.user_id = $1 FOR UPDATE OF u", userID, now).Query(func(rows pgx.Rows) error {
		var err error
		entries, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (entry, error) {
			var e entry
			err := row.Scan(&e.key, &e.deadline, &e.live)
			return e, err
		})
		return err
	})
	res := s.pool.SendBatch(c, b)
	tx := res.Tx()
	defer tx.Rollback(context.WithoutCancel(c)) //nolint:errcheck // after Commit a no-op
	if err := res.Close(); err != nil {
		return nil, err
	}
	var dead []string
	live := make([]entry, 0, len(entries))
	for _, e := range entries {
		if e.live {
			live = append(live, e)
		} else {
			dead = append(dead, e.key)
		}
	}
	var victims []string
	if excess := len(live) - max; excess > 0 {
		slices.SortFunc(live, func(a, b entry) int {
			if c := a.deadline.Compare(b.deadline); c != 0 {
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
	if len(dead) == 0 && len(victims) == 0 {
		return nil, tx.Commit(c)
	}
	b = &pgx.Batch{}
	if len(victims) > 0 {
		b.Queue("DELETE FROM "+r+" WHERE key = ANY($1)", victims)
	}
	b.Queue("DELETE FROM "+u+" WHERE user_id = $1 AND key = ANY($2)", userID, append(dead, victims...))
	if err := tx.SendBatch(c, b).Close(); err != nil {
		return nil, err
	}
	if err := tx.Commit(c); err != nil {
		// The records may or may not be deleted: the caller deletes the
		// keys returned with the error.
		return victims, unknownOutcome(err)
	}
	return victims, nil
}
