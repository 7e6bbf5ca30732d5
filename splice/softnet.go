package splice

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// ModeSoftnet's movers: a splice's work runs on the softnet that owns its
// source, with no lock and no cross-core hand-off.

// tcpSoftnet moves a TCP splice on the source's softnet: the source's
// Readable event (new data) and the drain's Writable event (the drain's
// peer acknowledged data) run move there, which takes whole packets from
// the source's receive queue and appends them to the drain's send queue.
// Only pairs whose connections share a softnet get it (newTCPMover); the
// rest copy. Owned by the source's softnet once started.
type tcpSoftnet struct {
	p          *Splice
	src, drain *stack.TCPConn
	started    atomic.Bool // begin ran: events may kick it
	lastMove   int64       // softnet clock of the last move
	idleT      timer.Timer
	wake       task.Task // move, queued on the source's softnet from elsewhere
}

func newTCPSoftnet(p *Splice, src, drain *stack.TCPConn) *tcpSoftnet {
	return &tcpSoftnet{p: p, src: src, drain: drain}
}

// start waits, like sosplice, for a Read in progress on src and keeps
// readers out while the splice begins on src's softnet; the bytes a
// reader left in a partly read packet move first.
func (m *tcpSoftnet) start() error {
	// A new splice takes over the source: the last one's end reason,
	// left for a reader that did not come, goes.
	m.src.SpliceHooks().SetSoftError(0)
	release := m.src.SpliceHooks().HoldReader()
	m.src.SpliceHooks().ParkReaderPartial()
	var err error
	sn := m.src.Softnet()
	cerr := sn.Stack().Call(sn, func() { err = m.begin() })
	release()
	if cerr != nil {
		return cerr
	}
	return err
}

// begin runs on the source's softnet.
func (m *tcpSoftnet) begin() error {
	p := m.p
	if p.ended.Load() {
		return nil // unspliced (or closed) while it waited for src's reader
	}
	// A drain shut down for writing is still connected: the first move
	// ends the splice with EPIPE.
	if m.src.Closed() || m.drain.Closed() {
		return syscall.ENOTCONN
	}
	m.src.SpliceHooks().SetSpliced(true)
	m.wake.Init(m.move, nil)
	m.idleT.Init(m.onIdle)
	m.started.Store(true)
	sn := m.src.Softnet()
	m.lastMove = sn.Clock() // not the iteration's start: the idle time must not end early
	if p.idle > 0 {
		sn.Timers().Reset(&m.idleT, m.lastMove, p.idle)
	}
	p.s.install(p.ss, m.src)
	p.s.install(p.ds, m.drain) // the same softnet
	m.move()                   // data already queued moves at once
	return nil
}

// install sets the events of a connection with splice roles; they kick
// the live splice of each role. It runs on the connection's softnet.
func (s *Splicer) install(sk *sock, c *stack.TCPConn) {
	c.SetEvents(&stack.TCPEvents{
		Readable: func(c *stack.TCPConn) {
			if p := sk.src.Load(); p != nil && !p.ended.Load() {
				p.m.kick(c.Softnet())
			}
		},
		Writable: func(c *stack.TCPConn) {
			if p := sk.drain.Load(); p != nil && !p.ended.Load() {
				p.m.kick(c.Softnet())
			}
		},
		Closed: func(c *stack.TCPConn) {
			if p := sk.src.Load(); p != nil && !p.ended.Load() {
				p.m.kick(c.Softnet())
			}
			if p := sk.drain.Load(); p != nil && !p.ended.Load() {
				p.m.kick(c.Softnet())
			}
		},
	})
}

// kick runs move on the source's softnet: directly when the event came
// there, else through its task queue (a counted crossing).
func (m *tcpSoftnet) kick(from *stack.Softnet) {
	if !m.started.Load() {
		// Published by Splice, not begun yet (its tasks are not
		// initialized): events installed by an earlier splice of the
		// same socket must not run it. begin moves what is queued.
		return
	}
	sn := m.src.Softnet()
	if from == sn {
		m.move()
		return
	}
	sn.Add(&m.wake, from)
}

