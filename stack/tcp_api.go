package stack

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/internal/ring"
	"github.com/netsplice/netsplice/stack/header"
	"github.com/netsplice/netsplice/stack/task"
)

// TCPListener accepts TCP connections. It implements net.Listener.
//
// Every softnet has the listener in its table; a SYN creates the
// connection on the softnet it arrived on (its flow's RSS queue), and the
// established connection is handed to Accept through a lock-free ring.
type TCPListener struct {
	st      *Stack
	key     flowKey
	backlog int
	pending atomic.Int32 // half-open plus not yet accepted
	accept  ring.MPSC[TCPConn]
	await   atomic.Bool
	notify  chan struct{}
	closed  atomic.Bool
	done    chan struct{}
	dl      atomic.Int64

	// onAccept, when set, takes new connections on their softnet instead
	// of the accept ring.
	onAccept func(c *TCPConn)
}

// ListenTCPOnSoftnet listens like ListenTCP but hands each established
// connection to accept, which runs on the connection's softnet (its flow's
// RSS queue) as a task: the softnet-side API's listener.
func (s *Stack) ListenTCPOnSoftnet(laddr netip.AddrPort, backlog int, accept func(c *TCPConn)) (*TCPListener, error) {
	if accept == nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(laddr), Err: syscall.EINVAL}
	}
	return s.listenTCP(laddr, backlog, accept)
}

// ListenTCP listens on laddr. The unspecified address listens on every
// interface: 0.0.0.0 for IPv4 only, :: for both families (IPv4 peers
// reach it as Linux's dual-stack sockets do, with IPv4 addresses, not
// IPv4-mapped ones). One listener per port.
// backlog bounds connections that completed or are completing their
// handshake but were not accepted yet; 0 takes the stack's default. SYNs
// beyond it are dropped and counted (drop_tcp_backlog).
func (s *Stack) ListenTCP(laddr netip.AddrPort, backlog int) (*TCPListener, error) {
	return s.listenTCP(laddr, backlog, nil)
}

func (s *Stack) listenTCP(laddr netip.AddrPort, backlog int, accept func(c *TCPConn)) (*TCPListener, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: "tcp", Addr: net.TCPAddrFromAddrPort(laddr), Err: err}
	}
	if s.stopped.Load() {
		return nil, opErr(ErrStopped)
	}
	if !laddr.Addr().IsValid() || laddr.Port() == 0 || laddr.Addr().Zone() != "" {
		return nil, opErr(syscall.EINVAL)
	}
	if backlog == 0 {
		backlog = s.cfg.TCP.Backlog
	}
	if backlog < 0 || backlog > 1<<20 {
		return nil, opErr(syscall.EINVAL)
	}
	key := flowKey{laddr: addrOf(laddr.Addr()), lport: laddr.Port()}
	if !laddr.Addr().IsUnspecified() && s.localIface(key.laddr) == nil {
		return nil, opErr(syscall.EADDRNOTAVAIL)
	}
	l := &TCPListener{st: s, key: key, backlog: backlog, notify: make(chan struct{}, 1), done: make(chan struct{}), onAccept: accept}
	// Room beyond the backlog for connections that SYN cookies complete.
	if err := l.accept.Init(2*backlog + 16); err != nil {
		return nil, opErr(err)
	}
	s.mu.Lock()
	if !s.tcpPorts.listenable(key.laddr, key.lport) {
		s.mu.Unlock()
		return nil, opErr(syscall.EADDRINUSE)
	}
	s.tcpPorts.add(key.laddr, key.lport)
	s.mu.Unlock()
	if err := s.callAll(func(sn *Softnet) { sn.tcpListen[key] = l }); err != nil {
		return nil, opErr(err)
	}
	return l, nil
}

// enqueue hands an established connection to Accept. It runs on the
// connection's softnet and reports false when the ring is full or the
// listener closed.
func (l *TCPListener) enqueue(c *TCPConn) bool {
	if h := l.onAccept; h != nil && !l.closed.Load() {
		l.pending.Add(-1)
		c.onAccept = h // after this segment's processing, as a task
		c.sn.Add(&c.openT, c.sn)
		return true
	}
	if l.closed.Load() || !l.accept.Push(c) {
		l.pending.Add(-1)
		return false
	}
	if l.await.Load() {
		poke(l.notify)
		c.sn.handOff()
	}
	return true
}

