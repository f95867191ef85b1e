package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
)

func userIndex(st backends.Store, op string) (backends.UserIndex, error) {
	ui, ok := st.(backends.UserIndex)
	if !ok {
		return nil, &backends.OpError{Backend: backendName, Op: op, Err: ErrUnsupported}
	}
	return ui, nil
}

// AddUserKey indexes key under userID in the stores the key's phase writes.
func (s *Store) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	p := s.phaseOf(key)
	auth, _ := s.stores(p)
	ui, err := userIndex(auth, "add_user_key")
	if err != nil {
		return err
	}
	if err := ui.AddUserKey(ctx, userID, key, deadline); err != nil {
		return err
	}
	if p == WriteBoth || p == ReadNew {
		nu, err := userIndex(s.new, "add_user_key")
		if err != nil {
			return err
		}
		if err := nu.AddUserKey(ctx, userID, key, deadline); err != nil {
			return fmt.Errorf("migrate: index in the new store: %w", err)
		}
	}
	return nil
}

// RemoveUserKey forgets key for userID in both stores; in OldOnly and
// NewOnly, errors of the store out of the path are counted, not returned.
func (s *Store) RemoveUserKey(ctx context.Context, userID, key string) error {
	p := s.phaseOf(key)
	auth, other := s.stores(p)
	ui, err := userIndex(auth, "remove_user_key")
	if err != nil {
		return err
	}
	if err := ui.RemoveUserKey(ctx, userID, key); err != nil {
		return err
	}
	ou, ok := other.(backends.UserIndex)
	if !ok {
		return nil
	}
	if err := ou.RemoveUserKey(ctx, userID, key); err != nil {
		s.c.otherDeleteFailures.Add(1)
		if p == WriteBoth || p == ReadNew {
			return fmt.Errorf("migrate: remove the index entry in the other store: %w", err)
		}
	}
	return nil
}

// span says which stores a whole-store operation (user listing, limit,
// iteration, count) must consult: the old store while every session is in
// OldOnly or WriteBoth (the old store has every session then), the new one
// once all are in NewOnly, both in between.
func (s *Store) span() (useOld, useNew bool) {
	st := s.State()
	switch {
	case st.Phase <= WriteBoth:
		return true, false
	case st.lowest() == NewOnly:
		return false, true
	}
	return true, true
}

// UserKeys lists userID's sessions: from the old store, the new store or
// both (deduplicated), depending on the state (see the phases).
func (s *Store) UserKeys(ctx context.Context, userID string) ([]string, error) {
	useOld, useNew := s.span()
	var out []string
	seen := map[string]bool{}
	for _, st := range s.pick(useOld, useNew) {
		ui, err := userIndex(st, "user_keys")
		if err != nil {
			return nil, err
		}
		keys, err := ui.UserKeys(ctx, userID)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out, nil
}

func (s *Store) pick(useOld, useNew bool) []backends.Store {
	var out []backends.Store
	if useOld {
		out = append(out, s.old)
	}
	if useNew {
		out = append(out, s.new)
	}
	return out
}

// LimitUserKeys enforces a per-user limit atomically in the store that
// takes the compare-and-set (the old one until every session is in
// NewOnly), then deletes the sessions it removed in the other store too.
// While a rollout into NewOnly is partial, sessions in NewOnly exist only in
// the new store and are not counted: the limit is exact again once the
// rollout is complete.
func (s *Store) LimitUserKeys(ctx context.Context, userID, keep string, max int) ([]string, error) {
	auth, other := s.old, s.new
	if _, useNew := s.span(); useNew && s.State().lowest() == NewOnly {
		auth, other = s.new, s.old
	}
	ul, ok := auth.(backends.UserLimiter)
	if !ok {
		return nil, &backends.OpError{Backend: backendName, Op: "limit_user_keys", Err: ErrUnsupported}
	}
	victims, err := ul.LimitUserKeys(ctx, userID, keep, max)
	var errs []error
	for _, k := range victims {
		if derr := other.Delete(ctx, k); derr != nil {
			s.c.otherDeleteFailures.Add(1)
			errs = append(errs, derr)
		}
		if ou, ok := other.(backends.UserIndex); ok {
			_ = ou.RemoveUserKey(ctx, userID, k)
		}
	}
	if err != nil {
		return victims, err
	}
	if len(errs) > 0 && other == s.new {
		// The caller deletes the returned keys again (through Delete,
		// which covers both stores).
		return victims, fmt.Errorf("migrate: deleting limited sessions in the new store: %w", errors.Join(errs...))
	}
	return victims, nil
}
