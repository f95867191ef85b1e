package replicate

import (
	"sync/atomic"
	"time"
)

type counters struct {
	queued, dropped, applied, failures, copied atomic.Uint64
	scans, scanFailures, repaired              atomic.Uint64
	lag                                        atomic.Int64 // ns, of the last applied change
	head                                       atomic.Int64 // Unix ns when the change being applied was queued, 0 when idle
}

// Stats are the replication figures, for metrics (package
// backends/opsmetrics exports them to Prometheus) and status endpoints.
type Stats struct {
	// QueueDepth is the number of changes waiting; QueueCapacity its bound.
	QueueDepth    int `json:"queue_depth"`
	QueueCapacity int `json:"queue_capacity"`
	// Lag is how far the standbys are behind: how long the change being
	// applied has waited, or the last applied change waited while more are
	// queued; 0 when the queue is empty and idle.
	Lag time.Duration `json:"lag_ns"`
	// Queued, Dropped and Applied count changes put in the queue, refused
	// by a full queue (left to anti-entropy) and applied.
	Queued  uint64 `json:"queued"`
	Dropped uint64 `json:"dropped"`
	Applied uint64 `json:"applied"`
	// Failures counts changes a standby did not take (left to
	// anti-entropy); Copied the records written to standbys.
	Failures uint64 `json:"failures"`
	Copied   uint64 `json:"copied"`
	// AntiEntropyPasses, AntiEntropyFailures and Repaired count the passes,
	// the passes that stopped on an error, and the standby copies they
	// wrote or deleted.
	AntiEntropyPasses   uint64 `json:"anti_entropy_passes"`
	AntiEntropyFailures uint64 `json:"anti_entropy_failures"`
	Repaired            uint64 `json:"repaired"`
}

// Stats returns the current figures.
func (s *Store) Stats() Stats {
	c := &s.c
	var lag time.Duration
	if h := c.head.Load(); h != 0 {
		lag = time.Since(time.Unix(0, h))
	} else if len(s.queue) > 0 {
		lag = time.Duration(c.lag.Load())
	}
	return Stats{
		QueueDepth: len(s.queue), QueueCapacity: cap(s.queue),
		Lag:    lag,
		Queued: c.queued.Load(), Dropped: c.dropped.Load(), Applied: c.applied.Load(),
		Failures: c.failures.Load(), Copied: c.copied.Load(),
		AntiEntropyPasses: c.scans.Load(), AntiEntropyFailures: c.scanFailures.Load(),
		Repaired: c.repaired.Load(),
	}
}
