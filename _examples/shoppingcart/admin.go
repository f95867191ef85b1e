package main

import (
	"net/http"
	"net/url"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/admin"
)

// newAdmin returns the administration pages of the shop, for the shop's
// user adminUser (config.AdminUser), to be mounted at /admin/, or nil when
// adminUser is empty:
//
//	GET /admin/       a page with the store's health, the sessions of a user
//	                  and buttons to revoke them (static/admin.js calls the API)
//	/admin/api/...    the session library's admin handler (package admin)
//
// Both run inside the session middleware: the admin is whoever the
// session's login says is adminUser, authenticated by the shop's own login
// form. Anyone else gets 403 (the page sends visitors who are not logged in
// to the login form first). Revocations are written to the audit log with
// the admin as the operator.
func (a *app) newAdmin(adminUser string) (http.Handler, error) {
	if adminUser == "" {
		return nil, nil
	}
	isAdmin := func(r *http.Request) (string, bool) {
		s, err := session.FromContext(r.Context())
		if err != nil {
			return "", false
		}
		user, err := s.User()
		return user, err == nil && user == adminUser
	}
	api, err := admin.New(a.sessions, isAdmin, admin.WithLogger(a.log))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/api/", http.StripPrefix("/admin/api", api))
	mux.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := isAdmin(r); !ok {
			a.adminRefused(w, r)
			return
		}
		a.render(w, r, "admin.html", http.StatusOK, &page{Title: "Administration", Nav: "admin"})
	})
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		a.renderError(w, r, http.StatusNotFound, "not found")
	})
	return mux, nil
}

// adminRefused answers a request for the administration page that is not
// the admin's: the login form for a visitor who is not logged in, 403 for
// any other user.
func (a *app) adminRefused(w http.ResponseWriter, r *http.Request) {
	user, err := session.MustFromContext(r.Context()).User()
	switch {
	case err != nil:
		a.pageSessionError(w, r, err)
	case user == "":
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
	default:
		a.renderError(w, r, http.StatusForbidden, "This page is for the shop's administrator.")
	}
}
