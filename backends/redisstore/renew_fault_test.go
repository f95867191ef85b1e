package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/internal/redistest"
)

// Errors the fault hook injects: one that proves the command was never sent
// (the node refused the connection), one that leaves its outcome open (the
// connection was reset while the reply was on its way).
var (
	errNotSent   = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	errReplyLost = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
)

// fault fails the first command (or pipeline) that touches key.
type fault struct {
	key string
	// lost runs the command and then loses its reply; otherwise the
	// command fails before it is sent.
	lost bool
	// pipeline selects pipelines rather than single commands.
	pipeline bool
	// name, if set, is the command that must touch key ("del", ...).
	name string
}

// faultHook is a go-redis hook that injects armed faults, each once.
type faultHook struct {
	mu    sync.Mutex
	armed []fault
	fired []fault
}

var _ redis.Hook = (*faultHook)(nil)

func (h *faultHook) arm(fs ...fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.fired = fs, nil
}

// firedAll reports whether every armed fault was injected.
func (h *faultHook) firedAll() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.armed) == 0
}

// take returns the armed fault that matches cmds, removing it.
func (h *faultHook) take(pipeline bool, cmds ...redis.Cmder) (fault, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, f := range h.armed {
		if f.pipeline != pipeline {
			continue
		}
		for _, cmd := range cmds {
			if commandKey(cmd) == f.key && (f.name == "" || cmd.Name() == f.name) {
				h.armed = slices.Delete(h.armed, i, i+1)
				h.fired = append(h.fired, f)
				return f, true
			}
		}
	}
	return fault{}, false
}

// commandKey is the first key of a command: the first of KEYS for a script.
func commandKey(cmd redis.Cmder) string {
	args := cmd.Args()
	i := 1
	switch cmd.Name() {
	case "eval", "evalsha":
		i = 3
	}
	if len(args) <= i {
		return ""
	}
	k, _ := args[i].(string)
	return k
}

func (h *faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		f, ok := h.take(false, cmd)
		if !ok {
			return next(ctx, cmd)
		}
		if f.lost {
			_ = next(ctx, cmd)
			cmd.SetErr(errReplyLost)
			return errReplyLost
		}
		cmd.SetErr(errNotSent)
		return errNotSent
	}
}

func (h *faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		f, ok := h.take(true, cmds...)
		if !ok {
			return next(ctx, cmds)
		}
		err := error(errNotSent)
		if f.lost {
			_ = next(ctx, cmds)
			err = errReplyLost
		}
		for _, cmd := range cmds {
			cmd.SetErr(err)
		}
		return err
	}
}

// renewFault is one partial failure of a renewal and what must follow.
type renewFault struct {
	name   string
	faults func(s *redisstore.Store) []fault
	// renewed: the renewal happened (the new record holds the session and
	// is indexed, the old one is gone); otherwise the old record and the
	// index are as they were and the new record is not indexed.
	renewed bool
	// unknown: the error must match backends.ErrOutcomeUnknown.
	unknown bool
	// newGone: the new record must not exist (it was taken back).
	newGone bool
}

// Keys of the renewal that testRenewFaults runs.
const (
	faultOld = "old"
	faultNew = "new"
)

func recordKey(s *redisstore.Store, k string) string { return s.Prefix() + k }

// stepFaults are the partial failures of the renewal in steps (Cluster,
// Ring): each step failing before it was sent or losing its reply, and the
// clean-up failing after a failed step.
var stepFaults = []renewFault{
	{name: "CreateNotSent", newGone: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultNew)}}
	}},
	// The new record was written but nobody knows it: it is not indexed,
	// and expires on its own.
	{name: "CreateReplyLost", faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultNew), lost: true}}
	}},
	{name: "IndexNotSent", newGone: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: indexKey(s, "alice")}}
	}},
	{name: "IndexReplyLost", newGone: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: indexKey(s, "alice"), lost: true}}
	}},
	{name: "DeleteNotSent", newGone: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultOld)}}
	}},
	{name: "DeleteReplyLost", renewed: true, unknown: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultOld), lost: true}}
	}},
	// The old node is down and so is the new one by the time of the
	// clean-up: the old record stays, the new one stays unreachable.
	{name: "DeleteNotSentUndoFails", faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultOld)}, {key: recordKey(s, faultNew), pipeline: true}}
	}},
}

