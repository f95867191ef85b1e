package benchmarks

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessionkit/session/internal/redistest"
)

// A goal is one performance target of the Redis comparison: a measure of
// the run compared with a bound.
type goal struct {
	// What is measured, and the bound, as the table shows them.
	What, Bound string
	// Got is the measured figure as the table shows it ("" when the run
	// lacks a figure it needs).
	Got string
	Met bool
}

// Outcome is the goal's verdict in the table.
func (g goal) Outcome() string {
	switch {
	case g.Got == "":
		return "not measured"
	case g.Met:
		return "met"
	}
	return "**missed**"
}

// evaluateGoals computes every target of the comparison from the figures of
// one run: ratios of this library's figures to its peers' in the same run.
func evaluateGoals(res *publishResults) []goal {
	var goals []goal
	add := func(g goal) { goals = append(goals, g) }

	rps := func(target string) (float64, bool) {
		for _, l := range res.Load {
			if l.Target == target {
				return l.RPS, l.RPS > 0
			}
		}
		return 0, false
	}
	// atLeast and atMost compare the ratio a/b with bound.
	ratioGoal := func(what string, a, b float64, ok bool, bound float64, atLeast bool) goal {
		g := goal{What: what}
		if atLeast {
			g.Bound = fmt.Sprintf("≥ %s×", trimFloat(bound))
		} else {
			g.Bound = fmt.Sprintf("≤ %s×", trimFloat(bound))
		}
		if !ok || b <= 0 {
			return g
		}
		r := a / b
		g.Got = fmt.Sprintf("%.2f×", r)
		g.Met = r <= bound
		if atLeast {
			g.Met = r >= bound
		}
		return g
	}

	// HTTP 90/10 on Redis.
	for _, c := range []struct {
		target string
		bound  float64
		label  string
	}{
		{tSessionkit, 1.2, "without the near-cache"},
		{tSessionkitNC, 1.5, "with the near-cache"},
	} {
		for _, peer := range []string{tSCS, tGorilla} {
			a, okA := rps(c.target)
			b, okB := rps(peer)
			add(ratioGoal(fmt.Sprintf("HTTP 90/10 on Redis %s: requests/s, %s ÷ %s", c.label, c.target, peer), a, b, okA && okB, c.bound, true))
		}
	}

	// In-process overheads: this library's over its peer's on the same
	// kind of store.
	get, addItem := cartWorkloads[0].name, cartWorkloads[1].name
	overhead := func(what, target, peer, workload string, bound float64) {
		a, okA := res.find(target, workload)
		b, okB := res.find(peer, workload)
		add(ratioGoal(fmt.Sprintf("%s: overhead, %s ÷ %s", what, target, peer), a.Overhead, b.Overhead, okA && okB, bound, false))
	}
	overhead("In-process GET cart on Redis", tSessionkit, tSCS, get, 1)
	overhead("In-process GET cart on Redis, warm near-cache", tSessionkitNC, tSCS, get, 0.25)
	overhead("In-process add to a 20-item cart in memory", tSessionkitMem, tSCSMem, addItem, 0.5)
	overhead("In-process add to a 20-item cart on Redis", tSessionkit, tSCS, addItem, 0.5)
	overhead("In-process GET cart in memory", tSessionkitMem, tSCSMem, get, 0.25)
	{
		a, okA := res.find(tSessionkitMem, get)
		b, okB := res.find(tSCSMem, get)
		g := ratioGoal(fmt.Sprintf("In-process GET cart in memory: allocations, %s ÷ %s", tSessionkitMem, tSCSMem),
			a.Allocs, b.Allocs, okA && okB, 1.0/3, false)
		g.Bound = "≤ 1/3"
		if g.Got != "" {
			g.Got += fmt.Sprintf(" (%.0f vs %.0f)", a.Allocs, b.Allocs)
		}
		add(g)
	}

	// Redis: server time and round trips.
	usage := func(target, workload string) (redisUsage, bool) {
		for _, u := range res.Usage {
			if u.Target == target && u.Workload == workload {
				return u.Usage, true
			}
		}
		return redisUsage{}, false
	}
	{
		g := goal{What: fmt.Sprintf("Redis server time per read (GET cart), %s", tSessionkit), Bound: "≤ 3 µs"}
		if u, ok := usage(tSessionkit, get); ok {
			g.Got = fmt.Sprintf("%.2f µs", u.ServerUsec)
			g.Met = u.ServerUsec <= 3
		}
		add(g)
	}
	{
		g := goal{What: fmt.Sprintf("Round trips per request, %s: untouched / read / write / login", tSessionkit), Bound: "0 / 1 / 2 / 2"}
		want := []float64{0, 1, 2, 2}
		var got []string
		met := true
		for i, wl := range []string{wUntouched, get, addItem, wLogin} {
			u, ok := usage(tSessionkit, wl)
			if !ok {
				got = nil
				break
			}
			got = append(got, trimFloat(u.roundTrips()))
			// Sums of 1/n per logged command: allow for rounding.
			met = met && u.roundTrips() <= want[i]+0.005
		}
		if got != nil {
			g.Got, g.Met = strings.Join(got, " / "), met
		}
		add(g)
	}
	{
		g := goal{What: fmt.Sprintf("Round trips per read with a warm near-cache, %s", tSessionkitNC), Bound: "0"}
		if u, ok := usage(tSessionkitNC, get); ok {
			// The slow log of n requests: under 1 in 100 requests.
			g.Got, g.Met = trimFloat(u.roundTrips()), u.roundTrips() < 0.01
		}
		add(g)
	}

	// Bytes stored.
	{
		var a, b int64
		for _, st := range res.Stored {
			switch st.Target {
			case tSessionkit:
				a = st.Stored.Value
			case tSCS:
				b = st.Stored.Value
			}
		}
		g := ratioGoal(fmt.Sprintf("Bytes stored per 20-item cart, %s ÷ %s", tSessionkit, tSCS), float64(a), float64(b), a > 0, 0.5, false)
		if g.Got != "" {
			g.Got += fmt.Sprintf(" (%d vs %d B)", a, b)
		}
		add(g)
	}
	return goals
}

