package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/degrade"
)

// downStore fails every operation as an unreachable backend would; its
// error names an address that a health endpoint must not publish.
type downStore struct{}

var errBackendDown = &backends.OpError{Backend: "redis", Op: "load",
	Err: backends.Unavailable(errors.New("dial tcp 10.1.2.3:6379: connect: connection refused"))}

func (downStore) Load(context.Context, string) (backends.Record, bool, error) {
	return backends.Record{}, false, errBackendDown
}
func (downStore) Save(context.Context, string, []byte, time.Time, uint64) (uint64, error) {
	return 0, errBackendDown
}
func (downStore) Touch(context.Context, string, time.Time) error { return errBackendDown }
func (downStore) Delete(context.Context, string) error           { return errBackendDown }

// hungStore never answers until its context ends.
type hungStore struct{ downStore }

func (hungStore) Ping(ctx context.Context) error {
	<-ctx.Done()
	return backends.Unavailable(ctx.Err())
}

// newChain returns a fail-over store of primary and fallback, as
// WithFailover builds one, for a manager given it with WithStore.
func newChain(t *testing.T, primary, fallback backends.Store) *degrade.Store {
	t.Helper()
	ds, err := degrade.New(primary, degrade.WithFallback(fallback), degrade.WithTimeout(20*time.Millisecond),
		degrade.WithProbeInterval(time.Hour), degrade.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

var quietLog = slog.New(slog.DiscardHandler)

func newMem(t *testing.T) *memstore.Store {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

type healthBody struct {
	Status  string    `json:"status"`
	Checked time.Time `json:"checked_at"`
	Stores  []struct {
		Name      string    `json:"name"`
		Role      string    `json:"role"`
		Status    string    `json:"status"`
		LatencyMS *float64  `json:"latency_ms"`
		Checked   time.Time `json:"checked_at"`
		Error     string    `json:"error"`
	} `json:"stores"`
}

func serveHealth(t *testing.T, st backends.Store, method string) (*httptest.ResponseRecorder, healthBody) {
	t.Helper()
	m, err := session.New(session.WithSecret(testSecret), session.WithStore(st), session.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.HealthHandler().ServeHTTP(rec, httptest.NewRequest(method, "/healthz", nil))
	var body healthBody
	if method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("health body %q: %v", rec.Body.String(), err)
		}
	}
	if strings.Contains(rec.Body.String(), "10.1.2.3") {
		t.Errorf("health body publishes the store's address: %s", rec.Body.String())
	}
	return rec, body
}

func TestHealthHandlerStatusCodes(t *testing.T) {
	cases := []struct {
		name   string
		store  backends.Store
		code   int
		status string
		stores []string // "name/role/status/error"
	}{
		{"healthy", newMem(t), 200, "healthy", []string{"memstore//healthy/"}},
		{"down", downStore{}, 503, "down", []string{"session_test//down/unavailable"}},
		{"named", namedStore{}, 503, "down", []string{"custom//down/unavailable"}},
		{"degraded", newChain(t, downStore{}, newMem(t)), 200, "degraded",
			[]string{"session_test/primary/down/unavailable", "memstore/fallback/healthy/"}},
		{"chain-healthy", newChain(t, newMem(t), newMem(t)), 200, "healthy",
			[]string{"memstore/primary/healthy/", "memstore/fallback/healthy/"}},
		{"chain-down", newChain(t, downStore{}, namedStore{}), 503, "down",
			[]string{"session_test/primary/down/unavailable", "custom/fallback/down/unavailable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, body := serveHealth(t, c.store, http.MethodGet)
			if rec.Code != c.code || body.Status != c.status {
				t.Errorf("got %d %q, want %d %q: %s", rec.Code, body.Status, c.code, c.status, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			var got []string
			for _, s := range body.Stores {
				got = append(got, s.Name+"/"+s.Role+"/"+s.Status+"/"+s.Error)
				if s.LatencyMS == nil || *s.LatencyMS < 0 {
					t.Errorf("store %s: latency_ms missing or negative", s.Name)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.stores, " ") {
				t.Errorf("stores = %v, want %v", got, c.stores)
			}
		})
	}
	rec, _ := serveHealth(t, downStore{}, http.MethodHead)
	if rec.Code != 503 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes, want 503 and none", rec.Code, rec.Body.Len())
	}
}

// A hung primary does not hold up the fallback's probe: both run within
// the caller's deadline, and the chain reports degraded, not down.
func TestHealthHungPrimaryIsDegradedNotDown(t *testing.T) {
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog),
		session.WithStore(newChain(t, hungStore{}, newMem(t))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rep := m.Health(ctx)
	if rep.State != session.HealthDegraded {
		t.Fatalf("state %q, want degraded: %+v", rep.State, rep)
	}
	p := rep.Stores[0]
	if p.State != session.HealthDown || !errors.Is(p.Err, context.DeadlineExceeded) {
		t.Errorf("primary = %+v, want down with a deadline error", p)
	}
	body, _ := json.Marshal(rep)
	if !strings.Contains(string(body), `"error":"timeout"`) {
		t.Errorf("report JSON does not classify the hang as a timeout: %s", body)
	}
	if rep.Stores[1].State != session.HealthHealthy {
		t.Errorf("fallback = %+v", rep.Stores[1])
	}
}

// A primary that starts refusing its configuration while the manager
// runs (a password changed under it) is reported down with the class
// "misconfigured", and the chain degraded: the fallback serves.
func TestHealthReportsRefusingPrimary(t *testing.T) {
	primary := newRefusingStore(t)
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog),
		session.WithFailover(primary, degrade.WithProbeInterval(time.Hour), degrade.WithLogger(quietLog)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	primary.mode.Store(storeRefusing)
	rec := httptest.NewRecorder()
	m.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var body healthBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || body.Status != "degraded" || len(body.Stores) != 2 ||
		body.Stores[0].Role != "primary" || body.Stores[0].Status != "down" || body.Stores[0].Error != "misconfigured" {
		t.Errorf("health = %d %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "WRONGPASS") {
		t.Errorf("health body publishes the store's error text: %s", rec.Body.String())
	}
}

type namedStore struct{ downStore }

func (namedStore) Name() string { return "custom" }
