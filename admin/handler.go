package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/degrade"
)

// DefaultTimeout bounds the store operations of one request of the handler
// (see WithTimeout).
const DefaultTimeout = 10 * time.Second

// MaxBodyBytes is the largest request body the handler reads; a larger one
// is refused with 413 Request Entity Too Large.
const MaxBodyBytes = 64 << 10

// Authorizer decides who may use the handler. It is called first for every
// request, before any other check, and returns the operator making the
// request (a name the audit log records as is, such as a staff user name)
// and whether that operator may use the handler. A request it refuses, or
// for which it returns an empty operator, is answered with 403 Forbidden
// and nothing else is done.
//
// It is where the application's own authentication is checked: the
// operator's session, a client certificate, a header set by an
// authenticating proxy. The handler has no authentication of its own.
type Authorizer func(r *http.Request) (operator string, ok bool)

// Handler serves the administration endpoints (see the package
// documentation). Create one with New; it is safe for concurrent use.
type Handler struct {
	m         *session.Manager
	authorize Authorizer
	cop       *http.CrossOriginProtection
	timeout   time.Duration
	logger    *slog.Logger
	routes    map[string]map[string]route // path, method
}

// An Option configures a Handler. Options are checked once, by New.
type Option func(*Handler) error

// WithTimeout bounds the store operations of each request (listing,
// revoking, health probes, counting) to d; the request's own context may
// end them earlier. The default is DefaultTimeout. Counting the sessions
// of a large Redis store scans all its keys: give it time.
func WithTimeout(d time.Duration) Option {
	return func(h *Handler) error {
		if d <= 0 {
			return fmt.Errorf("WithTimeout: %v is not positive", d)
		}
		h.timeout = d
		return nil
	}
}

// WithLogger sets the logger for failures the handler answers with 500
// Internal Server Error (their cause is logged, never sent). The default
// is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		h.logger = l
		return nil
	}
}

// WithCrossOriginProtection sets the cross-origin check of the handler's
// requests, for example one with trusted origins added
// (CrossOriginProtection.AddTrustedOrigin) when the administration page is
// served from another origin. The handler calls its Check method and
// answers a refused request itself (403, with a JSON error); c is not
// changed. The default is http.NewCrossOriginProtection(). The check is
// never switched off: the state-changing endpoints are what a cross-site
// request forgery would aim at.
func WithCrossOriginProtection(c *http.CrossOriginProtection) Option {
	return func(h *Handler) error {
		if c == nil {
			return errors.New("WithCrossOriginProtection: nil protection")
		}
		h.cop = c
		return nil
	}
}

// New returns the administration handler of m. authorize is required: the
// handler never serves a request it did not approve (a nil authorize is an
// error wrapping session.ErrInvalidConfig, as is a bad option).
//
// The handler serves paths relative to where it is mounted: mount it with
// http.StripPrefix, behind the session middleware when authorize reads the
// operator's session:
//
//	mux.Handle("/admin/api/", http.StripPrefix("/admin/api", h))
func New(m *session.Manager, authorize Authorizer, opts ...Option) (*Handler, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: admin.New: nil manager", session.ErrInvalidConfig)
	}
	if authorize == nil {
		return nil, fmt.Errorf("%w: admin.New: nil Authorizer: the handler must never be served unauthenticated", session.ErrInvalidConfig)
	}
	h := &Handler{m: m, authorize: authorize, timeout: DefaultTimeout, logger: slog.Default()}
	for _, o := range opts {
		if err := o(h); err != nil {
			return nil, fmt.Errorf("%w: admin.New: %w", session.ErrInvalidConfig, err)
		}
	}
	if h.cop == nil {
		h.cop = http.NewCrossOriginProtection()
	}
	h.routes = map[string]map[string]route{
		"/health":          {http.MethodGet: h.health},
		"/stores":          {http.MethodGet: h.stores},
		"/counts":          {http.MethodGet: h.counts},
		"/sessions":        {http.MethodGet: h.sessions},
		"/sessions/revoke": {http.MethodPost: h.revokeSession},
		"/users/revoke":    {http.MethodPost: h.revokeUser},
	}
	return h, nil
}