// oneScriptFaults are the partial failures of the renewal in one script.
var oneScriptFaults = []renewFault{
	{name: "NotSent", newGone: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultOld)}}
	}},
	{name: "ReplyLost", renewed: true, unknown: true, faults: func(s *redisstore.Store) []fault {
		return []fault{{key: recordKey(s, faultOld), lost: true}}
	}},
}

// testRenewFaults renews a session of alice's while h injects each fault,
// and checks that the session is never left in neither record: either the
// old record and the index are as they were and the error matches
// backends.ErrUnavailable (fail-over can act), or the renewal completed.
// newStore returns a fresh store on a client with h installed.
func testRenewFaults(t *testing.T, h *faultHook, newStore func(t *testing.T) (*redisstore.Store, redis.UniversalClient), cases []renewFault) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newStore(t)
			ctx := t.Context()
			exp := time.Now().Add(time.Hour)
			day := time.Now().Add(24 * time.Hour)
			for _, k := range []string{faultOld, "other"} {
				if _, err := s.Save(ctx, k, []byte(k), exp, 0); err != nil {
					t.Fatal(err)
				}
				if err := s.AddUserKey(ctx, "alice", k, day); err != nil {
					t.Fatal(err)
				}
			}
			before := readIndex(t, s, c, "alice")
			h.arm(tc.faults(s)...)
			err := s.Renew(ctx, faultOld, 1, faultNew, []byte("carried"), exp, "alice", day)
			if !h.firedAll() {
				t.Fatalf("not every fault was injected (Renew: %v)", err)
			}
			h.arm()
			t.Logf("Renew: %v", err)
			var oe *backends.OpError
			if !errors.As(err, &oe) || oe.Op != "renew" {
				t.Fatalf("Renew = %v, want a renew OpError", err)
			}
			if !backends.IsUnavailable(err) {
				t.Errorf("Renew error does not match ErrUnavailable: %v", err)
			}
			if backends.IsConflict(err) {
				t.Errorf("Renew error matches ErrConflict: %v", err)
			}
			if got := errors.Is(err, backends.ErrOutcomeUnknown); got != tc.unknown {
				t.Errorf("errors.Is(err, ErrOutcomeUnknown) = %v, want %v", got, tc.unknown)
			}
			keys, uerr := s.UserKeys(ctx, "alice")
			if uerr != nil {
				t.Fatal(uerr)
			}
			slices.Sort(keys)
			if tc.renewed {
				wantRecord(t, s, faultNew, 1, "carried")
				wantAbsent(t, s, c, faultOld)
				if !slices.Equal(keys, []string{faultNew, "other"}) {
					t.Errorf("UserKeys(alice) = %q, want [new other]", keys)
				}
				return
			}
			wantRecord(t, s, faultOld, 1, faultOld)
			if !slices.Equal(keys, []string{faultOld, "other"}) && !slices.Equal(keys, []string{faultNew, faultOld, "other"}) {
				t.Errorf("UserKeys(alice) = %q, want [old other] (and new only if its clean-up failed)", keys)
			}
			if tc.newGone {
				wantAbsent(t, s, c, faultNew)
				if after := readIndex(t, s, c, "alice"); !slices.Equal(members(after), members(before)) {
					t.Errorf("alice's index changed:\n before %+v\n after  %+v", before, after)
				}
			}
			// The session renews once the fault is gone.
			if err := s.Renew(ctx, faultOld, 1, "retried", []byte("carried"), exp, "alice", day); err != nil {
				t.Fatalf("Renew after the fault: %v", err)
			}
			wantRecord(t, s, "retried", 1, "carried")
		})
	}
}

func members(st indexState) []string {
	m := make([]string, len(st.Members))
	for i, z := range st.Members {
		m[i], _ = z.Member.(string)
	}
	return m
}

// TestRenewFaultsOneServer: on one server the renewal is one script, which
// either ran entirely or not at all.
func TestRenewFaultsOneServer(t *testing.T) {
	srv := redistest.StartServer(t)
	var h faultHook
	c := client(t, srv.Addr())
	c.AddHook(&h)
	testRenewFaults(t, &h, func(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
		return newStore(t, c), c
	}, oneScriptFaults)
}

// TestRenewFaultsRing runs the partial failures of the renewal in steps on a
// go-redis Ring, which renews like a Cluster.
func TestRenewFaultsRing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	a, b := redistest.StartServer(t), redistest.StartServer(t)
	var h faultHook
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	ring.AddHook(&h)
	testRenewFaults(t, &h, func(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
		return newStore(t, ring, redisstore.WithTimeout(suiteTimeout)), ring
	}, stepFaults)
}

