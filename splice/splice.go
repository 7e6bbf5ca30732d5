package splice

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
	"github.com/netsplice/netsplice/stack/timer"
)

// Mode chooses where splices run.
type Mode int

const (
	// ModeSoftnet moves data on the source connection's own softnet.
	ModeSoftnet Mode = iota
	// ModeCopy copies through the net.Conn API in a goroutine per splice.
	ModeCopy
	// ModeDedicated runs every splice task on one splice thread, as
	// OpenBSD did before the seed's change: a softnet's event queues the
	// splice's task there, and the splice thread hands the move back to
	// the source's softnet, which owns the buffers. Every move crosses
	// cores twice; the counters show it.
	ModeDedicated
)

// String returns "softnet", "dedicated" or "copy".
func (m Mode) String() string {
	switch m {
	case ModeSoftnet:
		return "softnet"
	case ModeCopy:
		return "copy"
	case ModeDedicated:
		return "dedicated"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "softnet", "dedicated" or "copy".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "softnet":
		return ModeSoftnet, nil
	case "copy":
		return ModeCopy, nil
	case "dedicated":
		return ModeDedicated, nil
	}
	return 0, fmt.Errorf("splice mode %q: want softnet, dedicated or copy", s)
}

// Splicer splices TCP connections of one stack. Its methods are safe for
// concurrent use.
type Splicer struct {
	mode Mode

	mu    sync.Mutex
	socks map[*stack.TCPConn]*sock

	udp udpState

	// ModeDedicated's splice thread.
	dedicated                 *task.Queue
	dedWake, dedStop, dedDone chan struct{}

	dedBusy        atomic.Int64 // ns the splice thread spent running tasks
	moves, bytes   atomic.Uint64
	crossFallbacks atomic.Uint64
	udpDrops       atomic.Uint64
	ends           [numReasons]atomic.Uint64
}

// Stats are a splicer's counters.
type Stats struct {
	Moves, Bytes uint64
	// CrossSoftnet counts softnet-mode splices whose connections live on
	// different softnets and that therefore copy through the sockets.
	CrossSoftnet uint64
	// UDPDrops counts datagrams a ModeDedicated UDP splice dropped because
	// its queue for the splice thread was full.
	UDPDrops uint64
	// Ends counts finished splices by reason: "eof", "max", "idle",
	// "drain", "error", "unsplice", "loop".
	Ends map[string]uint64
}

const (
	endEOF = iota
	endMax
	endIdle
	endDrain
	endError
	endUnsplice
	endLoop
	numReasons
)

var reasonNames = [numReasons]string{"eof", "max", "idle", "drain", "error", "unsplice", "loop"}

// maxLoops is how many splices data may pass inside one stack before a
// splice ends with ELOOP (OpenBSD's M_MAXLOOP).
const maxLoops = 128

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

// New returns a splicer. A ModeDedicated splicer runs its splice thread
// until Close.
func New(mode Mode) *Splicer {
	s := &Splicer{mode: mode, socks: make(map[*stack.TCPConn]*sock)}
	if mode == ModeDedicated {
		s.dedicated = task.NewQueue(dedicatedID, s.wakeDedicated)
		s.dedWake = make(chan struct{}, 1)
		s.dedStop = make(chan struct{})
		s.dedDone = make(chan struct{})
		go s.runDedicated()
	}
	return s
}

// dedicatedID is the splice thread's identity in task-crossing counts.
const dedicatedID = 1 << 20

func (s *Splicer) wakeDedicated() {
	select {
	case s.dedWake <- struct{}{}:
	default:
	}
}

// runDedicated is the splice thread of ModeDedicated.
func (s *Splicer) runDedicated() {
	defer close(s.dedDone)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		for {
			start := time.Now()
			if s.dedicated.Run(256) == 0 {
				break
			}
			s.dedBusy.Add(int64(time.Since(start)))
		}
		select {
		case <-s.dedWake:
		case <-s.dedStop:
			return
		}
	}
}

// Close stops a ModeDedicated splicer's thread (other modes: nothing).
func (s *Splicer) Close() {
	if s.dedStop != nil {
		close(s.dedStop)
		<-s.dedDone
	}
}

