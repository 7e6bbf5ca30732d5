package splice

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/ring"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
)

// ModeDedicated's movers: the design before the seed's change. A
// softnet's wakeup goes to one splice thread first, which hands the move
// back to the source's softnet (it owns the buffers): every move crosses
// cores twice, TCP and UDP alike, and the counters show it. The moves
// themselves are ModeSoftnet's.

// thread is ModeDedicated's splice thread. It sleeps when idle.
type thread struct {
	q                 *task.Queue
	wake, quit, ended chan struct{}
	busy              atomic.Int64 // ns spent running tasks
}

// dedicatedID is the splice thread's identity in task-crossing counts.
const dedicatedID = 1 << 20

func newThread() *thread {
	t := &thread{wake: make(chan struct{}, 1), quit: make(chan struct{}), ended: make(chan struct{})}
	t.q = task.NewQueue(dedicatedID, t.poke)
	go t.run()
	return t
}

func (t *thread) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *thread) run() {
	defer close(t.ended)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		for {
			start := time.Now()
			if t.q.Run(256) == 0 {
				break
			}
			t.busy.Add(int64(time.Since(start)))
		}
		select {
		case <-t.wake:
		case <-t.quit:
			return
		}
	}
}

func (t *thread) close() {
	close(t.quit)
	<-t.ended
}

// tcpDedicated is tcpSoftnet with its events routed through the splice
// thread: an event queues ded there, which queues the move (wake) on the
// source's softnet.
type tcpDedicated struct {
	tcpSoftnet
	ded task.Task // the splice thread's hand-off
}

func newTCPDedicated(p *Splice, src, drain *stack.TCPConn) *tcpDedicated {
	m := &tcpDedicated{tcpSoftnet: tcpSoftnet{p: p, src: src, drain: drain}}
	m.ded.Init(func() { m.src.Softnet().Add(&m.wake, nil) }, nil)
	return m
}

// kick: the old design, the event goes to the splice thread first.
func (m *tcpDedicated) kick(from *stack.Softnet) {
	if !m.started.Load() {
		return // see tcpSoftnet.kick
	}
	m.p.s.ded.q.Add(&m.ded, from.ID())
}

func (m *tcpDedicated) describe() string {
	return m.tcpSoftnet.describe() + fmt.Sprintf(" ded=%v", m.ded.Queued())
}

// udpDedicated is udpSoftnet with the receive hook of the old design
// (OpenBSD's sorwakeup before the seed's change): the datagram waits in
// the splice's own queue, the splice thread is woken, and it hands the
// move back to the source's home softnet (moveQueued), which sends. Every
// datagram crosses cores twice.
type udpDedicated struct {
	udpSoftnet
	// Datagrams waiting for the splice thread's hand-off, kept apart
	// from the reader's ring (a parked reader must not get them); home
	// pops.
	q         *ring.MPSC[driver.Packet]
	wake, ded task.Task // the move on home, the splice thread's hand-off
}

// dedicatedQueue bounds the datagrams of one ModeDedicated splice waiting
// for the splice thread; beyond it they are dropped and counted, as a
// full socket buffer drops them.
const dedicatedQueue = 1024

func newUDPDedicated(p *Splice, src, drain *stack.UDPConn) *udpDedicated {
	m := &udpDedicated{udpSoftnet: udpSoftnet{p: p, src: src, drain: drain, home: src.Home()}}
	m.q, _ = ring.New[driver.Packet](dedicatedQueue)
	m.wake.Init(m.moveQueued, nil)
	m.ded.Init(func() { m.home.Add(&m.wake, nil) }, nil)
	return m
}

func (m *udpDedicated) start() error { return m.begin(m.handle, m.moveQueued) }

// handle queues the datagram for the splice thread's hand-off; it runs on
// the softnet that received it.
func (m *udpDedicated) handle(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
	if m.p.ended.Load() {
		c.Queue(sn, pk)
		return
	}
	if !m.q.Push(pk) {
		m.p.s.udpDrops.Add(1)
		sn.Free(pk)
	}
	m.p.s.ded.q.Add(&m.ded, sn.ID())
}

// moveQueued moves the datagrams in src's ring (those that came before
// the splice), then those in the splice's queue. It runs on home.
//
// When a datagram ends the splice (EMSGSIZE, max), those queued behind it
// go back to src's ring here and now, before home runs anything else: a
// relay that splices src again as soon as Wait returns (its next splice
// starts on home, so after this) finds them there. Left to release's
// later task, they could reach the ring after the next splice had looked
// at it, and wait there for a reader that never comes.
func (m *udpDedicated) moveQueued() {
	m.udpSoftnet.moveQueued()
	for pk := m.q.Peek(); pk != nil && m.accept(pk); pk = m.q.Peek() {
		m.q.Pop()
		m.send(m.home, pk)
	}
	if m.p.ended.Load() {
		for pk := m.q.Pop(); pk != nil; pk = m.q.Pop() {
			m.src.Queue(m.home, pk)
		}
	}
}

// release stops the idle timer on home; what waited for the splice thread
// stays for the reader.
func (m *udpDedicated) release() {
	onHome(m.home, func() {
		m.idleT.Stop()
		for pk := m.q.Pop(); pk != nil; pk = m.q.Pop() {
			m.src.Queue(m.home, pk)
		}
	})
}
