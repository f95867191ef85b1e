package benchmarks

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/internal/redistest"
)

var (
	publish      = flag.Bool("publish", false, "run the Redis comparison and rewrite the Redis section of docs/benchmarks.md, its chart and results/redis.json (TestPublish)")
	pubRounds    = flag.Int("publish.rounds", 5, "rounds of the HTTP load; libraries run interleaved, the median round is reported")
	pubInRounds  = flag.Int("publish.inrounds", 9, "rounds of the in-process measurements; libraries run interleaved, the median is reported")
	pubClients   = flag.Int("publish.c", 32, "HTTP load: concurrent keep-alive clients, each with its own sessions")
	pubRequests  = flag.Int("publish.n", 15000, "HTTP load: requests per library and round")
	pubRoundMax  = flag.Duration("publish.max", 5*time.Second, "HTTP load: time limit per library and round")
	pubSample    = flag.Duration("publish.sample", 150*time.Millisecond, "in-process: measuring time per library, request and round")
	pubUsageN    = flag.Int("publish.usage", 300, "requests per library and request kind in the INFO commandstats phase")
	pubBenchtime = flag.String("publish.benchtime", "150ms", "benchtime of each serializer and zstd sample")
	pubSamples   = flag.Int("publish.samples", 5, "samples of each serializer and zstd benchmark; the median is reported")
	pubBudget    = flag.Duration("publish.budget", 5*time.Minute, "time budget: HTTP load rounds stop early rather than exceed it")
	pubDoc       = flag.String("publish.doc", "../docs/benchmarks.md", "document whose Redis section is rewritten")
	pubChart     = flag.String("publish.chart", "../docs/benchmarks-redis.png", "chart written as PNG")
	pubJSON      = flag.String("publish.json", "results/redis.json", "raw results written as JSON")
	pubRender    = flag.Bool("publish.render", false, "with -publish: measure nothing; rewrite the section and the chart from the raw results of the last run (-publish.json)")
)

// publishResults are the figures of one run of TestPublish.
type publishResults struct {
	Machine     machineInfo   `json:"machine"`
	Settings    settings      `json:"settings"`
	Load        []loadRow     `json:"load"`
	InProcess   []inProcRow   `json:"inProcess"`
	Usage       []usageRow    `json:"usage"`
	Stored      []storedRow   `json:"stored"`
	Serializers []serRow      `json:"serializers"`
	Zstd        []zstdRow     `json:"zstd"`
	Duration    time.Duration `json:"duration"`
}

type machineInfo struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	Redis      string `json:"redis"`
	Commit     string `json:"commit"`
	Date       string `json:"date"`
	// LoadBefore is the 1-minute load average at the start of the run
	// (other work on the machine), LoadAfter at its end (mostly the run's
	// own).
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
}

// loadAverage returns the 1-minute load average, or "" where unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

type settings struct {
	Rounds      int           `json:"rounds"`
	InRounds    int           `json:"inRounds"`
	LoadRounds  int           `json:"loadRounds"`
	Clients     int           `json:"clients"`
	Requests    int           `json:"requests"`
	RoundMax    time.Duration `json:"roundMax"`
	Sample      time.Duration `json:"sample"`
	UsageN      int           `json:"usageN"`
	Benchtime   string        `json:"benchtime"`
	Samples     int           `json:"samples"`
	AddEveryNth int           `json:"addEveryNth"`
}

type loadRow struct {
	Target   string  `json:"target"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50Usec"`
	P99      float64 `json:"p99Usec"`
	RedisCPU float64 `json:"redisCpuUsecPerRequest"`
	// Conns is the number of connections Redis accepted per 1000 requests.
	Conns  float64   `json:"redisConnectionsPer1000"`
	Rounds []float64 `json:"roundsRps"`
}

type inProcRow struct {
	Target   string  `json:"target"`
	Store    string  `json:"store"`
	Workload string  `json:"workload"`
	Ns       float64 `json:"nsPerOp"`
	Overhead float64 `json:"overheadNs"`
	Allocs   float64 `json:"allocsPerOp"`
	Bytes    float64 `json:"bytesPerOp"`
}

type usageRow struct {
	Target   string     `json:"target"`
	Workload string     `json:"workload"`
	Usage    redisUsage `json:"usage"`
}

type storedRow struct {
	Target string      `json:"target"`
	Stored storedBytes `json:"stored"`
}

