package session

import (
	"net/http"
	"strings"
	"time"

	"github.com/sessionkit/session/cookies"
)

// writeHeaders sets the cookie (when asked), the cache headers that go with
// it, and the degraded header on the response. Callers hold s.mu.
func (s *Session) writeHeaders(cookie bool) {
	if s.sent || s.w == nil {
		return
	}
	h := s.w.Header()
	if s.report.Degraded() || s.toldDegraded {
		h.Set(s.m.degradedHeader, "true")
	}
	if !cookie || s.sec.aliasOf != "" { // a rotated-away ID never gets the new one (rotation.go)
		return
	}
	token, err := s.m.signer.Sign(s.m.cookie.CookieName(), s.id)
	if err != nil {
		s.m.logger.ErrorContext(s.r.Context(), "session: signing the session ID failed", "error", err)
		return
	}
	if s.m.tokenHeader != "" {
		h.Set(s.m.tokenHeader, token)
		noSharedCache(h, s.m.tokenHeader)
		s.out = sentHeaders{token: &token}
		return
	}
	var maxAge time.Duration
	if s.data.Persistent || s.m.cookieLifetime > 0 {
		maxAge = s.data.Deadline.Sub(s.m.now())
		if s.m.cookieLifetime > 0 && !s.data.Persistent && s.m.cookieLifetime < maxAge {
			maxAge = s.m.cookieLifetime
		}
	}
	secure := cookies.IsSecureRequest(s.r, s.m.trustProxy)
	c := s.m.cookie.New(token, maxAge, secure)
	if maxAge > 0 && !c.Secure {
		s.m.warnInsecure(s.r)
	}
	setCookie(h, c)
	noSharedCache(h, "Cookie")
	s.out = sentHeaders{cookie: c}
}

func (s *Session) expireToken() {
	h := s.w.Header()
	if s.m.tokenHeader != "" {
		h.Set(s.m.tokenHeader, "")
		noSharedCache(h, s.m.tokenHeader)
		empty := ""
		s.out = sentHeaders{token: &empty}
		return
	}
	c := s.m.cookie.Expired(cookies.IsSecureRequest(s.r, s.m.trustProxy))
	setCookie(h, c)
	noSharedCache(h, "Cookie")
	s.out = sentHeaders{cookie: c}
}

// sentHeaders is the token a commit put on the response (a Set-Cookie, or
// the token header), kept until the response is sent.
type sentHeaders struct {
	cookie *http.Cookie
	token  *string
}

// tokenCarrier is the request header the session token travels in: the
// header responses vary on.
func (m *Manager) tokenCarrier() string {
	if m.tokenHeader != "" {
		return m.tokenHeader
	}
	return "Cookie"
}

// finishHeaders runs just before the response headers are sent, after the
// last commit. Every response of a request that used its session varies on
// the session token, because its content may come from the session. The
// token a commit set, with its cache headers and the degraded header, is
// put back if something replaced it since: a handler wrapper with its own
// header map (http.TimeoutHandler) copies that map over the response's
// when it sends it, which drops what an explicit Commit had set. Callers
// hold s.mu.
func (s *Session) finishHeaders() {
	if !s.loaded || s.hijacked || s.sent || s.w == nil {
		return
	}
	h := s.w.Header()
	carrier := s.m.tokenCarrier()
	switch {
	case s.out.cookie != nil:
		setCookie(h, s.out.cookie)
		noSharedCache(h, carrier)
	case s.out.token != nil:
		h.Set(s.m.tokenHeader, *s.out.token)
		noSharedCache(h, carrier)
	default:
		addVary(h, carrier)
	}
	if s.report.Degraded() || s.toldDegraded {
		h.Set(s.m.degradedHeader, "true")
	}
}

// setCookie adds c, replacing an earlier Set-Cookie of the same name set by
// this package in the same response (a commit followed by a renewal).
func setCookie(h http.Header, c *http.Cookie) {
	prefix := c.Name + "="
	lines := h["Set-Cookie"]
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	if v := c.String(); v != "" {
		out = append(out, v)
	}
	h["Set-Cookie"] = out
}

// noSharedCache keeps shared caches from storing a response that sets the
// session token, without overriding a stricter choice of the handler:
// "no-store" is set when the handler set no Cache-Control, "private" is
// added when the handler's value allows shared caching; Vary gets the
// header the token travels in.
func noSharedCache(h http.Header, vary string) {
	cc := h.Get("Cache-Control")
	switch {
	case cc == "":
		h.Set("Cache-Control", "no-store")
	case hasDirective(cc, "no-store") || hasDirective(cc, "private"):
	default:
		parts := []string{"private"}
		for _, d := range strings.Split(cc, ",") {
			d = strings.TrimSpace(d)
			if d != "" && !strings.EqualFold(d, "public") && !strings.HasPrefix(strings.ToLower(d), "s-maxage") {
				parts = append(parts, d)
			}
		}
		h.Set("Cache-Control", strings.Join(parts, ", "))
	}
	addVary(h, vary)
}

// addVary adds name to the Vary header unless it is there (or "*").
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}

func hasDirective(cc, d string) bool {
	for _, part := range strings.Split(cc, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(name, d) {
			return true
		}
	}
	return false
}
