package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/memstore"
	"github.com/sessionkit/session/backends/redisstore"
	"github.com/sessionkit/session/backends/storeurl"
	"github.com/sessionkit/session/cookies"
	"github.com/sessionkit/session/csrf"
	"github.com/sessionkit/session/degrade"
	"github.com/sessionkit/session/metrics"
)

// config is the app's configuration, read from the environment by main.
type config struct {
	// Port is the TCP port to listen on (env PORT, default 8080).
	Port string
	// RedisURL selects Redis as the session store (env REDIS_URL); empty
	// means the in-memory store.
	RedisURL string
	// StoreURL selects the session store by URL (env SESSION_STORE_URL,
	// see package storeurl): memory://?max_sessions=N, a Redis URL (with
	// fail-over to memory, as RedisURL), a PostgreSQL URL (postgres://…)
	// or an SQLite file (sqlite:///path/sessions.db). It excludes RedisURL.
	StoreURL string
	// Secret is the application secret, at least 32 bytes (env
	// SESSION_SECRET). It signs the session cookie and encrypts the stored
	// sessions; keep it the same across restarts and instances.
	Secret []byte
	// Logger receives the app's and the session manager's logs.
	Logger *slog.Logger
	// AdminUser may use the administration pages under /admin/ (env
	// ADMIN_USER); empty: they are not served.
	AdminUser string
	// CookieSecure decides the session cookie's Secure attribute (env
	// COOKIE_SECURE): cookies.SecureAlways ("always", for production),
	// or cookies.SecureAuto ("auto", the default: Secure on HTTPS
	// requests only, for http://localhost).
	CookieSecure cookies.SecureMode
	// TrustProxy makes requests with "X-Forwarded-Proto: https" count as
	// HTTPS requests (env TRUST_PROXY=true). Set it only behind a proxy
	// that terminates TLS and sets that header itself.
	TrustProxy bool
}

// app is the shop: its catalog, its session manager and its HTTP handler.
type app struct {
	log      *slog.Logger
	catalog  *catalog
	sessions *session.Manager
	store    backends.Store
	registry *prometheus.Registry
	pages    map[string]*template.Template
	csrf     *csrf.Protector
	handler  http.Handler
	closers  []io.Closer // closed by Close, last first
	// admin serves the administration pages (admin.go); nil without
	// config.AdminUser.
	admin http.Handler
}

