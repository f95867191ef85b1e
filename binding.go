package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sessionkit/session/codec"
)

// Binding: an opt-in check that a session is used by the client it was
// created for. A session records, when it is written, a digest of its
// client's User-Agent (WithUserAgentBinding) and a prefix of its client's
// address (WithIPBinding). A request whose session was recorded for
// another client gets a fresh, anonymous session instead, never the bound
// one, and the manager reports EventBindingFailed. The bound session is
// left as it is: its own client goes on using it.
//
// Both are off by default, for good reasons:
//
//   - A User-Agent changes with every browser update, and with some
//     settings (desktop mode on a phone, some privacy extensions): a bound
//     session ends then, and its user must log in again. The check is no
//     defence against an attacker who knows it is there: a User-Agent is
//     trivially copied. It stops the replay of a stolen cookie by tools
//     and scripts that send their own.
//   - A client's address changes all the time on mobile networks (carrier
//     NAT pools, switching between Wi-Fi and cellular) and with IPv6
//     privacy addresses; binding to a full address logs such users out
//     many times a day. Bind to a prefix (24 bits of IPv4, 48 of IPv6 at
//     most), and only where users connect from stable networks (an office
//     application behind a known egress).
//
// A session written before binding was enabled is bound at its next write.

// WithUserAgentBinding binds every session to the User-Agent of the client
// that wrote it: a request with another User-Agent gets a fresh session
// and EventBindingFailed is reported. Off by default: every browser
// update changes the User-Agent and ends its sessions (see the package
// documentation of binding).
func WithUserAgentBinding() Option {
	return func(c *config) error {
		c.sec.bindUA = true
		return nil
	}
}

// WithIPBinding binds every session to its client's network: the first
// v4Bits bits of an IPv4 address, v6Bits of an IPv6 one (the client's
// address as WithClientIPHeader configures it). A request from another
// network, or another address family, gets a fresh session and
// EventBindingFailed is reported. Off by default: addresses change
// constantly on mobile networks; prefer short prefixes (16 to 24 bits of
// IPv4, 32 to 48 of IPv6).
func WithIPBinding(v4Bits, v6Bits int) Option {
	return func(c *config) error {
		if v4Bits < 1 || v4Bits > 32 || v6Bits < 1 || v6Bits > 128 {
			return fmt.Errorf("WithIPBinding(%d, %d): need 1..32 bits for IPv4 and 1..128 for IPv6", v4Bits, v6Bits)
		}
		c.sec.bindIPv4, c.sec.bindIPv6 = v4Bits, v6Bits
		return nil
	}
}

// bindingMismatch returns why the session d may not serve request r (""
// when it may): it is bound to another User-Agent or network.
func (m *Manager) bindingMismatch(r *http.Request, d *codec.Data) string {
	sc := &m.sec
	if !sc.bindUA && sc.bindIPv4 == 0 {
		return ""
	}
	md, ok := m.readMetadata(d)
	if !ok {
		return ""
	}
	if sc.bindUA && md.BindUA != "" && md.BindUA != userAgentHash(r.UserAgent()) {
		return "user agent"
	}
	if sc.bindIPv4 > 0 && md.BindIP != "" && md.BindIP != truncateAddr(m.clientIP(r), sc.bindIPv4, sc.bindIPv6) {
		return "network"
	}
	return ""
}

// checkBinding reports whether the session d, loaded under key, may serve
// s's request; when it may not, it reports EventBindingFailed.
func (m *Manager) checkBinding(ctx context.Context, s *Session, key string, d *codec.Data) bool {
	reason := m.bindingMismatch(s.r, d)
	if reason == "" {
		return true
	}
	m.observer.Event(ctx, EventBindingFailed)
	m.auditEvent(ctx, EventBindingFailed, key,
		slog.String("reason", reason),
		slog.String("remote", s.r.RemoteAddr))
	return false
}

// userAgentHash returns the digest of a User-Agent kept by a bound
// session: 128 bits of SHA-256, base64url. It is kept inside the encrypted
// record, so it need not be keyed.
func userAgentHash(ua string) string {
	sum := sha256.Sum256([]byte(ua))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
