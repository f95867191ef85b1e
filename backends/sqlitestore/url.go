package sqlitestore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/storeurl"
)

func init() {
	storeurl.Register("sqlite", func(_ context.Context, u *url.URL, _ string) (backends.Store, error) {
		s, err := OpenURL(u)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", storeurl.ErrBadURL, err)
		}
		return s, nil
	})
}

// OpenURL opens the store a sqlite URL names:
//
//	sqlite:///var/lib/app/sessions.db   an absolute path (three slashes)
//	sqlite:sessions.db                  a path relative to the working directory
//
// with the options as query parameters: table_prefix (WithPrefix),
// op_timeout (WithTimeout, a Go duration), janitor_interval and
// janitor_batch (WithJanitor), create_schema (WithCreateSchema, true or
// false). A host (sqlite://host/…) is refused: the database is a local
// file.
func OpenURL(u *url.URL) (*Store, error) {
	if u.Scheme != "sqlite" {
		return nil, fmt.Errorf("sqlitestore: scheme %q, want sqlite", u.Scheme)
	}
	var path string
	switch {
	case u.Opaque != "":
		path = u.Opaque
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
	case u.Host != "":
		return nil, fmt.Errorf("sqlitestore: sqlite://%s…: the URL names a host; an absolute path needs three slashes (sqlite:///path/sessions.db), a relative one none (sqlite:sessions.db)", u.Host)
	default:
		path = u.Path
	}
	if path == "" || path == "/" {
		return nil, fmt.Errorf("sqlitestore: the URL names no file (sqlite:///path/sessions.db)")
	}
	var opts []Option
	var interval time.Duration
	var batch int
	janitor := false
	for name, vals := range u.Query() {
		v := vals[len(vals)-1]
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
		default:
			return nil, fmt.Errorf("sqlitestore: unknown URL parameter %q (table_prefix, op_timeout, janitor_interval, janitor_batch, create_schema)", name)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: URL parameter %s=%q: %v", name, v, err)
		}
	}
	if janitor {
		opts = append(opts, WithJanitor(interval, batch))
	}
	return Open(path, opts...)
}
