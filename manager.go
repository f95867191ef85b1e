package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/cookies"
	"github.com/sessionkit/session/degrade"
)

// Defaults of the Manager's settings.
const (
	DefaultIdleTimeout    = 30 * time.Minute
	DefaultLifetime       = 24 * time.Hour
	DefaultTouchInterval  = time.Minute
	DefaultMaxSize        = 64 << 10
	DefaultDegradedHeader = "X-Session-Degraded"
	DefaultTokenHeader    = "Session-Token"
	// MaxSessionLifetime is the longest lifetime a session can be given
	// (WithLifetime, WithMaxLifetime): 400 days, the longest browsers keep
	// a cookie. A manager refuses signed tokens older than the longest
	// lifetime it can grant (see WithMaxLifetime), which is at most this.
	MaxSessionLifetime = 400 * 24 * time.Hour
	minSecretLength    = 32
	maxCommitAttempts  = 32
)

// Manager loads and saves sessions for HTTP requests. Create one with New,
// install its Middleware, and reach the request's session with FromContext.
// A Manager is immutable after New and safe for concurrent use.
type Manager struct {
	store          backends.Store
	ownStore       io.Closer
	signer         *cookies.Signer
	codec          *codec.Pipeline
	cookie         cookies.Config
	cookieLifetime time.Duration
	trustProxy     bool
	idle           time.Duration
	lifetime       time.Duration
	maxLifetime    time.Duration
	touchInterval  time.Duration
	maxSize        int
	maxPerUser     int
	tokenHeader    string
	degradedHeader string
	errorHandler   func(http.ResponseWriter, *http.Request, error)
	logger         *slog.Logger
	observer       Observer
	audit          auditConfig
	sec            securityConfig // devices, binding, rotation (devices.go)
	now            func() time.Time
	insecureOnce   *sync.Once
}

// An Option configures a Manager. Options are checked once, by New.
type Option func(*config) error

type config struct {
	Manager
	secrets    [][]byte
	cookieKeys [][]byte
	keyring    *codec.Keyring
	codecOpts  []codec.Option
	storeSet   bool
	touchSet   bool

	failoverPrimary backends.Store
	failoverOpts    []degrade.Option
}

// WithSecret sets the application secret(s), newest first, each at least 32
// bytes of high-entropy data: New refuses a secret with fewer than 8
// distinct bytes or made of a repeated short pattern (ErrWeakSecret).
// Generate one with "openssl rand -base64 48". From the newest secret the manager derives,
// with HKDF, separate keys for signing the ID cookie, encrypting stored
// sessions (AES-256-GCM) and hashing session IDs into store keys. Older
// secrets still verify cookies and decrypt sessions, so a secret can be
// rotated by putting the new one first; drop the old one once sessions
// signed with it have expired. WithSecret, or WithCookieKeys, is required.
func WithSecret(secrets ...[]byte) Option {
	return func(c *config) error {
		if len(secrets) == 0 {
			return errors.New("WithSecret: no secret")
		}
		for i, s := range secrets {
			if len(s) < minSecretLength {
				return fmt.Errorf("WithSecret: secret %d is %d bytes, need at least %d (%s)", i, len(s), minSecretLength, secretHelp)
			}
			if err := checkRandom(s); err != nil {
				return fmt.Errorf("WithSecret: secret %d: %w", i, err)
			}
		}
		c.secrets = secrets
		return nil
	}
}

// ErrWeakSecret is wrapped by the error New returns for a secret or key
// that is obviously not random (see WithSecret).
var ErrWeakSecret = errors.New("session: secret is not random")

const secretHelp = "generate one with: openssl rand -base64 48, or head -c 48 /dev/urandom | base64"

// checkRandom refuses a secret that is obviously not random: fewer than 8
// distinct byte values, a short pattern repeated, or three quarters of its
// bytes one step apart from the previous (as "abcdef..."). It cannot prove a secret random; it catches
// placeholders and typed patterns. 32 random bytes, and their hex or
// base64 text, pass with overwhelming probability.
func checkRandom(b []byte) error {
	var seen [256]bool
	distinct := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	if distinct < 8 {
		return fmt.Errorf("%w: only %d distinct byte values (%s)", ErrWeakSecret, distinct, secretHelp)
	}
	if p := period(b); p > 0 {
		return fmt.Errorf("%w: a pattern of %d bytes repeated (%s)", ErrWeakSecret, p, secretHelp)
	}
	var steps [256]int
	for i := 1; i < len(b); i++ {
		d := b[i] - b[i-1]
		if steps[d]++; 4*steps[d] >= 3*(len(b)-1) {
			return fmt.Errorf("%w: most of its bytes follow each other at the same step, as in \"abcdef\" (%s)", ErrWeakSecret, secretHelp)
		}
	}
	return nil
}