type serRow struct {
	Name         string  `json:"name"`
	EncodeNs     float64 `json:"encodeNs"`
	EncodeAllocs int64   `json:"encodeAllocs"`
	DecodeNs     float64 `json:"decodeNs"`
	DecodeAllocs int64   `json:"decodeAllocs"`
	Size         int     `json:"size"`
}

type zstdRow struct {
	// Variant is the name of the encoder configuration (zstdVariants).
	Variant      string  `json:"variant"`
	Items        int     `json:"items"`
	Raw          int     `json:"raw"`
	Packed       int     `json:"packed"`
	CompressNs   float64 `json:"compressNs"`
	DecompressNs float64 `json:"decompressNs"`
}

// addEvery makes one request in addEvery an add in the HTTP load (10 %).
const addEvery = 10

// TestPublish runs the whole Redis comparison on a redis-server it starts
// on a free 127.0.0.1 port, and rewrites the Redis section of
// docs/benchmarks.md, the chart docs/benchmarks-redis.png and
// results/redis.json from that run. It runs only with -publish:
//
//	go test -run '^TestPublish$' -count 1 -timeout 15m . -args -publish
//
// Phases, in order: bytes stored per session, Redis commands per request
// (INFO commandstats and SLOWLOG), in-process requests (interleaved
// rounds), the HTTP load (interleaved rounds), then the serializer and zstd
// measurements.
func TestPublish(t *testing.T) {
	if !*publish {
		t.Skip("Redis comparison: pass -args -publish")
	}
	if *pubRender {
		b, err := os.ReadFile(*pubJSON)
		if err != nil {
			t.Fatal(err)
		}
		var res publishResults
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%s: %v", *pubJSON, err)
		}
		if err := writeResults(&res); err != nil {
			t.Fatal(err)
		}
		return
	}
	if raceEnabled {
		t.Fatal("TestPublish measures speed: run it without -race")
	}
	start := time.Now()
	budgetEnd := start.Add(*pubBudget)
	ctx := context.Background()
	srv := redistest.StartServer(t)
	rc := srv.Client()
	res := &publishResults{
		Machine: machine(ctx, rc),
		Settings: settings{Rounds: *pubRounds, InRounds: *pubInRounds, Clients: *pubClients, Requests: *pubRequests, RoundMax: *pubRoundMax,
			Sample: *pubSample, UsageN: *pubUsageN, Benchtime: *pubBenchtime, Samples: *pubSamples, AddEveryNth: addEvery},
	}
	targets := newCartTargets(t, srv)

	t.Log("bytes stored per session")
	for _, tg := range targets {
		if tg.store != "Redis" {
			continue
		}
		sb, err := measureStored(ctx, rc, tg.handler, "/seed20")
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		res.Stored = append(res.Stored, storedRow{tg.name, sb})
	}

	t.Log("commands per request")
	cookies := map[string][]*http.Cookie{} // by target and workload
	for _, tg := range targets {
		for _, wl := range cartWorkloads {
			cookies[tg.name+wl.name] = seedCart(t, tg, wl)
		}
	}
	for _, tg := range targets {
		if tg.store != "Redis" {
			continue
		}
		for _, wl := range cartWorkloads {
			req := cartRequest(wl, cookies[tg.name+wl.name])
			for range 20 {
				serve(tg.handler, httptest.NewRecorder(), req)
			}
			u, err := measureUsage(ctx, rc, tg.handler, req, *pubUsageN)
			if err != nil {
				t.Fatalf("%s %s: %v", tg.name, wl.name, err)
			}
			res.Usage = append(res.Usage, usageRow{tg.name, wl.name, u})
		}
	}

	t.Log("round trips per request")
	for _, tg := range targets {
		if tg.store != "Redis" || !isSessionkit(tg.name) {
			continue
		}
		rows, err := measureRoundTrips(ctx, rc, tg, cookies[tg.name+cartWorkloads[0].name], *pubUsageN)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		res.Usage = append(res.Usage, rows...)
	}

	t.Log("in-process requests")
	res.InProcess = measureInProcess(t, targets, cookies)

	t.Log("HTTP load")
	res.Load, res.Settings.LoadRounds = measureLoad(t, ctx, srv, targets, budgetEnd)

	t.Log("serializers and zstd")
	if err := flag.Set("test.benchtime", *pubBenchtime); err != nil {
		t.Fatal(err)
	}
	res.Serializers, res.Zstd = measureValuePath(t)
	res.Duration = time.Since(start).Round(time.Second)
	res.Machine.LoadAfter = loadAverage()

	if err := writeResults(res); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s, %s and %s in %v", *pubDoc, *pubChart, *pubJSON, res.Duration)
}

