package migrate

import (
	"context"

	"github.com/sessionkit/session/backends"
)

// Keys calls fn for each live key of the stores the state covers (see
// UserKeys), each key once, the control record left out. When both stores
// are covered, the keys of the new store are kept in memory to skip them in
// the old one.
func (s *Store) Keys(ctx context.Context, fn func(key string) bool) error {
	useOld, useNew := s.span()
	seen := map[string]bool{}
	both := useOld && useNew
	stopped := false
	var order []backends.Store // the new store first when both
	if useNew {
		order = append(order, s.new)
	}
	if useOld {
		order = append(order, s.old)
	}
	for _, st := range order {
		it, ok := st.(backends.Iterator)
		if !ok {
			return &backends.OpError{Backend: backendName, Op: "keys", Err: ErrUnsupported}
		}
		isNew := st == s.new
		err := it.Keys(ctx, func(k string) bool {
			if k == s.control {
				return true
			}
			if both {
				if isNew {
					seen[k] = true
				} else if seen[k] {
					return true
				}
			}
			if !fn(k) {
				stopped = true
				return false
			}
			return true
		})
		if err != nil || stopped {
			return err
		}
	}
	return nil
}

// Count returns the number of keys Keys would report.
func (s *Store) Count(ctx context.Context) (int, error) {
	n := 0
	err := s.Keys(ctx, func(string) bool { n++; return true })
	return n, err
}

// Ping pings the stores the state covers.
func (s *Store) Ping(ctx context.Context) error {
	useOld, useNew := s.span()
	for _, st := range s.pick(useOld, useNew) {
		p, ok := st.(backends.Pinger)
		if !ok {
			continue
		}
		if err := p.Ping(ctx); err != nil {
			return err
		}
	}
	return nil
}