// DedicatedStats returns the splice thread's task counters: Crossed counts
// the hand-offs from softnets.
func (s *Splicer) DedicatedStats() task.Stats {
	if s.dedicated == nil {
		return task.Stats{}
	}
	return s.dedicated.Stats()
}

// DedicatedBusy returns the time ModeDedicated's splice thread spent
// running tasks (0 in other modes): its CPU, as it sleeps when idle.
func (s *Splicer) DedicatedBusy() time.Duration { return time.Duration(s.dedBusy.Load()) }

// Mode returns the splicer's mode.
func (s *Splicer) Mode() Mode { return s.mode }

// Stats returns the counters.
func (s *Splicer) Stats() Stats {
	st := Stats{Moves: s.moves.Load(), Bytes: s.bytes.Load(), CrossSoftnet: s.crossFallbacks.Load(), UDPDrops: s.udpDrops.Load(), Ends: map[string]uint64{}}
	for i := range s.ends {
		st.Ends[reasonNames[i]] = s.ends[i].Load()
	}
	return st
}

// sock is a connection's splice roles. Softnet-owned after setup.
type sock struct {
	c     *stack.TCPConn
	src   atomic.Pointer[spl] // the splice reading from c; read by c's softnet events
	drain atomic.Pointer[spl] // the splice writing to c
	// the current or last splice that used c as its source: SpliceLen and
	// Wait answer from it after the end
	last *spl
}

// spl is one splice.
type spl struct {
	s          *Splicer
	src, drain *sock
	max        int64
	idle       time.Duration
	moved      atomic.Int64
	started    atomic.Bool // start ran: events may kick it
	ended      atomic.Bool
	err        error // end reason, written before done closes
	done       chan struct{}
	lastMove   int64
	idleT      timer.Timer
	wake       task.Task     // move on the source's softnet, added from the drain's
	ded        task.Task     // ModeDedicated: the splice thread's task
	stop       chan struct{} // copy mode
	copierDone chan struct{} // copy mode: closed when copyLoop returns
	copying    bool          // runs copyLoop (ModeCopy, or a cross-softnet pair)
}

func (s *Splicer) sockFor(c *stack.TCPConn) *sock {
	sk := s.socks[c]
	if sk == nil {
		sk = &sock{c: c}
		s.socks[c] = sk
	}
	return sk
}

// Splice starts moving everything that arrives on src to drain, up to max
// bytes (0: no limit), ending after idle without a move (0: never). It
// returns once the splice runs (it first waits for a Read in progress on
// src to return, as sosplice does); Wait reports how the splice ended.
//
// Refusals: max < 0 or idle < 0 (EINVAL), src spliced already as a
// source or drain as a drain (EBUSY), src or drain neither connected nor
// connecting (ENOTCONN).
func (s *Splicer) Splice(src, drain *stack.TCPConn, max int64, idle time.Duration) error {
	if src == nil || drain == nil || max < 0 || idle < 0 {
		return opErr(syscall.EINVAL)
	}
	s.mu.Lock()
	ss, ds := s.sockFor(src), s.sockFor(drain)
	if q := ss.src.Load(); q != nil && !q.ended.Load() {
		s.mu.Unlock()
		return opErr(syscall.EBUSY)
	}
	if q := ds.drain.Load(); q != nil && !q.ended.Load() {
		s.mu.Unlock()
		return opErr(syscall.EBUSY)
	}
	p := &spl{s: s, src: ss, drain: ds, max: max, idle: idle, done: make(chan struct{}), stop: make(chan struct{})}
	// The connections may live on different softnets (the drain was not
	// opened with a steered port): moving packets would cross cores on
	// every move, so such a splice copies through the sockets instead, and
	// says so in its counter. Decided before p is published: closing()
	// reads it.
	p.copying = s.mode == ModeCopy || src.Softnet() != drain.Softnet()
	if p.copying {
		p.copierDone = make(chan struct{})
	}
	ss.src.Store(p)
	ds.drain.Store(p)
	ss.last = p
	s.mu.Unlock()
	src.SetCloseHook(func() { s.closing(src) })
	drain.SetCloseHook(func() { s.closing(drain) })
	// A new splice takes over the source: the last one's end reason,
	// left for a reader that did not come, goes (a copier reading src
	// would otherwise end at once with it: an idle relay direction
	// spliced again was cut off in copy mode).
	src.SetSoftError(0)
	if p.copying {
		if s.mode != ModeCopy {
			s.crossFallbacks.Add(1)
		}
		// The same refusal as start's, asked of each softnet.
		for _, c := range []*stack.TCPConn{src, drain} {
			closed := true
			sn := c.Softnet()
			sn.Stack().Call(sn, func() { closed = c.Closed() })
			if closed {
				close(p.copierDone) // no copier: a concurrent closing() must not wait for one
				s.refused(p)
				return opErr(syscall.ENOTCONN)
			}
		}
		go p.copyLoop()
		return nil
	}
	// Like sosplice, wait for a Read in progress on src and keep readers
	// out while the splice starts; bytes the reader left in a partly read
	// packet move first.
	release := src.HoldReader()
	src.ParkReaderPartial()
	var err error
	sn := src.Softnet()
	cerr := sn.Stack().Call(sn, func() { err = p.start() })
	release()
	if cerr != nil {
		err = cerr
	}
	if err != nil {
		s.refused(p)
		return opErr(err)
	}
	return nil
}

