package session_test

// The application the consistency checker drives: a cart of items, one key
// per item ("item:<n>"), with login, logout, remember-me and revocation.
// Every successful response is the session as the request left it, after
// the save: its handle, its user and its items (checkerObs, as JSON).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/session"
)

// Response headers of the checker's application.
const (
	hdrAllowed = "X-Checker-Allowed" // a 5xx the model allows: RevokeUser found the user index unavailable
	hdrError   = "X-Checker-Error"   // why a request failed
	hdrHandle  = "X-Checker-Handle"  // the session's handle, on failures
	hdrDegrade = "X-Session-Degraded"
)

// checkerObs is the body of every successful response.
type checkerObs struct {
	H     string `json:"h"`             // Session.Handle after the save
	U     string `json:"u"`             // Session.User
	Items []int  `json:"items"`         // the items, sorted
	Had   bool   `json:"had,omitempty"` // remove: the item was there when the request loaded
	N     int    `json:"n,omitempty"`   // revocations: sessions revoked
}

// Lifetimes of the checker's manager and of its remember-me sessions.
const (
	chkIdle          = 10 * time.Minute
	chkLifetime      = 30 * time.Minute
	chkRememberIdle  = 20 * time.Minute
	chkRememberLife  = time.Hour
	chkTouchInterval = time.Minute
)

// chkGate holds a slow request inside its handler: the handler closes
// loaded once it has loaded the session and waits for release.
type chkGate struct {
	loaded  chan struct{}
	release chan struct{}
}

type chkGateKey struct{}

func itemKey(n int) string { return "item:" + strconv.Itoa(n) }

// checkerApp returns the application's handler (without the middleware).
func checkerApp(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s := session.MustFromContext(r.Context())
			o, err := fn(w, r, s)
			if err != nil {
				chkFail(w, s, err, o.N < 0)
				return
			}
			w.WriteHeader(http.StatusOK) // the middleware saves here
			obs, err := chkObserve(s)
			if err != nil {
				return // the error handler answered
			}
			obs.Had, obs.N = o.Had, o.N
			json.NewEncoder(w).Encode(obs)
		})
	}
	item := func(r *http.Request, name string) (string, error) {
		n, err := strconv.Atoi(r.PathValue(name))
		if err != nil {
			return "", err
		}
		return itemKey(n), nil
	}
	handle("GET /read", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		_, err := s.Keys()
		return checkerObs{}, err
	})
	handle("POST /add/{n}", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		k, err := item(r, "n")
		if err != nil {
			return checkerObs{}, err
		}
		return checkerObs{}, s.Set(k, r.PathValue("n"))
	})
	handle("POST /remove/{n}", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		k, err := item(r, "n")
		if err != nil {
			return checkerObs{}, err
		}
		had, err := s.Has(k)
		if err != nil {
			return checkerObs{}, err
		}
		return checkerObs{Had: had}, s.Delete(k)
	})
	handle("POST /clear", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		return checkerObs{}, s.Clear()
	})
	// An explicit Commit in the middle of the handler, then a further Set
	// that the middleware saves.
	handle("POST /commit-add/{n}/{m}", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		k1, err := item(r, "n")
		if err != nil {
			return checkerObs{}, err
		}
		k2, err := item(r, "m")
		if err != nil {
			return checkerObs{}, err
		}
		if err := s.Set(k1, r.PathValue("n")); err != nil {
			return checkerObs{}, err
		}
		if err := s.Commit(); err != nil {
			return checkerObs{}, err
		}
		return checkerObs{}, s.Set(k2, r.PathValue("m"))
	})
	handle("POST /login/{u}", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		if err := s.Renew(); err != nil {
			return checkerObs{}, err
		}
		return checkerObs{}, s.SetUser(r.PathValue("u"))
	})
	handle("POST /remember", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		return checkerObs{}, s.SetLifetime(chkRememberIdle, chkRememberLife)
	})
	handle("POST /logout", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		return checkerObs{}, s.Destroy()
	})
	// Log out everywhere else.
	handle("POST /revoke-others", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		u, err := s.User()
		if err != nil || u == "" {
			return checkerObs{}, err
		}
		h, err := s.Handle()
		if err != nil {
			return checkerObs{}, err
		}
		n, err := m.RevokeUser(r.Context(), u, h)
		if err != nil {
			n = -1 // the user index may be unavailable
		}
		return checkerObs{N: n}, err
	})
	// An administrator revokes every session of a user; the request's own
	// session is not touched.
	mux.HandleFunc("POST /revoke-user/{u}", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.RevokeUser(r.Context(), r.PathValue("u"))
		if err != nil {
			chkFail(w, nil, err, true)
			return
		}
		json.NewEncoder(w).Encode(checkerObs{N: n})
	})
	// A slow request: it loads the session, waits at its gate, then acts.
	handle("POST /slow/{action}/{arg}", func(w http.ResponseWriter, r *http.Request, s *session.Session) (checkerObs, error) {
		if _, err := s.Keys(); err != nil {
			return checkerObs{}, err
		}
		g := r.Context().Value(chkGateKey{}).(*chkGate)
		close(g.loaded)
		<-g.release
		switch r.PathValue("action") {
		case "add":
			k, err := item(r, "arg")
			if err != nil {
				return checkerObs{}, err
			}
			return checkerObs{}, s.Set(k, r.PathValue("arg"))
		case "remove":
			k, err := item(r, "arg")
			if err != nil {
				return checkerObs{}, err
			}
			had, err := s.Has(k)
			if err != nil {
				return checkerObs{}, err
			}
			return checkerObs{Had: had}, s.Delete(k)
		case "login":
			if err := s.Renew(); err != nil {
				return checkerObs{}, err
			}
			return checkerObs{}, s.SetUser(r.PathValue("arg"))
		case "logout":
			return checkerObs{}, s.Destroy()
		}
		return checkerObs{}, nil // read
	})
	return mux
}

