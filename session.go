package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/cookies"
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

	mu        sync.Mutex
	loaded    bool
	loadErr   error
	ctx       context.Context
	id        string // "" until a new session needs one
	key       string // store key of id
	hadToken  bool   // the request carried a valid token
	exists    bool   // a stored record backs the session
	version   uint64
	expiry    time.Time // the stored record's expiry
	data      codec.Data
	ops       []op
	metaDirty bool   // user or lifetime changed
	loadedUID string // user bound in the stored record
	oldKey    string // record to delete on renewal
	destroyed bool
	sent      bool // response headers sent: no more cookie changes
	failed    bool // saving failed before the response: the error handler answered
	hijacked  bool
	keptID    bool // the primary could not load the session: its ID was kept
}

type opKind uint8

const (
	opSet opKind = iota
	opDelete
	opClear
)

// op is one entry of the change set: what this request did, re-applied to
// the latest stored state when a concurrent request saved first.
type op struct {
	kind opKind
	key  string
	raw  []byte
}

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
	return len(s.ops) > 0 || s.metaDirty || s.oldKey != ""
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
		delete(s.data.Values, key)
		s.ops = append(s.ops, op{kind: opDelete, key: key})
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

// Set stores v under key. v is encoded at once with the manager's
// serializer (JSON by default), so later changes to v do not affect the
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
	if s.data.Values == nil {
		s.data.Values = make(map[string][]byte)
	}
	s.data.Values[key] = raw
	s.ops = append(s.ops, op{kind: opSet, key: key, raw: raw})
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

// Delete removes key. Deleting an absent key is not an error.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if _, ok := s.data.Values[key]; !ok {
		return nil
	}
	delete(s.data.Values, key)
	s.ops = append(s.ops, op{kind: opDelete, key: key})
	return nil
}

// Clear removes every value. The session itself, its ID and its user stay.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	clear(s.data.Values)
	s.ops = append(s.ops, op{kind: opClear})
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
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// Renew gives the session a new random ID, keeping its data, and deletes
// the record stored under the old ID when the session is saved. Call it on
// login and on every change of privilege, so that an ID an attacker planted
// or observed before is worthless afterwards (session fixation).
func (s *Session) Renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if (s.exists || s.keptID) && s.oldKey == "" {
		s.oldKey = s.key
	}
	s.id = newID()
	s.key = s.m.storeKey(s.id)
	s.metaDirty = true
	return nil
}

// Destroy ends the session: its record is deleted and the cookie expired
// when the response is sent (or at Commit). Further changes in the same
// request return ErrDestroyed. A request of the same session that is still
// running cannot bring the record back.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	if s.sent {
		return ErrCommitted
	}
	s.destroyed = true
	clear(s.data.Values)
	s.ops = nil
	return nil
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
	if s.data.UserID != userID {
		s.data.UserID = userID
		s.metaDirty = true
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
// positive and not longer than lifetime, which is at most
// MaxSessionLifetime.
func (s *Session) SetLifetime(idle, lifetime time.Duration) error {
	if idle <= 0 || lifetime <= 0 || idle > lifetime || lifetime > MaxSessionLifetime {
		return fmt.Errorf("session: SetLifetime(%v, %v): need 0 < idle <= lifetime <= %v", idle, lifetime, MaxSessionLifetime)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.data.IdleTimeout = idle
	s.data.Deadline = s.data.Created.Add(lifetime)
	s.data.Persistent = true
	s.metaDirty = true
	return nil
}

// Handle returns a stable, non-secret identifier of the session (the hash
// under which it is stored), as listed by Manager.UserSessions: use it to
// tell the current session apart or to revoke one. It is "" for a new
// session that has not been saved.
func (s *Session) Handle() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	if !s.exists && !s.dirty() {
		return "", nil
	}
	s.ensureID()
	return s.key, nil
}

// Degraded reports whether the session was loaded from or saved to a
// fallback store because the primary store failed. Responses of such
// requests carry the degraded header.
func (s *Session) Degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.load()
	return s.report.Degraded()
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
		s.id = newID()
		s.key = s.m.storeKey(s.id)
	}
}

// expiryAt returns the record's expiry if it is saved at now: the idle
// deadline, capped by the absolute deadline.
func (s *Session) expiryAt(now time.Time) time.Time {
	idle := s.m.idle
	if s.data.IdleTimeout > 0 {
		idle = s.data.IdleTimeout
	}
	exp := now.Add(idle)
	if exp.After(s.data.Deadline) {
		exp = s.data.Deadline
	}
	return exp
}

