// Command sessionctl inspects and maintains the session stores of
// applications built on github.com/sessionkit/session, from outside the
// application: how many sessions and how big, is the store healthy, log a
// user out everywhere, back up and restore, copy to another store, and move
// an online migration from phase to phase.
//
// Every command takes the store as a URL, in the forms of package
// backends/storeurl (--store, or the SESSION_STORE_URL environment
// variable, the same variable the example application reads):
//
//	sessionctl ping  --store 'redis://127.0.0.1:6379/0?key_prefix=shoppingcart:'
//	sessionctl stats
//	sessionctl ls --user alice
//	sessionctl revoke --user alice
//	sessionctl backup sessions.jsonl
//	sessionctl restore sessions.jsonl
//	sessionctl copy --from redis://old:6379/0 --to redis://new:6379/0
//	sessionctl migrate status
//
// Commands that read who a session belongs to, or what it holds, need the
// application's secret (SESSION_SECRET, or --secret-file): ls and revoke
// always, stats for its per-user figures, backup, restore and copy to carry
// the user index. The secret never leaves the process, and no command
// prints a session ID: sessions are named by their audit name, the short
// name the application's audit log gives them.
//
// Exit codes: 0 success, 1 failure, 2 usage error (a bad flag, argument or
// URL, a missing secret), 3 the store cannot be reached or refuses the
// connection, 130 interrupted (Ctrl-C or SIGTERM; the message says how to
// resume).
//
// The command line is built on github.com/spf13/cobra: it is the most used
// command-line library in Go (kubectl, docker, gh, hugo), so its conventions
// are the ones operators know; it generates shell completion (sessionctl
// completion bash|zsh|fish|powershell); and it gives every command the same
// --help layout, with usage, flags and examples, from one declaration.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sessionkit/session/backends/redisstore"
)

func main() {
	// go-redis's own messages (failed dials) repeat what the commands
	// report as errors: keep them off the terminal.
	redisstore.SetLogger(slog.New(slog.DiscardHandler), 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	code := run(ctx, os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}