// route serves one endpoint for the operator the Authorizer approved.
type route func(w http.ResponseWriter, r *http.Request, operator string)

// ServeHTTP checks the request (authorization, then origin), and serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	operator, ok := h.authorize(r)
	if !ok || operator == "" {
		writeError(w, http.StatusForbidden, "forbidden")
		return
	}
	if err := h.cop.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	methods, found := h.routes[r.URL.Path]
	if !found {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	serve, found := methods[r.Method]
	if !found {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	serve(w, r.WithContext(ctx), operator)
}

// health serves GET /health: Manager.Health.
func (h *Handler) health(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, http.StatusOK, h.m.Health(r.Context()))
}

// storeJSON is one store of the chain in the answer of GET /stores.
type storeJSON struct {
	Name        string           `json:"name"`
	Role        string           `json:"role,omitempty"`
	Depth       int              `json:"depth"`
	SameAs      *int             `json:"same_as,omitempty"`
	Failover    *failoverJSON    `json:"failover,omitempty"`
	Migration   *migrationJSON   `json:"migration,omitempty"`
	Replication *replicationJSON `json:"replication,omitempty"`
}

type failoverJSON struct {
	State        string    `json:"state"`
	Since        time.Time `json:"since"`
	Failures     int       `json:"failures"`
	Pending      int       `json:"pending"`
	JournalBytes int64     `json:"journal_bytes"`
}

type migrationJSON struct {
	Phase string `json:"phase"`
}

type replicationJSON struct {
	LagMS float64 `json:"lag_ms"`
}

// stores serves GET /stores: the chain, with what each store reports of
// itself. It does no store I/O.
func (h *Handler) stores(w http.ResponseWriter, r *http.Request, _ string) {
	nodes := walk(h.m.Store())
	out := make([]storeJSON, len(nodes))
	for i, n := range nodes {
		out[i] = storeJSON{Name: n.name, Role: n.role, Depth: n.depth}
		if n.same >= 0 {
			out[i].SameAs = &n.same
		}
		if ds, ok := n.store.(*degrade.Store); ok {
			st := ds.Status()
			out[i].Failover = &failoverJSON{State: st.State.String(), Since: st.Since.UTC(), Failures: st.Failures, Pending: st.Pending, JournalBytes: st.Bytes}
		}
		if mg, ok := n.store.(Migration); ok {
			out[i].Migration = &migrationJSON{Phase: mg.MigrationPhase()}
		}
		if rp, ok := n.store.(Replication); ok {
			out[i].Replication = &replicationJSON{LagMS: millis(rp.ReplicationLag())}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"stores": out})
}

// countJSON is one store's count in the answer of GET /counts.
type countJSON struct {
	Name     string `json:"name"`
	Role     string `json:"role,omitempty"`
	Sessions *int   `json:"sessions,omitempty"`
	Error    string `json:"error,omitempty"`
}

// counts serves GET /counts: the number of records of each store of the
// chain that wraps no other, counted in parallel so that a hung store
// cannot make the others miss the deadline.
func (h *Handler) counts(w http.ResponseWriter, r *http.Request, _ string) {
	var out []countJSON
	var stores []backends.Store
	for _, n := range walk(h.m.Store()) {
		if n.leaf && n.same < 0 {
			out = append(out, countJSON{Name: n.name, Role: n.role})
			stores = append(stores, n.store)
		}
	}
	var wg sync.WaitGroup
	for i, st := range stores {
		c, ok := st.(backends.Counter)
		if !ok {
			out[i].Error = "unsupported"
			continue
		}
		wg.Go(func() {
			n, err := c.Count(r.Context())
			if err != nil {
				out[i].Error = errorClass(err)
				return
			}
			out[i].Sessions = &n
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"stores": out})
}

// sessionJSON is one session in the answer of GET /sessions.
type sessionJSON struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	LastSeen   time.Time `json:"last_seen"`
	Expires    time.Time `json:"expires"`
	Persistent bool      `json:"persistent"`
}

