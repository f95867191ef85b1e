// Package benchmarks compares sessionkit with alexedwards/scs and
// gorilla/sessions on the same workload, in memory and on Redis. It is a
// separate module so that those libraries never enter the dependency graph
// of the session package.
//
// Run it with:
//
//	go test -run '^$' -bench . -benchmem -count 6 .
//	go test -run TestLoad -v -count 1 . -args -load
//
// The Redis comparison (scs with scs/redisstore, gorilla/sessions with
// rbcervilla/redisstore, sessionkit with redisstore, with WithFailover and
// with the near-cache), the performance targets checked against its
// figures, the value serializer and zstd measurements of the codec's
// configuration, and the rewrite of the Redis section of
// docs/benchmarks.md with its chart, from one run that starts and stops its
// own redis-server:
//
//	go test -run '^TestPublish$' -count 1 -timeout 15m . -args -publish
package benchmarks
