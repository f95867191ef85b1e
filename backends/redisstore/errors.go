package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
)

// opError builds the error returned by operation op. caller is the context
// the caller passed (before the store's own timeout was added): its
// cancellation is reported as is, while timeouts, network failures and
// servers that cannot serve right now are marked backends.ErrUnavailable.
func opError(caller context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	return &backends.OpError{Backend: backendName, Op: op, Err: classify(caller, err)}
}

func classify(caller context.Context, err error) error {
	switch {
	case errors.Is(err, backends.ErrClosed), errors.Is(err, ErrForeignValue),
		errors.Is(err, backends.ErrConflict), errors.Is(err, backends.ErrNoExpiry):
		return err
	case errors.Is(err, redis.ErrClosed):
		// The go-redis client was closed under the store: permanent, not an outage.
		return fmt.Errorf("%w (go-redis client closed): %w", backends.ErrClosed, err)
	case errors.Is(err, context.Canceled) && caller.Err() != nil:
		return err
	case redis.HasErrorPrefix(err, "WRONGTYPE"):
		return fmt.Errorf("%w: %w", ErrForeignValue, err)
	case isMisconfigured(err):
		return misconfigured(err)
	case isUnavailable(err):
		return backends.Unavailable(err)
	}
	return err
}

// unavailablePrefixes are Redis error replies that mean "cannot serve now,
// try elsewhere or later".
var unavailablePrefixes = []string{
	"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
	"BUSY", "NOREPLICAS", "OOM", "max number of clients reached",
}

// unavailableMessages are go-redis errors without an exported value that mean
// no server could be reached.
var unavailableMessages = []string{
	"all sentinels specified in configuration are unreachable",
	"cluster has no nodes",
	"all ring shards are down",
	"no sentinels configured",
}

func isUnavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	}
	for _, p := range unavailablePrefixes {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	msg := err.Error()
	for _, m := range unavailableMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