// commit saves the session. Callers hold s.mu.
func (s *Session) commit() error {
	if !s.loaded || s.hijacked {
		return nil
	}
	if s.loadErr != nil {
		return nil // the handler saw the error; there is nothing to save
	}
	m := s.m
	ctx := s.context()
	now := m.now()
	if s.destroyed {
		return s.commitDestroy(ctx)
	}
	exp := s.expiryAt(now)
	if !exp.After(now) {
		// The session reached its deadline while the request ran: it
		// ends here and nothing is written without an expiry.
		s.destroyed = true
		return s.commitDestroy(ctx)
	}
	if !s.dirty() {
		touched := false
		if s.exists && exp.Sub(s.expiry) >= m.touchInterval && exp.After(s.expiry) {
			// Extending the idle deadline is best effort: a failure
			// costs the session some idle time, not the request.
			if err := m.touch(ctx, s.key, exp); err != nil {
				m.logger.WarnContext(ctx, "session: extending the idle deadline failed", "error", err)
			} else {
				s.expiry, touched = exp, true
			}
		}
		// A cookie with its own Max-Age slides along with the record.
		s.writeHeaders(touched && m.cookieLifetime > 0)
		return nil
	}

	s.ensureID()
	created := !s.exists && s.oldKey == ""
	renewed := s.oldKey != ""
	ctx = backends.WithReplay(ctx, s.replayFunc(exp, renewed || (created && !s.keptID)))
	var err error
	switch {
	case renewed:
		err = s.saveRenewed(ctx, exp)
	case created:
		err = s.saveNew(ctx, exp)
	default:
		err = s.saveExisting(ctx, exp)
	}
	if err != nil {
		return err
	}
	if s.destroyed { // the record vanished under us (logout elsewhere)
		s.writeHeaders(false)
		return nil
	}
	if s.data.UserID != s.loadedUID || renewed || created {
		if err := s.updateUserIndex(ctx, renewed); err != nil {
			return err
		}
	}
	s.loadedUID = s.data.UserID
	s.ops, s.metaDirty, s.oldKey = s.ops[:0], false, ""
	s.exists = true
	s.expiry = exp
	switch {
	case created:
		m.event(s, EventCreated)
	case renewed:
		m.event(s, EventRenewed)
	}
	s.writeHeaders(created || renewed || s.data.Persistent || m.cookieLifetime > 0)
	return nil
}

