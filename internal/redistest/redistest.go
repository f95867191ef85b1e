// Package redistest starts real Redis servers for tests: a single server, a
// Sentinel group (one master, one replica, three sentinels) and a Cluster.
//
// Every process listens on a free port of 127.0.0.1 only, runs in its own
// t.TempDir(), and is killed by PID (and waited for) in t.Cleanup. Nothing
// started elsewhere is ever touched. Persistence is off unless asked for.
//
// Tests call Require first: without the redis-server, redis-sentinel and
// redis-cli binaries on PATH the test is skipped, or fails when the CI
// environment variable is set so that a CI machine cannot silently skip.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binaries needed by this package.
var binaries = []string{"redis-server", "redis-sentinel", "redis-cli"}

// StartTimeout bounds how long a server may take to answer PING after start.
const StartTimeout = 10 * time.Second

// Available reports whether the Redis binaries this package runs are on PATH.
// It returns nil when they are, and an error naming the missing ones otherwise.
func Available() error {
	var missing []string
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("redistest: %s not found on PATH (install the redis-server and redis-sentinel packages, e.g. apt-get install redis-server redis-sentinel)", strings.Join(missing, ", "))
	}
	return nil
}

// Require skips the test when the Redis binaries are missing, or fails it
// when the CI environment variable is not empty (a CI run must not skip).
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// ServerOption configures StartServer.
type ServerOption func(*serverConfig)

type serverConfig struct {
	appendOnly bool
	args       []string
}

// WithAppendOnly turns on the append-only file (appendfsync always), so that
// data survives Kill followed by Restart(true) without an explicit SAVE.
func WithAppendOnly() ServerOption {
	return func(c *serverConfig) { c.appendOnly = true }
}

// WithArgs adds raw redis-server command-line arguments, for example
// WithArgs("--maxmemory", "10mb"). Arguments that change the port, the bind
// address or the working directory are not allowed and fail the test.
func WithArgs(args ...string) ServerOption {
	return func(c *serverConfig) { c.args = append(c.args, args...) }
}

// Server is one redis-server (or redis-sentinel) process started by a test.
type Server struct {
	t        testing.TB
	name     string
	bin      string
	dir      string
	port     int
	args     func(port int) []string
	sentinel bool

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been waited for
	stopped bool
	client  *redis.Client
}

// StartServer starts a redis-server on a free 127.0.0.1 port and stops it
// when the test ends.
func StartServer(t testing.TB, opts ...ServerOption) *Server {
	t.Helper()
	Require(t)
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	checkArgs(t, cfg.args)
	return startServer(t, "redis", cfg, nil)
}

func checkArgs(t testing.TB, args []string) {
	t.Helper()
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "port", "bind", "dir", "daemonize", "logfile", "unixsocket", "tls-port":
			t.Fatalf("redistest: argument %q is managed by redistest", a)
		}
	}
}

func startServer(t testing.TB, name string, cfg serverConfig, extra func(dir string, port int) []string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, name: name, bin: "redis-server", dir: dir}
	s.args = func(port int) []string {
		a := []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--protected-mode", "yes",
			"--dir", dir,
			"--daemonize", "no",
			"--logfile", filepath.Join(dir, "redis.log"),
			"--save", "",
		}
		if cfg.appendOnly {
			a = append(a, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			a = append(a, "--appendonly", "no")
		}
		if extra != nil {
			a = append(a, extra(dir, port)...)
		}
		return append(a, cfg.args...)
	}
	s.startFreePort()
	t.Cleanup(s.cleanup)
	return s
}

// startFreePort starts the server on a newly chosen free port, retrying a few
// times when another process grabbed the port in between.
func (s *Server) startFreePort() {
	s.t.Helper()
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			s.t.Fatalf("redistest: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return
		}
		if !s.bindFailed() {
			break
		}
	}
	s.t.Fatalf("redistest: starting %s: %v\n%s", s.name, lastErr, s.LogTail(30))
}

func (s *Server) bindFailed() bool {
	b, _ := os.ReadFile(s.logPath())
	return bytes.Contains(b, []byte("Address already in use")) || bytes.Contains(b, []byte("Could not create server TCP listening socket"))
}

func (s *Server) logPath() string {
	if s.sentinel {
		return filepath.Join(s.dir, "sentinel.log")
	}
	return filepath.Join(s.dir, "redis.log")
}

// start launches the process on s.port and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args(s.port)...)
	cmd.Dir = s.dir
	cmd.Stdout = nil
	cmd.Stderr = nil
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.stopped = cmd, done, false
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.killWait()
		return err
	}
	return nil
}

func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(StartTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("process exited during start")
		default:
		}
		lastErr = ping(s.Addr(), 500*time.Millisecond)
		if lastErr == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %v: %v", StartTimeout, lastErr)
}

// ping sends one PING in RESP and expects +PONG.
func ping(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port.
func (s *Server) Port() int { return s.port }

// URL returns "redis://127.0.0.1:port/0", usable with redis.ParseURL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir returns the server's working directory.
func (s *Server) Dir() string { return s.dir }

// PID returns the process ID of the running process, or 0 if it is not running.
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

// Client returns a go-redis client for this server, closed when the test ends.
// It is created once and shared by later calls.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{
			Addr:         s.Addr(),
			DialTimeout:  2 * time.Second,
			ReadTimeout:  5 * time.Second,
			WriteTimeout: 5 * time.Second,
			MaxRetries:   -1,
		})
	}
	return s.client
}

// Kill sends SIGKILL to the process and waits for it to exit. The data that
// was not saved is lost.
func (s *Server) Kill() {
	s.t.Helper()
	s.killWait()
}