// AcceptTCP waits for the next connection.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	tm := l.st.deadline()
	defer tm.release()
	for {
		if c := l.accept.Pop(); c != nil {
			l.pending.Add(-1)
			return c, nil
		}
		if l.closed.Load() {
			return nil, l.opErr(net.ErrClosed)
		}
		var timeout <-chan time.Time
		if dl := l.dl.Load(); dl != 0 {
			d := time.Until(time.Unix(0, dl))
			if d <= 0 {
				return nil, l.opErr(os.ErrDeadlineExceeded)
			}
			timeout = tm.after(d)
		}
		l.await.Store(true)
		if c := l.accept.Pop(); c != nil {
			l.await.Store(false)
			l.pending.Add(-1)
			return c, nil
		}
		select {
		case <-l.notify:
		case <-l.done:
		case <-timeout:
		case <-l.st.stop:
			l.await.Store(false)
			return nil, l.opErr(ErrStopped)
		}
		l.await.Store(false)
	}
}

// Accept implements net.Listener. Only one goroutine at a time may
// accept (the ring has a single consumer); serve loops do that.
func (l *TCPListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// SetDeadline bounds AcceptTCP.
func (l *TCPListener) SetDeadline(t time.Time) error {
	if t.IsZero() {
		l.dl.Store(0)
	} else {
		l.dl.Store(max(t.UnixNano(), 1))
	}
	poke(l.notify)
	return nil
}

func (l *TCPListener) opErr(err error) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
}

// Addr implements net.Listener.
func (l *TCPListener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netipOf(l.key.laddr), l.key.lport))
}

// Close implements net.Listener. Connections not accepted yet are reset.
func (l *TCPListener) Close() error {
	if l.closed.Swap(true) {
		return l.opErr(net.ErrClosed)
	}
	close(l.done)
	s := l.st
	key := l.key
	s.callAll(func(sn *Softnet) {
		if sn.tcpListen[key] == l {
			delete(sn.tcpListen, key)
		}
	})
	s.mu.Lock()
	s.tcpPorts.remove(key.laddr, key.lport)
	s.mu.Unlock()
	for c := l.accept.Pop(); c != nil; c = l.accept.Pop() {
		l.pending.Add(-1)
		c.abort()
	}
	return nil
}

// DialTCP opens a connection to raddr. laddr may be the zero value. The
// connection lives on one softnet: an ephemeral local port is chosen so
// that the peer's replies hash (Toeplitz, the port's key and RETA) to the
// softnet picked for it, round robin; when no free port in the ephemeral
// range steers there, any free port is taken, the connection lives on the
// softnet its replies hash to, and tcp_steer_fallback counts it.
func (s *Stack) DialTCP(ctx context.Context, laddr, raddr netip.AddrPort) (*TCPConn, error) {
	return s.dialTCP(ctx, laddr, raddr, -1)
}

// DialTCPFrom is DialTCP for code that wants the connection on softnet
// want (a relay opening its backend connection on the softnet that
// accepted the client).
func (s *Stack) DialTCPFrom(ctx context.Context, want int, laddr, raddr netip.AddrPort) (*TCPConn, error) {
	if want < 0 || want >= len(s.sn) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: syscall.EINVAL}
	}
	return s.dialTCP(ctx, laddr, raddr, want)
}

func (s *Stack) dialTCP(ctx context.Context, laddr, raddr netip.AddrPort, want int) (*TCPConn, error) {
	opErr := func(err error) error {
		oe := &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
		if laddr.IsValid() {
			oe.Source = net.TCPAddrFromAddrPort(laddr)
		}
		return oe
	}
	if s.stopped.Load() {
		return nil, opErr(ErrStopped)
	}
	c, steered, old, err := s.newActiveConn(laddr, raddr, want)
	if err != nil {
		return nil, opErr(err)
	}
	c.dialOld, c.dialUnsteered = old, !steered
	// The connect runs on the softnet as the connection's own task (no
	// closure, no call to wait for), and handshakeDone pokes the
	// writer's wake channel, made before the softnet sees c: a dial
	// allocates nothing beyond the connection itself.
	wake := c.wnotify.get()
	if !s.started.Load() {
		c.runConnect()
		c.sn.publish()
		return c, nil // driven by Poll: the caller waits with c.Established
	}
	c.sn.tasks.Add(&c.openT, -1)
	for !c.cdone.Load() {
		select {
		case <-wake:
		case <-ctx.Done():
			c.abort()
			return nil, opErr(ctx.Err())
		case <-s.stop:
			return nil, opErr(ErrStopped)
		}
	}
	// A connection reset right after its handshake completed is still
	// connected, as connect(2) has it: the reset shows on the first Read
	// or Write.
	if e := c.errno.Load(); e != 0 && !c.synced.Load() {
		return nil, opErr(syscall.Errno(e))
	}
	return c, nil
}

