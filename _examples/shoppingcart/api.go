package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sessionkit/session"
)

// maxBodyBytes limits the body of every API request.
const maxBodyBytes = 64 << 10

// apiProducts answers GET /api/products with the catalog. It does not touch
// the session: no store round trip, no cookie.
func (a *app) apiProducts(w http.ResponseWriter, r *http.Request) {
	type product struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Price int64  `json:"price"`
	}
	all := a.catalog.All()
	out := make([]product, len(all))
	for i, p := range all {
		out[i] = product{p.ID, p.Name, p.Price}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiCart answers GET /api/cart.
func (a *app) apiCart(w http.ResponseWriter, r *http.Request) {
	s := session.MustFromContext(r.Context())
	cart, err := a.loadCart(s)
	if err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cart)
}

// addItemRequest is the body of POST /api/cart/items. A missing quantity
// means 1.
type addItemRequest struct {
	ProductID string `json:"productId"`
	Quantity  *int   `json:"quantity"`
}

// apiAddItem answers POST /api/cart/items.
func (a *app) apiAddItem(w http.ResponseWriter, r *http.Request) {
	var req addItemRequest
	if !a.readJSON(w, r, &req) {
		return
	}
	if req.ProductID == "" {
		writeError(w, http.StatusBadRequest, "productId is required")
		return
	}
	qty := 1
	if req.Quantity != nil {
		qty = *req.Quantity
	}
	s := session.MustFromContext(r.Context())
	err := a.addToCart(s, req.ProductID, qty)
	if err == nil {
		err = commit(s)
	}
	if err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	a.apiCart(w, r)
}

// apiRemoveItem answers DELETE /api/cart/items/{productId}.
func (a *app) apiRemoveItem(w http.ResponseWriter, r *http.Request) {
	s := session.MustFromContext(r.Context())
	err := a.removeFromCart(s, r.PathValue("productId"))
	if err == nil {
		err = commit(s)
	}
	if err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	a.apiCart(w, r)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// apiLogin answers POST /api/login.
func (a *app) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !a.readJSON(w, r, &req) {
		return
	}
	if !checkPassword(req.Username, req.Password) {
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	s := session.MustFromContext(r.Context())
	if err := a.login(s, req.Username, false); err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": req.Username})
}

// login binds the session to user: a new session ID first (the ID the
// visitor had before logging in, which someone else may know, becomes
// worthless), then the user binding, which lets the shop list and revoke
// the user's sessions. The cart is kept. remember gives the session a
// longer life and a persistent cookie.
func (a *app) login(s *session.Session, user string, remember bool) error {
	if err := s.Renew(); err != nil {
		return err
	}
	if err := s.SetUser(user); err != nil {
		return err
	}
	if remember {
		return s.SetLifetime(7*24*time.Hour, 30*24*time.Hour)
	}
	return nil
}

// apiLogout answers POST /api/logout: the session is destroyed (its record
// deleted, the cookie expired) and 204 No Content is returned.
func (a *app) apiLogout(w http.ResponseWriter, r *http.Request) {
	s := session.MustFromContext(r.Context())
	if err := s.Destroy(); err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiMe answers GET /api/me.
func (a *app) apiMe(w http.ResponseWriter, r *http.Request) {
	user, ok := a.apiUser(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": user})
}

// sessionJSON is one entry of GET /api/sessions.
type sessionJSON struct {
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	LastSeen   time.Time `json:"lastSeen"`
	Expires    time.Time `json:"expires"`
	Persistent bool      `json:"persistent"`
	Current    bool      `json:"current"`
	IP         string    `json:"ip"`     // network last used from, "" when unknown
	Device     string    `json:"device"` // browser and system
}

// apiSessions answers GET /api/sessions.
func (a *app) apiSessions(w http.ResponseWriter, r *http.Request) {
	user, ok := a.apiUser(w, r)
	if !ok {
		return
	}
	list, err := a.userSessions(r, user)
	if err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	out := make([]sessionJSON, len(list))
	for i, v := range list {
		out[i] = sessionJSON(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// apiRevokeOthers answers POST /api/sessions/revoke-others with the number
// of sessions it ended.
func (a *app) apiRevokeOthers(w http.ResponseWriter, r *http.Request) {
	user, ok := a.apiUser(w, r)
	if !ok {
		return
	}
	n, err := a.revokeOthers(r, user)
	if err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// apiRevokeSession answers POST /api/sessions/{id}/revoke: it ends the one
// session of the user with that id (the current one included) and says
// whether there was one.
func (a *app) apiRevokeSession(w http.ResponseWriter, r *http.Request) {
	user, ok := a.apiUser(w, r)
	if !ok {
		return
	}
	revoked, _, err := a.revokeSession(r, user, r.PathValue("id"))
	if err != nil {
		a.apiSessionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": revoked})
}

// apiUser returns the logged-in user, or answers 401 and returns false.
func (a *app) apiUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, err := session.MustFromContext(r.Context()).User()
	if err != nil {
		a.apiSessionError(w, r, err)
		return "", false
	}
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return "", false
	}
	return user, true
}

// apiSessionError answers with the status of a refused cart change, 503
// when the session store is unreachable, or 500.
func (a *app) apiSessionError(w http.ResponseWriter, r *http.Request, err error) {
	if ce, ok := asCartError(err); ok {
		writeError(w, ce.status, ce.msg)
		return
	}
	status, msg := a.sessionErrorStatus(r, err)
	writeError(w, status, msg)
}

// sessionErrorStatus logs a session error and returns the status and the
// message to show.
func (a *app) sessionErrorStatus(r *http.Request, err error) (int, string) {
	switch {
	case errors.Is(err, session.ErrTooLarge):
		return http.StatusConflict, "the session is full"
	case session.IsUnavailable(err):
		a.log.WarnContext(r.Context(), "session store unavailable", "path", r.URL.Path, "error", err)
		return http.StatusServiceUnavailable, "session store unavailable"
	default:
		a.log.ErrorContext(r.Context(), "session error", "path", r.URL.Path, "error", err)
		return http.StatusInternalServerError, "internal error"
	}
}

// readJSON decodes the request body, at most maxBodyBytes, into v. On
// failure it answers 413 or 400 and returns false. The client gets a plain
// message; the decoder's own (which names Go types and struct fields) goes
// to the log.
func (a *app) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than 64 KiB")
			return false
		}
		writeError(w, http.StatusBadRequest, "could not read the request body")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		a.log.InfoContext(r.Context(), "malformed JSON request", "path", r.URL.Path, "error", err)
		msg := "malformed JSON"
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			msg = "malformed JSON: a value has the wrong type"
		}
		writeError(w, http.StatusBadRequest, msg)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "malformed JSON: data after the value")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
