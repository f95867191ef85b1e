package session_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/internal/redistest"
)

// refusingStore is a memstore that can be made to fail as an unreachable
// backend does, or as one that refuses its configuration (a password
// changed under the running process).
type refusingStore struct {
	*memstore.Store
	mode atomic.Int32
}

const (
	storeOK int32 = iota
	storeDown
	storeRefusing
)

var errRefused = &backends.OpError{Backend: "redis", Op: "load",
	Err: fmt.Errorf("%w: WRONGPASS invalid username-password pair or user is disabled", backends.ErrMisconfigured)}

func newRefusingStore(t *testing.T) *refusingStore {
	return &refusingStore{Store: newMem(t)}
}

func (s *refusingStore) fault() error {
	switch s.mode.Load() {
	case storeDown:
		return errDown
	case storeRefusing:
		return errRefused
	}
	return nil
}

func (s *refusingStore) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	if err := s.fault(); err != nil {
		return backends.Record{}, false, err
	}
	return s.Store.Load(ctx, key)
}

func (s *refusingStore) Save(ctx context.Context, key string, blob []byte, exp time.Time, v uint64) (uint64, error) {
	if err := s.fault(); err != nil {
		return 0, err
	}
	return s.Store.Save(ctx, key, blob, exp, v)
}

func (s *refusingStore) Touch(ctx context.Context, key string, exp time.Time) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.Touch(ctx, key, exp)
}

func (s *refusingStore) Delete(ctx context.Context, key string) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}

func (s *refusingStore) Renew(ctx context.Context, oldKey string, oldVersion uint64, newKey string, blob []byte, exp time.Time, userID string, deadline time.Time) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.Renew(ctx, oldKey, oldVersion, newKey, blob, exp, userID, deadline)
}

func (s *refusingStore) AddUserKey(ctx context.Context, userID, key string, deadline time.Time) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.AddUserKey(ctx, userID, key, deadline)
}

func (s *refusingStore) RemoveUserKey(ctx context.Context, userID, key string) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.RemoveUserKey(ctx, userID, key)
}

func (s *refusingStore) UserKeys(ctx context.Context, userID string) ([]string, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.UserKeys(ctx, userID)
}

func (s *refusingStore) Ping(ctx context.Context) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// waitUntil polls cond every 10ms for at most 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A Redis that answers but refuses the configuration fails New, with or
// without fail-over, and the error names the cause; it is not taken for
// an outage (which would start degraded and answer 500 or degraded
// forever).
func TestNewRefusesMisconfiguredRedis(t *testing.T) {
	redistest.Require(t)
	plain := redistest.StartServer(t)
	locked := redistest.StartServer(t)
	// redistest waits for an unauthenticated PONG, so the password is set
	// once the server runs; the helper's own connection stays logged in.
	if err := locked.Client().ConfigSet(context.Background(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, url, cause string }{
		{"database out of range", "redis://" + plain.Addr() + "/99", "DB index is out of range"},
		{"wrong password", "redis://:wrong@" + locked.Addr() + "/0", "WRONGPASS"},
		{"no password", "redis://" + locked.Addr() + "/0", "NOAUTH"},
		{"TLS against a plaintext server", "rediss://" + plain.Addr() + "/0", "answers plaintext Redis commands"},
	}
	for _, c := range cases {
		for _, withFailover := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/failover=%v", c.name, withFailover), func(t *testing.T) {
				store, err := redisstore.NewFromURL(c.url)
				if err != nil {
					t.Fatal(err)
				}
				defer store.Close()
				opt := session.WithStore(store)
				if withFailover {
					opt = session.WithFailover(store)
				}
				m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog), opt)
				if err == nil {
					m.Close()
					t.Fatal("New accepted a Redis that refuses the configuration")
				}
				if !errors.Is(err, session.ErrInvalidConfig) || !backends.IsMisconfigured(err) || !errors.Is(err, session.ErrStore) {
					t.Errorf("error %v: want ErrInvalidConfig, ErrStore and backends.ErrMisconfigured", err)
				}
				if !strings.Contains(err.Error(), c.cause) {
					t.Errorf("error %q does not name the cause %q", err, c.cause)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":wrong@") {
					t.Errorf("error %q repeats the credentials", err)
				}
			})
		}
	}
	// The right password is accepted, and the primary serves.
	store, err := redisstore.NewFromURL("redis://:s3cret@" + locked.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ev := newEnv(t, session.WithFailover(store))
	t.Cleanup(func() { ev.m.Close() })
	r := ev.expect().POST("/set/a/1").Expect().Status(200)
	r.Header("X-Session-Degraded").IsEmpty()
}