// newActiveConn checks the addresses of an active open, picks the route
// and the local port (steered to softnet want, or round robin when want
// is negative; laddr's port when it gives one) and returns the
// connection, not yet connected, owned by the softnet its replies hash
// to, and whether the port steers replies to want. Both dial paths
// (Stack.DialTCP and Softnet.DialTCP) use it. When no port is free it
// takes over the port of an active open in TIME-WAIT
// (pickTCPPort) and returns that connection as old: the caller retires
// it on its softnet before the new one's SYN when the two share a tuple.
func (s *Stack) newActiveConn(laddr, raddr netip.AddrPort, want int) (c *TCPConn, steered bool, old *TCPConn, err error) {
	ra := raddr.Addr()
	if !ra.IsValid() || raddr.Port() == 0 || ra.IsUnspecified() || ra.IsMulticast() {
		return nil, false, nil, syscall.EINVAL
	}
	key := flowKey{raddr: addrOf(ra), rport: raddr.Port()}
	ifc, src, nh, ok := s.routeTo(key.raddr)
	if !ok {
		return nil, false, nil, syscall.ENETUNREACH
	}
	key.laddr = src
	if laddr.IsValid() {
		if la := laddr.Addr(); !la.IsUnspecified() {
			a := addrOf(la)
			if is4(a) != is4(key.raddr) {
				return nil, false, nil, syscall.EAFNOSUPPORT
			}
			if lifc := s.localIface(a); lifc == nil {
				return nil, false, nil, syscall.EADDRNOTAVAIL
			}
			key.laddr = a
		}
		key.lport = laddr.Port()
	}
	s.mu.Lock()
	if want < 0 {
		want = s.dialRR % len(s.sn)
		s.dialRR++
	}
	steered = true
	if key.lport == 0 {
		port, st, tw, ok := s.pickTCPPort(ifc, key, want)
		if !ok {
			s.mu.Unlock()
			return nil, false, nil, syscall.EADDRNOTAVAIL
		}
		key.lport, steered, old = port, st, tw
	} else if s.tcpPorts.busy(key.laddr, key.lport) {
		s.mu.Unlock()
		return nil, false, nil, syscall.EADDRINUSE
	}
	if old == nil {
		s.tcpPorts.add(key.laddr, key.lport) // a taken-over port keeps its count
	}
	s.mu.Unlock()
	owner := s.sn[ifc.queueFor(header.ProtoTCP, key.raddr, key.laddr, key.rport, key.lport)]
	c = newTCPConn(s, owner, ifc, nh, key)
	c.active = true
	return c, steered, old, nil
}

// runConnect is an active open's connect, on the connection's softnet
// (both dial paths).
func (c *TCPConn) runConnect() {
	// Counted by the owner: counters have one writer.
	if c.dialUnsteered {
		c.sn.inc(TCPSteerFallback)
	}
	if old := c.dialOld; old != nil {
		c.dialOld = nil
		c.sn.inc(TCPTimeWaitReused)
		if old.key == c.key && !old.removed {
			old.remove() // same tuple, so same softnet: this one
		}
	}
	c.connect()
	if ev := c.dialEv; ev != nil {
		c.dialEv = nil
		c.SetEvents(ev)
	}
}

// connect sends the SYN. It runs on the connection's softnet.
func (c *TCPConn) connect() {
	sn := c.sn
	if sn.tcp.get(c.key) != nil {
		c.setErr(syscall.EADDRINUSE)
		c.handshakeDone()
		return
	}
	c.setState(tcpSynSent)
	c.iss = c.st.isn(c.key)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	sn.tcp.put(c.key, c)
	sn.inc(TCPActiveOpens)
	c.sendSegment(c.iss, header.TCPFlagSyn, 0)
	c.sndNxt = c.iss + 1
	c.sndMax = c.sndNxt
	sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
}

