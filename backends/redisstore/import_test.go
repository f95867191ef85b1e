package redisstore_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/redistest"
)

// The backends.Importer contract is checked by the conformance suite
// (storetest); these tests check how this store lays an imported record out
// in Redis.

func TestImport(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newStore(t, client(t, srv.Addr()))
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if w, err := s.Import(t.Context(), "k", backends.Record{Blob: []byte("a"), Version: 5, Expiry: exp}, false); err != nil || !w {
		t.Fatalf("Import into a free key = %v, %v", w, err)
	}
	// An imported record carries its expiry in the hash as well as in
	// PEXPIREAT, like every record this store writes: its reads are one
	// plain HMGET.
	e, err := srv.Client().HGet(t.Context(), s.Prefix()+"k", "e").Result()
	if err != nil {
		t.Fatalf("imported record has no expiry field: %v", err)
	}
	pexp, err := srv.Client().PExpireTime(t.Context(), s.Prefix()+"k").Result()
	if err != nil || e != strconv.FormatInt(pexp.Milliseconds(), 10) {
		t.Fatalf("expiry field %s, PEXPIRETIME %v (%v)", e, pexp, err)
	}
	if e != strconv.FormatInt(exp.UnixMilli(), 10) {
		t.Fatalf("expiry field %s, want the imported %d", e, exp.UnixMilli())
	}
	// A key holding something else is refused, not overwritten.
	if err := srv.Client().Set(t.Context(), s.Prefix()+"foreign", "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(t.Context(), "foreign", backends.Record{Blob: []byte("x"), Version: 1, Expiry: time.Now().Add(time.Hour)}, false)
	if !errors.Is(err, backends.ErrInvalidRecord) {
		t.Fatalf("Import over a foreign value: %v, want ErrInvalidRecord", err)
	}
	if v, err := srv.Client().Get(t.Context(), s.Prefix()+"foreign").Result(); err != nil || v != "x" {
		t.Fatalf("foreign value after a refused Import: %q, %v", v, err)
	}
}
