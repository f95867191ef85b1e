package pgstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/storeurl"
)

func init() {
	for _, scheme := range []string{"postgres", "postgresql"} {
		storeurl.Register(scheme, func(ctx context.Context, _ *url.URL, rawURL string) (backends.Store, error) {
			s, err := Open(ctx, rawURL)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", storeurl.ErrBadURL, err)
			}
			return s, nil
		})
	}
}

// storeParams are the URL query parameters Open takes for itself.
var storeParams = []string{"table_prefix", "op_timeout", "janitor_interval", "janitor_batch", "create_schema"}

// splitURL removes the store's own parameters from a postgres:// URL and
// returns the rest (for pgx) and the options they give. A keyword/value
// connection string is passed through unchanged. Errors never repeat the
// URL, which may hold a password.
func splitURL(rawURL string) (string, []Option, error) {
	if !strings.HasPrefix(rawURL, "postgres://") && !strings.HasPrefix(rawURL, "postgresql://") {
		return rawURL, nil, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return "", nil, fmt.Errorf("pgstore: invalid URL: %v", err)
	}
	q := u.Query()
	var opts []Option
	var interval time.Duration
	var batch int
	janitor := false
	for _, name := range storeParams {
		if !q.Has(name) {
			continue
		}
		v := q.Get(name)
		q.Del(name)
		var err error
		switch name {
		case "table_prefix":
			opts = append(opts, WithPrefix(v))
		case "op_timeout":
			var d time.Duration
			if d, err = time.ParseDuration(v); err == nil {
				opts = append(opts, WithTimeout(d))
			}
		case "janitor_interval":
			interval, err = time.ParseDuration(v)
			janitor = true
		case "janitor_batch":
			batch, err = strconv.Atoi(v)
			janitor = true
		case "create_schema":
			var b bool
			if b, err = strconv.ParseBool(v); err == nil {
				opts = append(opts, WithCreateSchema(b))
			}
		}
		if err != nil {
			return "", nil, fmt.Errorf("pgstore: URL parameter %s=%q: %v", name, v, err)
		}
	}
	if janitor {
		opts = append(opts, WithJanitor(interval, batch))
	}
	u.RawQuery = q.Encode()
	return u.String(), opts, nil
}
