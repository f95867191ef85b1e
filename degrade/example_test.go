package degrade_test

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
)

// Redis as the primary store, memory as the fallback: while Redis is down
// sessions are served from memory, responses carry X-Session-Degraded:
// true, and what was written meanwhile is merged back into Redis when it
// returns.
func ExampleNew() {
	// NewFromURL sets go-redis's ContextTimeoutEnabled, so the fail-over
	// timeout reaches the network calls. Construction does no I/O: the
	// application starts even while Redis is down.
	primary, err := redisstore.NewFromURL("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer primary.Close()

	store, err := degrade.New(primary,
		degrade.WithTimeout(200*time.Millisecond), // per call to Redis
		degrade.WithFailureThreshold(3),           // consecutive failures that open the circuit
		degrade.WithProbeInterval(time.Second),    // health probe while open
	)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	m, err := session.New(session.WithSecret([]byte("an application secret of at least 32 random bytes")), session.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		st := store.Status()
		if st.State != degrade.StateClosed {
			w.Header().Set("Warning", `199 - "sessions degraded: `+st.State.String()+`"`)
		}
		w.Write([]byte("ok"))
	})
	srv := &http.Server{Addr: ":8080", Handler: m.Middleware(mux)}
	log.Fatal(srv.ListenAndServe())
}

// The journal of writes made during an outage is bounded in entries and in
// bytes; beyond the bounds writes are refused with ErrJournalFull (the
// request fails, nothing is lost silently). Copies of the records the
// process has seen serve sessions with their data during an outage.
func ExampleWithJournalBytes() {
	primary, err := memstoreForExample()
	if err != nil {
		log.Fatal(err)
	}
	store, err := degrade.New(primary,
		degrade.WithJournalLimit(10_000), // sessions, renewed-away keys and tombstones
		degrade.WithJournalBytes(16<<20), // 16 MiB of change sets, moves and tombstones
		degrade.WithCopies(8<<20),        // 8 MiB of last known copies
		degrade.WithReplayRate(500),      // sessions per second after recovery
		degrade.WithProbeInterval(time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	st := store.Status()
	fmt.Println(st.State, st.Entries, st.Bytes, st.Refused)
	// Output: closed 0 0 0
}

// memstoreForExample stands in for a Redis primary.
func memstoreForExample() (*memstore.Store, error) { return memstore.New(memstore.Options{}) }
