// Command shoppingcart is a small web shop that keeps its visitors' carts
// and logins in sessions managed by github.com/sessionkit/session: HTML pages
// and a JSON API, in memory or in Redis with fail-over to memory.
//
// Configuration comes from the environment:
//
//	PORT            TCP port to listen on (default 8080)
//	REDIS_URL       keep sessions in Redis (redis://host:6379/0, rediss://,
//	                redis+sentinel://, redis+cluster://); unset: in memory
//	SESSION_STORE_URL  the session store as a URL instead of REDIS_URL
//	                (memory://?max_sessions=N, redis://…?key_prefix=P,
//	                postgres://user:pass@host/db, sqlite:///path/sessions.db;
//	                see package backends/storeurl)
//	SESSION_SECRET  at least 32 random bytes; unset: a random secret for
//	                this process (sessions do not survive a restart)
//	COOKIE_SECURE   always: the session cookie is always Secure (production);
//	                auto (default): Secure on HTTPS requests only
//	TRUST_PROXY     true: "X-Forwarded-Proto: https" counts as HTTPS; only
//	                behind a proxy that terminates TLS and sets the header
//	ADMIN_USER      the user who may use the administration pages at /admin/;
//	                unset: no administration pages
//
// See README.md for the API and the pages.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	// SESSION_STORE_URL may name a PostgreSQL database (postgres://…)
	// or an SQLite file (sqlite:///path/sessions.db).
	_ "github.com/sessionkit/session/backends/pgstore"
	"github.com/sessionkit/session/backends/redisstore"
	_ "github.com/sessionkit/session/backends/sqlitestore"
	"github.com/sessionkit/session/cookies"
)

// shutdownTimeout bounds how long requests in flight may take to finish
// after SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// go-redis's own messages (failed dials during an outage, for
	// example) go to the app's log, each kind at most every 10 seconds.
	redisstore.SetLogger(logger, redisstore.DefaultLogInterval)
	if err := run(logger, os.Getenv); err != nil {
		logger.Error("shoppingcart stopped", "error", err)
		os.Exit(1)
	}
}

// run serves the shop until SIGINT or SIGTERM, then shuts down cleanly.
func run(logger *slog.Logger, getenv func(string) string) error {
	cfg, err := configFromEnv(getenv, logger)
	if err != nil {
		return err
	}
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // from now on a second signal kills the process at once
	}()
	logger.Info("shoppingcart listening", "addr", "http://localhost:"+cfg.Port)
	if err := serve(ctx, a, ln, logger); err != nil {
		return err
	}
	return a.Close()
}

// serve serves a on ln until ctx ends, then stops accepting connections and
// waits, at most shutdownTimeout, for the requests in flight.
func serve(ctx context.Context, a *app, ln net.Listener, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// configFromEnv reads the configuration from the environment.
func configFromEnv(getenv func(string) string, logger *slog.Logger) (config, error) {
	cfg := config{
		Port:     getenv("PORT"),
		RedisURL: getenv("REDIS_URL"),
		StoreURL: getenv("SESSION_STORE_URL"),
		Secret:   []byte(getenv("SESSION_SECRET")),
		Logger:   logger,
	}
	cfg.AdminUser = getenv("ADMIN_USER")
	switch v := getenv("COOKIE_SECURE"); v {
	case "", "auto":
		cfg.CookieSecure = cookies.SecureAuto
	case "always":
		cfg.CookieSecure = cookies.SecureAlways
	default:
		return cfg, fmt.Errorf("COOKIE_SECURE %q: use always (production) or auto", v)
	}
	if v := getenv("TRUST_PROXY"); v != "" {
		trust, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("TRUST_PROXY %q is not true or false", v)
		}
		cfg.TrustProxy = trust
	}
	if cfg.Port == "" {
		cfg.Port = "8080"
	}
	if n, err := strconv.Atoi(cfg.Port); err != nil || n < 1 || n > 65535 {
		return cfg, fmt.Errorf("PORT %q is not a TCP port number", cfg.Port)
	}
	switch {
	case len(cfg.Secret) == 0:
		cfg.Secret = []byte(rand.Text() + rand.Text())
		logger.Warn("SESSION_SECRET is not set: using a random secret, so sessions end when the process stops; set SESSION_SECRET to at least 32 random bytes")
	case len(cfg.Secret) < 32:
		return cfg, fmt.Errorf("SESSION_SECRET is %d bytes, it must be at least 32", len(cfg.Secret))
	}
	return cfg, nil
}
