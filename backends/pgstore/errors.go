package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionkit/session/backends"
)

// opError builds the error returned by operation op. caller is the context
// the caller passed (before the store's own timeout was added): its
// cancellation is reported as is, while timeouts, network failures and a
// server that cannot serve right now are marked backends.ErrUnavailable,
// and refusals of the configuration backends.ErrMisconfigured.
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

func classify(caller context.Context, err error) error {
	switch {
	case errors.Is(err, backends.ErrClosed), errors.Is(err, backends.ErrConflict),
		errors.Is(err, backends.ErrNoExpiry), errors.Is(err, backends.ErrMisconfigured),
		errors.Is(err, backends.ErrUnavailable), errors.Is(err, backends.ErrInvalidRecord):
		return err
	case errors.Is(err, context.Canceled) && caller.Err() != nil:
		return err
	case strings.Contains(err.Error(), "closed pool"):
		// The caller closed the pgx pool under the store: permanent.
		return fmt.Errorf("%w (pgx pool closed): %w", backends.ErrClosed, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case misconfiguredState(pe.Code):
			return fmt.Errorf("%w: %w", backends.ErrMisconfigured, err)
		case unavailableState(pe.Code):
			return backends.Unavailable(err)
		}
		// Constraint violations, data errors and the like: the request is
		// wrong, not the database.
		return err
	}
	if tlsRefused(err) {
		return fmt.Errorf("%w: %w", backends.ErrMisconfigured, err)
	}
	if isUnavailable(err) {
		return backends.Unavailable(err)
	}
	return err
}

// misconfiguredState reports whether SQLSTATE code means the server refuses
// the configuration: authentication (28), an unknown database (3D000), a
// missing table or column, missing privileges (42).
func misconfiguredState(code string) bool {
	return strings.HasPrefix(code, "28") || code == "3D000" || strings.HasPrefix(code, "42")
}

// unavailableState reports whether SQLSTATE code means the server cannot
// serve right now: connection exceptions (08), insufficient resources (53:
// too many connections, disk full, out of memory), operator intervention
// (57: shutdown, cannot connect now, query canceled by a timeout), system
// errors (58), serialization failures and deadlocks (40001, 40P01) that
// persisted through the store's retries, a read-only server (25006: a
// standby, or a primary demoted in a fail-over).
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"),
		strings.HasPrefix(code, "57"), strings.HasPrefix(code, "58"):
		return true
	}
	switch code {
	case "40001", "40P01", "25006":
		return true
	}
	return false
}

// tlsRefused reports a TLS misconfiguration: sslmode=require against a
// server without TLS, or a certificate that does not verify.
func tlsRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "server refused TLS connection") ||
		strings.Contains(msg, "tls: ") || strings.Contains(msg, "x509: ")
}

func isUnavailable(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne),
		errors.As(err, &ce),
		pgconn.Timeout(err):
		return true
	}
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

// retryable reports whether a transaction failed on a serialization
// failure or a deadlock, which a retry resolves.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// unknownOutcome wraps err, the failure of a write that may have reached
// the server, so that it matches backends.ErrOutcomeUnknown too, unless the
// error proves the write was never sent.
func unknownOutcome(err error) error {
	if err == nil || pgconn.SafeToRetry(err) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return err // the server answered: the statement failed
	}
	return fmt.Errorf("%w: %w", backends.ErrOutcomeUnknown, err)
}
