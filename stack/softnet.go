package stack

import (
	"context"
	"math/bits"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/counter"
	"github.com/netsplice/netsplice/internal/ring"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// maxTasksPerPoll bounds the tasks one loop iteration runs, so a flood of
// tasks cannot starve the receive path.
const maxTasksPerPoll = 256

// Softnet is one lcore's share of the stack: it polls queue ID() of every
// port and owns all state reached from there. Only its own goroutine (or,
// for a stack that was not started, the goroutine calling Poll) may touch
// it, except for the methods documented as safe elsewhere.
type Softnet struct {
	id    int
	st    *Stack
	ifs   []*Interface
	tasks *task.Queue
	wheel *timer.Wheel
	now   int64

	rx []*driver.Packet
	tx []txBatch // per interface
	// Local delivery (loopback.go): datagrams to the stack's own
	// addresses whose flow this softnet owns, from itself (loop) and
	// from other softnets (loopIn).
	loop, loopNext []*driver.Packet
	loopIn         *ring.MPSC[driver.Packet]
	pools          []*driver.Pool
	idler          []driver.Idler
	// syn holds one entry per interface whose port has a SYN ring
	// (synring.go).
	syn []synRing

	arp  neighTable[[4]byte]  // ARP cache (arp.go)
	nd   neighTable[[16]byte] // IPv6 neighbour cache (ndp.go)
	udp  flowTable[UDPConn]
	ping map[uint16]*PingConn
	ipID uint16

	tcp       flowTable[TCPConn]
	tcpListen map[flowKey]*TCPListener
	ackq      []*TCPConn       // connections owing an ACK at the end of the burst
	gro       groChain         // the coalesced segment held during a receive burst (gro.go)
	groOn     bool             // coalescing: set while walking a receive burst
	rxMore    *driver.Packet   // the chain of the coalesced frame in input (tcpSegment takes it)
	segs      []*driver.Packet // scratch for cutting super-frames (tso.go)

	challengeSec   int64 // second of the current challenge-ACK budget
	challengeCount int
	cookieSec      int64 // second of the current SYN-cookie budget
	cookies        int   // cookies sent in it

	icmpTokens   int
	icmpRefill   int64
	announceTask *task.Task

	ctr [NumCounters]counter.Counter
	// Counts not yet in ctr, and which of them are non-zero (inc, add,
	// publish): softnet-only.
	pend  [NumCounters]uint64
	dirty [(NumCounters + 63) / 64]uint64
	// tcpStates counts this softnet's connections by state (CLOSED is
	// not counted): single writer, read by Stack.TCPStates.
	tcpStates [numTCPStates]counter.Gauge

	worked    bool   // the last iteration did work (busy_ns)
	idle      uint32 // iterations without work since the last with work
	clockRead bool   // this iteration has read the clock (now is current)
	loops     uint64 // iterations not yet counted in Loops
	// handoffs counts the application goroutines this iteration woke
	// that wait for one event and then answer (handOff): an unlocked
	// softnet yields its P to them after the iteration (run).
	handoffs int
	sleeping atomic.Bool
	wake     chan struct{}
}

type txBatch struct {
	pkts []*driver.Packet
}

func newSoftnet(s *Stack, id int) (*Softnet, error) {
	now := s.now()
	wheel, err := timer.New(s.cfg.TimerTick, 4096, now)
	if err != nil {
		return nil, err
	}
	sn := &Softnet{
		id:    id,
		wake:  make(chan struct{}, 1),
		st:    s,
		ifs:   s.ifaces,
		wheel: wheel,
		now:   now,
		ping:  make(map[uint16]*PingConn),

		tcpListen: make(map[flowKey]*TCPListener),
		ackq:      make([]*TCPConn, 0, 256),
		ipID:      uint16(id) << 12,
	}
	sn.tcp.init()
	sn.udp.init()
	sn.tasks = task.NewQueue(id, sn.wakeup)
	if sn.loopIn, err = ring.New[driver.Packet](loopRingSize); err != nil {
		return nil, err
	}
	burst := 0
	for _, ifc := range s.ifaces {
		b := ifc.port.BurstSize()
		burst = max(burst, b)
		sn.tx = append(sn.tx, txBatch{pkts: make([]*driver.Packet, 0, b)})
		sn.pools = append(sn.pools, ifc.port.Pool(id))
		if i, ok := ifc.port.(driver.Idler); ok {
			sn.idler = append(sn.idler, i)
		}
		if n, ok := ifc.port.(driver.RxNotifier); ok {
			n.SetRxNotify(id, sn.wakeup)
		}
	}
	sn.rx = make([]*driver.Packet, burst)
	if err := sn.initSYNRings(); err != nil {
		return nil, err
	}
	sn.arp.init(sn, &arpCounters, sn.arpRequest, func(o *Softnet) *neighTable[[4]byte] { return &o.arp })
	sn.nd.init(sn, &ndCounters, sn.ndSolicit, func(o *Softnet) *neighTable[[16]byte] { return &o.nd })
	for _, ifc := range s.ifaces {
		for ip, mac := range ifc.static4 {
			sn.arp.setStatic(ip, mac)
		}
		for ip, mac := range ifc.static6 {
			sn.nd.setStatic(ip, mac)
		}
	}
	sn.icmpTokens = s.cfg.ICMPRateLimit
	sn.icmpRefill = now
	sn.announceTask = task.New(sn.announce)
	return sn, nil
}

// ID returns the softnet's index, which is also the queue it polls.
func (sn *Softnet) ID() int { return sn.id }

// Stack returns the stack the softnet belongs to.
func (sn *Softnet) Stack() *Stack { return sn.st }

// Now returns the softnet's clock in nanoseconds, read once per poll.
func (sn *Softnet) Now() int64 { return sn.now }

// Clock reads the clock that Now caches at the start of each loop
// iteration, afresh: for deadlines that must not come early.
func (sn *Softnet) Clock() int64 { return sn.st.now() }

// Timers returns the softnet's timing wheel.
func (sn *Softnet) Timers() *timer.Wheel { return sn.wheel }

// Tasks returns the softnet's task queue.
func (sn *Softnet) Tasks() *task.Queue { return sn.tasks }

// inc and add count on the softnet's own pending counts; publish makes
// them visible to Counters at the end of each loop iteration. An atomic
// store per count is a full fence on amd64 (XCHG): after the headers of a
// packet were written to a cold buffer it waits for those stores, which
// cost several percent of a bulk transfer's CPU. Owner-only.
func (sn *Softnet) inc(id CounterID) {
	sn.pend[id]++
	sn.dirty[id>>6] |= 1 << (id & 63)
}

func (sn *Softnet) add(id CounterID, n uint64) {
	sn.pend[id] += n
	sn.dirty[id>>6] |= 1 << (id & 63)
}

// publish adds the pending counts to the counters other goroutines read,
// one atomic store per counter that changed. Owner-only.
func (sn *Softnet) publish() {
	for w, set := range sn.dirty {
		for set != 0 {
			id := w<<6 + bits.TrailingZeros64(set)
			sn.ctr[id].Add(sn.pend[id])
			sn.pend[id] = 0
			set &= set - 1
		}
		sn.dirty[w] = 0
	}
}

// Counters returns a snapshot of the softnet's counters as of the end of
// its last loop iteration (a softnet counts in private and publishes once
// per iteration; Loops only once in idleClockEvery iterations without
// work, and before it sleeps). Any goroutine may call it.
func (sn *Softnet) Counters() Counters {
	var c Counters
	for i := range sn.ctr {
		c[i] = sn.ctr[i].Load()
	}
	ts := sn.tasks.Stats()
	c[TasksRun] = ts.Runs
	c[TasksCrossed] = ts.Crossed
	return c
}

// Poll runs one iteration of the softnet loop and returns the work done
// (packets received, tasks run, timers fired). Only for a stack that was
// not started, from the one goroutine that drives it.
func (sn *Softnet) Poll() int { return sn.poll(true) }

// poll is one iteration of the loop. Unless fresh, an iteration after one
// without work reads the clock at its start only once in idleClockEvery
// (run's spinning: a clock read costs as much as the rest of an empty
// poll), and otherwise when it finds work (freshen), so that nothing is
// stamped with a stale time; Poll's caller may have waited any time
// between calls, so Poll always reads it.
func (sn *Softnet) poll(fresh bool) int {
	sn.clockRead = true
	if sn.worked {
		// The previous iteration did work: it ran until now (one clock
		// read per iteration serves both).
		now := sn.st.now()
		sn.add(BusyNanos, uint64(now-sn.now))
		sn.now = now
	} else if fresh || sn.idle%idleClockEvery == 0 {
		sn.now = sn.st.now()
	} else {
		sn.clockRead = false
	}
	sn.loops++
	sn.handoffs = 0
	work := 0
	busy := false // a queue had segments waiting
	for _, ifc := range sn.ifs {
		n := ifc.port.RxBurst(sn.id, sn.rx)
		if n > 0 {
			sn.freshen()
		}
		sn.groOn = !sn.st.cfg.TCP.NoCoalesce
		for j := 0; j < n; j++ {
			pk := sn.rx[j]
			sn.rx[j] = nil
			pk.Loops = 0 // splice passes count inside one stack only
			sn.inc(RxPackets)
			sn.add(RxBytes, uint64(pk.Len()))
			if pk.Next != nil {
				// A frame the port coalesced (driver.RxTCPCoalesced):
				// the input path sees its first segment, and
				// tcpSegment takes the rest from rxMore for the
				// connection; if the frame is dropped before that,
				// the rest goes with it here.
				sn.rxMore, pk.Next = pk.Next, nil
				for p := sn.rxMore; p != nil; p = p.Next {
					sn.add(RxBytes, uint64(p.Len()))
				}
				sn.input(ifc, pk)
				if sn.rxMore != nil {
					sn.freeSeg(sn.rxMore)
					sn.rxMore = nil
				}
				continue
			}
			sn.input(ifc, pk)
		}
		sn.groOn = false
		if sn.gro.c != nil {
			sn.groFlush()
		}
		work += n
		busy = busy || n > 0
	}
	if len(sn.loop) > 0 || sn.tasks.Pending() {
		sn.freshen()
	}
	if len(sn.syn) > 0 {
		work += sn.pollSYN(busy)
	}
	work += sn.loopInput()
	if len(sn.ackq) > 0 {
		sn.flushAcks()
	}
	work += sn.tasks.Run(maxTasksPerPoll)
	fired := sn.wheel.Advance(sn.now)
	if fired > 0 {
		sn.add(TimersFired, uint64(fired))
		work += fired
	}
	sn.flush()
	if len(sn.loop) > 0 {
		work++ // datagrams to ourselves wait for the next iteration
	}
	sn.worked = work > 0
	if work == 0 && len(sn.idler) > 0 {
		for _, i := range sn.idler {
			i.Idle(sn.id)
		}
	}
	if sn.worked {
		sn.idle = 0
	} else {
		sn.idle++
	}
	if fresh || sn.worked || sn.idle%idleClockEvery == 0 {
		sn.countLoops()
	}
	sn.publish()
	return work
}

// idleClockEvery is how often, in iterations without work, a softnet
// reads the clock and publishes its loop count.
const idleClockEvery = 16

// countLoops adds the iterations not yet counted to Loops (published with
// the other counters).
func (sn *Softnet) countLoops() {
	sn.add(Loops, sn.loops)
	sn.loops = 0
}

// freshen reads the clock if this iteration has not yet.
func (sn *Softnet) freshen() {
	if !sn.clockRead {
		sn.now = sn.st.now()
		sn.clockRead = true
	}
}

// run is the softnet's goroutine.
func (sn *Softnet) run() {
	defer sn.st.wg.Done()
	cfg := &sn.st.cfg
	locked := sn.st.locksThreads()
	if locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	// Profiles tell the softnets of several stacks in one process apart:
	// go tool pprof -tagfocus stack=192.0.2.1.
	var name string
	if len(sn.ifs) > 0 {
		if ifc := sn.ifs[0]; ifc.has4 {
			name = ifc.addr.Addr().String()
		} else {
			name = netip.AddrFrom16(ifc.ip6[0]).String()
		}
	}
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("stack", name, "softnet", strconv.Itoa(sn.id))))
	if len(cfg.CPUs) > 0 {
		var set unix.CPUSet
		set.Set(cfg.CPUs[sn.id])
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			sn.st.log.Warn("cannot pin softnet", zap.Int("softnet", sn.id), zap.Int("cpu", cfg.CPUs[sn.id]), zap.Error(err))
		}
	}
	if cfg.ThreadInit != nil {
		if err := cfg.ThreadInit(sn.id); err != nil {
			sn.st.log.Error("softnet thread init failed; softnet not running", zap.Int("softnet", sn.id), zap.Error(err))
			return
		}
	}
	if cfg.ThreadExit != nil {
		defer cfg.ThreadExit(sn.id)
	}
	var sleepTimer *time.Timer
	idle := 0
	sleep := 20 * time.Microsecond
	for {
		if sn.st.stopped.Load() {
			sn.flush()
			sn.countLoops()
			sn.publish()
			return
		}
		if sn.poll(false) > 0 {
			idle, sleep = 0, 20*time.Microsecond
			if sn.handoffs > 0 && !locked {
				// The goroutines this iteration woke wait on this P
				// (Go's runnext), which no other P takes from for
				// tens of microseconds while the softnet polls: let
				// them run now; the softnet goes on from the global
				// run queue.
				runtime.Gosched()
			}
			continue
		}
		idle++
		if cfg.Poll == PollBusy || idle < cfg.SpinPolls {
			continue
		}
		// Adaptive: announce the sleep, then look once more so that a
		// task added or a frame queued meanwhile is not missed.
		sn.sleeping.Store(true)
		if sn.poll(false) > 0 {
			sn.sleeping.Store(false)
			idle, sleep = 0, 20*time.Microsecond
			continue
		}
		d := sleep
		if at, ok := sn.wheel.NextExpiry(int(cfg.MaxSleep/cfg.TimerTick) + 1); ok {
			if until := time.Duration(at - sn.st.now()); until < d {
				d = max(until, 0)
			}
		}
		if sleepTimer == nil {
			sleepTimer = time.NewTimer(d)
		} else {
			sleepTimer.Reset(d)
		}
		sn.inc(IdleSleeps)
		sn.countLoops()
		sn.publish()
		select {
		case <-sn.wake:
		case <-sleepTimer.C:
		case <-sn.st.stop:
		}
		sleepTimer.Stop()
		sn.sleeping.Store(false)
		sn.idle = 0 // the next iteration reads the clock
		sleep = min(sleep*2, cfg.MaxSleep)
	}
}