// pickTCPPort finds a free ephemeral port whose reply traffic lands on
// softnet want, or any free port. Caller holds s.mu.
func (s *Stack) pickTCPPort(ifc *Interface, key flowKey, want int) (port uint16, steered bool, old *TCPConn, ok bool) {
	lo, hi := int(s.cfg.EphemeralPorts[0]), int(s.cfg.EphemeralPorts[1])
	span := hi - lo + 1
	fallback := uint16(0)
	for i := 0; i < span; i++ {
		p := uint16(lo + (int(s.nextTCPEph)-lo+i)%span)
		if s.tcpPorts.busy(key.laddr, p) {
			continue
		}
		if ifc.queueFor(header.ProtoTCP, key.raddr, key.laddr, key.rport, p) == want {
			s.nextTCPEph = p + 1
			if int(s.nextTCPEph) < lo || int(s.nextTCPEph) > hi {
				s.nextTCPEph = uint16(lo)
			}
			return p, true, nil, true
		}
		if fallback == 0 {
			fallback = p
		}
	}
	if fallback != 0 {
		return fallback, false, nil, fallback != 0
	}
	// Every port is taken: take over one whose active open has been in
	// TIME-WAIT for TimeWaitReuse, with timestamps on (Linux's
	// tcp_tw_reuse: PAWS keeps the old connection's segments out of the
	// new one), preferring one that steers to want.
	if s.cfg.TCP.TimeWaitReuse <= 0 {
		return 0, false, nil, false
	}
	now := s.now()
	for pk, c := range s.tcpPorts.tw {
		p := pk.port
		if pk.addr != key.laddr || !c.tsOK || now-c.twSince < int64(s.cfg.TCP.TimeWaitReuse) {
			continue
		}
		st := ifc.queueFor(header.ProtoTCP, key.raddr, key.laddr, key.rport, p) == want
		if old == nil || st {
			port, steered, old = p, st, c
		}
		if st {
			break
		}
	}
	if old == nil {
		return 0, false, nil, false
	}
	delete(s.tcpPorts.tw, portKey{key.laddr, port})
	old.portTaken = true
	return port, steered, old, true
}

// enterTimeWaitPort offers an active open's port for reuse while it waits
// in TIME-WAIT.
func (s *Stack) enterTimeWaitPort(c *TCPConn) {
	s.mu.Lock()
	c.twSince = c.sn.now
	s.tcpPorts.tw[portKey{c.key.laddr, c.key.lport}] = c
	s.mu.Unlock()
}

// releaseTCPPort frees an active connection's local port, unless a new
// connection took it over from TIME-WAIT.
func (s *Stack) releaseTCPPort(c *TCPConn) {
	k := c.key
	s.mu.Lock()
	pk := portKey{k.laddr, k.lport}
	if s.tcpPorts.tw[pk] == c {
		delete(s.tcpPorts.tw, pk)
	}
	if !c.portTaken {
		s.tcpPorts.remove(k.laddr, k.lport)
	}
	s.mu.Unlock()
}

// Established reports whether the handshake completed (for code that
// drives an unstarted stack with Poll).
func (c *TCPConn) Established() bool { return c.cdone.Load() && c.errno.Load() == 0 }

// Softnet returns the softnet that owns the connection.
func (c *TCPConn) Softnet() *Softnet { return c.sn }

// LocalAddrPort returns the local address.
func (c *TCPConn) LocalAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netipOf(c.key.laddr), c.key.lport)
}

// RemoteAddrPort returns the peer's address.
func (c *TCPConn) RemoteAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netipOf(c.key.raddr), c.key.rport)
}

// LocalAddr implements net.Conn.
func (c *TCPConn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.LocalAddrPort()) }

// RemoteAddr implements net.Conn.
func (c *TCPConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.RemoteAddrPort()) }

