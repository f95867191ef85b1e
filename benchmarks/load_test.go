package benchmarks

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	loadRun      = flag.Bool("load", false, "run the HTTP load comparison (TestLoad)")
	loadRequests = flag.Int("load.n", 10000, "requests per library, workload and round")
	loadRounds   = flag.Int("load.rounds", 3, "rounds; each library runs once per round, interleaved, and the median round is reported")
	loadClients  = flag.Int("load.c", 16, "concurrent clients, each with its own session and connection")
	loadMax      = flag.Duration("load.max", 20*time.Second, "time limit per library and workload")
)

type loadResult struct {
	requests int
	elapsed  time.Duration
	p50, p99 time.Duration
	errors   int64
}

// TestLoad sends a fixed number of requests to each library over loopback
// (an httptest server on 127.0.0.1), from concurrent clients that each hold
// their own session, and reports requests per second and the p50 and p99
// latency. It runs only with -load:
//
//	go test -run TestLoad -count 1 -v . -args -load
//
// Clients and server share the machine's CPUs, so the figures measure the
// whole round trip through net/http, not the library alone.
func TestLoad(t *testing.T) {
	if !*loadRun {
		t.Skip("HTTP load run: pass -args -load")
	}
	targets := newTargets(t)
	servers := make([]*httptest.Server, len(targets))
	for i, tg := range targets {
		servers[i] = httptest.NewServer(tg.handler)
		defer servers[i].Close()
	}
	// results[workload][target] holds one result per round.
	results := make([][][]loadResult, len(workloads))
	for w := range workloads {
		results[w] = make([][]loadResult, len(targets))
	}
	for round := range *loadRounds {
		for w, wl := range workloads {
			for i, tg := range targets {
				res := runLoad(t, servers[i].URL, wl.path, *loadRequests, *loadClients, *loadMax)
				t.Logf("round %d %-9s %-13s %6d req in %v: %8.0f req/s, p50 %v, p99 %v, %d errors",
					round, wl.name, tg.name, res.requests, res.elapsed.Round(time.Millisecond), res.rps(),
					res.p50, res.p99, res.errors)
				if res.errors > 0 {
					t.Errorf("%s %s: %d failed requests", tg.name, wl.path, res.errors)
				}
				results[w][i] = append(results[w][i], res)
			}
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| workload | library | requests/s | p50 | p99 |\n|---|---|---:|---:|---:|\n")
	for w, wl := range workloads {
		for i, tg := range targets {
			rs := results[w][i]
			fmt.Fprintf(&table, "| %s | %s | %.0f | %s | %s |\n", wl.name, tg.name,
				median(rs, func(r loadResult) float64 { return r.rps() }),
				fmtDur(median(rs, func(r loadResult) float64 { return float64(r.p50) })),
				fmtDur(median(rs, func(r loadResult) float64 { return float64(r.p99) })))
		}
	}
	t.Logf("medians of %d rounds, %d clients, %d requests per round:\n%s", *loadRounds, *loadClients, *loadRequests, table.String())
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func median(rs []loadResult, f func(loadResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fmtDur(ns float64) string {
	return fmt.Sprintf("%.0f µs", ns/float64(time.Microsecond))
}

// runLoad seeds one session per client, then sends n requests for path
// (fewer if limit passes first) and measures each from sending the request
// to reading the whole body.
func runLoad(t *testing.T, base, path string, n, clients int, limit time.Duration) loadResult {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	cookies := make([]string, clients)
	for i := range cookies {
		resp, err := client.Get(base + "/seed")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		var parts []string
		for _, c := range resp.Cookies() {
			parts = append(parts, c.Name+"="+c.Value)
		}
		cookies[i] = strings.Join(parts, "; ")
	}

	do := func(cookie string) error {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			return err
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	// Warm up connections and caches.
	for i := range clients * 10 {
		do(cookies[i%clients])
	}

	var (
		next     atomic.Int64
		errs     atomic.Int64
		wg       sync.WaitGroup
		lat      = make([][]time.Duration, clients)
		deadline = time.Now().Add(limit)
	)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n/clients+1)
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				t0 := time.Now()
				if err := do(cookies[i]); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			lat[i] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(lat...)
	slices.Sort(all)
	res := loadResult{requests: len(all) + int(errs.Load()), elapsed: elapsed, errors: errs.Load()}
	if len(all) > 0 {
		res.p50 = all[len(all)*50/100]
		res.p99 = all[min(len(all)*99/100, len(all)-1)]
	}
	return res
}
