package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/changeset"
)

// Devices: what a "my devices" page shows of each session (see
// SessionInfo), kept in the session's encrypted record.
//
// The manager keeps, under the reserved session value MetadataKey, when the
// session was last written, when its current ID was issued, the client's
// address as configured (WithDeviceIP), a short summary of the client's
// User-Agent ("Firefox on Linux"), and what the session is bound to
// (WithUserAgentBinding, WithIPBinding). The value is written only when the
// session is written anyway: it never costs a store operation of its own.
// A read that only touches the session (the idle-deadline extension) moves
// SessionInfo.LastSeen through the record's expiry.

// MetadataKey is the session value under which the manager keeps a
// session's device metadata (see SessionInfo). Session.Keys does not
// list it; applications must not set or delete it. Clear removes it with
// the other values, and the manager writes it again with the same save.
const MetadataKey = "session.meta"

// metadata is the value kept under MetadataKey. Times are Unix
// milliseconds.
type metadata struct {
	Seen   int64  `json:"s,omitempty"`  // last write
	Since  int64  `json:"id,omitempty"` // when the current ID was issued
	IP     string `json:"ip,omitempty"` // client address as recorded (WithDeviceIP)
	UA     string `json:"ua,omitempty"` // User-Agent summary
	BindUA string `json:"bu,omitempty"` // hash of the bound User-Agent
	BindIP string `json:"bi,omitempty"` // bound address prefix
}

// maxMetadataSize bounds the metadata value a record may carry: what the
// manager writes is far smaller; anything bigger is ignored.
const maxMetadataSize = 512

// readMetadata returns the metadata d holds, and whether it holds any. The
// value is serialized like every other value, with the pipeline's
// serializer, so that a pipeline reading a blob of another serializer
// converts it with the rest.
func (m *Manager) readMetadata(d *codec.Data) (metadata, bool) {
	var md metadata
	raw, ok := d.Values[MetadataKey]
	if !ok || len(raw) > maxMetadataSize || m.codec.Serializer().Unmarshal(raw, &md) != nil {
		return metadata{}, false
	}
	return md, true
}

// securityConfig holds the settings of devices, binding and rotation.
type securityConfig struct {
	// Client address: recorded prefix lengths (0: not recorded), the
	// header that carries it behind proxies, and the proxies trusted.
	ipV4, ipV6 int
	ipHeader   string
	proxies    []netip.Prefix
	// Binding (binding.go).
	bindUA             bool
	bindIPv4, bindIPv6 int
	// Rotation (rotation.go).
	rotation time.Duration
	grace    time.Duration
	graceSet bool
}

// finish checks the settings that depend on each other.
func (sc *securityConfig) finish() error {
	if sc.graceSet && sc.rotation == 0 {
		return errors.New("WithRotationGrace without WithRotationInterval")
	}
	if !sc.graceSet {
		sc.grace = DefaultRotationGrace
	}
	return nil
}

// WithDeviceIP makes every session record its client's address when it is
// written, as listed by UserSessions (SessionInfo.IP), truncated to the
// first v4Bits bits of an IPv4 address and v6Bits bits of an IPv6 one:
// WithDeviceIP(24, 48) records networks such as "203.0.113.0/24" and
// "2001:db8:1::/48", WithDeviceIP(32, 128) full addresses. The default
// records no address: an address is personal data, and a network prefix
// is usually enough for a user to recognise a device. The address is kept
// inside the encrypted session record only.
//
// The address is the request's RemoteAddr, or behind a proxy the one
// configured with WithClientIPHeader.
func WithDeviceIP(v4Bits, v6Bits int) Option {
	return func(c *config) error {
		if v4Bits < 1 || v4Bits > 32 || v6Bits < 1 || v6Bits > 128 {
			return fmt.Errorf("WithDeviceIP(%d, %d): need 1..32 bits for IPv4 and 1..128 for IPv6", v4Bits, v6Bits)
		}
		c.sec.ipV4, c.sec.ipV6 = v4Bits, v6Bits
		return nil
	}
}

// WithClientIPHeader takes the client's address (for WithDeviceIP and
// WithIPBinding) from request header name, such as "X-Forwarded-For" or
// "X-Real-IP", as set by a reverse proxy in front of the application.
//
// The header is a comma-separated list of addresses (with or without
// ports), each proxy appending the address it received the request from;
// the manager reads it from the right. With trustedProxies, the header is
// used only on requests that come from one of them (RemoteAddr), and
// addresses of trusted proxies in it are skipped, so that the first
// address from the right outside them is the client's. Without
// trustedProxies every request's header is believed, as with
// WithTrustForwardedProto: set it so only when every request reaches the
// application through a proxy that sets the header itself, or clients
// choose the address they are recorded and bound with. A missing or
// malformed header gives RemoteAddr.
func WithClientIPHeader(name string, trustedProxies ...netip.Prefix) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return fmt.Errorf("WithClientIPHeader: invalid header name %q", name)
		}
		for _, p := range trustedProxies {
			if !p.IsValid() {
				return fmt.Errorf("WithClientIPHeader: invalid proxy prefix %v", p)
			}
		}
		c.sec.ipHeader = http.CanonicalHeaderKey(name)
		c.sec.proxies = make([]netip.Prefix, len(trustedProxies))
		for i, p := range trustedProxies {
			c.sec.proxies[i] = p.Masked()
		}
		return nil
	}
}

