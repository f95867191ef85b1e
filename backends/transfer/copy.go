// Package transfer moves session records between stores offline: Copy from
// one store to another by iteration, and Backup and Restore to and from a
// JSON Lines stream. Blobs are copied as they are stored (encrypted), so
// neither needs the application's keys; each record keeps its version and
// its expiry to the millisecond.
//
// User index entries are a different matter: a store keeps a user's
// sessions under the user ID (memstore) or a digest of it (redisstore), and
// neither can list its users. The user a session belongs to is written
// inside the encrypted blob. To carry the index, give Options.Users a
// function that tells it, usually CodecUsers with the application's codec
// pipeline (the same keys as the manager's); without one, copies and
// restored records are not indexed and a user's "log out everywhere" does
// not find them. A record the function cannot tell the user of (a session
// written under a key the pipeline no longer has, a record some other
// program stored under the prefix) is carried all the same, without an
// index entry, and counted in Stats.Unindexed.
//
// The control record of an online migration (package backends/migrate) is
// never carried: it says which phase the instances of one migration run,
// between two given stores, and is not a session. Copied into another
// store it would switch the instances polling there; restored from a
// backup it would move a running migration back to the phase of the
// backup, and a copy backfilling a migration could replace the live
// record with a stale one from the source. Copy, Backup and Restore leave
// it out and count it in Stats.Excluded; Options.ControlKey names it when
// the migration was given another key.
package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/codec"
)

// DefaultBatchSize is the number of keys handled between progress reports
// and cursor updates unless Options.BatchSize says otherwise.
const DefaultBatchSize = 500

// Mode says what to do with a record the destination already holds.
type Mode int

const (
	// ReplaceOlder (the default) writes a record over one the destination
	// holds at a lower version, and skips it otherwise. Running a copy
	// twice changes nothing the second time.
	ReplaceOlder Mode = iota
	// SkipExisting never writes over a record the destination holds.
	SkipExisting
	// Overwrite writes every record, whatever the destination holds (a
	// record there is deleted first). Use it to roll a store back to a
	// backup: versions may go down, so requests in flight conflict and
	// merge onto the restored record.
	Overwrite
)

// UserFunc returns the user a stored record is bound to ("" for none) and
// the session's absolute deadline, which the user index entry keeps.
type UserFunc func(key string, rec backends.Record) (userID string, deadline time.Time, err error)

// CodecUsers returns a UserFunc that opens each blob with p, the codec
// pipeline of the application's session manager (the same keyring), using
// the store key as associated data as the manager does. It needs the keys;
// the copy itself does not.
func CodecUsers(p *codec.Pipeline) UserFunc {
	return func(key string, rec backends.Record) (string, time.Time, error) {
		// Decode takes ownership of the blob it opens (it decrypts in
		// place); rec.Blob is still to be written.
		d, err := p.Decode(bytes.Clone(rec.Blob), []byte(key))
		if err != nil {
			return "", time.Time{}, fmt.Errorf("transfer: reading the user of a record: %w", err)
		}
		return d.UserID, d.Deadline, nil
	}
}

// Progress is reported after each batch.
type Progress struct {
	Stats
	// Cursor resumes the operation after this batch (see Options.Cursor).
	Cursor string
}

// Options configure Copy.
type Options struct {
	// BatchSize is how many keys are handled between progress reports
	// (default DefaultBatchSize).
	BatchSize int
	// Mode says what happens to records the destination holds.
	Mode Mode
	// DeleteAfter deletes each record from the source once the destination
	// holds it (copied, or skipped because the destination has the same
	// version or a later one), if the source still holds the version that
	// was copied: a record that changed during the copy stays.
	DeleteAfter bool
	// Users, if set, tells the user of each record so that its user index
	// entry is carried (see the package documentation). A record it
	// returns an error for is carried without an entry and counted in
	// Stats.Unindexed.
	Users UserFunc
	// ControlKey is the key of an online migration's control record, which
	// is never carried (default migrate.DefaultControlKey; see the package
	// documentation).
	ControlKey string
	// Cursor resumes an interrupted copy: pass the Cursor of the last
	// Progress (or of the Stats an interrupted Copy returned). Keys the
	// earlier run had handled are checked in the destination (one read
	// each) rather than copied again, so a resumed copy misses nothing even
	// when the iteration order changed in between.
	Cursor string
	// Progress, if set, is called after each batch, from the goroutine
	// that called Copy.
	Progress func(Progress)
}

