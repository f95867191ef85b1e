package admin_test

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session/admin"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/degrade"
)

// migratingStore stands for an online migration between two stores: it
// serves from old and names both as the stores it wraps, and reports a
// phase and a replication lag. Only what the handler looks for is real.
type migratingStore struct {
	*memstore.Store // old
	new             *memstore.Store
	phase           atomic.Value // string
	lag             atomic.Int64 // time.Duration
}

var (
	_ admin.Wrapper     = (*migratingStore)(nil)
	_ admin.Migration   = (*migratingStore)(nil)
	_ admin.Replication = (*migratingStore)(nil)
)

func (s *migratingStore) Name() string { return "migrate" }

func (s *migratingStore) WrappedStores() iter.Seq2[string, backends.Store] {
	return func(yield func(string, backends.Store) bool) {
		_ = yield("old", s.Store) && yield("new", s.new)
	}
}

func (s *migratingStore) MigrationPhase() string { return s.phase.Load().(string) }

func (s *migratingStore) ReplicationLag() time.Duration { return time.Duration(s.lag.Load()) }

// downStore is a store that cannot be reached.
type downStore struct{}

var errDown = &backends.OpError{Backend: "redis", Op: "load",
	Err: backends.Unavailable(errors.New("dial tcp 10.1.2.3:6379: connection refused"))}

func (downStore) Name() string { return "downstore" }
func (downStore) Load(context.Context, string) (backends.Record, bool, error) {
	return backends.Record{}, false, errDown
}
func (downStore) Save(context.Context, string, []byte, time.Time, uint64) (uint64, error) {
	return 0, errDown
}
func (downStore) Touch(context.Context, string, time.Time) error     { return errDown }
func (downStore) Delete(context.Context, string) error               { return errDown }
func (downStore) Ping(context.Context) error                         { return errDown }
func (downStore) Count(context.Context) (int, error)                 { return 0, errDown }
func (downStore) UserKeys(context.Context, string) ([]string, error) { return nil, errDown }

func newMem(t *testing.T) *memstore.Store {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

// storesJSON is the answer of GET /stores.
type storesJSON struct {
	Stores []struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Depth    int    `json:"depth"`
		SameAs   *int   `json:"same_as"`
		Failover *struct {
			State   string `json:"state"`
			Pending int    `json:"pending"`
		} `json:"failover"`
		Migration *struct {
			Phase string `json:"phase"`
		} `json:"migration"`
		Replication *struct {
			LagMS float64 `json:"lag_ms"`
		} `json:"replication"`
	} `json:"stores"`
}

// countsJSON is the answer of GET /counts.
type countsJSON struct {
	Stores []struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Sessions *int   `json:"sessions"`
		Error    string `json:"error"`
	} `json:"stores"`
}

func TestReportsTheStoreChain(t *testing.T) {
	mig := &migratingStore{Store: newMem(t), new: newMem(t)}
	mig.phase.Store("write-both")
	mig.lag.Store(int64(1500 * time.Millisecond))
	fallback := newMem(t)
	chain, err := degrade.New(mig, degrade.WithFallback(fallback), degrade.WithProbeInterval(time.Hour),
		degrade.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	a := newTestApp(t, chain)
	a.login("bob")
	a.login("bob")
	root := a.login(staff)

	var st storesJSON
	if code := root.getJSON("/admin/api/stores", &st); code != http.StatusOK {
		t.Fatalf("GET /stores: %d", code)
	}
	type row struct {
		name, role string
		depth      int
	}
	want := []row{{"degrade", "", 0}, {"migrate", "primary", 1}, {"memstore", "old", 2}, {"memstore", "new", 2}, {"memstore", "fallback", 1}}
	if len(st.Stores) != len(want) {
		t.Fatalf("GET /stores lists %+v, want %v", st.Stores, want)
	}
	for i, w := range want {
		s := st.Stores[i]
		if (row{s.Name, s.Role, s.Depth}) != w {
			t.Errorf("store %d is %+v, want %v", i, s, w)
		}
	}
	if f := st.Stores[0].Failover; f == nil || f.State != "closed" || f.Pending != 0 {
		t.Errorf("fail-over status %+v, want closed with nothing pending", f)
	}
	if m := st.Stores[1].Migration; m == nil || m.Phase != "write-both" {
		t.Errorf("migration %+v, want phase write-both", m)
	}
	if r := st.Stores[1].Replication; r == nil || r.LagMS != 1500 {
		t.Errorf("replication %+v, want a lag of 1500 ms", r)
	}
	for _, i := range []int{0, 2, 3, 4} {
		if s := st.Stores[i]; s.Migration != nil || s.Replication != nil || (i != 0 && s.Failover != nil) {
			t.Errorf("store %d reports what it does not implement: %+v", i, s)
		}
	}

	// The phase is read at every request.
	mig.phase.Store("read-new")
	root.getJSON("/admin/api/stores", &st)
	if m := st.Stores[1].Migration; m == nil || m.Phase != "read-new" {
		t.Errorf("migration %+v after the phase changed, want read-new", m)
	}

	// Counts: the stores that wrap none. The old store holds the three
	// sessions; the new one and the fallback hold none.
	var c countsJSON
	if code := root.getJSON("/admin/api/counts", &c); code != http.StatusOK {
		t.Fatalf("GET /counts: %d", code)
	}
	wantCounts := []struct {
		role string
		n    int
	}{{"old", 3}, {"new", 0}, {"fallback", 0}}
	if len(c.Stores) != len(wantCounts) {
		t.Fatalf("GET /counts: %+v", c.Stores)
	}
	for i, w := range wantCounts {
		s := c.Stores[i]
		if s.Role != w.role || s.Sessions == nil || *s.Sessions != w.n || s.Error != "" {
			t.Errorf("count %d: %+v, want %d in %s", i, s, w.n, w.role)
		}
	}

	var h struct {
		Status string `json:"status"`
		Stores []struct {
			Role   string `json:"role"`
			Status string `json:"status"`
		} `json:"stores"`
	}
	if code := root.getJSON("/admin/api/health", &h); code != http.StatusOK || h.Status != "healthy" || len(h.Stores) != 2 {
		t.Errorf("GET /health: %d %+v", code, h)
	}
}

func TestReportsAStoreThatIsDown(t *testing.T) {
	fallback := newMem(t)
	chain, err := degrade.New(downStore{}, degrade.WithFallback(fallback), degrade.WithProbeInterval(time.Hour),
		degrade.WithTimeout(50*time.Millisecond), degrade.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	a := newTestApp(t, chain)
	root := a.login(staff)

	var h struct {
		Status string `json:"status"`
		Stores []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"stores"`
	}
	if code := root.getJSON("/admin/api/health", &h); code != http.StatusOK || h.Status != "degraded" {
		t.Fatalf("GET /health: %d %+v, want 200 and degraded", code, h)
	}
	if s := h.Stores[0]; s.Name != "downstore" || s.Status != "down" || s.Error != "unavailable" {
		t.Errorf("the primary is reported as %+v", s)
	}
	var c countsJSON
	if code := root.getJSON("/admin/api/counts", &c); code != http.StatusOK || len(c.Stores) != 2 {
		t.Fatalf("GET /counts: %d %+v", code, c)
	}
	if s := c.Stores[0]; s.Role != "primary" || s.Sessions != nil || s.Error != "unavailable" {
		t.Errorf("the primary's count: %+v, want the error class unavailable", s)
	}
	if s := c.Stores[1]; s.Role != "fallback" || s.Sessions == nil || *s.Sessions != 1 {
		t.Errorf("the fallback's count: %+v, want the operator's session", s)
	}
}
