// Package session is net/http session middleware: a request-scoped session
// that is loaded lazily, saved before the first byte of the response, and
// kept in a pluggable store (in memory by default, Redis in production).
//
// # Quick start
//
//	m, err := session.New(session.WithSecret(secret)) // secret: 32+ random bytes
//	if err != nil { ... }
//	defer m.Close()
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("POST /cart/{id}", func(w http.ResponseWriter, r *http.Request) {
//		s := session.MustFromContext(r.Context())
//		cart, _, err := session.Get[Cart](s, "cart")
//		if err != nil { ... }
//		cart.Add(r.PathValue("id"))
//		if err := s.Set("cart", cart); err != nil { ... }
//	})
//	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
//		s := session.MustFromContext(r.Context())
//		// after checking the credentials:
//		s.Renew()           // new ID on every privilege change
//		s.SetUser(userID)   // list and revoke the user's sessions later
//	})
//	http.ListenAndServe(":8080", m.Middleware(mux))
//
// # Lifecycle
//
// A handler that never touches its session costs nothing: no store call and
// no cookie. The first use loads the session in one store round trip; an
// unchanged session is not written back, only its idle deadline is extended
// (a cheap "touch", at most once per touch interval). Changes are saved when
// the response is committed (first WriteHeader, Write, Flush or ReadFrom) or
// when the handler returns, so the cookie always precedes the body; Commit
// saves earlier. Concurrent requests of one session merge their changes key
// by key (compare-and-set on a version number, re-applying the request's
// change set on conflict): two requests that write different keys both
// survive, on the same key the later save wins.
//
// Renew gives the session a new ID on login or privilege change and deletes
// the old record; Destroy deletes the record and expires the cookie. Neither
// can be undone by a slower request of the same session: a save or touch of
// a record that has gone never recreates it.
//
// Each session has an idle timeout and an absolute lifetime, both checked by
// the manager on every load (store TTLs are only a second line), and both
// can be set per session (SetLifetime, for "remember me"). No record is
// written without an expiry.
//
// # Threat model
//
// What is signed: the cookie (or token header) carries only the session ID,
// 256 bits from crypto/rand, signed with HMAC-SHA256 and timestamped by
// gorilla/securecookie. A cookie whose signature, format or age is wrong is
// treated as absent: the request gets a fresh session, the event is logged
// at Warn level as a security event, and the store is not asked. Signing
// keys can be rotated (WithSecret or WithCookieKeys, newest first).
//
// What is stored: the store key is the SHA-256 of the session ID, so a
// dump of the store yields no usable session ID (the ID's 256 random bits
// make the hash impossible to reverse or guess). The record is encoded by package codec: values are
// serialized (CBOR by default; JSON records stay readable), compressed with zstd above a size threshold,
// and, when a secret is configured, encrypted with AES-256-GCM using the
// store key as associated data, so a record copied under another session's
// key fails to open. An undecodable record is treated as absent and logged.
//
// What compression can leak: when an attacker can put chosen data into a
// session that also holds a secret, the compressed length can reveal the
// secret. See codec.WithCompression; disable compression or use padding
// for such sessions.
//
// What the cookie attributes are: HttpOnly, SameSite=Lax, Path=/, Secure on
// TLS requests (WithTrustForwardedProto behind a TLS-terminating proxy), an
// optional __Host- prefix. Every response of a request that used its
// session gets "Vary: Cookie"; responses that set the cookie also get
// "Cache-Control: no-store" (or "private" added to the handler's own
// value), so shared caches never store another user's cookie or page.
// docs/security.md in the repository describes each defence in full.
//
// Degraded mode: with a fail-over store (package degrade), sessions are
// served from a fallback while the primary is down, and such responses carry
// the header X-Session-Degraded: true (Session.Degraded tells the handler).
//
// Not covered: an attacker who can read the session cookie in transit or
// from the browser can use the session until it ends; use TLS, and Renew on
// every privilege change.
package session