// A primary that starts refusing its configuration while the manager runs
// does not turn every request into a 500: the fail-over store serves from
// memory (degraded), says why at Error level, in the audit log and in the
// health check, and merges the outage writes back once the primary
// accepts the configuration again.
func TestRefusalAtRunTimeFailsOverLoudly(t *testing.T) {
	primary := newRefusingStore(t)
	audit := newAuditCapture(slog.LevelDebug)
	ev := newEnv(t, session.WithAuditLogger(slog.New(audit)),
		session.WithFailover(primary, degrade.WithFailureThreshold(1), degrade.WithProbeInterval(10*time.Millisecond)))
	t.Cleanup(func() { ev.m.Close() })
	e := ev.expect()
	e.POST("/set/a/1").Expect().Status(200).Header("X-Session-Degraded").IsEmpty()

	primary.mode.Store(storeRefusing)
	e.POST("/set/b/2").Expect().Status(200).Header("X-Session-Degraded").IsEqual("true")
	e.GET("/get/b").Expect().Status(200).Body().IsEqual("2")
	logs := ev.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "refuses its configuration") || !strings.Contains(logs, "WRONGPASS") {
		t.Errorf("no Error record naming the cause in:\n%s", logs)
	}
	if got := audit.events("failover"); len(got) != 1 || got[0].attrs["to"] != "open" {
		t.Errorf("failover audit records = %+v, want one", got)
	}
	rep := ev.m.Health(t.Context())
	if rep.State != session.HealthDegraded || !backends.IsMisconfigured(rep.Stores[0].Err) {
		t.Errorf("health = %+v, want degraded with the primary refusing", rep)
	}

	primary.mode.Store(storeOK)
	waitUntil(t, "the recovery audit record", func() bool { return len(audit.events("recovered")) == 1 })
	waitUntil(t, "the replay", func() bool { return len(ev.m.Health(t.Context()).Stores) == 2 && primaryHolds(t, primary) })
	r := e.GET("/get/a").Expect().Status(200)
	r.Header("X-Session-Degraded").IsEmpty()
	r.Body().IsEqual("1")
	e.GET("/get/b").Expect().Status(200).Body().IsEqual("2")
}

// primaryHolds reports whether the primary holds exactly one record: the
// session, with the outage's writes replayed onto it.
func primaryHolds(t *testing.T, s *refusingStore) bool {
	n, err := s.Store.Count(t.Context())
	return err == nil && n == 1
}

// chainObserver is an Observer of both the manager and the fail-over
// store, as metrics.Metrics is.
type chainObserver struct {
	degrade.NopObserver
	mu            sync.Mutex
	events        []session.Event
	transitions   []string
	failedOver    int
	primaryFailed int
}

func (o *chainObserver) Event(_ context.Context, e session.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}
func (o *chainObserver) StoreOp(string, error, time.Duration) {}
func (o *chainObserver) Saved(int)                            {}
func (o *chainObserver) StateChanged(from, to degrade.State) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.transitions = append(o.transitions, from.String()+">"+to.String())
}
func (o *chainObserver) FailedOver(string) { o.mu.Lock(); o.failedOver++; o.mu.Unlock() }
func (o *chainObserver) PrimaryFailed(error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.primaryFailed++
}

func (o *chainObserver) count(e session.Event) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, x := range o.events {
		if x == e {
			n++
		}
	}
	return n
}

// WithFailover wires the fail-over store to the manager: its transitions
// reach the manager's observer and audit log as EventFailover and
// EventRecovered, and an observer that is also a degrade.Observer gets
// the fail-over store's own events, once even when it is given to
// degrade.WithObserver too.
func TestFailoverWiredToObserverAndAudit(t *testing.T) {
	primary := newRefusingStore(t)
	obs := &chainObserver{}
	audit := newAuditCapture(slog.LevelDebug)
	ev := newEnv(t, session.WithObserver(obs), session.WithAuditLogger(slog.New(audit)),
		session.WithFailover(primary, degrade.WithFailureThreshold(1), degrade.WithProbeInterval(10*time.Millisecond),
			degrade.WithObserver(obs)))
	t.Cleanup(func() { ev.m.Close() })
	e := ev.expect()
	primary.mode.Store(storeDown)
	e.POST("/set/a/1").Expect().Status(200).Header("X-Session-Degraded").IsEqual("true")
	e.POST("/set/a/2").Expect().Status(200).Header("X-Session-Degraded").IsEqual("true")
	if n := obs.count(session.EventFailover); n != 1 {
		t.Errorf("EventFailover observed %d times, want 1", n)
	}
	obs.mu.Lock()
	tr, fo, pf := append([]string(nil), obs.transitions...), obs.failedOver, obs.primaryFailed
	obs.mu.Unlock()
	if len(tr) != 1 || tr[0] != "closed>open" || fo < 2 || pf < 2 {
		t.Errorf("fail-over events: transitions %v, failed over %d, primary failed %d", tr, fo, pf)
	}
	if got := audit.events("failover"); len(got) != 1 || got[0].msg != "session: store failed over to the fallback" ||
		got[0].attrs["from"] != "closed" || got[0].level != slog.LevelDebug {
		t.Errorf("failover audit records = %+v", got)
	}

	primary.mode.Store(storeOK)
	waitUntil(t, "EventRecovered", func() bool { return obs.count(session.EventRecovered) == 1 })
	if got := audit.events("recovered"); len(got) != 1 || got[0].msg != "session: primary store recovered" || got[0].attrs["from"] != "open" {
		t.Errorf("recovered audit records = %+v", got)
	}
}

// A primary that answers the start-up ping with an error that is neither
// an outage nor classified fails New too: it is reachable, so the error is
// not going to pass by itself.
func TestNewRefusesPrimaryAnsweringWithAnError(t *testing.T) {
	primary := &answeringStore{Store: newMem(t)}
	_, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog), session.WithFailover(primary))
	if !errors.Is(err, session.ErrInvalidConfig) || !strings.Contains(err.Error(), "NOPERM-like") {
		t.Fatalf("New: %v, want ErrInvalidConfig naming the primary's error", err)
	}
	// An outage at start is not an error: the manager starts degraded.
	down := newRefusingStore(t)
	down.mode.Store(storeDown)
	m, err := session.New(session.WithSecret(testSecret), session.WithLogger(quietLog), session.WithFailover(down))
	if err != nil {
		t.Fatalf("New with the primary down: %v", err)
	}
	m.Close()
}

// answeringStore answers Ping with an error no backend classifies.
type answeringStore struct{ *memstore.Store }

func (answeringStore) Ping(context.Context) error {
	return errors.New("NOPERM-like refusal the store does not classify")
}