// refused drops the roles of a splice that did not start and ends it, so
// that Wait and Done do not wait for it (Wait then returns nil, SpliceLen
// 0). A closing() that raced the refusal may have ended it first.
func (s *Splicer) refused(p *spl) {
	s.detach(p)
	if !p.ended.Swap(true) {
		close(p.done)
	}
}

// detach drops a splice's roles (it ended, or never started).
func (s *Splicer) detach(p *spl) {
	s.mu.Lock()
	p.src.src.CompareAndSwap(p, nil)
	p.drain.drain.CompareAndSwap(p, nil)
	s.mu.Unlock()
}

// start runs on the source's softnet.
func (p *spl) start() error {
	if p.ended.Load() {
		return nil // unspliced (or closed) while it waited for src's reader
	}
	src, drain := p.src.c, p.drain.c
	// A drain shut down for writing is still connected: the first move
	// ends the splice with EPIPE.
	if src.Closed() || drain.Closed() {
		return syscall.ENOTCONN
	}
	src.SetSpliced(true)
	p.wake.Init(p.move, nil)
	p.ded.Init(func() { src.Softnet().Add(&p.wake, nil) }, nil)
	p.idleT.Init(p.onIdle)
	p.started.Store(true)
	sn := src.Softnet()
	p.lastMove = sn.Clock() // not the iteration's start: the idle time must not end early
	if p.idle > 0 {
		sn.Timers().Reset(&p.idleT, p.lastMove, p.idle)
	}
	p.s.install(p.src)
	if p.drain.c.Softnet() == sn {
		p.s.install(p.drain)
	} else {
		t := task.New(func() { p.s.install(p.drain) })
		p.drain.c.Softnet().Add(t, sn)
		t.Release()
	}
	p.move() // data already queued moves at once
	return nil
}

// install sets the events of a connection with splice roles. It runs on
// the connection's softnet.
func (s *Splicer) install(sk *sock) {
	sk.c.SetEvents(&stack.TCPEvents{
		Readable: func(c *stack.TCPConn) {
			if p := sk.src.Load(); p != nil && !p.ended.Load() {
				p.kick(c.Softnet())
			}
		},
		Writable: func(c *stack.TCPConn) {
			if p := sk.drain.Load(); p != nil && !p.ended.Load() {
				p.kick(c.Softnet())
			}
		},
		Closed: func(c *stack.TCPConn) {
			if p := sk.src.Load(); p != nil && !p.ended.Load() {
				p.kick(c.Softnet())
			}
			if p := sk.drain.Load(); p != nil && !p.ended.Load() {
				p.kick(c.Softnet())
			}
		},
	})
}

