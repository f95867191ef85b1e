package pgtest

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	Require(t)
	s := Start(t)
	pid := s.PID()
	if pid == 0 {
		t.Fatal("PID is 0 after Start")
	}
	if err := dial(s.Addr()); err != nil {
		t.Fatalf("server not listening: %v", err)
	}
	s.Stop()
	if s.PID() != 0 {
		t.Fatal("PID after Stop")
	}
	if err := dial(s.Addr()); err == nil {
		t.Fatal("stopped server still accepts connections")
	}
	s.Restart()
	if s.PID() == 0 || s.PID() == pid {
		t.Fatalf("PID after Restart = %d (before %d)", s.PID(), pid)
	}
	if err := dial(s.Addr()); err != nil {
		t.Fatalf("restarted server not listening: %v", err)
	}
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// A directory without the binaries is reported, with what is missing.
func TestBinDirMissing(t *testing.T) {
	t.Setenv("PGTEST_BINDIR", t.TempDir())
	err := Available()
	if err == nil || !strings.Contains(err.Error(), "initdb missing") {
		t.Fatalf("Available with an empty PGTEST_BINDIR = %v, want an error naming initdb", err)
	}
}
