package stack

import (
	"net/netip"
	"syscall"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/task"
)

// The softnet-side TCP API: zero-copy, event-driven, for code that runs on
// the connection's own softnet (relays, splicing, traffic generators).
// Payload moves as packets: ReadPackets takes the in-order receive queue,
// WritePackets appends packets to the send queue. Events run as a task on
// the connection's softnet after the current input has been processed, so
// a handler may read, write, close or open connections without
// re-entering the protocol.
//
// A connection is driven either by this API or by the net.Conn methods
// (Read, Write), not both at once.

// TCPEvents are a connection's softnet-side callbacks. Nil members are
// not called.
type TCPEvents struct {
	// Established runs when an active open completes (or fails: check Err).
	Established func(c *TCPConn)
	// Readable runs when payload, the peer's FIN or an error arrived.
	Readable func(c *TCPConn)
	// Writable runs when acknowledgments opened send space.
	Writable func(c *TCPConn)
	// Closed runs once when the connection left the flow table.
	Closed func(c *TCPConn)
}

type tcpEventState struct {
	ev                         *TCPEvents
	t                          task.Task
	readable, writable, closed bool
	established                bool
}

// SetEvents installs softnet-side callbacks. It must run on c's softnet.
func (c *TCPConn) SetEvents(ev *TCPEvents) {
	if c.evs == nil {
		c.evs = &c.evState
		c.evs.t.InitHandler((*tcpDispatch)(c), tcpEventsTask, nil)
	}
	c.evs.ev = ev
	// Report what is already there.
	if !c.rx.Empty() || c.finRcvd.Load() || c.errno.Load() != 0 {
		c.evs.readable = true
	}
	if c.SendSpace() > 0 {
		c.evs.writable = true
	}
	if c.state.synchronized() {
		c.evs.established = true
	}
	c.postEvents()
}

func (c *TCPConn) postEvents() {
	if c.evs != nil && c.evs.ev != nil {
		c.sn.tasks.Add(&c.evs.t, c.sn.id)
	}
}

// runEvents delivers pending events; it runs as a task on the softnet.
func (c *TCPConn) runEvents() {
	e := c.evs
	ev := e.ev
	if ev == nil {
		return
	}
	if e.established {
		e.established = false
		if ev.Established != nil {
			ev.Established(c)
		}
	}
	if e.readable {
		e.readable = false
		if ev.Readable != nil {
			ev.Readable(c)
		}
	}
	if e.writable {
		e.writable = false
		if ev.Writable != nil {
			ev.Writable(c)
		}
	}
	if e.closed {
		e.closed = false
		if ev.Closed != nil {
			ev.Closed(c)
		}
	}
}

