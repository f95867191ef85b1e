package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/internal/redistest"
)

// Records whose user cannot be read are carried without an index entry and
// reported (the second copy finds them in the destination: skipped, and
// still counted); the control record of a migration is left out.
func TestTransferCarriesRecordsOfUnknownUser(t *testing.T) {
	a := newShop(t, redistest.StartServer(t))
	b := newShop(t, redistest.StartServer(t))
	a.login(t, "alice", "laptop")
	a.login(t, "bob", "")
	ctx := t.Context()
	if _, err := a.store.Save(ctx, "written-by-another-program", []byte("not a session"), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Publish(ctx, a.store, migrate.DefaultControlKey, migrate.State{Phase: migrate.WriteBoth, Rollout: 100}, false); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sessions.jsonl")
	for _, c := range []struct {
		secret             string
		indexed, unindexed int64
	}{
		{testSecret, 2, 1}, // "written-by-another-program"
		{"a secret that is not the shop's, 32 bytes or more", 0, 3},
	} {
		env := []string{"SESSION_STORE_URL=" + a.url, "SESSION_SECRET=" + c.secret}
		for _, args := range [][]string{{"backup", file, "--json"}, {"copy", "--to", b.url, "--json"}} {
			r := ok(t, env, nil, args...)
			var res statsJSON
			decode(t, r.stdout, &res)
			if res.Copied+res.Skipped != 3 || res.Failed != 0 || res.Indexed != c.indexed || res.Unindexed != c.unindexed || res.Excluded != 1 {
				t.Errorf("%s with secret %q: %+v, want 3 carried (%d indexed, %d not), the control record excluded",
					args[0], c.secret, res.Stats, c.indexed, c.unindexed)
			}
			if !strings.Contains(r.stderr, "could not be opened with this secret") {
				t.Errorf("%s with secret %q: no warning about the records it could not open; stderr:\n%s", args[0], c.secret, r.stderr)
			}
		}
	}
	if _, found, err := b.store.Load(ctx, migrate.DefaultControlKey); err != nil || found {
		t.Errorf("the control record was copied: %v %v", found, err)
	}
	if n := b.count(t); n != 3 {
		t.Errorf("the destination holds %d records, want 3", n)
	}
}