func (c *TCPConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read implements net.Conn. It returns io.EOF after the peer's FIN.
func (c *TCPConn) Read(b []byte) (int, error) {
	wake := c.rnotify.get() // before any condition is read (wakeChan)
	c.rmu.Lock()
	defer c.rmu.Unlock()
	tm := c.st.deadline()
	defer tm.release()
	for {
		if e := c.softErr.Swap(0); e != 0 {
			return 0, c.opErr("read", syscall.Errno(e))
		}
		n := 0
		if !c.spliced.Load() {
			n = c.copyIn(b)
		}
		if n > 0 || len(b) == 0 {
			return n, nil
		}
		if c.spliced.Load() && !c.appClosed.Load() {
			// A splice owns the receive queue: wait until it ends.
			if err := c.waitRead(&tm); err != nil {
				return 0, err
			}
			continue
		}
		if c.appClosed.Load() {
			return 0, c.opErr("read", net.ErrClosed)
		}
		if e := c.errno.Load(); e != 0 {
			return 0, c.opErr("read", syscall.Errno(e))
		}
		if c.finRcvd.Load() {
			if n := c.copyIn(b); n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		var timeout <-chan time.Time
		if dl := c.rdl.Load(); dl != 0 {
			d := time.Until(time.Unix(0, dl))
			if d <= 0 {
				return 0, c.opErr("read", os.ErrDeadlineExceeded)
			}
			timeout = tm.after(d)
		}
		c.rwait.Store(true)
		if n := c.copyIn(b); n > 0 {
			c.rwait.Store(false)
			return n, nil
		}
		if c.finRcvd.Load() || c.errno.Load() != 0 || !c.st.started.Load() {
			c.rwait.Store(false)
			if !c.st.started.Load() && !c.finRcvd.Load() && c.errno.Load() == 0 {
				return 0, c.opErr("read", os.ErrDeadlineExceeded) // Poll-driven: never block
			}
			continue
		}
		// Blocked, the reader lets go of the reader lock, so that a
		// splice starting meanwhile (HoldReader) need not wait for data.
		c.rmu.Unlock()
		stopped := false
		select {
		case <-wake:
		case <-timeout:
		case <-c.st.stop:
			stopped = true
		}
		c.rmu.Lock()
		c.rwait.Store(false)
		if stopped {
			return 0, c.opErr("read", ErrStopped)
		}
	}
}

// waitRead blocks until a poke, the read deadline or the stack's stop.
// The caller holds rmu; it is released while blocked.
func (c *TCPConn) waitRead(tm *deadlineTimer) error {
	var timeout <-chan time.Time
	if dl := c.rdl.Load(); dl != 0 {
		d := time.Until(time.Unix(0, dl))
		if d <= 0 {
			return c.opErr("read", os.ErrDeadlineExceeded)
		}
		timeout = tm.after(d)
	}
	c.rwait.Store(true)
	defer c.rwait.Store(false)
	if !c.spliced.Load() {
		return nil
	}
	c.rmu.Unlock() // as in Read: a blocked reader does not hold the lock
	defer c.rmu.Lock()
	select {
	case <-c.rnotify.get():
	case <-timeout:
	case <-c.st.stop:
		return c.opErr("read", ErrStopped)
	}
	return nil
}

// copyIn copies queued payload into b. The caller holds rmu.
func (c *TCPConn) copyIn(b []byte) int {
	n := 0
	for n < len(b) {
		if c.rcur == nil {
			if c.rcur = c.rback.Swap(nil); c.rcur == nil {
				if c.rcur = c.rx.Pop(); c.rcur == nil {
					break
				}
			}
		}
		k := copy(b[n:], c.rcur.Data())
		n += k
		c.rcur.TrimFront(k)
		if c.rcur.Len() == 0 {
			c.rcur.Free()
			c.rcur = nil
		}
	}
	if n > 0 {
		c.consumed.Add(uint64(n))
		if c.needWUpd.Load() && c.needWUpd.CompareAndSwap(true, false) {
			c.schedule(&c.wupdT, c.runWindowUpdate)
		}
	}
	return n
}

// schedule queues one of the connection's tasks on its softnet, or runs
// it inline on a stack driven by Poll. It cannot fail (see stack/task).
func (c *TCPConn) schedule(t *task.Task, run func()) {
	if !c.st.started.Load() {
		run()
		c.sn.publish()
		return
	}
	c.sn.tasks.Add(t, -1)
}

// runWindowUpdate tells the peer about receive space the reader freed.
func (c *TCPConn) runWindowUpdate() {
	if !c.state.synchronized() || c.state == tcpTimeWait || c.finRcvd.Load() {
		return
	}
	free := uint32(c.rcvWindow())
	grow := int(c.rcvNxt + free - c.rcvAdv)
	if grow >= min(c.rcvBuf/2, 2*c.mss) {
		c.sendAck()
	} else {
		c.needWUpd.Store(true)
	}
}

// writeBehindMax is the largest Write that returns before the softnet
// has queued it (write-behind): it is copied into the connection first.
const writeBehindMax = 256

// Write implements net.Conn: it returns when all of b is in the send
// buffer, or with an error. A write of up to writeBehindMax bytes on an
// established connection, with no earlier one still being queued, is
// copied into the connection and returns at once, as a kernel socket's
// write returns once its buffer holds the bytes; the softnet queues it
// ahead of anything written or closed after it. An error that ends the
// connection before then is the next call's.
func (c *TCPConn) Write(b []byte) (int, error) {
	wake := c.wnotify.get() // before any condition is read (wakeChan)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wrClosed.Load() || c.appClosed.Load() {
		if c.appClosed.Load() {
			return 0, c.opErr("write", net.ErrClosed)
		}
		return 0, c.opErr("write", syscall.EPIPE)
	}
	c.wwait.Store(true)
	defer c.wwait.Store(false)
	tm := c.st.deadline()
	defer tm.release()
	if c.wstaged.Load() {
		if err := c.waitStaged(wake, &tm); err != nil {
			return 0, err
		}
	}
	if c.writeBehind(b) {
		return len(b), nil
	}
	c.wbuf, c.wdone = b, 0
	defer func() { c.wbuf = nil }()
	for c.wdone < len(b) {
		if e := c.errno.Load(); e != 0 {
			return c.wdone, c.opErr("write", syscall.Errno(e))
		}
		if dl := c.wdl.Load(); dl != 0 && time.Now().UnixNano() >= dl {
			return c.wdone, c.opErr("write", os.ErrDeadlineExceeded)
		}
		before := c.wdone
		if !c.st.started.Load() {
			c.runWrite()
			c.sn.publish()
			if c.werr != nil {
				return c.wdone, c.opErr("write", c.werr)
			}
			if c.wdone == before {
				return c.wdone, c.opErr("write", os.ErrDeadlineExceeded) // Poll-driven: never block
			}
			continue
		}
		// Wait for runWrite's answer on the wake channel. Each wake-up
		// consumes a token, so a token left by an earlier event costs one
		// more turn here, never a spin.
		seq := c.wseq.Load()
		c.schedule(&c.writeT, c.runWrite)
		for c.wseq.Load() == seq {
			select {
			case <-wake:
			case <-c.st.stop:
				c.st.wg.Wait() // the task may be running: let the softnets finish
				return c.wdone, c.opErr("write", ErrStopped)
			}
		}
		if c.wdone < len(b) && c.wdone == before {
			if e := c.errno.Load(); e != 0 {
				return c.wdone, c.opErr("write", syscall.Errno(e))
			}
			if c.werr != nil {
				return c.wdone, c.opErr("write", c.werr)
			}
			if c.wevt.Load() != c.wevtSeen {
				continue // woken since runWrite looked: its poke may be the token just taken
			}
			var timeout <-chan time.Time
			if c.wlow {
				// Buffers are short: poll again in a millisecond.
				timeout = tm.after(time.Millisecond)
			} else if dl := c.wdl.Load(); dl != 0 {
				d := time.Until(time.Unix(0, dl))
				timeout = tm.after(d)
			}
			select {
			case <-wake:
			case <-timeout:
			case <-c.st.stop:
				return c.wdone, c.opErr("write", ErrStopped)
			}
		}
	}
	return c.wdone, nil
}

// writeBehind stages b for the softnet and reports true when Write may
// return at once: the stack runs, the handshake is done, nothing ended
// the connection or the write deadline, and b is small. wmu is held and
// no staged write is pending.
func (c *TCPConn) writeBehind(b []byte) bool {
	if len(b) == 0 || len(b) > len(c.wstage) || !c.st.started.Load() || !c.synced.Load() || c.errno.Load() != 0 {
		return false
	}
	if dl := c.wdl.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return false // the blocking path reports the deadline
	}
	c.wsn, c.wsdone = copy(c.wstage[:], b), 0
	c.wstaged.Store(true)
	c.sn.tasks.Add(&c.stageT, -1)
	return true
}

