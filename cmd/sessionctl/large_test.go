package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/sessionkit/session/backends/transfer"
	"github.com/sessionkit/session/internal/redistest"
)

// onTerminal runs the binary with its stdin, stdout and stderr on a
// pseudo-terminal, as an operator at a shell would, and returns everything
// it wrote there and its exit code.
func onTerminal(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = baseEnv(append(env, "TERM=xterm")...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, tty) // ends with EIO when the process exits
		close(copied)
	}()
	err = cmd.Wait()
	<-copied
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// barDrawn matches a progress bar that reached the end: "100% |████…| (10000/10000".
var barDrawn = regexp.MustCompile(`100% \|█+\| \(10000/10000`)

// Backup and restore of 10,000 sessions, and a copy between two servers,
// with the progress bar drawn on a terminal; afterwards the stores hold
// every session and every user index entry.
func TestBackupRestoreCopyOnTerminal(t *testing.T) {
	const n, users = 10000, 100
	a := newShop(t, redistest.StartServer(t))
	b := newShop(t, redistest.StartServer(t))
	c := newShop(t, redistest.StartServer(t))
	a.seed(t, n, users)
	file := filepath.Join(t.TempDir(), "sessions.jsonl")
	secret := "SESSION_SECRET=" + testSecret

	out, code := onTerminal(t, []string{"SESSION_STORE_URL=" + a.url, secret}, "backup", file)
	if code != 0 || !barDrawn.MatchString(out) || !strings.Contains(out, "backup") {
		t.Fatalf("backup on a terminal: exit %d, output:\n%q", code, out)
	}
	if !strings.Contains(out, "backed up 10000 sessions (10000 with their user)") {
		t.Errorf("backup summary missing:\n%s", out)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	records, err := transfer.Verify(f)
	f.Close()
	if records != n || err != nil {
		t.Fatalf("backup holds %d records, %v", records, err)
	}

	out, code = onTerminal(t, []string{"SESSION_STORE_URL=" + b.url, secret}, "restore", file)
	if code != 0 || !barDrawn.MatchString(out) || !strings.Contains(out, "restored 10000 sessions (10000 indexed by user)") {
		t.Fatalf("restore on a terminal: exit %d, output:\n%q", code, out)
	}

	out, code = onTerminal(t, []string{secret}, "copy", "--from", a.url, "--to", c.url, "--batch-size", "1000")
	if code != 0 || !barDrawn.MatchString(out) || !strings.Contains(out, "copied 10000 sessions (10000 indexed by user)") {
		t.Fatalf("copy on a terminal: exit %d, output:\n%q", code, out)
	}

	for _, s := range []*shop{b, c} {
		if got := s.count(t); got != n {
			t.Errorf("%s holds %d sessions, want %d", s.url, got, n)
		}
		for _, u := range []string{"user0", "user42", "user99"} {
			if got := len(s.userKeys(t, u)); got != n/users {
				t.Errorf("%s: %s has %d sessions, want %d", s.url, u, got, n/users)
			}
		}
	}
	// The application reads a restored session and a copied one.
	key := a.userKeys(t, "user7")[0]
	for _, s := range []*shop{b, c} {
		rec, found, err := s.store.Load(t.Context(), key)
		if !found || err != nil {
			t.Fatalf("%s lacks %s: %v", s.url, key, err)
		}
		d, err := s.m.Codec().Decode(rec.Blob, []byte(key))
		if err != nil || d.UserID != "user7" {
			t.Errorf("%s: session of %q, %v", s.url, d.UserID, err)
		}
	}
	// Without a terminal the same copy prints plain progress lines.
	r := ok(t, []string{secret}, nil, "copy", "--from", a.url, "--to", c.url, "--batch-size", "5000")
	if !strings.Contains(r.stderr, "copy: 5000/10000 (50%) copied=0 skipped=5000") || strings.Contains(r.stderr, "█") {
		t.Errorf("copy without a terminal, stderr:\n%s", r.stderr)
	}
}

// interrupt runs the binary with args and sends it SIGINT at the first
// stderr line that starts with at; it returns stderr and the exit code.
func interrupt(t *testing.T, env []string, at string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = baseEnv(env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), at) {
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return log.String(), cmd.ProcessState.ExitCode()
}

// Ctrl-C stops a copy cleanly and prints the cursor; the same command with
// --cursor finishes it. A backup stopped so leaves no file behind.
func TestCopyInterruptedAndResumed(t *testing.T) {
	const n = 10000
	a := newShop(t, redistest.StartServer(t))
	b := newShop(t, redistest.StartServer(t))
	a.seed(t, n, 10)
	env := []string{"SESSION_SECRET=" + testSecret}
	args := []string{"copy", "--from", a.url, "--to", b.url, "--batch-size", "100", "--progress", "lines"}

	log, code := interrupt(t, env, "copy: 100/", args...)
	if code != exitInterrupted {
		t.Fatalf("interrupted copy: exit %d, want %d\n%s", code, exitInterrupted, log)
	}
	m := regexp.MustCompile(`resume with the same command and --cursor (pos:\d+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no cursor printed:\n%s", log)
	}
	if strings.Contains(log, "failed=") {
		t.Errorf("the record in hand at the interruption is reported as failed:\n%s", log)
	}
	copied := b.count(t)
	if copied == 0 || copied == n {
		t.Fatalf("the interrupted copy copied %d of %d sessions", copied, n)
	}
	r := ok(t, env, nil, append(args, "--cursor", m[1], "--json")...)
	var res statsJSON
	decode(t, r.stdout, &res)
	if got := b.count(t); got != n || res.Copied != int64(n-copied) || res.Failed != 0 {
		t.Errorf("after resuming at %s: B holds %d; %+v (the first run copied %d)", m[1], got, res.Stats, copied)
	}
	if got := len(b.userKeys(t, "user3")); got != n/10 {
		t.Errorf("user3 has %d sessions in B, want %d", got, n/10)
	}

	dir := t.TempDir()
	log, code = interrupt(t, env, "backup: 100/", "backup", filepath.Join(dir, "sessions.jsonl"), "--store", a.url, "--batch-size", "100", "--progress", "lines")
	if code != exitInterrupted || !strings.Contains(log, "the backup is incomplete (no file was written)") {
		t.Errorf("interrupted backup: exit %d\n%s", code, log)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("an interrupted backup left %v", files)
	}
}
