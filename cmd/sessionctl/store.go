package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storeurl"
)

var termIsTerminal = term.IsTerminal

// openStore opens the store rawURL names (what names it: "--store",
// "--from", ...) and pings it when it can be pinged. The caller closes it
// with storeurl.Close.
func (g *globals) openStore(rawURL, what string) (backends.Store, error) {
	if rawURL == "" {
		if what == "--store" {
			return nil, usagef("no store: give --store URL or set SESSION_STORE_URL")
		}
		return nil, usagef("no store: give %s URL", what)
	}
	st, err := storeurl.Open(g.ctx, rawURL)
	if err != nil {
		if errors.Is(err, storeurl.ErrBadURL) || errors.Is(err, storeurl.ErrUnknownScheme) {
			return nil, usageErr(fmt.Errorf("%s: %w", what, err))
		}
		return nil, unreachable(fmt.Errorf("%s: %w", what, err))
	}
	if err := probe(g.ctx, rawURL, g.timeout); err != nil {
		storeurl.Close(st)
		if g.ctx.Err() != nil {
			return nil, interrupted(g.ctx.Err())
		}
		return nil, unreachable(fmt.Errorf("%s: the store does not answer: %w", what, err))
	}
	if p, ok := st.(backends.Pinger); ok {
		ctx, cancel := context.WithTimeout(g.ctx, g.timeout)
		err := p.Ping(ctx)
		cancel()
		if err != nil {
			storeurl.Close(st)
			if g.ctx.Err() != nil {
				return nil, interrupted(g.ctx.Err())
			}
			return nil, unreachable(fmt.Errorf("%s: the store does not answer (waited at most %v): %w", what, g.timeout, err))
		}
	}
	return st, nil
}

// probe connects to the server of a single-server Redis URL (redis://,
// rediss://, unix://) and hangs up. A refused connection fails at once with
// its cause, where the store's client would retry its dials until the
// ping's deadline and report only that the deadline passed. Other URLs
// (Sentinel, Cluster, memory) are not probed.
func probe(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil // storeurl.Open has judged the URL
	}
	var network, addr string
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return nil
		}
		network, addr = "tcp", u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "6379")
		}
	case "unix":
		if u.Path == "" {
			return nil
		}
		network, addr = "unix", u.Path
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// storeKind describes a store for ping: its kind and topology.
func storeKind(st backends.Store) string {
	switch s := st.(type) {
	case *redisstore.Store:
		switch s.Client().(type) {
		case *redis.ClusterClient:
			return "redis cluster"
		case *redis.Ring:
			return "redis ring"
		}
		return "redis"
	case *memstore.Store:
		return "memory (in-process, empty at start)"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", st), "*")
}

// isControlKey reports whether key is an online migration's control record
// rather than a session.
func isControlKey(key string) bool { return key == migrate.DefaultControlKey }

// secret returns the application's secret: the contents of --secret-file
// (without a final line break) or $SESSION_SECRET. ok is false when neither
// is set.
func (g *globals) secret() (secret []byte, ok bool, err error) {
	if g.secretFile != "" {
		b, err := os.ReadFile(g.secretFile)
		if err != nil {
			return nil, false, usagef("--secret-file: %v", err)
		}
		b = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		secret = b
	} else if s := g.env.getenv("SESSION_SECRET"); s != "" {
		secret = []byte(s)
	} else {
		return nil, false, nil
	}
	if len(secret) < 32 {
		return nil, false, usagef("the secret is %d bytes; the application's secret has at least 32", len(secret))
	}
	return secret, true, nil
}

// managerOptions are what a command needs of the application's settings to
// read its sessions.
type managerOptions struct {
	idle time.Duration // the application's idle timeout (for "last seen")
}

// manager returns a session manager on st with the application's secret,
// deriving the keys as the application's manager does (session.WithSecret),
// or nil when no secret is given and required is false. Its audit records
// (revocations) go to stderr.
func (g *globals) manager(st backends.Store, required bool, o managerOptions) (*session.Manager, error) {
	secret, ok, err := g.secret()
	if err != nil {
		return nil, err
	}
	if !ok {
		if required {
			return nil, usagef("this command reads sessions: give the application's secret in SESSION_SECRET or --secret-file")
		}
		return nil, nil
	}
	if o.idle <= 0 {
		o.idle = session.DefaultIdleTimeout
	}
	logger := slog.New(slog.NewTextHandler(g.env.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m, err := session.New(
		session.WithStore(st),
		session.WithSecret(secret),
		session.WithIdleTimeout(o.idle),
		session.WithLifetime(max(session.DefaultLifetime, o.idle)),
		session.WithLogger(logger),
		session.WithAuditLevel(slog.LevelInfo),
	)
	if err != nil {
		return nil, fmt.Errorf("reading sessions: %w", err)
	}
	return m, nil
}
