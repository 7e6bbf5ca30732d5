package splice

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/ring"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// UDP splicing: one datagram in, one datagram out, boundaries kept
// (zero-length datagrams too), the source address dropped and the drain
// sending to its connected peer. The source's splice hook takes each
// datagram on the softnet that received it and sends it from there with
// the drain's zero-copy SendPacket, so a datagram never crosses cores.
// A datagram that would pass max is never split: the splice ends and the
// datagram stays queued for the source's reader. ModeCopy copies through
// the sockets' blocking API instead. ModeDedicated queues each datagram
// in the source's ring and wakes the splice thread, which hands the move
// back to the source's home softnet: OpenBSD's sorwakeup before the
// seed's change, two hand-offs per wakeup.

// udpSplice is one UDP splice.
type udpSplice struct {
	s          *Splicer
	src, drain *stack.UDPConn
	max        int64
	idle       time.Duration
	moved      atomic.Int64
	lastMove   atomic.Int64 // softnet clock of the last move
	ended      atomic.Bool
	err        error
	done       chan struct{}
	idleT      timer.Timer // on the source's home softnet
	home       *stack.Softnet
	copierDone chan struct{} // ModeCopy: closed when the copier returns
	wake, ded  task.Task     // ModeDedicated: the move on home, the splice thread's hand-off
	// ModeDedicated: datagrams waiting for the splice thread's hand-off,
	// kept apart from the reader's ring (a parked reader must not get
	// them); home pops.
	q *ring.MPSC[driver.Packet]
}

// dedicatedQueue bounds the datagrams of one ModeDedicated splice waiting
// for the splice thread; beyond it they are dropped and counted, as a
// full socket buffer drops them.
const dedicatedQueue = 1024

// udpState tracks UDP roles, separately from TCP's.
type udpState struct {
	mu     sync.Mutex
	src    map[*stack.UDPConn]*udpSplice // current or last splice per source
	drains map[*stack.UDPConn]*udpSplice
}

// SpliceUDP starts moving every datagram src receives to drain, up to max
// payload bytes (0: no limit), ending after idle without a datagram (0:
// never). src may be unconnected; drain must be connected (ENOTCONN).
func (s *Splicer) SpliceUDP(src, drain *stack.UDPConn, max int64, idle time.Duration) error {
	if src == nil || drain == nil || max < 0 || idle < 0 {
		return udpErr(syscall.EINVAL)
	}
	if !drain.Connected() || src.Closed() || drain.Closed() {
		return udpErr(syscall.ENOTCONN)
	}
	u := &s.udp
	u.mu.Lock()
	if u.src == nil {
		u.src, u.drains = map[*stack.UDPConn]*udpSplice{}, map[*stack.UDPConn]*udpSplice{}
	}
	if p := u.src[src]; p != nil && !p.ended.Load() {
		u.mu.Unlock()
		return udpErr(syscall.EBUSY)
	}
	if p := u.drains[drain]; p != nil && !p.ended.Load() {
		u.mu.Unlock()
		return udpErr(syscall.EBUSY)
	}
	p := &udpSplice{s: s, src: src, drain: drain, max: max, idle: idle, done: make(chan struct{}), home: src.Home()}
	u.src[src], u.drains[drain] = p, p
	u.mu.Unlock()
	// Closing a spliced socket unsplices both of its roles.
	src.SetCloseHook(func() { s.closingUDP(src) })
	drain.SetCloseHook(func() { s.closingUDP(drain) })
	if s.mode == ModeCopy {
		p.copierDone = make(chan struct{})
		go p.copyLoop()
		return nil
	}
	home := p.home
	home.Stack().Call(home, func() {
		p.lastMove.Store(home.Clock()) // the idle time must not end early
		p.idleT.Init(p.onIdle)
		if idle > 0 {
			home.Timers().Reset(&p.idleT, p.lastMove.Load(), idle)
		}
		if s.mode == ModeDedicated {
			p.q, _ = ring.New[driver.Packet](dedicatedQueue)
			p.wake.Init(p.moveQueued, nil)
			p.ded.Init(func() { home.Add(&p.wake, nil) }, nil)
			src.SetSpliceHandler(p.handleDedicated)
		} else {
			src.SetSpliceHandler(p.handle)
		}
		// Datagrams queued before the splice move at once.
		p.moveQueued()
	})
	return nil
}

