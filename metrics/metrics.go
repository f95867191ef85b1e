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
//	session_breaker_state{state}                                  gauge (1 for the current state)
//	session_failovers_total                                       counter
//	session_failover_operations_total{operation}                  counter
//	session_primary_failures_total{backend,result}                counter
//	session_replayed_sessions_total{result}                       counter
//	session_journal_dropped_total                                 counter
//
// operation is one of load, save, touch, delete, renew (and, for fail-over
// operations, add_user_key and remove_user_key); result is ok, conflict (a
// lost compare-and-set, retried by the manager: not a failure), unavailable
// (the backend could not be reached or timed out), canceled (the client
// went away) or error. event is one of created, renewed, destroyed, expired
// (a session found past its idle timeout or lifetime when loaded),
// tampered_cookie (a cookie or token that failed verification), undecodable
// (a stored session that could not be decoded) and user_revoked. state is
// closed, open or recovering. Every label has a small fixed set of values:
// no label ever carries a session ID, a user ID or a key. All series are
// created at zero by New, so rates and alerts work before the first event.
//
// # Fail-over
//
// The fail-over metrics come from the fail-over store (package degrade):
// Metrics implements degrade.Observer. With session.WithFailover nothing
// more is needed: the manager passes the fail-over store's events to its
// observer, and reports the fail-overs and recoveries in its audit log.
//
//	mx, err := metrics.New(reg, metrics.WithBackend("redis"))
//	m, err := session.New(session.WithSecret(secret), session.WithFailover(redisStore), session.WithObserver(mx))
//
// A fail-over store built with degrade.New and given to session.WithStore
// needs the same value passed to both constructors:
//
//	fo, err := degrade.New(redisStore, degrade.WithObserver(mx))
//	m, err := session.New(session.WithSecret(secret), session.WithStore(fo), session.WithObserver(mx))
//
// session_degraded is 1 while the breaker is open (sessions are served by
// the fallback); session_failovers_total counts the times it opened;
// session_failover_operations_total counts the operations the fallback
// served; session_primary_failures_total counts the calls the primary did
// not serve: result unavailable (it failed or ran out of time),
// misconfigured (it refused its configuration: credentials, database,
// TLS) and short_circuited (the breaker was open, the primary was not
// asked). The manager's own calls, in session_store_operations_total, are
// counted by how the manager fared: a call the fallback served is ok
// there. session_replayed_sessions_total counts sessions whose outage
// writes were replayed onto the primary (result ok) and writes given up
// (result error); session_journal_dropped_total counts writes served during
// an outage that could not be journaled for replay (journal full).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
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
	// results of the primary's calls only
	resultMisconfigured  = "misconfigured"
	resultShortCircuited = "short_circuited"
)

var results = [...]string{resultOK, resultConflict, resultUnavailable, resultCanceled, resultError}

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
	foOpsVec  *prometheus.CounterVec
	foOps     map[string]prometheus.Counter
	primary   [len(primaryResults)]prometheus.Counter
	replayed  [2]prometheus.Counter // ok, error
	dropped   prometheus.Counter
	breaker   [3]prometheus.Gauge // by degrade.State
}

var (
	_ session.Observer = (*Metrics)(nil)
	_ degrade.Observer = (*Metrics)(nil)
)

// The operations a fail-over store reports as served by its fallback.
var failoverOps = [...]string{"load", "save", "touch", "delete", "renew", "add_user_key", "remove_user_key"}

// The result label values of session_primary_failures_total, in the order
// of Metrics.primary.
var primaryResults = [...]string{resultUnavailable, resultMisconfigured, resultShortCircuited}