// period returns the shortest p <= len(b)/2 such that b repeats its first p
// bytes (the last repetition may be cut short), or 0.
func period(b []byte) int {
	for p := 1; p <= len(b)/2; p++ {
		i := p
		for i < len(b) && b[i] == b[i-p] {
			i++
		}
		if i == len(b) {
			return p
		}
	}
	return 0
}

// WithCookieKeys sets the HMAC keys that sign the ID cookie, newest first
// (at least 32 random bytes each, checked as WithSecret checks secrets),
// instead of deriving one from WithSecret. Without
// WithSecret, stored sessions are not encrypted unless WithKeyring is given.
func WithCookieKeys(keys ...[]byte) Option {
	return func(c *config) error {
		if len(keys) == 0 {
			return errors.New("WithCookieKeys: no key")
		}
		for i, k := range keys {
			if err := checkRandom(k); err != nil {
				return fmt.Errorf("WithCookieKeys: key %d: %w", i, err)
			}
		}
		c.cookieKeys = keys
		return nil
	}
}

// WithKeyring sets the keys that encrypt stored sessions, instead of the key
// derived from WithSecret.
func WithKeyring(k *codec.Keyring) Option {
	return func(c *config) error {
		if k == nil {
			return errors.New("WithKeyring: nil keyring")
		}
		c.keyring = k
		return nil
	}
}

// WithCodecOptions adds options to the codec pipeline that encodes stored
// sessions (serializer, compression threshold, padding). The maximum size
// and the keyring are set by the manager.
func WithCodecOptions(opts ...codec.Option) Option {
	return func(c *config) error {
		c.codecOpts = append(c.codecOpts, opts...)
		return nil
	}
}

// WithStore sets where sessions are kept. The default is an in-memory store
// (memstore) with its default bounds, closed by Manager.Close. A store
// passed here is not closed by the manager.
func WithStore(s backends.Store) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("WithStore: nil store")
		}
		c.store = s
		c.storeSet = true
		return nil
	}
}

// WithCookie sets the ID cookie's attributes. Zero fields take the defaults
// of cookies.Config.WithDefaults: name "session", Path "/", SameSite Lax,
// Secure on TLS requests. HttpOnly is always set unless the config is
// explicitly built with WithCookieScriptAccess.
func WithCookie(cfg cookies.Config) Option {
	return func(c *config) error {
		cfg.HttpOnly = c.cookie.HttpOnly
		c.cookie = cfg
		return nil
	}
}

// WithCookieScriptAccess lets page scripts read the ID cookie (it drops
// HttpOnly). Only do this if a script really needs the cookie: it exposes
// the session to any script injected into the page.
func WithCookieScriptAccess() Option {
	return func(c *config) error {
		c.cookie.HttpOnly = false
		return nil
	}
}

// WithCookieLifetime makes the ID cookie persistent, with Max-Age d (capped
// by the session's absolute deadline). The default, 0, is a browser-session
// cookie (no Max-Age): the browser forgets it when it closes, while the
// server record keeps its own idle timeout and lifetime. Sessions given
// their own lifetime with SetLifetime always get a persistent cookie.
func WithCookieLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithCookieLifetime: negative duration %v", d)
		}
		c.cookieLifetime = d
		return nil
	}
}

// WithTrustForwardedProto makes requests with "X-Forwarded-Proto: https"
// count as TLS requests when deciding the cookie's Secure attribute. Enable
// it only behind a proxy that sets the header itself.
func WithTrustForwardedProto() Option {
	return func(c *config) error {
		c.trustProxy = true
		return nil
	}
}

// WithIdleTimeout sets how long a session lives without requests (default
// 30 minutes). Activity extends it, at most once per touch interval.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithIdleTimeout: %v is not positive", d)
		}
		c.idle = d
		return nil
	}
}

// WithLifetime sets the absolute lifetime of a session (default 24 hours):
// it ends then however active it is. It must not be shorter than the idle
// timeout. Sessions can be given a longer one with Session.SetLifetime
// only up to WithMaxLifetime.
func WithLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxSessionLifetime {
			return fmt.Errorf("WithLifetime: %v is not in (0, %v]", d, MaxSessionLifetime)
		}
		c.lifetime = d
		return nil
	}
}