// The request kinds of the round-trip phase, beside the cart workloads'
// GetCart (a read) and AddItem (a write).
const (
	wUntouched = "Untouched"
	wLogin     = "Login"
)

func isSessionkit(target string) bool { return strings.HasPrefix(target, "Sessionkit") }

// measureRoundTrips measures the commands tg sends for a request that does
// not touch its session (with the cookie of a stored one) and for a login
// on a stored session (Renew and SetUser), n requests each. Every login
// renews the ID, so each works on a session of its own, seeded first.
func measureRoundTrips(ctx context.Context, rc *redis.Client, tg cartTarget, cookies []*http.Cookie, n int) ([]usageRow, error) {
	untouched := httptest.NewRequest("GET", "/untouched", nil)
	for _, c := range cookies {
		untouched.AddCookie(c)
	}
	u, err := measureUsage(ctx, rc, tg.handler, untouched, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wUntouched, err)
	}
	rows := []usageRow{{tg.name, wUntouched, u}}
	const warm = 10 // logins before the measured ones: the scripts are loaded
	logins := make([]*http.Request, warm+n)
	for i := range logins {
		rec := httptest.NewRecorder()
		tg.handler.ServeHTTP(rec, httptest.NewRequest("POST", "/seed", nil))
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("seed: status %d: %s", rec.Code, rec.Body)
		}
		logins[i] = httptest.NewRequest("POST", "/login", nil)
		for _, c := range rec.Result().Cookies() {
			logins[i].AddCookie(c)
		}
	}
	for _, req := range logins[:warm] {
		rec := httptest.NewRecorder()
		serve(tg.handler, rec, req)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("login: status %d: %s", rec.Code, rec.Body)
		}
	}
	u, err = measureUsageOf(ctx, rc, tg.handler, func(i int) *http.Request { return logins[warm+i] }, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wLogin, err)
	}
	return append(rows, usageRow{tg.name, wLogin, u}), nil
}

// machine describes the machine and the versions of this run.
func machine(ctx context.Context, rc *redis.Client) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC().Format("2006-01-02"), LoadBefore: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if info, err := rc.Info(ctx, "server").Result(); err == nil {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short=10", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if dirty() {
			m.Commit += " with uncommitted changes"
		}
	}
	return m
}

// dirty reports whether tracked files differ from the commit, leaving out
// the files this run rewrites.
func dirty() bool {
	out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		generated := false
		for _, suffix := range []string{"docs/benchmarks.md", "docs/benchmarks-redis.png", "results/redis.json"} {
			generated = generated || strings.HasSuffix(line, suffix)
		}
		if !generated {
			return true
		}
	}
	return false
}

// sample is one in-process measurement.
type sample struct{ ns, allocs, bytes float64 }

