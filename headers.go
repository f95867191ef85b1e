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
	setCookie(h, s.m.cookie.New(token, maxAge, secure))
	noSharedCache(h, "Cookie")
}

func (s *Session) expireToken() {
	h := s.w.Header()
	if s.m.tokenHeader != "" {
		h.Set(s.m.tokenHeader, "")
		noSharedCache(h, s.m.tokenHeader)
		return
	}
	setCookie(h, s.m.cookie.Expired(cookies.IsSecureRequest(s.r, s.m.trustProxy)))
	noSharedCache(h, "Cookie")
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
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, vary) {
				return
			}
		}
	}
	h.Add("Vary", vary)
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
