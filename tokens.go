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

// verifyToken returns the session ID the request's token carries. With a
// token header there is one token, tok. With cookies, each of the first
// maxSessionCookies cookies of the session's name is tried in order and
// the first whose signature verifies and whose ID is well formed wins:
// a planted cookie cannot hide the user's own. The cookies rejected on the
// way are audited as security events; when none verifies, the first one's
// error is returned for the caller to audit.
func (m *Manager) verifyToken(ctx context.Context, r *http.Request, tok string) (string, error) {
	name := m.cookie.CookieName()
	if m.tokenHeader != "" {
		return m.verifyOne(name, tok)
	}
	var first error
	for i, c := range r.CookiesNamed(name) {
		if i == maxSessionCookies {
			break
		}
		if c.Value == "" {
			continue
		}
		id, err := m.verifyOne(name, c.Value)
		if err == nil {
			return id, nil
		}
		if first == nil {
			first = err
			continue
		}
		m.auditRejected(ctx, err.Error(), r.RemoteAddr)
		m.observer.Event(ctx, EventTamperedCookie)
	}
	if first == nil {
		first = errMalformedID // not reached: tok came from these cookies
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
