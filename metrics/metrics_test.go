package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavv/httpexpect/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/sessiontest"
	"github.com/sessionkit/session/metrics"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-metrics-test")

// Fault modes of faultStore.
const (
	modeOK int32 = iota
	modeExpire
	modeCorrupt
	modeDown
)

// faultStore is a memstore whose loads can be made to return expired or
// corrupt records, and whose operations can be made to fail as if the
// backend were down.
type faultStore struct {
	*memstore.Store
	mode atomic.Int32
}

func newFaultStore(t testing.TB) *faultStore {
	return &faultStore{Store: sessiontest.NewMemstore(t)}
}

var errDown = backends.Unavailable(errors.New("fault: backend down"))

func (f *faultStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	switch f.mode.Load() {
	case modeDown:
		return backends.Record{}, false, &backends.OpError{Backend: "fault", Op: "load", Err: errDown}
	case modeExpire:
		rec, ok, err := f.Store.Load(ctx, key)
		rec.Expiry = time.Now().Add(-time.Second)
		return rec, ok, err
	case modeCorrupt:
		rec, ok, err := f.Store.Load(ctx, key)
		if ok {
			rec.Blob = bytes.Clone(rec.Blob)
			rec.Blob[len(rec.Blob)-1] ^= 1
		}
		return rec, ok, err
	}
	return f.Store.Load(ctx, key)
}

func (f *faultStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	if f.mode.Load() == modeDown {
		return 0, &backends.OpError{Backend: "fault", Op: "save", Err: errDown}
	}
	return f.Store.Save(ctx, key, blob, exp, v)
}

