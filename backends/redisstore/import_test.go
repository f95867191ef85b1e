package redisstore_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/redistest"
)

func TestImport(t *testing.T) {
	srv := redistest.StartServer(t)
	s := newStore(t, client(t, srv.Addr()))
	testImport(t, s)
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
	// A key holding something else is refused, not overwritten.
	if err := srv.Client().Set(t.Context(), s.Prefix()+"foreign", "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(t.Context(), "foreign", backends.Record{Blob: []byte("x"), Version: 1, Expiry: time.Now().Add(time.Hour)}, false)
	if !errors.Is(err, backends.ErrInvalidRecord) {
		t.Fatalf("Import over a foreign value: %v, want ErrInvalidRecord", err)
	}
}

// testImport checks the backends.Importer contract on st.
func testImport(t *testing.T, st interface {
	backends.Store
	backends.Importer
}) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	rec := func(blob string, v uint64) backends.Record {
		return backends.Record{Blob: []byte(blob), Version: v, Expiry: exp}
	}
	expect := func(what string, key, blob string, v uint64) {
		t.Helper()
		got, found, err := st.Load(ctx, key)
		if err != nil || !found || string(got.Blob) != blob || got.Version != v || !got.Expiry.Equal(exp) {
			t.Fatalf("%s: Load = %q v%d %v %v %v, want %q v%d %v", what, got.Blob, got.Version, got.Expiry, found, err, blob, v, exp)
		}
	}
	if w, err := st.Import(ctx, "k", rec("a", 5), false); err != nil || !w {
		t.Fatalf("Import into a free key = %v, %v", w, err)
	}
	expect("imported", "k", "a", 5)
	if w, err := st.Import(ctx, "k", rec("older", 4), false); err != nil || w {
		t.Fatalf("Import of a lower version = %v, %v", w, err)
	}
	if w, err := st.Import(ctx, "k", rec("same", 5), false); err != nil || w {
		t.Fatalf("Import of the same version = %v, %v", w, err)
	}
	if w, err := st.Import(ctx, "k", rec("newer", 6), true); err != nil || w {
		t.Fatalf("Import onlyIfAbsent over a record = %v, %v", w, err)
	}
	expect("kept", "k", "a", 5)
	if w, err := st.Import(ctx, "k", rec("newer", 10), false); err != nil || !w {
		t.Fatalf("Import of a higher version = %v, %v", w, err)
	}
	expect("replaced", "k", "newer", 10)
	// The compare-and-set goes on from the imported version.
	if v, err := st.Save(ctx, "k", []byte("saved"), exp, 10); err != nil || v != 11 {
		t.Fatalf("Save after Import = %d, %v", v, err)
	}
	if _, err := st.Import(ctx, "z", backends.Record{Blob: []byte("x"), Version: 1}, false); !errors.Is(err, backends.ErrNoExpiry) {
		t.Fatalf("Import without expiry: %v", err)
	}
	if w, err := st.Import(ctx, "p", backends.Record{Blob: []byte("x"), Version: 1, Expiry: time.Now().Add(-time.Second)}, false); err != nil || w {
		t.Fatalf("Import of an expired record = %v, %v", w, err)
	}
	if _, found, _ := st.Load(ctx, "p"); found {
		t.Fatal("expired record imported")
	}
	if _, err := st.Import(ctx, "z", backends.Record{Blob: []byte("x"), Expiry: exp}, false); err == nil {
		t.Fatal("Import of version 0 accepted")
	}
}
