package main

import (
	"fmt"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/transfer"
)

// userFunc tells transfer whom each record belongs to, with the
// application's secret, so that user index entries are carried; nil without
// a secret. transfer carries a record it cannot open (a session written
// under a secret that is no longer given) without an entry and counts it in
// Stats.Unindexed, and leaves out the control record of a migration.
func userFunc(m *session.Manager) transfer.UserFunc {
	if m == nil {
		return nil
	}
	return transfer.CodecUsers(m.Codec())
}

// warnUsers says, on stderr, how many records could not be opened, or that
// none were opened for want of the secret.
func warnUsers(g *globals, what string, users transfer.UserFunc, st transfer.Stats) {
	switch {
	case users == nil:
		g.info("%s: no secret given, so user index entries are not carried (\"log out everywhere\" will not find these sessions); give SESSION_SECRET or --secret-file", what)
	case st.Unindexed > 0:
		g.info("%s: %d record(s) could not be opened with this secret; they were carried without a user index entry", what, st.Unindexed)
	}
}

// statsJSON is transfer.Stats with its errors as strings.
type statsJSON struct {
	transfer.Stats
	Errors      []string `json:"errors,omitempty"`
	Interrupted bool     `json:"interrupted,omitempty"`
}

func newStatsJSON(st transfer.Stats) statsJSON {
	out := statsJSON{Stats: st}
	for _, e := range st.Errors {
		out.Errors = append(out.Errors, e.Error())
	}
	return out
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
	return st.Copied + st.Skipped + st.Failed + st.Expired + st.Excluded
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
