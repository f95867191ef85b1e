// Package benchmarks compares sessionkit with alexedwards/scs and
// gorilla/sessions on the same workload. It is a separate module so that
// those libraries never enter the dependency graph of the session package.
//
// Run it with:
//
//	go test -run '^$' -bench . -benchmem -count 6 .
//	go test -run TestLoad -v -count 1 .
package benchmarks
