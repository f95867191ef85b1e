package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storeurl"
)

// pingResult is what ping reports.
type pingResult struct {
	Kind    string  `json:"kind"`
	Version string  `json:"version,omitempty"`
	Pings   int     `json:"pings"`
	MinMS   float64 `json:"latency_min_ms"`
	MedMS   float64 `json:"latency_median_ms"`
	MaxMS   float64 `json:"latency_max_ms"`
}

func newPingCmd(g *globals) *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "ping",
		Short: "Check that the store answers: its kind, version and latency",
		Long: `ping reaches the store and prints its kind (redis, redis cluster, memory…),
the server's version where the store reports one (Redis: INFO server), and
the latency of a few health checks (PING on Redis, every master in Cluster).

It needs no secret. It exits with 3 when the store cannot be reached or
refuses the connection (wrong password, database, TLS).`,
		Example: `  sessionctl ping --store redis://127.0.0.1:6379/0
  sessionctl ping --json --count 10`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 {
				return usagef("--count %d: want at least 1", count)
			}
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			res := pingResult{Kind: storeKind(st), Pings: count}
			if u, err := url.Parse(g.storeURL); err == nil && strings.Contains(u.Scheme, "sentinel") || err == nil && u.Query().Has("master_name") {
				res.Kind += " (sentinel: " + redisRole(g.ctx, st) + ")"
			}
			if rs, ok := st.(*redisstore.Store); ok {
				res.Version = redisVersion(g.ctx, rs)
			}
			var rtts []time.Duration
			if p, ok := st.(backends.Pinger); ok {
				for range count {
					ctx, cancel := context.WithTimeout(g.ctx, g.timeout)
					start := time.Now()
					err := p.Ping(ctx)
					rtts = append(rtts, time.Since(start))
					cancel()
					if err != nil {
						return unreachable(fmt.Errorf("ping: %w", err))
					}
				}
				slices.Sort(rtts)
				res.MinMS, res.MedMS, res.MaxMS = ms(rtts[0]), ms(rtts[len(rtts)/2]), ms(rtts[len(rtts)-1])
			} else {
				res.Pings = 0
			}
			return g.result(res, func(w io.Writer) {
				fmt.Fprintf(w, "store:    %s\n", res.Kind)
				if res.Version != "" {
					fmt.Fprintf(w, "version:  %s\n", res.Version)
				}
				if res.Pings > 0 {
					fmt.Fprintf(w, "latency:  min %.3f ms, median %.3f ms, max %.3f ms (%d pings)\n", res.MinMS, res.MedMS, res.MaxMS, res.Pings)
				} else {
					fmt.Fprintln(w, "latency:  the store has no health check (in-process)")
				}
			})
		},
	}
	cmd.Flags().IntVar(&count, "count", 3, "how many health checks to time")
	return cmd
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// redisVersion returns "Redis 7.2.4" (or "Valkey 8.0.1") from INFO server,
// or "" when the server does not say.
func redisVersion(ctx context.Context, rs *redisstore.Store) string {
	info, err := rs.Client().Info(ctx, "server").Result()
	if err != nil {
		return ""
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			if _, seen := fields[k]; !seen {
				fields[k] = v
			}
		}
	}
	switch {
	case fields["valkey_version"] != "":
		return "Valkey " + fields["valkey_version"]
	case fields["redis_version"] != "":
		v := "Redis " + fields["redis_version"]
		if mode := fields["redis_mode"]; mode != "" && mode != "standalone" {
			v += " (" + mode + ")"
		}
		return v
	}
	return ""
}

// redisRole returns the role of the server a Sentinel-managed store talks
// to ("master" after a fail-over too), or "unknown".
func redisRole(ctx context.Context, st backends.Store) string {
	rs, ok := st.(*redisstore.Store)
	if !ok {
		return "unknown"
	}
	info, err := rs.Client().Info(ctx, "replication").Result()
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return "talking to the " + v
		}
	}
	return "unknown"
}
