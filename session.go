package session

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/changeset"
)

// Session is the session of one request. Reach it with FromContext inside a
// handler wrapped by Manager.Middleware. It is loaded from the store on first
// use, and saved by the middleware just before the response is sent (or
// explicitly with Commit). A Session is safe for use by several goroutines
// of the same request; it must not be kept after the request ends.
//
// Every method that touches the session's content may need the store and so
// returns an error; a session that cannot be loaded never panics.
type Session struct {
	m      *Manager
	r      *http.Request
	w      http.ResponseWriter // where the cookie and headers go
	rw     respWriter          // the wrapper handed to the handler (fast path)
	sctx   sessCtx             // the request's context with s and report
	report backends.Report

	mu       sync.Mutex
	loaded   bool
	loadErr  error
	ctx      context.Context
	id       string // "" until a new session needs one
	key      string // store key of id
	hadToken bool   // the request carried a valid token
	base     base   // what the session is built on
	version  uint64 // version of the stored record (base == baseStored)
	expiry   time.Time
	data     codec.Data    // the session as this request sees it
	changes  changeset.Set // what this request changed since its last save
	renewed  bool          // Renew was called since the last save
	oldKey   string        // record the next save replaces (renewal or move)
	// loadedUID and loadedDeadline are the user and deadline of the
	// stored record, as the user index knows them.
	loadedUID      string
	loadedDeadline time.Time
	destroyed      bool
	sent           bool // response headers sent: no more cookie changes
	failed         bool // saving failed before the response: the error handler answered
	hijacked       bool
	toldDegraded   bool        // Degraded returned true to the handler
	out            sentHeaders // the token the last commit put on the response
	// indexAfterRenew: the last renewal left the user index to the commit.
	indexAfterRenew bool
	sec             sessionSecurity // rotation state (rotation.go)
}

// base says what a session is built on.
type base uint8

const (
	// baseNone: no stored record; the session is new.
	baseNone base = iota
	// baseStored: loaded from the store's record at version.
	baseStored
	// baseUnknown: the primary store could not say what the ID holds and
	// a fallback served the load. The session must not write under that
	// ID (it may be dead on the primary): its first write moves it to a
	// fresh ID, which the store builds on the old record if it is alive.
	baseUnknown
)

func (s *Session) context() context.Context {
	if s.ctx == nil {
		if s.sctx.s == s {
			s.ctx = &s.sctx
		} else {
			s.ctx = backends.WithReport(s.r.Context(), &s.report)
		}
	}
	return s.ctx
}

// load reads the session on first use. Callers hold s.mu.
func (s *Session) load() error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	s.loadErr = s.m.load(s)
	return s.loadErr
}

func (s *Session) dirty() bool {
	return !s.changes.Empty() || s.renewed || s.oldKey != ""
}

// writable loads the session and checks that it may still change.
func (s *Session) writable() error {
	if err := s.load(); err != nil {
		return err
	}
	if s.destroyed {
		return ErrDestroyed
	}
	if s.sent {
		return ErrCommitted
	}
	return nil
}

// Get returns the value stored under key, decoded into a T. ok is false
// (and v the zero T) when the key is absent. The value is decoded from its
// stored form on every call, so a struct stored with Set comes back as the
// same struct type without registration; the returned value is the
// caller's to modify.
func Get[T any](s *Session, key string) (v T, ok bool, err error) {
	s.mu.Lock()
	err = s.load()
	raw, ok := s.data.Values[key]
	s.mu.Unlock()
	if err != nil || !ok {
		return v, false, err
	}
	if err := s.m.codec.Serializer().Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("session: decode %q as %T: %w", key, v, err)
	}
	return v, true, nil
}

// Pop returns the value stored under key and deletes it, as Get then Delete
// in one step: the usual way to read a flash message once.
func Pop[T any](s *Session, key string) (v T, ok bool, err error) {
	s.mu.Lock()
	err = s.writable()
	raw, ok := s.data.Values[key]
	if err == nil && ok {
		s.apply(changeset.Op{Kind: changeset.Delete, Key: key})
	}
	s.mu.Unlock()
	if err != nil || !ok {
		return v, false, err
	}
	if err := s.m.codec.Serializer().Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("session: decode %q as %T: %w", key, v, err)
	}
	return v, true, nil
}

// apply records op in the change set and applies it to the session.
// Callers hold s.mu.
func (s *Session) apply(op changeset.Op) {
	s.changes.Add(op)
	switch op.Kind {
	case changeset.Put:
		if s.data.Values == nil {
			s.data.Values = make(map[string][]byte)
		}
		s.data.Values[op.Key] = op.Value
	case changeset.Delete:
		delete(s.data.Values, op.Key)
	case changeset.Clear:
		clear(s.data.Values)
	}
}

// Set stores v under key. v is encoded at once with the manager's
// serializer (CBOR by default), so later changes to v do not affect the
// session. It returns ErrTooLarge, without storing v, when the session
// would exceed the maximum size.
func (s *Session) Set(key string, v any) error {
	raw, err := s.m.codec.Serializer().Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	old, had := s.data.Values[key]
	size := s.approxSize() + len(raw) + len(key)
	if had {
		size -= len(old) + len(key)
	}
	if size > s.m.maxSize {
		return fmt.Errorf("%w: %q would make the session about %d bytes, the maximum is %d", ErrTooLarge, key, size, s.m.maxSize)
	}
	s.apply(changeset.Op{Kind: changeset.Put, Key: key, Value: raw})
	return nil
}