// handOff counts a wake of an application goroutine that waits for one
// event and then answers it: a Dial's handshake, an Accept, a Read
// woken by a segment shorter than an MSS or by the peer's FIN. Such a
// goroutine is a request's turn in a request-response exchange, and
// run lets it have the softnet's P at once. Wakes in a stream (a
// reader woken by full segments, a writer by freed space) are not
// handed off: a goroutine run at each would take a burst's worth of
// bytes at a time where, woken a little later, it takes many (handing
// those off too took tcp-bulk from 19 to 1-2 Gbit/s on the 2-CPU VM).
func (sn *Softnet) handOff() { sn.handoffs++ }

// wakeup rouses the softnet if it sleeps. Any goroutine may call it.
func (sn *Softnet) wakeup() {
	if sn.sleeping.Load() {
		select {
		case sn.wake <- struct{}{}:
		default:
		}
	}
}

// Add queues t on this softnet. from is the softnet calling, or nil for
// another goroutine; adds from other softnets count as crossings. It
// cannot fail: the task is its own queue entry (stack/task).
func (sn *Softnet) Add(t *task.Task, from *Softnet) {
	f := -1
	if from != nil {
		f = from.id
	}
	sn.tasks.Add(t, f)
}

// alloc takes a packet from the pool of interface ifc's queue.
func (sn *Softnet) alloc(ifc *Interface) *driver.Packet {
	pk := sn.pools[ifc.index].Get()
	if pk == nil {
		sn.inc(TxDropNoBuf)
	}
	return pk
}