func (s *Session) encode() ([]byte, error) {
	blob, err := s.m.codec.Encode(&s.data, []byte(s.key))
	if err != nil {
		if errors.Is(err, codec.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	if len(blob) > s.m.maxSize {
		return nil, fmt.Errorf("%w: encoded session is %d bytes, the maximum is %d", ErrTooLarge, len(blob), s.m.maxSize)
	}
	s.m.observer.Saved(len(blob))
	return blob, nil
}

func (s *Session) saveNew(ctx context.Context, exp time.Time) error {
	blob, err := s.encode()
	if err != nil {
		return err
	}
	v, err := s.m.save(ctx, s.key, blob, exp, 0)
	if backends.IsConflict(err) && s.keptID {
		// The primary could not be asked when the session was loaded, and
		// its record is back now: merge onto it like any concurrent save.
		rec, found, lerr := s.m.loadRecord(ctx, s.key)
		if lerr != nil {
			return lerr
		}
		if found {
			latest, derr := s.m.codec.Decode(rec.Blob, []byte(s.key))
			if derr != nil {
				return fmt.Errorf("session: merge with stored record: %w", derr)
			}
			s.rebase(latest)
			s.version = rec.Version
			return s.saveExisting(ctx, exp)
		}
		// Deleted or renewed by another request during the outage: its
		// old ID must not come back.
		s.destroyed, s.exists = true, false
		clear(s.data.Values)
		return nil
	}
	if err != nil {
		return err
	}
	s.version = v
	return nil
}

func (s *Session) saveRenewed(ctx context.Context, exp time.Time) error {
	m := s.m
	for attempt := 0; ; attempt++ {
		blob, err := s.encode()
		if err != nil {
			return err
		}
		// The new ID and the content may have changed since the last
		// attempt: the replay must build what this attempt stores.
		rctx := backends.WithReplay(ctx, s.replayFunc(exp, true))
		err = m.renew(rctx, s.oldKey, s.version, s.key, blob, exp, s.data.UserID, s.data.Deadline)
		if err == nil {
			s.version = 1
			return nil
		}
		if !backends.IsConflict(err) {
			return err
		}
		if attempt == maxCommitAttempts {
			return fmt.Errorf("session: renewal gave up after %d conflicting writers: %w", attempt, err)
		}
		if err := conflictBackoff(ctx, attempt); err != nil {
			return wrapStore("renew", err)
		}
		rec, found, err := m.loadRecord(ctx, s.oldKey)
		if err != nil {
			return err
		}
		switch {
		case !found:
			// Destroyed (a logout) or renewed by another request since
			// this one loaded it: the renewal must not bring it back.
			s.destroyed, s.exists = true, false
			clear(s.data.Values)
			return nil
		case rec.Version == s.version:
			// The old record is unchanged, so the new ID was taken:
			// draw another.
			s.id = newID()
			s.key = m.storeKey(s.id)
		default:
			// Another request saved first: merge and try again.
			latest, err := m.codec.Decode(rec.Blob, []byte(s.oldKey))
			if err != nil {
				return fmt.Errorf("session: merge with stored record: %w", err)
			}
			s.rebase(latest)
			s.version = rec.Version
		}
	}
}

// saveExisting writes the change set with compare-and-set, re-applying it
// to the latest stored state when another request saved first.
func (s *Session) saveExisting(ctx context.Context, exp time.Time) error {
	m := s.m
	for attempt := 0; ; attempt++ {
		blob, err := s.encode()
		if err != nil {
			return err
		}
		v, err := m.save(ctx, s.key, blob, exp, s.version)
		if err == nil {
			s.version = v
			return nil
		}
		if !backends.IsConflict(err) {
			return err
		}
		if attempt == maxCommitAttempts {
			return fmt.Errorf("session: save gave up after %d conflicting writers: %w", attempt, err)
		}
		if err := conflictBackoff(ctx, attempt); err != nil {
			return wrapStore("save", err)
		}
		rec, found, err := m.loadRecord(ctx, s.key)
		if err != nil {
			return err
		}
		if !found {
			// Destroyed or renewed by another request: never bring it back.
			s.destroyed, s.exists = true, false
			clear(s.data.Values)
			return nil
		}
		latest, err := m.codec.Decode(rec.Blob, []byte(s.key))
		if err != nil {
			return fmt.Errorf("session: merge with stored record: %w", err)
		}
		s.rebase(latest)
		s.version = rec.Version
	}
}

// conflictBackoff waits a short random time, growing with attempt (up to
// about 64 ms), before a lost compare-and-set is tried again, so that many
// concurrent writers of one session spread out instead of colliding again.
func conflictBackoff(ctx context.Context, attempt int) error {
	limit := int64(time.Millisecond) << min(attempt, 6)
	t := time.NewTimer(time.Duration(rand.Int64N(limit)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// replayFunc captures this request's change set so that a fail-over store
// can re-apply it to the primary store after an outage. whole says the
// change set is the whole session (a created or renewed session): it is
// replayed as the request's deletions followed by the whole content, with
// its metadata. Otherwise the metadata is written only if this request
// changed it, so that a session the primary could not load, served empty
// under its own ID, never overwrites the stored user, creation time or
// deadline.
//
// A renewed session (s.oldKey set) is built, as long as the new key has no
// record, on the old key's record: its values with the change set applied
// (the values of the outage win key by key), its creation time, and this
// session's user and lifetime. The ReplayFunc never writes the old key:
// deleting it once the new record exists is the fail-over store's part (a
// degrade.Store journals the renewal as a move and deletes the old key
// after the replay). When the old record is gone (a logout, or expired) or
// cannot be read, the session is replayed from its own content alone.
func (s *Session) replayFunc(exp time.Time, whole bool) backends.ReplayFunc {
	m, key, oldKey := s.m, s.key, s.oldKey
	var ops []op
	if whole {
		// The request's deletions apply to whatever record the change set
		// is merged onto; its content is then set over it.
		for _, o := range s.ops {
			if o.kind != opSet {
				ops = append(ops, o)
			}
		}
		for k, v := range s.data.Values {
			ops = append(ops, op{kind: opSet, key: k, raw: v})
		}
	} else {
		ops = slices.Clone(s.ops)
	}
	meta := s.data
	meta.Values = nil
	metaDirty := s.metaDirty
	return func(ctx context.Context, st backends.Store) error {
		for attempt := 0; attempt <= maxCommitAttempts; attempt++ {
			if !exp.After(m.now()) {
				return nil // the session has ended meanwhile
			}
			rec, found, err := st.Load(ctx, key)
			if err != nil {
				return err
			}
			var d *codec.Data
			var expected uint64
			switch {
			case found:
				if d, err = m.codec.Decode(rec.Blob, []byte(key)); err != nil {
					return fmt.Errorf("session: replay onto stored record: %w", err)
				}
				expected = rec.Version
			case oldKey != "":
				if d, err = m.renewalBase(ctx, st, oldKey); err != nil {
					return err
				}
			}
			based := d != nil
			if !based {
				d = &codec.Data{}
				*d = meta
			}
			applyOps(d, ops)
			if based && metaDirty {
				copyChangedMeta(d, &meta)
			}
			blob, err := m.codec.Encode(d, []byte(key))
			if err != nil {
				return err
			}
			e := exp
			if found && rec.Expiry.After(e) {
				e = rec.Expiry
			}
			_, err = st.Save(ctx, key, blob, e, expected)
			if !backends.IsConflict(err) {
				return err
			}
			if err := conflictBackoff(ctx, attempt); err != nil {
				return err
			}
		}
		return fmt.Errorf("session: replay gave up after %d conflicting writers", maxCommitAttempts)
	}
}

// renewalBase returns the session stored under oldKey in st, the record a
// session renewed during an outage is built on, or nil when there is none
// that is alive and readable.
func (m *Manager) renewalBase(ctx context.Context, st backends.Store, oldKey string) (*codec.Data, error) {
	rec, found, err := st.Load(ctx, oldKey)
	if errors.Is(err, backends.ErrInvalidRecord) {
		return nil, nil
	}
	if err != nil || !found {
		return nil, err
	}
	d, err := m.codec.Decode(rec.Blob, []byte(oldKey))
	if err != nil {
		m.logger.WarnContext(ctx, "session: replaying a renewal: the old record cannot be decoded; the session is replayed without it", "error", err)
		return nil, nil
	}
	if now := m.now(); !now.Before(rec.Expiry) || !now.Before(d.Deadline) {
		return nil, nil
	}
	return d, nil
}

func applyOps(d *codec.Data, ops []op) {
	if d.Values == nil {
		d.Values = make(map[string][]byte, len(ops))
	}
	for _, o := range ops {
		switch o.kind {
		case opSet:
			d.Values[o.key] = o.raw
		case opDelete:
			delete(d.Values, o.key)
		case opClear:
			clear(d.Values)
		}
	}
}

// copyChangedMeta copies the metadata a request can change (the user and
// the lifetime; never the creation time) from src to dst.
func copyChangedMeta(dst, src *codec.Data) {
	dst.UserID = src.UserID
	dst.IdleTimeout = src.IdleTimeout
	dst.Deadline = src.Deadline
	dst.Persistent = src.Persistent
}

// rebase re-applies this request's change set onto latest.
func (s *Session) rebase(latest *codec.Data) {
	applyOps(latest, s.ops)
	if s.metaDirty {
		copyChangedMeta(latest, &s.data)
	}
	s.data = *latest
}

func (s *Session) commitDestroy(ctx context.Context) error {
	m := s.m
	for _, key := range []string{s.oldKey, s.key} {
		if key == "" || (key == s.key && !s.exists && !s.keptID) {
			continue
		}
		if err := m.delete(ctx, key); err != nil {
			return err
		}
		if s.loadedUID != "" {
			if ui, ok := m.store.(backends.UserIndex); ok {
				if err := ui.RemoveUserKey(ctx, s.loadedUID, key); err != nil {
					return wrapStore("user index", err)
				}
			}
		}
	}
	wasStored := s.exists || s.oldKey != ""
	s.exists, s.oldKey, s.ops, s.metaDirty = false, "", nil, false
	if wasStored {
		m.event(s, EventDestroyed)
	}
	if s.hadToken && !s.sent {
		s.expireToken()
	}
	s.writeHeaders(false)
	return nil
}

func (s *Session) updateUserIndex(ctx context.Context, renewed bool) error {
	ui, ok := s.m.store.(backends.UserIndex)
	if !ok {
		return nil
	}
	_, renewer := s.m.store.(backends.Renewer)
	if s.loadedUID != "" && (s.loadedUID != s.data.UserID || (renewed && !renewer)) {
		old := s.key
		if renewed {
			old = s.oldKey
		}
		if err := ui.RemoveUserKey(ctx, s.loadedUID, old); err != nil {
			return wrapStore("user index", err)
		}
	}
	if s.data.UserID == "" {
		return nil
	}
	if !renewed || !renewer { // a Renewer moved the entry already
		if err := ui.AddUserKey(ctx, s.data.UserID, s.key, s.data.Deadline); err != nil {
			return wrapStore("user index", err)
		}
	}
	if s.data.UserID != s.loadedUID && s.m.maxPerUser > 0 {
		return s.m.enforceUserLimit(ctx, s.data.UserID, s.key)
	}
	return nil
}

// writeHeaders sets the cookie (when asked), the cache headers that go with
// it, and the degraded header on the response. Callers hold s.mu.
func (s *Session) writeHeaders(cookie bool) {
	if s.sent || s.w == nil {
		return
	}
	h := s.w.Header()
	if s.report.Degraded() {
		h.Set(s.m.degradedHeader, "true")
	}
	if !cookie {
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
