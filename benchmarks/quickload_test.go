package benchmarks

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/internal/redistest"
)

var quickLoad = flag.String("redisload", "", "run the HTTP 90/10 load on Redis alone, for the comma-separated targets given (\"all\": every Redis target), with the -publish.* load settings (TestRedisLoad)")

// TestRedisLoad runs the HTTP load of the published comparison for a few
// targets, without the rest of the publish run:
//
//	go test -run '^TestRedisLoad$' -count 1 . -args -redisload 'Sessionkit,Sessionkit+NearCache,SCS' -publish.n 5000 -publish.rounds 3
func TestRedisLoad(t *testing.T) {
	if *quickLoad == "" {
		t.Skip("pass -args -redisload TARGETS")
	}
	srv := redistest.StartServer(t)
	var targets []cartTarget
	want := strings.Split(*quickLoad, ",")
	for _, tg := range newCartTargets(t, srv) {
		if tg.store == "Redis" && (*quickLoad == "all" || slices.Contains(want, tg.name)) {
			targets = append(targets, tg)
		}
	}
	if len(targets) == 0 {
		t.Fatalf("no Redis target in %q", *quickLoad)
	}
	before := srv.CommandTimes(t.Context())
	rows, rounds := measureLoad(t, t.Context(), srv, targets, time.Now().Add(*pubBudget))
	// Server time per call of every command run under the load (the
	// libraries use distinct commands: HMGET and EVALSHA for sessionkit,
	// GET and SET or SETEX for the others).
	var names []string
	delta := redistest.TimeDelta(before, srv.CommandTimes(t.Context()))
	for name := range delta {
		names = append(names, name)
	}
	slices.Sort(names)
	var stats strings.Builder
	for _, name := range names {
		fmt.Fprintf(&stats, "%s ×%d %.2f µs/call; ", name, delta[name].Calls, delta[name].PerCall())
	}
	t.Logf("server time per command under the load: %s", stats.String())
	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d rounds, %d clients:\n| target | req/s | p50 | p99 | Redis CPU/req |\n|---|---:|---:|---:|---:|\n", rounds, *pubClients)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f µs | %.0f µs | %.1f µs |\n", r.Target, r.RPS, r.P50, r.P99, r.RedisCPU)
	}
	t.Log(b.String())
}
