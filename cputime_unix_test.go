//go:build unix

package session_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f in a b.Loop and reports, besides the wall-clock ns/op,
// the process's CPU time per iteration (cpu-ns/op): on a shared machine
// wall-clock time includes the time other processes held the CPU, CPU
// time does not.
func loopCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	start, n := processCPU(), 0
	for b.Loop() {
		f()
		n++
	}
	if n > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(n), "cpu-ns/op")
	}
}
