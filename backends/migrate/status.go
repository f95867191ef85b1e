package migrate

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"
)

type counters struct {
	readsOld, readsNew              atomic.Uint64
	repairs, repairFailures         atomic.Uint64
	mirrorWrites, mirrorFailures    atomic.Uint64
	mirrorConflicts                 atomic.Uint64
	otherDeleteFailures             atomic.Uint64
	polls, pollErrors, stateChanges atomic.Uint64
}

// Counters are the store's counts since New. They only grow.
type Counters struct {
	// ReadsOld and ReadsNew count records served from each store.
	ReadsOld uint64 `json:"reads_old"`
	ReadsNew uint64 `json:"reads_new"`
	// Repairs counts records ReadNew found missing or behind in one store
	// and copied from the other; RepairFailures the copies that failed.
	// Before NewOnly, Repairs should have stopped growing.
	Repairs        uint64 `json:"repairs"`
	RepairFailures uint64 `json:"repair_failures"`
	// MirrorWrites counts writes copied to the new store (WriteBoth and
	// ReadNew); MirrorFailures the copies (and touches) that failed, whose
	// records ReadNew repairs later; MirrorConflicts the saves refused
	// because the new store was ahead (an instance already in NewOnly).
	MirrorWrites    uint64 `json:"mirror_writes"`
	MirrorFailures  uint64 `json:"mirror_failures"`
	MirrorConflicts uint64 `json:"mirror_conflicts"`
	// OtherDeleteFailures counts deletions that failed in the store out of
	// the key's compare-and-set path.
	OtherDeleteFailures uint64 `json:"other_delete_failures"`
	// Polls, PollErrors and StateChanges count reads of the control record,
	// the failed ones, and changes of state from any source.
	Polls        uint64 `json:"polls"`
	PollErrors   uint64 `json:"poll_errors"`
	StateChanges uint64 `json:"state_changes"`
}

// Status is what Store.Status and the status handler report.
type Status struct {
	State State `json:"state"`
	// Source says where the state came from: "initial" (New), "local"
	// (SetState) or "control" (the control record).
	Source string `json:"source"`
	// Since is when the state last changed on this instance.
	Since    time.Time `json:"since"`
	Counters Counters  `json:"counters"`
}

// Status returns the current state and the counters.
func (s *Store) Status() Status {
	c := &s.c
	return Status{
		State:  s.State(),
		Source: s.source.Load().(string),
		Since:  time.Unix(0, s.changed.Load()).UTC(),
		Counters: Counters{
			ReadsOld: c.readsOld.Load(), ReadsNew: c.readsNew.Load(),
			Repairs: c.repairs.Load(), RepairFailures: c.repairFailures.Load(),
			MirrorWrites: c.mirrorWrites.Load(), MirrorFailures: c.mirrorFailures.Load(),
			MirrorConflicts:     c.mirrorConflicts.Load(),
			OtherDeleteFailures: c.otherDeleteFailures.Load(),
			Polls:               c.polls.Load(), PollErrors: c.pollErrors.Load(),
			StateChanges: c.stateChanges.Load(),
		},
	}
}

// StatusHandler returns an http.Handler that answers GET and HEAD with
// Status as JSON. It changes nothing; mount it behind the application's
// admin authentication.
func (s *Store) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.Status())
	})
}
