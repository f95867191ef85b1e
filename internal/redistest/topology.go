package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel timings: a master is considered down after DownAfter without an
// answer, so a failover completes a few seconds after the master dies.
const (
	DownAfter       = 1000 * time.Millisecond
	FailoverTimeout = 5000 * time.Millisecond
)

// Sentinel is a Sentinel-managed group: one master, one replica and three
// sentinels with quorum 2.
type Sentinel struct {
	t         testing.TB
	name      string
	master    *Server
	replica   *Server
	sentinels []*Server
}

// StartSentinel starts a master, a replica of it and three sentinels
// monitoring it under the name "mymaster" with quorum 2, and waits until the
// replica is in sync and the sentinels know each other (SENTINEL CKQUORUM).
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	Require(t)
	g := &Sentinel{t: t, name: "mymaster"}
	g.master = startServer(t, "master", serverConfig{}, nil)
	g.replica = startServer(t, "replica", serverConfig{}, func(string, int) []string {
		return []string{"--replicaof", "127.0.0.1", strconv.Itoa(g.master.Port())}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(t, ctx, "replica in sync", func() (bool, string) {
		info, err := g.master.Client().Info(ctx, "replication").Result()
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online"), info
	})
	for i := range 3 {
		g.sentinels = append(g.sentinels, g.startSentinel(i))
	}
	waitFor(t, ctx, "sentinel quorum", func() (bool, string) {
		for _, s := range g.sentinels {
			res, err := s.Client().Do(ctx, "SENTINEL", "CKQUORUM", g.name).Text()
			if err != nil {
				return false, err.Error()
			}
			if !strings.Contains(res, "3 usable") {
				return false, res
			}
			n, err := s.Client().Do(ctx, "SENTINEL", "REPLICAS", g.name).Slice()
			if err != nil || len(n) != 1 {
				return false, fmt.Sprintf("replicas known: %d %v", len(n), err)
			}
		}
		return true, ""
	})
	return g
}

func (g *Sentinel) startSentinel(i int) *Server {
	g.t.Helper()
	dir := g.t.TempDir()
	s := &Server{t: g.t, name: "sentinel" + strconv.Itoa(i), bin: "redis-sentinel", dir: dir, sentinel: true}
	conf := filepath.Join(dir, "sentinel.conf")
	s.args = func(port int) []string {
		// Sentinel rewrites its configuration file, so each start gets a fresh one.
		text := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"protected-mode no",
			"daemonize no",
			"dir " + dir,
			"logfile " + filepath.Join(dir, "sentinel.log"),
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", g.name, g.master.Port()),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", g.name, DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", g.name, FailoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", g.name),
			"",
		}, "\n")
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			g.t.Fatalf("redistest: %v", err)
		}
		return []string{conf}
	}
	s.startFreePort()
	g.t.Cleanup(s.cleanup)
	return s
}

// MasterName returns the name the sentinels monitor ("mymaster").
func (g *Sentinel) MasterName() string { return g.name }

// SentinelAddrs returns the addresses of the three sentinels.
func (g *Sentinel) SentinelAddrs() []string {
	a := make([]string, len(g.sentinels))
	for i, s := range g.sentinels {
		a[i] = s.Addr()
	}
	return a
}

// Sentinels returns the sentinel processes.
func (g *Sentinel) Sentinels() []*Server { return g.sentinels }

// Master returns the server started as master (it stays the same value after
// a failover; ask MasterAddr for the current one).
func (g *Sentinel) Master() *Server { return g.master }

// Replica returns the server started as replica.
func (g *Sentinel) Replica() *Server { return g.replica }

// MasterAddr asks the sentinels for the current master's address.
func (g *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, s := range g.sentinels {
		if s.PID() == 0 {
			continue
		}
		a, err := s.Client().Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", g.name).StringSlice()
		if err != nil {
			lastErr = err
			continue
		}
		if len(a) == 2 {
			return a[0] + ":" + a[1], nil
		}
	}
	return "", fmt.Errorf("redistest: no sentinel knows the master: %v", lastErr)
}

// WaitFailover waits up to timeout until the sentinels name a master other
// than old and that master accepts writes, and returns its address.
func (g *Sentinel) WaitFailover(old string, timeout time.Duration) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var addr string
	waitFor(g.t, ctx, "failover away from "+old, func() (bool, string) {
		a, err := g.MasterAddr(ctx)
		if err != nil {
			return false, err.Error()
		}
		if a == old {
			return false, "master still " + a
		}
		var srv *Server
		for _, s := range []*Server{g.master, g.replica} {
			if s.Addr() == a {
				srv = s
			}
		}
		if srv == nil {
			return false, "unknown master " + a
		}
		role, err := srv.Client().Do(ctx, "ROLE").Slice()
		if err != nil || len(role) == 0 || role[0] != "master" {
			return false, fmt.Sprintf("%s role %v %v", a, role, err)
		}
		addr = a
		return true, ""
	})
	return addr
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	t     testing.TB
	nodes []*Server
}

// StartCluster starts the given number of cluster-enabled servers (at least
// 3), joins them with `redis-cli --cluster create` (no replicas) and waits
// until every node reports cluster_state:ok.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	Require(t)
	if masters < 3 {
		t.Fatalf("redistest: a cluster needs at least 3 masters, not %d", masters)
	}
	c := &Cluster{t: t}
	for i := range masters {
		busPort, err := FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		n := startServer(t, "node"+strconv.Itoa(i), serverConfig{}, func(dir string, port int) []string {
			if busPort == port {
				busPort, _ = FreePort()
			}
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "2000",
				"--cluster-port", strconv.Itoa(busPort),
				"--cluster-announce-ip", "127.0.0.1",
			}
		})
		c.nodes = append(c.nodes, n)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	waitFor(t, ctx, "cluster_state:ok", func() (bool, string) {
		for _, n := range c.nodes {
			info, err := n.Client().ClusterInfo(ctx).Result()
			if err != nil {
				return false, err.Error()
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes))) {
				return false, n.Addr() + ": " + info
			}
		}
		return true, ""
	})
	return c
}

// Addrs returns the addresses of the cluster's nodes.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		a[i] = n.Addr()
	}
	return a
}

// Nodes returns the cluster's servers.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Client returns a go-redis cluster client for this cluster, closed when the
// test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// waitFor polls cond every 50 ms until it holds or ctx ends; then it fails the
// test with the last detail cond returned.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	var detail string
	for {
		var ok bool
		ok, detail = cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: waiting for %s: %v; last state: %s", what, ctx.Err(), detail)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
