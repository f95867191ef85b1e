package memstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sessionkit/session/backends"
)

const opImport = "import"

var _ backends.Importer = (*Store)(nil)

// Import writes a copy of rec under key with rec's version and expiry when
// the key holds no live record or, unless onlyIfAbsent, one with a lower
// version (see backends.Importer). Like Save it may evict least recently
// used records and refuses records over MaxBytes/Shards bytes.
func (s *Store) Import(ctx context.Context, key string, rec backends.Record, onlyIfAbsent bool) (bool, error) {
	if err := s.begin(ctx, opImport); err != nil {
		return false, err
	}
	if rec.Expiry.IsZero() {
		return false, opError(opImport, backends.ErrNoExpiry)
	}
	if rec.Version == 0 {
		return false, opError(opImport, errors.New("memstore: version 0"))
	}
	now := time.Now()
	if !now.Before(rec.Expiry) {
		return false, nil
	}
	if err := s.checkSize(opImport, key, rec.Blob); err != nil {
		return false, err
	}
	stored := make([]byte, len(rec.Blob))
	copy(stored, rec.Blob)
	expiry := rec.Expiry.Round(0)

	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false, opError(opImport, backends.ErrClosed)
	}
	e := sh.lookup(key, now)
	switch {
	case e == nil:
		e = &entry{key: strings.Clone(key), blob: stored, version: rec.Version, expiry: expiry}
		sh.m[e.key] = e
		sh.pushFront(e)
		sh.bytes += e.size()
	case onlyIfAbsent || e.version >= rec.Version:
		return false, nil
	default:
		sh.bytes += int64(len(stored) - len(e.blob))
		e.blob, e.version, e.expiry = stored, rec.Version, expiry
		sh.moveToFront(e)
	}
	sh.evict(e, now)
	return true, nil
}
