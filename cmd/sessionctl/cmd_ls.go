package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends/storeurl"
)

// sessionJSON is one session as ls prints it: never its ID or store key,
// only its audit name.
type sessionJSON struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	LastSeen   time.Time `json:"last_seen"`
	Expires    time.Time `json:"expires"`
	Persistent bool      `json:"persistent"`
	Device     string    `json:"device,omitempty"`
}

func newLsCmd(g *globals) *cobra.Command {
	var user, deviceKey string
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "ls --user USER",
		Short: "List a user's sessions (needs the secret)",
		Long: `ls lists the live sessions bound to a user (the user ID the application
gives Session.SetUser), oldest first: created, last seen, expires, whether
it is a remember-me session, and the device when the session holds one.

A session is shown by its audit name (12 characters, the "session"
attribute of the application's audit log), never by its ID or store key;
revoke takes that name.

Needs the application's secret (SESSION_SECRET or --secret-file): the user
binding and the dates are inside the encrypted session. "Last seen" is
derived from the idle timeout: give the application's (--idle-timeout; the
example application uses 2h).`,
		Example: `  SESSION_SECRET=… sessionctl ls --user alice --idle-timeout 2h
  sessionctl ls --user alice --secret-file /run/secrets/session --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if user == "" {
				return usagef("ls needs --user")
			}
			st, err := g.openStore(g.storeURL, "--store")
			if err != nil {
				return err
			}
			defer storeurl.Close(st)
			m, err := g.manager(st, true, managerOptions{idle: idle})
			if err != nil {
				return err
			}
			list, err := listSessions(g, m, user, deviceKey)
			if err != nil {
				return err
			}
			return g.result(list, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintf(w, "%s has no live sessions\n", user)
					return
				}
				devices := slices.ContainsFunc(list, func(s sessionJSON) bool { return s.Device != "" })
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprint(tw, "NAME\tCREATED\tLAST SEEN\tEXPIRES\tREMEMBER")
				if devices {
					fmt.Fprint(tw, "\tDEVICE")
				}
				fmt.Fprintln(tw)
				for _, s := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", s.Name, fmtTime(s.Created), fmtTime(s.LastSeen), fmtTime(s.Expires), yesNo(s.Persistent))
					if devices {
						dev := s.Device
						if dev == "" {
							dev = "-"
						}
						fmt.Fprint(tw, "\t"+dev)
					}
					fmt.Fprintln(tw)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user ID")
	cmd.Flags().DurationVar(&idle, "idle-timeout", session.DefaultIdleTimeout, "the application's idle timeout (session.WithIdleTimeout), for \"last seen\"")
	cmd.Flags().StringVar(&deviceKey, "device-key", "device", "the session value that names the device, shown when present")
	return cmd
}

// listSessions returns the live sessions of user.
func listSessions(g *globals, m *session.Manager, user, deviceKey string) ([]sessionJSON, error) {
	infos, err := m.UserSessions(g.ctx, user)
	if err != nil {
		return nil, fmt.Errorf("listing %s's sessions: %w", user, err)
	}
	out := make([]sessionJSON, 0, len(infos))
	for _, in := range infos {
		s := sessionJSON{
			Name: m.AuditName(in.Handle), Created: in.Created.UTC(), LastSeen: in.LastSeen.UTC(),
			Expires: in.Expires.UTC(), Persistent: in.Persistent,
		}
		if deviceKey != "" {
			s.Device = device(g, m, in.Handle, deviceKey)
		}
		out = append(out, s)
	}
	return out, nil
}

// device returns the string value stored under deviceKey in the session
// with the given handle, or "".
func device(g *globals, m *session.Manager, handle, deviceKey string) string {
	rec, found, err := m.Store().Load(g.ctx, handle)
	if err != nil || !found {
		return ""
	}
	d, err := m.Codec().Decode(rec.Blob, []byte(handle))
	if err != nil {
		return ""
	}
	raw, ok := d.Values[deviceKey]
	if !ok {
		return ""
	}
	var v string
	if err := m.Codec().Serializer().Unmarshal(raw, &v); err != nil {
		var j any
		if json.Unmarshal(raw, &j) != nil {
			return ""
		}
		b, _ := json.Marshal(j)
		return string(b)
	}
	return v
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
