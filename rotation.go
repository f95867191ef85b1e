package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/changeset"
)

// Periodic ID rotation (WithRotationInterval).
//
// A request that carries a session's current ID, once the ID is older than
// the interval, rotates it: the session is written under a fresh ID (its
// data, user, deadlines and creation time unchanged) and its record under
// the previous ID is replaced, by compare-and-set, with an alias: a small
// encrypted record that holds the store key of the new record (never the
// new ID) and dies at the end of the grace. Only the rotating response
// carries the new ID.
//
// A request that still carries the previous ID during the grace (sent
// before the browser received the new cookie) finds the alias, loads the
// session from the new record, and saves its changes there with the usual
// compare-and-set; its response carries no cookie, so the previous ID is
// never traded for the new one, and Renew on such a request is refused
// with ErrPreviousID. After the grace the previous ID is dead. A renewal
// (Renew, at login) never leaves an alias: the ID it replaces dies at once,
// and an alias that pointed to the renewed record leads nowhere.
//
// Rotation is skipped while the store serves from a fallback (WithFailover):
// the next request after the outage rotates.

// DefaultRotationGrace is how long a rotated-away ID keeps being served,
// without a cookie, by default (WithRotationGrace).
const DefaultRotationGrace = 5 * time.Second

// MaxRotationGrace is the longest grace WithRotationGrace accepts.
const MaxRotationGrace = time.Minute

// MinRotationInterval is the shortest interval WithRotationInterval
// accepts.
const MinRotationInterval = time.Second

// ErrPreviousID is returned by Renew on a request that carries a previous
// ID of its session, rotated away less than the grace ago (see
// WithRotationInterval): such a request may use the session, but never
// obtain a new ID for it.
var ErrPreviousID = errors.New("session: the request carries a rotated-away ID of the session; it cannot be renewed")

// WithRotationInterval makes the manager give an active session a new ID
// every d (OWASP's renewal timeout), so that an ID observed or stolen once
// stops working soon even while its user keeps the session alive: the
// first request with the session's current ID after d rotates it, and only
// its response carries the new cookie. Requests that still carry the
// previous ID are served for a short grace (WithRotationGrace, default 5
// seconds), without ever receiving the new ID; the previous ID is dead
// after it. d is at least MinRotationInterval; 0, the default, disables
// rotation.
//
// A rotation is reported as EventRenewed (audited with the cause
// "rotation"). It costs two store writes (the new record, the alias
// replacing the old one) and a user index update, once per interval and
// session. A
// response lost on its way (a dropped connection) loses the new ID with
// it: the session then ends after the grace. Choose d in hours rather than
// minutes, and keep it shorter than the idle timeout only if that cost is
// acceptable.
func WithRotationInterval(d time.Duration) Option {
	return func(c *config) error {
		if d != 0 && d < MinRotationInterval {
			return fmt.Errorf("WithRotationInterval: %v is below the minimum of %v", d, MinRotationInterval)
		}
		if d < 0 {
			return fmt.Errorf("WithRotationInterval: negative interval %v", d)
		}
		c.sec.rotation = d
		return nil
	}
}

// WithRotationGrace sets how long a rotated-away ID is still served (see
// WithRotationInterval): long enough for the requests a browser sent
// before it received the new cookie, and no longer, since a thief of the
// previous ID can use the session for as long. The default is
// DefaultRotationGrace (5 seconds), the maximum MaxRotationGrace; 0 ends
// the previous ID at once, and requests already on their way with it get a
// fresh session.
func WithRotationGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > MaxRotationGrace {
			return fmt.Errorf("WithRotationGrace: %v is not in [0, %v]", d, MaxRotationGrace)
		}
		c.sec.grace, c.sec.graceSet = d, true
		return nil
	}
}

// sessionSecurity is the per-request state of rotation.
type sessionSecurity struct {
	// aliasOf is the store key of the rotated-away ID the request
	// carries, when the session was reached through its alias: the
	// response must carry no cookie.
	aliasOf string
	// rotating is set while the session is written under a new ID by a
	// rotation.
	rotating bool
	// hops counts the aliases the request's saves followed.
	hops int
}

// aliasValue is the value of an alias record that holds the store key of
// the record it leads to. The NUL byte keeps it apart from any key an
// application sets through Session.Set, whose values are serialized.
const aliasValue = "\x00session.alias"

// maxAliasHops bounds how many aliases a load follows.
const maxAliasHops = 4

// aliasTarget returns the store key an alias record d (nil: none) leads
// to.
func aliasTarget(d *codec.Data) (string, bool) {
	if d == nil || d.UserID != "" || len(d.Values) != 1 {
		return "", false
	}
	v, ok := d.Values[aliasValue]
	if !ok || !validID(string(v)) {
		return "", false
	}
	return string(v), true
}