// sessions serves GET /sessions?user=U: the user's live sessions, oldest
// first, each named by its audit name (never its ID or handle).
func (h *Handler) sessions(w http.ResponseWriter, r *http.Request, _ string) {
	user := r.URL.Query().Get("user")
	if user == "" {
		writeError(w, http.StatusBadRequest, "missing user")
		return
	}
	infos, err := h.m.UserSessions(r.Context(), user)
	if err != nil {
		h.storeFailed(w, r, "listing sessions", err)
		return
	}
	out := make([]sessionJSON, len(infos))
	for i, in := range infos {
		out[i] = sessionJSON{Name: h.m.AuditName(in.Handle), Created: in.Created.UTC(), LastSeen: in.LastSeen.UTC(), Expires: in.Expires.UTC(), Persistent: in.Persistent}
	}
	writeJSON(w, http.StatusOK, struct {
		User     string        `json:"user"`
		Sessions []sessionJSON `json:"sessions"`
	}{user, out})
}

// revokeSessionRequest is the body of POST /sessions/revoke.
type revokeSessionRequest struct {
	User    string `json:"user"`
	Session string `json:"session"`
}

// revokeSession serves POST /sessions/revoke: one session of a user, by
// its audit name.
func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request, operator string) {
	var req revokeSessionRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.User == "" || req.Session == "" {
		writeError(w, http.StatusBadRequest, "user and session are required")
		return
	}
	revoked, err := h.m.RevokeSessionAs(r.Context(), operator, req.User, req.Session)
	if err != nil {
		h.storeFailed(w, r, "revoking a session", err)
		return
	}
	if !revoked {
		writeError(w, http.StatusNotFound, "no such session")
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": 1})
}

// revokeUserRequest is the body of POST /users/revoke.
type revokeUserRequest struct {
	User   string   `json:"user"`
	Except []string `json:"except"`
}

// revokeUser serves POST /users/revoke: every session of a user but those
// named in except.
func (h *Handler) revokeUser(w http.ResponseWriter, r *http.Request, operator string) {
	var req revokeUserRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.User == "" {
		writeError(w, http.StatusBadRequest, "user is required")
		return
	}
	var keep []string
	if len(req.Except) > 0 {
		infos, err := h.m.UserSessions(r.Context(), req.User)
		if err != nil {
			h.storeFailed(w, r, "listing sessions", err)
			return
		}
		for _, in := range infos {
			for _, name := range req.Except {
				if h.m.AuditName(in.Handle) == name {
					keep = append(keep, in.Handle)
				}
			}
		}
	}
	n, err := h.m.RevokeUserAs(r.Context(), operator, req.User, keep...)
	if err != nil {
		h.storeFailed(w, r, "revoking sessions", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// readJSON decodes the JSON body of a state-changing request into v. It
// refuses, and answers, a request whose Content-Type is not
// application/json (such a request can be sent cross-site by a plain HTML
// form; this one needs a script, and the browser's CORS rules), a body
// over MaxBodyBytes, malformed JSON, unknown fields and trailing data.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
		err = errors.New("trailing data")
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "malformed JSON body")
		return false
	}
	return true
}

// storeFailed answers a request whose store operation failed: 501 when the
// store keeps no user index, 503 when it cannot be reached or did not
// answer in time, 500 (with the cause logged) otherwise.
func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, session.ErrNoUserIndex):
		writeError(w, http.StatusNotImplemented, "the session store keeps no user index")
	case session.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "session store unavailable")
	default:
		h.logger.ErrorContext(r.Context(), "session admin: "+what+" failed", "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// errorClass names the kind of a store error without its text, which can
// name hosts and addresses.
func errorClass(err error) string {
	switch {
	case backends.IsMisconfigured(err):
		return "misconfigured"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case backends.IsUnavailable(err):
		return "unavailable"
	}
	return "error"
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
