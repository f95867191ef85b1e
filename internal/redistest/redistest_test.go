package redistest

import (
	"context"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	s := StartServer(t)
	ctx := context.Background()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before := s.CommandStats(ctx)
	if err := c.Get(ctx, "k").Err(); err != nil {
		t.Fatal(err)
	}
	if d := Delta(before, s.CommandStats(ctx)); len(d) != 1 || d["get"] != 1 {
		t.Fatalf("delta = %v, want get:1", d)
	}

	pid := s.PID()
	s.Restart(true)
	if s.PID() == pid || s.PID() == 0 {
		t.Fatalf("pid after restart = %d (before %d)", s.PID(), pid)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after Restart(true): %q, %v", v, err)
	}
	s.Restart(false)
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after Restart(false): exists=%d, %v", n, err)
	}

	s.Stop()
	if err := ping(s.Addr(), 300*time.Millisecond); err == nil {
		t.Fatal("stopped server answered PING")
	}
	s.Cont()
	if err := ping(s.Addr(), 2*time.Second); err != nil {
		t.Fatalf("after Cont: %v", err)
	}
	s.Kill()
	if s.PID() != 0 {
		t.Fatal("PID after Kill")
	}
}

func TestAppendOnlyKeepsDataAfterKill(t *testing.T) {
	s := StartServer(t, WithAppendOnly())
	ctx := context.Background()
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Restart(true)
	if v, err := s.Client().Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after kill and restart: %q, %v", v, err)
	}
}

func TestParseCommandStats(t *testing.T) {
	m, err := ParseCommandStats("# Commandstats\r\ncmdstat_evalsha:calls=3,usec=1,usec_per_call=0.33,rejected_calls=0,failed_calls=0\r\ncmdstat_config|get:calls=1,usec=2\r\n")
	if err != nil || m["evalsha"] != 3 || m["config|get"] != 1 || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestParseCommandTimes(t *testing.T) {
	m, err := ParseCommandTimes("# Commandstats\r\ncmdstat_hmget:calls=4,usec=6,usec_per_call=1.50\r\ncmdstat_config|get:calls=1,usec=2\r\n")
	if err != nil || m["hmget"] != (CommandTime{Calls: 4, Usec: 6}) || m["config|get"].Usec != 2 || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	if got := m["hmget"].PerCall(); got != 1.5 {
		t.Errorf("PerCall = %v, want 1.5", got)
	}
	d := TimeDelta(map[string]CommandTime{"hmget": {1, 1}, "info": {1, 1}}, map[string]CommandTime{"hmget": {4, 6}, "info": {2, 9}, "get": {1, 1}})
	if len(d) != 2 || d["hmget"] != (CommandTime{3, 5}) || d["get"] != (CommandTime{1, 1}) {
		t.Errorf("TimeDelta = %v", d)
	}
}

func TestSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	g := StartSentinel(t)
	ctx := context.Background()
	old, err := g.MasterAddr(ctx)
	if err != nil || old != g.Master().Addr() {
		t.Fatalf("master %q, %v", old, err)
	}
	g.Master().Kill()
	start := time.Now()
	if a := g.WaitFailover(old, 30*time.Second); a != g.Replica().Addr() {
		t.Fatalf("new master %s, want %s", a, g.Replica().Addr())
	}
	t.Logf("failover took %v", time.Since(start))
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c := StartCluster(t, 3)
	cc := c.Client()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var rt RoundTrips
	cc.AddHook(&rt)
	if _, err := cc.Get(ctx, "a").Result(); err != nil {
		t.Fatal(err)
	}
	if rt.Trips() != 1 {
		t.Fatalf("trips %d", rt.Trips())
	}
}
