package replicate

import (
	"iter"
	"strconv"
	"time"

	"github.com/sessionkit/session/backends"
)

// WrappedStores yields the primary, with the role "primary", then the
// standbys in the order given to New, with the role "standby" (or
// "standby-1", "standby-2"… when there are several), so that status pages
// (package admin) can show the whole chain.
func (s *Store) WrappedStores() iter.Seq2[string, backends.Store] {
	return func(yield func(string, backends.Store) bool) {
		if !yield("primary", s.primary) {
			return
		}
		for i, sb := range s.standbys {
			role := "standby"
			if len(s.standbys) > 1 {
				role += "-" + strconv.Itoa(i+1)
			}
			if !yield(role, sb.st) {
				return
			}
		}
	}
}

// ReplicationLag returns Stats().Lag: how long the change being applied to
// the standbys has waited, 0 when they are up to date. It does no I/O.
func (s *Store) ReplicationLag() time.Duration { return s.Stats().Lag }
