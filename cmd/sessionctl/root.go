package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session/backends"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitInterrupted = 130
)

// env is what the process gets from outside: its streams and environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// exitError carries the exit code an error ends the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage error (exit code 2).
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

// unreachable marks err as the store's being unreachable (exit code 3).
func unreachable(err error) error { return &exitError{code: exitUnreachable, err: err} }

// interrupted marks err as an interruption (exit code 130); the command has
// already said how to resume.
func interrupted(err error) error { return &exitError{code: exitInterrupted, err: err} }

// exitCode returns the exit code err ends the process with.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case backends.IsUnavailable(err), backends.IsMisconfigured(err), errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	}
	return exitFailure
}

// globals are the flags every command takes.
type globals struct {
	env        env
	ctx        context.Context
	storeURL   string
	json       bool
	secretFile string
	timeout    time.Duration
	progress   string
	started    bool // a command's run began: flags and arguments were valid
	wrote      bool // a JSON result is on stdout
}

const exitCodesHelp = `Exit codes:
  0    success
  1    failure (the operation ran and failed, or some records failed)
  2    usage error (a bad flag, argument or store URL, a missing secret)
  3    the store cannot be reached or refuses the connection
  130  interrupted (Ctrl-C or SIGTERM); the message says how to resume

Environment:
  SESSION_STORE_URL  the store, when --store is not given
  SESSION_SECRET     the application's secret (at least 32 bytes), for the
                     commands that read sessions: ls, revoke, and optionally
                     stats, backup, restore and copy (see their help)
`

// newRoot builds the command tree.
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "sessionctl",
		Short: "Inspect and maintain the session stores of sessionkit applications",
		Long: `sessionctl inspects and maintains the session store of an application built
on github.com/sessionkit/session, from outside the application.

The store is given as a URL (--store, or SESSION_STORE_URL), in the forms of
the library's URL opener:
  memory://                                  an empty in-process store (tests)
  redis://[user:password@]host:6379/0        one Redis server
  rediss://…                                 the same over TLS
  redis+sentinel://host1,host2/master_name   Sentinel
  redis+cluster://host1,host2,host3          Cluster
Add ?key_prefix=P when the application gives its Redis store a key prefix
(the example application uses key_prefix=shoppingcart:).

No command prints a session ID: a session is named by its audit name, the
12-character name the application's audit log gives it.

` + exitCodesHelp,
		Example: `  export SESSION_STORE_URL='redis://127.0.0.1:6379/0?key_prefix=shoppingcart:'
  sessionctl ping
  SESSION_SECRET=… sessionctl ls --user alice`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.started = true
			if g.storeURL == "" {
				g.storeURL = g.env.getenv("SESSION_STORE_URL")
			}
			switch g.progress {
			case "auto", "bar", "lines", "none":
			default:
				return usagef("--progress %q: want auto, bar, lines or none", g.progress)
			}
			if g.timeout <= 0 {
				return usagef("--timeout %v is not positive", g.timeout)
			}
			return nil
		},
	}
	root.SetOut(g.env.stdout)
	root.SetErr(g.env.stderr)
	root.SetIn(g.env.stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	pf := root.PersistentFlags()
	pf.StringVar(&g.storeURL, "store", "", "the session store's URL (default $SESSION_STORE_URL)")
	pf.BoolVar(&g.json, "json", false, "print the result as JSON on stdout (progress and messages stay on stderr)")
	pf.StringVar(&g.secretFile, "secret-file", "", "read the application's secret from this file (default $SESSION_SECRET)")
	pf.DurationVar(&g.timeout, "timeout", 5*time.Second, "how long to wait for the store to answer the first ping")
	pf.StringVar(&g.progress, "progress", "auto", "progress of long operations: auto (a bar on a terminal, lines otherwise), bar, lines or none")

	root.AddCommand(
		newPingCmd(g), newStatsCmd(g), newLsCmd(g), newRevokeCmd(g),
		newBackupCmd(g), newRestoreCmd(g), newCopyCmd(g), newMigrateCmd(g),
	)
	for _, c := range root.Commands() {
		c.Args = usageArgs(c.Args)
	}
	return root
}

// usageArgs makes the errors of an argument validator usage errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	if v == nil {
		v = cobra.NoArgs
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageErr(err)
		}
		return nil
	}
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	g := &globals{env: e, ctx: ctx}
	root := newRoot(g)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if !g.started && code == exitFailure {
		code = exitUsage // cobra refused the command line (unknown command, for example)
	}
	if g.json && !g.wrote {
		writeJSON(e.stdout, map[string]any{"error": err.Error(), "exit_code": code})
	}
	if code == exitInterrupted {
		fmt.Fprintln(e.stderr, "sessionctl: interrupted")
		return code
	}
	fmt.Fprintf(e.stderr, "sessionctl: %v\n", err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// result prints v as JSON with --json, and otherwise calls text.
func (g *globals) result(v any, text func(w io.Writer)) error {
	if g.json {
		return g.emitJSON(v)
	}
	text(g.env.stdout)
	return nil
}

// emitJSON writes v as the command's JSON result on stdout.
func (g *globals) emitJSON(v any) error {
	g.wrote = true
	return writeJSON(g.env.stdout, v)
}

// info writes a message for the operator on stderr.
func (g *globals) info(format string, args ...any) {
	fmt.Fprintf(g.env.stderr, format+"\n", args...)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && termIsTerminal(int(f.Fd()))
}
