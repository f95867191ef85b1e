package migrate_test

import (
	"errors"
	"testing"

	"github.com/sessionkit/session/backends/migrate"
)

func TestPublishRefusesToSkipAPhase(t *testing.T) {
	st := newMem(t)
	ctx := t.Context()
	wb := func(r int) migrate.State { return migrate.State{Phase: migrate.WriteBoth, Rollout: r} }
	rn := func(r int) migrate.State { return migrate.State{Phase: migrate.ReadNew, Rollout: r} }
	no := migrate.State{Phase: migrate.NewOnly, Rollout: 100}
	for _, step := range []struct {
		to migrate.State
		ok bool
	}{
		{rn(100), false}, // old-only to read-new
		{wb(10), true},
		{rn(10), false}, // sessions still in old-only would meet read-new
		{wb(100), true},
		{no, false},
		{rn(50), true},
		{no, false}, // half the sessions are still in write-both
		{rn(100), true},
		{no, true},
		{wb(100), false},
		{rn(100), true}, // back one phase
	} {
		_, err := migrate.Publish(ctx, st, migrate.DefaultControlKey, step.to, false)
		if (err == nil) != step.ok || (err != nil && !errors.Is(err, migrate.ErrSkipsPhase)) {
			t.Fatalf("Publish(%v) = %v, want ok %v", step.to, err, step.ok)
		}
	}
	if _, err := migrate.Publish(ctx, st, migrate.DefaultControlKey, migrate.State{}, true); err != nil {
		t.Fatalf("forced Publish: %v", err)
	}
	got, v, err := migrate.ReadControl(ctx, st, migrate.DefaultControlKey)
	if err != nil || got != (migrate.State{}) || v == 0 {
		t.Fatalf("ReadControl = %v %d %v", got, v, err)
	}
	if err := (migrate.State{Phase: migrate.NewOnly, Rollout: 50}).Validate(); !errors.Is(err, migrate.ErrPartialNewOnly) {
		t.Fatalf("new-only 50%%: %v", err)
	}
}
