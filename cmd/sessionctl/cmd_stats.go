package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storeurl"
)

// histogramBounds are the upper bounds of the expiry histogram's buckets
// (time left until a session expires); the last bucket is unbounded.
var histogramBounds = []time.Duration{5 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

type bucketJSON struct {
	Below string `json:"below,omitempty"` // "" for the last bucket
	Count int64  `json:"count"`
}

type userCount struct {
	User     string `json:"user"`
	Sessions int64  `json:"sessions"`
}

type memoryJSON struct {
	Samples       int   `json:"samples"`
	MinBytes      int64 `json:"min_bytes"`
	MeanBytes     int64 `json:"mean_bytes"`
	MaxBytes      int64 `json:"max_bytes"`
	EstimateBytes int64 `json:"estimated_total_bytes"`
}

type statsResult struct {
	Sessions     int64        `json:"sessions"`
	BlobBytes    int64        `json:"blob_bytes"`
	MeanBytes    int64        `json:"mean_blob_bytes"`
	MaxBytes     int64        `json:"max_blob_bytes"`
	Memory       *memoryJSON  `json:"redis_memory_usage,omitempty"`
	Expiry       []bucketJSON `json:"expires_in"`
	Users        *int64       `json:"users,omitempty"`
	Anonymous    *int64       `json:"anonymous,omitempty"`
	Undecodable  *int64       `json:"undecodable,omitempty"`
	TopUsers     []userCount  `json:"top_users,omitempty"`
	ControlFound bool         `json:"migration_control_record,omitempty"`
}

func newStatsCmd(g *globals) *cobra.Command {
	var top, samples int
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count sessions and bytes; sessions per user; expiry histogram",
		Long: `stats reads every session of the store once (SCAN on Redis, never KEYS) and
prints the number of sessions, the bytes of their stored (encrypted) blobs,
a histogram of the time left until they expire, and on Redis the server's
MEMORY USAGE of a sample of session keys (what a session really costs, with
the server's overhead) with an estimate for all of them.

With the application's secret (SESSION_SECRET or --secret-file) it also
opens each session and counts sessions per user: the number of users, the
anonymous sessions, and the top N users by number of sessions. Without it
those figures are left out.

On a terminal a progress bar shows the scan; Ctrl-C stops it.`,
		Example: `  sessionctl stats --store 'redis://127.0.0.1:6379/0?key_prefix=shoppingcart:'
  SESSION_SECRET=… sessionctl stats --top 5 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if top < 0 || samples < 0 {
				return usagef("--top and --samples must not be negative")
			}
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			m, err := g.manager(st, false, managerOptions{})
			if err != nil {
				return err
			}
			it, ok := st.(backends.Iterator)
			if !ok {
				return fmt.Errorf("stats: the store (%s) cannot be iterated", storeKind(st))
			}
			total := int64(-1)
			if c, ok := st.(backends.Counter); ok {
				if n, err := c.Count(g.ctx); err == nil {
					total = int64(n)
				} else if g.ctx.Err() != nil {
					return interrupted(g.ctx.Err())
				}
			}
			rs, _ := st.(*redisstore.Store)
			var res statsResult
			counts := make([]int64, len(histogramBounds)+1)
			perUser := map[string]int64{}
			var anon, undecodable, seen int64
			var mem []int64
			var ferr error
			now := time.Now()
			bar := g.newProgress("stats", total)
			err = it.Keys(g.ctx, func(key string) bool {
				seen++
				if seen%500 == 0 {
					bar.update(seen, fmt.Sprintf("sessions=%d", res.Sessions))
				}
				if isControlKey(key) {
					res.ControlFound = true
					return true
				}
				rec, found, err := st.Load(g.ctx, key)
				if err != nil {
					ferr = err
					return false
				}
				if !found {
					return true
				}
				res.Sessions++
				n := int64(len(rec.Blob))
				res.BlobBytes += n
				res.MaxBytes = max(res.MaxBytes, n)
				left := rec.Expiry.Sub(now)
				i, _ := slices.BinarySearch(histogramBounds, left)
				if i < len(histogramBounds) && histogramBounds[i] == left {
					i++ // bounds are exclusive
				}
				counts[i]++
				if rs != nil && len(mem) < samples {
					if u, err := rs.Client().MemoryUsage(g.ctx, rs.Prefix()+key).Result(); err == nil {
						mem = append(mem, u)
					}
				}
				if m != nil {
					d, err := m.Codec().Decode(rec.Blob, []byte(key))
					switch {
					case err != nil:
						undecodable++
					case d.UserID == "":
						anon++
					default:
						perUser[d.UserID]++
					}
				}
				return true
			})
			bar.update(seen, fmt.Sprintf("sessions=%d", res.Sessions))
			bar.finish()
			if err == nil {
				err = ferr
			}
			if g.ctx.Err() != nil {
				g.info("stats interrupted after %d keys; nothing was changed (run it again for the figures)", seen)
				return interrupted(g.ctx.Err())
			}
			if err != nil {
				return fmt.Errorf("stats: %w", err)
			}
			if res.Sessions > 0 {
				res.MeanBytes = res.BlobBytes / res.Sessions
			}
			for i, c := range counts {
				b := bucketJSON{Count: c}
				if i < len(histogramBounds) {
					b.Below = fmtDuration(histogramBounds[i])
				}
				res.Expiry = append(res.Expiry, b)
			}
			if len(mem) > 0 {
				mj := &memoryJSON{Samples: len(mem), MinBytes: slices.Min(mem), MaxBytes: slices.Max(mem)}
				var sum int64
				for _, u := range mem {
					sum += u
				}
				mj.MeanBytes = sum / int64(len(mem))
				mj.EstimateBytes = mj.MeanBytes * res.Sessions
				res.Memory = mj
			}
			if m != nil {
				users := int64(len(perUser))
				res.Users, res.Anonymous, res.Undecodable = &users, &anon, &undecodable
				for u, n := range perUser {
					res.TopUsers = append(res.TopUsers, userCount{User: u, Sessions: n})
				}
				slices.SortFunc(res.TopUsers, func(a, b userCount) int {
					return cmp.Or(cmp.Compare(b.Sessions, a.Sessions), cmp.Compare(a.User, b.User))
				})
				res.TopUsers = res.TopUsers[:min(top, len(res.TopUsers))]
			}
			return g.result(res, func(w io.Writer) { printStats(w, res, top) })
		},
	}
	cmd.Flags().IntVar(&top, "top", 10, "how many users to list by number of sessions (needs the secret)")
	cmd.Flags().IntVar(&samples, "samples", 20, "how many session keys to measure with Redis MEMORY USAGE")
	return cmd
}

func printStats(w io.Writer, res statsResult, top int) {
	fmt.Fprintf(w, "sessions:      %d\n", res.Sessions)
	fmt.Fprintf(w, "blob bytes:    %s (mean %s, max %s)\n", fmtBytes(res.BlobBytes), fmtBytes(res.MeanBytes), fmtBytes(res.MaxBytes))
	if m := res.Memory; m != nil {
		fmt.Fprintf(w, "redis memory:  %s per session (min %s, max %s; MEMORY USAGE of %d keys), about %s in all\n",
			fmtBytes(m.MeanBytes), fmtBytes(m.MinBytes), fmtBytes(m.MaxBytes), m.Samples, fmtBytes(m.EstimateBytes))
	}
	if res.ControlFound {
		fmt.Fprintln(w, "migration:     the store holds an online migration's control record (see migrate status)")
	}
	fmt.Fprintln(w, "expires in:")
	lower := "0"
	for _, b := range res.Expiry {
		label := fmt.Sprintf("%s – %s", lower, b.Below)
		if b.Below == "" {
			label = "≥ " + lower
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-12s %8d  %s", label, b.Count, histBar(b.Count, res.Sessions)), " "))
		lower = b.Below
	}
	if res.Users == nil {
		fmt.Fprintln(w, "users:         (give the application's secret for sessions per user)")
		return
	}
	fmt.Fprintf(w, "users:         %d (anonymous sessions: %d", *res.Users, *res.Anonymous)
	if *res.Undecodable > 0 {
		fmt.Fprintf(w, ", undecodable with this secret: %d", *res.Undecodable)
	}
	fmt.Fprintln(w, ")")
	if len(res.TopUsers) > 0 {
		fmt.Fprintf(w, "top %d users by sessions:\n", min(top, len(res.TopUsers)))
		for _, u := range res.TopUsers {
			fmt.Fprintf(w, "  %8d  %s\n", u.Sessions, u.User)
		}
	}
}

// histBar draws n out of total as up to 30 characters.
func histBar(n, total int64) string {
	if total == 0 || n == 0 {
		return ""
	}
	return string(slices.Repeat([]rune{'#'}, int(max(1, n*30/total))))
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// fmtDuration prints 5m, 1h, 24h, 7d.
func fmtDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
