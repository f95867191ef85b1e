package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
)

func TestRecentWritesFloors(t *testing.T) {
	r := recentWrites{ttl: time.Hour}
	now := time.Now()
	exp := now.Add(time.Minute).Truncate(time.Millisecond)
	if _, ok := r.floor("k"); ok {
		t.Fatal("a floor for a key never written")
	}
	r.note("k", 3, exp)
	f, ok := r.floor("k")
	if !ok || f.version != 3 || !f.expiry.Equal(exp) {
		t.Fatalf("floor = %+v %v", f, ok)
	}
	for _, tc := range []struct {
		rec   backends.Record
		found bool
		stale bool
	}{
		{backends.Record{Version: 3, Expiry: exp}, true, false},
		{backends.Record{Version: 4, Expiry: exp}, true, false},
		{backends.Record{Version: 2, Expiry: exp}, true, true},
		{backends.Record{Version: 3, Expiry: exp.Add(-time.Millisecond)}, true, true},
		{backends.Record{}, false, true},
	} {
		if got := f.stale(now, tc.rec, tc.found); got != tc.stale {
			t.Errorf("stale(%+v, found %v) = %v, want %v", tc.rec, tc.found, got, tc.stale)
		}
	}
	if f.stale(exp.Add(time.Second), backends.Record{}, false) {
		t.Error("a missing record after the expiry this store set counts as stale")
	}
	// Floors only rise; settle replaces only mustFresh.
	r.note("k", 2, exp.Add(-time.Second))
	if f, _ := r.floor("k"); f.version != 3 || !f.expiry.Equal(exp) {
		t.Errorf("the floor went down: %+v", f)
	}
	r.settle("k", 1)
	if f, _ := r.floor("k"); f.version != 3 {
		t.Errorf("settle lowered a known version: %+v", f)
	}
	r.note("k", mustFresh, time.Time{})
	r.settle("k", 7)
	if f, _ := r.floor("k"); f.version != 7 {
		t.Errorf("settle after a conflict: %+v, want version 7", f)
	}
	// Floors end with the staleness bound.
	short := recentWrites{ttl: time.Nanosecond}
	short.note("k", 1, exp)
	time.Sleep(time.Millisecond)
	if _, ok := short.floor("k"); ok {
		t.Error("a floor outlived the staleness bound")
	}
}

func TestRecentWritesOverflow(t *testing.T) {
	r := recentWrites{ttl: time.Hour}
	for i := range maxRecent {
		r.note(strconv.Itoa(i), 1, time.Time{})
	}
	if len(r.keys) != maxRecent {
		t.Fatalf("%d keys remembered, want %d", len(r.keys), maxRecent)
	}
	r.note("one more", 1, time.Time{})
	if len(r.keys) != 1 {
		t.Errorf("after the overflow %d keys remembered, want 1", len(r.keys))
	}
	if f, ok := r.floor("never written"); !ok || f.version != mustFresh {
		t.Errorf("after the overflow, a read of any key is not fresh: %+v %v", f, ok)
	}
}
