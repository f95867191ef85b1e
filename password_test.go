package session_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// A password rotated while the application runs is not an outage the
// manager can hide silently: requests go on from memory, degraded, and the
// writes are replayed once the configuration is accepted again.
func TestPasswordRotatedAtRunTime(t *testing.T) {
	srv := redistest.StartServer(t)
	store, err := redisstore.NewFromURL("redis://" + srv.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	audit := newAuditCapture(slog.LevelDebug)
	ev := newEnv(t, session.WithAuditLogger(slog.New(audit)),
		session.WithFailover(store, degrade.WithProbeInterval(20*time.Millisecond)))
	t.Cleanup(func() { ev.m.Close() })
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200).Header("X-Session-Degraded").IsEmpty()
	admin := srv.Client()
	if err := admin.ConfigSet(t.Context(), "requirepass", "rotated").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(t.Context(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e.POST("/set/b/2").Expect().Status(200).Header("X-Session-Degraded").IsEqual("true")
	}
	if !strings.Contains(ev.logs.String(), "refuses its configuration") {
		t.Errorf("logs:\n%s", ev.logs.String())
	}
	rep := ev.m.Health(t.Context())
	t.Logf("health: %+v", rep)
	if err := admin.ConfigSet(t.Context(), "requirepass", "").Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "recovered", func() bool { return len(audit.events("recovered")) == 1 })
	time.Sleep(200 * time.Millisecond)
	e.GET("/get/a").Expect().Status(200).Body().IsEqual("1")
	e.GET("/get/b").Expect().Status(200).Body().IsEqual("2")
}
