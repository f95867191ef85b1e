package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionkit/session"
	"github.com/sessionkit/session/backends"
	"github.com/sessionkit/session/backends/storeurl"
	"github.com/sessionkit/session/codec"
	"github.com/sessionkit/session/internal/redistest"
)

// testSecret is the application's secret in these tests (SESSION_SECRET).
const testSecret = "the shop's secret, at least thirty-two bytes long"

// prefix is the example application's key prefix.
const prefix = "shoppingcart:"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary builds sessionctl once per test run, into a temporary directory
// that TestMain removes.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sessionctl-test-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "sessionctl"), ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "sessionctl")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// storeURL is the example application's store URL on srv.
func storeURL(srv *redistest.Server) string { return srv.URL() + "?key_prefix=" + prefix }

// baseEnv is the environment the binary runs with: no SESSION_* variable
// unless a test adds it.
func baseEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "USER=tester"}, extra...)
}

// sessionctl runs the binary with args and env (added to baseEnv), stdin
// from stdin (may be nil), and returns what it printed and its exit code.
func sessionctl(t *testing.T, env []string, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = baseEnv(env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("sessionctl %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs the binary and fails the test unless it exits with 0.
func ok(t *testing.T, env []string, stdin []byte, args ...string) result {
	t.Helper()
	r := sessionctl(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("sessionctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// decode parses JSON output into v.
func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
}

// shop is the example application's session setup on one Redis server:
// the same store URL (with its key prefix), secret and timeouts.
type shop struct {
	srv   *redistest.Server
	url   string
	store backends.Store
	m     *session.Manager
	h     http.Handler
}

func newShop(t *testing.T, srv *redistest.Server) *shop {
	t.Helper()
	url := storeURL(srv)
	st, err := storeurl.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storeurl.Close(st) })
	m, err := session.New(
		session.WithStore(st),
		session.WithSecret([]byte(testSecret)),
		session.WithIdleTimeout(2*time.Hour),
		session.WithLifetime(7*24*time.Hour),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.MustFromContext(r.Context())
		if err := s.Renew(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		s.SetUser(r.FormValue("user"))
		if d := r.FormValue("device"); d != "" {
			s.Set("device", d)
		}
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		session.MustFromContext(r.Context()).Set("cart", []string{"tea"})
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := session.MustFromContext(r.Context()).User()
		fmt.Fprint(w, u)
	})
	return &shop{srv: srv, url: url, store: st, m: m, h: m.Middleware(mux)}
}

// do sends a request through the shop's middleware and returns the cookies
// to send next time and the body.
func (s *shop) do(t *testing.T, method, target string, cookies []*http.Cookie) ([]*http.Cookie, string) {
	t.Helper()
	req := httptest.NewRequest(method, "https://shop.example"+target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
	}
	if c := rec.Result().Cookies(); len(c) > 0 {
		cookies = c
	}
	return cookies, rec.Body.String()
}

// login logs user in on a new device and returns its cookies.
func (s *shop) login(t *testing.T, user, device string) []*http.Cookie {
	c, _ := s.do(t, "POST", "/login?user="+user+"&device="+device, nil)
	return c
}

// whoami returns the user the cookies' session is bound to.
func (s *shop) whoami(t *testing.T, cookies []*http.Cookie) string {
	_, body := s.do(t, "GET", "/me", cookies)
	return body
}

// seed writes n sessions straight into the store, encoded as the manager
// encodes them: session i belongs to user "user<i%users>" (users 0: none).
func (s *shop) seed(t *testing.T, n, users int) {
	t.Helper()
	ui := s.store.(backends.UserIndex)
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				var id [32]byte
				rand.Read(id[:])
				sum := sha256.Sum256(id[:])
				key := base64.RawURLEncoding.EncodeToString(sum[:])
				d := &codec.Data{Created: now.Add(-time.Minute), Deadline: now.Add(7 * 24 * time.Hour),
					Values: map[string][]byte{"cart": []byte(`["tea","cups"]`)}}
				if users > 0 {
					d.UserID = fmt.Sprintf("user%d", i%users)
				}
				blob, err := s.m.Codec().Encode(d, []byte(key))
				if err == nil {
					_, err = s.store.Save(t.Context(), key, blob, now.Add(2*time.Hour), 0)
				}
				if err == nil && d.UserID != "" {
					err = ui.AddUserKey(t.Context(), d.UserID, key, d.Deadline)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// count returns the number of sessions in the store.
func (s *shop) count(t *testing.T) int {
	t.Helper()
	n, err := s.store.(backends.Counter).Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// userKeys returns the keys of user's sessions.
func (s *shop) userKeys(t *testing.T, user string) []string {
	t.Helper()
	keys, err := s.store.(backends.UserIndex).UserKeys(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
