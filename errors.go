package session

import (
	"errors"

	"github.com/sessionkit/session/backends"
)

var (
	// ErrNoSession is returned by FromContext when the request did not pass
	// through a Manager's middleware.
	ErrNoSession = errors.New("session: no session in context (is the middleware installed?)")

	// ErrTooLarge is returned by Set and Commit when the encoded session
	// would exceed the manager's maximum size. The offending change is not
	// applied.
	ErrTooLarge = errors.New("session: session too large")

	// ErrCommitted is returned when the session is changed after the
	// response headers were sent: the change could not reach the client's
	// cookie, so it is refused rather than silently lost.
	ErrCommitted = errors.New("session: response already committed")

	// ErrDestroyed is returned when a destroyed session is changed in the
	// same request.
	ErrDestroyed = errors.New("session: session destroyed")

	// ErrStore wraps every failure of the session store, so that handlers
	// can tell it apart from their own errors. The store's own error stays
	// reachable with errors.Is and errors.As.
	ErrStore = errors.New("session: store failed")

	// ErrInvalidConfig is wrapped by every error New returns for a bad
	// option.
	ErrInvalidConfig = errors.New("session: invalid configuration")
)

// IsUnavailable reports whether err means the session store could not be
// reached or could not serve (network failure, timeout, server loading).
func IsUnavailable(err error) bool { return backends.IsUnavailable(err) }

type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string { return "session: store " + e.op + ": " + e.err.Error() }

func (e *storeError) Unwrap() []error { return []error{ErrStore, e.err} }

func wrapStore(op string, err error) error {
	if err == nil {
		return nil
	}
	return &storeError{op: op, err: err}
}
