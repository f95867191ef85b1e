package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"

	"github.com/sessionkit/session/backends"
)

// opError builds the error returned by operation op. caller is the context
// the caller passed (before the store's own timeout was added): its
// cancellation is reported as is; timeouts and a database file that is
// locked, full or failing matches backends.ErrUnavailable, and a file that
// cannot be opened or written, or missing tables, backends.ErrMisconfigured.
func opError(caller context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *backends.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &backends.OpError{Backend: backendName, Op: op, Err: classify(caller, err)}
}

// SQLite primary result codes.
const (
	codeError     = 1
	codePerm      = 3
	codeBusy      = 5
	codeLocked    = 6
	codeNoMem     = 7
	codeReadOnly  = 8
	codeInterrupt = 9
	codeIOErr     = 10
	codeFull      = 13
	codeCantOpen  = 14
	codeProtocol  = 15
	codeAuth      = 23
	codeNotADB    = 26
)

func classify(caller context.Context, err error) error {
	switch {
	case errors.Is(err, backends.ErrClosed), errors.Is(err, backends.ErrConflict),
		errors.Is(err, backends.ErrNoExpiry), errors.Is(err, backends.ErrMisconfigured),
		errors.Is(err, backends.ErrUnavailable), errors.Is(err, backends.ErrInvalidRecord):
		return err
	case caller.Err() != nil && errors.Is(caller.Err(), context.Canceled):
		return caller.Err()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The store's timeout (the caller's context is live or past its
		// deadline): the database did not answer in time.
		return backends.Unavailable(err)
	case errors.Is(err, sql.ErrConnDone), strings.Contains(err.Error(), "database is closed"):
		return fmt.Errorf("%w: %w", backends.ErrClosed, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case codeBusy, codeLocked, codeNoMem, codeIOErr, codeFull, codeProtocol, codeInterrupt:
			return backends.Unavailable(err)
		case codePerm, codeReadOnly, codeCantOpen, codeAuth, codeNotADB:
			return fmt.Errorf("%w: %w", backends.ErrMisconfigured, err)
		case codeError:
			if strings.Contains(se.Error(), "no such table") || strings.Contains(se.Error(), "no such column") {
				return fmt.Errorf("%w: %w", backends.ErrMisconfigured, err)
			}
		}
	}
	return err
}
