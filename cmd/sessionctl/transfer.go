package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/transfer"
)

// userReader tells transfer whom each record belongs to, with the
// application's secret, so that user index entries are carried. A record
// it cannot open (the control record of a migration, a session written
// under a secret that is no longer given) is carried without an entry and
// counted, rather than failing and being left out.
type userReader struct {
	users       transfer.UserFunc
	undecodable atomic.Int64
}

func newUserReader(m *session.Manager) *userReader {
	if m == nil {
		return nil
	}
	return &userReader{users: transfer.CodecUsers(m.Codec())}
}

func (u *userReader) fn() transfer.UserFunc {
	if u == nil {
		return nil
	}
	return func(key string, rec backends.Record) (string, time.Time, error) {
		if isControlKey(key) {
			return "", time.Time{}, nil
		}
		id, deadline, err := u.users(key, rec)
		if err != nil {
			u.undecodable.Add(1)
			return "", time.Time{}, nil
		}
		return id, deadline, nil
	}
}

// warn says, on stderr, how many records could not be opened, or that none
// were opened for want of the secret.
func (u *userReader) warn(g *globals, what string) {
	switch {
	case u == nil:
		g.info("%s: no secret given, so user index entries are not carried (\"log out everywhere\" will not find these sessions); give SESSION_SECRET or --secret-file", what)
	case u.undecodable.Load() > 0:
		g.info("%s: %d record(s) could not be opened with this secret; they were carried without a user index entry", what, u.undecodable.Load())
	}
}

// statsJSON is transfer.Stats with its errors as strings.
type statsJSON struct {
	transfer.Stats
	Errors      []string `json:"errors,omitempty"`
	Undecodable int64    `json:"undecodable,omitempty"`
	Interrupted bool     `json:"interrupted,omitempty"`
}

func newStatsJSON(st transfer.Stats, u *userReader) statsJSON {
	out := statsJSON{Stats: st}
	for _, e := range st.Errors {
		out.Errors = append(out.Errors, e.Error())
	}
	if u != nil {
		out.Undecodable = u.undecodable.Load()
	}
	return out
}

// dropCanceled takes out of st the records that "failed" only because the
// operation was interrupted while they were in hand: they are not failures,
// and a resumed run handles them again.
func dropCanceled(st *transfer.Stats) {
	kept := st.Errors[:0]
	for _, err := range st.Errors {
		if errors.Is(err, context.Canceled) {
			st.Failed--
			continue
		}
		kept = append(kept, err)
	}
	st.Errors = kept
}

// detail is the counts a progress line shows.
func detail(st transfer.Stats) string {
	s := fmt.Sprintf("copied=%d skipped=%d", st.Copied, st.Skipped)
	if st.Expired > 0 {
		s += fmt.Sprintf(" expired=%d", st.Expired)
	}
	if st.Failed > 0 {
		s += fmt.Sprintf(" failed=%d", st.Failed)
	}
	if st.Deleted > 0 {
		s += fmt.Sprintf(" deleted=%d", st.Deleted)
	}
	return s
}

// handled is how many records a transfer has dealt with.
func handled(st transfer.Stats) int64 {
	return st.Copied + st.Skipped + st.Failed + st.Expired
}

// countOf returns the number of records of st, or -1.
func countOf(g *globals, st backends.Store) int64 {
	if c, ok := st.(backends.Counter); ok {
		if n, err := c.Count(g.ctx); err == nil {
			return int64(n)
		}
	}
	return -1
}

// failedErr reports records that failed, with the first errors.
func failedErr(what string, st transfer.Stats) error {
	if st.Failed == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: %d record(s) failed", what, st.Failed)
	if len(st.Errors) > 0 {
		msg += "; first: " + st.Errors[0].Error()
	}
	return fmt.Errorf("%s", msg)
}
