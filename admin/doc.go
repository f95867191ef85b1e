// Package admin is an HTTP handler for the people who run an application
// built on github.com/sessionkit/session: it lists a user's sessions,
// revokes one session or all of a user's, and shows the health of the
// session store chain, the number of sessions in each store, the phase of
// an online migration and the lag of replication. It answers in JSON; an
// application builds its own page on it, or calls it from scripts.
//
// # Security
//
// The handler can log anybody out and lists who is signed in where: it must
// never be reachable without authentication. New requires an Authorizer,
// the application's check of who is asking (its own login, a client
// certificate, a header from an authenticating proxy), which returns the
// operator's name; every request it refuses is answered 403 Forbidden
// before anything else happens. A typical Authorizer, for an application
// whose staff logs in through the same session manager:
//
//	h, err := admin.New(mgr, func(r *http.Request) (string, bool) {
//		user, err := session.MustFromContext(r.Context()).User()
//		return user, err == nil && isStaff(user)
//	})
//	...
//	mux.Handle("/admin/api/", http.StripPrefix("/admin/api", h))
//	srv.Handler = mgr.Middleware(mux)
//
// Every change the handler makes is written to the manager's audit log (see
// Manager.RevokeUserAs and Manager.RevokeSessionAs): event "user_revoked",
// cause "admin", the attribute "operator" with the operator's name, the
// user's and, for one session, the session's audit name. Audit events are
// logged at the manager's audit level (session.WithAuditLevel; Debug by
// default): set it to Info, or higher, to keep the trail.
//
// Cross-site request forgery: the endpoints that change state accept only
// POST requests with the Content-Type application/json, which a plain HTML
// form of another site cannot send (a script of another origin can only
// send one after a CORS preflight, which the handler never approves), and
// every request passes an http.CrossOriginProtection check, which refuses
// state-changing requests that the browser marks as cross-origin
// (Sec-Fetch-Site, or Origin not matching Host). Both give 403 or 415
// without changing anything. A session cookie with SameSite=Lax (the
// session package's default) is a third line.
//
// Sessions are shown by their audit name (Manager.AuditName): 12 characters
// that find the session's events in the audit log, and cannot be turned
// into the session ID or used as a cookie. The handler never shows a
// session ID, a store key or a session's data. Store errors appear only as
// a class ("unavailable", "timeout", "misconfigured", ...): their text can
// name hosts.
//
// # Endpoints
//
// Paths are relative to where the handler is mounted. Every answer is JSON
// with Cache-Control: no-store; an error is {"error": "..."}.
//
//	GET  /health           Manager.Health: {"status", "checked_at", "stores": [{"name", "role", "status", "latency_ms", "checked_at", "error"}]}
//	GET  /stores           the store chain, each store with what it reports of itself (no store I/O):
//	                       {"stores": [{"name", "role", "depth", "failover": {"state", "since", "failures", "pending", "journal_bytes"},
//	                       "migration": {"phase"}, "replication": {"lag_ms"}}]}
//	GET  /counts           the number of sessions in each store that wraps no other (backends.Counter; O(n) on Redis):
//	                       {"stores": [{"name", "role", "sessions"} or {"name", "role", "error"}]}
//	GET  /sessions?user=U  the user's live sessions, oldest first:
//	                       {"user", "sessions": [{"name", "created", "last_seen", "expires", "persistent"}]}
//	POST /sessions/revoke  body {"user", "session": name}: revokes that session: {"revoked": 1}, or 404
//	POST /users/revoke     body {"user", "except": [names]}: revokes every session of the user but those named: {"revoked": n}
//
// Status codes: 200 success; 400 a missing user or session, malformed
// JSON; 403 refused by the Authorizer, or a cross-origin request; 404
// unknown path, or no such session; 405 wrong method (with Allow); 413 a
// body over MaxBodyBytes; 415 a POST that is not application/json; 501 a
// store without a user index; 503 the store cannot be reached or did not
// answer within the timeout (WithTimeout); 500 anything else (logged).
//
// # Stores in the chain
//
// GET /stores and GET /counts walk the chain from Manager.Store: the
// primary and fallback of a fail-over store, and the stores of any store
// that implements Wrapper. A store reports a migration phase by
// implementing Migration, and a replication lag by implementing
// Replication. These interfaces use only standard types, so stores
// implement them without importing this package.
package admin