// newApp builds the shop from cfg. Call Close when done. With Redis, the
// app starts even while Redis is down (sessions are then kept in memory
// until it is back), but not when Redis refuses REDIS_URL's settings (a
// wrong password or database, rediss:// to a server without TLS): that is
// reported, with the cause, as an error.
func newApp(cfg config) (_ *app, err error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("the session secret must be at least 32 bytes")
	}
	a := &app{log: cfg.Logger, catalog: newCatalog()}
	if a.log == nil {
		a.log = slog.Default()
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	// Metrics go to a registry of the app's own, served at /metrics.
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mx, err := metrics.New(a.registry, metrics.WithBackend(backendName(cfg)))
	if err != nil {
		return nil, err
	}
	storeOpt, err := a.openStore(cfg)
	if err != nil {
		return nil, err
	}
	opts := []session.Option{
		storeOpt,
		// The session metrics; with Redis, the fail-over metrics too.
		session.WithObserver(mx),
		session.WithSecret(cfg.Secret),
		session.WithLogger(a.log),
		session.WithIdleTimeout(2 * time.Hour),
		session.WithLifetime(7 * 24 * time.Hour),
		session.WithMaxLifetime(30 * 24 * time.Hour), // remember me (see login)
		session.WithErrorHandler(a.sessionFailed),
		session.WithCookie(cookies.Config{Secure: cfg.CookieSecure}),
		// The "my sessions" page shows each session's network.
		session.WithDeviceIP(24, 48),
	}
	if cfg.TrustProxy {
		opts = append(opts, session.WithTrustForwardedProto())
	}
	a.sessions, err = session.New(opts...)
	if err != nil {
		if cfg.RedisURL != "" {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		return nil, err
	}
	a.store = a.sessions.Store()
	a.closers = append(a.closers, closerFunc(a.closeSessions))

	if a.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if a.admin, err = a.newAdmin(cfg.AdminUser); err != nil {
		return nil, err
	}
	if a.csrf, err = a.newCSRF(); err != nil {
		return nil, err
	}
	a.handler = a.routes()
	return a, nil
}

// backendName is the backend label of the store metrics.
func backendName(cfg config) string {
	switch {
	case cfg.RedisURL != "" || strings.HasPrefix(cfg.StoreURL, "redis") || strings.HasPrefix(cfg.StoreURL, "unix"):
		return "redis"
	case strings.HasPrefix(cfg.StoreURL, "postgres"):
		return "postgres"
	case strings.HasPrefix(cfg.StoreURL, "sqlite"):
		return "sqlite"
	}
	return "memory"
}

// openStore returns the session store option cfg asks for: memory, or
// Redis with fail-over to memory.
func (a *app) openStore(cfg config) (session.Option, error) {
	if cfg.StoreURL != "" {
		return a.openStoreURL(cfg)
	}
	if cfg.RedisURL == "" {
		ms, err := memstore.New(memstore.Options{})
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, ms)
		a.log.Info("sessions are kept in memory; set REDIS_URL to keep them in Redis")
		return session.WithStore(ms), nil
	}
	rs, err := redisstore.NewFromURL(cfg.RedisURL, redisstore.WithPrefix("shoppingcart:"))
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	a.closers = append(a.closers, rs)
	// While Redis does not answer, sessions are served from memory and the
	// responses carry X-Session-Degraded: true; when Redis is back, what
	// was written meanwhile is replayed onto it. Fail-overs and recoveries
	// reach the metrics and the audit log.
	a.log.Info("sessions are kept in Redis, with fail-over to memory")
	return session.WithFailover(rs), nil
}

// openStoreURL opens the store SESSION_STORE_URL names: a Redis store gets
// the fail-over of REDIS_URL, any other store is used as it is.
func (a *app) openStoreURL(cfg config) (session.Option, error) {
	if cfg.RedisURL != "" {
		return nil, errors.New("set REDIS_URL or SESSION_STORE_URL, not both")
	}
	st, err := storeurl.Open(context.Background(), cfg.StoreURL)
	if err != nil {
		return nil, fmt.Errorf("SESSION_STORE_URL: %w", err)
	}
	a.closers = append(a.closers, closerFunc(func() error { return storeurl.Close(st) }))
	if _, ok := st.(*redisstore.Store); ok {
		a.log.Info("sessions are kept in Redis (SESSION_STORE_URL), with fail-over to memory")
		return session.WithFailover(st), nil
	}
	a.log.Info("sessions are kept in the store SESSION_STORE_URL names", "store", fmt.Sprintf("%T", st))
	return session.WithStore(st), nil
}

// closeSessions closes the session manager, which first replays onto
// Redis what an outage left in memory.
func (a *app) closeSessions() error {
	err := a.sessions.Close()
	if fo, ok := a.store.(*degrade.Store); ok && err != nil {
		// Redis is still down: those sessions are lost with this
		// process's memory. Not an error of the shutdown itself.
		a.log.Warn("sessions written during a Redis outage could not all be replayed", "pending", fo.Status().Pending, "error", err)
		return nil
	}
	return err
}

