package session

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/sessionkit/session/backends"
)

// ErrNoOperator is returned by RevokeUserAs and RevokeSessionAs when no
// operator is named: a revocation made on someone's behalf must say whose.
var ErrNoOperator = errors.New("session: revocation without an operator")

// RevokeUserAs is RevokeUser made on behalf of operator, a person or tool
// acting on someone else's sessions (an administrator, a support agent, a
// script): it destroys every session bound to userID except those whose
// handles are listed in except, and returns how many it revoked. Its
// audit record (event "user_revoked", when at least one session was
// revoked) carries the attribute "operator" with operator as given (it is
// not hashed: it names the member of staff, not the user) and the cause
// "admin". operator must not be empty (ErrNoOperator).
func (m *Manager) RevokeUserAs(ctx context.Context, operator, userID string, except ...string) (int, error) {
	if operator == "" {
		return 0, ErrNoOperator
	}
	ui, err := m.userIndex()
	if err != nil {
		return 0, err
	}
	keys, err := ui.UserKeys(ctx, userID)
	if err != nil {
		return 0, wrapStore("user index", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return slices.Contains(except, k) })
	return m.revokeKeys(ctx, ui, userID, keys, "admin", slog.String("operator", operator))
}

// RevokeSessionAs destroys, on behalf of operator, the one session of
// userID whose audit name is name (Manager.AuditName of its handle: the
// name under which the audit log records it, short enough to read out on a
// call). It reports whether such a live session was found and revoked (an
// empty name matches none); the session's next request starts a fresh,
// anonymous session. Its audit
// record is a "user_revoked" event with the session's name, the attribute
// "operator" (as given, not hashed) and the cause "admin". operator must
// not be empty (ErrNoOperator).
func (m *Manager) RevokeSessionAs(ctx context.Context, operator, userID, name string) (bool, error) {
	if operator == "" {
		return false, ErrNoOperator
	}
	ui, err := m.userIndex()
	if err != nil {
		return false, err
	}
	keys, err := ui.UserKeys(ctx, userID)
	if err != nil {
		return false, wrapStore("user index", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return name == "" || m.AuditName(k) != name })
	n, err := m.revokeKeys(ctx, ui, userID, keys, "admin", slog.String("operator", operator), slog.String("session", name))
	return n > 0, err
}

// revokeKeys revokes the sessions of userID stored under keys (RevokeUser,
// RevokeUserAs, RevokeSessionAs) and returns how many it destroyed. When
// it destroyed any, it reports EventUserRevoked and writes one audit record
// with the user, the count, cause and the attributes in extra. It stops at
// the first store error, after reporting what it had destroyed: those
// sessions are gone whatever happens next, and the audit log says so.
func (m *Manager) revokeKeys(ctx context.Context, ui backends.UserIndex, userID string, keys []string, cause string, extra ...slog.Attr) (int, error) {
	n := 0
	var err error
	for _, key := range keys {
		var revoked bool
		revoked, err = m.revoke(ctx, ui, userID, key)
		if revoked {
			n++
		}
		if err != nil {
			break
		}
	}
	if n > 0 {
		m.observer.Event(ctx, EventUserRevoked)
		attrs := append([]slog.Attr{m.userAttr(userID), slog.Int("count", n), slog.String("cause", cause)}, extra...)
		m.auditEvent(ctx, EventUserRevoked, "", attrs...)
	}
	return n, err
}
