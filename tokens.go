package session

import (
	"context"
	"net/http"
)

// maxSessionCookies bounds how many cookies of the session's name one
// request makes the manager verify. A request may legitimately carry more
// than one: a cookie planted by a sibling subdomain or over plain HTTP
// (cookie tossing) is sent along with the user's own, often first.
const maxSessionCookies = 4

// cookieToken returns the first non-empty value among the first
// maxSessionCookies cookies of the session's name, or "".
func (m *Manager) cookieToken(r *http.Request) string {
	for i, c := range r.CookiesNamed(m.cookie.CookieName()) {
		if i == maxSessionCookies {
			break
		}
		if c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// verifyToken returns the session ID the request's token tok carries.
// With a token header tok is the only token. With cookies, tok is the
// first non-empty cookie of the session's name (cookieToken); when it
// fails, the next ones, up to maxSessionCookies in all, are tried in
// order, and the first whose signature verifies and whose ID is well
// formed wins: a planted cookie cannot hide the user's own. When one wins,
// the cookies rejected before it are audited here as security events; when
// none does, the first one's error is returned for the caller to audit.
func (m *Manager) verifyToken(ctx context.Context, r *http.Request, tok string) (string, error) {
	name := m.cookie.CookieName()
	id, first := m.verifyOne(name, tok)
	if first == nil || m.tokenHeader != "" {
		return id, first
	}
	var rejected []error
	skipped := false
	for i, c := range r.CookiesNamed(name) {
		if i == maxSessionCookies {
			break
		}
		if c.Value == "" {
			continue
		}
		if !skipped && c.Value == tok {
			skipped = true // tried first
			continue
		}
		id, err := m.verifyOne(name, c.Value)
		if err != nil {
			rejected = append(rejected, err)
			continue
		}
		for _, err := range append([]error{first}, rejected...) {
			m.auditRejected(ctx, err.Error(), r.RemoteAddr)
			m.observer.Event(ctx, EventTamperedCookie)
		}
		return id, nil
	}
	for _, err := range rejected {
		m.auditRejected(ctx, err.Error(), r.RemoteAddr)
		m.observer.Event(ctx, EventTamperedCookie)
	}
	return "", first
}

func (m *Manager) verifyOne(name, tok string) (string, error) {
	id, err := m.signer.Verify(name, tok)
	if err == nil && !validID(id) {
		err = errMalformedID
	}
	return id, err
}