// ErrLifetimeTooLong is returned by Session.SetLifetime for a lifetime
// longer than the manager's longest (WithMaxLifetime).
var ErrLifetimeTooLong = errors.New("session: lifetime longer than the manager allows (see WithMaxLifetime)")

// WithMaxLifetime sets the longest lifetime one session can be given with
// Session.SetLifetime (remember me); SetLifetime refuses longer ones with
// ErrLifetimeTooLong. The default is the manager's lifetime (WithLifetime):
// without this option, SetLifetime can shorten a session's lifetime but
// not extend it. d must be at least the lifetime and at most
// MaxSessionLifetime.
//
// It also bounds the cookie: a signed session ID older than the longest
// lifetime the manager can grant (this value, plus a minute for clock skew
// between servers) is refused as expired before any store lookup, so an
// old or stolen cookie costs nothing and is worth nothing, whatever the
// store still holds.
func WithMaxLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxSessionLifetime {
			return fmt.Errorf("WithMaxLifetime: %v is not in (0, %v]", d, MaxSessionLifetime)
		}
		c.maxLifetime = d
		return nil
	}
}

// WithTouchInterval sets how often, at most, the idle deadline of a session
// that is read but not changed is extended in the store (default 1 minute).
// Each extension is a small store write; a shorter interval means a more
// precise idle timeout at the cost of more writes.
//
// The interval must be shorter than the idle timeout, or an active user
// would be logged out after the idle timeout: New refuses an interval that
// is not. Whatever the setting, a session is extended at the latest when
// half of its idle timeout is left, so the default interval is shortened
// automatically for short idle timeouts (including those set per session
// with SetLifetime).
func WithTouchInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("WithTouchInterval: negative duration %v", d)
		}
		c.touchInterval = d
		c.touchSet = true
		return nil
	}
}

// WithMaxSize sets the maximum encoded size of one session in bytes
// (default 64 KiB). Set and Commit refuse changes beyond it with ErrTooLarge,
// and stored blobs are never decoded beyond it.
func WithMaxSize(n int) Option {
	return func(c *config) error {
		if n < 1024 {
			return fmt.Errorf("WithMaxSize: %d bytes is below the minimum of 1024", n)
		}
		c.maxSize = n
		return nil
	}
}

// WithMaxSessionsPerUser limits how many sessions one user may have. When a
// session is bound to a user who already has n, the oldest are revoked.
// The default, 0, is no limit. It needs a store with a user index.
func WithMaxSessionsPerUser(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("WithMaxSessionsPerUser: negative limit %d", n)
		}
		c.maxPerUser = n
		return nil
	}
}

// WithTokenHeader makes the manager accept the signed session token in a
// request header, for API clients without cookies: either in header name or
// as "Authorization: Session <token>". A new or renewed token is sent back
// in response header name, and no cookie is set. The default name, used when
// name is "", is "Session-Token".
func WithTokenHeader(name string) Option {
	return func(c *config) error {
		if name == "" {
			name = DefaultTokenHeader
		}
		if strings.ContainsAny(name, " \t\r\n:") {
			return fmt.Errorf("WithTokenHeader: invalid header name %q", name)
		}
		c.tokenHeader = http.CanonicalHeaderKey(name)
		return nil
	}
}

// WithDegradedHeader sets the response header that marks responses whose
// session was served by a fallback store (default "X-Session-Degraded",
// value "true").
func WithDegradedHeader(name string) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return fmt.Errorf("WithDegradedHeader: invalid header name %q", name)
		}
		c.degradedHeader = http.CanonicalHeaderKey(name)
		return nil
	}
}

// WithErrorHandler sets what the middleware does when saving the session
// fails before the response is sent (for example, the store is down). The
// default logs the error and answers 500 Internal Server Error.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("WithErrorHandler: nil handler")
		}
		c.errorHandler = h
		return nil
	}
}

// WithLogger sets the logger for security events (rejected cookies,
// undecodable records: Warn) and session events (created, renewed,
// destroyed: Debug). Raw session IDs are never logged. The default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithObserver sets the hooks that receive metrics events (see Observer).
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("WithObserver: nil observer")
		}
		c.observer = o
		return nil
	}
}

