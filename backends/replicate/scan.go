package replicate

import (
	"context"
	"time"

	"github.com/sessionkit/session/backends"
)

func (s *Store) scanLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.scanInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			if _, err := s.AntiEntropy(ctx); err != nil {
				s.logger.Warn("session replication: anti-entropy pass failed", "error", err)
			}
			cancel()
		}
	}
}

// AntiEntropyStats count what one anti-entropy pass did.
type AntiEntropyStats struct {
	// Checked is the number of primary keys looked at.
	Checked int
	// Repaired is the number of standby copies written or deleted.
	Repaired int
	// Failed is the number of keys that could not be checked or repaired.
	Failed int
	// Orphans is the number of standby keys found without a primary record
	// (deleted on the standby).
	Orphans int
}

// AntiEntropy runs one bounded pass: it looks at the next batch of the
// primary's keys (continuing where the last pass stopped, starting over at
// the end) and writes to each standby the records it lacks or holds at a
// lower version; then it looks at a batch of each standby's keys and
// deletes those the primary does not have (deletions the queue dropped). A
// primary that cannot be read stops the pass without touching a standby:
// while the primary is down, a standby serving as fail-over target keeps
// what it is given. The store runs it every scan interval by itself.
func (s *Store) AntiEntropy(ctx context.Context) (AntiEntropyStats, error) {
	var st AntiEntropyStats
	it, ok := s.primary.(backends.Iterator)
	if !ok {
		return st, &backends.OpError{Backend: backendName, Op: "anti_entropy", Err: ErrUnsupported}
	}
	if p, ok := s.primary.(backends.Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return st, err
		}
	}
	start := s.scanPos
	var pos int64
	var ferr error
	err := it.Keys(ctx, func(key string) bool {
		pos++
		if pos <= start {
			return true
		}
		st.Checked++
		n, err := s.repairKey(ctx, key)
		st.Repaired += n
		if err != nil {
			if backends.IsUnavailable(err) && isPrimaryErr(err) {
				ferr = err
				return false
			}
			st.Failed++
		}
		return st.Checked < s.scanBatch
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		s.c.scanFailures.Add(1)
		return st, err
	}
	if st.Checked < s.scanBatch {
		s.scanPos = 0 // reached the end: start over next time
	} else {
		s.scanPos = pos
	}
	// Standby keys the primary does not have.
	// Like the primary's keys, each standby's are looked at a batch a
	// pass, continuing where the last pass stopped.
	for i := range s.standbys {
		sb := &s.standbys[i]
		sit, ok := sb.st.(backends.Iterator)
		if !ok {
			continue
		}
		var seen, at int64
		var orphans []string
		err := sit.Keys(ctx, func(key string) bool {
			at++
			if at <= sb.scanPos {
				return true
			}
			seen++
			_, found, err := s.primary.Load(ctx, key)
			if err == nil && !found {
				orphans = append(orphans, key)
			}
			return seen < int64(s.scanBatch)
		})
		if err != nil {
			st.Failed++
			continue
		}
		if seen < int64(s.scanBatch) {
			sb.scanPos = 0
		} else {
			sb.scanPos = at
		}
		for _, k := range orphans {
			if err := s.syncKey(ctx, k); err != nil {
				st.Failed++
				continue
			}
			st.Orphans++
			st.Repaired++
		}
	}
	s.c.scans.Add(1)
	s.c.repaired.Add(uint64(st.Repaired))
	return st, nil
}

// primaryError marks errors of the primary in repairKey.
type primaryError struct{ err error }

func (e primaryError) Error() string { return e.err.Error() }
func (e primaryError) Unwrap() error { return e.err }

func isPrimaryErr(err error) bool {
	_, ok := err.(primaryError)
	return ok
}

// repairKey brings every standby's copy of key level with the primary and
// returns how many copies it wrote.
func (s *Store) repairKey(ctx context.Context, key string) (int, error) {
	rec, found, err := s.primary.Load(ctx, key)
	if err != nil {
		return 0, primaryError{err}
	}
	if !found {
		return 0, nil
	}
	n := 0
	for _, sb := range s.standbys {
		cur, sfound, err := sb.st.Load(ctx, key)
		if err != nil {
			return n, err
		}
		if sfound && cur.Version >= rec.Version {
			if cur.Version == rec.Version && !cur.Expiry.Equal(rec.Expiry) {
				// Same record, a touch the queue dropped.
				if err := sb.st.Touch(ctx, key, rec.Expiry); err != nil {
					return n, err
				}
			}
			continue
		}
		n++
	}
	if n > 0 {
		return n, s.syncKey(ctx, key)
	}
	return 0, nil
}
