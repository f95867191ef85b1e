package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/changeset"
)

// replayer applies change sets journaled by a fail-over store to its
// primary after an outage (see changeset.Replayer). It is the commit
// engine's rebase, run by the store: the change set is applied to what the
// primary holds, by compare-and-set. A key without a record is built on
// the newest live key it was renewed from, or from the change set alone
// when it is a fresh ID (a session created or renewed during the outage);
// a key that existed before and is gone is left gone.
type replayer struct{ m *Manager }

func (r replayer) Replay(ctx context.Context, st backends.Store, key string, bases []string, cs *changeset.Set) (changeset.Result, error) {
	m := r.m
	// Replays build on what the primary holds now, never on a near copy.
	ctx = backends.WithFreshRead(ctx)
	for attempt := 0; attempt <= maxCommitAttempts; attempt++ {
		now := m.now()
		rec, found, err := st.Load(ctx, key)
		if err != nil && !errors.Is(err, backends.ErrInvalidRecord) {
			return changeset.Result{}, err
		}
		var d *codec.Data
		var expected uint64
		if found {
			expected = rec.Version
			if d, err = m.codec.Decode(rec.Blob, []byte(key)); err != nil {
				return changeset.Result{}, fmt.Errorf("session: replay onto the stored record: %w", err)
			}
			if !alive(now, rec, d) {
				return changeset.Result{}, nil // ended meanwhile: its changes end with it
			}
			if target, ok := aliasTarget(d); ok { // ID rotated away: the changes go on (rotation.go)
				return r.Replay(ctx, st, target, nil, cs)
			}
		} else {
			if d, err = m.replayBase(ctx, st, bases); err != nil {
				return changeset.Result{}, err
			}
			if d == nil && cs.Created.IsZero() && len(bases) == 0 {
				// The session existed before the change set and its record
				// is gone (logged out, revoked or expired on the primary):
				// its ID is never written again.
				return changeset.Result{}, nil
			}
			if d == nil {
				created := cs.Created
				if created.IsZero() {
					created = now
				}
				d = &codec.Data{Created: created, Deadline: created.Add(m.lifetime)}
			}
		}
		res := changeset.Result{BaseUser: d.UserID}
		cs.Apply(d)
		res.User, res.Deadline = d.UserID, d.Deadline
		idle := m.idle
		if d.IdleTimeout > 0 {
			idle = d.IdleTimeout
		}
		exp := now.Add(idle)
		if exp.After(d.Deadline) {
			exp = d.Deadline
		}
		if found && rec.Expiry.After(exp) {
			exp = rec.Expiry
		}
		if !exp.After(now) {
			return changeset.Result{BaseUser: res.BaseUser}, nil
		}
		blob, err := m.codec.Encode(d, []byte(key))
		if err != nil {
			return changeset.Result{}, fmt.Errorf("session: replay: %w", err)
		}
		v, err := st.Save(ctx, key, blob, exp, expected)
		if err == nil {
			res.Record = backends.Record{Blob: blob, Version: v, Expiry: exp}
			return res, nil
		}
		if !backends.IsConflict(err) {
			return changeset.Result{}, err
		}
		if err := conflictBackoff(ctx, attempt); err != nil {
			return changeset.Result{}, err
		}
	}
	return changeset.Result{}, fmt.Errorf("session: replay gave up after %d conflicting writers: %w", maxCommitAttempts, backends.ErrConflict)
}

// replayBase returns the session held by the first of keys with a live,
// readable record in st, or nil.
func (m *Manager) replayBase(ctx context.Context, st backends.Store, keys []string) (*codec.Data, error) {
	now := m.now()
	for _, k := range keys {
		rec, found, err := st.Load(ctx, k)
		if errors.Is(err, backends.ErrInvalidRecord) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		d, err := m.codec.Decode(rec.Blob, []byte(k))
		if err != nil {
			m.logger.WarnContext(ctx, "session: replay: a record the session was renewed from cannot be decoded; skipped", "error", err)
			continue
		}
		if alive(now, rec, d) {
			return d, nil
		}
	}
	return nil, nil
}
