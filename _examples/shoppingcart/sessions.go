package main

import (
	"net/http"
	"time"

	"github.com/sessionkit/session"
)

// sessionView is one of the user's sessions as the API and the "my
// sessions" page show it.
type sessionView struct {
	ID         string // the session's handle: identifies it, but is not the session ID
	Created    time.Time
	LastSeen   time.Time
	Expires    time.Time
	Persistent bool
	Current    bool   // the session of this request
	IP         string // the network it was last used from (a /24 or /48)
	Device     string // browser and system, such as "Firefox on Linux"
}

// userSessions lists the sessions of user, oldest first, marking the
// current one.
func (a *app) userSessions(r *http.Request, user string) ([]sessionView, error) {
	s := session.MustFromContext(r.Context())
	current, err := s.Handle()
	if err != nil {
		return nil, err
	}
	infos, err := a.sessions.UserSessions(r.Context(), user)
	if err != nil {
		return nil, err
	}
	out := make([]sessionView, 0, len(infos))
	for _, in := range infos {
		out = append(out, sessionView{
			ID:         in.Handle,
			Created:    in.Created,
			LastSeen:   in.LastSeen,
			Expires:    in.Expires,
			Persistent: in.Persistent,
			Current:    in.Handle == current,
			IP:         in.IP,
			Device:     in.UserAgent,
		})
	}
	return out, nil
}

// revokeSession ends the session of user whose handle is id and reports
// whether there was one, and whether it was the current one: that one is
// destroyed (its cookie expired), another one revoked.
func (a *app) revokeSession(r *http.Request, user, id string) (revoked, current bool, err error) {
	s := session.MustFromContext(r.Context())
	h, err := s.Handle()
	if err != nil {
		return false, false, err
	}
	if id == h {
		return true, true, s.Destroy()
	}
	revoked, err = a.sessions.RevokeSession(r.Context(), user, id)
	return revoked, false, err
}

// revokeOthers ends every session of user except the current one and
// returns how many it ended.
func (a *app) revokeOthers(r *http.Request, user string) (int, error) {
	current, err := session.MustFromContext(r.Context()).Handle()
	if err != nil {
		return 0, err
	}
	return a.sessions.RevokeUser(r.Context(), user, current)
}