// loadAliased loads, for s, the session an alias under aliasKey leads to
// (target), following further aliases. It reports whether it found a live
// session; s then holds it, with the rotated-away id, and its response
// will carry no cookie. Callers set up a fresh session otherwise.
func (m *Manager) loadAliased(s *Session, id, aliasKey, target string) (bool, error) {
	ctx := s.context()
	now := m.now()
	for hop := 0; hop < maxAliasHops; hop++ {
		rec, found, err := m.loadRecord(ctx, target)
		if errors.Is(err, backends.ErrInvalidRecord) || (err == nil && !found) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if s.report.Stale() || s.report.Degraded() {
			// The primary cannot confirm the new record: during an
			// outage the grace is not honoured.
			return false, nil
		}
		data, err := m.codec.Decode(rec.Blob, []byte(target))
		if err != nil || !alive(now, rec, data) {
			return false, nil
		}
		if next, ok := aliasTarget(data); ok {
			target = next
			continue
		}
		if !m.checkBinding(ctx, s, target, data) {
			return false, nil
		}
		s.id, s.key, s.base, s.version, s.expiry = id, target, baseStored, rec.Version, rec.Expiry
		s.sec.aliasOf = aliasKey
		s.data = *data
		s.loadedUID, s.loadedDeadline = data.UserID, data.Deadline
		return true, nil
	}
	return false, nil
}

// followAlias makes a rebase that found an alias under aliasKey go on with
// the record it leads to: the save (or the renewal under way) targets
// that record, and a save reached this way carries no cookie. It refuses
// a chain of aliases longer than any rotation makes.
func (s *Session) followAlias(aliasKey, target string) error {
	if s.sec.hops++; s.sec.hops > maxAliasHops {
		return errAliasChain
	}
	if s.oldKey != "" {
		s.oldKey = target
	} else {
		s.key = target
		if s.sec.aliasOf == "" {
			s.sec.aliasOf = aliasKey
		}
	}
	s.version = 0
	return nil
}

// errAliasChain ends a save that met more aliases than rotations make: a
// store whose records were tampered with.
var errAliasChain = errors.New("session: save: too many aliases of rotated-away IDs")

// rotationDue reports whether the session's ID is to be rotated by this
// commit at now.
func (s *Session) rotationDue(now time.Time) bool {
	m := s.m
	if m.sec.rotation <= 0 || s.base != baseStored || s.sec.aliasOf != "" || s.renewed || s.oldKey != "" ||
		s.destroyed || s.sent || s.changes.UserSet || s.report.Degraded() || s.report.Stale() {
		return false
	}
	if j, ok := m.store.(changeset.Journaled); ok && j.FailingOver() {
		return false
	}
	since := s.data.Created
	if md, ok := m.readMetadata(&s.data); ok && md.Since != 0 {
		since = time.UnixMilli(md.Since)
	}
	return now.Sub(since) >= m.sec.rotation
}

// rotate rotates the session's ID when it is due (see the package
// documentation of rotation), carrying this request's changes. It reports
// whether it saved the session; when it did not, the commit goes on as
// usual. Callers hold s.mu.
func (s *Session) rotate(ctx context.Context, now time.Time) (bool, error) {
	for attempt := 0; attempt < maxCommitAttempts && s.rotationDue(now); attempt++ {
		done, retry, err := s.rotateOnce(ctx, now)
		if done || err != nil || !retry {
			return done, err
		}
		if err := s.rebase(ctx); err != nil {
			return false, err
		}
	}
	return false, nil
}

