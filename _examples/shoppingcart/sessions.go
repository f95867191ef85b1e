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
	Current    bool // the session of this request
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
		})
	}
	return out, nil
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
