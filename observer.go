package session

import (
	"context"
	"time"
)

// Event is a session lifecycle or security event reported to an Observer.
type Event int

// The events a Manager reports.
const (
	EventCreated        Event = iota + 1 // a new session was first saved
	EventRenewed                         // the session ID was renewed
	EventDestroyed                       // the session was destroyed (logout)
	EventExpired                         // a loaded session was past its idle timeout or lifetime
	EventTamperedCookie                  // a cookie or token failed verification
	EventUndecodable                     // a stored record could not be decoded
	EventUserRevoked                     // sessions of a user were revoked
	EventFailover                        // the fail-over store (WithFailover) switched to its fallback
	EventRecovered                       // its primary store is back; degraded mode ended
	EventCSRFRejected                    // a request failed a CSRF check (package csrf)
	EventBindingFailed                   // a session bound to another client was refused (WithUserAgentBinding, WithIPBinding)
)

var eventNames = [...]string{
	EventCreated:        "created",
	EventRenewed:        "renewed",
	EventDestroyed:      "destroyed",
	EventExpired:        "expired",
	EventTamperedCookie: "tampered_cookie",
	EventUndecodable:    "undecodable",
	EventUserRevoked:    "user_revoked",
	EventFailover:       "failover",
	EventRecovered:      "recovered",
	EventCSRFRejected:   "csrf_rejected",
	EventBindingFailed:  "binding_failed",
}

// Events returns every Event a Manager reports, in order, so that
// observers can set up one counter per event ahead of time.
func Events() []Event {
	ev := make([]Event, 0, len(eventNames)-1)
	for e := EventCreated; int(e) < len(eventNames); e++ {
		ev = append(ev, e)
	}
	return ev
}

// Security reports whether e is a security event (a tampered cookie or
// token, an undecodable stored session, a request refused by a CSRF
// check, a session used by a client it is not bound to): something an
// attacker or a misconfiguration may cause, audited at Warn level by
// default.
func (e Event) Security() bool {
	return e == EventTamperedCookie || e == EventUndecodable || e == EventCSRFRejected || e == EventBindingFailed
}

// String returns the event's name, for example "created".
func (e Event) String() string {
	if e > 0 && int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "unknown"
}

// Observer receives the manager's metrics events. Its methods are called
// synchronously on the request path and must be fast and safe for
// concurrent use. Label values derived from them must stay bounded: none
// carries a session or user ID.
//
// Package metrics implements Observer with Prometheus collectors; the root
// package does not depend on Prometheus. EventFailover and EventRecovered
// come from the fail-over store of WithFailover, when its breaker opens and
// when the primary serves again. With WithFailover, an Observer that also
// implements degrade.Observer (package metrics does) receives the
// fail-over store's own events too.
type Observer interface {
	// Event reports a lifecycle or security event.
	Event(ctx context.Context, e Event)
	// StoreOp reports one store operation ("load", "save", "touch",
	// "delete", "renew") made for a request, its error (nil on success)
	// and how long it took.
	StoreOp(op string, err error, d time.Duration)
	// Saved reports the encoded size in bytes of a saved session.
	Saved(size int)
}

type nopObserver struct{}

func (nopObserver) Event(context.Context, Event)         {}
func (nopObserver) StoreOp(string, error, time.Duration) {}
func (nopObserver) Saved(int)                            {}