// Err returns the error that ended the connection (ECONNRESET,
// ECONNREFUSED, ETIMEDOUT), or nil.
func (c *TCPConn) Err() error {
	if e := c.errno.Load(); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// Writable reports whether the connection can still send: not reset, not
// shut down for writing, not closed. Softnet only.
func (c *TCPConn) Writable() bool {
	if c.errno.Load() != 0 || c.finQueued || c.removed || c.wrClosed.Load() {
		return false
	}
	switch c.state {
	case tcpEstablished, tcpCloseWait, tcpSynSent, tcpSynRcvd:
		return true
	}
	return false
}

// EOF reports whether the peer's FIN arrived and every byte before it has
// been read.
func (c *TCPConn) EOF() bool {
	return c.finRcvd.Load() && c.rx.Empty() && c.rcur == nil && c.rback.Load() == nil
}

// Closed reports whether the connection left the flow table. Softnet only.
func (c *TCPConn) Closed() bool { return c.removed }

// ReadPackets takes in-order payload as whole packets linked through
// Next, at most max bytes (a packet that would pass max stays queued), and
// returns the chain and its byte count. The
// caller owns the packets (free them with Softnet.Free or pass them to
// WritePackets). The receive window opens accordingly. Softnet only.
func (c *TCPConn) ReadPackets(max int) (*driver.Packet, int) {
	var head, tail *driver.Packet
	n := 0
	for {
		pk, back := c.rxHead()
		if pk == nil || n+pk.Len() > max {
			break
		}
		if back {
			c.rback.Store(nil)
		} else {
			c.rx.Pop()
		}
		pk.Next = nil
		if tail == nil {
			head = pk
		} else {
			tail.Next = pk
		}
		tail = pk
		n += pk.Len()
	}
	if n > 0 {
		c.consumed.Add(uint64(n))
		if c.needWUpd.Load() {
			c.needWUpd.Store(false)
			c.runWindowUpdate()
		}
	}
	return head, n
}

// rxHead returns the next packet in order for ReadPackets: the one the
// reader handed back (back true), else the receive queue's head.
func (c *TCPConn) rxHead() (pk *driver.Packet, back bool) {
	if pk := c.rback.Load(); pk != nil {
		return pk, true
	}
	return c.rx.Peek(), false
}

// SplitHead takes the first n bytes of the receive queue's head packet
// as a new packet (a copy of n bytes, counted in tcp_rx_split_bytes),
// leaving the rest queued: a splice that must stop at exactly max bytes
// inside a packet uses it. It returns nil when nothing is queued, n is not
// less than the head's length, or no buffer is free. Softnet only.
func (c *TCPConn) SplitHead(n int) *driver.Packet {
	head, _ := c.rxHead()
	if head == nil || n <= 0 || n >= head.Len() {
		return nil
	}
	pk := c.sn.alloc(c.ifc)
	if pk == nil {
		return nil
	}
	copy(pk.Append(n), head.Data()[:n])
	head.TrimFront(n)
	c.sn.add(TCPRxSplitBytes, uint64(n))
	c.consumed.Add(uint64(n))
	return pk
}

// Readable returns the bytes waiting in order for ReadPackets (an
// estimate when an application reader also runs).
func (c *TCPConn) Readable() int { return int(c.delivered - c.consumed.Load()) }

// SendSpace returns the free send-buffer bytes. Softnet only.
func (c *TCPConn) SendSpace() int {
	switch c.state {
	case tcpEstablished, tcpCloseWait, tcpSynSent, tcpSynRcvd:
	default:
		return 0
	}
	if c.finQueued {
		return 0
	}
	return max(c.sndBuf-c.sndQueued, 0)
}

// WritePackets appends payload packets to the send queue while the send
// buffer has room, taking them whole, and returns the packets not taken
// and the bytes taken. The packets must belong to this softnet's pools.
// A small net.Conn Write that returned before it was queued (write-behind)
// goes first: until it is queued, nothing is taken. Softnet only.
func (c *TCPConn) WritePackets(head *driver.Packet) (*driver.Packet, int) {
	if c.wstaged.Load() {
		c.runStaged()
		if c.wstaged.Load() {
			return head, 0
		}
	}
	space := c.SendSpace()
	n := 0
	for head != nil && head.Len() <= space {
		pk := head
		head = pk.Next
		pk.Next = nil
		if pk.Len() == 0 {
			c.sn.free(pk)
			continue
		}
		if c.sndTail == nil {
			c.sndHead = pk
		} else {
			c.sndTail.Next = pk
		}
		c.sndTail = pk
		c.sndQueued += pk.Len()
		space -= pk.Len()
		n += pk.Len()
	}
	if n > 0 {
		c.output()
	}
	return head, n
}

// NewPacket returns an empty packet from the connection's softnet pool for
// its interface, with headroom for the headers: fill it (Append) and hand
// it to WritePackets. It returns nil when the pool is empty (counted as
// tx_drop_nobuf). Softnet only.
func (c *TCPConn) NewPacket() *driver.Packet { return c.sn.alloc(c.ifc) }

// ShutdownWrite queues a FIN after the send queue. Softnet only.
func (c *TCPConn) ShutdownWrite() {
	c.wrClosed.Store(true)
	c.runClose()
}

// Abort resets the connection. Softnet only.
func (c *TCPConn) Abort() {
	c.appClosed.Store(true)
	c.runAbort()
}

// CloseOnSoftnet closes a softnet-driven connection: FIN after the queued
// data, or RST when received data was left unread. Softnet only.
func (c *TCPConn) CloseOnSoftnet() {
	if c.appClosed.Swap(true) {
		return
	}
	if c.dropUnread() {
		c.runAbort()
		return
	}
	c.wrClosed.Store(true)
	c.runClose()
}

// DialTCP opens a connection from this softnet without blocking: the
// connection is returned in SYN-SENT and ev.Established runs when the
// handshake ends. laddr and raddr are checked as Stack.DialTCP checks
// them (the same code); without a local port one is chosen so that
// replies hash to this softnet; when none fits, the connection lives on
// the softnet RSS picks, and ev still runs there. When no port is free it
// takes over one in TIME-WAIT as Stack.DialTCP does. It runs on sn.
func (sn *Softnet) DialTCP(laddr, raddr netip.AddrPort, ev *TCPEvents) (*TCPConn, error) {
	c, steered, old, err := sn.st.newActiveConn(laddr, raddr, sn.id)
	if err != nil {
		return nil, err
	}
	c.dialOld, c.dialUnsteered, c.dialEv = old, !steered, ev
	if c.sn == sn {
		c.runConnect()
	} else {
		c.sn.Add(&c.openT, sn)
	}
	return c, nil
}
