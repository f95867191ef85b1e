package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session/backends/storeurl"
	"github.com/sessionkit/session/backends/transfer"
)

func newCopyCmd(g *globals) *cobra.Command {
	var from, to, cursor string
	var batch int
	var skip, overwrite, deleteAfter bool
	cmd := &cobra.Command{
		Use:   "copy --from URL --to URL",
		Short: "Copy every session from one store to another",
		Long: `copy copies every live session from one store to another by iteration
(SCAN on Redis), each with its version and expiry: the library's offline
copy (package backends/transfer). It is safe while the application serves
from the source: a session ended during the copy is removed from the
destination again. --from defaults to --store (SESSION_STORE_URL).

What happens to sessions the destination already holds:
  (default)        one at a lower version is replaced, otherwise kept
  --skip-existing  never replaced
  --overwrite      always replaced
--delete-after removes each session from the source once the destination
holds it (a session changed during the copy stays).

With the application's secret (SESSION_SECRET or --secret-file) user index
entries are carried, so "log out everywhere" finds the copies; without it
they are not (a warning says so).

On a terminal a progress bar shows the copy. Ctrl-C stops it and prints the
cursor: the same command with --cursor resumes where it stopped.`,
		Example: `  SESSION_SECRET=… sessionctl copy --from redis://old:6379/0 --to redis://new:6379/0
  sessionctl copy --from redis://old:6379/0 --to redis://new:6379/0 --cursor pos:5000
  sessionctl copy --from redis://old:6379/0 --to redis://new:6379/0 --delete-after --batch-size 1000`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if skip && overwrite {
				return usagef("--skip-existing and --overwrite exclude each other")
			}
			if batch < 1 {
				return usagef("--batch-size %d: want at least 1", batch)
			}
			if from == "" {
				from = g.storeURL
			}
			if to == "" {
				return usagef("copy needs --to URL")
			}
			if from == "" {
				return usagef("copy needs --from URL (or --store, or SESSION_STORE_URL)")
			}
			if from == to {
				return usagef("--from and --to name the same store")
			}
			mode := transfer.ReplaceOlder
			switch {
			case skip:
				mode = transfer.SkipExisting
			case overwrite:
				mode = transfer.Overwrite
			}
			src, err := g.openStore(from, "--from")
			if err != nil {
				return err
			}
			defer storeurl.Close(src)
			dst, err := g.openStore(to, "--to")
			if err != nil {
				return err
			}
			defer storeurl.Close(dst)
			m, err := g.manager(src, false, managerOptions{})
			if err != nil {
				return err
			}
			users := userFunc(m)
			bar := g.newProgress("copy", countOf(g, src))
			stats, err := transfer.Copy(g.ctx, dst, src, transfer.Options{
				BatchSize:   batch,
				Mode:        mode,
				DeleteAfter: deleteAfter,
				Users:       users,
				Cursor:      cursor,
				Progress:    func(p transfer.Progress) { bar.update(handled(p.Stats), detail(p.Stats)) },
			})
			bar.finish()
			res := newStatsJSON(stats)
			if err != nil {
				if errors.Is(err, transfer.ErrBadCursor) {
					return usageErr(err)
				}
				if g.ctx.Err() != nil {
					g.info("copy interrupted (%s); resume with the same command and --cursor %s", detail(stats), stats.Cursor)
					res.Interrupted = true
					if g.json {
						g.emitJSON(res)
					}
					return interrupted(g.ctx.Err())
				}
				return fmt.Errorf("copy: %w (resume with --cursor %s)", err, stats.Cursor)
			}
			warnUsers(g, "copy", users, stats)
			return errors.Join(g.result(res, func(w io.Writer) {
				fmt.Fprintf(w, "copied %d sessions (%d indexed by user), skipped %d, expired %d, vanished %d, deleted from the source %d, failed %d\n",
					stats.Copied, stats.Indexed, stats.Skipped, stats.Expired, stats.Vanished, stats.Deleted, stats.Failed)
			}), failedErr("copy", stats))
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the source store's URL (default --store)")
	f.StringVar(&to, "to", "", "the destination store's URL")
	f.BoolVar(&skip, "skip-existing", false, "never replace a session the destination holds")
	f.BoolVar(&overwrite, "overwrite", false, "replace every session the destination holds")
	f.BoolVar(&deleteAfter, "delete-after", false, "delete each session from the source once the destination holds it")
	f.IntVar(&batch, "batch-size", transfer.DefaultBatchSize, "sessions between progress reports and cursor updates")
	f.StringVar(&cursor, "cursor", "", "resume an interrupted copy from this cursor (printed when it stopped)")
	return cmd
}