// maxForwardedAddrs bounds how many addresses of the client-IP header are
// read.
const maxForwardedAddrs = 32

// clientIP returns the address of r's client (see WithClientIPHeader), or
// the zero Addr when it cannot be told.
func (m *Manager) clientIP(r *http.Request) netip.Addr {
	remote := parseAddr(r.RemoteAddr)
	sc := &m.sec
	if sc.ipHeader == "" {
		return remote
	}
	if len(sc.proxies) > 0 && !sc.trusted(remote) {
		return remote
	}
	vals := r.Header.Values(sc.ipHeader)
	seen := 0
	for i := len(vals) - 1; i >= 0; i-- {
		rest := vals[i]
		for rest != "" && seen < maxForwardedAddrs {
			var part string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, part = rest[:j], rest[j+1:]
			} else {
				rest, part = "", rest
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			seen++
			a := parseAddr(part)
			if !a.IsValid() {
				return remote
			}
			if len(sc.proxies) > 0 && sc.trusted(a) {
				continue
			}
			return a
		}
	}
	return remote
}

func (sc *securityConfig) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range sc.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr parses "addr", "addr:port" or "[addr]:port", without zone,
// IPv4-mapped IPv6 addresses unmapped.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	return netip.Addr{}
}

// truncateAddr returns a as text, truncated to v4 or v6 bits: the address
// itself when no bit is dropped, the network prefix otherwise, "" when a
// is invalid or its family is not recorded (0 bits).
func truncateAddr(a netip.Addr, v4, v6 int) string {
	if !a.IsValid() {
		return ""
	}
	bits := v6
	if a.Is4() {
		bits = v4
	}
	if bits <= 0 {
		return ""
	}
	if bits >= a.BitLen() {
		return a.String()
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// stampMetadata brings the session's metadata up to date before a write
// at now: last write, the ID's issue time (now when the write gives the
// session a new ID), the client's address and User-Agent summary, and
// the binding. It is recorded in the change set when the change set
// already holds changes, so that a fail-over store's replay carries it;
// it never makes a clean session dirty (a rotation writes the record
// whole). Callers hold s.mu.
func (s *Session) stampMetadata(now time.Time) {
	m := s.m
	md, _ := m.readMetadata(&s.data)
	md.Seen = now.UnixMilli()
	if md.Since == 0 || s.renewed || s.oldKey != "" || s.base == baseNone || s.sec.rotating {
		md.Since = now.UnixMilli()
	}
	ua := s.r.UserAgent()
	md.UA = summarizeUserAgent(ua)
	var ip netip.Addr
	if m.sec.ipV4 > 0 || m.sec.bindIPv4 > 0 {
		ip = m.clientIP(s.r)
	}
	md.IP = truncateAddr(ip, m.sec.ipV4, m.sec.ipV6)
	md.BindUA, md.BindIP = "", ""
	if m.sec.bindUA {
		md.BindUA = userAgentHash(ua)
	}
	if m.sec.bindIPv4 > 0 {
		md.BindIP = truncateAddr(ip, m.sec.bindIPv4, m.sec.bindIPv6)
	}
	raw, err := m.codec.Serializer().Marshal(md)
	if err != nil || bytes.Equal(raw, s.data.Values[MetadataKey]) {
		return
	}
	if s.data.Values == nil {
		s.data.Values = make(map[string][]byte)
	}
	s.data.Values[MetadataKey] = raw
	if !s.changes.Empty() && !s.sec.rotating {
		s.changes.Add(changeset.Op{Kind: changeset.Put, Key: MetadataKey, Value: raw})
	}
}

// describe fills in the device fields of info from the stored session d.
func (m *Manager) describe(info *SessionInfo, d *codec.Data) {
	md, ok := m.readMetadata(d)
	if !ok {
		return
	}
	info.IP, info.UserAgent = md.IP, md.UA
	if md.Seen != 0 {
		if seen := time.UnixMilli(md.Seen); seen.After(info.LastSeen) {
			info.LastSeen = seen
		}
	}
}

// RevokeSession destroys the one session of userID whose handle is handle
// (SessionInfo.Handle, as listed by UserSessions): the "log out" button of
// one line of a "my devices" page. It reports whether a live session of
// userID was found under handle and revoked; a handle of another user's
// session, or of no session, revokes nothing. The session's next request
// starts a fresh, anonymous session. The revocation is audited as a
// "user_revoked" event with the cause "revoke".
//
// To end the current session, use Session.Destroy instead: it also
// expires the cookie.
func (m *Manager) RevokeSession(ctx context.Context, userID, handle string) (bool, error) {
	ui, err := m.userIndex()
	if err != nil {
		return false, err
	}
	if userID == "" || !validID(handle) {
		return false, nil
	}
	n, err := m.revokeKeys(ctx, ui, userID, []string{handle}, "revoke")
	if err != nil {
		return n > 0, fmt.Errorf("session: revoke session: %w", err)
	}
	return n > 0, nil
}