// closerFunc turns a function into an io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// ServeHTTP serves the shop.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close releases the session manager and the store.
func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// routes wires the pages, the JSON API and the static files. Every route
// runs inside the session middleware; those that never touch their session
// (static files, the catalog API) cost no store round trip and set no
// cookie.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()

	// JSON API.
	mux.HandleFunc("GET /api/products", a.apiProducts)
	mux.HandleFunc("GET /api/cart", a.apiCart)
	mux.HandleFunc("POST /api/cart/items", a.apiAddItem)
	mux.HandleFunc("DELETE /api/cart/items/{productId}", a.apiRemoveItem)
	mux.HandleFunc("POST /api/login", a.apiLogin)
	mux.HandleFunc("POST /api/logout", a.apiLogout)
	mux.HandleFunc("GET /api/me", a.apiMe)
	mux.HandleFunc("GET /api/sessions", a.apiSessions)
	mux.HandleFunc("POST /api/sessions/revoke-others", a.apiRevokeOthers)
	mux.HandleFunc("POST /api/sessions/{id}/revoke", a.apiRevokeSession)

	// HTML pages. Their forms carry a CSRF token of the session, and the
	// posts are refused without it (a.form). The JSON API above is not
	// checked for tokens: its clients send none, and cross-origin browser
	// requests to it are refused by CrossOriginProtection below.
	mux.HandleFunc("GET /{$}", a.pageCatalog)
	mux.HandleFunc("GET /cart", a.pageCart)
	mux.Handle("POST /cart/add", a.form(a.formAdd))
	mux.Handle("POST /cart/update", a.form(a.formUpdate))
	mux.Handle("POST /cart/remove", a.form(a.formRemove))
	mux.HandleFunc("GET /login", a.pageLogin)
	mux.Handle("POST /login", a.form(a.formLogin))
	mux.Handle("POST /logout", a.form(a.formLogout))
	mux.HandleFunc("GET /sessions", a.pageSessions)
	mux.Handle("POST /sessions/revoke-others", a.form(a.formRevokeOthers))
	mux.Handle("POST /sessions/{id}/revoke", a.form(a.formRevokeSession))
	mux.Handle("GET /static/", staticHandler())

	// Operations.
	mux.Handle("GET /healthz", a.sessions.HealthHandler())
	if a.admin != nil {
		mux.Handle("/admin/", a.admin)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}))

	var h http.Handler = a.notFound(mux)
	h = a.sessions.Middleware(h)
	// Refuse cross-origin form posts and fetches (CSRF), using the
	// browser's Sec-Fetch-Site and Origin headers, before the session is
	// loaded. The pages' tokens (a.form) also cover browsers that send
	// neither header; the session cookie's SameSite=Lax is the last line.
	h = http.NewCrossOriginProtection().Handler(h)
	h = securityHeaders(h)
	return a.accessLog(h)
}

// notFound answers requests that match no route (404, or 405 with Allow)
// with a JSON error under /api/ and an HTML page elsewhere.
func (a *app) notFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (and set Allow).
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusNotFound
		}
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		msg := strings.ToLower(http.StatusText(status))
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeError(w, status, msg)
			return
		}
		a.renderError(w, r, status, msg)
	})
}

// statusRecorder captures the status and headers of the mux's own error
// responses.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

// securityHeaders sets the headers every response of the shop carries. The
// content security policy allows only the shop's own scripts, styles and
// images: no inline script, no CDN.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// accessLog logs each request at Debug level, and server errors at Warn.
// httpsnoop keeps the optional interfaces of the writer it wraps.
func (a *app) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := httpsnoop.CaptureMetrics(next, w, r)
		level := slog.LevelDebug
		if m.Code >= 500 {
			level = slog.LevelWarn
		}
		a.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "status", m.Code, "duration", m.Duration)
	})
}

// sessionFailed answers a request whose session could not be saved before
// the response went out (the store is unreachable and there is no
// fail-over).
func (a *app) sessionFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "saving the session failed", "path", r.URL.Path, "error", err)
	status := http.StatusInternalServerError
	if session.IsUnavailable(err) {
		status = http.StatusServiceUnavailable
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, status, "session store unavailable")
		return
	}
	http.Error(w, "The shop cannot reach its session store. Please try again in a moment.", status)
}
