// Package metrics exports the session manager's activity as Prometheus
// metrics. It implements session.Observer; the root package does not import
// Prometheus, so only programs that use this package compile it.
//
//	reg := prometheus.NewRegistry() // or prometheus.DefaultRegisterer, explicitly
//	mx, err := metrics.New(reg, metrics.WithBackend("redis"))
//	if err != nil { ... }
//	m, err := session.New(session.WithSecret(secret), session.WithObserver(mx))
//
// # Metrics
//
// With the default namespace "session":
//
//	session_store_operations_total{backend,operation,result}      counter
//	session_store_operation_duration_seconds{backend,operation}   histogram
//	session_events_total{event}                                   counter
//	session_size_bytes                                            histogram
//	session_degraded                                              gauge (0 or 1)
//	session_failovers_total                                       counter
//	session_replayed_sessions_total{result}                       counter
//	session_breaker_state{backend}                                gauge (0 closed, 1 half-open, 2 open)
//
// operation is one of load, save, touch, delete, renew; result is ok,
// conflict (a lost compare-and-set, retried by the manager: not a failure),
// unavailable (the backend could not be reached or timed out), canceled
// (the client went away) or error. event is one of created, renewed,
// destroyed, expired (a session found past its idle timeout or lifetime
// when loaded), tampered_cookie (a cookie or token that failed
// verification), undecodable (a stored session that could not be decoded)
// and user_revoked. Every label has a small fixed set of values: no label
// ever carries a session ID, a user ID or a key. All series are created at
// zero by New, so rates and alerts work before the first event.
//
// session_degraded, session_failovers_total,
// session_replayed_sessions_total and session_breaker_state are fed by a
// fail-over store chain: through session.Manager.ReportStoreEvent
// (EventFailover, EventRecovered) and through the methods BreakerChanged
// and SessionReplayed, which the fail-over store's hook calls.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
)

// DefaultNamespace is the prefix of every metric name.
const DefaultNamespace = "session"

// DefaultBackend is the backend label of store operations when WithBackend
// is not given.
const DefaultBackend = "default"

var (
	// DefaultDurationBuckets are the buckets, in seconds, of the store
	// operation latency histogram: 100µs to 2.5s.
	DefaultDurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	// DefaultSizeBuckets are the buckets, in bytes, of the encoded session
	// size histogram: 64 B to 64 KiB (the default maximum session size).
	DefaultSizeBuckets = prometheus.ExponentialBuckets(64, 2, 11)
)

// The operations the manager reports, in the order of Metrics.ops.
var operations = [...]string{"load", "save", "touch", "delete", "renew"}

// The result label values.
const (
	resultOK          = "ok"
	resultConflict    = "conflict"
	resultUnavailable = "unavailable"
	resultCanceled    = "canceled"
	resultError       = "error"
)

var results = [...]string{resultOK, resultConflict, resultUnavailable, resultCanceled, resultError}

// BreakerState is the state of a circuit breaker, as exported by the
// session_breaker_state gauge.
type BreakerState int

// The breaker states and their gauge values.
const (
	BreakerClosed   BreakerState = 0 // the primary store is used
	BreakerHalfOpen BreakerState = 1 // probing whether the primary is back
	BreakerOpen     BreakerState = 2 // requests go straight to the fallback
)

// String returns "closed", "half-open" or "open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// Option configures New.
type Option func(*options) error

type options struct {
	namespace   string
	backend     string
	durations   []float64
	sizes       []float64
	constLabels prometheus.Labels
}

// WithNamespace sets the prefix of the metric names (default "session").
// The Grafana dashboard and alert rules in docs/monitoring assume the
// default.
func WithNamespace(ns string) Option {
	return func(o *options) error {
		if ns == "" {
			return errors.New("metrics: WithNamespace: empty namespace")
		}
		o.namespace = ns
		return nil
	}
}

// WithBackend sets the backend label of the manager's store operations
// (default "default"), for example "redis" or session.StoreName(store).
// Use a fixed, low-cardinality name.
func WithBackend(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("metrics: WithBackend: empty name")
		}
		o.backend = name
		return nil
	}
}

// WithDurationBuckets sets the buckets, in seconds, of the store operation
// latency histogram (default DefaultDurationBuckets).
func WithDurationBuckets(b []float64) Option {
	return func(o *options) error {
		if len(b) == 0 {
			return errors.New("metrics: WithDurationBuckets: no buckets")
		}
		o.durations = b
		return nil
	}
}

// WithSizeBuckets sets the buckets, in bytes, of the encoded session size
// histogram (default DefaultSizeBuckets).
func WithSizeBuckets(b []float64) Option {
	return func(o *options) error {
		if len(b) == 0 {
			return errors.New("metrics: WithSizeBuckets: no buckets")
		}
		o.sizes = b
		return nil
	}
}

// WithConstLabels adds labels with fixed values to every metric, for
// example to tell two managers of one process apart ({"app": "shop"} and
// {"app": "admin"}: both must use the same label names).
func WithConstLabels(l prometheus.Labels) Option {
	return func(o *options) error {
		o.constLabels = l
		return nil
	}
}

// opMetrics are the series of one operation, looked up once by New so
// that the request path does no label hashing.
type opMetrics struct {
	results  [len(results)]prometheus.Counter
	duration prometheus.Observer
}

