package redisstore

import (
	"log/slog"
	"strconv"
	"testing"
	"time"
)

// Each kind of line (format) is limited on its own; the lines dropped are
// counted on the next one written.
func TestLogLimiter(t *testing.T) {
	r := &redisLogger{log: slog.New(slog.DiscardHandler), interval: time.Second, kinds: map[string]*logKind{}}
	t0 := time.Unix(1000, 0)
	check := func(format string, at time.Duration, wantOK bool, wantDropped int) {
		t.Helper()
		dropped, ok := r.admit(format, t0.Add(at))
		if ok != wantOK || dropped != wantDropped {
			t.Errorf("admit(%q, +%v) = %d, %v; want %d, %v", format, at, dropped, ok, wantDropped, wantOK)
		}
	}
	check("dial %v", 0, true, 0)
	check("dial %v", 100*time.Millisecond, false, 0)
	check("other %v", 200*time.Millisecond, true, 0)
	check("dial %v", 900*time.Millisecond, false, 0)
	check("dial %v", time.Second, true, 2)
	check("dial %v", 1500*time.Millisecond, false, 0)
	check("dial %v", 3*time.Second, true, 1)

	// Formats beyond the bound share one limit, so the map stays bounded.
	for i := range maxLogKinds + 10 {
		r.admit("format "+strconv.Itoa(i), t0.Add(10*time.Second))
	}
	if len(r.kinds) != maxLogKinds {
		t.Errorf("%d kinds kept, want %d", len(r.kinds), maxLogKinds)
	}

	unlimited := &redisLogger{log: slog.New(slog.DiscardHandler), kinds: map[string]*logKind{}}
	for range 3 {
		if _, ok := unlimited.admit("dial %v", t0); !ok {
			t.Error("interval 0 dropped a line")
		}
	}
}
