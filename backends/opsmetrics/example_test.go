package opsmetrics_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/opsmetrics"
	"github.com/sessionkit/session/backends/replicate"
)

func ExampleRegisterReplication() {
	primary, _ := memstore.New(memstore.Options{})
	standby, _ := memstore.New(memstore.Options{})
	rep, _ := replicate.New(primary, []backends.Store{standby})
	defer rep.Close()
	reg := prometheus.NewRegistry()
	if err := opsmetrics.RegisterReplication(reg, rep, "session"); err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, _ = rep.Save(ctx, "k", []byte("x"), time.Now().Add(time.Hour), 0)
	_ = rep.Flush(ctx)
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP session_replication_changes_total Replication changes by result: queued, dropped (queue full, left to anti-entropy), applied, failed.
# TYPE session_replication_changes_total counter
session_replication_changes_total{result="applied"} 1
session_replication_changes_total{result="dropped"} 0
session_replication_changes_total{result="failed"} 0
session_replication_changes_total{result="queued"} 1
`), "session_replication_changes_total")
	fmt.Println(err)
	// Output: <nil>
}

func ExampleRegisterMigration() {
	old, _ := memstore.New(memstore.Options{})
	new, _ := memstore.New(memstore.Options{})
	m, _ := migrate.New(old, new, migrate.State{Phase: migrate.WriteBoth, Rollout: 30})
	defer m.Close()
	reg := prometheus.NewRegistry()
	if err := opsmetrics.RegisterMigration(reg, m, ""); err != nil {
		panic(err)
	}
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP session_migration_phase 1 for the migration's current phase.
# TYPE session_migration_phase gauge
session_migration_phase{phase="new-only"} 0
session_migration_phase{phase="old-only"} 0
session_migration_phase{phase="read-new"} 0
session_migration_phase{phase="write-both"} 1
# HELP session_migration_rollout_percent Percentage of sessions in the current phase (the others are in the phase before).
# TYPE session_migration_rollout_percent gauge
session_migration_rollout_percent 30
`), "session_migration_phase", "session_migration_rollout_percent")
	fmt.Println(err)
	// Output: <nil>
}
