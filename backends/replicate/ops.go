package replicate

import (
	"context"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/changeset"
)

// Load reads the primary.
func (s *Store) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	return s.primary.Load(ctx, key)
}

// Save writes to the primary and queues the key for replication. A
// delete-if-version (a past expiry) that succeeds is applied to the
// standbys at once.
func (s *Store) Save(ctx context.Context, key string, blob []byte, expiry time.Time, expected uint64) (uint64, error) {
	v, err := s.primary.Save(ctx, key, blob, expiry, expected)
	if err != nil {
		return v, err
	}
	if v == 0 {
		s.deleteNow(ctx, key)
	} else {
		s.enqueue(item{kind: kRecord, key: key})
	}
	return v, nil
}

// Touch extends the expiry on the primary and queues the key: the
// standbys' copies get the primary's expiry when the item is applied.
func (s *Store) Touch(ctx context.Context, key string, expiry time.Time) error {
	if err := s.primary.Touch(ctx, key, expiry); err != nil {
		return err
	}
	s.enqueue(item{kind: kRecord, key: key})
	return nil
}

// Delete deletes on the primary, then on the standbys at once (queued if
// they do not answer within the delete timeout).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.primary.Delete(ctx, key); err != nil {
		return err
	}
	s.deleteNow(ctx, key)
	return nil
}

// Renew renews on the primary (with its Renewer, or step by step), deletes
// the old key on the standbys at once and queues the new key and its index
// entry.
func (s *Store) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, expiry time.Time, userID string, deadline time.Time) error {
	if err := changeset.Renew(ctx, s.primary, oldKey, oldVersion, newKey, blob, expiry, userID, deadline); err != nil {
		return err
	}
	s.deleteNow(ctx, oldKey)
	s.enqueue(item{kind: kRecord, key: newKey})
	if userID != "" {
		s.enqueue(item{kind: kIndexRemove, key: oldKey, user: userID})
		s.enqueue(item{kind: kIndexAdd, key: newKey, user: userID, deadline: deadline})
	}
	return nil
}

func (s *Store) userIndex(op string) (backends.UserIndex, error) {
	ui, ok := s.primary.(backends.UserIndex)
	if !ok {
		return nil, &backends.OpError{Backend: backendName, Op: op, Err: ErrUnsupported}
	}
	return ui, nil
}

// AddUserKey indexes on the primary and queues the entry for the standbys.
// The anti-entropy pass repairs records, not index entries: an entry
// dropped from a full queue is missing on the standbys until the session is
// indexed again (at its next login or renewal).
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	ui, err := s.userIndex("add_user_key")
	if err != nil {
		return err
	}
	if err := ui.AddUserKey(ctx, userID, key, deadline); err != nil {
		return err
	}
	s.enqueue(item{kind: kIndexAdd, key: key, user: userID, deadline: deadline})
	return nil
}

// RemoveUserKey removes on the primary and queues the removal.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	ui, err := s.userIndex("remove_user_key")
	if err != nil {
		return err
	}
	if err := ui.RemoveUserKey(ctx, userID, key); err != nil {
		return err
	}
	s.enqueue(item{kind: kIndexRemove, key: key, user: userID})
	return nil
}

// UserKeys lists from the primary.
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	ui, err := s.userIndex("user_keys")
	if err != nil {
		return nil, err
	}
	return ui.UserKeys(ctx, userID)
}

// LimitUserKeys enforces the limit atomically on the primary and deletes
// the sessions it removed on the standbys at once.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	ul, ok := s.primary.(backends.UserLimiter)
	if !ok {
		return nil, &backends.OpError{Backend: backendName, Op: "limit_user_keys", Err: ErrUnsupported}
	}
	victims, err := ul.LimitUserKeys(ctx, userID, keep, max)
	for _, k := range victims {
		s.deleteNow(ctx, k)
		s.enqueue(item{kind: kIndexRemove, key: k, user: userID})
	}
	return victims, err
}

// Keys iterates the primary.
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	it, ok := s.primary.(backends.Iterator)
	if !ok {
		return &backends.OpError{Backend: backendName, Op: "keys", Err: ErrUnsupported}
	}
	return it.Keys(ctx, fn)
}

// Count counts the primary's records.
func (s *Store) Count(ctx context.Context) (int, error) {
	c, ok := s.primary.(backends.Counter)
	if !ok {
		return 0, &backends.OpError{Backend: backendName, Op: "count", Err: ErrUnsupported}
	}
	return c.Count(ctx)
}

// Ping pings the primary only: a standby that is down does not make the
// store unhealthy (see Stats for replication failures).
func (s *Store) Ping(ctx context.Context) error {
	if p, ok := s.primary.(backends.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