// kick runs move on the source's softnet: directly when the caller is
// there, else through its task queue (a counted crossing).
func (p *spl) kick(from *stack.Softnet) {
	if !p.started.Load() {
		// Published by Splice, not started yet (its tasks are not
		// initialized) or copying: events installed by an earlier splice
		// of the same socket must not run it. start moves what is queued.
		return
	}
	sn := p.src.c.Softnet()
	if p.s.mode == ModeDedicated {
		// The old design: the event goes to the splice thread first.
		p.s.dedicated.Add(&p.ded, from.ID())
		return
	}
	if from == sn {
		p.move()
		return
	}
	sn.Add(&p.wake, from)
}

// move moves what the drain takes and decides whether the splice ended.
// It runs on the source's softnet.
func (p *spl) move() {
	if p.ended.Load() {
		return
	}
	src, drain := p.src.c, p.drain.c
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
	if drain.Softnet() == sn {
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
				// The data came back through local connections more
				// than maxLoops times: a splice loop. It is dropped.
				for pk := head; pk != nil; {
					next := pk.Next
					sn.Free(pk)
					pk = next
				}
				p.end(endLoop, syscall.ELOOP)
				return
			}
			rest, w := drain.WritePackets(head)
			for pk := rest; pk != nil; {
				next := pk.Next
				sn.Free(pk) // cannot happen: n <= SendSpace
				pk = next
			}
			p.moved.Add(int64(w))
			p.s.moves.Add(1)
			p.s.bytes.Add(uint64(w))
			movedNow = true
		}
	}
	if movedNow {
		// A fresh reading, not the iteration's cached clock: under load an
		// iteration can start milliseconds before this move, and the idle
		// time must not end early.
		p.lastMove = sn.Clock()
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

// onIdle ends a splice that moved nothing for its idle time, or re-arms.
func (p *spl) onIdle() {
	if p.ended.Load() {
		return
	}
	sn := p.src.c.Softnet()
	now := sn.Clock()
	if d := time.Duration(now - p.lastMove); d < p.idle {
		sn.Timers().Reset(&p.idleT, now, p.idle-d)
		return
	}
	p.end(endIdle, syscall.ETIMEDOUT)
}

// end finishes the splice on the source's softnet.
func (p *spl) end(reason int, errno syscall.Errno) {
	if p.ended.Swap(true) {
		return
	}
	p.idleT.Stop()
	p.finish(reason, errno)
	// Last: a reader woken by it finds the end reason already left.
	p.src.c.SetSpliced(false)
}

// finish leaves the end reason for src's reader, counts it, drops the
// roles and wakes Wait: the part of ending shared by both modes.
func (p *spl) finish(reason int, errno syscall.Errno) {
	if errno != 0 {
		p.err = errno
		p.src.c.SetSoftError(errno)
	}
	p.s.ends[reason].Add(1)
	p.s.detach(p)
	close(p.done)
}

// Unsplice ends the splice whose source is src. It fails with EPROTO when
// src is not spliced. A copying splice's chunk in flight is written out
// before Unsplice returns: what SpliceLen counts reached the drain, the
// rest stays in src.
func (s *Splicer) Unsplice(src *stack.TCPConn) error {
	s.mu.Lock()
	sk := s.socks[src]
	var p *spl
	if sk != nil {
		p = sk.src.Load()
	}
	s.mu.Unlock()
	if p == nil || p.ended.Load() {
		return opErr(syscall.EPROTO)
	}
	if p.copying {
		p.stopCopy(false)
		return nil
	}
	sn := src.Softnet()
	sn.Stack().Call(sn, func() { p.end(endUnsplice, 0) })
	return nil
}

// SpliceLen returns the bytes moved by src's current or last splice.
func (s *Splicer) SpliceLen(src *stack.TCPConn) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.socks[src]; sk != nil && sk.last != nil {
		return sk.last.moved.Load()
	}
	return 0
}

// Wait blocks until src's splice ends and returns its end reason: nil at
// EOF or Unsplice, else an error matching EFBIG, ETIMEDOUT, EPIPE,
// ECONNRESET, ... with errors.Is. It returns EPROTO when src was never
// spliced.
func (s *Splicer) Wait(src *stack.TCPConn) error {
	p := s.lastOf(src)
	if p == nil {
		return opErr(syscall.EPROTO)
	}
	<-p.done
	if p.err != nil {
		return opErr(p.err)
	}
	return nil
}