// rotateOnce tries one rotation. retry is set when the old record changed
// meanwhile: the caller rebases and tries again if rotation is still due.
func (s *Session) rotateOnce(ctx context.Context, now time.Time) (done, retry bool, err error) {
	m := s.m
	// A report of its own tells whether a fallback served any step: a
	// rotation is then undone, and the commit goes on as usual.
	var rep backends.Report
	rctx := backends.WithReport(ctx, &rep)
	oldID, oldKey, oldVersion := s.id, s.key, s.version
	oldMeta, hadMeta := s.data.Values[MetadataKey]
	undo := func() {
		s.id, s.key, s.sec.rotating = oldID, oldKey, false
		if hadMeta {
			s.data.Values[MetadataKey] = oldMeta
		} else {
			delete(s.data.Values, MetadataKey)
		}
	}
	s.newID()
	s.sec.rotating = true
	s.stampMetadata(now)
	exp := s.expiryAt(now)
	blob, err := s.encode()
	if err != nil {
		undo()
		return false, false, err
	}
	user, deadline := s.data.UserID, s.data.Deadline
	newKey := s.key
	v, err := m.save(rctx, newKey, blob, exp, 0, changeset.Write{Set: recordChanges(&s.data), Replayer: replayer{m}})
	if err != nil || rep.Degraded() {
		if err == nil {
			m.dropRotated(ctx, newKey, user, deadline)
		}
		undo()
		m.logger.DebugContext(ctx, "session: ID rotation skipped", "error", err, "degraded", rep.Degraded())
		return false, false, nil
	}
	ui, hasIndex := m.store.(backends.UserIndex)
	if hasIndex && user != "" {
		// Indexed before the old record is retired, so that a
		// concurrent "log out everywhere" always finds one of them.
		if err := ui.AddUserKey(ctx, user, newKey, deadline); err != nil {
			m.dropRotated(ctx, newKey, user, deadline)
			undo()
			m.logger.WarnContext(ctx, "session: ID rotation skipped: user index", "error", err)
			return false, false, nil
		}
	}
	err = m.retire(rctx, oldKey, oldVersion, newKey, now)
	if backends.IsConflict(err) {
		// The old record changed since it was loaded: rebase and retry.
		m.dropRotated(ctx, newKey, user, deadline)
		undo()
		return false, true, nil
	}
	if err != nil || rep.Degraded() {
		// The old record's state is unknown (the outcome of the
		// compare-and-set is unknown, or only a fallback holds the
		// alias): end the previous ID outright, without a grace, and
		// keep the new record.
		if derr := m.delete(ctx, oldKey, now.Add(MaxSessionLifetime)); derr != nil {
			m.dropRotated(ctx, newKey, user, deadline)
			undo()
			m.logger.WarnContext(ctx, "session: ID rotation abandoned", "error", errors.Join(err, derr))
			return false, false, nil
		}
	}
	s.sec.rotating = false
	s.version, s.expiry, s.base = v, exp, baseStored
	s.writeHeaders(true)
	if hasIndex && s.loadedUID != "" {
		if err := ui.RemoveUserKey(ctx, s.loadedUID, oldKey); err != nil {
			m.logger.WarnContext(ctx, "session: updating the user index failed", "error", err)
		}
	}
	s.loadedUID, s.loadedDeadline = user, deadline
	s.changes.Reset()
	m.observer.Event(ctx, EventRenewed)
	m.auditEvent(ctx, EventRenewed, newKey, slog.String("cause", "rotation"))
	return true, false, nil
}

// retire replaces the record under oldKey, if it is still at oldVersion,
// by an alias leading to newKey until the end of the grace, or deletes it
// when there is no grace.
func (m *Manager) retire(ctx context.Context, oldKey string, oldVersion uint64, newKey string, now time.Time) error {
	if m.sec.grace <= 0 {
		_, err := m.save(ctx, oldKey, nil, time.Unix(1, 0), oldVersion, changeset.Write{})
		return err
	}
	end := now.Add(m.sec.grace)
	alias := codec.Data{Created: now, Deadline: end, Values: map[string][]byte{aliasValue: []byte(newKey)}}
	blob, err := m.codec.Encode(&alias, []byte(oldKey))
	if err != nil {
		return fmt.Errorf("session: encode alias: %w", err)
	}
	_, err = m.save(ctx, oldKey, blob, end, oldVersion, changeset.Write{})
	return err
}

// dropRotated removes a record a rotation created and gave up.
func (m *Manager) dropRotated(ctx context.Context, key, user string, deadline time.Time) {
	ctx = context.WithoutCancel(ctx)
	if err := m.delete(ctx, key, deadline); err != nil {
		m.logger.WarnContext(ctx, "session: removing an abandoned rotation failed", "error", err)
	}
	if ui, ok := m.store.(backends.UserIndex); ok && user != "" {
		if err := ui.RemoveUserKey(ctx, user, key); err != nil {
			m.logger.WarnContext(ctx, "session: removing an abandoned rotation failed", "error", err)
		}
	}
}

// recordChanges returns a change set that builds the session d from
// nothing, for a fail-over store's journal: the record of a rotation is
// new, and a replay must rebuild it whole.
func recordChanges(d *codec.Data) *changeset.Set {
	cs := &changeset.Set{Created: d.Created}
	cs.Add(changeset.Op{Kind: changeset.Clear})
	for k, v := range d.Values {
		cs.Add(changeset.Op{Kind: changeset.Put, Key: k, Value: v})
	}
	if d.UserID != "" {
		cs.SetUser(d.UserID)
	}
	if d.Persistent {
		cs.SetLifetime(d.IdleTimeout, d.Deadline.Sub(d.Created))
	}
	return cs
}
