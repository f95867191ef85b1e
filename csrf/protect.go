package csrf

import (
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strings"

	"github.com/sessionkit/session"
)

// Defaults of a Protector's settings.
const (
	// DefaultHeader is the request header that carries the token of a
	// fetch or XMLHttpRequest call.
	DefaultHeader = "X-CSRF-Token"
	// DefaultField is the form field that carries the token of a form.
	DefaultField = "csrf_token"
	// DefaultMaxFormSize is the largest form body the middleware reads to
	// find the token: 10 MiB, net/http's own limit for URL-encoded forms.
	DefaultMaxFormSize = 10 << 20
)

// multipartMemory is the most of a multipart form kept in memory while
// looking for the token; larger files go to temporary files, as with
// net/http's FormValue.
const multipartMemory = 32 << 20

var (
	// ErrRejected is matched (errors.Is) by every error of a request that
	// failed the check: ErrMissingToken, ErrInvalidToken, ErrNoSecret.
	ErrRejected = errors.New("csrf: request rejected")

	// ErrMissingToken: the request carried no token, neither in the header
	// nor in the form.
	ErrMissingToken = fmt.Errorf("%w: no token", ErrRejected)

	// ErrInvalidToken: the token is malformed, or it does not belong to
	// this session (another session's token, a forged one, or one from
	// before Rotate).
	ErrInvalidToken = fmt.Errorf("%w: invalid token", ErrRejected)

	// ErrNoSecret: the session holds no valid secret, so no token can
	// match: the session is new or has expired since the form was served,
	// its user changed (login, logout), or Rotate was called.
	ErrNoSecret = fmt.Errorf("%w: the session has no token secret (new or expired session, or a login since the form was served)", ErrRejected)

	// ErrBadForm: the middleware could not read the form to find the
	// token (a malformed body, or one over WithMaxFormSize: then
	// errors.As finds the *http.MaxBytesError).
	ErrBadForm = errors.New("csrf: cannot read the form")
)

// A Protector checks that requests with an unsafe method carry a token of
// their session (the synchronizer token pattern). Create one with New; it
// is immutable and safe for concurrent use.
type Protector struct {
	header       string
	field        string
	maxForm      int64
	errorHandler func(http.ResponseWriter, *http.Request, error)
}

// An Option configures a Protector. Options are checked once, by New.
type Option func(*Protector) error

// WithHeader sets the request header that carries the token of scripted
// requests (default DefaultHeader, "X-CSRF-Token").
func WithHeader(name string) Option {
	return func(p *Protector) error {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return fmt.Errorf("WithHeader: invalid header name %q", name)
		}
		p.header = name
		return nil
	}
}

// WithField sets the form field that carries the token of a form (default
// DefaultField, "csrf_token"). TemplateField uses it.
func WithField(name string) Option {
	return func(p *Protector) error {
		if name == "" || strings.ContainsAny(name, "\"'<>&= \t\r\n") {
			return fmt.Errorf("WithField: invalid field name %q", name)
		}
		p.field = name
		return nil
	}
}

// WithMaxFormSize sets the largest form body, in bytes, that the middleware
// reads to find the token in a form (default DefaultMaxFormSize, 10 MiB).
// The limit stays on the request's body for the handler; a larger body
// gets 413 from the default error handler. Requests that carry the token
// in the header are not read.
func WithMaxFormSize(n int64) Option {
	return func(p *Protector) error {
		if n <= 0 {
			return fmt.Errorf("WithMaxFormSize: %d is not positive", n)
		}
		p.maxForm = n
		return nil
	}
}

// WithErrorHandler sets what answers a request that the middleware does not
// let through. err matches ErrRejected (errors.Is) when the request failed
// the check: then the answer should be 403 Forbidden, and the event has
// already been reported. Otherwise err is the session's error (the store
// cannot be reached: session.IsUnavailable) or the form's (a body over the
// limit: *http.MaxBytesError). The default answers 403, 503, 413, 400 or
// 500 in plain text, without details.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(p *Protector) error {
		if h == nil {
			return errors.New("WithErrorHandler: nil handler")
		}
		p.errorHandler = h
		return nil
	}
}

