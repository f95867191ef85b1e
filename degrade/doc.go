// Package degrade keeps sessions available while the session store is down:
// a Store combines a primary store (Redis, usually) with a fallback (memory
// by default) and fails over between them.
//
//	primary, err := redisstore.NewFromURL("redis://localhost:6379/0")
//	if err != nil { ... }
//	m, err := session.New(session.WithSecret(secret), session.WithFailover(primary))
//
// session.WithFailover calls New with the options given, and wires the
// Store to the manager: the manager's logger, its observer (Observer
// events reach a session observer that implements Observer, as
// metrics.Metrics does) and its audit log (the breaker's transitions);
// Manager.Close drains and closes it. A Store made with New and given to
// session.WithStore works too, without that wiring (pass
// WithObserver(metrics) and WithLogger yourself, and Drain and Close it).
//
// # Fail-over
//
// Every call to the primary is capped by a timeout (WithTimeout, 250 ms by
// default, shorter if the request's context says so). A call that fails
// with an error matching backends.ErrUnavailable (network errors,
// timeouts, an exhausted pool, a Redis that is loading, read-only or
// without master: redisstore classifies them) or that runs out of that
// timeout is served by the fallback, and the request is marked degraded
// (backends.MarkDegraded: the session manager then sets the
// X-Session-Degraded header). "Not found", version conflicts, undecodable
// or foreign values, a closed store, and a request whose own context was
// canceled or ran out are not outages: they are returned as they are and
// never trip the breaker.
//
// A primary that answers but refuses its configuration (errors matching
// backends.ErrMisconfigured: wrong credentials or database, TLS; redisstore
// classifies them) is no outage at start: session.New pings the primary
// and fails with the cause. Should it happen while running (a password
// changed under the process), it is failed over like an outage rather
// than returned, so that requests keep working: the circuit opens, the
// cause is logged once at Error level, the probe keeps the circuit open
// while the primary keeps refusing, and the journal is replayed once it
// accepts the configuration again.
//
// After WithFailureThreshold consecutive outages the circuit opens: every
// operation goes straight to the fallback, without waiting for the
// primary. A background probe pings the primary every WithProbeInterval;
// when it answers, recovery starts. New does not contact the primary: a
// store created while the primary is down starts closed, fails over on the
// first requests and opens, and recovers when the primary appears. Every
// call the primary does not serve, failed or kept from it by the open
// circuit, is reported to Observer.PrimaryFailed, for metrics.
//
// # Recovery without loss
//
// While the fallback serves, every write it takes is journaled per key and
// compacted: the change set of the saves (what the requests set, deleted
// or cleared, and each metadata field they changed; the session manager
// passes it with SaveChanges and RenewChanges), deletions (a tombstone),
// renewals (a move from the old key to the new one), touches (the latest
// expiry) and user index changes. Recovery then
//
//  1. applies every tombstone to the primary (deletes the records and
//     their user index entries) while the circuit is still open, so a user
//     who logged out during the outage stays logged out;
//  2. closes the circuit (state "recovering") and replays the change sets
//     in the background, oldest session first, at WithReplayRate sessions a
//     second. Each change set is merged onto whatever the primary holds by
//     compare-and-set, so data written to the primary before or after the
//     outage is kept and never overwritten by older data; after its
//     replay, a session is removed from the fallback.
//
// A renewal (a login) during the outage is replayed as a move: the new
// session is built on the primary's record of the new key if a renewal
// that timed out ran there after all, else on the newest live record of the
// keys it was renewed from, else from its changes alone; only then are the
// old keys deleted on the primary and removed from the user's index. Until
// then the old key is absent for every request, and a request for it after
// recovery replays the move first. A deletion of the new key during the
// outage supersedes the move: the old keys are then deleted with the
// tombstones. A change set is never applied to a key the primary no longer
// holds, unless the key is a fresh ID: a record logged out elsewhere during
// the outage is not recreated.
//
// A request for a session whose replay is still pending replays it first,
// so it is never served stale data. A session that exists only in the
// primary and is requested during the outage is served from the last known
// copy this store kept (WithCopies), marked stale (backends.MarkStale), or
// empty when there is none; the session manager then moves it to a fresh
// ID on its first write, which recovery builds on the primary's record.
//
// Versions of records served by the fallback carry FallbackVersion, so
// that a compare-and-set never mistakes a version of one store for one of
// the other.
//
// # Limits
//
// The default fallback is in the memory of one process: without sticky
// routing, a session written during an outage is only visible on the
// instance that wrote it until it is replayed. The journal is bounded by
// entries (WithJournalLimit) and bytes (WithJournalBytes); a write beyond
// the bounds is refused with ErrJournalFull rather than served and lost.
// Journaled writes that are not replayed when the process exits are lost:
// call Drain before Close. UserKeys, Keys, Count and LimitUserKeys need the
// primary and fail while it is down. See docs/degradation.md for the
// details.
package degrade
