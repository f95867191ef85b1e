package session

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/changeset"
)

// token returns the signed session token the request carries, if any.
func (m *Manager) token(r *http.Request) string {
	if m.tokenHeader != "" {
		if t := r.Header.Get(m.tokenHeader); t != "" {
			return t
		}
		auth := r.Header.Get("Authorization")
		if len(auth) > 8 && strings.EqualFold(auth[:8], "Session ") {
			return strings.TrimSpace(auth[8:])
		}
		return ""
	}
	return m.cookieToken(r)
}

// load fills s from the request's token and the store. A token that fails
// verification, a record that cannot be decoded and an expired record all
// give a fresh session; only store failures are errors.
func (m *Manager) load(s *Session) error {
	now := m.now()
	fresh := func() {
		s.id, s.key, s.base, s.version = "", "", baseNone, 0
		s.data.Created = now
		s.data.Deadline = now.Add(m.lifetime)
		s.data.IdleTimeout, s.data.Persistent, s.data.UserID = 0, false, ""
		s.data.Values = nil
		s.loadedUID, s.loadedDeadline = "", time.Time{}
	}
	tok := m.token(s.r)
	if tok == "" {
		fresh()
		return nil
	}
	ctx := s.context()
	id, err := m.verifyToken(ctx, s.r, tok)
	if err == nil && !validID(id) {
		err = errMalformedID
	}
	if err != nil {
		m.auditRejected(ctx, err.Error(), s.r.RemoteAddr)
		m.observer.Event(ctx, EventTamperedCookie)
		fresh()
		return nil
	}
	s.hadToken = true
	key := m.storeKey(id)
	rec, found, err := m.loadRecord(ctx, key)
	if errors.Is(err, backends.ErrInvalidRecord) {
		// Something else sits under the session's key: not a session.
		m.auditUndecodable(ctx, key, err.Error())
		m.observer.Event(ctx, EventUndecodable)
		fresh()
		return nil
	}
	if err != nil {
		return err
	}
	if !found {
		fresh()
		if s.report.Degraded() {
			// The primary store could not be asked: the record may well
			// exist there. Its first write moves the session to a new
			// ID, built on that record if it is alive (see commit).
			s.id, s.key, s.base = id, key, baseUnknown
		}
		return nil
	}
	data, err := m.codec.Decode(rec.Blob, []byte(key))
	if err != nil {
		m.auditUndecodable(ctx, key, err.Error())
		m.observer.Event(ctx, EventUndecodable)
		fresh()
		return nil
	}
	if !alive(now, rec, data) {
		m.observer.Event(ctx, EventExpired)
		m.auditEvent(ctx, EventExpired, key)
		fresh()
		return nil
	}
	if target, ok := aliasTarget(data); ok { // a rotated-away ID (rotation.go)
		if ok, err := m.loadAliased(s, id, key, target); !ok || err != nil {
			fresh()
			return err
		}
		return nil
	}
	if !m.checkBinding(ctx, s, key, data) { // bound to another client (binding.go)
		fresh()
		return nil
	}
	s.id, s.key, s.base, s.version, s.expiry = id, key, baseStored, rec.Version, rec.Expiry
	if s.report.Stale() {
		// A copy that may no longer be current: the session shows it,
		// and its first write moves it to a new ID (see commit), expecting
		// the copy's version where the primary answers.
		s.base = baseUnknown
	}
	s.data = *data
	s.loadedUID, s.loadedDeadline = data.UserID, data.Deadline
	return nil
}

// alive reports whether a stored session is alive at now: neither its
// record's expiry (the idle deadline) nor its absolute deadline has passed.
// It is the one liveness test of the package.
func alive(now time.Time, rec backends.Record, d *codec.Data) bool {
	return now.Before(rec.Expiry) && now.Before(d.Deadline)
}

type tokenError string

func (e tokenError) Error() string { return string(e) }

const errMalformedID = tokenError("session ID has the wrong format")

func (m *Manager) event(s *Session, e Event) {
	m.observer.Event(s.context(), e)
	m.auditEvent(s.context(), e, s.key)
}

func (m *Manager) loadRecord(ctx context.Context, key string) (backends.Record, bool, error) {
	start := time.Now()
	rec, found, err := m.store.Load(ctx, key)
	m.observer.StoreOp("load", err, time.Since(start))
	return rec, found, wrapStore("load", err)
}

func (m *Manager) save(ctx context.Context, key string, blob []byte, exp time.Time, expected uint64, w changeset.Write) (uint64, error) {
	start := time.Now()
	var v uint64
	var err error
	if j, ok := m.store.(changeset.Journaled); ok {
		v, err = j.SaveChanges(ctx, key, blob, exp, expected, w)
	} else {
		v, err = m.store.Save(ctx, key, blob, exp, expected)
	}
	m.observer.StoreOp("save", err, time.Since(start))
	return v, wrapStore("save", err)
}

func (m *Manager) touch(ctx context.Context, key string, exp time.Time) error {
	start := time.Now()
	err := m.store.Touch(ctx, key, exp)
	m.observer.StoreOp("touch", err, time.Since(start))
	return wrapStore("touch", err)
}

// delete deletes key; until is when the record would be dead anyway.
func (m *Manager) delete(ctx context.Context, key string, until time.Time) error {
	start := time.Now()
	var err error
	if j, ok := m.store.(changeset.Journaled); ok {
		err = j.DeleteUntil(ctx, key, until)
	} else {
		err = m.store.Delete(ctx, key)
	}
	m.observer.StoreOp("delete", err, time.Since(start))
	return wrapStore("delete", err)
}

// renew replaces the record at oldKey (at version oldVersion, 0: none) by
// one at newKey, moving the user index entry (see backends.Renewer).
func (m *Manager) renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, userID string, deadline time.Time, w changeset.Write) error {
	start := time.Now()
	var err error
	if j, ok := m.store.(changeset.Journaled); ok {
		err = j.RenewChanges(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline, w)
	} else {
		err = changeset.Renew(ctx, m.store, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
	}
	m.observer.StoreOp("renew", err, time.Since(start))
	return wrapStore("renew", err)
}