// approxSize estimates the encoded size of the session's content.
func (s *Session) approxSize() int {
	n := len(s.data.UserID) + 32
	for k, v := range s.data.Values {
		n += len(k) + len(v) + 4
	}
	return n
}

// Delete removes key. Deleting an absent key is not an error. The deletion
// is recorded even when this request does not see the key, so that it also
// removes a value that a concurrent request, or the primary store during
// an outage, holds under key.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.apply(changeset.Op{Kind: changeset.Delete, Key: key})
	return nil
}

// Clear removes every value. The session itself, its ID and its user stay.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.apply(changeset.Op{Kind: changeset.Clear})
	return nil
}

// Has reports whether key holds a value.
func (s *Session) Has(key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return false, err
	}
	_, ok := s.data.Values[key]
	return ok, nil
}

// Keys returns the keys that hold values, sorted.
func (s *Session) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(s.data.Values))
	for k := range s.data.Values {
		if k != MetadataKey { // kept by the manager (devices.go)
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// Renew gives the session a new random ID, keeping its data, and deletes
// the record stored under the old ID when the session is saved. Call it on
// login and on every change of privilege, so that an ID an attacker planted
// or observed before is worthless afterwards (session fixation). On a
// request that carries an ID rotated away by WithRotationInterval, it
// returns ErrPreviousID.
func (s *Session) Renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if s.sec.aliasOf != "" {
		return ErrPreviousID
	}
	if s.base != baseNone && s.oldKey == "" {
		s.oldKey = s.key
	}
	s.newID()
	s.renewed = true
	return nil
}

// Destroy ends the session: its record is deleted and the cookie expired
// when the response is sent (or at Commit). Further changes in the same
// request return ErrDestroyed. A request of the same session that is still
// running cannot bring the record back.
//
// Called after the response headers were sent, Destroy deletes the record
// (and its user index entry) at once, and returns an error matching
// ErrCommitted to say that the cookie could not be expired: the next
// request with that cookie gets a fresh, anonymous session.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	s.destroyed = true
	clear(s.data.Values)
	s.changes.Reset()
	if !s.sent {
		return nil
	}
	if err := s.commitDestroy(s.context()); err != nil {
		return err
	}
	return fmt.Errorf("%w: the session was deleted, but the response was already sent, so the cookie could not be expired", ErrCommitted)
}

// SetUser binds the session to a user ID ("" unbinds it), so that the user's
// sessions can be listed and revoked (Manager.UserSessions, RevokeUser).
// Binding usually goes with Renew.
func (s *Session) SetUser(userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	// A binding made after Renew is recorded even when it is the same
	// user: it is the login's, and survives a concurrent logout as a new
	// session of that user.
	if s.data.UserID != userID || s.base == baseUnknown || s.renewed {
		s.data.UserID = userID
		s.changes.SetUser(userID)
	}
	return nil
}

// User returns the user ID the session is bound to, or "".
func (s *Session) User() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.load()
	return s.data.UserID, err
}

// SetLifetime gives this session its own idle timeout and absolute lifetime
// (counted from its creation), and a persistent cookie that outlives the
// browser session: the "remember me" of a login form. idle must be
// positive and not longer than lifetime, which is at most the manager's
// longest lifetime (WithMaxLifetime; ErrLifetimeTooLong otherwise).
func (s *Session) SetLifetime(idle, lifetime time.Duration) error {
	if lifetime > s.m.maxLifetime {
		return fmt.Errorf("%w: SetLifetime(%v, %v): the longest is %v", ErrLifetimeTooLong, idle, lifetime, s.m.maxLifetime)
	}
	if idle <= 0 || lifetime <= 0 || idle > lifetime {
		return fmt.Errorf("session: SetLifetime(%v, %v): need 0 < idle <= lifetime", idle, lifetime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.changes.SetLifetime(idle, lifetime)
	s.data.IdleTimeout = idle
	s.data.Deadline = s.data.Created.Add(lifetime)
	s.data.Persistent = true
	return nil
}

// Handle returns a stable, non-secret identifier of the session (the hash
// under which it is stored), as listed by Manager.UserSessions: use it to
// tell the current session apart or to revoke one. It is "" for a new
// session that has not been saved. It changes when the session is renewed.
func (s *Session) Handle() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	if s.base != baseStored && !s.dirty() {
		return "", nil
	}
	s.ensureID()
	return s.key, nil
}

// Degraded reports whether the session was loaded from or saved to a
// fallback store because the primary store failed, or, for a session that
// has not reached the store yet, whether the store serves from its fallback
// right now. Responses of such requests carry the degraded header.
func (s *Session) Degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	d := s.report.Degraded()
	if !d {
		if j, ok := s.m.store.(changeset.Journaled); ok && j.FailingOver() {
			d = true
		}
	}
	if d {
		s.toldDegraded = true
	}
	return d
}

// Commit saves the session now instead of just before the response is
// sent, and returns any error of the store. Handlers commit explicitly when
// they need to know that the session was saved before acting on it. The
// middleware still saves later changes.
func (s *Session) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commit()
}

func (s *Session) ensureID() {
	if s.id == "" {
		s.newID()
	}
}

func (s *Session) newID() {
	s.id = newID()
	s.key = s.m.storeKey(s.id)
}