// handle moves one datagram; it runs on the softnet that received it.
func (p *udpSplice) handle(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
	if !p.accept(pk) {
		c.Queue(sn, pk) // it stays for the reader
		return
	}
	p.send(sn, pk)
}

// handleDedicated is ModeDedicated's receive hook, the old design: the
// datagram waits in src's ring, the splice thread is woken, and it hands
// the move back to src's home softnet (moveQueued), which owns the
// sending. Every datagram crosses cores twice; the counters show it.
func (p *udpSplice) handleDedicated(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
	if p.ended.Load() {
		c.Queue(sn, pk)
		return
	}
	if !p.q.Push(pk) {
		p.s.udpDrops.Add(1)
		sn.Free(pk)
	}
	p.s.dedicated.Add(&p.ded, sn.ID())
}

// moveQueued moves the datagrams waiting in src's ring (those that came
// before the splice) and, in ModeDedicated, in the splice's own queue. It
// runs on src's home softnet.
func (p *udpSplice) moveQueued() {
	p.src.TakeQueuedIf(p.accept, func(pk *driver.Packet) { p.send(p.home, pk) })
	if p.q == nil {
		return
	}
	for pk := p.q.Peek(); pk != nil && p.accept(pk); pk = p.q.Peek() {
		p.q.Pop()
		p.send(p.home, pk)
	}
}