// New returns a Protector with the given options.
func New(opts ...Option) (*Protector, error) {
	p := &Protector{header: DefaultHeader, field: DefaultField, maxForm: DefaultMaxFormSize, errorHandler: defaultErrorHandler}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, fmt.Errorf("csrf: %w", err)
		}
	}
	return p, nil
}

// Header returns the name of the request header that carries a token.
func (p *Protector) Header() string { return p.header }

// Field returns the name of the form field that carries a token.
func (p *Protector) Field() string { return p.field }

// TemplateField returns a hidden form input that carries a fresh token
// (see Token), to put inside every form that posts to a protected handler:
//
//	<input type="hidden" name="csrf_token" value="…">
//
// Like Token, call it before the response is committed, and only on pages
// that have a form: it gives a visitor without a session one.
func (p *Protector) TemplateField(r *http.Request) (template.HTML, error) {
	tok, err := Token(r)
	if err != nil {
		return "", err
	}
	// The field name is checked by WithField and the token is base64url:
	// neither needs escaping.
	return template.HTML(`<input type="hidden" name="` + p.field + `" value="` + tok + `">`), nil
}

// safe reports whether method is one that must not change state (RFC 9110
// section 9.2.1): such requests are not checked.
func safe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Middleware returns a handler that lets requests with a safe method (GET,
// HEAD, OPTIONS, TRACE) through unchecked, and every other request only if
// it carries a token of its session (Token): in the header (Header), else
// in the form body (Field). Install it inside the session middleware:
//
//	m.Middleware(p.Middleware(mux))
//
// A request that fails the check is answered by the error handler (403 by
// default) and reported as session.EventCSRFRejected to the manager's
// Observer and audit log (Session.ReportCSRFRejected). The token is
// compared in constant time. The middleware reads the session (one store
// round trip) for the requests it checks and never writes it.
//
// To find a token in a form, the middleware parses the body (URL-encoded
// or multipart, at most WithMaxFormSize bytes) before next runs: next finds
// the form in r.PostForm and r.MultipartForm, and net/http's ParseForm,
// FormValue and ParseMultipartForm return what was parsed.
func (p *Protector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safe(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if err := p.check(w, r); err != nil {
			p.errorHandler(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check verifies the token of r, reporting a refusal to the manager.
func (p *Protector) check(w http.ResponseWriter, r *http.Request) error {
	s, err := session.FromContext(r.Context())
	if err != nil {
		return fmt.Errorf("csrf: %w", err)
	}
	secret, hasSecret, err := current(s)
	if err != nil {
		return err
	}
	tok, err := p.token(w, r)
	if err != nil {
		return err
	}
	var reject error
	var reason string
	switch {
	case tok == "":
		reject, reason = ErrMissingToken, "missing token"
	case !hasSecret:
		reject, reason = ErrNoSecret, "no secret in the session"
	default:
		got, ok := unmask(tok)
		switch {
		case !ok:
			reject, reason = fmt.Errorf("%w: malformed", ErrInvalidToken), "malformed token"
		case !equal(got, secret):
			reject, reason = fmt.Errorf("%w: not this session's", ErrInvalidToken), "token of another session or secret"
		}
	}
	if reject != nil {
		s.ReportCSRFRejected(reason)
	}
	return reject
}

// token returns the token r carries: its header, else its form field.
func (p *Protector) token(w http.ResponseWriter, r *http.Request) (string, error) {
	if tok := r.Header.Get(p.header); tok != "" {
		return tok, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	multipart := ct == "multipart/form-data"
	if !multipart && ct != "application/x-www-form-urlencoded" {
		return "", nil
	}
	if r.Body != nil && r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, p.maxForm)
	}
	var err error
	if multipart {
		err = r.ParseMultipartForm(min(p.maxForm, multipartMemory))
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadForm, err)
	}
	return r.PostForm.Get(p.field), nil
}

// defaultErrorHandler answers in plain text, without details.
func defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrRejected):
		status = http.StatusForbidden
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
	case session.IsUnavailable(err):
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrBadForm):
		status = http.StatusBadRequest
	}
	http.Error(w, http.StatusText(status), status)
}
