package redisstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// benchStore returns a store on a fresh local server, with its scripts
// loaded, and a 1 KiB blob (a typical encrypted session).
func benchStore(b *testing.B) (*redisstore.Store, []byte) {
	s, blob, _ := benchServer(b)
	return s, blob
}

// benchServer is benchStore that also returns the server, for
// reportServerTime.
func benchServer(b *testing.B) (*redisstore.Store, []byte, *redistest.Server) {
	b.Helper()
	srv := redistest.StartServer(b)
	s := newStore(b, client(b, srv.Addr()))
	if err := s.LoadScripts(b.Context()); err != nil {
		b.Fatal(err)
	}
	blob := make([]byte, 1024)
	_, _ = rand.Read(blob)
	return s, blob, srv
}

// serverTime starts measuring what the server spends on the benchmark's
// operations; the function it returns reports, per operation, the server's
// microseconds (INFO commandstats usec of the top-level commands: scripts
// include the commands they run) and the commands sent.
func serverTime(b *testing.B, srv *redistest.Server) func() {
	before := srv.CommandTimes(b.Context())
	return func() {
		b.StopTimer()
		var usec, calls int64
		top := redistest.TimeDelta(before, srv.CommandTimes(b.Context()))
		scripted := top["evalsha"].Calls+top["eval"].Calls > 0
		for name, d := range top {
			if !scripted || name == "eval" || name == "evalsha" || !insideScripts(name) {
				usec += d.Usec
				calls += d.Calls
			}
		}
		if n := float64(b.N); n > 0 {
			b.ReportMetric(float64(usec)/n, "server-µs/op")
			b.ReportMetric(float64(calls)/n, "server-cmds/op")
		}
	}
}

// insideScripts reports whether name is a command the store's scripts run
// (and commandstats counts again inside the script's own time).
func insideScripts(name string) bool {
	switch name {
	case "hget", "hset", "hmget", "pexpireat", "pexpiretime", "exists", "del", "hexists":
		return true
	}
	return false
}

func benchKey() string {
	var k [32]byte
	_, _ = rand.Read(k[:])
	return hex.EncodeToString(k[:])
}

func BenchmarkLoad(b *testing.B) {
	s, blob, srv := benchServer(b)
	ctx := b.Context()
	key := benchKey()
	if _, err := s.Save(ctx, key, blob, time.Now().Add(time.Hour), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	report := serverTime(b, srv)
	for b.Loop() {
		if _, found, err := s.Load(ctx, key); err != nil || !found {
			b.Fatal(found, err)
		}
	}
	report()
}

func BenchmarkSave(b *testing.B) {
	s, blob, srv := benchServer(b)
	ctx := b.Context()
	key := benchKey()
	exp := time.Now().Add(time.Hour)
	var v uint64
	b.ReportAllocs()
	report := serverTime(b, srv)
	for b.Loop() {
		var err error
		if v, err = s.Save(ctx, key, blob, exp, v); err != nil {
			b.Fatal(err)
		}
	}
	report()
}

func BenchmarkTouch(b *testing.B) {
	s, blob := benchStore(b)
	ctx := b.Context()
	key := benchKey()
	exp := time.Now().Add(time.Hour)
	if _, err := s.Save(ctx, key, blob, exp, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Touch(ctx, key, exp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadParallel loads from many goroutines, as concurrent requests do.
func BenchmarkLoadParallel(b *testing.B) {
	s, blob := benchStore(b)
	ctx := b.Context()
	key := benchKey()
	if _, err := s.Save(ctx, key, blob, time.Now().Add(time.Hour), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, found, err := s.Load(ctx, key); err != nil || !found {
				b.Error(found, err)
				return
			}
		}
	})
}

// BenchmarkLoadNearCache loads a record another client wrote through a
// store with go-redis's client-side cache: after the first read, every
// read is served from the cache (server-cmds/op near 0).
func BenchmarkLoadNearCache(b *testing.B) {
	srv := redistest.StartServer(b)
	p := newPrefix()
	writer := newStore(b, client(b, srv.Addr()), redisstore.WithPrefix(p))
	s := newStore(b, nearClient(b, srv.Addr(), time.Second, 0), redisstore.WithPrefix(p))
	ctx := b.Context()
	key := benchKey()
	blob := make([]byte, 1024)
	_, _ = rand.Read(blob)
	if _, err := writer.Save(ctx, key, blob, time.Now().Add(time.Hour), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	report := serverTime(b, srv)
	for b.Loop() {
		if _, found, err := s.Load(ctx, key); err != nil || !found {
			b.Fatal(found, err)
		}
	}
	report()
}
