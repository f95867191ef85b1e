//go:build linux

package pgtest

import "syscall"

// setDeathSignal asks the kernel to kill the server when the test process
// dies without running its cleanups (a panic or a test timeout).
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
