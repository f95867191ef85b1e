package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session/backends/storeurl"
	"github.com/sessionkit/session/backends/transfer"
)

func newBackupCmd(g *globals) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "backup FILE|-",
		Short: "Write every session of the store to a backup file (- for stdout)",
		Long: `backup writes every live session of the store to FILE in the library's
backup format (JSON Lines: a header, one line per session with its
encrypted blob, version and expiry, and an end line; see package
backends/transfer). "-" writes to stdout; the summary then goes to stderr.

The file is written beside FILE under a temporary name and renamed when
complete, so FILE never holds half a backup. Sessions stay encrypted; the
backup holds no session IDs, but treat it like the store itself.

With the application's secret (SESSION_SECRET or --secret-file) each line
also carries the session's user, so that restore rebuilds the user index
("log out everywhere" finds restored sessions). Without it the backup is
still complete, but restored sessions are not indexed by user.

On a terminal a progress bar shows the backup. Ctrl-C stops it and removes
the temporary file; a backup cannot be resumed, run it again.`,
		Example: `  SESSION_SECRET=… sessionctl backup sessions.jsonl
  sessionctl backup - | gzip > sessions.jsonl.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			m, err := g.manager(st, false, managerOptions{})
			if err != nil {
				return err
			}
			users := userFunc(m)
			path := args[0]
			out := g.env.stdout
			resultW := g.env.stdout
			var tmp *os.File
			if path == "-" {
				resultW = g.env.stderr
			} else {
				tmp, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
				if err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
				defer tmp.Close()
				out = tmp
			}
			bar := g.newProgress("backup", countOf(g, st))
			stats, err := transfer.Backup(g.ctx, out, st, transfer.Options{
				BatchSize: batch,
				Users:     users,
				Progress:  func(p transfer.Progress) { bar.update(handled(p.Stats), detail(p.Stats)) },
			})
			bar.finish()
			if err != nil {
				if g.ctx.Err() != nil {
					g.info("backup interrupted after %d sessions; the backup is incomplete (no file was written). Run it again.", stats.Copied)
					return interrupted(g.ctx.Err())
				}
				return fmt.Errorf("backup: %w", err)
			}
			if tmp != nil {
				if err := tmp.Sync(); err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				if err := tmp.Close(); err != nil {
					return fmt.Errorf("backup: %w", err)
				}
				if err := os.Rename(tmp.Name(), path); err != nil {
					return fmt.Errorf("backup: %w", err)
				}
			}
			warnUsers(g, "backup", users, stats)
			res := newStatsJSON(stats)
			if g.json {
				if err := writeJSON(resultW, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(resultW, "backed up %d sessions (%d with their user) to %s", stats.Copied, stats.Indexed, path)
				if stats.Expired > 0 {
					fmt.Fprintf(resultW, "; %d expired meanwhile", stats.Expired)
				}
				fmt.Fprintln(resultW)
			}
			return failedErr("backup", stats)
		},
	}
	cmd.Flags().IntVar(&batch, "batch-size", transfer.DefaultBatchSize, "sessions between progress reports")
	return cmd
}

func newRestoreCmd(g *globals) *cobra.Command {
	var batch int
	var skip, overwrite bool
	cmd := &cobra.Command{
		Use:   "restore FILE|-",
		Short: "Write the sessions of a backup file (- for stdin) into the store",
		Long: `restore writes the sessions of a backup (made by backup) into the store,
each with its version and expiry; sessions that expired since the backup
are left out. What happens to sessions the store already holds:

  (default)        a stored session at a lower version is replaced, one at
                   the same or a later version is kept: restoring twice
                   changes nothing the second time
  --skip-existing  a stored session is never replaced
  --overwrite      every session of the backup is written, whatever the
                   store holds (to roll the store back to the backup)

A FILE is checked whole before anything is written: a truncated or corrupt
backup changes nothing. From stdin ("-") the stream is checked a batch at a
time, and a bad line stops the restore after the batches before it.

User index entries stored in the backup are restored; for lines without
one, the application's secret (SESSION_SECRET or --secret-file), when
given, reads the user from the session.

On a terminal a progress bar shows the restore. Ctrl-C stops it; running
the same command again finishes it (what was restored is kept).`,
		Example: `  sessionctl restore sessions.jsonl
  gunzip -c sessions.jsonl.gz | sessionctl restore - --skip-existing`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if skip && overwrite {
				return usagef("--skip-existing and --overwrite exclude each other")
			}
			mode := transfer.ReplaceOlder
			switch {
			case skip:
				mode = transfer.SkipExisting
			case overwrite:
				mode = transfer.Overwrite
			}
			path := args[0]
			var in io.Reader = g.env.stdin
			total := int64(-1)
			if path != "-" {
				f, err := os.Open(path)
				if err != nil {
					return usagef("restore: %v", err)
				}
				defer f.Close()
				n, err := transfer.Verify(f)
				if err != nil {
					return fmt.Errorf("restore: %s is not a complete backup, nothing restored: %w", path, err)
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return fmt.Errorf("restore: %w", err)
				}
				in, total = f, n
			}
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			m, err := g.manager(st, false, managerOptions{})
			if err != nil {
				return err
			}
			users := userFunc(m)
			bar := g.newProgress("restore", total)
			stats, err := transfer.Restore(g.ctx, st, in, transfer.Options{
				BatchSize: batch,
				Mode:      mode,
				Users:     users,
				Progress:  func(p transfer.Progress) { bar.update(handled(p.Stats), detail(p.Stats)) },
			})
			bar.finish()
			res := newStatsJSON(stats)
			if err != nil {
				if g.ctx.Err() != nil {
					g.info("restore interrupted after %d sessions (%s); run the same command again to finish: restored sessions are kept", handled(stats), detail(stats))
					res.Interrupted = true
					if g.json {
						g.emitJSON(res)
					}
					return interrupted(g.ctx.Err())
				}
				if errors.Is(err, transfer.ErrCorrupt) {
					return fmt.Errorf("restore: stopped at a bad line after %d sessions: %w", stats.Copied, err)
				}
				return fmt.Errorf("restore: %w", err)
			}
			if users != nil && stats.Unindexed > 0 {
				warnUsers(g, "restore", users, stats)
			}
			return errors.Join(g.result(res, func(w io.Writer) {
				fmt.Fprintf(w, "restored %d sessions (%d indexed by user), skipped %d, expired %d, failed %d\n",
					stats.Copied, stats.Indexed, stats.Skipped, stats.Expired, stats.Failed)
			}), failedErr("restore", stats))
		},
	}
	cmd.Flags().IntVar(&batch, "batch-size", transfer.DefaultBatchSize, "sessions checked and written per batch")
	cmd.Flags().BoolVar(&skip, "skip-existing", false, "never replace a session the store holds")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "write every session of the backup, whatever the store holds")
	return cmd
}
