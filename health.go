package session

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
)

// HealthState is the state of a store, or of the whole chain of stores.
type HealthState string

// The states a health check reports.
const (
	// HealthHealthy: the store answers.
	HealthHealthy HealthState = "healthy"
	// HealthDegraded: the chain serves sessions, but not as configured:
	// the primary of a fail-over store is down and its fallback serves.
	HealthDegraded HealthState = "degraded"
	// HealthDown: the store cannot serve sessions.
	HealthDown HealthState = "down"
)

// DefaultHealthTimeout caps how long the handler of HealthHandler waits for
// the stores to answer, when the request's own context allows longer.
const DefaultHealthTimeout = 2 * time.Second

// StoreStatus is the health of one store of the chain.
type StoreStatus struct {
	// Name identifies the store: the value of its Name method if it has
	// one (Name() string), else its package ("memstore", "redisstore").
	Name string
	// Role is the store's place in the chain: "primary" or "fallback" in
	// a fail-over chain, "" for a single store.
	Role string
	// State is HealthHealthy, HealthDegraded or HealthDown.
	State HealthState
	// Latency is how long the last probe took.
	Latency time.Duration
	// Checked is when the last probe ran.
	Checked time.Time
	// Err is the error of the last probe, nil when it succeeded. It may
	// name hosts and addresses; HealthHandler does not serve it.
	Err error
}

// HealthReport is the result of Manager.Health.
type HealthReport struct {
	// State is HealthDown when no store can keep sessions, HealthDegraded
	// when sessions are kept but not by the chain as configured (or a
	// store is unhealthy), HealthHealthy otherwise.
	State HealthState
	// Stores lists each store of the chain, the primary first.
	Stores []StoreStatus
	// Checked is when the report was made.
	Checked time.Time
}

// Health checks the session store and reports the state of each store in
// the chain: the primary and the fallback of a fail-over store
// (WithFailover, or a degrade.Store given to WithStore) are probed in
// parallel, so that a hung primary cannot make the fallback look down; a
// single store is probed alone. A probe is a Ping when the store
// implements backends.Pinger, else a Load of a key no session uses.
// Probes are bounded by ctx only: pass a context with a deadline.
func (m *Manager) Health(ctx context.Context) HealthReport {
	var stores []StoreStatus
	if st, ok := m.store.(*degrade.Store); ok {
		stores = make([]StoreStatus, 2)
		done := make(chan struct{})
		go func() {
			stores[1] = probe(ctx, st.Fallback())
			stores[1].Role = "fallback"
			close(done)
		}()
		stores[0] = probe(ctx, st.Primary())
		stores[0].Role = "primary"
		<-done
	} else {
		stores = []StoreStatus{probe(ctx, m.store)}
	}
	return HealthReport{State: overall(stores), Stores: stores, Checked: m.now()}
}

// healthProbeKey is loaded from stores that cannot be pinged. Store keys
// made by the manager are 43 base64url characters, so it never names a
// session.
const healthProbeKey = "sessionkit:health-probe"

// probe checks one store: Ping if it can, else a Load of a missing key.
func probe(ctx context.Context, st backends.Store) StoreStatus {
	start := time.Now()
	var err error
	if p, ok := st.(backends.Pinger); ok {
		err = p.Ping(ctx)
	} else {
		_, _, err = st.Load(ctx, healthProbeKey)
	}
	s := StoreStatus{Name: storeName(st), State: HealthHealthy, Latency: time.Since(start), Checked: start, Err: err}
	if err != nil {
		s.State = HealthDown
	}
	return s
}

// overall combines the states of the stores of a chain.
func overall(stores []StoreStatus) HealthState {
	serving, all := false, true
	for _, s := range stores {
		switch s.State {
		case HealthHealthy:
			serving = true
		case HealthDegraded:
			serving, all = true, false
		default:
			all = false
		}
	}
	switch {
	case !serving:
		return HealthDown
	case !all:
		return HealthDegraded
	}
	return HealthHealthy
}

// storeName names a store in health reports: the value of its Name method
// if it has one (Name() string), else the last element of its type's
// package path ("memstore", "redisstore"). It never includes addresses or
// keys.
func storeName(st backends.Store) string {
	if n, ok := st.(interface{ Name() string }); ok {
		if name := n.Name(); name != "" {
			return name
		}
	}
	t := reflect.TypeOf(st)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "unknown"
	}
	pkg := t.PkgPath()
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		pkg = pkg[i+1:]
	}
	if pkg == "" {
		return "unknown"
	}
	return pkg
}

// healthJSON is the wire form of a HealthReport.
type healthJSON struct {
	Status  HealthState       `json:"status"`
	Checked time.Time         `json:"checked_at"`
	Stores  []storeStatusJSON `json:"stores"`
}

type storeStatusJSON struct {
	Name      string      `json:"name"`
	Role      string      `json:"role,omitempty"`
	Status    HealthState `json:"status"`
	LatencyMS float64     `json:"latency_ms"`
	Checked   time.Time   `json:"checked_at"`
	Error     string      `json:"error,omitempty"`
}

// MarshalJSON encodes the report as HealthHandler serves it. Store errors
// appear only as a class ("misconfigured": the store refuses the
// configuration, such as a password or a database; "timeout",
// "unavailable", "canceled" or "error"): their text can name hosts and
// addresses, which a health endpoint should not publish.
func (r HealthReport) MarshalJSON() ([]byte, error) {
	out := healthJSON{Status: r.State, Checked: r.Checked.UTC(), Stores: make([]storeStatusJSON, len(r.Stores))}
	for i, s := range r.Stores {
		out.Stores[i] = storeStatusJSON{
			Name:      s.Name,
			Role:      s.Role,
			Status:    s.State,
			LatencyMS: float64(s.Latency.Microseconds()) / 1000,
			Checked:   s.Checked.UTC(),
			Error:     errorClass(s.Err),
		}
	}
	return json.Marshal(out)
}

func errorClass(err error) string {
	switch {
	case err == nil:
		return ""
	case backends.IsMisconfigured(err):
		return "misconfigured"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case backends.IsUnavailable(err):
		return "unavailable"
	}
	return "error"
}

// HealthHandler returns a handler that runs Health and serves the report
// as JSON: status 200 when the chain is healthy or degraded (sessions
// work), 503 Service Unavailable when no store can keep sessions. Probes
// are bounded by the request's context and by DefaultHealthTimeout. The
// response is never cached and carries no store error text (see
// HealthReport.MarshalJSON). Mount it where the orchestrator's readiness
// probe or the load balancer looks, for example "GET /healthz/session".
func (m *Manager) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), DefaultHealthTimeout)
		defer cancel()
		rep := m.Health(ctx)
		body, err := json.Marshal(rep)
		if err != nil {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		code := http.StatusOK
		if rep.State == HealthDown {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			w.Write(append(body, '\n'))
		}
	})
}
