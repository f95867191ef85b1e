package migrate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/migrate"
)

// A migration from one store to another, phase by phase. In production the
// old store would be an in-memory or Redis store, the new one Redis, and
// the store passed to session.WithStore.
func Example() {
	ctx := context.Background()
	old, _ := memstore.New(memstore.Options{})
	new, _ := memstore.New(memstore.Options{})
	m, err := migrate.New(old, new, migrate.State{Phase: migrate.OldOnly})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	exp := time.Now().Add(time.Hour)
	v, _ := m.Save(ctx, "before", []byte("written in old-only"), exp, 0)

	_ = m.SetState(migrate.State{Phase: migrate.WriteBoth, Rollout: 100})
	v, _ = m.Save(ctx, "before", []byte("written in write-both"), exp, v)
	copy, _, _ := new.Load(ctx, "before")
	fmt.Printf("new store: %q version %d (same as the old store: %d)\n", copy.Blob, copy.Version, v)

	_ = m.SetState(migrate.State{Phase: migrate.ReadNew, Rollout: 100})
	_ = m.SetState(migrate.State{Phase: migrate.NewOnly, Rollout: 100})
	rec, _, _ := m.Load(ctx, "before")
	fmt.Printf("served in %v: %q\n", m.State(), rec.Blob)
	// Output:
	// new store: "written in write-both" version 2 (same as the old store: 2)
	// served in new-only: "written in write-both"
}

// Publish is how a command-line tool moves every instance to the next
// phase: it writes the control record in the new store, which each
// instance created WithControl polls.
func ExamplePublish() {
	ctx := context.Background()
	old, _ := memstore.New(memstore.Options{})
	new, _ := memstore.New(memstore.Options{})
	m, _ := migrate.New(old, new, migrate.State{}, migrate.WithControl(time.Second))
	defer m.Close()

	// The tool: one phase at a time.
	prev, err := migrate.Publish(ctx, new, migrate.DefaultControlKey, migrate.State{Phase: migrate.WriteBoth, Rollout: 10}, false)
	fmt.Println(prev, "->", "write-both 10%", err)
	_, err = migrate.Publish(ctx, new, migrate.DefaultControlKey, migrate.State{Phase: migrate.NewOnly, Rollout: 100}, false)
	fmt.Println(err)

	// An instance, at its next poll (forced here).
	_ = m.Poll(ctx)
	fmt.Println(m.State())
	// Output:
	// old-only -> write-both 10% <nil>
	// migrate: the new state skips a phase: from write-both 10% to new-only
	// write-both 10%
}

// The status handler reports the state and the counters as JSON, for an
// admin endpoint.
func ExampleStore_StatusHandler() {
	old, _ := memstore.New(memstore.Options{})
	new, _ := memstore.New(memstore.Options{})
	m, _ := migrate.New(old, new, migrate.State{Phase: migrate.ReadNew, Rollout: 25})
	defer m.Close()

	rec := httptest.NewRecorder()
	m.StatusHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/migration", nil))
	body := rec.Body.String()
	fmt.Println(rec.Code, strings.Contains(body, `"state":{"phase":"read-new","rollout":25}`))
	// Output: 200 true
}

func ExampleParsePhase() {
	p, err := migrate.ParsePhase("read-new")
	fmt.Println(p, err)
	_, err = migrate.ParsePhase("read-old")
	fmt.Println(err)
	// Output:
	// read-new <nil>
	// migrate: unknown phase "read-old" (want old-only, write-both, read-new or new-only)
}

func ExampleInRollout() {
	// A session's place in a rollout depends only on its store key.
	fmt.Println(migrate.InRollout("some-session-key", 100), migrate.InRollout("some-session-key", 0))
	// Output: true false
}

// The store tells status pages (package admin) which stores it is built on
// and its phase.
func ExampleStore_WrappedStores() {
	old, _ := memstore.New(memstore.Options{})
	new, _ := memstore.New(memstore.Options{})
	m, _ := migrate.New(old, new, migrate.State{Phase: migrate.ReadNew, Rollout: 50})
	defer m.Close()
	for role := range m.WrappedStores() {
		fmt.Println(role)
	}
	fmt.Println(m.MigrationPhase())
	// Output:
	// old
	// new
	// read-new 50%
}
