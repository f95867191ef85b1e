//go:build !unix

package session_test

import "testing"

// loopCPU runs f in a b.Loop; CPU time per iteration is reported on Unix
// only.
func loopCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	for b.Loop() {
		f()
	}
}
