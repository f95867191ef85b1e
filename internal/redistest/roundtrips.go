package redistest

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips is a go-redis hook that counts what a client sends: one round
// trip per command and one per pipeline (a Cluster client may split a
// pipeline into one batch per node; it still counts as one here). Commands
// retried inside go-redis are not counted again. Install it with
// client.AddHook(rt).
type RoundTrips struct {
	trips    atomic.Int64
	commands atomic.Int64
}

var _ redis.Hook = (*RoundTrips)(nil)

// DialHook passes dials through.
func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook counts one round trip and one command.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.trips.Add(1)
		r.commands.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts one round trip and every command in it.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.trips.Add(1)
		r.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Trips returns the round trips counted since the last Reset.
func (r *RoundTrips) Trips() int64 { return r.trips.Load() }

// Commands returns the commands counted since the last Reset.
func (r *RoundTrips) Commands() int64 { return r.commands.Load() }

// Reset sets both counters to zero.
func (r *RoundTrips) Reset() {
	r.trips.Store(0)
	r.commands.Store(0)
}