// chkObserve reads what the session holds after the save.
func chkObserve(s *session.Session) (checkerObs, error) {
	h, err := s.Handle()
	if err != nil {
		return checkerObs{}, err
	}
	u, err := s.User()
	if err != nil {
		return checkerObs{}, err
	}
	keys, err := s.Keys()
	if err != nil {
		return checkerObs{}, err
	}
	o := checkerObs{H: h, U: u, Items: []int{}}
	for _, k := range keys {
		if n, ok := strings.CutPrefix(k, "item:"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				o.Items = append(o.Items, i)
			}
		}
	}
	slices.Sort(o.Items)
	return o, nil
}

// chkFail answers a request whose handler got an error from the session.
// The only error the model allows is a store outage reported by RevokeUser
// (the user index needs the primary store: 503 with hdrAllowed); every
// other is a 500.
func chkFail(w http.ResponseWriter, s *session.Session, err error, revoking bool) {
	code := http.StatusInternalServerError
	if revoking && session.IsUnavailable(err) {
		code = http.StatusServiceUnavailable
		w.Header().Set(hdrAllowed, "user index unavailable")
	}
	chkFailHeaders(w, s, err)
	http.Error(w, err.Error(), code)
}

func chkFailHeaders(w http.ResponseWriter, s *session.Session, err error) {
	w.Header().Set(hdrError, strings.ReplaceAll(err.Error(), "\n", " "))
	if s != nil {
		if h, herr := s.Handle(); herr == nil {
			w.Header().Set(hdrHandle, h)
		}
	}
}

// chkErrorHandler is the manager's error handler: a save that failed.
func chkErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	s, _ := session.FromContext(r.Context())
	chkFailHeaders(w, s, errors.New("save failed: "+err.Error()))
	http.Error(w, "save failed: "+err.Error(), http.StatusInternalServerError)
}

// chkRequest builds a request of the application with the session token
// tok ("" for none) and, for a slow request, its gate.
func chkRequest(ctx context.Context, method, path, tok string, g *chkGate) *http.Request {
	if g != nil {
		ctx = context.WithValue(ctx, chkGateKey{}, g)
	}
	r := httptest.NewRequestWithContext(ctx, method, "https://checker.test"+path, nil)
	if tok != "" {
		r.AddCookie(&http.Cookie{Name: "session", Value: tok})
	}
	return r
}
