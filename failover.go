package session

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
)

// WithFailover keeps sessions in primary (typically a redisstore.Store) and
// fails over to an in-memory store when it is unreachable: requests go on,
// responses carry the degraded header, and what was written meanwhile is
// merged back into primary when it returns (see package degrade). opts
// configure the fail-over (timeout, breaker threshold, probe interval,
// fallback). The fail-over store is drained and closed by Manager.Close;
// primary stays open.
//
// The manager wires the fail-over store to itself: it logs through the
// manager's logger (unless opts set one), its breaker's transitions are
// reported as EventFailover and EventRecovered to the manager's observer
// and audit log, and an observer that also implements degrade.Observer
// (package metrics does) receives the fail-over store's own events:
// operations served by the fallback, calls the primary failed or the open
// breaker kept from it, replays. There is no need to pass the observer to
// degrade.WithObserver as well (the same observer is told once).
//
// New pings primary once, within 1 second (see StartupPingTimeout). A
// primary that cannot be reached, or does not answer in time, is an outage: the manager starts on
// the fallback and recovers when the primary appears. A primary that
// answers but refuses the configuration (wrong password or database, TLS
// against a plaintext server: errors matching backends.ErrMisconfigured,
// or any other error that is not backends.ErrUnavailable) fails New with
// an error wrapping ErrInvalidConfig and the primary's error. Should the
// primary start refusing while the manager runs (a password changed under
// it), the fail-over store serves from the fallback as during an outage,
// logs the cause at Error level, and the health check reports the primary
// down with the class "misconfigured"; sessions are replayed onto it when
// it accepts the configuration again.
func WithFailover(primary backends.Store, opts ...degrade.Option) Option {
	return func(c *config) error {
		if primary == nil {
			return errors.New("WithFailover: nil primary store")
		}
		c.failoverPrimary, c.failoverOpts = primary, opts
		c.storeSet = true
		return nil
	}
}

// newFailover builds the fail-over store of WithFailover, wired to the
// manager c configures: its logger, its observer and its audit log.
func (c *config) newFailover() (*degrade.Store, error) {
	opts := make([]degrade.Option, 0, len(c.failoverOpts)+3)
	opts = append(opts, degrade.WithLogger(c.logger))
	opts = append(opts, c.failoverOpts...)
	opts = append(opts, degrade.WithObserver(failoverEvents{m: &c.Manager}))
	if o, ok := c.observer.(degrade.Observer); ok {
		opts = append(opts, degrade.WithObserver(o))
	}
	return degrade.New(c.failoverPrimary, opts...)
}

// failoverEvents reports the breaker transitions of the fail-over store of
// WithFailover as the manager's own events: EventFailover when the breaker
// opens (sessions are served by the fallback), EventRecovered when the
// primary serves again.
type failoverEvents struct {
	degrade.NopObserver
	m *Manager
}

func (f failoverEvents) StateChanged(from, to degrade.State) {
	var e Event
	switch {
	case to == degrade.StateOpen:
		e = EventFailover
	case from == degrade.StateOpen:
		e = EventRecovered
	default:
		return
	}
	ctx := context.Background()
	f.m.observer.Event(ctx, e)
	f.m.auditEvent(ctx, e, "", slog.String("from", from.String()), slog.String("to", to.String()))
}

// drainingCloser replays what a fail-over store still holds (bounded in
// time) before closing it, so that a graceful shutdown loses no outage
// writes when the primary is reachable.
type drainingCloser struct{ s *degrade.Store }

func (d drainingCloser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	derr := d.s.Drain(ctx)
	return errors.Join(derr, d.s.Close())
}
