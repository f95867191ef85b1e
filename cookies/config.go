package cookies

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// SecureMode decides when the session cookie carries the Secure attribute,
// which keeps browsers from sending it over plain HTTP.
type SecureMode int

const (
	// SecureAuto sets Secure on cookies issued in response to TLS requests
	// (see IsSecureRequest) and omits it otherwise. It is the zero value:
	// convenient for development over http://localhost, but a cookie issued
	// over plain HTTP can later be sent, and sniffed, over plain HTTP.
	SecureAuto SecureMode = iota
	// SecureAlways always sets Secure. Use it in production; it is required
	// by HostPrefix, Partitioned and SameSite None.
	SecureAlways
	// SecureNever never sets Secure. The cookie travels in clear text over
	// any plain-HTTP request to the site: only for tests and local use.
	SecureNever
)

// String returns the constant's name.
func (m SecureMode) String() string {
	switch m {
	case SecureAuto:
		return "SecureAuto"
	case SecureAlways:
		return "SecureAlways"
	case SecureNever:
		return "SecureNever"
	}
	return fmt.Sprintf("SecureMode(%d)", int(m))
}

const (
	// DefaultName is the cookie name WithDefaults fills in.
	DefaultName = "session"
	// DefaultPath is the cookie path WithDefaults fills in: the whole site.
	DefaultPath = "/"
	// hostPrefix is the name prefix that makes browsers enforce Secure,
	// Path=/ and no Domain.
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// Config holds the attributes of the session-ID cookie. The zero value is
// not valid: call WithDefaults, then Validate once at construction time, and
// treat the result as read-only.
type Config struct {
	// Name is the cookie name, an RFC 6265 token other than '|' (which the
	// signature format reserves), without the "__Host-" prefix (see
	// HostPrefix). Default "session". Names that begin with
	// "__Host-" or "__Secure-" are rejected unless the rules those prefixes
	// stand for hold; use HostPrefix instead of spelling "__Host-" here.
	Name string

	// Domain is the Domain attribute. Default "" (host-only: the cookie is
	// sent only to the host that set it). Setting it shares the cookie, and
	// so the session, with every subdomain, including ones you may not
	// control; prefer leaving it empty.
	Domain string

	// Path is the Path attribute and must begin with "/". Default "/".
	// Path is not a security boundary: other paths on the same origin can
	// still read the cookie through script unless HttpOnly is set.
	Path string

	// HttpOnly hides the cookie from JavaScript (document.cookie), so that
	// a cross-site-scripting bug cannot steal the session ID. The zero
	// value is false; the session manager turns it on by default.
	HttpOnly bool

	// SameSite is the SameSite attribute. Default http.SameSiteLaxMode,
	// which withholds the cookie from cross-site subrequests and POSTs and
	// so blunts CSRF. http.SameSiteStrictMode also withholds it on
	// cross-site top-level navigation. http.SameSiteNoneMode sends it
	// everywhere (needed for cross-site embedding) and requires
	// SecureAlways. http.SameSiteDefaultMode omits the attribute and leaves
	// the choice to the browser.
	SameSite http.SameSite

	// Partitioned sets the Partitioned attribute (CHIPS): in a third-party
	// context the browser keeps a separate cookie per top-level site.
	// Default false. Requires SecureAlways.
	Partitioned bool

	// HostPrefix prefixes the name with "__Host-", which makes browsers
	// refuse the cookie unless it is Secure, has Path "/" and no Domain.
	// That stops a subdomain or a plain-HTTP response from overwriting
	// the session cookie (session fixation). Default false; recommended
	// in production. Requires SecureAlways, Path "/" and an empty Domain.
	HostPrefix bool

	// Secure decides the Secure attribute. Default SecureAuto.
	Secure SecureMode
}

// WithDefaults returns a copy of c with the documented defaults filled into
// zero fields: Name "session", Path "/", SameSite Lax. Boolean fields and
// Secure (whose zero value, SecureAuto, is itself the default) are left as
// they are.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	return c
}

