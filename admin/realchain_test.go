package admin_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session/admin"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/replicate"
	"github.com/sessionkit/session/degrade"
)

// The stores of the library that wrap others implement the interfaces the
// handler looks for.
var (
	_ admin.Wrapper     = (*migrate.Store)(nil)
	_ admin.Migration   = (*migrate.Store)(nil)
	_ admin.Wrapper     = (*replicate.Store)(nil)
	_ admin.Replication = (*replicate.Store)(nil)
)

// gatedStandby is a standby whose writes can be held back, to make the
// replication lag visible.
type gatedStandby struct {
	*memstore.Store
	hold    atomic.Bool
	entered chan struct{} // receives when a held write arrives
	release chan struct{} // closed to let held writes through
	once    sync.Once
}

func (g *gatedStandby) Name() string { return "standby-memstore" }

func (g *gatedStandby) Import(ctx context.Context, key string, rec backends.Record, onlyIfAbsent bool) (bool, error) {
	if g.hold.Load() {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-g.release
	}
	return g.Store.Import(ctx, key, rec, onlyIfAbsent)
}

func (g *gatedStandby) open() { g.once.Do(func() { close(g.release) }) }

// TestReportsARealChain builds the chain the operations guide describes,
// a fail-over store over a replicated primary that is itself an online
// migration, with the standby as the fail-over store's fallback, and checks
// what GET /stores and GET /counts report of it.
func TestReportsARealChain(t *testing.T) {
	ctx := t.Context()
	old, nw := newMem(t), newMem(t)
	mig, err := migrate.New(old, nw, migrate.State{Phase: migrate.WriteBoth, Rollout: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mig.Close() })
	standby := &gatedStandby{Store: newMem(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(standby.open)
	rep, err := replicate.New(mig, []backends.Store{standby}, replicate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.open(); rep.Close() })
	chain, err := degrade.New(rep, degrade.WithFallback(standby), degrade.WithProbeInterval(time.Hour),
		degrade.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	a := newTestApp(t, chain)
	root := a.login(staff)
	if err := rep.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	var st storesJSON
	if code := root.getJSON("/admin/api/stores", &st); code != http.StatusOK {
		t.Fatalf("GET /stores: %d", code)
	}
	type row struct {
		name, role string
		depth      int
	}
	want := []row{
		{"degrade", "", 0},
		{"replicate", "primary", 1},
		{"migrate", "primary", 2},
		{"memstore", "old", 3},
		{"memstore", "new", 3},
		{"standby-memstore", "standby", 2},
		{"standby-memstore", "fallback", 1},
	}
	if len(st.Stores) != len(want) {
		t.Fatalf("GET /stores lists %+v, want %v", st.Stores, want)
	}
	for i, w := range want {
		if s := st.Stores[i]; (row{s.Name, s.Role, s.Depth}) != w {
			t.Errorf("store %d is %+v, want %v", i, s, w)
		}
	}
	if f := st.Stores[0].Failover; f == nil || f.State != "closed" {
		t.Errorf("fail-over status %+v, want closed", f)
	}
	if r := st.Stores[1].Replication; r == nil || r.LagMS != 0 {
		t.Errorf("replication %+v, want a lag of 0 with nothing queued", r)
	}
	if m := st.Stores[2].Migration; m == nil || m.Phase != "write-both" {
		t.Errorf("migration %+v, want write-both", m)
	}
	for i, s := range st.Stores {
		wantSame := i == 6
		if (s.SameAs != nil) != wantSame || (wantSame && *s.SameAs != 5) {
			t.Errorf("store %d: same_as %v, want it only on the fallback, pointing at the standby (5)", i, s.SameAs)
		}
	}

	// The phase is read at every request, with its rollout.
	if err := mig.SetState(migrate.State{Phase: migrate.ReadNew, Rollout: 10}); err != nil {
		t.Fatal(err)
	}
	root.getJSON("/admin/api/stores", &st)
	if m := st.Stores[2].Migration; m == nil || m.Phase != "read-new 10%" {
		t.Errorf("migration %+v after SetState, want read-new 10%%", m)
	}

	// Counts: every store that wraps none, once. The staff session is in
	// the old store, the new one (write-both) and the standby.
	var c countsJSON
	if code := root.getJSON("/admin/api/counts", &c); code != http.StatusOK {
		t.Fatalf("GET /counts: %d", code)
	}
	wantCounts := []string{"old", "new", "standby"}
	if len(c.Stores) != len(wantCounts) {
		t.Fatalf("GET /counts: %+v, want %v", c.Stores, wantCounts)
	}
	for i, role := range wantCounts {
		if s := c.Stores[i]; s.Role != role || s.Sessions == nil || *s.Sessions != 1 {
			t.Errorf("count %d: %+v, want 1 session in %s", i, s, role)
		}
	}

	// A write the standby has not taken yet shows as lag.
	standby.hold.Store(true)
	a.login("bob")
	select {
	case <-standby.entered:
	case <-time.After(time.Minute):
		t.Fatal("the write never reached the standby")
	}
	for deadline := time.Now().Add(time.Minute); ; {
		root.getJSON("/admin/api/stores", &st)
		if r := st.Stores[1].Replication; r != nil && r.LagMS > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replication lag shown while a write is held: %+v", st.Stores[1].Replication)
		}
		time.Sleep(10 * time.Millisecond)
	}
	standby.open()
	if err := rep.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	root.getJSON("/admin/api/stores", &st)
	if r := st.Stores[1].Replication; r == nil || r.LagMS != 0 {
		t.Errorf("replication %+v once the standby caught up, want a lag of 0", r)
	}
}