// TestEvaluateGoals checks the verdicts on made-up figures: a ratio on
// either side of its bound, and a figure the run lacks.
func TestEvaluateGoals(t *testing.T) {
	res := &publishResults{
		Load: []loadRow{{Target: tSessionkit, RPS: 1300}, {Target: tSCS, RPS: 1000}, {Target: tGorilla, RPS: 1100}},
		InProcess: []inProcRow{
			{Target: tSessionkit, Workload: "GetCart", Overhead: 90},
			{Target: tSCS, Workload: "GetCart", Overhead: 100},
			{Target: tSessionkitMem, Workload: "GetCart", Overhead: 30, Allocs: 60},
			{Target: tSCSMem, Workload: "GetCart", Overhead: 100, Allocs: 150},
		},
		Usage: []usageRow{
			{tSessionkit, "GetCart", redisUsage{Sent: map[string]float64{"hmget": sumOfFractions(9)}, ServerUsec: 1.2}},
			{tSessionkit, wUntouched, redisUsage{}},
			{tSessionkit, "AddItem", redisUsage{Sent: map[string]float64{"hmget": 1, "evalsha": 1}}},
			{tSessionkit, wLogin, redisUsage{Sent: map[string]float64{"hmget": 1, "evalsha": 2}}},
		},
	}
	byWhat := map[string]goal{}
	for _, g := range evaluateGoals(res) {
		byWhat[g.What] = g
	}
	for what, want := range map[string]string{
		"HTTP 90/10 on Redis without the near-cache: requests/s, Sessionkit ÷ SCS":         "met",          // 1.30 ≥ 1.2
		"HTTP 90/10 on Redis without the near-cache: requests/s, Sessionkit ÷ Gorilla":     "**missed**",   // 1.18 < 1.2
		"HTTP 90/10 on Redis with the near-cache: requests/s, Sessionkit+NearCache ÷ SCS":  "not measured", // no such row
		"In-process GET cart on Redis: overhead, Sessionkit ÷ SCS":                         "met",          // 0.9 ≤ 1
		"In-process GET cart in memory: overhead, Sessionkit (memory) ÷ SCS (memstore)":    "**missed**",   // 0.3 > 0.25
		"In-process GET cart in memory: allocations, Sessionkit (memory) ÷ SCS (memstore)": "**missed**",   // 0.4 > 1/3
		"Redis server time per read (GET cart), Sessionkit":                                "met",
		"Round trips per request, Sessionkit: untouched / read / write / login":            "**missed**", // login 3
		"Bytes stored per 20-item cart, Sessionkit ÷ SCS":                                  "not measured",
	} {
		g, ok := byWhat[what]
		if !ok {
			t.Errorf("no goal %q", what)
			continue
		}
		if g.Outcome() != want {
			t.Errorf("%s: %s (got %s), want %s", what, g.Outcome(), g.Got, want)
		}
	}
	if g := byWhat["Round trips per request, Sessionkit: untouched / read / write / login"]; g.Got != "0 / 1 / 2 / 3" {
		t.Errorf("round trips shown as %q", g.Got)
	}
	// The same with the login in 2 round trips: met, although the read's
	// count is a sum of fractions slightly above 1.
	res.Usage[3].Usage.Sent["evalsha"] = 1
	for _, g := range evaluateGoals(res) {
		if strings.HasPrefix(g.What, "Round trips per request") && g.Outcome() != "met" {
			t.Errorf("%s: %s %s, want met", g.What, g.Got, g.Outcome())
		}
	}
}

// sumOfFractions adds 1/n n times, as usageFrom counts one command in each
// of n requests.
func sumOfFractions(n int) float64 {
	var f float64
	for range n {
		f += 1 / float64(n)
	}
	return f
}

// TestMeasureRoundTrips runs the round-trip phase of TestPublish on
// sessionkit on Redis, plain and with a warm near-cache, and checks that
// it finds the counts the session manager pins with a client hook
// (TestRedisRoundTripsPerRequest in the session package): untouched 0,
// read 1, write 2, login 2; a read from a warm near-cache 0.
func TestMeasureRoundTrips(t *testing.T) {
	srv := redistest.StartServer(t)
	rc := srv.Client()
	ctx := t.Context()
	for _, tg := range newCartTargets(t, srv) {
		if tg.name != tSessionkit && tg.name != tSessionkitNC {
			continue
		}
		got := map[string]float64{}
		for _, wl := range cartWorkloads {
			req := cartRequest(wl, seedCart(t, tg, wl))
			for range 3 {
				serve(tg.handler, httptest.NewRecorder(), req)
			}
			u, err := measureUsage(ctx, rc, tg.handler, req, 20)
			if err != nil {
				t.Fatal(err)
			}
			got[wl.name] = u.roundTrips()
		}
		rows, err := measureRoundTrips(ctx, rc, tg, seedCart(t, tg, cartWorkloads[0]), 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got[r.Workload] = r.Usage.roundTrips()
		}
		want := map[string]float64{wUntouched: 0, "GetCart": 1, "AddItem": 2, wLogin: 2}
		if tg.name == tSessionkitNC {
			want["GetCart"] = 0
		}
		for wl, n := range want {
			if g, ok := got[wl]; !ok || g < n-0.005 || g > n+0.005 {
				t.Errorf("%s %s: %v round trips (measured: %t), want %v", tg.name, wl, g, ok, n)
			}
		}
	}
}