// cutMarker says which write a cutProxy cuts: the skip+1-th write that
// contains pattern, once armed. It may be shared by several proxies.
type cutMarker struct {
	mu      sync.Mutex
	pattern []byte
	skip    int
	armed   bool
}

func (m *cutMarker) arm(pattern []byte, skip int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pattern, m.skip, m.armed = pattern, skip, true
}

// match reports whether chunk is the write to cut, and then disarms.
func (m *cutMarker) match(chunk []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.armed || !bytes.Contains(chunk, m.pattern) {
		return false
	}
	if m.skip > 0 {
		m.skip--
		return false
	}
	m.armed = false
	return true
}

// fired reports whether the armed cut happened.
func (m *cutMarker) fired() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.armed
}

// cutProxy forwards TCP connections to a Redis server. When its marker is
// armed, the connection that forwards the write the marker selects lets the
// server run the command, swallows the reply and drops the connection: a
// reply lost on the wire, which go-redis sees as a reset or EOF and would
// normally retry.
type cutProxy struct {
	ln     net.Listener
	target string
	marker *cutMarker
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startCutProxy(t *testing.T, target string, marker *cutMarker) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, marker: marker}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		var cut atomic.Bool
		p.wg.Go(func() { // client to server
			buf := make([]byte, 64<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if p.marker.match(buf[:n]) {
						cut.Store(true)
					}
					if _, werr := server.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = server.Close()
		})
		p.wg.Go(func() { // server to client
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && cut.Load() {
					break // the command ran; its reply is lost
				}
				if n > 0 {
					if _, werr := client.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = client.Close()
			_ = server.Close()
		})
	}
}

// testReplyLostOnTheWire renews while the reply of the script that deletes
// the old record is lost on the wire. go-redis would retry a command after
// such a failure; a retry would find the old record gone and report a
// conflict for a renewal that happened, and the caller would lose the
// session. The store sends that script once and reports the unknown
// outcome instead, with the session safe under the new key.
func testReplyLostOnTheWire(t *testing.T, s *redisstore.Store, c redis.UniversalClient, marker *cutMarker) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	if _, err := s.Save(ctx, faultOld, []byte(faultOld), exp, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUserKey(ctx, "alice", faultOld, day); err != nil {
		t.Fatal(err)
	}
	// The cut must hit the script, not a NOSCRIPT reply to its EVALSHA.
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	marker.arm([]byte(recordKey(s, faultOld)), 0)
	err := s.Renew(ctx, faultOld, 1, faultNew, []byte("carried"), exp, "alice", day)
	if !marker.fired() {
		t.Fatalf("the proxy cut nothing (Renew: %v)", err)
	}
	t.Logf("Renew: %v", err)
	if !errors.Is(err, backends.ErrOutcomeUnknown) || !backends.IsUnavailable(err) || backends.IsConflict(err) {
		t.Errorf("Renew = %v, want an error matching ErrOutcomeUnknown and ErrUnavailable, not ErrConflict", err)
	}
	wantRecord(t, s, faultNew, 1, "carried")
	wantAbsent(t, s, c, faultOld)
	if keys, err := s.UserKeys(ctx, "alice"); err != nil || !slices.Equal(keys, []string{faultNew}) {
		t.Errorf("UserKeys(alice) = %q, %v; want [new]", keys, err)
	}
}

func TestRenewReplyLostOnTheWire(t *testing.T) {
	t.Run("OneServer", func(t *testing.T) {
		srv := redistest.StartServer(t)
		var marker cutMarker
		p := startCutProxy(t, srv.Addr(), &marker)
		c := client(t, p.Addr())
		testReplyLostOnTheWire(t, newStore(t, c), c, &marker)
	})
	t.Run("Ring", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts two servers")
		}
		var marker cutMarker
		a := startCutProxy(t, redistest.StartServer(t).Addr(), &marker)
		b := startCutProxy(t, redistest.StartServer(t).Addr(), &marker)
		ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = ring.Close() })
		testReplyLostOnTheWire(t, newStore(t, ring, redisstore.WithTimeout(suiteTimeout)), ring, &marker)
	})
}

// stallHook holds the first command whose first key is key until release
// is closed, then runs it as if the server had received it in time (its
// context's end ignored), and closes done.
type stallHook struct {
	key     string
	taken   atomic.Bool
	release chan struct{}
	done    chan struct{}
}

func newStallHook(key string) *stallHook {
	return &stallHook{key: key, release: make(chan struct{}), done: make(chan struct{})}
}

