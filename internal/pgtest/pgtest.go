// Package pgtest starts real PostgreSQL servers for tests.
//
// Start runs initdb into a fresh temporary directory and a postgres process
// on a free port of 127.0.0.1 (no Unix socket), waits until it accepts
// connections, and stops it by PID when the test ends. Nothing started
// elsewhere is ever touched: not a cluster a package installed, not a server
// another test runs.
//
// PostgreSQL refuses to run as root. When the test runs as root, initdb and
// postgres run under an unprivileged account: the one named by the
// PGTEST_USER environment variable, else "pgtest", else "postgres" (the
// account Debian's package creates), whichever exists first.
//
// The binaries are found in the directory PGTEST_BINDIR names, else next to
// an initdb on PATH, else in the newest /usr/lib/postgresql/<version>/bin
// (Debian and Ubuntu install them there, off PATH). Tests call Require
// first: without the binaries the test is skipped, or fails when the CI
// environment variable is set, so that a CI machine cannot silently skip.
//
// The package imports no PostgreSQL driver: the caller connects to URL with
// its own.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long initdb plus the server's start may take.
const StartTimeout = 60 * time.Second

// StopTimeout bounds how long a fast shutdown may take before the server is
// killed.
const StopTimeout = 20 * time.Second

// Superuser is the name of the cluster's superuser, which URL connects as
// (trust authentication on 127.0.0.1).
const Superuser = "postgres"

// BinDir returns the directory holding initdb, postgres and pg_isready, or
// an error saying how to install them.
func BinDir() (string, error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		if err := hasBinaries(d); err != nil {
			return "", fmt.Errorf("pgtest: PGTEST_BINDIR=%s: %w", d, err)
		}
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if hasBinaries(d) == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if hasBinaries(d) == nil {
			return d, nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL server binaries (initdb, postgres, pg_isready) not found on PATH, in PGTEST_BINDIR or in /usr/lib/postgresql/*/bin (install them: apt-get install postgresql)")
}

// versionOf returns the major version in /usr/lib/postgresql/<version>/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func hasBinaries(dir string) error {
	for _, b := range []string{"initdb", "postgres", "pg_isready"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			return fmt.Errorf("%s missing in %s", b, dir)
		}
	}
	return nil
}

// Available returns nil when the binaries and, for a root process, an
// unprivileged account to run them as are there, and an error saying what
// is missing otherwise.
func Available() error {
	if _, err := BinDir(); err != nil {
		return err
	}
	_, err := runAs()
	return err
}

// Require skips the test when Available reports an error, or fails it when
// the CI environment variable is not empty (a CI run must not skip).
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// account is the user the server runs as; nil means the current user.
type account struct {
	name     string
	uid, gid uint32
}

// runAs picks the account for initdb and postgres: nil unless running as
// root.
func runAs() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	names := []string{"pgtest", "postgres"}
	if n := os.Getenv("PGTEST_USER"); n != "" {
		names = []string{n}
	}
	for _, n := range names {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &account{name: n, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("pgtest: running as root, and none of the accounts %s exists to run PostgreSQL as (it refuses root): create one, e.g. useradd --system pgtest", strings.Join(names, ", "))
}

// Server is one PostgreSQL cluster started by a test.
type Server struct {
	t      testing.TB
	bin    string
	base   string // temporary directory: data/ and postgres.log
	port   int
	as     *account
	logMu  sync.Mutex
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has been waited for
	closed bool
}

// Start initializes a cluster in a new temporary directory, starts it on a
// free 127.0.0.1 port and registers its shutdown (and the removal of the
// directory) with t.Cleanup. It fails the test when the binaries are
// missing; call Require first to skip instead.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	as, err := runAs()
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s := &Server{t: t, bin: bin, base: base, as: as}
	t.Cleanup(s.cleanup)
	// The account needs to reach data/ inside base; base keeps others out
	// of listing it.
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	data := s.DataDir()
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if as != nil {
		if err := os.Chown(data, int(as.uid), int(as.gid)); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	initdb := s.command("initdb", "-D", data, "-U", Superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if !strings.Contains(s.LogTail(20), "could not bind") {
			break
		}
	}
	t.Fatalf("pgtest: starting postgres: %v\n%s", lastErr, s.LogTail(30))
	return nil
}

// command returns the command running binary name from the bin directory
// as the server's account.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.base
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	attr := &syscall.SysProcAttr{}
	if s.as != nil {
		attr.Credential = &syscall.Credential{Uid: s.as.uid, Gid: s.as.gid, NoSetGroups: true}
	}
	setDeathSignal(attr)
	cmd.SysProcAttr = attr
	return cmd
}

// start launches postgres on s.port and waits until it accepts connections.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.command("postgres", "-D", s.DataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.stop(syscall.SIGQUIT)
		return err
	}
	return nil
}

func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(StartTimeout)
	var out []byte
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("postgres exited during start")
		default:
		}
		cmd := exec.Command(filepath.Join(s.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", Superuser, "-t", "1")
		var err error
		if out, err = cmd.CombinedOutput(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not accepting connections within %v (%s)", StartTimeout, strings.TrimSpace(string(out)))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns a connection URL for database db (empty: "postgres") as the
// superuser, without TLS.
func (s *Server) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return "postgres://" + Superuser + "@" + s.Addr() + "/" + db + "?sslmode=disable"
}

// DataDir returns the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.base, "data") }

func (s *Server) logPath() string { return filepath.Join(s.base, "postgres.log") }

// PID returns the postmaster's process ID, or 0 when it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil || isClosed(s.done) {
		return 0
	}
	return s.cmd.Process.Pid
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Stop shuts the server down (a fast shutdown: open connections are closed,
// committed data is kept) and waits for it to exit. Start it again with
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.stop(syscall.SIGINT)
}

// Restart starts a stopped server again, on the same port and with the
// same data; a running one is stopped first.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop(syscall.SIGINT)
	var err error
	// The old socket may linger for a moment; retry on the same port.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		if !strings.Contains(s.LogTail(5), "could not bind") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("pgtest: restarting postgres on port %d: %v\n%s", s.port, err, s.LogTail(30))
}

// stop sends sig to the postmaster and waits for it to exit, killing it
// after StopTimeout.
func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil || isClosed(done) {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(StopTimeout):
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("pgtest: postgres (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "postgres log:\n" + strings.Join(lines, "\n")
}

func (s *Server) cleanup() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	// Immediate shutdown: the data is thrown away.
	s.stop(syscall.SIGQUIT)
	if s.t.Failed() {
		s.t.Logf("%s", s.LogTail(20))
	}
	_ = os.RemoveAll(s.base)
}
