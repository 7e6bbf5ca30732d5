package stack

import (
	"fmt"
	"strings"
)

// Describe returns a one-line summary of the connection's state for
// diagnosing a stall: TCP state, sequence space, windows, queues, timers,
// pending events and tasks. It reads the softnet-owned state on the
// connection's softnet (through a task), so any goroutine may call it; it
// is control path only.
func (c *TCPConn) Describe() string {
	var s string
	if err := c.st.call(c.sn, func() { s = c.describe() }); err != nil {
		return fmt.Sprintf("%v->%v: %v", c.LocalAddrPort(), c.RemoteAddrPort(), err)
	}
	return s
}

func (c *TCPConn) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v->%v sn%d %v", c.LocalAddrPort(), c.RemoteAddrPort(), c.sn.id, c.state)
	if e := c.errno.Load(); e != 0 {
		fmt.Fprintf(&b, " err=%d", e)
	}
	fmt.Fprintf(&b, " snd{una+%d nxt+%d max+%d wnd=%d queued=%d buf=%d fin=%v/%v}",
		c.sndUna-c.iss, c.sndNxt-c.iss, c.sndMax-c.iss, c.sndWnd, c.sndQueued, c.sndBuf, c.finQueued, c.finSent)
	fmt.Fprintf(&b, " rcv{nxt+%d adv=%d win=%d unread=%d ring=%d ooo=%d fin=%v needwupd=%v}",
		c.rcvNxt-c.irs, c.rcvAdv-c.rcvNxt, c.rcvWindow(), c.delivered-c.consumed.Load(), c.rx.Len(), len(c.ooo), c.finRcvd.Load(), c.needWUpd.Load())
	fmt.Fprintf(&b, " rto=%v backoff=%d rtx=%v zerownd=%v dack=%v",
		c.rto, c.backoff, c.rtxT.Armed(), c.sndWnd == 0 && c.sndQueued > 0, c.dackT.Armed())
	fmt.Fprintf(&b, " app{closed=%v wrclosed=%v rwait=%v wwait=%v spliced=%v}",
		c.appClosed.Load(), c.wrClosed.Load(), c.rwait.Load(), c.wwait.Load(), c.spliced.Load())
	fmt.Fprintf(&b, " tasks{write=%v wupd=%v close=%v abort=%v", c.writeT.Queued(), c.wupdT.Queued(), c.closeT.Queued(), c.abortT.Queued())
	if c.evs != nil {
		fmt.Fprintf(&b, " events=%v r=%v w=%v c=%v", c.evs.t.Queued(), c.evs.readable, c.evs.writable, c.evs.closed)
	}
	b.WriteString("}")
	return b.String()
}
