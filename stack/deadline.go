package stack

import (
	"sync"
	"time"
)

// deadlineTimer is the timer of one blocking call (Read, Write, Accept,
// a datagram receive) that has a deadline. It borrows a *time.Timer from
// the stack's pool when first armed and returns it in release, so blocking
// calls with deadlines allocate no timers once the pool is warm (a
// connection's Read used to allocate one per call that blocked). The
// calling goroutine owns it; the zero value with pool set is ready.
type deadlineTimer struct {
	pool *sync.Pool
	t    *time.Timer
}

// after arms the timer to fire in d and returns its channel.
func (dt *deadlineTimer) after(d time.Duration) <-chan time.Time {
	if dt.t == nil {
		if t, ok := dt.pool.Get().(*time.Timer); ok {
			dt.t = t
			t.Reset(d)
		} else {
			dt.t = time.NewTimer(d)
		}
	} else {
		dt.t.Reset(d)
	}
	return dt.t.C
}

// release stops the timer and gives it back to the pool. Stop leaves no
// stale tick in the channel (Go 1.23's timers), so the next borrower
// cannot see this call's expiry.
func (dt *deadlineTimer) release() {
	if dt.t != nil {
		dt.t.Stop()
		dt.pool.Put(dt.t)
		dt.t = nil
	}
}

// deadline returns a timer for one blocking call on s.
func (s *Stack) deadline() deadlineTimer { return deadlineTimer{pool: &s.timers} }
