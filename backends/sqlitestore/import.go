package sqlitestore

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
// version (see backends.Importer), and reports whether it wrote. One
// statement on the writer connection: an INSERT … ON CONFLICT (key) DO
// UPDATE … WHERE the stored record has expired or (unless onlyIfAbsent)
// has a lower version. Writes are serialized, so the check and the write
// are one atomic step with respect to every other write. Expiries are
// kept to the millisecond.
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
		return false, opError(ctx, "import", errors.New("sqlitestore: version 0"))
	}
	if rec.Version > math.MaxInt64 {
		return false, opError(ctx, "import", fmt.Errorf("sqlitestore: version %d does not fit an INTEGER", rec.Version))
	}
	now := time.Now()
	if !rec.Expiry.After(now) {
		return false, nil
	}
	r := s.names.records
	only := 0
	if onlyIfAbsent {
		only = 1
	}
	res, err := s.w.ExecContext(c, "INSERT INTO "+r+" (key, version, blob, expiry) VALUES (?1, ?2, ?3, ?4)"+
		" ON CONFLICT (key) DO UPDATE SET version = excluded.version, blob = excluded.blob, expiry = excluded.expiry"+
		" WHERE "+r+".expiry <= ?5 OR (?6 = 0 AND "+r+".version < excluded.version)",
		key, int64(rec.Version), noNil(rec.Blob), ms(rec.Expiry), ms(now), only)
	if err != nil {
		return false, opError(ctx, "import", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, opError(ctx, "import", err)
	}
	return n == 1, nil
}
