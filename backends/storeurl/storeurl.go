// Package storeurl opens session stores from URLs, so that an application
// or a tool can take its store as one configuration string
// (SESSION_STORE_URL) and store modules can add their own schemes.
//
// Built in:
//
//	memory://[?max_sessions=N&max_bytes=N&shards=N&janitor_interval=1m]
//	    an in-process memstore (empty at start, lost at exit)
//	redis://…, rediss://…, redis+cluster://…, redis+sentinel://…, unix://…
//	    the forms redisstore.NewFromURL accepts, plus key_prefix=P for the
//	    key prefix (default "session:"): redis://host:6379/0?key_prefix=shop:
//
// Other store modules register their schemes when imported, the way
// database/sql drivers do:
//
//	import _ "github.com/sessionkit/session/backends/pgstore"
//
// The returned store is owned by the caller: close it with Close when done
// (every built-in store implements io.Closer).
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
)

// ErrUnknownScheme is returned by Open for a URL whose scheme no opener is
// registered for.
var ErrUnknownScheme = errors.New("storeurl: unknown store scheme")

// ErrBadURL is matched by the errors Open returns for a URL it cannot
// parse or whose options are invalid.
var ErrBadURL = errors.New("storeurl: invalid store URL")

// Opener opens a store from a parsed URL. rawURL is the URL as given (some
// drivers parse it themselves). Errors should match ErrBadURL for a URL the
// opener refuses, and must not repeat the URL's password.
type Opener func(ctx context.Context, u *url.URL, rawURL string) (backends.Store, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{}
)

// Register makes an opener available for a scheme (lower case, without
// "://"). It panics if the scheme is empty, the opener nil, or the scheme
// already registered: registration happens in init functions, where a
// clash is a programming error.
func Register(scheme string, open Opener) {
	if scheme == "" || open == nil {
		panic("storeurl: Register with an empty scheme or a nil opener")
	}
	scheme = strings.ToLower(scheme)
	mu.Lock()
	defer mu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("storeurl: Register called twice for scheme " + scheme)
	}
	openers[scheme] = open
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open opens the store that rawURL names. The error never contains the
// URL's password.
func Open(ctx context.Context, rawURL string) (backends.Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL; say only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("%w: no scheme (want one of %s)", ErrBadURL, strings.Join(Schemes(), ", "))
	}
	scheme := strings.ToLower(u.Scheme)
	mu.RLock()
	open := openers[scheme]
	mu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("%w %q (registered: %s; a store module registers its scheme when imported)", ErrUnknownScheme, scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, u, rawURL)
}

// Close closes st if it implements io.Closer.
func Close(st backends.Store) error {
	if c, ok := st.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func init() {
	Register("memory", openMemory)
	for _, s := range []string{"redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel", "unix"} {
		Register(s, openRedis)
	}
}

// keyPrefixParam is the query parameter of the Redis forms that sets the
// key prefix (redisstore.WithPrefix); it is taken out of the URL before
// the URL reaches go-redis, which refuses parameters it does not know.
const keyPrefixParam = "key_prefix"

func openRedis(_ context.Context, u *url.URL, rawURL string) (backends.Store, error) {
	var opts []redisstore.Option
	if q := u.Query(); q.Has(keyPrefixParam) {
		prefix := q.Get(keyPrefixParam)
		if prefix == "" {
			return nil, fmt.Errorf("%w: empty %s", ErrBadURL, keyPrefixParam)
		}
		opts = append(opts, redisstore.WithPrefix(prefix))
		q.Del(keyPrefixParam)
		v := *u
		v.RawQuery = q.Encode()
		rawURL = v.String()
	}
	st, err := redisstore.NewFromURL(rawURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	return st, nil
}

func openMemory(_ context.Context, u *url.URL, _ string) (backends.Store, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%w: memory:// takes no host or path, only options", ErrBadURL)
	}
	var o memstore.Options
	for name, vals := range u.Query() {
		v := vals[len(vals)-1]
		var err error
		switch name {
		case "max_sessions":
			o.MaxSessions, err = strconv.Atoi(v)
		case "max_bytes":
			o.MaxBytes, err = strconv.ParseInt(v, 10, 64)
		case "shards":
			o.Shards, err = strconv.Atoi(v)
		case "janitor_interval":
			o.JanitorInterval, err = time.ParseDuration(v)
		default:
			return nil, fmt.Errorf("%w: unknown memory:// option %q (max_sessions, max_bytes, shards, janitor_interval)", ErrBadURL, name)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: memory:// option %s=%q: %v", ErrBadURL, name, v, err)
		}
	}
	st, err := memstore.New(o)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	return st, nil
}