// waitStaged waits until the softnet has queued the staged write (or
// dropped it with the connection), so that the next write follows it.
// wmu is held.
func (c *TCPConn) waitStaged(wake chan struct{}, tm *deadlineTimer) error {
	for c.wstaged.Load() {
		if e := c.errno.Load(); e != 0 {
			return c.opErr("write", syscall.Errno(e))
		}
		d := time.Millisecond // the pool may be low: look again
		if dl := c.wdl.Load(); dl != 0 {
			left := time.Until(time.Unix(0, dl))
			if left <= 0 {
				return c.opErr("write", os.ErrDeadlineExceeded)
			}
			d = min(d, left)
		}
		c.sn.tasks.Add(&c.stageT, -1)
		select {
		case <-wake:
		case <-tm.after(d):
		case <-c.st.stop:
			return c.opErr("write", ErrStopped)
		}
	}
	return nil
}

// writeState reports whether the connection takes data now: ok in
// ESTABLISHED and CLOSE-WAIT, neither ok nor an error while the handshake
// runs (data waits for it), an error once the sending side is closed or
// the connection ended. It runs on the softnet.
func (c *TCPConn) writeState() (ok bool, err error) {
	switch c.state {
	case tcpEstablished, tcpCloseWait:
	case tcpSynSent, tcpSynRcvd:
		return false, nil
	default:
		if e := c.errno.Load(); e != 0 {
			return false, syscall.Errno(e)
		}
		return false, syscall.EPIPE
	}
	if c.finQueued {
		return false, syscall.EPIPE
	}
	return true, nil
}

