package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sessionkit/session/backends"
)

var _ backends.Importer = (*Store)(nil)

// Import writes rec under key with its version and expiry when the key
// holds no live record or, unless onlyIfAbsent, a record with a lower
// version (see backends.Importer), and reports whether it wrote. One round
// trip, one statement: an INSERT … ON CONFLICT (key) DO UPDATE … WHERE the
// stored record has expired or (unless onlyIfAbsent) has a lower version.
// PostgreSQL locks the conflicting row and evaluates the WHERE clause on
// its latest committed version, so the check and the write are one atomic
// step with respect to Save, Renew and other imports.
//
// The user index is not touched: index an imported record with
// AddUserKey, as transfer.Copy and transfer.Restore do.
func (s *Store) Import(ctx context.Context, key string, rec backends.Record, onlyIfAbsent bool) (bool, error) {
	c, cancel, err := s.begin(ctx, "import")
	if err != nil {
		return false, err
	}
	defer cancel()
	if rec.Expiry.IsZero() {
		return false, opError(ctx, "import", backends.ErrNoExpiry)
	}
	if rec.Version == 0 {
		return false, opError(ctx, "import", errors.New("pgstore: version 0"))
	}
	if rec.Version > math.MaxInt64 {
		return false, opError(ctx, "import", fmt.Errorf("pgstore: version %d does not fit a bigint", rec.Version))
	}
	now := time.Now()
	if !rec.Expiry.After(now) {
		return false, nil
	}
	tag, err := s.pool.Exec(c, "INSERT INTO "+s.names.records+" AS r (key, version, blob, expiry) VALUES ($1, $2, $3, $4)"+
		" ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, blob = EXCLUDED.blob, expiry = EXCLUDED.expiry"+
		" WHERE r.expiry <= $5 OR (NOT $6::boolean AND r.version < EXCLUDED.version)",
		key, int64(rec.Version), noNil(rec.Blob), rec.Expiry, now, onlyIfAbsent)
	if err != nil {
		return false, opError(ctx, "import", unknownOutcome(err))
	}
	return tag.RowsAffected() == 1, nil
}
