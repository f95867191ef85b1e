//go:build linux

package redistest

import "syscall"

// sysProcAttr asks the kernel to kill a server when the test process dies
// without running its cleanups (a panic or a test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
