package redisstore_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// captureHandler keeps the records it gets.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// dialFailures returns the go-redis records about failed dials.
func (h *captureHandler) dialFailures() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(h.recs), func(r slog.Record) bool {
		return !strings.Contains(r.Message, "failed to dial")
	})
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// go-redis's own log lines (here, failed dials while the server is down)
// go to the logger SetLogger installs, each kind at most once per interval.
func TestSetLoggerRoutesAndLimitsGoRedisLines(t *testing.T) {
	redistest.Require(t)
	t.Cleanup(func() { redisstore.SetLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)), 0) })
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), DialerRetries: 1, MaxRetries: -1})
	defer c.Close()
	s, err := redisstore.New(c, redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	pings := func(n int) {
		for range n {
			if err := s.Ping(t.Context()); err == nil {
				t.Fatal("Ping succeeded with nothing listening")
			}
		}
	}

	every := &captureHandler{}
	redisstore.SetLogger(slog.New(every), 0)
	pings(5)
	if n := len(every.dialFailures()); n < 5 {
		t.Fatalf("without a limit: %d records of failed dials for 5 failed pings", n)
	}
	r := every.dialFailures()[0]
	if r.Level != slog.LevelWarn || attr(r, "component") != "go-redis" || !strings.HasPrefix(r.Message, "redis: ") {
		t.Errorf("record %v %q component %q", r.Level, r.Message, attr(r, "component"))
	}

	limited := &captureHandler{}
	redisstore.SetLogger(slog.New(limited), time.Hour)
	pings(5)
	if n := len(limited.dialFailures()); n != 1 {
		t.Errorf("limited to one per hour: %d records of failed dials", n)
	}
}
