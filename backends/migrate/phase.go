package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
)

// Phase is a step of a migration from an old store to a new one. Phases are
// ordered: a migration moves from OldOnly to NewOnly one phase at a time.
type Phase int

const (
	// OldOnly reads and writes the old store only; the new store sees
	// nothing but deletions. It is where a migration starts and where a
	// rollback ends.
	OldOnly Phase = iota
	// WriteBoth reads from the old store; every write goes to the old
	// store (the compare-and-set) and then to the new store, with the same
	// version. Records nobody writes stay in the old store only; copy them
	// with package transfer before ReadNew.
	WriteBoth
	// ReadNew reads from both stores and serves the higher version,
	// preferring the new store on a tie; a record that the new store lacks
	// or holds at a lower version is copied to it (a repair, counted in
	// Status). Writes go to both stores as in WriteBoth.
	ReadNew
	// NewOnly reads and writes the new store only; the old store sees
	// nothing but deletions, whose errors are counted and not returned.
	NewOnly
)

var phaseNames = [...]string{"old-only", "write-both", "read-new", "new-only"}

// String returns the phase's name: "old-only", "write-both", "read-new" or
// "new-only".
func (p Phase) String() string {
	if p < OldOnly || p > NewOnly {
		return fmt.Sprintf("Phase(%d)", int(p))
	}
	return phaseNames[p]
}

// ErrUnknownPhase is returned by ParsePhase and by State.Validate for a
// phase that does not exist.
var ErrUnknownPhase = errors.New("migrate: unknown phase")

// ParsePhase returns the phase named s (see Phase.String).
func ParsePhase(s string) (Phase, error) {
	for i, n := range phaseNames {
		if n == s {
			return Phase(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want old-only, write-both, read-new or new-only)", ErrUnknownPhase, s)
}

// MarshalText encodes the phase as its name.
func (p Phase) MarshalText() ([]byte, error) {
	if p < OldOnly || p > NewOnly {
		return nil, fmt.Errorf("%w %d", ErrUnknownPhase, int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText decodes a phase name.
func (p *Phase) UnmarshalText(b []byte) error {
	v, err := ParsePhase(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ErrPartialNewOnly is returned by State.Validate for NewOnly with a
// rollout under 100%.
var ErrPartialNewOnly = errors.New("migrate: new-only takes no partial rollout")

// State is where a migration stands: a phase and how many sessions are in it.
type State struct {
	// Phase is the phase the rolled-out sessions are in.
	Phase Phase `json:"phase"`
	// Rollout is the percentage (0 to 100) of sessions in Phase; the others
	// are in the phase before it. NewOnly takes no partial rollout (it must
	// be 100): until every session has left the old store, per-user limits
	// and listings need the old store to see every session. Which sessions are rolled out is decided
	// by a stable hash of the session's store key, so a session never
	// moves between phases while the rollout grows, and every instance of
	// the application puts it in the same phase. A State with Phase OldOnly
	// ignores Rollout.
	Rollout int `json:"rollout"`
}

// Validate reports a phase out of range or a rollout outside 0..100.
func (s State) Validate() error {
	if s.Phase < OldOnly || s.Phase > NewOnly {
		return fmt.Errorf("%w %d", ErrUnknownPhase, int(s.Phase))
	}
	if s.Rollout < 0 || s.Rollout > 100 {
		return fmt.Errorf("migrate: rollout %d%% is not between 0 and 100", s.Rollout)
	}
	if s.Phase == NewOnly && s.Rollout != 100 {
		return fmt.Errorf("%w: new-only at %d%%", ErrPartialNewOnly, s.Rollout)
	}
	return nil
}

// String formats the state as "write-both" or "write-both 25%".
func (s State) String() string {
	if s.Rollout >= 100 || s.Phase == OldOnly {
		return s.Phase.String()
	}
	return fmt.Sprintf("%s %d%%", s.Phase, s.Rollout)
}

// full reports whether every session is in s.Phase.
func (s State) full() bool { return s.Phase == OldOnly || s.Rollout >= 100 }

// lowest is the earliest phase any session is in.
func (s State) lowest() Phase {
	if s.full() {
		return s.Phase
	}
	return s.Phase - 1
}

// phaseOf returns the phase of the session stored under key.
func (s State) phaseOf(key string) Phase {
	if s.full() || bucket(key) < s.Rollout {
		return s.Phase
	}
	return s.Phase - 1
}

// bucket maps a store key to 0..99 with FNV-1a: stable across processes,
// restarts and versions of this package.
func bucket(key string) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % 100)
}

// InRollout reports whether the session stored under key is among the
// first percent percent of sessions a rollout takes (see State.Rollout).
func InRollout(key string, percent int) bool { return bucket(key) < percent }

func encodeState(s State) ([]byte, error) { return json.Marshal(s) }

func decodeState(b []byte) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("migrate: control record: %w", err)
	}
	return s, s.Validate()
}
