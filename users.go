package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sessionkit/session/backends"
)

// ErrNoUserIndex is returned by the user functions when the store keeps no
// user index (it does not implement backends.UserIndex).
var ErrNoUserIndex = errors.New("session: store has no user index")

// SessionInfo describes one session of a user, as listed by UserSessions.
type SessionInfo struct {
	// Handle identifies the session without revealing its ID (see
	// Session.Handle).
	Handle string
	// Created is when the session was created (kept across renewals).
	Created time.Time
	// LastSeen is when the session was last used, to within the touch
	// interval.
	LastSeen time.Time
	// Expires is when the session ends unless it is used again.
	Expires time.Time
	// Persistent reports a remember-me session (see SetLifetime).
	Persistent bool
	// IP is the client's address when the session was last written, as
	// WithDeviceIP records it: a network such as "203.0.113.0/24", a full
	// address, or "" (the default records none).
	IP string
	// UserAgent is a short summary of the client's User-Agent when the
	// session was last written, such as "Firefox on Linux" (no versions).
	UserAgent string
}

func (m *Manager) userIndex() (backends.UserIndex, error) {
	ui, ok := m.store.(backends.UserIndex)
	if !ok {
		return nil, ErrNoUserIndex
	}
	return ui, nil
}

// UserSessions lists the live sessions bound to userID (see
// Session.SetUser), oldest first.
func (m *Manager) UserSessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	ui, err := m.userIndex()
	if err != nil {
		return nil, err
	}
	keys, err := ui.UserKeys(ctx, userID)
	if err != nil {
		return nil, wrapStore("user index", err)
	}
	now := m.now()
	infos := make([]SessionInfo, 0, len(keys))
	for _, key := range keys {
		rec, found, err := m.loadRecord(ctx, key)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		d, err := m.codec.Decode(rec.Blob, []byte(key))
		if err != nil || d.UserID != userID || !alive(now, rec, d) {
			continue // undecodable, rebound or dead: not this user's live session
		}
		idle := m.idle
		if d.IdleTimeout > 0 {
			idle = d.IdleTimeout
		}
		last := rec.Expiry.Add(-idle)
		if last.Before(d.Created) {
			last = d.Created
		}
		info := SessionInfo{Handle: key, Created: d.Created, LastSeen: last, Expires: rec.Expiry, Persistent: d.Persistent}
		m.describe(&info, d) // devices.go
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b SessionInfo) int { return a.Created.Compare(b.Created) })
	return infos, nil
}

// RevokeUser destroys every session bound to userID except those whose
// handles are listed in except (pass the current session's Handle to "log
// out everywhere else"). It returns how many sessions it revoked. A revoked
// session's next request starts a fresh, anonymous session.
func (m *Manager) RevokeUser(ctx context.Context, userID string, except ...string) (int, error) {
	ui, err := m.userIndex()
	if err != nil {
		return 0, err
	}
	keys, err := ui.UserKeys(ctx, userID)
	if err != nil {
		return 0, wrapStore("user index", err)
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return slices.Contains(except, k) })
	return m.revokeKeys(ctx, ui, userID, keys, "revoke")
}

// revoke deletes the session stored under key if it is bound to userID,
// and removes key from userID's index; it reports whether it deleted it.
func (m *Manager) revoke(ctx context.Context, ui backends.UserIndex, userID, key string) (bool, error) {
	// An index entry can outlive its binding (a request that saved before
	// the session was bound to another user may index it late): only a
	// record bound to userID is deleted.
	rec, found, err := m.loadRecord(ctx, key)
	if err != nil && !errors.Is(err, backends.ErrInvalidRecord) {
		return false, err
	}
	revoked := false
	if found {
		d, derr := m.codec.Decode(rec.Blob, []byte(key))
		if derr != nil || (d.UserID == userID && alive(m.now(), rec, d)) {
			if err := m.delete(ctx, key, m.now().Add(MaxSessionLifetime)); err != nil {
				return false, err
			}
			revoked = true
		}
	}
	if err := ui.RemoveUserKey(ctx, userID, key); err != nil {
		return revoked, wrapStore("user index", err)
	}
	return revoked, nil
}

// enforceUserLimit revokes the oldest sessions of userID beyond the
// configured maximum, never the session keep.
//
// During an outage of the store (its user index cannot be read: a
// fail-over store serves from its fallback) the limit is not enforced: the
// login goes on, and the limit is applied at the user's next login after
// the outage. A failure never costs the login its session or its cookie:
// the caller logs it.
//
// A store that implements backends.UserLimiter enforces the limit in one
// atomic step, so that concurrent logins of one user never revoke each
// other; other stores are listed and revoked step by step.
func (m *Manager) enforceUserLimit(ctx context.Context, userID, keep string) error {
	if ul, ok := m.store.(backends.UserLimiter); ok {
		revoked, err := ul.LimitUserKeys(ctx, userID, keep, m.maxPerUser)
		if errors.Is(err, errors.ErrUnsupported) {
			return m.enforceUserLimitStepwise(ctx, userID, keep)
		}
		if backends.IsUnavailable(err) && len(revoked) == 0 {
			m.logger.DebugContext(ctx, "session: per-user session limit not enforced during a store outage", "error", err)
			return nil
		}
		var errs []error
		if err != nil {
			errs = append(errs, wrapStore("limit", err))
			// Keys taken out of the index but maybe not deleted.
			for _, k := range revoked {
				if derr := m.delete(ctx, k, m.now().Add(MaxSessionLifetime)); derr != nil {
					errs = append(errs, derr)
				}
			}
		}
		if len(revoked) > 0 {
			m.observer.Event(ctx, EventUserRevoked)
			m.auditRevoked(ctx, userID, len(revoked), "limit")
		}
		if len(errs) > 0 {
			return fmt.Errorf("session: enforce per-user limit: %w", errors.Join(errs...))
		}
		return nil
	}
	return m.enforceUserLimitStepwise(ctx, userID, keep)
}

func (m *Manager) enforceUserLimitStepwise(ctx context.Context, userID, keep string) error {
	infos, err := m.UserSessions(ctx, userID)
	if backends.IsUnavailable(err) {
		m.logger.DebugContext(ctx, "session: per-user session limit not enforced during a store outage", "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("session: enforce per-user limit: %w", err)
	}
	excess := len(infos) - m.maxPerUser
	if excess <= 0 {
		return nil
	}
	ui, _ := m.userIndex()
	for _, info := range infos {
		if excess == 0 {
			break
		}
		if info.Handle == keep {
			continue
		}
		if _, err := m.revoke(ctx, ui, userID, info.Handle); err != nil {
			return fmt.Errorf("session: enforce per-user limit: %w", err)
		}
		excess--
	}
	m.observer.Event(ctx, EventUserRevoked)
	m.auditRevoked(ctx, userID, len(infos)-m.maxPerUser-excess, "limit")
	return nil
}
