package memstore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
)

const (
	benchKeys = 10_000
	benchBlob = 1 << 10 // a typical encrypted session of 1 KiB
)

func benchStore(b *testing.B) (*memstore.Store, []string) {
	b.Helper()
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	keys := make([]string, benchKeys)
	blob := make([]byte, benchBlob)
	exp := time.Now().Add(time.Hour)
	for i := range keys {
		// 64 hex digits, like the hashed session IDs the manager uses.
		keys[i] = strconv.FormatUint(uint64(i)*0x9e3779b97f4a7c15, 16) + "0000000000000000000000000000000000000000000000000"
		if _, err := s.Save(context.Background(), keys[i], blob, exp, 0); err != nil {
			b.Fatal(err)
		}
	}
	return s, keys
}

func BenchmarkLoad(b *testing.B) {
	s, keys := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(benchBlob)
	i := 0
	for b.Loop() {
		if _, found, err := s.Load(ctx, keys[i%benchKeys]); !found || err != nil {
			b.Fatal(found, err)
		}
		i++
	}
}

func BenchmarkSave(b *testing.B) {
	s, keys := benchStore(b)
	ctx := context.Background()
	versions := make([]uint64, benchKeys)
	for i := range versions {
		versions[i] = 1
	}
	blob := make([]byte, benchBlob)
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	b.SetBytes(benchBlob)
	i := 0
	for b.Loop() {
		k := i % benchKeys
		v, err := s.Save(ctx, keys[k], blob, exp, versions[k])
		if err != nil {
			b.Fatal(err)
		}
		versions[k] = v
		i++
	}
}

// BenchmarkParallelLoadSave is the request mix of a busy server: every
// request loads its session, one in ten saves it back with compare-and-set.
func BenchmarkParallelLoadSave(b *testing.B) {
	s, keys := benchStore(b)
	ctx := context.Background()
	blob := make([]byte, benchBlob)
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	b.SetBytes(benchBlob)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			key := keys[(i*7919)%benchKeys]
			rec, found, err := s.Load(ctx, key)
			if !found || err != nil {
				b.Error(found, err)
				return
			}
			if i%10 == 0 {
				_, err := s.Save(ctx, key, blob, exp, rec.Version)
				if err != nil && !errors.Is(err, backends.ErrConflict) {
					b.Error(err)
					return
				}
			}
		}
	})
}