// Validate reports whether c describes a cookie that browsers will accept
// and that keeps its security properties. Every error wraps
// ErrInvalidConfig. It checks:
//   - Name is a non-empty RFC 6265 token without '|'; a "__Host-" or
//     "__Secure-" prefix spelled in the name must satisfy its rules;
//   - Path begins with "/" and holds only bytes allowed in a cookie path;
//   - Domain, if set, is a valid domain name or IPv4 address;
//   - SameSite is one of the http.SameSite constants and Secure one of the
//     SecureMode constants;
//   - HostPrefix has SecureAlways, Path "/" and no Domain;
//   - Partitioned and SameSite None have SecureAlways.
//
// Validate does not apply defaults: a zero Config is invalid.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if c.Name == "" {
		return bad("empty cookie name")
	}
	if !isToken(c.Name) {
		return bad("cookie name %q is not an RFC 6265 token", c.Name)
	}
	if strings.IndexByte(c.Name, '|') >= 0 {
		return bad("cookie name %q contains \"|\", which the signature format reserves", c.Name)
	}
	if hasPrefixFold(c.Name, hostPrefix) {
		return bad("cookie name %q: set HostPrefix instead of writing the %q prefix", c.Name, hostPrefix)
	}
	if hasPrefixFold(c.Name, securePrefix) && c.Secure != SecureAlways {
		return bad("cookie name %q: the %q prefix requires Secure: SecureAlways", c.Name, securePrefix)
	}
	if !strings.HasPrefix(c.Path, "/") {
		return bad("cookie path %q must begin with \"/\"", c.Path)
	}
	switch c.SameSite {
	case http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode:
	case 0:
		return bad("SameSite not set (WithDefaults sets Lax)")
	default:
		return bad("unknown SameSite value %d", int(c.SameSite))
	}
	switch c.Secure {
	case SecureAuto, SecureAlways, SecureNever:
	default:
		return bad("unknown %v", c.Secure)
	}
	if c.HostPrefix {
		if c.Secure != SecureAlways {
			return bad("HostPrefix requires Secure: SecureAlways, got %v", c.Secure)
		}
		if c.Path != "/" {
			return bad("HostPrefix requires Path \"/\", got %q", c.Path)
		}
		if c.Domain != "" {
			return bad("HostPrefix forbids a Domain, got %q", c.Domain)
		}
	}
	if c.Partitioned && c.Secure != SecureAlways {
		return bad("Partitioned requires Secure: SecureAlways, got %v", c.Secure)
	}
	if c.SameSite == http.SameSiteNoneMode && c.Secure != SecureAlways {
		return bad("SameSite None requires Secure: SecureAlways, got %v", c.Secure)
	}
	// Path bytes, Domain syntax and the remaining attribute rules, exactly
	// as net/http will serialize them.
	if err := c.New("", time.Hour, true).Valid(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// CookieName returns the name the cookie is sent under: Name, prefixed with
// "__Host-" when HostPrefix is set. Pass it to Signer.Sign and Signer.Verify.
func (c Config) CookieName() string {
	if c.HostPrefix {
		return hostPrefix + c.Name
	}
	return c.Name
}

// New returns the session cookie carrying value (a value from Signer.Sign).
//
// maxAge 0 (or negative) makes a browser-session cookie: no Max-Age or
// Expires, so the browser drops it when it closes. A positive maxAge sets
// Max-Age in seconds, rounded up, and Expires to the same instant for old
// clients; the cookie then survives browser restarts (remember me).
//
// secureRequest says whether the request arrived over TLS (see
// IsSecureRequest); it matters only for SecureAuto.
//
// New assumes c passed Validate.
func (c Config) New(value string, maxAge time.Duration, secureRequest bool) *http.Cookie {
	ck := c.base(secureRequest)
	ck.Value = value
	if maxAge > 0 {
		// Clamped to what an int holds on every platform (68 years);
		// browsers cap it at 400 days anyway.
		secs := min(ceilSeconds(maxAge), math.MaxInt32)
		ck.MaxAge = int(secs)
		ck.Expires = time.Now().Add(secs * time.Second).UTC()
	}
	return ck
}

// Expired returns a cookie that makes the browser delete the session cookie
// at once: empty value, Max-Age=0 (MaxAge -1) and an Expires in 1970, with the
// same name, Path, Domain and attributes as New, which browsers need to match
// the cookie being replaced.
func (c Config) Expired(secureRequest bool) *http.Cookie {
	ck := c.base(secureRequest)
	ck.MaxAge = -1
	ck.Expires = time.Unix(0, 0).UTC()
	return ck
}

func (c Config) base(secureRequest bool) *http.Cookie {
	return &http.Cookie{
		Name:        c.CookieName(),
		Path:        c.Path,
		Domain:      c.Domain,
		HttpOnly:    c.HttpOnly,
		SameSite:    c.SameSite,
		Partitioned: c.Partitioned,
		Secure:      c.secure(secureRequest),
	}
}

func (c Config) secure(secureRequest bool) bool {
	switch c.Secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	return secureRequest
}

// IsSecureRequest reports whether r arrived over TLS: r.TLS is set, or, when
// trustForwardedProto is true, the first X-Forwarded-Proto value is "https".
//
// Trust the header only behind a reverse proxy that terminates TLS and
// overwrites X-Forwarded-Proto: otherwise any client can send it. Wrongly
// answering true sets Secure on a cookie served over plain HTTP, which
// browsers then refuse to store or send back; wrongly answering false (for
// SecureAuto) drops Secure and lets the cookie travel in clear text.
func IsSecureRequest(r *http.Request, trustForwardedProto bool) bool {
	if r.TLS != nil {
		return true
	}
	if !trustForwardedProto {
		return false
	}
	proto := r.Header.Get("X-Forwarded-Proto")
	if i := strings.IndexByte(proto, ','); i >= 0 {
		proto = proto[:i]
	}
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// isToken reports whether s is an RFC 2616 token, the grammar RFC 6265 uses
// for cookie names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
