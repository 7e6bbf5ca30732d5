package splice

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
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

// Splicer splices the TCP and UDP sockets of a stack in one mode. Its
// methods are safe for concurrent use.
type Splicer struct {
	mode Mode

	// mu guards socks and each sock's last. Control path only: Splice,
	// the end of a splice, Lookup and a spliced socket's Close.
	mu    sync.Mutex
	socks map[Socket]*sock

	ded *thread // ModeDedicated's splice thread (nil in other modes)

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

// End reasons, the index of Splicer.ends.
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

// New returns a splicer. A ModeDedicated splicer runs its splice thread
// until Close.
func New(mode Mode) *Splicer {
	s := &Splicer{mode: mode, socks: make(map[Socket]*sock)}
	if mode == ModeDedicated {
		s.ded = newThread()
	}
	return s
}

// Close stops a ModeDedicated splicer's thread (other modes: nothing).
func (s *Splicer) Close() {
	if s.ded != nil {
		s.ded.close()
	}
}

// DedicatedStats returns the splice thread's task counters: Crossed counts
// the hand-offs from softnets.
func (s *Splicer) DedicatedStats() task.Stats {
	if s.ded == nil {
		return task.Stats{}
	}
	return s.ded.q.Stats()
}

// DedicatedBusy returns the time ModeDedicated's splice thread spent
// running tasks (0 in other modes): its CPU, as it sleeps when idle.
func (s *Splicer) DedicatedBusy() time.Duration {
	if s.ded == nil {
		return 0
	}
	return time.Duration(s.ded.busy.Load())
}

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

// counted adds one move of n bytes to the splicer's counters.
func (s *Splicer) counted(n int) {
	s.moves.Add(1)
	s.bytes.Add(uint64(n))
}

// sock is one socket's splice roles. A socket can be the source of one
// splice and the drain of another (a relay's two directions), or both of
// one (an echo). TCP's events, installed once per connection, find the
// splice to wake here.
type sock struct {
	src   atomic.Pointer[Splice] // the live splice reading from the socket; read by its softnet events
	drain atomic.Pointer[Splice] // the live splice writing to the socket
	// last is the current or last splice whose source is the socket
	// (Lookup). Guarded by Splicer.mu.
	last *Splice
}

func (s *Splicer) sockFor(c Socket) *sock {
	sk := s.socks[c]
	if sk == nil {
		sk = &sock{}
		s.socks[c] = sk
	}
	return sk
}

// Splice is one splice, from Splicer.Splice until it ends and after: it
// keeps the bytes it moved and its end reason. Its methods are safe for
// concurrent use from any goroutine. A nil *Splice is no splice (what
// Lookup returns for a socket never spliced): Wait and Unsplice return
// EPROTO, Len 0, Done nil.
//
// Splice holds what every mode shares: the limits, the byte count, the
// end (once, by reason, its error left on the source) and the roles. Its
// mover is the mode's: tcpSoftnet and udpSoftnet (softnet.go),
// tcpDedicated and udpDedicated (dedicated.go), tcpCopy and udpCopy
// (copy.go).
type Splice struct {
	s          *Splicer
	proto      proto
	src, drain stack.SpliceHooks // the sockets, as the protocol-independent part sees them
	ss, ds     *sock             // src's and drain's roles
	max        int64             // bytes (0: no limit)
	idle       time.Duration
	m          mover

	moved atomic.Int64  // bytes that reached the drain (UDP: payload bytes)
	ended atomic.Bool   // set once, by end (or a refusal)
	err   syscall.Errno // the end reason, written before done closes
	done  chan struct{}
}

// mover is one mode's way of moving a splice's data.
type mover interface {
	// start begins moving, on the goroutine that called Splice, once
	// the roles are published; an error refuses the splice.
	start() error
	// kick is an event on a TCP splice's connections: data on the
	// source or space on the drain, on softnet from. Movers that take
	// their data otherwise (UDP's receive hook, a copier) ignore it.
	kick(from *stack.Softnet)
	// stop runs in end, once, after the end reason was left on the
	// source and before Done closes: the mover takes no more data.
	stop(reason int)
	// release runs last in end: the source goes back to its reader.
	release()
	// unsplice ends the splice from outside and returns when nothing
	// moves any more: Unsplice (closing nil), or Close of one of its
	// sockets (closing, on the closing goroutine).
	unsplice(closing Socket)
	// describe is the mover's part of Describe.
	describe() string
}

// Splice starts moving everything that arrives on src to drain (TCP to
// TCP, UDP to UDP), up to max bytes (0: no limit; for UDP, payload bytes,
// and a datagram that would pass max is never split), ending after idle
// without a move (0: never). It returns the running splice once it runs
// (a TCP splice first waits for a Read in progress on src to return, as
// sosplice does); its Wait reports how it ended.
//
// Refusals, in OpenBSD's order (Socket lists those of the sockets
// themselves): max < 0 or idle < 0 (EINVAL), a UDP drain not connected
// or a closed UDP socket (ENOTCONN), src spliced already as a source or
// drain as a drain (EBUSY), a TCP src or drain neither connected nor
// connecting (ENOTCONN). A UDP src may be unconnected; a socket may be
// spliced to itself.
func (s *Splicer) Splice(src, drain Socket, max int64, idle time.Duration) (*Splice, error) {
	pr, err := protocol(src, drain)
	if err != nil {
		return nil, err
	}
	if max < 0 || idle < 0 {
		return nil, pr.err(syscall.EINVAL)
	}
	p := &Splice{s: s, proto: pr, src: hooksOf(src), drain: hooksOf(drain), max: max, idle: idle, done: make(chan struct{})}
	if pr == protoTCP {
		p.m = s.newTCPMover(p, src.(*stack.TCPConn), drain.(*stack.TCPConn))
	} else if p.m, err = s.newUDPMover(p, src.(*stack.UDPConn), drain.(*stack.UDPConn)); err != nil {
		return nil, pr.err(err)
	}
	s.mu.Lock()
	p.ss, p.ds = s.sockFor(src), s.sockFor(drain)
	if q := p.ss.src.Load(); q != nil && !q.ended.Load() {
		s.mu.Unlock()
		return nil, pr.err(syscall.EBUSY)
	}
	if q := p.ds.drain.Load(); q != nil && !q.ended.Load() {
		s.mu.Unlock()
		return nil, pr.err(syscall.EBUSY)
	}
	p.ss.src.Store(p)
	p.ds.drain.Store(p)
	prev := p.ss.last
	p.ss.last = p
	s.mu.Unlock()
	// Closing a spliced socket unsplices both of its roles.
	p.src.SetCloseHook(func() { s.closing(src) })
	p.drain.SetCloseHook(func() { s.closing(drain) })
	if pr == protoUDP {
		// A new splice takes over the source: the last one's end reason,
		// left for a reader, is not this one's (the TCP movers clear it
		// in start, once the reader is out).
		p.src.SetSoftError(0)
	}
	if err := p.m.start(); err != nil {
		s.refused(p, prev)
		return nil, pr.err(err)
	}
	return p, nil
}

// newTCPMover returns the mover of a TCP splice in the splicer's mode.
func (s *Splicer) newTCPMover(p *Splice, src, drain *stack.TCPConn) mover {
	// A pair whose connections live on different softnets (the drain was
	// not opened with a steered port) would hand packets across cores on
	// every move: such a splice copies through the sockets instead, and
	// Stats.CrossSoftnet counts it.
	if s.mode == ModeCopy || src.Softnet() != drain.Softnet() {
		return newTCPCopy(p, src, drain, s.mode != ModeCopy)
	}
	if s.mode == ModeDedicated {
		return newTCPDedicated(p, src, drain)
	}
	return newTCPSoftnet(p, src, drain)
}

// newUDPMover returns the mover of a UDP splice in the splicer's mode, or
// ENOTCONN: the drain must be connected, and neither socket closed.
func (s *Splicer) newUDPMover(p *Splice, src, drain *stack.UDPConn) (mover, error) {
	if !drain.Connected() || src.Closed() || drain.Closed() {
		return nil, syscall.ENOTCONN
	}
	switch s.mode {
	case ModeCopy:
		return newUDPCopy(p, src, drain), nil
	case ModeDedicated:
		return newUDPDedicated(p, src, drain), nil
	}
	return newUDPSoftnet(p, src, drain), nil
}

// end finishes the splice, once, from wherever its mover ends it (TCP's
// softnet movers: on the source's softnet; the others: any goroutine):
// the end reason is left for the source's reader, the mover stops, the
// end is counted, the roles are dropped, the mover hands the source back
// to its reader, and Done closes. The hand-back comes first so that its
// work on the source's home softnet is queued before anything a caller
// woken by Done queues there (the next splice of the source, at once).
func (p *Splice) end(reason int, errno syscall.Errno) {
	if p.ended.Swap(true) {
		return
	}
	if errno != 0 {
		p.err = errno
		p.src.SetSoftError(errno)
	}
	p.m.stop(reason)
	p.s.ends[reason].Add(1)
	p.s.detach(p)
	p.m.release()
	close(p.done)
}

// refused drops the roles of a splice that did not start, gives src's
// Lookup back its last splice, and ends it without counting, so that
// nothing waits for it. A Close that raced the refusal may have ended it
// first.
func (s *Splicer) refused(p *Splice, prev *Splice) {
	s.mu.Lock()
	p.ss.src.CompareAndSwap(p, nil)
	p.ds.drain.CompareAndSwap(p, nil)
	if p.ss.last == p {
		p.ss.last = prev
	}
	s.mu.Unlock()
	if !p.ended.Swap(true) {
		close(p.done)
	}
}

// detach drops an ended splice's roles: its sockets may be spliced again.
func (s *Splicer) detach(p *Splice) {
	s.mu.Lock()
	p.ss.src.CompareAndSwap(p, nil)
	p.ds.drain.CompareAndSwap(p, nil)
	s.mu.Unlock()
}

// closing unsplices both roles of a socket being closed by its
// application, and forgets it.
func (s *Splicer) closing(c Socket) {
	s.mu.Lock()
	sk := s.socks[c]
	delete(s.socks, c) // a closed socket is forgotten once its roles end
	s.mu.Unlock()
	if sk == nil {
		return
	}
	for _, p := range []*Splice{sk.src.Load(), sk.drain.Load()} {
		if p != nil && !p.ended.Load() {
			p.m.unsplice(c)
		}
	}
}

// Lookup returns the current or last splice whose source is src, or nil
// when src was never spliced (or was closed since: a closed socket is
// forgotten). A refused splice is no splice. The handle Splice returned
// is the same; Lookup is for code that holds only the socket.
func (s *Splicer) Lookup(src Socket) *Splice {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.socks[src]; sk != nil {
		return sk.last
	}
	return nil
}

// Unsplice ends the splice. It fails with EPROTO when the splice already
// ended. What Len counts reached the drain; the rest stays in the source
// (a copying splice's chunk in flight is written out before Unsplice
// returns).
func (p *Splice) Unsplice() error {
	if p == nil {
		return noSplice()
	}
	if p.ended.Load() {
		return p.proto.err(syscall.EPROTO)
	}
	p.m.unsplice(nil)
	return nil
}

// Wait blocks until the splice ends and returns its end reason: nil at
// EOF or Unsplice (or for UDP when the next datagram would pass max),
// else an error matching EFBIG, ETIMEDOUT, EPIPE, ECONNRESET, EMSGSIZE,
// ELOOP, ... with errors.Is.
func (p *Splice) Wait() error {
	if p == nil {
		return noSplice()
	}
	<-p.done
	if p.err != 0 {
		return p.proto.err(p.err)
	}
	return nil
}

// Done returns a channel closed when the splice ends.
func (p *Splice) Done() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.done
}

// Len returns the bytes the splice moved so far (UDP: payload bytes),
// kept after it ends.
func (p *Splice) Len() int64 {
	if p == nil {
		return 0
	}
	return p.moved.Load()
}
