// Package opsmetrics exports the figures of a migration (backends/migrate)
// and of replication (backends/replicate) as Prometheus metrics, read from
// the stores' Status and Stats at each scrape. It follows package metrics:
// namespace "session" by default, no label carrying a key or a user.
//
//	reg := prometheus.NewRegistry()
//	err := opsmetrics.RegisterReplication(reg, rep, "session")
//
// # Metrics
//
// Replication (RegisterReplication):
//
//	session_replication_queue_depth            gauge
//	session_replication_queue_capacity         gauge
//	session_replication_lag_seconds            gauge
//	session_replication_changes_total{result}  counter (queued, dropped, applied, failed)
//	session_replication_copied_total           counter
//	session_replication_anti_entropy_passes_total{result}  counter (ok, failed)
//	session_replication_repaired_total         counter
//
// Migration (RegisterMigration):
//
//	session_migration_phase{phase}             gauge (1 for the current phase)
//	session_migration_rollout_percent          gauge
//	session_migration_reads_total{store}       counter (old, new)
//	session_migration_repairs_total{result}    counter (ok, failed)
//	session_migration_mirror_writes_total      counter
//	session_migration_mirror_failures_total    counter
//	session_migration_mirror_conflicts_total   counter
//	session_migration_other_delete_failures_total  counter
//	session_migration_control_polls_total      counter
//	session_migration_control_poll_errors_total  counter
package opsmetrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/replicate"
)

type collector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

func desc(ns, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
}

// RegisterReplication registers the metrics of rep with reg under the
// namespace ns ("session" when empty).
func RegisterReplication(reg prometheus.Registerer, rep *replicate.Store, ns string) error {
	if reg == nil || rep == nil {
		return errors.New("opsmetrics: nil registerer or store")
	}
	if ns == "" {
		ns = "session"
	}
	depth := desc(ns, "replication_queue_depth", "Changes waiting to be replicated to the standbys.")
	capacity := desc(ns, "replication_queue_capacity", "Bound of the replication queue.")
	lag := desc(ns, "replication_lag_seconds", "How far the standbys are behind the primary (0 when the queue is idle).")
	changes := desc(ns, "replication_changes_total", "Replication changes by result: queued, dropped (queue full, left to anti-entropy), applied, failed.", "result")
	copied := desc(ns, "replication_copied_total", "Records written to standbys.")
	passes := desc(ns, "replication_anti_entropy_passes_total", "Anti-entropy passes by result.", "result")
	repaired := desc(ns, "replication_repaired_total", "Standby copies written or deleted by anti-entropy passes.")
	c := &collector{descs: []*prometheus.Desc{depth, capacity, lag, changes, copied, passes, repaired}}
	c.collect = func(ch chan<- prometheus.Metric) {
		s := rep.Stats()
		ch <- prometheus.MustNewConstMetric(depth, prometheus.GaugeValue, float64(s.QueueDepth))
		ch <- prometheus.MustNewConstMetric(capacity, prometheus.GaugeValue, float64(s.QueueCapacity))
		ch <- prometheus.MustNewConstMetric(lag, prometheus.GaugeValue, s.Lag.Seconds())
		ch <- prometheus.MustNewConstMetric(changes, prometheus.CounterValue, float64(s.Queued), "queued")
		ch <- prometheus.MustNewConstMetric(changes, prometheus.CounterValue, float64(s.Dropped), "dropped")
		ch <- prometheus.MustNewConstMetric(changes, prometheus.CounterValue, float64(s.Applied), "applied")
		ch <- prometheus.MustNewConstMetric(changes, prometheus.CounterValue, float64(s.Failures), "failed")
		ch <- prometheus.MustNewConstMetric(copied, prometheus.CounterValue, float64(s.Copied))
		ch <- prometheus.MustNewConstMetric(passes, prometheus.CounterValue, float64(s.AntiEntropyPasses), "ok")
		ch <- prometheus.MustNewConstMetric(passes, prometheus.CounterValue, float64(s.AntiEntropyFailures), "failed")
		ch <- prometheus.MustNewConstMetric(repaired, prometheus.CounterValue, float64(s.Repaired))
	}
	return reg.Register(c)
}

// RegisterMigration registers the metrics of m with reg under the
// namespace ns ("session" when empty).
func RegisterMigration(reg prometheus.Registerer, m *migrate.Store, ns string) error {
	if reg == nil || m == nil {
		return errors.New("opsmetrics: nil registerer or store")
	}
	if ns == "" {
		ns = "session"
	}
	phase := desc(ns, "migration_phase", "1 for the migration's current phase.", "phase")
	rollout := desc(ns, "migration_rollout_percent", "Percentage of sessions in the current phase (the others are in the phase before).")
	reads := desc(ns, "migration_reads_total", "Records served, by store.", "store")
	repairs := desc(ns, "migration_repairs_total", "Records read-new copied to the store that lacked them or held them at a lower version, by result.", "result")
	mirror := desc(ns, "migration_mirror_writes_total", "Writes copied to the new store.")
	mirrorFail := desc(ns, "migration_mirror_failures_total", "Copies and touches of the new store's copy that failed (repaired by read-new).")
	mirrorConflict := desc(ns, "migration_mirror_conflicts_total", "Saves refused because the new store was ahead (an instance already in new-only).")
	otherDel := desc(ns, "migration_other_delete_failures_total", "Deletions that failed in the store out of the compare-and-set path.")
	polls := desc(ns, "migration_control_polls_total", "Reads of the control record.")
	pollErrs := desc(ns, "migration_control_poll_errors_total", "Reads of the control record that failed.")
	c := &collector{descs: []*prometheus.Desc{phase, rollout, reads, repairs, mirror, mirrorFail, mirrorConflict, otherDel, polls, pollErrs}}
	c.collect = func(ch chan<- prometheus.Metric) {
		s := m.Status()
		for p := migrate.OldOnly; p <= migrate.NewOnly; p++ {
			v := 0.0
			if s.State.Phase == p {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(phase, prometheus.GaugeValue, v, p.String())
		}
		r := float64(s.State.Rollout)
		if s.State.Phase == migrate.OldOnly {
			r = 100
		}
		ch <- prometheus.MustNewConstMetric(rollout, prometheus.GaugeValue, r)
		k := s.Counters
		ch <- prometheus.MustNewConstMetric(reads, prometheus.CounterValue, float64(k.ReadsOld), "old")
		ch <- prometheus.MustNewConstMetric(reads, prometheus.CounterValue, float64(k.ReadsNew), "new")
		ch <- prometheus.MustNewConstMetric(repairs, prometheus.CounterValue, float64(k.Repairs), "ok")
		ch <- prometheus.MustNewConstMetric(repairs, prometheus.CounterValue, float64(k.RepairFailures), "failed")
		ch <- prometheus.MustNewConstMetric(mirror, prometheus.CounterValue, float64(k.MirrorWrites))
		ch <- prometheus.MustNewConstMetric(mirrorFail, prometheus.CounterValue, float64(k.MirrorFailures))
		ch <- prometheus.MustNewConstMetric(mirrorConflict, prometheus.CounterValue, float64(k.MirrorConflicts))
		ch <- prometheus.MustNewConstMetric(otherDel, prometheus.CounterValue, float64(k.OtherDeleteFailures))
		ch <- prometheus.MustNewConstMetric(polls, prometheus.CounterValue, float64(k.Polls))
		ch <- prometheus.MustNewConstMetric(pollErrs, prometheus.CounterValue, float64(k.PollErrors))
	}
	return reg.Register(c)
}
