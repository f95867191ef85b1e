//go:build unix

package cputime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sessionkit/session/internal/cputime"
)

func ExampleLoop() {
	r := testing.Benchmark(func(b *testing.B) {
		cputime.Loop(b, func() { _ = strings.Repeat("x", 64) })
	})
	_, reported := r.Extra[cputime.Metric]
	fmt.Println("cpu-ns/op reported:", reported, "allocs reported:", r.MemAllocs > 0)
	// Output: cpu-ns/op reported: true allocs reported: true
}

func ExampleProcess() {
	start, ok := cputime.Process()
	used := start
	for ok && used == start { // work until the clock has moved
		used, ok = cputime.Process()
	}
	fmt.Println("available:", ok, "moved forward:", used > start)
	// Output: available: true moved forward: true
}
