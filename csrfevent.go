package session

import "log/slog"

// ReportCSRFRejected reports that the request of s was refused by a check
// against cross-site request forgery. The manager's Observer receives
// EventCSRFRejected, and the audit log a record at the security level
// (Warn by default) with the reason, the request's method and path, the
// client's address and, when the request carried a live stored session,
// the session's audit name. reason must not quote the token or any other
// secret.
//
// Package csrf calls it for every request it refuses; an application with a
// check of its own can call it too. It does not load the session.
func (s *Session) ReportCSRFRejected(reason string) {
	s.mu.Lock()
	key := ""
	if s.loaded && s.base == baseStored {
		key = s.key
	}
	s.mu.Unlock()
	ctx := s.r.Context()
	s.m.observer.Event(ctx, EventCSRFRejected)
	s.m.auditEvent(ctx, EventCSRFRejected, key,
		slog.String("reason", reason),
		slog.String("method", s.r.Method),
		slog.String("path", s.r.URL.Path),
		slog.String("remote", s.r.RemoteAddr))
}
