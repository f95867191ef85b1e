package session

import (
	"net/http"

	"github.com/sessionkit/session/backends"
)

// FreshReads returns a handler that has the sessions of the requests it
// passes to next read from the store itself, never from a copy kept near
// the application (a Redis client-side cache, see
// redisstore.WithNearCache), which can lag behind a write, a logout or a
// revocation made through another instance for up to the cache's staleness
// bound. Wrap the manager's middleware with it on the routes where that lag
// is not acceptable, such as an authorization check before a payment or an
// admin action:
//
//	mux.Handle("/admin/", session.FreshReads(m.Middleware(admin)))
//
// It costs those requests their near-cache hits (one round trip per
// session read) and changes nothing with stores that keep no such copy.
// The manager reads fresh by itself where its guarantees need it, as in
// the merge after a conflicting save.
func FreshReads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(backends.WithFreshRead(r.Context())))
	})
}
