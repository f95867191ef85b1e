package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

// A server that answers but refuses what the client was configured with is
// not an outage: waiting does not help, the configuration must be fixed.
// The store marks those errors backends.ErrMisconfigured, so that the
// session manager fails at start with the cause instead of starting
// degraded, and a fail-over store can tell them apart (see package
// degrade).

// misconfiguredPrefixes are Redis error replies that refuse the client's
// credentials or permissions.
var misconfiguredPrefixes = []string{"WRONGPASS", "NOAUTH", "NOPERM"}

// misconfiguredReplies are parts of Redis error replies (ERR ...) that
// refuse the client's database or credentials.
var misconfiguredReplies = []string{
	"Protocol error: unauthenticated",            // a long command of a client that did not authenticate
	"DB index is out of range",                   // SELECT beyond the server's "databases"
	"invalid DB index",                           // SELECT of something that is not a number
	"SELECT is not allowed in cluster mode",      // a database other than 0 on a Cluster node
	"invalid password",                           // AUTH, before Redis 6
	"called without any password configured",     // AUTH to a server without a password
	"Client sent AUTH, but no password is set",   // the same, before Redis 6
	"invalid username-password pair",             // AUTH with a user, some proxies
	"unknown command 'HELLO'",                    // protocol=3 against a server without RESP3
	"NOPROTO",                                    // the same, newer servers
	"this instance has cluster support disabled", // a Cluster client on a plain server
}

// isMisconfigured reports whether err means the server refuses the
// client's configuration: its credentials, database or permissions, or
// TLS (a server that does not speak it, a certificate that does not
// verify, a handshake the server rejects).
func isMisconfigured(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, backends.ErrMisconfigured) {
		return true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range misconfiguredPrefixes {
			if redis.HasErrorPrefix(rerr, p) {
				return true
			}
		}
		msg := strings.ToLower(rerr.Error())
		for _, m := range misconfiguredReplies {
			if strings.Contains(msg, strings.ToLower(m)) {
				return true
			}
		}
		return false
	}
	var (
		header   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &header), errors.As(err, &verify), errors.As(err, &unknown),
		errors.As(err, &hostname), errors.As(err, &invalid):
		return true
	case errors.As(err, &op) && op.Op == "remote error":
		// A TLS alert from the server: it rejected the handshake (client
		// certificate required, protocol version, cipher suites...).
		return true
	}
	return false
}

// misconfiguredError marks its cause backends.ErrMisconfigured.
type misconfiguredError struct{ cause error }

func (e misconfiguredError) Error() string { return "misconfigured: " + e.cause.Error() }

func (e misconfiguredError) Unwrap() []error {
	return []error{backends.ErrMisconfigured, e.cause}
}

// misconfigured wraps err so that it matches backends.ErrMisconfigured,
// unless it already does.
func misconfigured(err error) error {
	if err == nil || errors.Is(err, backends.ErrMisconfigured) {
		return err
	}
	return misconfiguredError{err}
}

// A TLS client talking to a plaintext Redis gets no answer at all: the
// server waits for the end of a line that the TLS ClientHello does not
// send, so the handshake only times out, which looks like an outage. The
// clients that NewFromURL creates for rediss:// URLs dial with a
// tlsDialer, which asks the server in plaintext when the handshake goes
// unanswered, and remembers why the last connection attempt was refused:
// go-redis dials in the background, so a caller whose deadline passes
// first sees only a timeout, and Ping then reports the refusal instead.
const (
	// plaintextCheckDelay is how long a TLS handshake may go unanswered
	// before the dialer asks the server in plaintext. TLS handshakes with
	// a Redis server nearby take a few milliseconds; a slower one costs
	// one extra short connection.
	plaintextCheckDelay = 100 * time.Millisecond
	// plaintextCheckTimeout bounds that plaintext question.
	plaintextCheckTimeout = time.Second
	// defaultDialTimeout is go-redis's DialTimeout when none is set.
	defaultDialTimeout = 5 * time.Second
)

// keepAlive is go-redis's TCP keep-alive configuration for its own dialer.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// tlsDialer connects with TLS like go-redis's own dialer, and tells a
// server that answers in plaintext, or rejects the handshake, apart from
// one that cannot be reached.
type tlsDialer struct {
	net     net.Dialer
	timeout time.Duration // <= 0: none
	cfg     *tls.Config
	// refused holds the error of the last connection attempt when it was
	// a configuration error, nil after any other outcome (attempts the
	// caller cut short apart).
	refused atomic.Pointer[refusal]
}

type refusal struct{ err error }

// newTLSDialer returns a dialer for TLS under cfg. timeout is the client's
// DialTimeout (0: go-redis's default, negative: none).
func newTLSDialer(timeout time.Duration, cfg *tls.Config) *tlsDialer {
	if timeout == 0 {
		timeout = defaultDialTimeout
	}
	d := &tlsDialer{net: net.Dialer{KeepAliveConfig: keepAlive}, timeout: timeout, cfg: cfg}
	if timeout > 0 {
		d.net.Timeout = timeout
	}
	return d
}

// Dial is a go-redis Dialer.
func (d *tlsDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dial(ctx, network, addr)
	switch {
	case isMisconfigured(err):
		err = misconfigured(err)
		d.refused.Store(&refusal{err})
	case err != nil && ctx.Err() != nil:
		// Cut short by the caller: says nothing about the server.
	default:
		d.refused.Store(nil)
	}
	return conn, err
}

// lastRefusal returns the configuration error that refused the last
// connection attempt, or nil.
func (d *tlsDialer) lastRefusal() error {
	if d == nil {
		return nil
	}
	if r := d.refused.Load(); r != nil {
		return r.err
	}
	return nil
}

func (d *tlsDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	raw, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := d.cfg.Clone()
	if c.ServerName == "" {
		c.ServerName = addr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	conn := tls.Client(raw, c)
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- conn.HandshakeContext(hctx) }()
	check := time.NewTimer(plaintextCheckDelay)
	defer check.Stop()
	var herr error
	select {
	case herr = <-done:
	case <-check.C:
		if d.answersPlaintext(ctx, network, addr) {
			stop()
			<-done
			raw.Close()
			return nil, misconfigured(fmt.Errorf("TLS handshake with %s got no answer, and the server answers plaintext Redis commands: use a redis:// URL, or enable TLS on the server", addr))
		}
		herr = <-done
	}
	if herr != nil {
		raw.Close()
		return nil, herr
	}
	return conn, nil
}

// answersPlaintext reports whether the server at addr answers a plaintext
// PING with a Redis reply ("+PONG", or an error such as "-NOAUTH"). A TLS
// server answers it with a TLS alert or not at all.
func (d *tlsDialer) answersPlaintext(ctx context.Context, network, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, plaintextCheckTimeout)
	defer cancel()
	c, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		return false
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return false
	}
	return b[0] == '+' || b[0] == '-'
}
