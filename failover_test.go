package session_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
)

// unreachableStore is a primary that cannot be reached.
type unreachableStore struct{ calls atomic.Int64 }

var errDown = backends.Unavailable(errors.New("connection refused"))

func (d *unreachableStore) Load(context.Context, string) (backends.Record, bool, error) {
	d.calls.Add(1)
	return backends.Record{}, false, errDown
}
func (d *unreachableStore) Save(context.Context, string, []byte, time.Time, uint64) (uint64, error) {
	d.calls.Add(1)
	return 0, errDown
}
func (d *unreachableStore) Touch(context.Context, string, time.Time) error {
	d.calls.Add(1)
	return errDown
}
func (d *unreachableStore) Delete(context.Context, string) error { d.calls.Add(1); return errDown }
func (d *unreachableStore) Ping(context.Context) error           { d.calls.Add(1); return errDown }

// WithFailover: with the primary down, requests go on from memory, the
// responses carry the degraded header, and handlers can ask.
func TestWithFailoverServesDegraded(t *testing.T) {
	primary := &unreachableStore{}
	ev := newEnv(t, session.WithFailover(primary, degrade.WithProbeInterval(time.Hour)))
	t.Cleanup(func() { ev.m.Close() })
	e := ev.expect()
	r := e.POST("/set/a/1").Expect().Status(200)
	r.Header("X-Session-Degraded").IsEqual("true")
	r.Cookie("session").Value().NotEmpty()
	e.GET("/get/a").Expect().Status(200).Body().IsEqual("1")
	if primary.calls.Load() == 0 {
		t.Fatal("the primary was never asked")
	}
	// Untouched sessions cost nothing and carry no header.
	e.GET("/untouched").Expect().Status(200).Header("X-Session-Degraded").IsEmpty()

	var degraded bool
	h := ev.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Set("x", 1); err != nil {
			t.Error(err)
		}
		if err := s.Commit(); err != nil {
			t.Error(err)
		}
		degraded = s.Degraded()
	}))
	resp := do(h, "GET", "https://example.com/", nil)
	if !degraded || resp.Header.Get("X-Session-Degraded") != "true" {
		t.Fatalf("Degraded() = %v, header %q", degraded, resp.Header.Get("X-Session-Degraded"))
	}
}

func TestDegradedHeaderIsConfigurable(t *testing.T) {
	ev := newEnv(t, session.WithFailover(&unreachableStore{}), session.WithDegradedHeader("X-Fallback"))
	t.Cleanup(func() { ev.m.Close() })
	r := ev.expect().POST("/set/a/1").Expect().Status(200)
	r.Header("X-Fallback").IsEqual("true")
	r.Header("X-Session-Degraded").IsEmpty()
}
