package splice

import (
	"fmt"

	"github.com/netsplice/netsplice/stack"
)

// Describe returns a one-line summary of the current or last splice whose
// source is src, for diagnosing a stall: whether it started or ended,
// bytes moved, what the source holds and the drain takes, and which of
// its wake-ups are queued. Any goroutine; control path only.
func (s *Splicer) Describe(src *stack.TCPConn) string {
	p := s.lastOf(src)
	if p == nil {
		return "no splice"
	}
	var err error
	select {
	case <-p.done:
		err = p.err // written before done closed
	default:
	}
	line := fmt.Sprintf("%v splice started=%v ended=%v copying=%v moved=%d max=%d idle=%v err=%v",
		s.mode, p.started.Load(), p.ended.Load(), p.copying, p.moved.Load(), p.max, p.idle, err)
	if p.copying || !p.started.Load() {
		return line
	}
	sn := src.Softnet()
	sn.Stack().Call(sn, func() {
		line += fmt.Sprintf(" src{readable=%d eof=%v err=%v} drain{space=%d writable=%v err=%v} wake=%v ded=%v idleT=%v",
			src.Readable(), src.EOF(), src.Err(), p.drain.c.SendSpace(), p.drain.c.Writable(), p.drain.c.Err(),
			p.wake.Queued(), p.ded.Queued(), p.idleT.Armed())
	})
	return line
}
