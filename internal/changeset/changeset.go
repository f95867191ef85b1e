// Package changeset holds the change set of a session write: what one
// request (or, compacted, a run of requests) changed in a session, field by
// field, so that it can be applied to whatever record a store holds later.
// The session manager records one per request, rebases it onto the latest
// stored record when a compare-and-set loses, and hands it to a fail-over
// store, which journals it and replays it onto the primary after an outage.
package changeset

import (
	"context"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/codec"
)

// Kind is the kind of an Op.
type Kind uint8

// The kinds of value operations.
const (
	Put Kind = iota
	Delete
	Clear
)

// Op is one value operation.
type Op struct {
	Kind  Kind
	Key   string
	Value []byte
}

// Set is a change set. The zero Set changes nothing.
type Set struct {
	// Ops are the value operations in order, compacted: no two operate on
	// the same key, and a Clear can only be the first.
	Ops []Op
	// UserSet says the user binding changed to User.
	UserSet bool
	User    string
	// LifetimeSet says the session was given its own idle timeout and
	// lifetime (counted from its creation), and a persistent cookie.
	LifetimeSet bool
	Idle        time.Duration
	Lifetime    time.Duration
	// Created is set when the session did not exist before the change set:
	// a session built from the change set alone starts then.
	Created time.Time
}

// Empty reports whether s changes nothing.
func (s *Set) Empty() bool {
	return len(s.Ops) == 0 && !s.UserSet && !s.LifetimeSet
}

// Add appends an operation, dropping the earlier ones it supersedes.
func (s *Set) Add(op Op) {
	if op.Kind == Clear {
		clear(s.Ops)
		s.Ops = append(s.Ops[:0], op)
		return
	}
	for i := range s.Ops {
		if s.Ops[i].Kind != Clear && s.Ops[i].Key == op.Key {
			copy(s.Ops[i:], s.Ops[i+1:])
			s.Ops[len(s.Ops)-1] = Op{}
			s.Ops = s.Ops[:len(s.Ops)-1]
			break
		}
	}
	s.Ops = append(s.Ops, op)
}

// SetUser records a change of the user binding.
func (s *Set) SetUser(user string) { s.UserSet, s.User = true, user }

// SetLifetime records a change of the session's own timeouts.
func (s *Set) SetLifetime(idle, lifetime time.Duration) {
	s.LifetimeSet, s.Idle, s.Lifetime = true, idle, lifetime
}

// Merge adds the changes of later, made after those of s, to s.
func (s *Set) Merge(later *Set) {
	for _, op := range later.Ops {
		s.Add(op)
	}
	if later.UserSet {
		s.SetUser(later.User)
	}
	if later.LifetimeSet {
		s.SetLifetime(later.Idle, later.Lifetime)
	}
	if s.Created.IsZero() {
		s.Created = later.Created
	}
}

// Clone returns a copy of s that shares no mutable state with it.
func (s *Set) Clone() *Set {
	c := *s
	c.Ops = append([]Op(nil), s.Ops...)
	return &c
}

// Reset empties s for reuse.
func (s *Set) Reset() {
	clear(s.Ops)
	*s = Set{Ops: s.Ops[:0]}
}

// Apply applies s to d. The creation time never moves.
func (s *Set) Apply(d *Data) {
	if d.Values == nil && len(s.Ops) > 0 {
		d.Values = make(map[string][]byte, len(s.Ops))
	}
	for _, op := range s.Ops {
		switch op.Kind {
		case Put:
			d.Values[op.Key] = op.Value
		case Delete:
			delete(d.Values, op.Key)
		case Clear:
			clear(d.Values)
		}
	}
	if s.UserSet {
		d.UserID = s.User
	}
	if s.LifetimeSet {
		d.IdleTimeout = s.Idle
		d.Deadline = d.Created.Add(s.Lifetime)
		d.Persistent = true
	}
}

// Size estimates the memory s holds, in bytes.
func (s *Set) Size() int {
	n := 64 + len(s.User)
	for _, op := range s.Ops {
		n += 40 + len(op.Key) + len(op.Value)
	}
	return n
}

// Data is the decoded session a change set applies to.
type Data = codec.Data

// Replayer applies a change set to the record of key in a store, by
// compare-and-set, retrying on conflict. When key holds no record, the
// session is built on the first of bases (older keys of the same session,
// newest first) whose record is alive, and otherwise on the change set
// alone (a new anonymous session, or the user the change set binds).
// Replay must be idempotent: applying the same change set twice gives the
// same record as once.
type Replayer interface {
	Replay(ctx context.Context, st backends.Store, key string, bases []string, cs *Set) (Result, error)
}

// Result is what a replay wrote: for the user index, the user the record is
// bound to and its deadline (User is "" when the record is unbound or was
// not written), and the user the base record was bound to; and the record
// itself.
type Result struct {
	User     string
	Deadline time.Time
	BaseUser string
	// Record is the record written (Version 0: none was).
	Record backends.Record
}

// Write is what a journaling store needs to replay a write later: the
// change set and who can apply it.
type Write struct {
	Set      *Set
	Replayer Replayer
}

// Journaled is implemented by fail-over stores that journal the writes
// their fallback serves. The session manager calls these methods instead of
// Save, Renew and Delete when its store implements them, so that the
// journal holds change sets it can merge onto the primary's records.
type Journaled interface {
	SaveChanges(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64, w Write) (uint64, error)
	RenewChanges(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time, w Write) error
	// DeleteUntil deletes key; a tombstone journaled for it may be
	// forgotten after until, when the record it shadows is dead anyway.
	DeleteUntil(ctx context.Context, key string, until time.Time) error
	// FailingOver reports whether operations are served by the fallback
	// right now, without asking the primary (the circuit is open).
	FailingOver() bool
}
