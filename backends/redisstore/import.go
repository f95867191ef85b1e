package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

var _ backends.Importer = (*Store)(nil)

// importScript writes a record with a given version when the key is free
// or, unless ARGV[1] is '1', holds a lower version. Versions are compared as
// decimal strings (length first), never as Lua numbers. It returns 1 when it
// wrote, 0 when it left the stored record alone, or resForeign.
//
// KEYS[1] record key; ARGV[1] '1' to write only a missing key, ARGV[2]
// version, ARGV[3] blob, ARGV[4] expiry in Unix ms.
var importScript = redis.NewScript(versionLua + `
local cur = version(KEYS[1])
if not cur then return -2 end
if cur ~= '0' then
  if ARGV[1] == '1' then return 0 end
  if #cur > #ARGV[2] or (#cur == #ARGV[2] and cur >= ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`)

// Import writes rec under key with its version and expiry when the key is
// free or, unless onlyIfAbsent, holds a lower version (see
// backends.Importer). One round trip: a script that compares and writes.
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
		return false, opError(ctx, "import", errors.New("redisstore: version 0"))
	}
	if !rec.Expiry.After(time.Now()) {
		return false, nil
	}
	only := "0"
	if onlyIfAbsent {
		only = "1"
	}
	var res int64
	err = s.do(c, func(c context.Context) error {
		var e error
		res, e = importScript.Run(c, s.client, []string{s.recordKey(key)},
			only, strconv.FormatUint(rec.Version, 10), rec.Blob, unixMilli(rec.Expiry)).Int64()
		return e
	})
	if err != nil {
		return false, opError(ctx, "import", err)
	}
	switch res {
	case 1:
		s.wrote(key, rec.Version, rec.Expiry)
		return true, nil
	case 0:
		return false, nil
	case resForeign:
		return false, opError(ctx, "import", foreign("not a session hash"))
	}
	return false, opError(ctx, "import", fmt.Errorf("redisstore: unexpected script reply %d", res))
}
