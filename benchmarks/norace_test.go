//go:build !race

package benchmarks

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = false