// runWrite copies as much of the pending write as the send buffer takes.
// It runs on the softnet.
func (c *TCPConn) runWrite() {
	c.wevtSeen = c.wevt.Load()
	defer func() {
		c.wseq.Add(1)
		c.wnotify.poke()
	}()
	ok, err := c.writeState()
	if c.werr = err; !ok {
		return
	}
	c.wdone += c.appendSend(c.wbuf[c.wdone:])
	c.output()
}

// runStaged queues the staged write (Write's write-behind): as much as the
// send buffer takes, the rest when an ACK frees room (wakeWriter) or, while
// the pool is low, next iteration (nobody waits to retry it: the writer
// returned). Once all of it is queued, or the connection refused it, the
// writer may stage again, and a FIN that a close left for after it goes.
// It runs on the softnet.
func (c *TCPConn) runStaged() {
	if !c.wstaged.Load() {
		return
	}
	ok, err := c.writeState()
	if ok {
		c.wsdone += c.appendSend(c.wstage[c.wsdone:c.wsn])
		c.output()
		if c.wsdone < c.wsn {
			if c.wlow {
				c.sn.tasks.Add(&c.stageT, -1)
			}
			return
		}
		c.sn.inc(TCPWriteBehind)
	} else if err == nil {
		return // the handshake runs (writeBehind waits for it: not reached)
	}
	// Queued, or refused by a connection that ended: that error is the
	// next call's (errno, or EPIPE for a closed side).
	c.wstaged.Store(false)
	c.wevt.Add(1)
	c.wnotify.poke()
	if c.finAfterStaged {
		c.finAfterStaged = false
		c.runClose()
	}
}

// appendSend copies as much of src as the send buffer takes onto the end
// of the send queue and returns how much; it sets wlow when the buffer
// pool runs low. It runs on the softnet.
func (c *TCPConn) appendSend(src []byte) int {
	room := c.sndBuf - c.sndQueued
	pool := c.sn.pools[c.ifc.index]
	c.wlow = false
	done := 0
	for len(src) > 0 && room > 0 {
		tail := c.sndTail
		if tail == nil || tail.Tailroom() == 0 {
			if pool.Low() {
				// Keep buffers for receiving (ACKs free the send
				// queues): the writer retries shortly.
				c.wlow = true
				c.sn.inc(TCPSendPoolLow)
				break
			}
			pk := c.sn.alloc(c.ifc)
			if pk == nil {
				break
			}
			pk.TrimFront(pk.Headroom()) // payload-only buffers need no headroom
			if tail == nil {
				c.sndHead = pk
			} else {
				tail.Next = pk
			}
			c.sndTail = pk
			tail = pk
		}
		n := min(len(src), room, tail.Tailroom())
		copy(tail.Append(n), src[:n])
		src = src[n:]
		room -= n
		c.sndQueued += n
		done += n
	}
	return done
}