func (f *faultStore) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, userID string, deadline time.Time) error {
	if f.mode.Load() == modeDown {
		return &backends.OpError{Backend: "fault", Op: "renew", Err: errDown}
	}
	return f.Store.Renew(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	if f.mode.Load() == modeDown {
		return &backends.OpError{Backend: "fault", Op: "delete", Err: errDown}
	}
	return f.Store.Delete(ctx, key)
}

func (f *faultStore) Ping(ctx context.Context) error {
	if f.mode.Load() == modeDown {
		return errDown
	}
	return f.Store.Ping(ctx)
}

// testEnv is a manager with metrics behind an HTTPS test server that also
// serves /metrics.
type testEnv struct {
	t     *testing.T
	reg   *prometheus.Registry
	store *faultStore
	mgr   *session.Manager
	srv   *httptest.Server
	logs  *sessiontest.LogBuffer
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	ev := &testEnv{t: t, reg: prometheus.NewRegistry(), store: newFaultStore(t), logs: &sessiontest.LogBuffer{}}
	mx, err := metrics.New(ev.reg, metrics.WithBackend("memory"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(ev.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ev.mgr, err = session.New(
		session.WithSecret(testSecret),
		session.WithStore(ev.store),
		session.WithObserver(mx),
		session.WithLogger(logger),
	)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	sess := func(r *http.Request) *session.Session { return session.MustFromContext(r.Context()) }
	check := func(w http.ResponseWriter, err error) bool {
		if err != nil {
			http.Error(w, "session: "+err.Error(), http.StatusInternalServerError)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if check(w, sess(r).Set(r.PathValue("k"), r.PathValue("v"))) {
			io.WriteString(w, "ok")
		}
	})
	mux.HandleFunc("GET /get/{k}", func(w http.ResponseWriter, r *http.Request) {
		v, _, err := session.Get[string](sess(r), r.PathValue("k"))
		if check(w, err) {
			io.WriteString(w, v+".")
		}
	})
	mux.HandleFunc("POST /login/{user}", func(w http.ResponseWriter, r *http.Request) {
		s := sess(r)
		if check(w, s.Renew()) && check(w, s.SetUser(r.PathValue("user"))) {
			io.WriteString(w, "welcome")
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if check(w, sess(r).Destroy()) {
			io.WriteString(w, "bye")
		}
	})
	root := http.NewServeMux()
	root.Handle("/metrics", promhttp.HandlerFor(ev.reg, promhttp.HandlerOpts{}))
	root.Handle("/healthz", ev.mgr.HealthHandler())
	root.Handle("/", ev.mgr.Middleware(mux))
	ev.srv = httptest.NewUnstartedServer(root)
	ev.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short by clients closing
	ev.srv.StartTLS()
	t.Cleanup(ev.srv.Close)
	return ev
}

// browser returns a client with its own cookie jar and an httpexpect
// instance that uses it.
func (ev *testEnv) browser() (*http.Client, *httpexpect.Expect) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: ev.srv.Client().Transport, Jar: jar, Timeout: 20 * time.Second}
	e := httpexpect.WithConfig(httpexpect.Config{
		TestName: ev.t.Name(),
		BaseURL:  ev.srv.URL,
		Client:   c,
		Reporter: httpexpect.NewAssertReporter(ev.t),
	})
	return c, e
}

// value returns the value of the counter or gauge, or the sample count of
// the histogram, name{labels} gathered from reg; -1 when there is no such
// series.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metric
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

type want struct {
	name   string
	labels map[string]string
	value  float64
}

func op(operation, result string) map[string]string {
	return map[string]string{"backend": "memory", "operation": operation, "result": result}
}

func event(e string) map[string]string { return map[string]string{"event": e} }

// scriptedTraffic drives the test server through every kind of event and
// returns the clients it used and the counts it expects.
func scriptedTraffic(t *testing.T, ev *testEnv) ([]*http.Client, []want) {
	var clients []*http.Client
	browser := func() *httpexpect.Expect {
		c, e := ev.browser()
		clients = append(clients, c)
		return e
	}

	a := browser()
	a.POST("/set/a/1").Expect().Status(200)                   // save (created)
	a.GET("/get/a").Expect().Status(200).Body().IsEqual("1.") // load
	a.POST("/login/alice").Expect().Status(200)               // load, renew (renewed)
	a.POST("/set/b/2").Expect().Status(200)                   // load, save
	a.POST("/logout").Expect().Status(200)                    // load, delete (destroyed)

	browser().Builder(func(r *httpexpect.Request) { r.WithCookie("session", "forged-cookie-value") }).
		GET("/get/a").Expect().Status(200).Body().IsEqual(".") // tampered_cookie, no store call

	c := browser()
	c.POST("/set/a/1").Expect().Status(200) // save (created)
	ev.store.mode.Store(modeExpire)
	c.GET("/get/a").Expect().Status(200).Body().IsEqual(".") // load (expired)
	ev.store.mode.Store(modeOK)

	d := browser()
	d.POST("/set/a/1").Expect().Status(200) // save (created)
	ev.store.mode.Store(modeCorrupt)
	d.GET("/get/a").Expect().Status(200).Body().IsEqual(".") // load (undecodable)
	ev.store.mode.Store(modeOK)

	browser().POST("/login/bob").Expect().Status(200) // save (created: a fresh session is not renewed)
	n, err := ev.mgr.RevokeUser(context.Background(), "bob")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v; want 1, nil", n, err)
	}
	// RevokeUser: load (the record's binding is checked), delete (user_revoked)

	ev.store.mode.Store(modeDown)
	browser().POST("/set/a/1").Expect().Status(500) // save: unavailable
	ev.store.mode.Store(modeOK)

	return clients, []want{
		{"session_store_operations_total", op("load", "ok"), 7},
		{"session_store_operations_total", op("save", "ok"), 5},
		{"session_store_operations_total", op("save", "unavailable"), 1},
		{"session_store_operations_total", op("save", "error"), 0},
		{"session_store_operations_total", op("renew", "ok"), 1},
		{"session_store_operations_total", op("delete", "ok"), 2},
		{"session_store_operations_total", op("touch", "ok"), 0},
		{"session_store_operation_duration_seconds", map[string]string{"backend": "memory", "operation": "load"}, 7},
		{"session_store_operation_duration_seconds", map[string]string{"backend": "memory", "operation": "save"}, 6},
		{"session_events_total", event("created"), 4},
		{"session_events_total", event("renewed"), 1},
		{"session_events_total", event("destroyed"), 1},
		{"session_events_total", event("expired"), 1},
		{"session_events_total", event("tampered_cookie"), 1},
		{"session_events_total", event("undecodable"), 1},
		{"session_events_total", event("user_revoked"), 1},
		{"session_size_bytes", nil, 7}, // every encoded save, the failed one too
		{"session_degraded", nil, 0},
		{"session_failovers_total", nil, 0},
		{"session_replayed_sessions_total", map[string]string{"result": "ok"}, 0},
	}
}

func TestCountsAfterScriptedTraffic(t *testing.T) {
	ev := newTestEnv(t)
	_, wants := scriptedTraffic(t, ev)
	for _, w := range wants {
		if got := value(t, ev.reg, w.name, w.labels); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	// The same through the /metrics endpoint, with testutil's text parser.
	_, e := ev.browser()
	text := e.GET("/metrics").Expect().Status(200).Body().Raw()
	const expected = `
# HELP session_events_total Session lifecycle and security events: created, renewed, destroyed, expired, tampered_cookie, undecodable, user_revoked, csrf_rejected, binding_failed.
# TYPE session_events_total counter
session_events_total{event="binding_failed"} 0
session_events_total{event="created"} 4
session_events_total{event="csrf_rejected"} 0
session_events_total{event="destroyed"} 1
session_events_total{event="expired"} 1
session_events_total{event="renewed"} 1
session_events_total{event="tampered_cookie"} 1
session_events_total{event="undecodable"} 1
session_events_total{event="user_revoked"} 1
`
	if err := testutil.GatherAndCompare(ev.reg, bytes.NewBufferString(expected), "session_events_total"); err != nil {
		t.Error(err)
	}
	if !bytes.Contains([]byte(text), []byte(`session_store_operations_total{backend="memory",operation="save",result="unavailable"} 1`)) {
		t.Errorf("/metrics lacks the failed save:\n%s", text)
	}
	// Every label combination exists from the start: 5 operations x 5 results.
	if n, err := testutil.GatherAndCount(ev.reg, "session_store_operations_total"); err != nil || n != 25 {
		t.Errorf("session_store_operations_total has %d series (%v), want 25", n, err)
	}
}

// eventually polls cond until it holds or a generous deadline passes: the
// fail-over store's probe and replay run in the background.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A real fail-over chain: the primary goes down and comes back; the
// breaker, fail-over and replay metrics, the count of the primary's
// failures, the health check and the audit log follow. With
// session.WithFailover the manager's observer gets it all without more
// wiring; a fail-over store built with degrade.New and given to
// session.WithStore gets the metrics from degrade.WithObserver (and
// reports its transitions through its own logger, not the audit log).
func TestFailoverMetricsHealthAndAudit(t *testing.T) {
	t.Run("WithFailover", func(t *testing.T) { testFailoverMetrics(t, true) })
	t.Run("WithStore(degrade.New)", func(t *testing.T) { testFailoverMetrics(t, false) })
}

func testFailoverMetrics(t *testing.T, withFailover bool) {
	reg := prometheus.NewRegistry()
	mx, err := metrics.New(reg, metrics.WithBackend("redis"))
	if err != nil {
		t.Fatal(err)
	}
	primary := newFaultStore(t)
	logs := &sessiontest.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	foOpts := []degrade.Option{degrade.WithFailureThreshold(2), degrade.WithProbeInterval(10 * time.Millisecond)}
	opts := []session.Option{session.WithSecret(testSecret), session.WithObserver(mx),
		session.WithLogger(logger), session.WithAuditLevel(slog.LevelInfo)}
	if withFailover {
		opts = append(opts, session.WithFailover(primary, foOpts...))
	} else {
		fo, err := degrade.New(primary, append(foOpts, degrade.WithObserver(mx), degrade.WithLogger(logger))...)
		if err != nil {
			t.Fatal(err)
		}
		defer fo.Close()
		opts = append(opts, session.WithStore(fo))
	}
	m, err := session.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /set/{k}/{v}", func(w http.ResponseWriter, r *http.Request) {
		if err := session.MustFromContext(r.Context()).Set(r.PathValue("k"), r.PathValue("v")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /get/{k}", func(w http.ResponseWriter, r *http.Request) {
		v, _, err := session.Get[string](session.MustFromContext(r.Context()), r.PathValue("k"))
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
		io.WriteString(w, v+".")
	})
	root := http.NewServeMux()
	root.Handle("/healthz", m.HealthHandler())
	root.Handle("/", m.Middleware(mux))
	srv := httptest.NewTLSServer(root)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	e := httpexpect.WithConfig(httpexpect.Config{
		BaseURL: srv.URL, Reporter: httpexpect.NewAssertReporter(t),
		Client: &http.Client{Transport: srv.Client().Transport, Jar: jar, Timeout: 20 * time.Second},
	})
	gauge := func(name string, labels map[string]string) func() float64 {
		return func() float64 { return value(t, reg, name, labels) }
	}
	degraded := gauge("session_degraded", nil)
	state := func(s string) func() float64 { return gauge("session_breaker_state", map[string]string{"state": s}) }
	primaryFailures := func(result string) float64 {
		return gauge("session_primary_failures_total", map[string]string{"backend": "redis", "result": result})()
	}

	e.POST("/set/a/1").Expect().Status(200).Header("X-Session-Degraded").IsEmpty()
	if state("closed")() != 1 || degraded() != 0 {
		t.Fatalf("healthy chain: closed=%v degraded=%v", state("closed")(), degraded())
	}
	e.GET("/healthz").Expect().Status(200).JSON().Object().Value("status").IsEqual("healthy")

	// The primary goes down: its first failures are counted as such, then
	// the breaker opens and keeps the next calls from it.
	primary.mode.Store(modeDown)
	e.POST("/set/b/2").Expect().Status(200).Header("X-Session-Degraded").IsEqual("true")
	eventually(t, "session_degraded 1", func() bool { return degraded() == 1 })
	if got := primaryFailures("unavailable"); got < 2 {
		t.Errorf(`session_primary_failures_total{result="unavailable"} = %v, want at least 2 (the load and the save that opened the breaker, then the probes)`, got)
	}
	e.GET("/get/b").Expect().Status(200).Header("X-Session-Degraded").IsEqual("true")
	if got := primaryFailures("short_circuited"); got < 1 {
		t.Errorf(`session_primary_failures_total{result="short_circuited"} = %v while the breaker is open`, got)
	}
	if state("open")() != 1 || state("closed")() != 0 {
		t.Errorf("breaker gauges: open=%v closed=%v", state("open")(), state("closed")())
	}
	if got := gauge("session_failovers_total", nil)(); got != 1 {
		t.Errorf("session_failovers_total = %v, want 1", got)
	}
	// The session's first write during the outage moves it to a fresh ID
	// (a renewal); later ones are saves.
	writes := gauge("session_failover_operations_total", map[string]string{"operation": "save"})() +
		gauge("session_failover_operations_total", map[string]string{"operation": "renew"})()
	if writes < 1 {
		t.Errorf("no write counted as served by the fallback")
	}
	h := e.GET("/healthz").Expect().Status(200).JSON().Object()
	h.Value("status").IsEqual("degraded")
	h.Value("stores").Array().Value(0).Object().Value("status").IsEqual("down")
	h.Value("stores").Array().Value(1).Object().Value("status").IsEqual("healthy")

	primary.mode.Store(modeOK)
	eventually(t, "the breaker to close and the replay to finish", func() bool {
		return state("closed")() == 1 && gauge("session_replayed_sessions_total", map[string]string{"result": "ok"})() >= 1
	})
	if degraded() != 0 {
		t.Errorf("session_degraded = %v after recovery", degraded())
	}
	e.GET("/get/b").Expect().Status(200).Body().IsEqual("2.")
	out := logs.String()
	for _, ev := range []string{`"event":"failover"`, `"event":"recovered"`} {
		if strings.Contains(out, ev) != withFailover {
			t.Errorf("audit log has %s: %v, want %v:\n%s", ev, !withFailover, withFailover, out)
		}
	}
	if !strings.Contains(out, "serving from the fallback") {
		t.Errorf("the fail-over store's own log lacks the opening:\n%s", out)
	}
}

func TestResultClasses(t *testing.T) {
	reg := prometheus.NewRegistry()
	mx, err := metrics.New(reg, metrics.WithBackend("redis"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		err    error
		result string
	}{
		{nil, "ok"},
		{&backends.OpError{Backend: "redis", Op: "save", Err: backends.ErrConflict}, "conflict"},
		{&backends.OpError{Backend: "redis", Op: "save", Err: errDown}, "unavailable"},
		{context.DeadlineExceeded, "unavailable"},
		{context.Canceled, "canceled"},
		{backends.ErrTooLarge, "error"},
	}
	for _, c := range cases {
		mx.StoreOp("save", c.err, time.Millisecond)
		labels := map[string]string{"backend": "redis", "operation": "save", "result": c.result}
		if got := value(t, reg, "session_store_operations_total", labels); got < 1 {
			t.Errorf("error %v: no count under result %q", c.err, c.result)
		}
	}
	// An operation outside the known set still counts, under its name.
	mx.StoreOp("scan", nil, time.Millisecond)
	if got := value(t, reg, "session_store_operations_total", map[string]string{"operation": "scan", "result": "ok"}); got != 1 {
		t.Errorf("scan count = %v, want 1", got)
	}
}

// The calls the primary did not serve are counted by why.
func TestPrimaryFailureResults(t *testing.T) {
	reg := prometheus.NewRegistry()
	mx := mustNew(t, reg, metrics.WithBackend("redis"))
	mx.PrimaryFailed(&backends.OpError{Backend: "redis", Op: "load", Err: errDown})
	mx.PrimaryFailed(backends.Unavailable(context.DeadlineExceeded))
	mx.PrimaryFailed(&backends.OpError{Backend: "redis", Op: "ping", Err: fmt.Errorf("%w: WRONGPASS", backends.ErrMisconfigured)})
	for range 3 {
		mx.PrimaryFailed(backends.Unavailable(degrade.ErrOpen))
	}
	const expected = `
# HELP session_primary_failures_total Calls the fail-over store's primary did not serve: unavailable (failed or timed out), misconfigured (refused its configuration), short_circuited (breaker open, not asked).
# TYPE session_primary_failures_total counter
session_primary_failures_total{backend="redis",result="misconfigured"} 1
session_primary_failures_total{backend="redis",result="short_circuited"} 3
session_primary_failures_total{backend="redis",result="unavailable"} 2
`
	if err := testutil.GatherAndCompare(reg, bytes.NewBufferString(expected), "session_primary_failures_total"); err != nil {
		t.Error(err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := metrics.New(nil); err == nil {
		t.Error("New(nil) succeeded: it must not fall back to the global registry")
	}
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil {
		t.Error("second New on the same registry succeeded")
	}
	two := prometheus.NewRegistry()
	for _, app := range []string{"a", "b"} {
		if _, err := metrics.New(two, metrics.WithConstLabels(prometheus.Labels{"app": app})); err != nil {
			t.Errorf("manager %s under its own const label: %v", app, err)
		}
	}
	if _, err := metrics.New(prometheus.NewRegistry(), metrics.WithNamespace("shop_session")); err != nil {
		t.Errorf("WithNamespace: %v", err)
	}
	for _, o := range []metrics.Option{metrics.WithNamespace(""), metrics.WithBackend(""), metrics.WithDurationBuckets(nil), metrics.WithSizeBuckets(nil)} {
		if _, err := metrics.New(prometheus.NewRegistry(), o); err == nil {
			t.Error("New accepted an invalid option")
		}
	}
}

func mustNew(t *testing.T, reg prometheus.Registerer, opts ...metrics.Option) *metrics.Metrics {
	t.Helper()
	mx, err := metrics.New(reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mx
}
