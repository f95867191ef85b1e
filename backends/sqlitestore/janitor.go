package sqlitestore

import (
	"context"
	"time"
)

// runJanitor sweeps every janitor interval until Close.
func (s *Store) runJanitor() {
	defer s.janitor.Done()
	t := time.NewTicker(s.cfg.janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			_, _, _ = s.Sweep(ctx)
			cancel()
		}
	}
}

// Sweep deletes expired records and the user index entries whose records
// are gone or expired, in statements of at most the janitor's batch size
// (see WithJanitor) until one deletes fewer, and returns how many of each
// it deleted. Each statement is its own transaction, so requests write in
// between.
//
// The background janitor calls Sweep; with the janitor off (a negative
// interval in WithJanitor) an application may call it from its own
// scheduler. Expired records are never returned either way.
func (s *Store) Sweep(ctx context.Context) (records, entries int, err error) {
	if _, cancel, err := s.begin(ctx, "sweep"); err != nil {
		return 0, 0, err
	} else {
		cancel()
	}
	r, u := s.names.records, s.names.userKeys
	recordsSQL := "DELETE FROM " + r + " WHERE rowid IN (SELECT rowid FROM " + r + " WHERE expiry <= ?1 LIMIT ?2)"
	entriesSQL := "DELETE FROM " + u + " WHERE (user_id, key) IN (SELECT d.user_id, d.key FROM " + u + " d" +
		" WHERE NOT EXISTS (SELECT 1 FROM " + r + " x WHERE x.key = d.key AND x.expiry > ?1) LIMIT ?2)"
	records, err = s.sweep(ctx, recordsSQL)
	if err != nil {
		return records, 0, opError(ctx, "sweep", err)
	}
	entries, err = s.sweep(ctx, entriesSQL)
	return records, entries, opError(ctx, "sweep", err)
}

func (s *Store) sweep(ctx context.Context, sql string) (int, error) {
	total := 0
	for {
		c, cancel := ctx, context.CancelFunc(func() {})
		if s.cfg.timeout > 0 {
			c, cancel = context.WithTimeout(ctx, s.cfg.timeout)
		}
		res, err := s.w.ExecContext(c, sql, ms(time.Now()), s.cfg.janitorBatch)
		cancel()
		if err != nil {
			return total, err
		}
		n64, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		n := int(n64)
		total += n
		if n < s.cfg.janitorBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
