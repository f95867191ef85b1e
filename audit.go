package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"log/slog"
	"sync"

	"github.com/sessionkit/session/codec"
)

// Audit events
//
// The manager writes one structured log record (log/slog) for each event of
// a session's life and each security event:
//
//	event            level (default)  message
//	created          audit level      session: created
//	renewed          audit level      session: renewed
//	destroyed        audit level      session: destroyed
//	expired          audit level      session: expired
//	user_revoked     audit level      session: user sessions revoked
//	failover         audit level      session: store failed over to the fallback
//	recovered        audit level      session: primary store recovered
//	tampered_cookie  Warn             session: rejected session token
//	undecodable      Warn             session: stored session cannot be decoded
//	csrf_rejected    Warn             session: request refused by the CSRF check
//	binding_failed   Warn             session: session bound to another client refused
//
// The audit level defaults to slog.LevelDebug, so that with a handler at
// the usual Info level only the security events are written. Every record
// carries the attribute "event" (the Event's name). A session appears only
// as "session", and a user only as "user": 12 characters of an HMAC-SHA256
// of the session's store key or of the user ID, under a key derived with
// HKDF from the newest secret (WithSecret) or, without one, from the newest
// cookie key. The same session or user has the same name in every record
// (until that secret is rotated), so records can be correlated, but the
// names cannot be turned back into session IDs, and user IDs cannot be
// recovered by hashing guesses without the key. Manager.AuditName maps a
// session handle (Session.Handle, SessionInfo.Handle) to its name in the
// audit log. Session values, raw session IDs and cookie or token values are
// never logged.

const auditHashLength = 12

// auditConfig is the Manager's audit configuration.
type auditConfig struct {
	logger   *slog.Logger // nil: the manager's logger
	level    slog.Leveler // nil: slog.LevelDebug
	security slog.Leveler // nil: slog.LevelWarn
	mac      sync.Pool    // of hash.Hash: HMAC-SHA256 under the audit key
}

// finishAudit derives the audit hashing key, from the newest secret or,
// without one, from the newest cookie signing key.
func (c *config) finishAudit(signKeys [][]byte) error {
	var base []byte
	switch {
	case len(c.secrets) > 0:
		base = c.secrets[0]
	case len(signKeys) > 0:
		base = signKeys[0]
	default:
		return errors.New("no secret: use WithSecret (or WithCookieKeys)")
	}
	key, err := codec.DeriveKey(base, "audit log names")
	if err != nil {
		return err
	}
	c.audit.mac.New = func() any { return hmac.New(sha256.New, key) }
	return nil
}

// WithAuditLogger sets the logger that receives audit events (see the
// table in the package's audit documentation: created, renewed, destroyed,
// expired, user revoked, fail-over, recovery, tampered cookie, undecodable
// session). The default is the logger of WithLogger, itself slog.Default()
// by default.
func WithAuditLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("WithAuditLogger: nil logger")
		}
		c.audit.logger = l
		return nil
	}
}

// WithAuditLevel sets the level of the lifecycle audit events (created,
// renewed, destroyed, expired, user revoked, fail-over, recovery). The
// default, slog.LevelDebug, keeps them out of a log at the usual Info
// level; pass slog.LevelInfo to keep an audit trail. A slog.LevelVar may
// be passed to change the level while serving.
func WithAuditLevel(level slog.Leveler) Option {
	return func(c *config) error {
		if level == nil {
			return errors.New("WithAuditLevel: nil level")
		}
		c.audit.level = level
		return nil
	}
}

// WithSecurityAuditLevel sets the level of the security audit events (a
// rejected cookie or token, a stored session that cannot be decoded, a
// request refused by a CSRF check). The
// default is slog.LevelWarn. These events are what an attack or a key
// misconfiguration looks like; lowering their level hides them.
func WithSecurityAuditLevel(level slog.Leveler) Option {
	return func(c *config) error {
		if level == nil {
			return errors.New("WithSecurityAuditLevel: nil level")
		}
		c.audit.security = level
		return nil
	}
}

var auditMessages = [...]string{
	EventCreated:        "session: created",
	EventRenewed:        "session: renewed",
	EventDestroyed:      "session: destroyed",
	EventExpired:        "session: expired",
	EventTamperedCookie: "session: rejected session token",
	EventUndecodable:    "session: stored session cannot be decoded",
	EventUserRevoked:    "session: user sessions revoked",
	EventFailover:       "session: store failed over to the fallback",
	EventRecovered:      "session: primary store recovered",
	EventCSRFRejected:   "session: request refused by the CSRF check",
	EventBindingFailed:  "session: session bound to another client refused",
}

func (e Event) auditMessage() string {
	if e > 0 && int(e) < len(auditMessages) {
		return auditMessages[e]
	}
	return "session: " + e.String()
}

func (m *Manager) auditLogger() *slog.Logger {
	if m.audit.logger != nil {
		return m.audit.logger
	}
	return m.logger
}

func (m *Manager) auditLevel(e Event) slog.Level {
	if e.Security() {
		if m.audit.security != nil {
			return m.audit.security.Level()
		}
		return slog.LevelWarn
	}
	if m.audit.level != nil {
		return m.audit.level.Level()
	}
	return slog.LevelDebug
}

// auditEvent writes the audit record of e. key is the store key (handle)
// of the session concerned ("" when there is none); attrs must not carry
// session data, IDs or cookie values.
func (m *Manager) auditEvent(ctx context.Context, e Event, key string, attrs ...slog.Attr) {
	l := m.auditLogger()
	level := m.auditLevel(e)
	if !l.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, len(attrs)+2)
	all = append(all, slog.String("event", e.String()))
	if key != "" {
		all = append(all, slog.String("session", m.AuditName(key)))
	}
	all = append(all, attrs...)
	l.LogAttrs(ctx, level, e.auditMessage(), all...)
}

// auditHash returns 12 characters of the HMAC of domain and v under the
// audit key.
func (m *Manager) auditHash(domain byte, v string) string {
	h := m.audit.mac.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte{domain})
	io.WriteString(h, v)
	var sum [sha256.Size]byte
	out := h.Sum(sum[:0])
	m.audit.mac.Put(h)
	return base64.RawURLEncoding.EncodeToString(out)[:auditHashLength]
}

// AuditName returns the name under which the audit log records the session
// with the given handle (Session.Handle, SessionInfo.Handle), to find a
// listed session's events in the log. It is "" for an empty handle.
func (m *Manager) AuditName(handle string) string {
	if handle == "" {
		return ""
	}
	return m.auditHash('s', handle)
}

// userAttr returns the "user" audit attribute of userID.
func (m *Manager) userAttr(userID string) slog.Attr {
	return slog.String("user", m.auditHash('u', userID))
}

// auditRejected audits a token that failed verification. reason says why
// (it never quotes the token); remote is the client's address.
func (m *Manager) auditRejected(ctx context.Context, reason, remote string) {
	m.auditEvent(ctx, EventTamperedCookie, "", slog.String("reason", reason), slog.String("remote", remote))
}

// auditUndecodable audits a stored record under key that failed to decode.
func (m *Manager) auditUndecodable(ctx context.Context, key, reason string) {
	m.auditEvent(ctx, EventUndecodable, key, slog.String("reason", reason))
}

// auditRevoked audits the revocation of n sessions of userID; cause is
// "revoke" (RevokeUser) or "limit" (WithMaxSessionsPerUser).
func (m *Manager) auditRevoked(ctx context.Context, userID string, n int, cause string) {
	m.auditEvent(ctx, EventUserRevoked, "", m.userAttr(userID), slog.Int("count", n), slog.String("cause", cause))
}
