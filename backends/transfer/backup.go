package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sessionkit/session/backends"
)

// Format and FormatVersion identify the backup stream (see Header).
const (
	Format        = "sessionkit-backup"
	FormatVersion = 1
)

// maxLine bounds one line of a backup stream (a record of the largest
// session size, base64-encoded, with room to spare).
const maxLine = 64 << 20

// Header is the first line of a backup stream.
//
// A backup is JSON Lines: a Header, one Line per record, and an End line.
// Each line is one JSON object ending in "\n", readable by jq:
//
//	{"format":"sessionkit-backup","version":1,"created":"2026-12-02T14:00:00Z"}
//	{"key":"k1","blob":"AQID...","version":3,"expiry":"2026-12-02T15:00:00.123Z","user":"alice","deadline":"2026-12-09T14:00:00Z"}
//	{"end":true,"records":1}
//
// The blob is the stored (encrypted) session, base64-encoded; user and
// deadline are the user index entry, present only when the backup was
// made with Options.Users. Treat a backup like the store: it holds no
// session IDs, but user IDs when indexed, and blobs that the application's
// keys open.
type Header struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
}

// Line is one record of a backup stream.
type Line struct {
	Key      string     `json:"key"`
	Blob     []byte     `json:"blob"`
	Version  uint64     `json:"version"`
	Expiry   time.Time  `json:"expiry"`
	User     string     `json:"user,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
}

// End is the last line of a backup stream; without it the stream is
// truncated.
type End struct {
	End     bool  `json:"end"`
	Records int64 `json:"records"`
}

// ErrCorrupt is matched by the error Restore and Verify return for a stream
// that is truncated or not a backup; the error is a *LineError.
var ErrCorrupt = errors.New("transfer: corrupt backup")

// LineError says which line of a backup stream is wrong.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("transfer: backup line %d: %v", e.Line, e.Err) }

// Unwrap returns ErrCorrupt and the cause.
func (e *LineError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// Backup writes every live record of src to w as a backup stream (see
// Header), by iteration. opts.Users, if set, adds each record's user index
// entry (a record it cannot tell the user of is written without one and
// counted in Stats.Unindexed); opts.Progress and opts.BatchSize work as for
// Copy, and opts.Cursor is ignored (a backup is one stream). Stats.Copied
// counts the records written; records that expire during the backup are
// left out and counted, and so is the control record of an online
// migration (Stats.Excluded, see the package documentation).
// On an error of w or of the iteration, or when ctx ends, Backup stops and
// the stream has no End line.
func Backup(ctx context.Context, w io.Writer, src backends.Store, opts Options) (Stats, error) {
	it, ok := src.(backends.Iterator)
	if !ok {
		return Stats{}, ErrNotIterable
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var st Stats
	if err := enc.Encode(Header{Format: Format, Version: FormatVersion, Created: time.Now().UTC()}); err != nil {
		return st, err
	}
	control := opts.controlKey()
	var werr error
	var pos int64
	err := it.Keys(ctx, func(key string) bool {
		if werr = ctx.Err(); werr != nil {
			return false
		}
		pos++
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
		case !found || !rec.Expiry.After(time.Now()):
			st.Expired++
		default:
			l := Line{Key: key, Blob: rec.Blob, Version: rec.Version, Expiry: rec.Expiry.UTC()}
			if opts.Users != nil {
				u, d, err := opts.Users(key, rec)
				switch {
				case err != nil:
					st.Unindexed++
				case u != "":
					l.User = u
					if !d.IsZero() {
						d = d.UTC()
						l.Deadline = &d
					}
					st.Indexed++
				}
			}
			if werr = enc.Encode(l); werr != nil {
				return false
			}
			st.Copied++
		}
		if pos%int64(batch) == 0 && opts.Progress != nil {
			opts.Progress(Progress{Stats: st})
		}
		return true
	})
	if err != nil {
		return st, fmt.Errorf("transfer: iterating the source: %w", err)
	}
	if werr != nil {
		return st, fmt.Errorf("transfer: backup: %w", werr)
	}
	if err := enc.Encode(End{End: true, Records: st.Copied}); err != nil {
		return st, fmt.Errorf("transfer: backup: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("transfer: backup: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Stats: st})
	}
	return st, nil
}

// reader reads a backup stream line by line.
type reader struct {
	sc      *bufio.Scanner
	line    int
	records int64
}

func newReader(r io.Reader) (*reader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	rd := &reader{sc: sc}
	raw, err := rd.next()
	if err != nil {
		return nil, err
	}
	var h Header
	if err := json.Unmarshal(raw, &h); err != nil || h.Format != Format {
		return nil, &LineError{Line: rd.line, Err: errors.New("not a sessionkit backup header")}
	}
	if h.Version != FormatVersion {
		return nil, &LineError{Line: rd.line, Err: fmt.Errorf("format version %d, this reader knows %d", h.Version, FormatVersion)}
	}
	return rd, nil
}

func (rd *reader) next() ([]byte, error) {
	if !rd.sc.Scan() {
		if err := rd.sc.Err(); err != nil {
			return nil, &LineError{Line: rd.line + 1, Err: err}
		}
		return nil, &LineError{Line: rd.line + 1, Err: errors.New("stream ends without its end line (truncated)")}
	}
	rd.line++
	return rd.sc.Bytes(), nil
}

// record returns the next record, or nil at the End line.
func (rd *reader) record() (*Line, error) {
	raw, err := rd.next()
	if err != nil {
		return nil, err
	}
	var probe struct {
		End     *bool   `json:"end"`
		Records int64   `json:"records"`
		Key     *string `json:"key"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, &LineError{Line: rd.line, Err: err}
	}
	if probe.End != nil {
		if probe.Records != rd.records {
			return nil, &LineError{Line: rd.line, Err: fmt.Errorf("end line counts %d records, the stream has %d", probe.Records, rd.records)}
		}
		return nil, nil
	}
	var l Line
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, &LineError{Line: rd.line, Err: err}
	}
	switch {
	case l.Key == "":
		return nil, &LineError{Line: rd.line, Err: errors.New("record without a key")}
	case l.Version == 0:
		return nil, &LineError{Line: rd.line, Err: errors.New("record without a version")}
	case l.Expiry.IsZero():
		return nil, &LineError{Line: rd.line, Err: errors.New("record without an expiry")}
	}
	rd.records++
	return &l, nil
}