// move moves what the drain takes and decides whether the splice ended.
// It runs on the source's softnet, which is the drain's too.
func (m *tcpSoftnet) move() {
	p := m.p
	if p.ended.Load() {
		return
	}
	src, drain := m.src, m.drain
	sn := src.Softnet()
	// The drain's end conditions first (SPLICE.md: EPIPE, copied errors).
	if err := drain.Err(); err != nil {
		p.end(endDrain, err.(syscall.Errno))
		return
	}
	if !drain.Writable() {
		p.end(endDrain, syscall.EPIPE)
		return
	}
	movedNow := false
	for {
		budget := int64(drain.SendSpace())
		if p.max > 0 {
			budget = min(budget, p.max-p.moved.Load())
		}
		if budget <= 0 {
			break
		}
		head, n := src.ReadPackets(int(budget))
		if n == 0 {
			// The next packet is larger than the budget: split it when
			// max is what limits.
			if p.max > 0 && p.max-p.moved.Load() == budget && src.Readable() > 0 {
				head = src.SplitHead(int(budget))
				if head != nil {
					n = head.Len()
				}
			}
			if n == 0 {
				break
			}
		}
		if looped(head) {
			// The data came back through local connections more than
			// maxLoops times: a splice loop. It is dropped.
			freeChain(sn, head)
			p.end(endLoop, syscall.ELOOP)
			return
		}
		rest, w := drain.WritePackets(head)
		freeChain(sn, rest) // cannot happen: n <= SendSpace
		p.moved.Add(int64(w))
		p.s.counted(w)
		movedNow = true
	}
	if movedNow {
		// A fresh reading, not the iteration's cached clock: under load an
		// iteration can start milliseconds before this move, and the idle
		// time must not end early.
		m.lastMove = sn.Clock()
	}
	switch {
	case p.max > 0 && p.moved.Load() >= p.max:
		p.end(endMax, syscall.EFBIG)
	case src.EOF():
		p.end(endEOF, 0)
	case src.Err() != nil:
		p.end(endError, src.Err().(syscall.Errno))
	}
}

// looped counts one more splice pass on every packet of a chain and
// reports whether one of them had passed maxLoops splices already.
func looped(head *driver.Packet) bool {
	loop := false
	for pk := head; pk != nil; pk = pk.Next {
		if pk.Loops >= maxLoops {
			loop = true
		} else {
			pk.Loops++
		}
	}
	return loop
}

func freeChain(sn *stack.Softnet, head *driver.Packet) {
	for pk := head; pk != nil; {
		next := pk.Next
		sn.Free(pk)
		pk = next
	}
}

// onIdle ends a splice that moved nothing for its idle time, or re-arms.
func (m *tcpSoftnet) onIdle() {
	p := m.p
	if p.ended.Load() {
		return
	}
	sn := m.src.Softnet()
	now := sn.Clock()
	if d := time.Duration(now - m.lastMove); d < p.idle {
		sn.Timers().Reset(&m.idleT, now, p.idle-d)
		return
	}
	p.end(endIdle, syscall.ETIMEDOUT)
}

// stop runs on the source's softnet (end always does for this mover).
func (m *tcpSoftnet) stop(int) { m.idleT.Stop() }

// release is last: a reader woken by it finds the end reason already left.
func (m *tcpSoftnet) release() { m.src.SpliceHooks().SetSpliced(false) }

func (m *tcpSoftnet) unsplice(Socket) {
	sn := m.src.Softnet()
	sn.Stack().Call(sn, func() { m.p.end(endUnsplice, 0) })
}

func (m *tcpSoftnet) describe() string {
	line := fmt.Sprintf("started=%v", m.started.Load())
	if !m.started.Load() {
		return line
	}
	sn := m.src.Softnet()
	sn.Stack().Call(sn, func() {
		line += fmt.Sprintf(" src{readable=%d eof=%v err=%v} drain{space=%d writable=%v err=%v} wake=%v idleT=%v",
			m.src.Readable(), m.src.EOF(), m.src.Err(), m.drain.SendSpace(), m.drain.Writable(), m.drain.Err(),
			m.wake.Queued(), m.idleT.Armed())
	})
	return line
}

// udpSoftnet moves a UDP splice: one datagram in, one datagram out,
// boundaries kept (zero-length datagrams too), the source address dropped
// and the drain sending to its connected peer. The source's splice hook
// takes each datagram on the softnet that received it and sends it from
// there with the drain's zero-copy SendPacket, so a datagram never
// crosses cores. A datagram that would pass max is never split: the
// splice ends and the datagram stays queued for the source's reader.
type udpSoftnet struct {
	p          *Splice
	src, drain *stack.UDPConn
	home       *stack.Softnet // the source's: its idle timer and queued datagrams
	lastMove   atomic.Int64   // softnet clock of the last move
	idleT      timer.Timer    // on home
}