// The breaker states, indexed by degrade.State.
var breakerStates = [...]degrade.State{degrade.StateClosed, degrade.StateOpen, degrade.StateRecovering}

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
	m := &Metrics{backend: o.backend, events: make(map[session.Event]prometheus.Counter), foOps: make(map[string]prometheus.Counter)}
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
		Help: "Session lifecycle and security events: created, renewed, destroyed, expired, tampered_cookie, undecodable, user_revoked, csrf_rejected, binding_failed.",
	}, []string{"event"})
	m.size = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "size_bytes", ConstLabels: cl,
		Help:    "Encoded size of saved sessions, in bytes.",
		Buckets: o.sizes,
	})
	m.degraded = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "degraded", ConstLabels: cl,
		Help: "1 while the fail-over store serves sessions from its fallback (breaker open), else 0.",
	})
	m.failovers = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "failovers_total", ConstLabels: cl,
		Help: "Times the fail-over store's breaker opened: switches from the primary store to the fallback.",
	})
	m.foOpsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "failover_operations_total", ConstLabels: cl,
		Help: "Store operations served by the fallback store instead of the primary, by operation.",
	}, []string{"operation"})
	primary := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "primary_failures_total", ConstLabels: cl,
		Help: "Calls the fail-over store's primary did not serve: unavailable (failed or timed out), misconfigured (refused its configuration), short_circuited (breaker open, not asked).",
	}, []string{"backend", "result"})
	replayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "replayed_sessions_total", ConstLabels: cl,
		Help: "Sessions written during an outage and replayed onto the primary store (ok), and journaled writes given up (error).",
	}, []string{"result"})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "journal_dropped_total", ConstLabels: cl,
		Help: "Writes served by the fallback that were not journaled for replay because the journal was full.",
	})
	breaker := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Name: "breaker_state", ConstLabels: cl,
		Help: "State of the fail-over store's circuit breaker: 1 for the current state (closed, open, recovering), 0 for the others.",
	}, []string{"state"})

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
	for _, op := range failoverOps {
		m.foOps[op] = m.foOpsVec.WithLabelValues(op)
	}
	for i, res := range primaryResults {
		m.primary[i] = primary.WithLabelValues(o.backend, res)
	}
	m.replayed[0] = replayed.WithLabelValues(resultOK)
	m.replayed[1] = replayed.WithLabelValues(resultError)
	for _, st := range breakerStates {
		m.breaker[st] = breaker.WithLabelValues(st.String())
	}
	m.breaker[degrade.StateClosed].Set(1)

	for _, c := range []prometheus.Collector{m.opsVec, m.durVec, m.eventsVec, m.size, m.degraded, m.failovers, m.foOpsVec, primary, replayed, m.dropped, breaker} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Event counts a lifecycle or security event (session.Observer).
// EventFailover and EventRecovered are not counted here: the fail-over
// metrics come from the degrade.Observer methods.
func (m *Metrics) Event(_ context.Context, e session.Event) {
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

// StateChanged records a transition of the fail-over store's circuit
// breaker (degrade.Observer).
func (m *Metrics) StateChanged(from, to degrade.State) {
	for _, st := range breakerStates {
		v := 0.0
		if st == to {
			v = 1
		}
		m.breaker[st].Set(v)
	}
	if to == degrade.StateOpen {
		m.degraded.Set(1)
		m.failovers.Inc()
	} else {
		m.degraded.Set(0)
	}
}

// FailedOver counts an operation served by the fallback store
// (degrade.Observer).
func (m *Metrics) FailedOver(op string) {
	if c, ok := m.foOps[op]; ok {
		c.Inc()
		return
	}
	m.foOpsVec.WithLabelValues(op).Inc()
}

// PrimaryFailed counts a call the fail-over store's primary did not serve
// (degrade.Observer), by its result: short_circuited (the breaker was
// open), misconfigured, or unavailable.
func (m *Metrics) PrimaryFailed(err error) {
	switch {
	case errors.Is(err, degrade.ErrOpen):
		m.primary[2].Inc()
	case backends.IsMisconfigured(err):
		m.primary[1].Inc()
	default:
		m.primary[0].Inc()
	}
}

// Replayed counts a session whose outage writes were replayed onto the
// primary store (degrade.Observer).
func (m *Metrics) Replayed(changeSets int) { m.replayed[0].Inc() }

// ReplayFailed counts a journaled write that was given up
// (degrade.Observer).
func (m *Metrics) ReplayFailed(err error) { m.replayed[1].Inc() }

// JournalFull counts a write served by the fallback that could not be
// journaled for replay (degrade.Observer).
func (m *Metrics) JournalFull() { m.dropped.Inc() }