// Metrics holds the session collectors. It implements session.Observer:
// pass it to session.WithObserver. It is safe for concurrent use.
type Metrics struct {
	backend   string
	opsVec    *prometheus.CounterVec
	durVec    *prometheus.HistogramVec
	ops       [len(operations)]opMetrics
	eventsVec *prometheus.CounterVec
	events    map[session.Event]prometheus.Counter
	size      prometheus.Histogram
	degraded  prometheus.Gauge
	failovers prometheus.Counter
	replayed  [2]prometheus.Counter // ok, error
	breaker   *prometheus.GaugeVec
}

var _ session.Observer = (*Metrics)(nil)

// New creates the session collectors and registers them on reg. reg is
// required: pass a prometheus.NewRegistry() of your own, or
// prometheus.DefaultRegisterer to use the global registry. New fails if a
// collector of the same name is already registered: two managers of one
// process need either their own namespace (WithNamespace) or each a
// constant label with the same name and different values
// (WithConstLabels with {"app": "shop"} and {"app": "admin"}).
func New(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil Registerer")
	}
	o := options{namespace: DefaultNamespace, backend: DefaultBackend, durations: DefaultDurationBuckets, sizes: DefaultSizeBuckets}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	ns, cl := o.namespace, o.constLabels
	m := &Metrics{backend: o.backend, events: make(map[session.Event]prometheus.Counter)}
	m.opsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: "store", Name: "operations_total", ConstLabels: cl,
		Help: "Session store operations by backend, operation and result (ok, conflict, unavailable, canceled, error).",
	}, []string{"backend", "operation", "result"})
	m.durVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: "store", Name: "operation_duration_seconds", ConstLabels: cl,
		Help:    "Latency of session store operations, in seconds.",
		Buckets: o.durations,
	}, []string{"backend", "operation"})
	m.eventsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "events_total", ConstLabels: cl,
		Help: "Session lifecycle and security events: created, renewed, destroyed, expired, tampered_cookie, undecodable, user_revoked.",
	}, []string{"event"})
	m.size = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "size_bytes", ConstLabels: cl,
		Help:    "Encoded size of saved sessions, in bytes.",
		Buckets: o.sizes,
	})
	m.degraded = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "degraded", ConstLabels: cl,
		Help: "1 while the store chain serves sessions from its fallback store, else 0.",
	})
	m.failovers = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "failovers_total", ConstLabels: cl,
		Help: "Times the store chain switched from its primary store to its fallback.",
	})
	replayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "replayed_sessions_total", ConstLabels: cl,
		Help: "Sessions written to the fallback during an outage and replayed to the primary store, by result (ok, error).",
	}, []string{"result"})
	m.breaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Name: "breaker_state", ConstLabels: cl,
		Help: "State of the circuit breaker in front of a store: 0 closed, 1 half-open, 2 open.",
	}, []string{"backend"})

	for i, op := range operations {
		for j, res := range results {
			m.ops[i].results[j] = m.opsVec.WithLabelValues(o.backend, op, res)
		}
		m.ops[i].duration = m.durVec.WithLabelValues(o.backend, op)
	}
	for _, e := range session.Events() {
		if e == session.EventFailover || e == session.EventRecovered {
			continue // session_failovers_total and session_degraded
		}
		m.events[e] = m.eventsVec.WithLabelValues(e.String())
	}
	m.replayed[0] = replayed.WithLabelValues(resultOK)
	m.replayed[1] = replayed.WithLabelValues(resultError)

	for _, c := range []prometheus.Collector{m.opsVec, m.durVec, m.eventsVec, m.size, m.degraded, m.failovers, replayed, m.breaker} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Event counts a lifecycle or security event (session.Observer).
// EventFailover and EventRecovered set session_degraded and count
// session_failovers_total.
func (m *Metrics) Event(_ context.Context, e session.Event) {
	switch e {
	case session.EventFailover:
		m.failovers.Inc()
		m.degraded.Set(1)
		return
	case session.EventRecovered:
		m.degraded.Set(0)
		return
	}
	if c, ok := m.events[e]; ok {
		c.Inc()
	}
}

// StoreOp counts one store operation and observes its latency
// (session.Observer).
func (m *Metrics) StoreOp(op string, err error, d time.Duration) {
	res := classify(err)
	for i := range operations {
		if operations[i] == op {
			m.ops[i].results[res].Inc()
			m.ops[i].duration.Observe(d.Seconds())
			return
		}
	}
	m.opsVec.WithLabelValues(m.backend, op, results[res]).Inc()
	m.durVec.WithLabelValues(m.backend, op).Observe(d.Seconds())
}

// classify returns the index in results of err's result label.
func classify(err error) int {
	switch {
	case err == nil:
		return 0
	case backends.IsConflict(err):
		return 1
	case errors.Is(err, context.Canceled):
		return 3
	case backends.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
		return 2
	}
	return 4
}

// Saved observes the encoded size of a saved session (session.Observer).
func (m *Metrics) Saved(size int) {
	m.size.Observe(float64(size))
}

// BreakerChanged sets session_breaker_state for the breaker in front of
// the named store. A fail-over store's hook calls it on every transition;
// store must be a fixed name ("redis", "primary"), never an address.
func (m *Metrics) BreakerChanged(store string, s BreakerState) {
	m.breaker.WithLabelValues(store).Set(float64(s))
}

// SessionReplayed counts a session replayed from the fallback to the
// primary store after an outage; err is the replay's error (nil on
// success).
func (m *Metrics) SessionReplayed(err error) {
	if err == nil {
		m.replayed[0].Inc()
	} else {
		m.replayed[1].Inc()
	}
}
