package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionkit/session/backends"
)

// DefaultControlKey is the store key of the control record unless
// WithControlKey says otherwise. Session keys are hashes of session IDs and
// never take this form.
const DefaultControlKey = "sessionkit-migration-control"

// controlLifetime is the expiry given to the control record (no record is
// written without one); every Publish renews it.
const controlLifetime = 10 * 365 * 24 * time.Hour

// ErrSkipsPhase is returned by Publish when a session could be more than
// one phase away from where it is now: the new state skips a phase, or
// leaves the phase before a partial rollout behind (finish the rollout at
// 100% first). Instances learn of a published state only
// at their next poll, so for up to one poll interval some run the old state
// and some the new one; adjacent phases are safe to mix, phases further
// apart are not. Publish with force set skips the check.
var ErrSkipsPhase = errors.New("migrate: the new state skips a phase")

// Publish stores st in the control record under key in st (the migration's
// new store, where every instance created with WithControl polls it), so
// that all instances switch to it within one poll interval. It returns the
// state it replaced (the zero State, OldOnly, when there was none). Unless
// force, a state more than one phase away from the stored one is refused
// with ErrSkipsPhase: move one phase at a time and wait for every instance
// to report the new phase (Status) before the next move.
func Publish(ctx context.Context, store backends.Store, key string, st State, force bool) (State, error) {
	if err := st.Validate(); err != nil {
		return State{}, err
	}
	blob, err := encodeState(st)
	if err != nil {
		return State{}, err
	}
	for attempt := 0; ; attempt++ {
		prev, version, err := ReadControl(ctx, store, key)
		if err != nil {
			return State{}, err
		}
		// While instances switch, a session may be in any phase of either
		// state: those must be at most one phase apart.
		if !force && max(prev.Phase, st.Phase)-min(prev.lowest(), st.lowest()) > 1 {
			return prev, fmt.Errorf("%w: from %v to %v", ErrSkipsPhase, prev, st)
		}
		_, err = store.Save(ctx, key, blob, time.Now().Add(controlLifetime), version)
		if err == nil {
			return prev, nil
		}
		if !backends.IsConflict(err) || attempt == 10 {
			return prev, fmt.Errorf("migrate: publish %v: %w", st, err)
		}
	}
}

// ReadControl returns the state stored in the control record under key, and
// the record's version (0 and the zero State when there is none).
func ReadControl(ctx context.Context, store backends.Store, key string) (State, uint64, error) {
	rec, found, err := store.Load(ctx, key)
	if err != nil {
		return State{}, 0, fmt.Errorf("migrate: read the control record: %w", err)
	}
	if !found {
		return State{}, 0, nil
	}
	st, err := decodeState(rec.Blob)
	if err != nil {
		return State{}, 0, err
	}
	return st, rec.Version, nil
}