func (h *stallHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *stallHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if commandKey(cmd) != h.key || !h.taken.CompareAndSwap(false, true) {
			return next(ctx, cmd)
		}
		defer close(h.done)
		select {
		case <-h.release:
		case <-time.After(10 * time.Second):
		}
		return next(context.WithoutCancel(ctx), cmd)
	}
}

func (h *stallHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// testRenewCallerGivesUp renews through a client that ignores context
// deadlines, so the store runs the renewal in a goroutine and returns when
// its timeout passes. stallKey is the key of the step that hangs. If the
// store gave up before it sent the script that deletes, the renewal must
// not happen behind the caller's back (and the new record is taken back);
// if it gave up after, the outcome is unknown and the renewal completes.
func testRenewCallerGivesUp(t *testing.T, c redis.UniversalClient, stallKey func(*redisstore.Store) string, unknown bool) {
	ctx := t.Context()
	s := newStore(t, c, redisstore.WithTimeout(200*time.Millisecond))
	exp := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	if _, err := s.Save(ctx, faultOld, []byte(faultOld), exp, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUserKey(ctx, "alice", faultOld, day); err != nil {
		t.Fatal(err)
	}
	// The stalled command must be the script, not an EVALSHA answered
	// NOSCRIPT (after which the renewal would give up, also a possible
	// outcome when it is unknown).
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	h := newStallHook(stallKey(s))
	c.AddHook(h)
	err := s.Renew(ctx, faultOld, 1, faultNew, []byte("carried"), exp, "alice", day)
	close(h.release)
	t.Logf("Renew: %v", err)
	if !backends.IsUnavailable(err) || errors.Is(err, backends.ErrOutcomeUnknown) != unknown {
		t.Errorf("Renew = %v; want ErrUnavailable, ErrOutcomeUnknown %v", err, unknown)
	}
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the stalled command never ran")
	}
	// The store's goroutine finishes the renewal, or takes it back.
	want := []string{faultOld}
	if unknown {
		want = []string{faultNew}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys, err := s.UserKeys(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(keys, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UserKeys(alice) = %q, want %q", keys, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if unknown {
		wantRecord(t, s, faultNew, 1, "carried")
		wantAbsent(t, s, c, faultOld)
	} else {
		wantRecord(t, s, faultOld, 1, faultOld)
		wantAbsent(t, s, c, faultNew)
	}
}

func TestRenewCallerGivesUp(t *testing.T) {
	oldRecord := func(s *redisstore.Store) string { return recordKey(s, faultOld) }
	t.Run("OneServer", func(t *testing.T) {
		srv := redistest.StartServer(t)
		plain := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { _ = plain.Close() })
		testRenewCallerGivesUp(t, plain, oldRecord, true)
	})
	if testing.Short() {
		t.Skip("starts two servers")
	}
	a, b := redistest.StartServer(t), redistest.StartServer(t)
	ring := func(t *testing.T) *redis.Ring {
		r := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	t.Run("RingBeforeDelete", func(t *testing.T) {
		testRenewCallerGivesUp(t, ring(t), func(s *redisstore.Store) string { return indexKey(s, "alice") }, false)
	})
	t.Run("RingDuringDelete", func(t *testing.T) {
		testRenewCallerGivesUp(t, ring(t), oldRecord, true)
	})
}

// TestDeleteIfVersionReplyLost: a Save with a past expiry (delete if the
// version matches) whose reply is lost on the wire must not be retried into
// a false conflict: a step-wise renewal that deleted the old record would
// take that conflict for a logout and remove the new one, losing the
// session. The outcome is reported as unknown.
func TestDeleteIfVersionReplyLost(t *testing.T) {
	srv := redistest.StartServer(t)
	var marker cutMarker
	p := startCutProxy(t, srv.Addr(), &marker)
	c := client(t, p.Addr())
	s := newStore(t, c)
	ctx := t.Context()
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, faultOld, []byte(faultOld), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	marker.arm([]byte(recordKey(s, faultOld)), 0)
	_, err := s.Save(ctx, faultOld, nil, time.Now().Add(-time.Second), 1)
	if !marker.fired() {
		t.Fatalf("the proxy cut nothing (Save: %v)", err)
	}
	t.Logf("Save: %v", err)
	if !errors.Is(err, backends.ErrOutcomeUnknown) || !backends.IsUnavailable(err) || backends.IsConflict(err) {
		t.Errorf("Save = %v, want an error matching ErrOutcomeUnknown and ErrUnavailable, not ErrConflict", err)
	}
	wantAbsent(t, s, c, faultOld)
}
