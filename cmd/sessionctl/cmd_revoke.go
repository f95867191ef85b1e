package main

import (
	"errors"
	"fmt"
	"io"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/storeurl"
)

type revokeResult struct {
	User     string `json:"user,omitempty"`
	Session  string `json:"session,omitempty"`
	Revoked  int    `json:"revoked"`
	Kept     string `json:"kept,omitempty"`
	Operator string `json:"operator"`
}

func newRevokeCmd(g *globals) *cobra.Command {
	var userID, except, operator string
	cmd := &cobra.Command{
		Use:   "revoke (--user USER [--except NAME] | NAME [--user USER])",
		Short: "Log a user out everywhere, or end one session (needs the secret)",
		Long: `revoke --user USER ends every session of the user ("log out everywhere");
with --except NAME it keeps that one session (a name from ls).

revoke NAME ends the one session of that audit name. With --user it looks
only among that user's sessions; without, it scans the store for it (a
progress bar on a terminal), which takes as long as a stats run.

A revoked session's next request starts a fresh, anonymous session. The
revocation is audited as the application's own (event user_revoked, cause
admin) with the operator (--operator, default sessionctl:$USER); the audit
record is written on stderr.

Needs the application's secret (SESSION_SECRET or --secret-file): session
names and user bindings derive from it.`,
		Example: `  SESSION_SECRET=… sessionctl revoke --user alice
  SESSION_SECRET=… sessionctl revoke --user alice --except Xk3v9QaP0bLm
  SESSION_SECRET=… sessionctl revoke Xk3v9QaP0bLm --operator oncall:bob`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			switch {
			case name == "" && userID == "":
				return usagef("revoke needs --user USER or a session NAME")
			case name != "" && except != "":
				return usagef("--except goes with --user alone, not with a session NAME")
			}
			if operator == "" {
				operator = "sessionctl"
				if u := g.env.getenv("USER"); u != "" {
					operator += ":" + u
				} else if u, err := user.Current(); err == nil && u.Username != "" {
					operator += ":" + u.Username
				}
			}
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			m, err := g.manager(st, true, managerOptions{})
			if err != nil {
				return err
			}
			res := revokeResult{User: userID, Session: name, Operator: operator}
			if name == "" {
				var keep []string
				if except != "" {
					h, err := handleOf(g, m, userID, except)
					if err != nil {
						return err
					}
					keep, res.Kept = []string{h}, except
				}
				res.Revoked, err = m.RevokeUserAs(g.ctx, operator, userID, keep...)
			} else {
				res.Revoked, err = revokeOne(g, m, st, &res, operator)
			}
			if err != nil {
				return fmt.Errorf("revoke: %w (revoked %d)", err, res.Revoked)
			}
			if name != "" && res.Revoked == 0 {
				return fmt.Errorf("revoke %s: %w", name, errNoSuchSession)
			}
			return g.result(res, func(w io.Writer) {
				switch {
				case name != "":
					fmt.Fprintf(w, "revoked session %s of %s\n", name, res.User)
				default:
					fmt.Fprintf(w, "revoked %d session(s) of %s", res.Revoked, userID)
					if res.Kept != "" {
						fmt.Fprintf(w, ", kept %s", res.Kept)
					}
					fmt.Fprintln(w)
				}
			})
		},
	}
	cmd.Flags().StringVar(&userID, "user", "", "the user ID")
	cmd.Flags().StringVar(&except, "except", "", "with --user: the name of a session to keep")
	cmd.Flags().StringVar(&operator, "operator", "", "who revokes, for the audit record (default sessionctl:$USER)")
	return cmd
}

// errNoSuchSession is returned when a name matches none of a user's live
// sessions.
var errNoSuchSession = errors.New("no live session of that name")

// handleOf returns the handle of userID's live session named name.
func handleOf(g *globals, m *session.Manager, userID, name string) (string, error) {
	infos, err := m.UserSessions(g.ctx, userID)
	if err != nil {
		return "", fmt.Errorf("listing %s's sessions: %w", userID, err)
	}
	for _, in := range infos {
		if m.AuditName(in.Handle) == name {
			return in.Handle, nil
		}
	}
	return "", fmt.Errorf("--except %s: %w among %s's (nothing revoked; see sessionctl ls --user %s)", name, errNoSuchSession, userID, userID)
}

// revokeOne revokes the session named res.Session; without res.User it
// finds the session's user by scanning the store.
func revokeOne(g *globals, m *session.Manager, st backends.Store, res *revokeResult, operator string) (int, error) {
	if res.User == "" {
		user, found, err := findSession(g, m, st, res.Session)
		if err != nil {
			return 0, err
		}
		if !found {
			return 0, nil
		}
		if user == "" {
			return 0, fmt.Errorf("session %s is anonymous (bound to no user): it holds no login to revoke", res.Session)
		}
		res.User = user
	}
	ok, err := m.RevokeSessionAs(g.ctx, operator, res.User, res.Session)
	if ok {
		return 1, err
	}
	return 0, err
}

// findSession scans the store for the session named name and returns the
// user it is bound to.
func findSession(g *globals, m *session.Manager, st backends.Store, name string) (user string, found bool, err error) {
	it, ok := st.(backends.Iterator)
	if !ok {
		return "", false, fmt.Errorf("the store (%s) cannot be iterated: give --user", storeKind(st))
	}
	total := int64(-1)
	if c, ok := st.(backends.Counter); ok {
		if n, err := c.Count(g.ctx); err == nil {
			total = int64(n)
		}
	}
	bar := g.newProgress("searching", total)
	var seen int64
	var lerr error
	err = it.Keys(g.ctx, func(key string) bool {
		seen++
		if seen%500 == 0 {
			bar.update(seen, "")
		}
		if m.AuditName(key) != name {
			return true
		}
		rec, ok, err := st.Load(g.ctx, key)
		if err != nil {
			lerr = err
			return false
		}
		if ok {
			d, err := m.Codec().Decode(rec.Blob, []byte(key))
			if err != nil {
				lerr = fmt.Errorf("session %s cannot be read with this secret: %w", name, err)
				return false
			}
			user, found = d.UserID, true
		}
		return false
	})
	bar.update(seen, "")
	bar.finish()
	if g.ctx.Err() != nil {
		return "", false, interrupted(g.ctx.Err())
	}
	if err == nil {
		err = lerr
	}
	return user, found, err
}