// accept reports whether the splice takes datagram pk, ending it when pk
// is one it must refuse: past max (never split), or looping.
func (p *udpSplice) accept(pk *driver.Packet) bool {
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
func (p *udpSplice) send(sn *stack.Softnet, pk *driver.Packet) {
	n := len(stack.UDPPayload(pk))
	pk.Loops++
	pk.TrimFront(pk.Len() - n)
	if err := p.drain.SendPacket(sn, pk, netip.AddrPort{}); err != nil {
		var en syscall.Errno
		if !errors.As(err, &en) {
			en = syscall.EPIPE
		}
		p.end(endDrain, en)
		return
	}
	moved := p.moved.Add(int64(n))
	p.lastMove.Store(sn.Now())
	p.s.moves.Add(1)
	p.s.bytes.Add(uint64(n))
	if p.max > 0 && moved == p.max {
		p.end(endMax, syscall.EFBIG)
	}
}

func (p *udpSplice) onIdle() {
	if p.ended.Load() {
		return
	}
	now := p.home.Clock()
	if d := time.Duration(now - p.lastMove.Load()); d < p.idle {
		p.home.Timers().Reset(&p.idleT, now, p.idle-d)
		return
	}
	p.end(endIdle, syscall.ETIMEDOUT)
}

// end finishes the splice; any goroutine or softnet may call it once.
func (p *udpSplice) end(reason int, errno syscall.Errno) {
	if p.ended.Swap(true) {
		return
	}
	// The end reason first: a datagram queued once the handler is gone
	// must not reach the reader before it.
	if errno != 0 {
		p.err = errno
		p.src.SetSoftError(errno)
	}
	p.src.SetSpliceHandler(nil)
	p.s.ends[reason].Add(1)
	close(p.done)
	if p.s.mode != ModeCopy {
		// The idle timer belongs to the home softnet.
		home := p.home
		t := task.New(func() {
			p.idleT.Stop()
			// ModeDedicated: what waited for the splice thread stays
			// for the reader.
			if p.q != nil {
				for pk := p.q.Pop(); pk != nil; pk = p.q.Pop() {
					p.src.Queue(home, pk)
				}
			}
		})
		home.Add(t, nil)
		t.Release()
	}
}

// UnspliceUDP ends src's splice (EPROTO when there is none).
func (s *Splicer) UnspliceUDP(src *stack.UDPConn) error {
	p := s.udpSplice(src)
	if p == nil || p.ended.Load() {
		return udpErr(syscall.EPROTO)
	}
	p.stop()
	return nil
}

// stop ends the splice as Unsplice does and waits for a copier.
func (p *udpSplice) stop() {
	p.end(endUnsplice, 0)
	if p.copierDone != nil {
		// Wake the copier and wait for it, so that nothing it reads after
		// this returns is lost.
		p.src.SetReadDeadline(time.Unix(1, 0))
		<-p.copierDone
		p.src.SetReadDeadline(time.Time{})
	}
}

// closingUDP ends the splices of a socket being closed, in both roles.
func (s *Splicer) closingUDP(c *stack.UDPConn) {
	u := &s.udp
	u.mu.Lock()
	ps := []*udpSplice{u.src[c], u.drains[c]}
	// A closed socket is forgotten, as TCP's are: the maps would
	// otherwise keep every session's sockets reachable.
	delete(u.src, c)
	delete(u.drains, c)
	u.mu.Unlock()
	for _, p := range ps {
		if p != nil && !p.ended.Load() {
			p.stop()
		}
	}
}

// DoneUDP returns a channel closed when src's splice ends (nil if none).
func (s *Splicer) DoneUDP(src *stack.UDPConn) <-chan struct{} {
	if p := s.udpSplice(src); p != nil {
		return p.done
	}
	return nil
}

// SpliceLenUDP returns the payload bytes src's current or last splice moved.
func (s *Splicer) SpliceLenUDP(src *stack.UDPConn) int64 {
	if p := s.udpSplice(src); p != nil {
		return p.moved.Load()
	}
	return 0
}

// WaitUDP blocks until src's splice ends and returns its end reason.
func (s *Splicer) WaitUDP(src *stack.UDPConn) error {
	p := s.udpSplice(src)
	if p == nil {
		return udpErr(syscall.EPROTO)
	}
	<-p.done
	if p.err != nil {
		return udpErr(p.err)
	}
	return nil
}

func (s *Splicer) udpSplice(src *stack.UDPConn) *udpSplice {
	s.udp.mu.Lock()
	defer s.udp.mu.Unlock()
	return s.udp.src[src]
}

// copyLoop is ModeCopy for UDP: the userland relay.
func (p *udpSplice) copyLoop() {
	defer close(p.copierDone)
	defer p.src.SetReadDeadline(time.Time{}) // the deadlines were the copier's
	buf := make([]byte, 65536)
	for !p.ended.Load() {
		if p.idle > 0 {
			p.src.SetReadDeadline(time.Now().Add(p.idle))
		} else {
			p.src.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // to notice Unsplice
		}
		n, _, err := p.src.ReadFromUDPAddrPort(buf)
		if p.ended.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if p.idle > 0 {
					p.end(endIdle, syscall.ETIMEDOUT)
					return
				}
				continue
			}
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.EIO
			}
			p.end(endError, en)
			return
		}
		if p.max > 0 && p.moved.Load()+int64(n) > p.max {
			p.end(endMax, 0) // the copy relay has read it: it is lost, as a userland relay would lose it
			return
		}
		// Counted before it is sent: whoever sees the datagram arrive
		// sees it in SpliceLenUDP.
		moved := p.moved.Add(int64(n))
		if _, err := p.drain.Write(buf[:n]); err != nil {
			p.moved.Add(-int64(n))
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.EPIPE
			}
			p.end(endDrain, en)
			return
		}
		p.s.moves.Add(1)
		p.s.bytes.Add(uint64(n))
		if p.max > 0 && moved == p.max {
			p.end(endMax, syscall.EFBIG)
			return
		}
	}
}

func udpErr(err error) error { return &net.OpError{Op: "splice", Net: "udp", Err: err} }