// New returns a Manager configured by opts. It checks every option once and
// returns an error wrapping ErrInvalidConfig for any bad one.
//
// A store that can be pinged (backends.Pinger, as redisstore) is pinged
// once (see StartupPingTimeout); for a fail-over store (WithFailover, or a
// degrade.Store given to WithStore) its primary is. A store that answers
// but refuses the configuration (wrong password or database, TLS against a
// plaintext server: an error matching backends.ErrMisconfigured) fails New
// with an error wrapping ErrInvalidConfig, ErrStore and the store's error,
// whose message gives the cause. A store that cannot be reached fails New
// with an error matching ErrStore (and IsUnavailable) when it has no
// fallback; a fail-over store is not waited for: the manager starts
// degraded and recovers when the primary appears. A fail-over primary that
// answers with any other error than an outage fails New as well.
func New(opts ...Option) (*Manager, error) {
	c := &config{Manager: Manager{
		idle:           DefaultIdleTimeout,
		lifetime:       DefaultLifetime,
		touchInterval:  DefaultTouchInterval,
		maxSize:        DefaultMaxSize,
		degradedHeader: DefaultDegradedHeader,
		cookie:         cookies.Config{HttpOnly: true},
		now:            time.Now,
		insecureOnce:   new(sync.Once),
	}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	m := &c.Manager
	if err := c.finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if m.cookie.Secure == cookies.SecureNever && m.tokenHeader == "" && (m.cookieLifetime > 0 || m.maxLifetime > m.lifetime) {
		m.insecureOnce.Do(func() {
			m.logger.Warn("session: persistent session cookies will be sent without the Secure attribute (cookies.SecureNever); use cookies.SecureAlways in production")
		})
	}
	if err := m.pingAtStart(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// StartupPingTimeout bounds the health check New makes of a store without
// a fallback. The primary of a fail-over store is given at most 1 second:
// the manager starts without it when it does not answer in time. Stores
// cap either with their own timeout (redisstore: 500 ms by default).
const StartupPingTimeout = 5 * time.Second

// startupPrimaryTimeout bounds New's ping of a fail-over store's primary.
const startupPrimaryTimeout = time.Second

// pingAtStart checks, once, that the store can serve, so that a wrong
// address, password, database or TLS setting is reported at start rather
// than as failing requests. Of a fail-over store the primary is pinged: an
// outage is not an error (the chain starts on its fallback), a refusal is.
func (m *Manager) pingAtStart() error {
	st, timeout := m.store, StartupPingTimeout
	ds, isChain := m.store.(*degrade.Store)
	if isChain {
		st, timeout = ds.Primary(), startupPrimaryTimeout
	}
	p, ok := st.(backends.Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := p.Ping(ctx)
	switch {
	case err == nil:
		return nil
	case backends.IsMisconfigured(err):
		return fmt.Errorf("%w: the session store refuses the configuration: %w", ErrInvalidConfig, wrapStore("ping", err))
	case isChain && (backends.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded)):
		m.logger.Warn("session: the primary store cannot be reached; starting on the fallback", "error", err.Error())
		return nil
	case isChain:
		return fmt.Errorf("%w: the primary session store answers with an error: %w", ErrInvalidConfig, wrapStore("ping", err))
	}
	return fmt.Errorf("session: the store cannot be reached (WithFailover starts without it): %w", wrapStore("ping", err))
}

func (c *config) finish() error {
	if c.idle > c.lifetime {
		return fmt.Errorf("idle timeout %v is longer than the lifetime %v", c.idle, c.lifetime)
	}
	if c.maxLifetime == 0 {
		c.maxLifetime = c.lifetime
	}
	if c.maxLifetime < c.lifetime {
		return fmt.Errorf("the longest lifetime %v (WithMaxLifetime) is shorter than the lifetime %v", c.maxLifetime, c.lifetime)
	}
	if c.touchSet && c.touchInterval >= c.idle {
		return fmt.Errorf("touch interval %v is not shorter than the idle timeout %v: an active session would end after the idle timeout", c.touchInterval, c.idle)
	}
	if err := c.sec.finish(); err != nil {
		return err
	}
	c.cookie = c.cookie.WithDefaults()
	if err := c.cookie.Validate(); err != nil {
		return err
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.observer == nil {
		c.observer = nopObserver{}
	}
	if c.errorHandler == nil {
		logger := c.logger
		c.errorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			logger.ErrorContext(r.Context(), "session: request failed", "error", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
	}

	// Keys: explicit ones win over derived ones.
	signKeys := c.cookieKeys
	var storeKeys []codec.Key
	for _, s := range c.secrets {
		k, err := codec.DeriveKey(s, "sessionkit cookie signing")
		if err != nil {
			return err
		}
		if c.cookieKeys == nil {
			signKeys = append(signKeys, k)
		}
		ek, err := codec.DeriveKey(s, "sessionkit store encryption")
		if err != nil {
			return err
		}
		storeKeys = append(storeKeys, codec.Key{ID: keyID(ek), Secret: ek})
	}
	if len(signKeys) == 0 {
		return errors.New("no secret: use WithSecret (or WithCookieKeys)")
	}
	// No session lives longer than maxLifetime from its creation, and its
	// cookie is signed at the earliest then: an older signature cannot
	// belong to a live session.
	signer, err := cookies.NewSigner(signKeys, c.maxLifetime+cookies.MaxClockSkew)
	if err != nil {
		return err
	}
	c.signer = signer
	if err := c.finishAudit(signKeys); err != nil {
		return err
	}

	copts := append([]codec.Option{codec.WithMaxSize(c.maxSize)}, c.codecOpts...)
	keyring := c.keyring
	if keyring == nil && len(storeKeys) > 0 {
		keyring, err = codec.NewKeyring(codec.AESGCM, storeKeys...)
		if err != nil {
			return err
		}
	}
	if keyring != nil {
		copts = append(copts, codec.WithKeyring(keyring))
	}
	c.codec, err = codec.New(copts...)
	if err != nil {
		return err
	}

	if c.failoverPrimary != nil {
		ds, err := c.newFailover()
		if err != nil {
			return err
		}
		c.store, c.ownStore = ds, drainingCloser{ds}
	}
	if !c.storeSet {
		ms, err := memstore.New(memstore.Options{})
		if err != nil {
			return err
		}
		c.store, c.ownStore = ms, ms
	}
	return nil
}

// keyID names a derived encryption key by a hash of it, so that the same
// secret gives the same key ID in every process.
func keyID(key []byte) uint32 {
	sum := sha256.Sum256(key)
	return binary.BigEndian.Uint32(sum[:4])
}

// Close releases what the manager created itself: the default in-memory
// store, or the fail-over store of WithFailover (after replaying, for at most
// 5 seconds, what it still holds). Stores passed with WithStore, and the
// primary of WithFailover, are left to their owner.
func (m *Manager) Close() error {
	if m.ownStore != nil {
		return m.ownStore.Close()
	}
	return nil
}

// Store returns the store the manager uses.
func (m *Manager) Store() backends.Store { return m.store }

// Codec returns the codec pipeline the manager encodes stored sessions
// with: the keyring derived from WithSecret (or given with WithKeyring), the
// maximum size and the codec options. Tools that read records outside a
// request use it, for example transfer.CodecUsers to carry user index
// entries. It decrypts every session in the store: keep it in the process.
func (m *Manager) Codec() *codec.Pipeline { return m.codec }

// newID returns a fresh session ID: 256 bits from crypto/rand, base64url.
func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read does not fail on supported platforms.
		panic("session: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const idLength = 43 // base64url of 32 bytes, unpadded

func validID(id string) bool {
	if len(id) != idLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// storeKey returns the store key of a session ID: its SHA-256, base64url.
// The ID has 256 bits of entropy, so the hash can neither be reversed nor
// guessed, and a dump of the store holds no usable session ID. The hash is
// not keyed, so rotating the secret does not move the records.
func (m *Manager) storeKey(id string) string {
	// Hash a copy on the stack: []byte(id) of a 43-byte ID would be
	// allocated on the heap.
	var buf [64]byte
	var sum [sha256.Size]byte
	if len(id) <= len(buf) {
		sum = sha256.Sum256(append(buf[:0], id...))
	} else {
		sum = sha256.Sum256([]byte(id))
	}
	var out [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(out[:], sum[:])
	return string(out[:])
}

// warnInsecure logs, once per manager, that a persistent session cookie
// (one that outlives the browser session) went out without Secure: a
// browser then sends it over plain HTTP too, where anyone on the path can
// read it. Behind a proxy that terminates TLS, the manager sees plain HTTP
// unless WithTrustForwardedProto is set; in production, set
// cookies.SecureAlways.
func (m *Manager) warnInsecure(r *http.Request) {
	m.insecureOnce.Do(func() {
		m.logger.WarnContext(r.Context(), "session: a persistent session cookie was sent without the Secure attribute; "+
			"use cookies.Config{Secure: cookies.SecureAlways} in production, or WithTrustForwardedProto behind a proxy that terminates TLS",
			"host", r.Host)
	})
}