// free returns a packet: to one of the softnet's own pools directly, to
// another goroutine's pool through its lock-free return stack.
func (sn *Softnet) free(pk *driver.Packet) {
	p := pk.Pool()
	for _, own := range sn.pools {
		if p == own {
			own.Put(pk)
			return
		}
	}
	pk.Free()
}

// xmit queues a complete frame for transmission on ifc.
func (sn *Softnet) xmit(ifc *Interface, pk *driver.Packet) {
	b := &sn.tx[ifc.index]
	b.pkts = append(b.pkts, pk)
	// A super-frame's payload is referenced, not owned: it leaves now
	// (tso.go).
	if len(b.pkts) == cap(b.pkts) || pk.More != nil {
		sn.flushOne(ifc)
	}
}

func (sn *Softnet) flush() {
	for _, ifc := range sn.ifs {
		if len(sn.tx[ifc.index].pkts) > 0 {
			sn.flushOne(ifc)
		}
	}
}

func (sn *Softnet) flushOne(ifc *Interface) {
	b := &sn.tx[ifc.index]
	var frames, bytes uint64
	for _, pk := range b.pkts {
		f, n := wireSize(pk)
		frames += f
		bytes += n
	}
	n := ifc.port.TxBurst(sn.id, b.pkts)
	for _, pk := range b.pkts[n:] {
		f, n := wireSize(pk)
		frames -= f
		bytes -= n
		sn.inc(TxDropFull)
		sn.free(pk)
	}
	sn.add(TxPackets, frames)
	sn.add(TxBytes, bytes)
	clear(b.pkts)
	b.pkts = b.pkts[:0]
}

// callTask is a one-shot task that signals a channel after running.
func newCallTask(sn *Softnet, fn func(), done chan struct{}) *task.Task {
	return task.New(func() {
		fn()
		sn.publish() // what fn counted is visible when Call returns
		close(done)
	})
}