func newUDPSoftnet(p *Splice, src, drain *stack.UDPConn) *udpSoftnet {
	return &udpSoftnet{p: p, src: src, drain: drain, home: src.Home()}
}

func (m *udpSoftnet) start() error { return m.begin(m.handle, m.moveQueued) }

// begin starts the idle clock, installs the receive hook h and moves the
// datagrams queued before the splice at once (queued), on home.
func (m *udpSoftnet) begin(h stack.UDPHandler, queued func()) error {
	m.home.Stack().Call(m.home, func() {
		m.lastMove.Store(m.home.Clock()) // the idle time must not end early
		m.idleT.Init(m.onIdle)
		if m.p.idle > 0 {
			m.home.Timers().Reset(&m.idleT, m.lastMove.Load(), m.p.idle)
		}
		m.src.SpliceHooks().SetSpliceHandler(h)
		queued()
	})
	return nil
}

// handle moves one datagram; it runs on the softnet that received it.
func (m *udpSoftnet) handle(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
	if !m.accept(pk) {
		c.Queue(sn, pk) // it stays for the reader
		return
	}
	m.send(sn, pk)
}

// moveQueued moves the datagrams waiting in src's ring (those that came
// before the splice). It runs on home.
func (m *udpSoftnet) moveQueued() {
	m.src.SpliceHooks().TakeQueuedIf(m.accept, func(pk *driver.Packet) { m.send(m.home, pk) })
}

// accept reports whether the splice takes datagram pk, ending it when pk
// is one it must refuse: past max (never split), or looping.
func (m *udpSoftnet) accept(pk *driver.Packet) bool {
	p := m.p
	if p.ended.Load() {
		return false
	}
	n := len(stack.UDPPayload(pk))
	if p.max > 0 && p.moved.Load()+int64(n) > p.max {
		p.end(endMax, 0)
		return false
	}
	if pk.Loops >= maxLoops {
		// Back through local sockets more than maxLoops times: a splice
		// loop.
		p.end(endLoop, syscall.ELOOP)
		return false
	}
	return true
}

// send moves an accepted datagram out of the drain from softnet sn.
func (m *udpSoftnet) send(sn *stack.Softnet, pk *driver.Packet) {
	p := m.p
	n := len(stack.UDPPayload(pk))
	pk.Loops++
	pk.TrimFront(pk.Len() - n)
	if err := m.drain.SendPacket(sn, pk, netip.AddrPort{}); err != nil {
		var en syscall.Errno
		if !errors.As(err, &en) {
			en = syscall.EPIPE
		}
		p.end(endDrain, en)
		return
	}
	moved := p.moved.Add(int64(n))
	m.lastMove.Store(sn.Now())
	p.s.counted(n)
	if p.max > 0 && moved == p.max {
		p.end(endMax, syscall.EFBIG)
	}
}

func (m *udpSoftnet) onIdle() {
	p := m.p
	if p.ended.Load() {
		return
	}
	now := m.home.Clock()
	if d := time.Duration(now - m.lastMove.Load()); d < p.idle {
		m.home.Timers().Reset(&m.idleT, now, p.idle-d)
		return
	}
	p.end(endIdle, syscall.ETIMEDOUT)
}

func (m *udpSoftnet) kick(*stack.Softnet) {}

// stop comes after the end reason: a datagram queued once the hook is
// gone must not reach the reader before it.
func (m *udpSoftnet) stop(int) { m.src.SpliceHooks().SetSpliceHandler(nil) }

// release stops the idle timer, which belongs to home.
func (m *udpSoftnet) release() { onHome(m.home, func() { m.idleT.Stop() }) }

// onHome runs fn on softnet home, later.
func onHome(home *stack.Softnet, fn func()) {
	t := task.New(fn)
	home.Add(t, nil)
	t.Release()
}

func (m *udpSoftnet) unsplice(Socket) { m.p.end(endUnsplice, 0) }

func (m *udpSoftnet) describe() string {
	return fmt.Sprintf("home=%d drops=%d", m.home.ID(), m.src.Drops())
}
