package degrade

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/internal/changeset"
)

// Every call the primary does not serve reaches the observer: the failed
// ones with the primary's error, the ones the open circuit keeps from it
// with ErrOpen, so that metrics can count them.
func TestPrimaryFailuresReported(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(3), WithProbeInterval(time.Hour), WithObserver(rec))
	p.mode.Store(faultDown)
	for range 3 {
		if _, _, err := s.Load(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
	}
	if s.State() != StateOpen {
		t.Fatalf("state = %v, want open", s.State())
	}
	if sc, un, rf := rec.primaryFailures(); sc != 0 || un != 3 || rf != 0 {
		t.Fatalf("after 3 failed loads: short-circuited %d, unavailable %d, refused %d; want 0, 3, 0", sc, un, rf)
	}
	exp := time.Now().Add(time.Hour)
	for range 5 {
		s.Load(t.Context(), "k")
		if _, err := s.Save(t.Context(), "k", []byte("x"), exp, 0); err != nil && !backends.IsConflict(err) {
			t.Fatal(err)
		}
	}
	if _, err := s.UserKeys(t.Context(), "u"); !errors.Is(err, ErrOpen) {
		t.Fatalf("UserKeys while open: %v, want ErrOpen", err)
	}
	if sc, un, rf := rec.primaryFailures(); sc != 11 || un != 3 || rf != 0 {
		t.Errorf("short-circuited %d, unavailable %d, refused %d; want 11, 3, 0", sc, un, rf)
	}
	if _, fo, _, _, _ := rec.get(); fo != 13 {
		t.Errorf("FailedOver reported %d times, want 13", fo)
	}
}

// syncBuffer is a bytes.Buffer safe for the background goroutine's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A primary that refuses its configuration while the process runs (its
// password changed, say) is failed over rather than returned as an error
// on every request, is logged at Error level once (not at every probe),
// keeps the circuit open while the probe finds it refusing, and recovers
// when it accepts the configuration again.
func TestRefusedConfigurationFailsOverAndIsLoggedOnce(t *testing.T) {
	p := newFaultStore(t)
	rec := &recorder{}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// No copies: the primary's record is unknown during the outage.
	s := newTestStore(t, p, WithFailureThreshold(1), WithObserver(rec), WithLogger(logger), WithCopies(0))
	exp := time.Now().Add(time.Hour)
	rp := &fieldReplayer{}
	saveCS(t, s, rp, "k", 0, puts("a", "before"), map[string]string{"a": "before"})
	p.mode.Store(faultRefused)
	ctx, r := degradedCtx(t)
	rec0, found, err := s.Load(ctx, "k")
	if err != nil {
		t.Fatalf("Load with the primary refusing: %v, want it served by the fallback", err)
	}
	if found || !r.Degraded() {
		t.Fatalf("Load: found %v, degraded %v; want an empty session served degraded", found, r.Degraded())
	}
	if s.State() != StateOpen {
		t.Fatalf("state = %v, want open", s.State())
	}
	w := changeset.Write{Set: puts("b", "during"), Replayer: rp}
	if _, err := s.SaveChanges(ctx, "k", formatFields(map[string]string{"b": "during"}), exp, rec0.Version, w); err != nil {
		t.Fatalf("Save with the primary refusing: %v", err)
	}
	// Several probes find it still refusing.
	pings := p.pings.Load()
	waitFor(t, 5*time.Second, "three probes", func() bool { return p.pings.Load() >= pings+3 })
	if s.State() != StateOpen {
		t.Fatalf("state after probes of a refusing primary = %v, want open", s.State())
	}
	if st := s.Status(); !backends.IsMisconfigured(st.ProbeErr) {
		t.Errorf("Status().ProbeErr = %v, want a misconfiguration", st.ProbeErr)
	}
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 || !strings.Contains(out, "refuses its configuration") || !strings.Contains(out, "NOAUTH") {
		t.Errorf("want exactly one Error record naming the cause, got %d in:\n%s", n, out)
	}
	// The load that failed over, and every probe since, are reported.
	waitFor(t, 5*time.Second, "the refused probes reported", func() bool {
		_, _, rf := rec.primaryFailures()
		return rf >= 4
	})
	if _, un, _ := rec.primaryFailures(); un != 0 {
		t.Errorf("%d refusals reported as unavailable", un)
	}
	// Fixed: the probe closes the circuit and the outage write is replayed.
	p.mode.Store(faultOK)
	waitFor(t, 5*time.Second, "recovery", func() bool { return s.Status().State == StateClosed })
	got, found, err := p.Store.Load(t.Context(), "k")
	if err != nil || !found || string(got.Blob) != "a=before;b=during;" {
		t.Errorf("primary after recovery: %q, %v, %v; want the outage write merged", got.Blob, found, err)
	}
}

// WithObserver adds observers; the same one given twice is told once.
func TestWithObserverAddsAndDeduplicates(t *testing.T) {
	p := newFaultStore(t)
	a, b := &recorder{}, &recorder{}
	s := newTestStore(t, p, WithFailureThreshold(1), WithProbeInterval(time.Hour),
		WithObserver(a), WithObserver(b), WithObserver(a), WithObserver(NopObserver{}), WithObserver(NopObserver{}))
	p.mode.Store(faultDown)
	s.Load(t.Context(), "k")
	s.Load(t.Context(), "k")
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		tr, fo, _, _, _ := r.get()
		sc, un, _ := r.primaryFailures()
		if len(tr) != 1 || fo != 2 || sc != 1 || un != 1 {
			t.Errorf("observer %s: transitions %v, failovers %d, short-circuited %d, unavailable %d; want 1, 2, 1, 1", name, tr, fo, sc, un)
		}
	}
}
