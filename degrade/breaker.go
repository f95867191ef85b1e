package degrade

import (
	"context"
	"errors"
	"time"

	"github.com/sessionkit/session/backends"
)

// do runs one call to the primary with the store's timeout on top of ctx.
// When that timeout (not the caller's own deadline) ends the call, the error
// is marked backends.ErrUnavailable, so that outage classifies it.
func (s *Store) do(ctx context.Context, fn func(context.Context) error) error {
	c, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	err := fn(c)
	if ownTimeout(ctx, c, err) && !backends.IsUnavailable(err) {
		err = backends.Unavailable(err)
	}
	cancel()
	return err
}

// ownTimeout reports whether err is the deadline of op, the context do
// created, rather than one of the caller's context.
func ownTimeout(caller, op context.Context, err error) bool {
	return err != nil && caller.Err() == nil &&
		errors.Is(err, context.DeadlineExceeded) && errors.Is(op.Err(), context.DeadlineExceeded)
}

// outage reports whether err, returned by a call to the primary made by do
// for a caller whose context is ctx, means that the primary cannot serve:
// the store marked it backends.ErrUnavailable (network errors, timeouts,
// pool exhaustion, servers loading or read-only...), or the store's own
// timeout ended it, or the store marked it backends.ErrMisconfigured (the
// primary refuses its configuration: a password changed under a running
// process, a database or a TLS setting that no longer fits). Everything
// else is not an outage and never trips the breaker: success, "not found"
// (a return value), a version conflict, an undecodable or foreign value, a
// closed store, and any error after the caller's context ended (the client
// went away or ran out of its own time).
//
// A misconfiguration is failed over like an outage rather than returned:
// returned, it would fail every request until the process restarts, and
// with fail-over the sessions keep working (degraded) and are replayed
// once the primary accepts the configuration again. It is logged at Error
// level and reported to the observer as such.
func outage(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && (backends.IsUnavailable(err) || backends.IsMisconfigured(err))
}

// usePrimary reports whether an operation may ask the primary. When it may
// not (the circuit is open), the call is reported to the observer as one
// the primary did not serve.
func (s *Store) usePrimary() bool {
	if s.State() != StateOpen {
		return true
	}
	s.cfg.observer.PrimaryFailed(errShortCircuited)
	return false
}

// result feeds the outcome of a call to the primary to the breaker and
// reports whether it was an outage (the operation then fails over).
func (s *Store) result(ctx context.Context, err error) bool {
	switch {
	case outage(ctx, err):
		s.cfg.observer.PrimaryFailed(err)
		s.failure(err)
		return true
	case err == nil || ctx.Err() == nil:
		s.success()
	}
	return false
}

func (s *Store) success() {
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
}

func (s *Store) failure(err error) {
	if s.State() == StateOpen || int(s.failures.Add(1)) < s.cfg.threshold {
		return
	}
	s.mu.Lock()
	if s.State() == StateOpen {
		s.mu.Unlock()
		return
	}
	from := s.setState(StateOpen)
	refusing := s.noteRefusal(err)
	s.mu.Unlock()
	if refusing {
		s.cfg.logger.Error(misconfiguredMessage, "error", err.Error(), "consecutive_failures", s.cfg.threshold)
	} else {
		s.cfg.logger.Warn("session store: primary unavailable, serving from the fallback",
			"error", err.Error(), "consecutive_failures", s.cfg.threshold)
	}
	s.notify(from, StateOpen)
}

// misconfiguredMessage is logged when the primary refuses its configuration.
const misconfiguredMessage = "session store: the primary refuses its configuration (credentials, database, TLS?); serving from the fallback until it accepts it"

// noteRefusal records whether err is a refusal of the primary's
// configuration, and reports whether it is one that has not been logged
// yet (a refusal is logged once, until the primary fails otherwise or
// answers again). Callers hold s.mu.
func (s *Store) noteRefusal(err error) bool {
	if !backends.IsMisconfigured(err) {
		s.refusing = false
		return false
	}
	was := s.refusing
	s.refusing = true
	return !was
}

// setState changes the state and returns the previous one. Callers hold
// s.mu and call notify after unlocking it.
func (s *Store) setState(to State) State {
	from := State(s.state.Swap(int32(to)))
	if from != to {
		s.since = time.Now()
		if to == StateOpen {
			s.fullLogged = false
		}
	}
	return from
}

func (s *Store) notify(from, to State) {
	if from != to {
		s.cfg.observer.StateChanged(from, to)
	}
}

// run is the background goroutine: it probes the primary while the circuit
// is open and replays the journal while it is not.
func (s *Store) run() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.probeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCtx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		if s.State() == StateOpen {
			if !s.probeOnce() || !s.recover() {
				continue
			}
		}
		if s.pending.Load() > 0 {
			s.drain(s.stopCtx, true)
		}
	}
}

func (s *Store) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// probeOnce pings the primary and records the result; a failed probe is
// reported to the observer. A probe that finds the primary refusing its
// configuration is logged at Error level (once, see noteRefusal): that
// outage will not end by itself.
func (s *Store) probeOnce() bool {
	start := time.Now()
	err := s.do(s.stopCtx, s.ping)
	lat := time.Since(start)
	s.mu.Lock()
	s.probe = probeResult{at: start, latency: lat, err: err}
	refusing := s.noteRefusal(err)
	s.mu.Unlock()
	if outage(s.stopCtx, err) {
		s.cfg.observer.PrimaryFailed(err)
	}
	if refusing && s.stopCtx.Err() == nil {
		s.cfg.logger.Error(misconfiguredMessage, "error", err.Error())
	}
	return err == nil
}

// ping asks the primary whether it is healthy: Ping when it implements
// backends.Pinger, otherwise a Load of a key no session uses.
func (s *Store) ping(ctx context.Context) error {
	if p, ok := s.primary.(backends.Pinger); ok {
		return p.Ping(ctx)
	}
	_, _, err := s.primary.Load(ctx, "degrade:probe")
	return err
}

// recover runs after a successful probe: it applies every journaled
// deletion to the primary while the circuit is still open (so that no
// request can see a record that was deleted during the outage), then closes
// the circuit. The change sets are replayed afterwards, by drain.
func (s *Store) recover() bool {
	ctx := s.stopCtx
	for _, e := range s.snapshot() {
		e.mu.Lock()
		var err error
		if !e.dead && (e.tomb || e.hasUserRemovals()) {
			err = s.applyTombstones(ctx, e)
			if err == nil && e.empty() {
				s.remove(e)
			}
		}
		e.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("session store: primary answered the probe but a journaled deletion failed; staying on the fallback", "error", err.Error())
			}
			s.mu.Lock()
			s.probe.err = err
			s.mu.Unlock()
			return false
		}
	}
	s.mu.Lock()
	to := StateClosed
	if len(s.journal) > 0 {
		to = StateRecovering
	}
	s.failures.Store(0)
	from := s.setState(to)
	pending := len(s.journal)
	s.mu.Unlock()
	s.cfg.logger.Info("session store: primary available again", "pending_sessions", pending)
	s.notify(from, to)
	return true
}