// CloseWrite shuts down the sending side: a FIN follows the queued data.
func (c *TCPConn) CloseWrite() error {
	if c.appClosed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	if c.wrClosed.Swap(true) {
		return nil
	}
	c.wmu.Lock() // wait for a Write in progress
	c.wmu.Unlock()
	c.schedule(&c.closeT, c.runClose)
	return nil
}

// runClose queues the FIN, after a staged write (Write's write-behind)
// if one is still being queued. It runs on the softnet.
func (c *TCPConn) runClose() {
	if c.wstaged.Load() && c.state != tcpSynSent {
		c.finAfterStaged = true
		c.sn.tasks.Add(&c.stageT, -1)
		return
	}
	switch c.state {
	case tcpSynSent:
		c.remove()
	case tcpSynRcvd, tcpEstablished, tcpCloseWait:
		c.finQueued = true
		if c.state == tcpSynRcvd {
			return // the FIN goes once established
		}
		c.output()
	case tcpFinWait2:
		if c.appClosed.Load() {
			c.sn.wheel.Reset(&c.twT, c.sn.now, c.st.cfg.TCP.FinWait2Timeout)
		}
	}
}

// runAbort resets the connection. It runs on the softnet.
func (c *TCPConn) runAbort() {
	if c.state == tcpClosed || c.removed {
		return
	}
	if c.state != tcpSynSent && c.state != tcpTimeWait {
		c.sendReset(c.sndMax)
	}
	c.remove()
}

func (c *TCPConn) abort() {
	c.appClosed.Store(true)
	c.schedule(&c.abortT, c.runAbort)
}

// Reset closes the connection with an RST (SO_LINGER 0): a relay passes a
// reset on to the other side with it.
func (c *TCPConn) Reset() error {
	if h := c.closeHook.Swap(nil); h != nil {
		(*h)()
	}
	if c.appClosed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.abort()
	c.rmu.Lock()
	c.dropUnread()
	c.rmu.Unlock()
	return nil
}

// Close implements net.Conn. With unread data the connection is reset
// (as Linux does); otherwise a FIN follows the queued data and the
// softnet completes the close on its own.
func (c *TCPConn) Close() error {
	if h := c.closeHook.Swap(nil); h != nil {
		(*h)()
	}
	if c.appClosed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.rnotify.poke()
	c.wnotify.poke()
	c.rmu.Lock()
	unread := c.dropUnread()
	c.rmu.Unlock()
	if unread {
		c.schedule(&c.abortT, c.runAbort)
		return nil
	}
	c.wrClosed.Store(true)
	c.schedule(&c.closeT, c.runClose)
	return nil
}

// SetDeadline implements net.Conn.
func (c *TCPConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (c *TCPConn) SetReadDeadline(t time.Time) error {
	setDeadline(&c.rdl, t)
	c.rnotify.poke()
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *TCPConn) SetWriteDeadline(t time.Time) error {
	setDeadline(&c.wdl, t)
	c.wnotify.poke()
	return nil
}

func setDeadline(d *atomic.Int64, t time.Time) {
	if t.IsZero() {
		d.Store(0)
	} else {
		d.Store(max(t.UnixNano(), 1))
	}
}

var (
	_ net.Conn     = (*TCPConn)(nil)
	_ net.Listener = (*TCPListener)(nil)
)

// TCPStateCount is the number of connections in one TCP state.
type TCPStateCount struct {
	State string // RFC 9293's name: SYN-SENT, ESTABLISHED, TIME-WAIT, ...
	Conns int64
}

// TCPStates returns softnet i's connections by state, every state but
// CLOSED in RFC 9293's order. It reads counts the softnet keeps as
// connections change state; any goroutine may call it.
func (s *Stack) TCPStates(i int) []TCPStateCount {
	sn := s.sn[i]
	out := make([]TCPStateCount, 0, numTCPStates-1)
	for st := tcpState(1); int(st) < numTCPStates; st++ {
		out = append(out, TCPStateCount{State: st.String(), Conns: sn.tcpStates[st].Load()})
	}
	return out
}
