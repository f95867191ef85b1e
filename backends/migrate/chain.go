package migrate

import (
	"iter"

	"github.com/sessionkit/session/backends"
)

// WrappedStores yields the old store and the new one, with the roles "old"
// and "new", so that status pages (package admin) can show the whole
// chain.
func (s *Store) WrappedStores() iter.Seq2[string, backends.Store] {
	return func(yield func(string, backends.Store) bool) {
		_ = yield("old", s.old) && yield("new", s.new)
	}
}

// MigrationPhase returns the current state as State.String names it:
// "write-both", "read-new 10%" and so on. It does no I/O.
func (s *Store) MigrationPhase() string { return s.State().String() }
