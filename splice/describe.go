package splice

import "fmt"

// Describe returns a one-line summary of the current or last splice whose
// source is src (Lookup), for diagnosing a stall; see Splice.Describe.
func (s *Splicer) Describe(src Socket) string { return s.Lookup(src).Describe() }

// Describe returns a one-line summary of the splice for diagnosing a
// stall: whether it ended, bytes moved, and its mover's state (for a TCP
// splice on a softnet: what the source holds and the drain takes, which
// of its wake-ups are queued). Any goroutine; control path only.
func (p *Splice) Describe() string {
	if p == nil {
		return "no splice"
	}
	var err error
	select {
	case <-p.done:
		if p.err != 0 {
			err = p.err // written before done closed
		}
	default:
	}
	return fmt.Sprintf("%v %v splice ended=%v moved=%d max=%d idle=%v err=%v %s",
		p.s.mode, p.proto, p.ended.Load(), p.moved.Load(), p.max, p.idle, err, p.m.describe())
}