// Stats count what a copy or a restore did.
type Stats struct {
	// Copied records were written to the destination.
	Copied int64 `json:"copied"`
	// Skipped records were left alone: the destination held them (at the
	// same or a later version, or at all under SkipExisting).
	Skipped int64 `json:"skipped"`
	// Failed records could not be read, written or indexed; Errors holds
	// the first few errors.
	Failed int64 `json:"failed"`
	// Expired records had expired before they could be written.
	Expired int64 `json:"expired"`
	// Indexed records got a user index entry in the destination.
	Indexed int64 `json:"indexed"`
	// Unindexed records were carried without a user index entry because
	// Options.Users could not tell their user (they are also counted in
	// Copied or Skipped).
	Unindexed int64 `json:"unindexed"`
	// Excluded records were left out on purpose: the control record of an
	// online migration.
	Excluded int64 `json:"excluded"`
	// Vanished records were gone from the source right after they were
	// copied (ended by the application meanwhile); their copies were
	// removed again.
	Vanished int64 `json:"vanished"`
	// Deleted records were removed from the source (DeleteAfter).
	Deleted int64 `json:"deleted"`
	// Cursor resumes the operation where it stopped.
	Cursor string `json:"cursor"`
	// Errors are the first errors met (at most 10).
	Errors []error `json:"-"`
}

const maxErrors = 10

func (s *Stats) fail(err error) {
	s.Failed++
	if len(s.Errors) < maxErrors {
		s.Errors = append(s.Errors, err)
	}
}

// failIn counts err as a failed record unless ctx has ended: then the
// record in hand is not a failure but unfinished work, which the operation
// stops on and a resumed run handles again.
func (s *Stats) failIn(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	s.fail(err)
}

// controlKey returns the key of the record Copy, Backup and Restore leave
// out.
func (o *Options) controlKey() string {
	if o.ControlKey != "" {
		return o.ControlKey
	}
	return migrate.DefaultControlKey
}

// ErrNotIterable is returned by Copy and Backup for a source that does not
// implement backends.Iterator.
var ErrNotIterable = errors.New("transfer: the source store cannot be iterated")

// ErrNotImporter is returned for a destination that does not implement
// backends.Importer (versions could not be kept).
var ErrNotImporter = errors.New("transfer: the destination store does not implement backends.Importer")

// ErrBadCursor is returned for a cursor this package did not produce.
var ErrBadCursor = errors.New("transfer: invalid cursor")

// encodeCursor: the number of keys handled, in iteration order.
func encodeCursor(n int64) string { return "pos:" + strconv.FormatInt(n, 10) }

func decodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	if len(c) < 4 || c[:4] != "pos:" {
		return 0, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	n, err := strconv.ParseInt(c[4:], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	return n, nil
}

// Copy copies every live record of src to dst, by iteration (SCAN on
// Redis), in batches. It is safe while the application serves sessions from
// src (the backfill of a migration): after each copy it reads the source
// again and removes the copy of a record the application ended meanwhile
// (counted in Vanished); without DeleteAfter that costs a second read per
// record. See Options for what happens to records dst holds,
// to the source afterwards, and to user index entries.
//
// Copy stops when ctx ends and returns the statistics so far, whose Cursor
// resumes the copy, with ctx's error. Records that fail are counted, the
// first errors kept in Stats.Errors, and the copy goes on; the error
// returned is nil unless the iteration itself failed or ctx ended.
func Copy(ctx context.Context, dst, src backends.Store, opts Options) (Stats, error) {
	it, ok := src.(backends.Iterator)
	if !ok {
		return Stats{}, ErrNotIterable
	}
	imp, ok := dst.(backends.Importer)
	if !ok {
		return Stats{}, ErrNotImporter
	}
	skipTo, err := decodeCursor(opts.Cursor)
	if err != nil {
		return Stats{}, err
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	w := writer{dst: dst, imp: imp, mode: opts.Mode, users: opts.Users}
	control := opts.controlKey()
	var st Stats
	var pos int64
	var ierr error
	err = it.Keys(ctx, func(key string) bool {
		if ierr = ctx.Err(); ierr != nil {
			return false
		}
		pos++
		resumed := pos <= skipTo
		var (
			rec   backends.Record
			found bool
			err   error
		)
		if key != control {
			rec, found, err = src.Load(ctx, key)
		}
		switch {
		case key == control:
			st.Excluded++
		case err != nil:
			st.failIn(ctx, fmt.Errorf("transfer: load %q: %w", key, err))
		case !found:
			st.Expired++
		default:
			mode := opts.Mode
			if resumed && mode == Overwrite {
				mode = ReplaceOlder // written by the earlier run already
			}
			held := w.write(ctx, &st, key, rec, nil, mode)
			if held && !opts.DeleteAfter {
				w.recheck(ctx, &st, src, key, rec)
			}
			if held && opts.DeleteAfter {
				if _, err := src.Save(ctx, key, nil, time.Unix(1, 0), rec.Version); err == nil {
					st.Deleted++
				} else if !backends.IsConflict(err) {
					st.failIn(ctx, fmt.Errorf("transfer: delete %q from the source: %w", key, err))
				}
			}
		}
		if pos%int64(batch) == 0 {
			st.Cursor = encodeCursor(pos)
			if opts.Progress != nil {
				opts.Progress(Progress{Stats: st, Cursor: st.Cursor})
			}
		}
		return true
	})
	if ierr == nil && err == nil && ctx.Err() != nil {
		ierr = ctx.Err()
	}
	// Keys handled so far are done; a resumed run checks them again.
	st.Cursor = encodeCursor(max(pos-1, 0))
	if ierr == nil && err == nil {
		st.Cursor = encodeCursor(pos)
		if opts.Progress != nil {
			opts.Progress(Progress{Stats: st, Cursor: st.Cursor})
		}
	}
	if err != nil {
		return st, fmt.Errorf("transfer: iterating the source: %w", err)
	}
	return st, ierr
}

// writer writes records into a destination, as Copy and Restore do.
type writer struct {
	dst   backends.Store
	imp   backends.Importer
	mode  Mode
	users UserFunc
}

// recheck makes Copy safe while the application runs: after rec was
// written, it reads the source again, and if the source lost the record
// meanwhile (a logout, a renewal), it deletes the copy if it is still the
// one written. A copy thus never brings back a session the application
// ended during the copy.
func (w *writer) recheck(ctx context.Context, st *Stats, src backends.Store, key string, rec backends.Record) {
	cur, found, err := src.Load(ctx, key)
	if err != nil {
		st.failIn(ctx, fmt.Errorf("transfer: check %q in the source after the copy: %w", key, err))
		return
	}
	if found && cur.Version >= rec.Version {
		return
	}
	if _, err := w.dst.Save(ctx, key, nil, time.Unix(1, 0), rec.Version); err != nil && !backends.IsConflict(err) {
		st.failIn(ctx, fmt.Errorf("transfer: remove the copy of %q, gone from the source: %w", key, err))
		return
	}
	st.Vanished++
}

// index is a user index entry known in advance (from a backup line).
type index struct {
	user     string
	deadline time.Time
}

// write puts rec into the destination under mode and indexes it; it
// reports whether the destination holds rec's version (or a later one)
// afterwards. The user index entry is worked out before anything is
// written, from rec as it was read.
func (w *writer) write(ctx context.Context, st *Stats, key string, rec backends.Record, ix *index, mode Mode) bool {
	if !rec.Expiry.After(time.Now()) {
		st.Expired++
		return false
	}
	unindexed := false
	if ix == nil && w.users != nil {
		u, d, err := w.users(key, rec)
		if err != nil {
			unindexed = true
		} else {
			ix = &index{user: u, deadline: d}
		}
	}
	if mode == Overwrite {
		if err := w.dst.Delete(ctx, key); err != nil {
			st.failIn(ctx, fmt.Errorf("transfer: overwrite %q: %w", key, err))
			return false
		}
	}
	written, err := w.imp.Import(ctx, key, rec, mode == SkipExisting)
	if err != nil {
		st.failIn(ctx, fmt.Errorf("transfer: write %q: %w", key, err))
		return false
	}
	held := true
	if !written {
		if !rec.Expiry.After(time.Now()) {
			st.Expired++
			return false
		}
		cur, found, err := w.dst.Load(ctx, key)
		if err != nil {
			st.failIn(ctx, fmt.Errorf("transfer: check %q in the destination: %w", key, err))
			return false
		}
		held = found && cur.Version >= rec.Version
		st.Skipped++
	} else {
		st.Copied++
	}
	if unindexed {
		st.Unindexed++
		return held
	}
	if ix != nil && ix.user != "" {
		ui, ok := w.dst.(backends.UserIndex)
		if !ok {
			return held
		}
		deadline := ix.deadline
		if deadline.IsZero() || deadline.Before(rec.Expiry) {
			deadline = rec.Expiry
		}
		if err := ui.AddUserKey(ctx, ix.user, key, deadline); err != nil {
			st.failIn(ctx, fmt.Errorf("transfer: index %q: %w", key, err))
			return held
		}
		st.Indexed++
	}
	return held
}
