package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLogInterval is the interval SetLogger is typically given: each
// kind of go-redis log line at most once per 10 seconds.
const DefaultLogInterval = 10 * time.Second

// maxLogKinds bounds how many kinds of line SetLogger limits separately;
// beyond it, the others share one limit.
const maxLogKinds = 64

// SetLogger sends the log lines of go-redis itself (connection pool
// errors, failed dials, Sentinel and Cluster topology changes) to l, at
// Warn level with the attribute component=go-redis, instead of go-redis's
// default, the standard error. During an outage go-redis writes such a
// line for nearly every failed connection attempt: SetLogger writes each
// kind of line (the same format) at most once per interval, and the next
// line of that kind written carries the number dropped in between in the
// attribute "dropped". An interval of 0 or less writes every line. A nil l
// means slog.Default().
//
// go-redis has one logger for the whole process, whatever the number of
// clients and session managers: call SetLogger once, in main, with the
// application's logger; a later call replaces it. The lines name server
// addresses, never passwords or keys.
func SetLogger(l *slog.Logger, interval time.Duration) {
	if l == nil {
		l = slog.Default()
	}
	redis.SetLogger(&redisLogger{log: l, interval: interval, kinds: make(map[string]*logKind)})
}

// redisLogger implements go-redis's logging interface.
type redisLogger struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	kinds    map[string]*logKind // by format
	other    logKind             // the formats beyond maxLogKinds
}

type logKind struct {
	last    time.Time
	dropped int
}

// Printf writes one go-redis log line, unless a line of the same format
// was written less than the interval ago.
func (r *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	if !r.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	dropped, ok := r.admit(format, time.Now())
	if !ok {
		return
	}
	msg := fmt.Sprintf(format, v...)
	if !strings.HasPrefix(msg, "redis: ") {
		msg = "redis: " + msg
	}
	attrs := []slog.Attr{slog.String("component", "go-redis")}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("dropped", dropped))
	}
	r.log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

// admit reports whether a line of format may be written at now, and how
// many lines of that format were dropped since the last one written.
func (r *redisLogger) admit(format string, now time.Time) (dropped int, ok bool) {
	if r.interval <= 0 {
		return 0, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.kinds[format]
	if k == nil {
		if len(r.kinds) >= maxLogKinds {
			k = &r.other
		} else {
			k = &logKind{}
			r.kinds[format] = k
		}
	}
	if !k.last.IsZero() && now.Sub(k.last) < r.interval {
		k.dropped++
		return 0, false
	}
	dropped, k.dropped, k.last = k.dropped, 0, now
	return dropped, true
}
