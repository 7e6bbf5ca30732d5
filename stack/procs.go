package stack

import (
	"os"
	"runtime"
	"sync"
)

// procsMu orders the read-modify-writes of GOMAXPROCS that ReserveProcs
// and its restore functions make: GOMAXPROCS is the process's, so the
// lock that guards it is too.
var procsMu sync.Mutex

// ReserveProcs gives n softnets Ps of their own. A softnet keeps a P for
// as long as it polls: on a machine whose softnets are as many as GOMAXPROCS, the
// application's goroutines (a net.Conn reader, a relay's copy loop, an
// accept loop) run only while a softnet sleeps, and every hand-off to
// them waits for one to. ReserveProcs raises GOMAXPROCS by n, so the
// goroutines keep the Ps they would have had without the stack and the
// operating system shares the CPUs among the threads instead.
//
// The returned function gives the n Ps back (lowers GOMAXPROCS by n);
// reservations of several stacks add up and may be given back in any
// order. Where the GOMAXPROCS environment variable is set the operator
// chose the count: ReserveProcs changes nothing and its restore neither.
// n <= 0 reserves nothing. It is for the program that owns the process
// (the netsplice binary, a benchmark): a library embedding a stack
// leaves GOMAXPROCS to its program. Any goroutine may call it.
func ReserveProcs(n int) (restore func()) {
	if n <= 0 || os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	procsMu.Lock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	procsMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			procsMu.Lock()
			runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0)-n, 1))
			procsMu.Unlock()
		})
	}
}