// measure serves req through h for about d and returns the time, the
// allocations and the bytes allocated per request.
func measure(tb testing.TB, h http.Handler, req *http.Request, d time.Duration) sample {
	tb.Helper()
	one := func() {
		rec := httptest.NewRecorder()
		serve(h, rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("%s %s: status %d: %s", req.Method, req.URL.Path, rec.Code, rec.Body)
		}
	}
	for range 10 {
		one()
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	n := 0
	for n < 10_000_000 {
		one()
		n++
		if n%8 == 0 && time.Since(start) >= d {
			break
		}
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	return sample{
		ns:     float64(el.Nanoseconds()) / float64(n),
		allocs: float64(m1.Mallocs-m0.Mallocs) / float64(n),
		bytes:  float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n),
	}
}

// measureInProcess measures every target and workload in interleaved
// rounds and returns the medians, with the overhead over the bare handler.
func measureInProcess(t *testing.T, targets []cartTarget, cookies map[string][]*http.Cookie) []inProcRow {
	samples := map[string][]sample{}
	for range *pubInRounds {
		for _, wl := range cartWorkloads {
			for _, tg := range targets {
				k := tg.name + wl.name
				samples[k] = append(samples[k], measure(t, tg.handler, cartRequest(wl, cookies[k]), *pubSample))
			}
		}
	}
	var rows []inProcRow
	for _, wl := range cartWorkloads {
		bare := medianOf(samples[tBare+wl.name], func(s sample) float64 { return s.ns })
		for _, tg := range targets {
			ss := samples[tg.name+wl.name]
			ns := medianOf(ss, func(s sample) float64 { return s.ns })
			rows = append(rows, inProcRow{
				Target: tg.name, Store: tg.store, Workload: wl.name, Ns: ns, Overhead: ns - bare,
				Allocs: medianOf(ss, func(s sample) float64 { return s.allocs }),
				Bytes:  medianOf(ss, func(s sample) float64 { return s.bytes }),
			})
		}
	}
	return rows
}

func medianOf[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// tSCSPool is scs on Redis with a redigo pool that keeps as many idle
// connections as there are load clients: the README's pool (MaxIdle 10)
// opens and closes connections under a load of more concurrent requests.
func tSCSPool() string { return fmt.Sprintf("SCS, MaxIdle %d", *pubClients) }

// loadTargets are the targets of the HTTP load: the bare handler, the
// libraries on Redis, and scs with a pool sized for the load.
func loadTargets(t *testing.T, srv *redistest.Server, targets []cartTarget) []cartTarget {
	var out []cartTarget
	for _, tg := range targets {
		if tg.store == "none" || tg.store == "Redis" {
			out = append(out, tg)
		}
		if tg.name == tSCS {
			out = append(out, cartTarget{name: tSCSPool(), store: "Redis", handler: newSCSRedis(t, srv, *pubClients)})
		}
	}
	return out
}

// mixResult is one round of the HTTP load for one target.
type mixResult struct {
	requests int
	elapsed  time.Duration
	p50, p99 time.Duration
	errors   int64
	firstErr string
	redisCPU time.Duration
	// connections is the number of connections Redis accepted.
	connections int64
}

func (r mixResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// loadClient is one client of the HTTP load: its two sessions.
type loadClient struct{ cart, cart20 string }

// measureLoad runs the HTTP load on every load target in interleaved
// rounds, stopping before a round that would end after budgetEnd (at least
// one round runs). It returns the medians and the number of rounds run.
func measureLoad(t *testing.T, ctx context.Context, srv *redistest.Server, targets []cartTarget, budgetEnd time.Time) ([]loadRow, int) {
	rc := srv.Client()
	targets = loadTargets(t, srv, targets)
	type server struct {
		srv     *httptest.Server
		client  *http.Client
		clients []loadClient
	}
	servers := make([]server, len(targets))
	for i, tg := range targets {
		s := httptest.NewServer(tg.handler)
		t.Cleanup(s.Close)
		tr := &http.Transport{MaxIdleConnsPerHost: *pubClients, MaxConnsPerHost: *pubClients}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		servers[i] = server{srv: s, client: c, clients: make([]loadClient, *pubClients)}
		for j := range servers[i].clients {
			servers[i].clients[j] = loadClient{
				cart:   seedHTTP(t, c, s.URL+"/seed"),
				cart20: seedHTTP(t, c, s.URL+"/seed20"),
			}
		}
		// Warm up connections, pools and caches.
		runMix(ctx, rc, c, s.URL, servers[i].clients, *pubClients*20, *pubRoundMax)
	}
	results := make([][]mixResult, len(targets))
	rounds := 0
	var longest time.Duration
	for round := range *pubRounds {
		if round > 0 && time.Now().Add(longest).After(budgetEnd) {
			t.Logf("time budget: stopping after %d rounds", round)
			break
		}
		roundStart := time.Now()
		for i, tg := range targets {
			r := runMix(ctx, rc, servers[i].client, servers[i].srv.URL, servers[i].clients, *pubRequests, *pubRoundMax)
			t.Logf("round %d %-20s %6d req in %v: %6.0f req/s, p50 %v, p99 %v, Redis CPU %v/req, %d Redis connections, %d errors",
				round, tg.name, r.requests, r.elapsed.Round(time.Millisecond), r.rps(), r.p50, r.p99,
				perRequest(r.redisCPU, r.requests), r.connections, r.errors)
			if r.errors > 0 {
				t.Fatalf("%s: %d failed requests, first: %s", tg.name, r.errors, r.firstErr)
			}
			results[i] = append(results[i], r)
		}
		rounds++
		longest = max(longest, time.Since(roundStart))
	}
	rows := make([]loadRow, len(targets))
	for i, tg := range targets {
		rs := results[i]
		row := loadRow{
			Target:   tg.name,
			RPS:      medianOf(rs, mixResult.rps),
			P50:      medianOf(rs, func(r mixResult) float64 { return float64(r.p50.Microseconds()) }),
			P99:      medianOf(rs, func(r mixResult) float64 { return float64(r.p99.Microseconds()) }),
			RedisCPU: medianOf(rs, func(r mixResult) float64 { return float64(perRequest(r.redisCPU, r.requests).Nanoseconds()) / 1e3 }),
			Conns:    medianOf(rs, func(r mixResult) float64 { return 1000 * float64(r.connections) / float64(max(r.requests, 1)) }),
		}
		for _, r := range rs {
			row.Rounds = append(row.Rounds, r.rps())
		}
		rows[i] = row
	}
	return rows, rounds
}

func perRequest(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// seedHTTP creates a session through url and returns its Cookie header.
func seedHTTP(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Post(url, "", nil)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("seed %s: status %d", url, resp.StatusCode)
	}
	var parts []string
	for _, ck := range resp.Cookies() {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// runMix sends n requests (fewer if limit passes first) from one goroutine
// per client: every addEvery-th request of a client adds a line to its
// 20-item cart, the others read its 5-item cart. It measures each request
// from sending it to reading the whole body, and the server's CPU time
// over the run.
func runMix(ctx context.Context, rc *redis.Client, c *http.Client, base string, clients []loadClient, n int, limit time.Duration) mixResult {
	do := func(method, path, cookie string) error {
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			return err
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
		}
		return err
	}
	var (
		next     atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
		lat      = make([][]time.Duration, len(clients))
		deadline = time.Now().Add(limit)
	)
	sc0, scErr := readCounters(ctx, rc)
	start := time.Now()
	for i, cl := range clients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, n/len(clients)+1)
			for k := i; next.Add(1) <= int64(n) && time.Now().Before(deadline); k++ {
				method, path, cookie := "GET", "/cart", cl.cart
				if k%addEvery == 0 {
					method, path, cookie = "POST", "/add", cl.cart20
				}
				t0 := time.Now()
				if err := do(method, path, cookie); err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			lat[i] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	sc1, scErr1 := readCounters(ctx, rc)

	all := slices.Concat(lat...)
	slices.Sort(all)
	r := mixResult{requests: len(all) + int(errs.Load()), elapsed: elapsed, errors: errs.Load()}
	if s, ok := firstErr.Load().(string); ok {
		r.firstErr = s
	}
	if scErr == nil && scErr1 == nil {
		r.redisCPU = sc1.cpu - sc0.cpu
		r.connections = sc1.connections - sc0.connections
	}
	if len(all) > 0 {
		r.p50 = all[len(all)*50/100]
		r.p99 = all[min(len(all)*99/100, len(all)-1)]
	}
	return r
}

// measureValuePath runs the serializer and zstd benchmarks, -publish.samples
// samples each, and returns the medians.
func measureValuePath(t *testing.T) ([]serRow, []zstdRow) {
	bench := func(f func(*testing.B)) (ns float64, allocs int64) {
		var rs []testing.BenchmarkResult
		for range max(*pubSamples, 1) {
			r := testing.Benchmark(f)
			if r.N == 0 {
				t.Fatal("benchmark failed")
			}
			rs = append(rs, r)
		}
		return medianOf(rs, func(r testing.BenchmarkResult) float64 { return float64(r.NsPerOp()) }), rs[0].AllocsPerOp()
	}
	var sers []serRow
	for _, s := range serializers {
		enc, dec, size := serializerBench(s, cartMax)
		row := serRow{Name: s.name, Size: size}
		row.EncodeNs, row.EncodeAllocs = bench(enc)
		row.DecodeNs, row.DecodeAllocs = bench(dec)
		sers = append(sers, row)
	}
	var zs []zstdRow
	for _, v := range zstdVariants {
		for _, n := range cartSizes {
			c, d, raw, packed, err := zstdBench(v, n)
			if err != nil {
				t.Fatal(err)
			}
			row := zstdRow{Variant: v.name, Items: n, Raw: raw, Packed: packed}
			row.CompressNs, _ = bench(c)
			row.DecompressNs, _ = bench(d)
			zs = append(zs, row)
		}
	}
	return sers, zs
}

// writeResults writes the JSON, the chart and the document section.
func writeResults(res *publishResults) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*pubJSON), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*pubJSON, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := drawChart(res, *pubChart); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	doc, err := os.ReadFile(*pubDoc)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(*pubDoc), *pubChart)
	if err != nil {
		return err
	}
	out := replaceSection(string(doc), renderSection(res, filepath.ToSlash(rel)))
	return os.WriteFile(*pubDoc, []byte(out), 0o644)
}
