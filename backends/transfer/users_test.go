package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/codec"
)

// loggedIn stores one session per user through a shop on st and returns
// the shop.
func loggedIn(t *testing.T, st backends.Store, users ...string) *shop {
	t.Helper()
	s := newShop(t, st)
	for _, u := range users {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Transport: s.srv.Client().Transport, Jar: jar}
		if _, err := c.PostForm(s.srv.URL+"/login", url.Values{"u": {u}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PostForm(s.srv.URL+"/add", url.Values{"item": {"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// snapshot returns every record of st by key.
func snapshot(t *testing.T, st *memstore.Store) map[string]backends.Record {
	t.Helper()
	out := map[string]backends.Record{}
	err := st.Keys(t.Context(), func(k string) bool {
		rec, found, err := st.Load(t.Context(), k)
		if err != nil || !found {
			t.Fatalf("load %s: %v %v", k, found, err)
		}
		rec.Blob = bytes.Clone(rec.Blob)
		out[k] = rec
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameBlobs checks that st holds want's blobs byte for byte and that each
// still opens with p.
func sameBlobs(t *testing.T, what string, st backends.Store, want map[string]backends.Record, p *codec.Pipeline) {
	t.Helper()
	for k, w := range want {
		got, found, err := st.Load(t.Context(), k)
		if err != nil || !found {
			t.Fatalf("%s: %s: found %v, %v", what, k, found, err)
		}
		if !bytes.Equal(got.Blob, w.Blob) || got.Version != w.Version {
			t.Fatalf("%s: %s: the blob or version changed on the way", what, k)
		}
		if _, err := p.Decode(bytes.Clone(got.Blob), []byte(k)); err != nil {
			t.Fatalf("%s: %s no longer decodes: %v", what, k, err)
		}
	}
}

// TestUsersLeaveTheBlobsAsStored protects the blobs from the decoding done
// to find their users: codec.Decode opens a blob in place, so a UserFunc
// that decoded the record's own bytes would write decrypted garbage to the
// backup and the destination (and, with a store that hands out its own
// memory, into the source).
func TestUsersLeaveTheBlobsAsStored(t *testing.T) {
	src := newMem(t)
	s := loggedIn(t, src, "alice", "bob", "carol")
	want := snapshot(t, src)
	if len(want) != 3 {
		t.Fatalf("%d sessions stored, want 3", len(want))
	}
	p := s.m.Codec()
	users := transfer.CodecUsers(p)
	var buf bytes.Buffer
	bst, err := transfer.Backup(t.Context(), &buf, src, transfer.Options{Users: users})
	if err != nil || bst.Copied != 3 || bst.Indexed != 3 {
		t.Fatalf("Backup = %+v, %v; want 3 copied and indexed", bst, err)
	}
	sameBlobs(t, "source after Backup", src, want, p)
	restored := newMem(t)
	if rst, err := transfer.Restore(t.Context(), restored, &buf, transfer.Options{}); err != nil || rst.Copied != 3 || rst.Indexed != 3 {
		t.Fatalf("Restore = %+v, %v", rst, err)
	}
	sameBlobs(t, "restored", restored, want, p)

	copied := newMem(t)
	cst, err := transfer.Copy(t.Context(), copied, src, transfer.Options{Users: users})
	if err != nil || cst.Copied != 3 || cst.Indexed != 3 {
		t.Fatalf("Copy = %+v, %v; want 3 copied and indexed", cst, err)
	}
	sameBlobs(t, "copied", copied, want, p)
	sameBlobs(t, "source after Copy", src, want, p)

	// Restore reading the users itself (lines without an entry).
	buf.Reset()
	if _, err := transfer.Backup(t.Context(), &buf, src, transfer.Options{}); err != nil {
		t.Fatal(err)
	}
	restored = newMem(t)
	if rst, err := transfer.Restore(t.Context(), restored, &buf, transfer.Options{Users: users}); err != nil || rst.Indexed != 3 {
		t.Fatalf("Restore with Users = %+v, %v", rst, err)
	}
	sameBlobs(t, "restored with Users", restored, want, p)
}

// TestRecordsWithoutAKnownUserAreCarried checks that a record whose user
// cannot be read (a session under a key the pipeline no longer has, a
// foreign record) is carried without an index entry and counted, and that
// the control record of a migration is left out and counted.
func TestRecordsWithoutAKnownUserAreCarried(t *testing.T) {
	ctx := t.Context()
	src := newMem(t)
	s := loggedIn(t, src, "alice")
	if _, err := src.Save(ctx, "foreign", []byte("not a session"), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Publish(ctx, src, migrate.DefaultControlKey, migrate.State{Phase: migrate.WriteBoth, Rollout: 100}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Publish(ctx, src, "custom-control", migrate.State{Phase: migrate.WriteBoth, Rollout: 100}, false); err != nil {
		t.Fatal(err)
	}
	users := transfer.CodecUsers(s.m.Codec())
	// 1 session, "foreign", and the control record under the key given.
	const carried, indexed, unindexed = 3, 1, 2
	check := func(what string, st transfer.Stats, err error, copied int64) {
		t.Helper()
		if err != nil || st.Copied != copied || st.Indexed != indexed || st.Unindexed != unindexed || st.Excluded != 1 || st.Failed != 0 {
			t.Fatalf("%s = %+v, %v; want %d copied, %d indexed, %d unindexed, 1 excluded, 0 failed",
				what, st, err, copied, indexed, unindexed)
		}
	}
	holds := func(what string, st backends.Store, key string, want bool) {
		t.Helper()
		_, found, err := st.Load(ctx, key)
		if err != nil || found != want {
			t.Fatalf("%s: %s found %v (%v), want %v", what, key, found, err, want)
		}
	}

	var buf bytes.Buffer
	bst, err := transfer.Backup(ctx, &buf, src, transfer.Options{Users: users})
	check("Backup", bst, err, carried)
	restored := newMem(t)
	rst, err := transfer.Restore(ctx, restored, bytes.NewReader(buf.Bytes()), transfer.Options{})
	if err != nil || rst.Copied != carried || rst.Indexed != indexed || rst.Excluded != 0 {
		t.Fatalf("Restore = %+v, %v", rst, err)
	}
	holds("restored", restored, "foreign", true)
	holds("restored", restored, "custom-control", true)
	holds("restored", restored, migrate.DefaultControlKey, false)
	if keys, err := restored.UserKeys(ctx, "alice"); err != nil || len(keys) != 1 {
		t.Fatalf("alice's restored sessions: %v, %v", keys, err)
	}

	copied := newMem(t)
	cst, err := transfer.Copy(ctx, copied, src, transfer.Options{Users: users})
	check("Copy", cst, err, carried)
	holds("copied", copied, "foreign", true)
	holds("copied", copied, migrate.DefaultControlKey, false)

	// The control record is left out under the key given, and a control
	// record in a stream (a backup made with another key) is not restored:
	// the session and "foreign" are.
	buf.Reset()
	if _, err := transfer.Backup(ctx, &buf, src, transfer.Options{ControlKey: "custom-control"}); err != nil {
		t.Fatal(err)
	}
	restored = newMem(t)
	rst, err = transfer.Restore(ctx, restored, &buf, transfer.Options{Users: users})
	if err != nil || rst.Copied != 2 || rst.Excluded != 1 || rst.Unindexed != 1 || rst.Indexed != indexed {
		t.Fatalf("Restore of a stream holding the control record = %+v, %v", rst, err)
	}
	holds("restored", restored, migrate.DefaultControlKey, false)

	// A copy backfilling a migration never replaces the destination's
	// control record, whatever the versions.
	dst := newMem(t)
	if _, err := migrate.Publish(ctx, dst, migrate.DefaultControlKey, migrate.State{Phase: migrate.WriteBoth, Rollout: 10}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Copy(ctx, dst, src, transfer.Options{Mode: transfer.Overwrite}); err != nil {
		t.Fatal(err)
	}
	if st, _, err := migrate.ReadControl(ctx, dst, migrate.DefaultControlKey); err != nil || st.Rollout != 10 {
		t.Fatalf("the destination's control record became %v, %v", st, err)
	}
}

// canceling is a store whose Load (or Import) ends the operation's context
// at its n-th call and fails with the context's error, as a store does when
// Ctrl-C arrives during a call.
type canceling struct {
	*memstore.Store
	cancel context.CancelFunc
	calls  int
	at     int
	onLoad bool
}

func (c *canceling) hit(ctx context.Context) error {
	if c.calls++; c.calls == c.at {
		c.cancel()
		return fmt.Errorf("store call: %w", ctx.Err())
	}
	return nil
}

func (c *canceling) Load(ctx context.Context, key string) (backends.Record, bool, error) {
	if c.onLoad {
		if err := c.hit(ctx); err != nil {
			return backends.Record{}, false, err
		}
	}
	return c.Store.Load(ctx, key)
}

func (c *canceling) Import(ctx context.Context, key string, rec backends.Record, skipExisting bool) (bool, error) {
	if !c.onLoad {
		if err := c.hit(ctx); err != nil {
			return false, err
		}
	}
	return c.Store.Import(ctx, key, rec, skipExisting)
}

// TestInterruptionIsNotAFailure checks that the record in hand when the
// context ends is not counted as failed, and that resuming from the cursor
// (Copy) or running again (Restore) carries everything.
func TestInterruptionIsNotAFailure(t *testing.T) {
	const n = 40
	for _, onLoad := range []bool{true, false} {
		t.Run(fmt.Sprintf("onLoad=%v", onLoad), func(t *testing.T) {
			src := newMem(t)
			want := fill(t, src, n)
			ctx, cancel := context.WithCancel(t.Context())
			dstMem := newMem(t)
			var from backends.Store = src
			var to backends.Store = dstMem
			w := &canceling{cancel: cancel, at: n / 2, onLoad: onLoad}
			if onLoad {
				w.Store = src
				from = w
			} else {
				w.Store = dstMem
				to = w
			}
			st, err := transfer.Copy(ctx, to, from, transfer.Options{BatchSize: 7})
			if !errors.Is(err, context.Canceled) || st.Failed != 0 || len(st.Errors) != 0 {
				t.Fatalf("interrupted Copy = %+v, %v; want context.Canceled and nothing failed", st, err)
			}
			again, err := transfer.Copy(t.Context(), dstMem, src, transfer.Options{Cursor: st.Cursor})
			if err != nil || again.Failed != 0 || st.Copied+again.Copied != n {
				t.Fatalf("resumed Copy = %+v, %v after %+v; want %d copied in all", again, err, st, n)
			}
			check(t, dstMem, want)

			if onLoad {
				return
			}
			var buf bytes.Buffer
			if _, err := transfer.Backup(t.Context(), &buf, src, transfer.Options{}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel = context.WithCancel(t.Context())
			restored := newMem(t)
			w = &canceling{Store: restored, cancel: cancel, at: n / 2}
			rst, err := transfer.Restore(ctx, w, bytes.NewReader(buf.Bytes()), transfer.Options{BatchSize: 7})
			if !errors.Is(err, context.Canceled) || rst.Failed != 0 || len(rst.Errors) != 0 {
				t.Fatalf("interrupted Restore = %+v, %v; want context.Canceled and nothing failed", rst, err)
			}
			if _, err := transfer.Restore(t.Context(), restored, bytes.NewReader(buf.Bytes()), transfer.Options{}); err != nil {
				t.Fatal(err)
			}
			check(t, restored, want)
		})
	}
}
