// Package cputime measures the CPU time a benchmark uses, besides the
// wall-clock time the testing package reports. On a machine shared with
// other work, wall-clock time includes the time other processes held the
// CPU; the process's CPU time does not.
package cputime

import (
	"testing"
	"time"
)

// Metric is the unit under which Loop reports CPU time per iteration.
const Metric = "cpu-ns/op"

// Process returns the CPU time (user and system, all threads) the process
// has used so far, and false where the platform does not provide it.
func Process() (time.Duration, bool) { return processCPU() }

// Loop runs f in a b.Loop with allocations reported and, where Process
// is available, reports the process's CPU time per iteration as Metric.
func Loop(b *testing.B, f func()) {
	b.ReportAllocs()
	start, ok := Process()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	if !ok || n == 0 {
		return
	}
	if end, ok := Process(); ok {
		b.ReportMetric(float64(end-start)/float64(n), Metric)
	}
}
