package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/internal/redistest"
)

const sessions = 10000

func newMem(t *testing.T) *memstore.Store {
	s, err := memstore.New(memstore.Options{MaxSessions: 4 * sessions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRedis(t *testing.T, srv *redistest.Server) *redisstore.Store {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	s, err := redisstore.New(c, redisstore.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fill saves n records with distinct TTLs (one hour plus i seconds) and
// versions 1 to 3, and returns what it stored.
func fill(t *testing.T, st backends.Store, n int) map[string]backends.Record {
	t.Helper()
	ctx := t.Context()
	want := make(map[string]backends.Record, n)
	now := time.Now()
	for i := range n {
		key := fmt.Sprintf("key-%05d", i)
		exp := now.Add(time.Hour + time.Duration(i)*time.Second)
		var v uint64
		var err error
		for j := 0; j <= i%3; j++ {
			v, err = st.Save(ctx, key, fmt.Appendf(nil, "blob %d/%d", i, j), exp, v)
			if err != nil {
				t.Fatal(err)
			}
		}
		want[key] = backends.Record{Blob: fmt.Appendf(nil, "blob %d/%d", i, i%3), Version: v, Expiry: exp}
	}
	return want
}

// check verifies that st holds every record of want, with its version,
// its blob and its expiry to within a second.
func check(t *testing.T, st backends.Store, want map[string]backends.Record) {
	t.Helper()
	ctx := t.Context()
	bad := 0
	for key, w := range want {
		got, found, err := st.Load(ctx, key)
		switch {
		case err != nil:
			t.Fatal(err)
		case !found:
			t.Errorf("%s: missing", key)
		case got.Version != w.Version || !bytes.Equal(got.Blob, w.Blob):
			t.Errorf("%s: version %d blob %q, want %d %q", key, got.Version, got.Blob, w.Version, w.Blob)
		case got.Expiry.Sub(w.Expiry).Abs() >= time.Second:
			t.Errorf("%s: expiry %v, want %v", key, got.Expiry, w.Expiry)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatal("too many differences")
		}
	}
}

func TestCopy10000(t *testing.T) {
	redistest.Require(t)
	a, b := redistest.StartServer(t), redistest.StartServer(t)
	for _, tc := range []struct {
		name     string
		src, dst func(t *testing.T) backends.Store
	}{
		{"MemoryToRedis", func(t *testing.T) backends.Store { return newMem(t) }, func(t *testing.T) backends.Store { return newRedis(t, a) }},
		{"RedisToRedis", func(t *testing.T) backends.Store { return newRedis(t, a) }, func(t *testing.T) backends.Store { return newRedis(t, b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := tc.src(t), tc.dst(t)
			t.Cleanup(func() {
				_ = a.Client().FlushAll(context.Background()).Err()
				_ = b.Client().FlushAll(context.Background()).Err()
			})
			want := fill(t, src, sessions)

			// Stop after the third batch, then resume from the cursor.
			ctx, cancel := context.WithCancel(t.Context())
			batches := 0
			first, err := transfer.Copy(ctx, dst, src, transfer.Options{BatchSize: 1000, Progress: func(p transfer.Progress) {
				if batches++; batches == 3 {
					cancel()
				}
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: %v, want context.Canceled", err)
			}
			if first.Copied < 3000 || first.Copied >= sessions {
				t.Fatalf("first run copied %d, want at least 3000 and not all", first.Copied)
			}
			second, err := transfer.Copy(t.Context(), dst, src, transfer.Options{BatchSize: 1000, Cursor: first.Cursor})
			if err != nil {
				t.Fatal(err)
			}
			if second.Failed != 0 || first.Failed != 0 {
				t.Fatalf("failures: %v %v", first.Errors, second.Errors)
			}
			if got := first.Copied + second.Copied; got != sessions {
				t.Errorf("copied %d+%d records, want %d", first.Copied, second.Copied, sessions)
			}
			check(t, dst, want)
			n, err := dst.(backends.Counter).Count(t.Context())
			if err != nil || n != sessions {
				t.Errorf("destination holds %d records (%v), want %d", n, err, sessions)
			}

			// A third run finds everything in place.
			third, err := transfer.Copy(t.Context(), dst, src, transfer.Options{Mode: transfer.SkipExisting, DeleteAfter: true})
			if err != nil {
				t.Fatal(err)
			}
			if third.Copied != 0 || third.Skipped != sessions || third.Deleted != sessions {
				t.Errorf("third run: %+v, want all skipped and deleted from the source", third)
			}
			if n, _ := src.(backends.Counter).Count(t.Context()); n != 0 {
				t.Errorf("source still holds %d records after DeleteAfter", n)
			}
		})
	}
}

func TestCopyKeepsNewerRecordsAndRefusesExpired(t *testing.T) {
	ctx := t.Context()
	src, dst := newMem(t), newMem(t)
	exp := time.Now().Add(time.Hour)
	if _, err := src.Save(ctx, "k", []byte("old"), exp, 0); err != nil {
		t.Fatal(err)
	}
	v, _ := dst.Save(ctx, "k", []byte("new 1"), exp, 0)
	if _, err := dst.Save(ctx, "k", []byte("new 2"), exp, v); err != nil {
		t.Fatal(err)
	}
	st, err := transfer.Copy(ctx, dst, src, transfer.Options{})
	if err != nil || st.Copied != 0 || st.Skipped != 1 {
		t.Fatalf("Copy = %+v, %v; want one skipped", st, err)
	}
	if rec, _, _ := dst.Load(ctx, "k"); string(rec.Blob) != "new 2" {
		t.Fatalf("destination holds %q, want the newer record kept", rec.Blob)
	}
	st, err = transfer.Copy(ctx, dst, src, transfer.Options{Mode: transfer.Overwrite})
	if err != nil || st.Copied != 1 {
		t.Fatalf("Copy(Overwrite) = %+v, %v", st, err)
	}
	if rec, _, _ := dst.Load(ctx, "k"); string(rec.Blob) != "old" || rec.Version != 1 {
		t.Fatalf("destination holds %q v%d, want the source's record", rec.Blob, rec.Version)
	}

	// A backup line whose expiry has passed is refused.
	var buf bytes.Buffer
	buf.WriteString(`{"format":"sessionkit-backup","version":1,"created":"2026-01-01T00:00:00Z"}` + "\n")
	buf.WriteString(`{"key":"gone","blob":"eA==","version":2,"expiry":"2020-01-01T00:00:00Z"}` + "\n")
	buf.WriteString(`{"end":true,"records":1}` + "\n")
	st, err = transfer.Restore(ctx, dst, &buf, transfer.Options{})
	if err != nil || st.Expired != 1 || st.Copied != 0 {
		t.Fatalf("Restore = %+v, %v; want one expired", st, err)
	}
	if _, found, _ := dst.Load(ctx, "gone"); found {
		t.Fatal("expired record restored")
	}
}

func TestRestoreStopsAtTheBadLine(t *testing.T) {
	ctx := t.Context()
	src := newMem(t)
	fill(t, src, 50)
	var buf bytes.Buffer
	st, err := transfer.Backup(ctx, &buf, src, transfer.Options{})
	if err != nil || st.Copied != 50 {
		t.Fatalf("Backup = %+v, %v", st, err)
	}
	full := buf.String()
	lines := strings.SplitAfter(full, "\n")
	for _, tc := range []struct {
		name   string
		stream string
		line   int
	}{
		{"CutInALine", full[:len(full)-len(lines[len(lines)-2])-len(lines[len(lines)-3])/2], 51},
		{"NoEndLine", strings.Join(lines[:len(lines)-2], ""), 52},
		{"GarbageLine", strings.Join(lines[:10], "") + "{not json\n" + strings.Join(lines[10:], ""), 11},
		{"BadHeader", `{"format":"other"}` + "\n" + strings.Join(lines[1:], ""), 1},
		{"RecordMissing", strings.Join(lines[:5], "") + strings.Join(lines[6:], ""), 51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := newMem(t)
			_, err := transfer.Restore(ctx, dst, strings.NewReader(tc.stream), transfer.Options{BatchSize: 100})
			var le *transfer.LineError
			if !errors.As(err, &le) || !errors.Is(err, transfer.ErrCorrupt) {
				t.Fatalf("Restore error %v, want a *LineError", err)
			}
			if le.Line != tc.line {
				t.Errorf("error names line %d (%v), want %d", le.Line, err, tc.line)
			}
			if n, _ := dst.Count(ctx); n != 0 {
				t.Errorf("%d records written from a corrupt batch", n)
			}
			if _, err := transfer.Verify(strings.NewReader(tc.stream)); !errors.Is(err, transfer.ErrCorrupt) {
				t.Errorf("Verify: %v, want ErrCorrupt", err)
			}
		})
	}
	if n, err := transfer.Verify(strings.NewReader(full)); err != nil || n != 50 {
		t.Fatalf("Verify(full) = %d, %v", n, err)
	}
}
