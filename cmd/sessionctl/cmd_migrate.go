package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session/backends/migrate"
	"github.com/sessionkit/session/backends/storeurl"
)

type migrateJSON struct {
	Phase    migrate.Phase `json:"phase"`
	Rollout  int           `json:"rollout"`
	State    string        `json:"state"`
	Record   bool          `json:"control_record"`
	Version  uint64        `json:"control_version,omitempty"`
	Previous *migrateJSON  `json:"previous,omitempty"`
	Key      string        `json:"control_key"`
}

func newMigrateCmd(g *globals) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "migrate (status | set PHASE)",
		Short: "Read or change the phase of an online migration",
		Long: `migrate reads or changes the state of an online migration between two
stores (package backends/migrate), through its control record in the NEW
store: every application instance created with migrate.WithControl polls
that record and follows it within its poll interval.

The phases, in order:
  old-only    the old store only (where a migration starts or a rollback ends)
  write-both  reads from the old store, writes to both
  read-new    reads both, serves the higher version, repairs the new store
  new-only    the new store only

Move one phase at a time, and wait for every instance to report the new
phase (its status handler) before the next move; set refuses to skip a
phase unless --force. Copy the sessions nobody writes (sessionctl copy)
while in write-both, before read-new.

--store is the migration's NEW store. No secret is needed.`,
		Example: `  sessionctl migrate status --store redis://new:6379/0
  sessionctl migrate set write-both --store redis://new:6379/0
  sessionctl migrate set read-new --rollout 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("migrate needs a command: status or set PHASE")
		},
	}
	cmd.PersistentFlags().StringVar(&key, "control-key", migrate.DefaultControlKey, "the control record's key (migrate.WithControlKey)")

	status := &cobra.Command{
		Use:   "status",
		Short: "Print the migration's phase from the control record",
		Long: `status prints the phase and rollout the control record holds, the state
every instance polling it follows. Without a control record, instances
stay in the state they were created with (usually old-only).`,
		Example: `  sessionctl migrate status --store redis://new:6379/0 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			state, version, err := migrate.ReadControl(g.ctx, st, key)
			if err != nil {
				return fmt.Errorf("migrate status: %w", err)
			}
			res := stateJSON(state, version, key)
			return g.result(res, func(w io.Writer) {
				if !res.Record {
					fmt.Fprintf(w, "no control record (%s): instances follow the state they were created with\n", key)
					return
				}
				fmt.Fprintf(w, "phase:    %s\n", res.Phase)
				fmt.Fprintf(w, "rollout:  %d%%\n", effectiveRollout(state))
				fmt.Fprintf(w, "state:    %s (control record version %d)\n", res.State, version)
			})
		},
	}
	var rollout int
	var force bool
	set := &cobra.Command{
		Use:   "set PHASE",
		Short: "Publish a new phase to every instance",
		Long: `set publishes PHASE (old-only, write-both, read-new or new-only) with a
rollout percentage into the control record; every instance polling it
switches within its poll interval. A rollout under 100 puts that share of
sessions (chosen by a stable hash of their key) in PHASE and the others in
the phase before; new-only takes only 100.

A state more than one phase away from the stored one is refused (exit code
1) unless --force: instances learn of it one by one, and phases further
apart are not safe to mix.`,
		Example: `  sessionctl migrate set write-both --store redis://new:6379/0
  sessionctl migrate set read-new --rollout 25
  sessionctl migrate set old-only --force   # roll back from any phase`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			phase, err := migrate.ParsePhase(args[0])
			if err != nil {
				return usageErr(err)
			}
			state := migrate.State{Phase: phase, Rollout: rollout}
			if err := state.Validate(); err != nil {
				return usageErr(err)
			}
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			prev, err := migrate.Publish(g.ctx, st, key, state, force)
			if err != nil {
				if errors.Is(err, migrate.ErrSkipsPhase) {
					return fmt.Errorf("%w (move one phase at a time, or --force)", err)
				}
				return fmt.Errorf("migrate set: %w", err)
			}
			_, version, err := migrate.ReadControl(g.ctx, st, key)
			if err != nil {
				return fmt.Errorf("migrate set: %w", err)
			}
			res := stateJSON(state, version, key)
			p := stateJSON(prev, 0, key)
			res.Previous = &p
			return g.result(res, func(w io.Writer) {
				fmt.Fprintf(w, "published %s (was %s); instances follow within their poll interval\n", state, prev)
			})
		},
	}
	set.Flags().IntVar(&rollout, "rollout", 100, "percentage of sessions in PHASE; the others stay in the phase before")
	set.Flags().BoolVar(&force, "force", false, "allow skipping phases (a rollback to old-only, for example)")
	for _, c := range []*cobra.Command{status, set} {
		c.Args = usageArgs(c.Args)
	}
	cmd.AddCommand(status, set)
	return cmd
}

func effectiveRollout(s migrate.State) int {
	if s.Phase == migrate.OldOnly {
		return 100
	}
	return s.Rollout
}

func stateJSON(s migrate.State, version uint64, key string) migrateJSON {
	return migrateJSON{Phase: s.Phase, Rollout: effectiveRollout(s), State: s.String(), Record: version > 0, Version: version, Key: key}
}