// Verify reads a whole backup stream and checks every line, writing
// nothing. It returns the number of records, or the first bad line as a
// *LineError.
func Verify(r io.Reader) (int64, error) {
	rd, err := newReader(r)
	if err != nil {
		return 0, err
	}
	for {
		l, err := rd.record()
		if err != nil {
			return rd.records, err
		}
		if l == nil {
			return rd.records, nil
		}
	}
}

// Restore writes the records of a backup stream into dst, with opts.Mode
// for records dst holds (DeleteAfter and Cursor do not apply). Records
// whose expiry has passed are refused and counted as expired; user index
// entries in the stream are restored when dst has a user index (opts.Users
// is used only for lines without one). A line holding the control record of
// an online migration is left out (Stats.Excluded).
//
// Lines are checked a batch at a time (opts.BatchSize) before any record of
// the batch is written, so a truncated or corrupt stream stops Restore with
// a *LineError naming the line, and no record of that batch, or after it,
// is written: the store holds whole records of earlier batches only. Use
// Verify first to restore all or nothing.
func Restore(ctx context.Context, dst backends.Store, r io.Reader, opts Options) (Stats, error) {
	imp, ok := dst.(backends.Importer)
	if !ok {
		return Stats{}, ErrNotImporter
	}
	rd, err := newReader(r)
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
	lines := make([]*Line, 0, batch)
	for {
		lines = lines[:0]
		var end bool
		for len(lines) < batch {
			l, err := rd.record()
			if err != nil {
				return st, err
			}
			if l == nil {
				end = true
				break
			}
			lines = append(lines, l)
		}
		for _, l := range lines {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if l.Key == control {
				st.Excluded++
				continue
			}
			var ix *index
			if l.User != "" {
				ix = &index{user: l.User}
				if l.Deadline != nil {
					ix.deadline = *l.Deadline
				}
			}
			w.write(ctx, &st, l.Key, backends.Record{Blob: l.Blob, Version: l.Version, Expiry: l.Expiry}, ix, opts.Mode)
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Stats: st})
		}
		if end {
			return st, nil
		}
	}
}