func (s *Server) killWait() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil || isClosed(done) {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redistest: %s (pid %d) did not exit after SIGKILL", s.name, cmd.Process.Pid)
	}
}

// Stop sends SIGSTOP: the process keeps its sockets but answers nothing, the
// way a hung server behaves. Cont resumes it.
func (s *Server) Stop() {
	s.t.Helper()
	s.signal(sigStop)
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// Cont sends SIGCONT to a server paused by Stop.
func (s *Server) Cont() {
	s.t.Helper()
	s.signal(sigCont)
	s.mu.Lock()
	s.stopped = false
	s.mu.Unlock()
}

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil || isClosed(done) {
		s.t.Fatalf("redistest: %s is not running", s.name)
	}
	pid := cmd.Process.Pid
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v to pid %d: %v", sig, pid, err)
	}
}

// Restart stops the server and starts it again on the same port and in the
// same directory. With keepData the server first runs SAVE (when it is
// running) and the new process loads that snapshot (and the append-only file
// with WithAppendOnly); without it the new process starts empty.
func (s *Server) Restart(keepData bool) {
	s.t.Helper()
	if s.PID() != 0 {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			s.Cont()
		}
		if keepData && !s.sentinel {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := s.Client().Save(ctx).Err()
			cancel()
			if err != nil {
				s.t.Fatalf("redistest: SAVE before restart: %v", err)
			}
		}
		s.killWait()
	}
	if !keepData && !s.sentinel {
		_ = os.Remove(filepath.Join(s.dir, "dump.rdb"))
		_ = os.RemoveAll(filepath.Join(s.dir, "appendonlydir"))
		_ = os.Remove(filepath.Join(s.dir, "appendonly.aof"))
	}
	var err error
	// The old socket may linger for a moment; retry on the same port.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		if !s.bindFailed() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting %s on port %d: %v\n%s", s.name, s.port, err, s.LogTail(30))
}

// LogTail returns the last n lines of the server's log file.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return s.name + " log:\n" + strings.Join(lines, "\n")
}

func (s *Server) cleanup() {
	s.mu.Lock()
	c := s.client
	s.client = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	s.killWait()
	if s.t.Failed() {
		s.t.Logf("%s", s.LogTail(20))
	}
}

// CommandStats returns the number of calls of every command the server ran
// since it started (or since CONFIG RESETSTAT), from INFO commandstats. Keys
// are lower-case command names; subcommands look like "config|get".
//
// Commands run inside Lua scripts are counted too: an EVALSHA whose script
// calls HGET shows up as one "evalsha" and one "hget". The INFO command that
// reads the statistics counts itself as well ("info"). Use Delta to compare two
// snapshots, and RoundTrips to count what a client sent.
func (s *Server) CommandStats(ctx context.Context) map[string]int64 {
	s.t.Helper()
	info, err := s.Client().Info(ctx, "commandstats").Result()
	if err != nil {
		s.t.Fatalf("redistest: INFO commandstats: %v", err)
	}
	m, err := ParseCommandStats(info)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	return m
}

// ParseCommandStats parses the text of INFO commandstats into calls per command.
func ParseCommandStats(info string) (map[string]int64, error) {
	m := make(map[string]int64)
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			if k != "calls" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commandstats line %q: %v", line, err)
			}
			m[strings.TrimPrefix(name, "cmdstat_")] = n
		}
	}
	return m, nil
}

// Delta returns after minus before for every command whose count changed,
// leaving out the INFO command itself.
func Delta(before, after map[string]int64) map[string]int64 {
	d := make(map[string]int64)
	for k, v := range after {
		if k == "info" {
			continue
		}
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

// CommandTime is what INFO commandstats says about one command: how many
// times the server ran it and the microseconds it spent in it.
type CommandTime struct {
	Calls int64
	Usec  int64
}

// PerCall returns the mean server time of one call in microseconds (0 when
// the command never ran).
func (c CommandTime) PerCall() float64 {
	if c.Calls == 0 {
		return 0
	}
	return float64(c.Usec) / float64(c.Calls)
}

// CommandTimes returns the calls and the server time of every command the
// server ran since it started (or since CONFIG RESETSTAT), from INFO
// commandstats. The time of an EVALSHA includes that of the commands its
// script ran, which are listed on their own as well.
func (s *Server) CommandTimes(ctx context.Context) map[string]CommandTime {
	s.t.Helper()
	info, err := s.Client().Info(ctx, "commandstats").Result()
	if err != nil {
		s.t.Fatalf("redistest: INFO commandstats: %v", err)
	}
	m, err := ParseCommandTimes(info)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	return m
}

// ParseCommandTimes parses the text of INFO commandstats into calls and
// microseconds per command.
func ParseCommandTimes(info string) (map[string]CommandTime, error) {
	m := make(map[string]CommandTime)
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var ct CommandTime
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			var dst *int64
			switch k {
			case "calls":
				dst = &ct.Calls
			case "usec":
				dst = &ct.Usec
			default:
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commandstats line %q: %v", line, err)
			}
			*dst = n
		}
		m[strings.TrimPrefix(name, "cmdstat_")] = ct
	}
	return m, nil
}

// TimeDelta returns after minus before for every command whose count
// changed, leaving out the INFO command itself.
func TimeDelta(before, after map[string]CommandTime) map[string]CommandTime {
	d := make(map[string]CommandTime)
	for k, v := range after {
		if k == "info" {
			continue
		}
		b := before[k]
		if v.Calls != b.Calls {
			d[k] = CommandTime{Calls: v.Calls - b.Calls, Usec: v.Usec - b.Usec}
		}
	}
	return d
}
