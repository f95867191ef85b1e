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
	b.Helper()
	srv := redistest.StartServer(b)
	s := newStore(b, client(b, srv.Addr()))
	if err := s.LoadScripts(b.Context()); err != nil {
		b.Fatal(err)
	}
	blob := make([]byte, 1024)
	_, _ = rand.Read(blob)
	return s, blob
}

func benchKey() string {
	var k [32]byte
	_, _ = rand.Read(k[:])
	return hex.EncodeToString(k[:])
}

func BenchmarkLoad(b *testing.B) {
	s, blob := benchStore(b)
	ctx := b.Context()
	key := benchKey()
	if _, err := s.Save(ctx, key, blob, time.Now().Add(time.Hour), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, err := s.Load(ctx, key); err != nil || !found {
			b.Fatal(found, err)
		}
	}
}

func BenchmarkSave(b *testing.B) {
	s, blob := benchStore(b)
	ctx := b.Context()
	key := benchKey()
	exp := time.Now().Add(time.Hour)
	var v uint64
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if v, err = s.Save(ctx, key, blob, exp, v); err != nil {
			b.Fatal(err)
		}
	}
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