// lastOf returns src's current or last splice, or nil.
func (s *Splicer) lastOf(src *stack.TCPConn) *spl {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.socks[src]; sk != nil {
		return sk.last
	}
	return nil
}

// Done returns a channel closed when src's splice ends (nil if none).
func (s *Splicer) Done(src *stack.TCPConn) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.socks[src]; sk != nil && sk.last != nil {
		return sk.last.done
	}
	return nil
}

// closing unsplices both roles of a connection being closed by its
// application, and forgets it.
func (s *Splicer) closing(c *stack.TCPConn) {
	s.mu.Lock()
	sk := s.socks[c]
	delete(s.socks, c) // a closed connection is forgotten once its roles end
	s.mu.Unlock()
	if sk == nil {
		return
	}
	for _, p := range []*spl{sk.src.Load(), sk.drain.Load()} {
		if p == nil || p.ended.Load() {
			continue
		}
		if p.copying {
			// Closing the drain: wake a copier blocked writing to it and
			// wait, so that the source is left to its reader clean.
			// Closing the source: its reader is gone, do not wait.
			if p.drain.c == c {
				p.stopCopy(true)
			} else {
				p.endCopy(endUnsplice, 0)
			}
			continue
		}
		sn := p.src.c.Softnet()
		sn.Stack().Call(sn, func() { p.end(endUnsplice, 0) })
	}
}

// copyLoop is ModeCopy: the userland relay, a goroutine per splice.
func (p *spl) copyLoop() {
	defer close(p.copierDone)
	src, drain := p.src.c, p.drain.c
	src.SetSpliced(false)
	buf := make([]byte, 64<<10)
	for {
		want := int64(len(buf))
		if p.max > 0 {
			want = min(want, p.max-p.moved.Load())
		}
		if p.idle > 0 {
			src.SetReadDeadline(time.Now().Add(p.idle))
		}
		if p.stopped() {
			return // after our deadline, so Unsplice's wake-up is not lost
		}
		n, err := src.Read(buf[:want])
		// A chunk read when Unsplice came is written out: it was taken
		// from src, and Unsplice waits for it.
		if n > 0 {
			w, werr := drain.Write(buf[:n])
			p.moved.Add(int64(w)) // what reached the drain, also before an error
			p.s.moves.Add(1)
			p.s.bytes.Add(uint64(w))
			if werr != nil {
				var en syscall.Errno
				if !errors.As(werr, &en) {
					en = syscall.EPIPE
				}
				p.endCopy(endDrain, en)
				return
			}
			if p.max > 0 && p.moved.Load() >= p.max {
				p.endCopy(endMax, syscall.EFBIG)
				return
			}
		}
		if p.stopped() {
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.endCopy(endEOF, 0)
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.endCopy(endIdle, syscall.ETIMEDOUT)
			return
		default:
			var en syscall.Errno
			if !errors.As(err, &en) {
				en = syscall.EIO
			}
			p.endCopy(endError, en)
			return
		}
	}
}

func (p *spl) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// stopCopy ends a ModeCopy splice from outside its copier (Unsplice,
// Close) and waits for the copier to return, so that nothing moves after
// the end and src's reader does not meet the deadline that woke the
// copier. closingDrain also wakes a copier blocked writing to the drain,
// which is being closed.
func (p *spl) stopCopy(closingDrain bool) {
	p.endCopy(endUnsplice, 0)
	if closingDrain {
		p.drain.c.SetWriteDeadline(time.Unix(1, 0))
	}
	<-p.copierDone
	p.src.c.SetReadDeadline(time.Time{})
}

// endCopy finishes a ModeCopy splice.
func (p *spl) endCopy(reason int, errno syscall.Errno) {
	if p.ended.Swap(true) {
		return
	}
	if reason != endUnsplice {
		p.src.c.SetReadDeadline(time.Time{})
	} else {
		close(p.stop)
		p.src.c.SetReadDeadline(time.Unix(1, 0)) // wake the copier
	}
	p.finish(reason, errno)
}

func opErr(err error) error { return &net.OpError{Op: "splice", Net: "tcp", Err: err} }
