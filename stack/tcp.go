package stack

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/ring"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// TCP connection states (RFC 9293 section 3.3.2).
type tcpState uint8

const (
	tcpClosed tcpState = iota
	tcpSynSent
	tcpSynRcvd
	tcpEstablished
	tcpFinWait1
	tcpFinWait2
	tcpCloseWait
	tcpClosing
	tcpLastAck
	tcpTimeWait
)

var tcpStateNames = [...]string{"CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

const numTCPStates = len(tcpStateNames)

// setState moves the connection to state s and keeps its softnet's count
// of connections by state.
func (c *TCPConn) setState(s tcpState) {
	if c.state == s {
		return
	}
	if c.state != tcpClosed {
		c.sn.tcpStates[c.state].Add(-1)
	}
	if s != tcpClosed {
		c.sn.tcpStates[s].Add(1)
	}
	c.state = s
}

func (s tcpState) String() string { return tcpStateNames[s] }

// synchronized reports whether the state is past the handshake.
func (s tcpState) synchronized() bool { return s >= tcpEstablished }

// oooSeg is a segment held out of order.
type oooSeg struct {
	seq uint32
	pk  *driver.Packet // payload only
	fin bool
}

// TCPConn is a TCP connection. The protocol state belongs to the softnet
// that owns the flow (the RSS queue of its 4-tuple); the application side
// (Read, Write, Close) reaches it through its tasks and two hand-off
// points: the receive ring (in-order payload packets the softnet pushes
// and the reader pops) and the write request the softnet copies from.
// Its exported methods are safe for concurrent use.
//
// Its state is split by who may touch it: tcpFlow (fixed at creation),
// tcpControl, tcpSender and tcpReceiver (the softnet's alone, never
// touched by another goroutine), and tcpHandoff (the application's side:
// locks, atomics, the receive ring and the write request). The splice
// hooks are reached through SpliceHooks (splicehooks.go).
type TCPConn struct {
	tcpFlow
	tcpControl
	tcpSender
	tcpReceiver
	tcpHandoff
}

// tcpFlow is what identifies a connection and where it lives: set when
// it is made, read-only after.
type tcpFlow struct {
	st     *Stack
	sn     *Softnet
	ifc    *Interface
	nh     [16]byte // next hop, IPv4-mapped for IPv4
	key    flowKey
	v6     bool // key.v4() is false: IPv6 headers
	active bool // opened by Dial: owns its local port
}

// tcpControl is the connection's protocol state shared by its two
// directions: the state machine, what the handshake negotiated, timers and
// tasks. Softnet-owned, but for twSince and portTaken (Stack.mu).
type tcpControl struct {
	state    tcpState
	l        *TCPListener // passive open: the listener until accepted
	iss, irs uint32
	wsOK     bool
	tsOK     bool
	sackOK   bool
	tsRecent uint32
	mss      int    // payload bytes per segment we send
	tsOff    uint32 // the address pair's timestamp offset (tcp_tsclock.go)
	tsBorn   uint32 // our timestamp clock when the connection was made
	// twSince (the stack clock entering TIME-WAIT) and portTaken (a new
	// active open took over the local port) are guarded by Stack.mu.
	twSince   int64
	portTaken bool
	removed   bool
	lastRx    int64 // softnet time of the last segment received
	kaProbes  int
	evs       *tcpEventState // softnet-side callbacks (tcp_softnet.go)

	rtxT, dackT, twT, kaT         timer.Timer
	writeT, wupdT, closeT, abortT task.Task
	stageT                        task.Task // queues a staged write (runStaged)
	// openT runs an open's step on the connection's softnet: an active
	// open's connect (runConnect) with what the dial found out (the
	// TIME-WAIT connection whose port it takes over, whether no port
	// steered replies to the softnet, the softnet-side events to
	// install), or a passive open's hand-over to its listener's
	// softnet-side accept (onAccept). A task of the connection's own, so
	// that neither allocates.
	openT         task.Task
	dialOld       *TCPConn
	dialUnsteered bool
	dialEv        *TCPEvents
	onAccept      func(c *TCPConn)
	// evState is where evs points once SetEvents ran: part of the
	// connection, so installing events allocates nothing.
	evState tcpEventState
}

// tcpSender is the sending direction: sequence space, the send queue,
// retransmission and congestion control. Softnet-owned.
type tcpSender struct {
	sndUna   uint32
	sndNxt   uint32
	sndMax   uint32 // highest sequence sent
	sndWnd   uint32 // peer's window, scaled
	sndWl1   uint32
	sndWl2   uint32
	sndShift uint8 // peer's window scale

	// Send queue: a chain of payload packets from sndUna on; the first
	// sndHeadOff bytes of the head are acknowledged already.
	sndHead, sndTail *driver.Packet
	sndHeadOff       int
	sndQueued        int // bytes from sndUna to the end of the queue
	sndBuf           int
	finQueued        bool // the application closed its write side
	finAfterStaged   bool // the close came while a staged write was queued: its FIN follows that write
	finSent          bool
	finSeq           uint32         // our FIN's sequence number, once sent
	curPk            *driver.Packet // cursor: packet holding sequence curSeq
	curSeq           uint32

	// Retransmission (RFC 6298) and congestion control.
	srtt, rttvar, rto time.Duration
	backoff           int
	retries           int
	rttSeq            uint32
	rttStart          int64
	rttTiming         bool
	dupAcks           int
	inRecovery        bool
	recover           uint32
	sacked            []seqRange // SACK scoreboard (tcp_sack.go)
	sackedBytes       int
	highRxt           uint32 // end of the last hole retransmitted in this recovery
	cc                congestionControl
	ccState           struct { // where cc points (newCongestion)
		cubic cubic
		reno  newReno
	}

	// runWrite's side of the write hand-off (tcpHandoff.wseq): wevtSeen
	// is wevt when runWrite ran, so a writer that made no progress knows
	// whether a wake-up came after it (its poke may have merged with the
	// answer's); werr is its verdict, wlow says it stopped because
	// buffers were short.
	wevtSeen uint32
	werr     error
	wlow     bool
}

// tcpReceiver is the receiving direction: sequence space, the window we
// advertise, ACKs owed and segments out of order. Softnet-owned.
type tcpReceiver struct {
	rcvShift uint8 // our window scale
	rcvNxt   uint32
	rcvAdv   uint32 // right edge of the window we advertised
	ackOwed  int    // segments received since our last ACK
	// ackQueued: the connection is on its softnet's list of ACKs to send
	// at the end of the receive burst (ackLater).
	ackQueued bool
	rcvBuf    int
	delivered uint64 // bytes pushed to the reader
	ooo       []oooSeg
	oooBytes  int
}

// tcpHandoff is where the application's goroutines and the softnet meet:
// the receive ring and the reader's state (rmu), the write request (wmu),
// wake channels and deadlines, and the flags both sides read. Fields are
// atomics or guarded by the lock named beside them.
type tcpHandoff struct {
	consumed atomic.Uint64 // bytes the reader took, for the window
	rx       ring.MPSC[driver.Packet]
	rmu      sync.Mutex
	rcur     *driver.Packet // reader's partially consumed packet (rmu)
	// rback is a partly read packet handed over ahead of the receive
	// queue: from the reader to a splice (ParkReaderPartial), and back
	// when the splice ends before taking it. The reader takes it with
	// Swap; ReadPackets, on the softnet while a splice keeps the reader
	// out, with Load and Store.
	rback   atomic.Pointer[driver.Packet]
	rwait   atomic.Bool
	rnotify wakeChan
	wmu     sync.Mutex
	wbuf    []byte // the pending write, guarded by wmu, copied by the softnet
	wdone   int
	// A small Write is copied into wstage[:wsn] and returns at once
	// (write-behind); the softnet queues it (runStaged), wsdone bytes so
	// far, and clears wstaged once it did, or dropped it with the
	// connection. wstaged hands the three over: while it is set they are
	// the softnet's, while it is clear the writer's (under wmu).
	wstage      [writeBehindMax]byte
	wsn, wsdone int
	wstaged     atomic.Bool
	wwait       atomic.Bool
	wnotify     wakeChan
	cdone       atomic.Bool
	synced      atomic.Bool // the handshake completed (a later reset does not undo it)
	rdl, wdl    atomic.Int64
	finRcvd     atomic.Bool
	errno       atomic.Uint32 // syscall.Errno of a reset or timeout
	appClosed   atomic.Bool
	wrClosed    atomic.Bool
	needWUpd    atomic.Bool // the advertised window was small: readers send updates
	// runWrite answers a Write by adding one to wseq and poking the
	// writer's wake channel; the channel also carries the writer's other
	// wake-ups, each of which adds one to wevt first.
	wseq, wevt atomic.Uint32
	spliced    atomic.Bool            // reads wait: a splice owns the receive queue
	softErr    atomic.Uint32          // errno the next Read returns once (a splice's end reason)
	closeHook  atomic.Pointer[func()] // run at the start of Close (SpliceHooks)
}

// newTCPConn makes a connection owned by sn. Control path: it allocates.
func newTCPConn(s *Stack, sn *Softnet, ifc *Interface, nh [16]byte, key flowKey) *TCPConn {
	cfg := &s.cfg.TCP
	c := &TCPConn{
		tcpFlow:     tcpFlow{st: s, sn: sn, ifc: ifc, nh: nh, key: key, v6: !key.v4()},
		tcpSender:   tcpSender{sndBuf: cfg.SendBuffer, rto: cfg.RTOInitial},
		tcpReceiver: tcpReceiver{rcvBuf: cfg.RecvBuffer},
	}
	c.mss = ifc.mtu - c.headerLen()
	c.tsOff = s.ts.offset(key)
	c.tsBorn = s.ts.at(s.now(), c.tsOff)
	// The reader's ring holds a full window of 1 KiB segments (smaller
	// segments beyond that wait for the peer's retransmission).
	ringSize := min(max(c.rcvBuf/1024, 64), 1<<16)
	c.rx.Init(ringSize)
	for c.rcvShift = 0; c.rcvShift < maxWindowShift && (65535<<c.rcvShift) < c.rcvBuf; c.rcvShift++ {
	}
	c.cc = newCongestion(c)
	d := (*tcpDispatch)(c)
	c.rtxT.InitHandler(d, tcpRetransmitTimer)
	c.dackT.InitHandler(d, tcpDelayedAckTimer)
	c.twT.InitHandler(d, tcpTimeWaitTimer)
	c.kaT.InitHandler(d, tcpKeepAliveTimer)
	c.writeT.InitHandler(d, tcpWriteTask, nil)
	c.stageT.InitHandler(d, tcpStagedWriteTask, nil)
	c.wupdT.InitHandler(d, tcpWindowUpdateTask, nil)
	c.closeT.InitHandler(d, tcpCloseTask, nil)
	c.abortT.InitHandler(d, tcpAbortTask, nil)
	c.openT.InitHandler(d, tcpOpenTask, nil)
	return c
}

// tcpDispatch is a TCPConn as its timers and tasks see it: the one
// timer.Handler and task.Handler of the connection, so binding its four
// timers and four tasks allocates nothing (a method value each did, eight
// allocations per connection). Its methods run on the connection's
// softnet.
type tcpDispatch TCPConn

// The kinds of a connection's timers and tasks.
const (
	tcpRetransmitTimer = iota
	tcpDelayedAckTimer
	tcpTimeWaitTimer
	tcpKeepAliveTimer
)

const (
	tcpWriteTask = iota
	tcpWindowUpdateTask
	tcpCloseTask
	tcpAbortTask
	tcpEventsTask
	tcpOpenTask
	tcpStagedWriteTask
)

// OnTimer implements timer.Handler.
func (d *tcpDispatch) OnTimer(kind int) {
	c := (*TCPConn)(d)
	switch kind {
	case tcpRetransmitTimer:
		c.onRetransmitTimer()
	case tcpDelayedAckTimer:
		c.onDelayedAck()
	case tcpTimeWaitTimer:
		c.onTimeWaitTimer()
	case tcpKeepAliveTimer:
		c.onKeepAlive()
	}
}

// RunTask implements task.Handler.
func (d *tcpDispatch) RunTask(kind int) {
	c := (*TCPConn)(d)
	switch kind {
	case tcpWriteTask:
		c.runWrite()
	case tcpStagedWriteTask:
		c.runStaged()
	case tcpWindowUpdateTask:
		c.runWindowUpdate()
	case tcpCloseTask:
		c.runClose()
	case tcpAbortTask:
		c.runAbort()
	case tcpEventsTask:
		c.runEvents()
	case tcpOpenTask:
		if c.active {
			c.runConnect()
		} else if h := c.onAccept; h != nil {
			c.onAccept = nil
			h(c)
		}
	}
}

// isn returns an initial sequence number after RFC 6528: a 4-microsecond
// clock plus a keyed hash of the connection's 4-tuple.
func (s *Stack) isn(k flowKey) uint32 {
	var b [36]byte
	copy(b[0:16], k.laddr[:])
	copy(b[16:32], k.raddr[:])
	b[32], b[33], b[34], b[35] = byte(k.lport>>8), byte(k.lport), byte(k.rport>>8), byte(k.rport)
	h := maphash.Bytes(s.isnSeed, b[:])
	return uint32(h) + uint32(s.now()/4000)
}

// tsNow is the connection's timestamp clock (tcp_tsclock.go).
func (c *TCPConn) tsNow() uint32 { return c.st.ts.at(c.sn.now, c.tsOff) }

// rcvWindow returns the free receive space.
func (c *TCPConn) rcvWindow() int {
	used := int(c.delivered-c.consumed.Load()) + c.oooBytes
	return max(c.rcvBuf-used, 0)
}

// setErr records the error a reset or timeout leaves for the application.
func (c *TCPConn) setErr(e syscall.Errno) {
	c.errno.CompareAndSwap(0, uint32(e))
}

// wakeReader and wakeWriter poke a blocked application goroutine. They
// run on the connection's softnet; wakeReader reports whether a reader
// was waiting.
func (c *TCPConn) wakeReader() bool {
	waiting := c.rwait.Load()
	if waiting {
		c.rnotify.poke()
	}
	if c.evs != nil {
		c.evs.readable = true
		c.postEvents()
	}
	return waiting
}

func (c *TCPConn) wakeWriter() {
	c.wevt.Add(1)
	if c.wstaged.Load() && c.st.started.Load() {
		c.sn.tasks.Add(&c.stageT, -1) // room, or an end: runStaged finishes the staged write
	}
	if c.wwait.Load() {
		c.wnotify.poke()
	}
	if c.evs != nil {
		c.evs.writable = true
		c.postEvents()
	}
}

// wakeChan is a blocked goroutine's wake-up channel (capacity 1), made by
// the first call of the API that may block (Read, Write): a connection
// driven from its softnet (the generator, the softnet services) never
// makes one, which saves an allocation per channel and connection. The
// waiter makes it before it reads any condition it waits for, so a poke
// that finds no channel comes before everything the waiter then reads.
type wakeChan struct {
	p unsafe.Pointer // the channel (a chan is one pointer), set once
}

// get returns the channel, making it on the first call.
func (w *wakeChan) get() chan struct{} {
	if p := atomic.LoadPointer(&w.p); p != nil {
		return *(*chan struct{})(unsafe.Pointer(&p))
	}
	ch := make(chan struct{}, 1)
	if atomic.CompareAndSwapPointer(&w.p, nil, *(*unsafe.Pointer)(unsafe.Pointer(&ch))) {
		return ch
	}
	p := atomic.LoadPointer(&w.p)
	return *(*chan struct{})(unsafe.Pointer(&p))
}

// made reports whether a goroutine made the channel: one may wait on it.
func (w *wakeChan) made() bool { return atomic.LoadPointer(&w.p) != nil }

// poke wakes the waiter, if a goroutine ever made the channel.
func (w *wakeChan) poke() {
	if p := atomic.LoadPointer(&w.p); p != nil {
		poke(*(*chan struct{})(unsafe.Pointer(&p)))
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// handshakeDone ends a Dial's wait (once): Stack.DialTCP waits on the
// writer's wake channel until cdone is set.
func (c *TCPConn) handshakeDone() {
	if c.cdone.CompareAndSwap(false, true) {
		c.wevt.Add(1)
		c.wnotify.poke()
		if c.active && c.wnotify.made() {
			c.sn.handOff() // a Dial waits for it (Stack.dialTCP)
		}
		if c.evs != nil {
			c.evs.established = true
			c.postEvents()
		}
	}
}

// remove takes the connection out of the flow table and releases what the
// softnet holds for it. The reader keeps its ring.
func (c *TCPConn) remove() {
	if c.removed {
		return
	}
	c.removed = true
	c.setState(tcpClosed)
	c.rtxT.Stop()
	c.dackT.Stop()
	c.twT.Stop()
	c.kaT.Stop()
	c.sn.tcp.del(c.key)
	for pk := c.sndHead; pk != nil; {
		next := pk.Next
		pk.Next = nil
		c.sn.free(pk)
		pk = next
	}
	c.sndHead, c.sndTail, c.curPk = nil, nil, nil
	c.sndQueued, c.sndHeadOff = 0, 0
	for i := range c.ooo {
		c.sn.free(c.ooo[i].pk)
		c.ooo[i] = oooSeg{}
	}
	c.ooo = c.ooo[:0]
	c.oooBytes = 0
	c.sn.inc(TCPClosed)
	if c.evs != nil {
		c.evs.closed = true
		c.postEvents()
	}
	if c.l != nil {
		c.l.pending.Add(-1)
		c.l = nil
	}
	c.handshakeDone()
	c.wakeReader()
	c.wakeWriter()
	if c.appClosed.Load() {
		// Nobody reads any more: free what is queued.
		c.drainRx()
	}
	if c.active {
		c.st.releaseTCPPort(c)
	}
}

// drainRx frees the packets queued for the reader. Any goroutine holding
// no reader lock may call it after the application closed.
func (c *TCPConn) drainRx() {
	if !c.rmu.TryLock() {
		return // the closing reader drains it
	}
	c.dropUnread()
	c.rmu.Unlock()
}

// dropUnread frees everything queued for the reader (the receive ring, a
// packet parked ahead of it, the reader's partly read one) and reports
// whether there was any. The one drain of the reader's side: the caller
// holds the reader (rmu), or is the softnet of a connection driven by
// the softnet-side API, which has no reader goroutine.
func (c *TCPConn) dropUnread() (unread bool) {
	for pk := c.rx.Pop(); pk != nil; pk = c.rx.Pop() {
		pk.Free()
		unread = true
	}
	if c.rcur != nil {
		c.rcur.Free()
		c.rcur = nil
		unread = true
	}
	if pk := c.rback.Swap(nil); pk != nil {
		pk.Free()
		unread = true
	}
	return unread
}
