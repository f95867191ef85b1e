//go:build !unix

package redistest

import "os"

// Stop and Cont need SIGSTOP and SIGCONT; elsewhere they fail the test.
var (
	sigStop os.Signal = unsupportedSignal("SIGSTOP")
	sigCont os.Signal = unsupportedSignal("SIGCONT")
)

type unsupportedSignal string

func (s unsupportedSignal) String() string { return string(s) }
func (unsupportedSignal) Signal()          {}
