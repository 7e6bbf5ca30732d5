package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// UDP relay: every new client address gets a session, which is two
// connected sockets: one on the listening port connected to the client
// (it takes that client's datagrams from then on, ahead of the listening
// socket) and one connected to the backend from a local port that RSS
// steers to the session socket's softnet. Datagrams are spliced both ways
// with their boundaries kept, so a session's datagrams never cross cores.
//
// The listening socket only sees a client's datagrams until its session
// exists: its handler (on the softnet, never blocking) copies them into a
// bounded per-client backlog and hands the client to the session
// goroutine, which opens the sockets, sends the backlog in order, then
// splices. A session ends when both directions are idle for Idle (the
// relayd rule: a direction that times out is spliced again while the
// other one moved data), or when both directions reached Max.

// UDPConfig is one UDP relay: datagrams to Listen are relayed to To.
type UDPConfig struct {
	Listen, To netip.AddrPort
	// Max bounds each direction's payload bytes per session (0: none); a
	// datagram that would pass it is not relayed.
	Max int64
	// Idle ends a session idle this long in both directions [30s]; a
	// negative Idle never ends one (MaxSessions still bounds them).
	Idle time.Duration
	// MaxSessions bounds the live sessions [4096]; datagrams of new
	// clients beyond it are dropped and counted as refused.
	MaxSessions int
}

// UDPStats are a UDP relay's counters.
type UDPStats struct {
	// Sessions opened, ended, live now; Refused counts datagrams of new
	// clients dropped because MaxSessions sessions were live; Failed
	// counts sessions whose sockets could not be opened.
	Sessions, Ended, Active, Refused, Failed uint64
	// BacklogDrops counts datagrams dropped while a session was being set
	// up because its backlog was full.
	BacklogDrops uint64
	// Oversize counts datagrams dropped because they did not fit the
	// other side's MTU (IPv6 carries 20 bytes less than IPv4).
	Oversize uint64
}

// backlogLimit bounds the datagrams kept for a client whose session is
// being set up.
const backlogLimit = 64

// UDPRelay runs one UDP relay on a stack.
type UDPRelay struct {
	st  *stack.Stack
	sp  *splice.Splicer
	cfg UDPConfig
	log *zap.Logger
	l   *udpListener

	mu       sync.Mutex
	pending  map[netip.AddrPort]*pendingClient // clients whose session is being set up
	sessions map[*udpSession]struct{}
	stopped  bool // StopAccepting or Replace (which gave the socket to succ) ran: no new clients
	closed   bool // Close ran: no new sessions at all
	newc     chan netip.AddrPort
	// prev is the relay this one replaced while that one may still set
	// up sessions; succ is the relay that replaced this one (Replace).
	prev atomic.Pointer[UDPRelay]
	succ *UDPRelay
	stop chan struct{} // closed by Close: no new sessions
	kill chan struct{} // closed after Close's drain time: end every session
	wg   sync.WaitGroup

	opened, ended, refused, failed, backlogDrops, oversize atomic.Uint64
}

// udpListener is a relay's listening socket. Its handler passes each
// datagram to the relay that owns it now (cur), so that Replace can hand
// the socket to a successor without closing it.
type udpListener struct {
	c   *stack.UDPConn
	cur atomic.Pointer[UDPRelay]
}

func (ul *udpListener) handle(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
	ul.cur.Load().onListener(sn, c, pk)
}

type pendingClient struct {
	local   netip.Addr // the address the client sent to
	backlog [][]byte
}

type udpSession struct {
	client, server *stack.UDPConn
}

// StartUDP listens on cfg.Listen and relays until Close.
func StartUDP(st *stack.Stack, sp *splice.Splicer, cfg UDPConfig, log *zap.Logger) (*UDPRelay, error) {
	cfg, log, err := checkUDPConfig(st, cfg, log)
	if err != nil {
		return nil, err
	}
	ul := &udpListener{}
	r := newUDPRelay(st, sp, cfg, log, ul)
	ul.cur.Store(r)
	if ul.c, err = st.ListenUDP(cfg.Listen, &stack.UDPOptions{Handler: ul.handle}); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.setupLoop()
	return r, nil
}

// checkUDPConfig fills in cfg's defaults and validates it.
func checkUDPConfig(st *stack.Stack, cfg UDPConfig, log *zap.Logger) (UDPConfig, *zap.Logger, error) {
	if cfg.Idle == 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 4096
	}
	if cfg.Idle < 0 {
		cfg.Idle = 0 // the splices' "never"
	}
	if cfg.Max < 0 || cfg.MaxSessions < 0 || !cfg.To.IsValid() || cfg.To.Addr().IsUnspecified() || cfg.To.Addr().IsMulticast() || cfg.To.Port() == 0 {
		return cfg, nil, syscall.EINVAL
	}
	if cfg.To.Port() == cfg.Listen.Port() && st.HasAddr(cfg.To.Addr()) &&
		(cfg.Listen.Addr().IsUnspecified() || cfg.Listen.Addr() == cfg.To.Addr()) {
		return cfg, nil, syscall.ELOOP // relayed to itself
	}
	if log == nil {
		log = zap.NewNop()
	}
	return cfg, log, nil
}

func newUDPRelay(st *stack.Stack, sp *splice.Splicer, cfg UDPConfig, log *zap.Logger, ul *udpListener) *UDPRelay {
	return &UDPRelay{st: st, sp: sp, cfg: cfg, log: log, l: ul,
		pending:  map[netip.AddrPort]*pendingClient{},
		sessions: map[*udpSession]struct{}{},
		newc:     make(chan netip.AddrPort, 1024),
		stop:     make(chan struct{}),
		kill:     make(chan struct{}),
	}
}

// Replace hands r's listening socket to a new relay with cfg (the same
// Listen) and returns it: datagrams of new clients open sessions with cfg
// from then on, while r opens no more (those of clients it was already
// setting up excepted) and its sessions go on as they were, their
// clients' datagrams reaching them as before (Close(drain) then waits
// for them; it leaves the socket, which the new relay owns, open). The
// socket is never closed in between, so no datagram to it is answered
// with port unreachable. Replace fails with net.ErrClosed when r already
// stopped accepting (StopAccepting, Close or an earlier Replace).
func (r *UDPRelay) Replace(cfg UDPConfig, log *zap.Logger) (*UDPRelay, error) {
	cfg, log, err := checkUDPConfig(r.st, cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.Listen != r.cfg.Listen {
		return nil, fmt.Errorf("relay: replace: listen %v is not the relay's %v: %w", cfg.Listen, r.cfg.Listen, syscall.EINVAL)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, net.ErrClosed
	}
	r.stopped = true
	n := newUDPRelay(r.st, r.sp, cfg, log, r.l)
	n.prev.Store(r)
	r.succ = n
	n.wg.Add(1)
	go n.setupLoop()
	r.l.cur.Store(n)
	return n, nil
}

// StopAccepting closes the listening socket (unless Replace handed it
// over): datagrams of new clients are answered with port unreachable
// from now on, while live sessions (and those being set up) go on until
// they end or Close's drain time passes. Close calls it first.
func (r *UDPRelay) StopAccepting() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	r.l.c.Close()
}

// onListener runs on a softnet for every datagram that reached the
// listening socket: a client without a session (yet).
func (r *UDPRelay) onListener(sn *stack.Softnet, _ *stack.UDPConn, pk *driver.Packet) {
	from := stack.UDPSource(pk)
	local := stack.UDPDestination(pk).Addr()
	payload := stack.UDPPayload(pk)
	if prev := r.prev.Load(); prev != nil && prev.addIfPending(from, payload) {
		// The relay this one replaced was setting up the client's session
		// when it handed the socket over: the datagram is that session's.
		sn.Free(pk)
		return
	}
	r.mu.Lock()
	p := r.pending[from]
	switch {
	case r.closed:
	case p != nil:
		r.addBacklog(p, payload)
	case len(r.sessions)+len(r.pending) >= r.cfg.MaxSessions:
		r.refused.Add(1)
	default:
		select {
		case r.newc <- from:
			r.pending[from] = &pendingClient{local: local, backlog: [][]byte{append([]byte(nil), payload...)}}
		default:
			r.refused.Add(1) // the set-up queue is full
		}
	}
	r.mu.Unlock()
	sn.Free(pk)
}

// addBacklog keeps a datagram of a client whose session is being set up.
// Called with mu held.
func (r *UDPRelay) addBacklog(p *pendingClient, payload []byte) {
	if len(p.backlog) < backlogLimit {
		p.backlog = append(p.backlog, append([]byte(nil), payload...))
	} else {
		r.backlogDrops.Add(1)
	}
}

// addIfPending keeps a datagram of from when its session is being set up,
// and reports whether it was.
func (r *UDPRelay) addIfPending(from netip.AddrPort, payload []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[from]
	if p == nil {
		return false
	}
	r.addBacklog(p, payload)
	return true
}

// setupLoop opens sessions for new clients, off the softnets (opening a
// socket waits for every softnet to install it).
func (r *UDPRelay) setupLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case from := <-r.newc:
			r.open(from)
		}
	}
}

// open sets up the session of client from.
func (r *UDPRelay) open(from netip.AddrPort) {
	r.mu.Lock()
	local := r.pending[from].local
	r.mu.Unlock()
	fail := func(what string, err error) {
		r.failed.Add(1)
		r.log.Debug("udp session failed", zap.Stringer("client", from), zap.String("step", what), zap.Error(err))
		r.mu.Lock()
		delete(r.pending, from)
		r.mu.Unlock()
	}
	// From here on the client's datagrams go to the session socket.
	c, err := r.st.DialUDP(netip.AddrPortFrom(local, r.cfg.Listen.Port()), from, nil)
	if err != nil {
		fail("session socket", err)
		return
	}
	b, err := r.st.DialUDP(netip.AddrPort{}, r.cfg.To, &stack.UDPOptions{Steer: true, Softnet: c.Home().ID()})
	if err != nil {
		c.Close()
		fail("backend socket", err)
		return
	}
	// Every softnet installed c before DialUDP returned, so no handler
	// adds to the backlog any more: send it in order, then splice (what
	// reached c meanwhile is queued there and moves when the splice
	// starts).
	r.mu.Lock()
	backlog := r.pending[from].backlog
	delete(r.pending, from)
	s := &udpSession{client: c, server: b}
	closed := r.closed
	if !closed {
		r.sessions[s] = struct{}{}
	}
	r.mu.Unlock()
	if closed {
		c.Close()
		b.Close()
		return
	}
	r.opened.Add(1)
	var moved int64
	for _, d := range backlog {
		if r.cfg.Max > 0 && moved+int64(len(d)) > r.cfg.Max {
			break
		}
		if _, err := b.Write(d); err != nil {
			if errors.Is(err, syscall.EMSGSIZE) {
				r.oversize.Add(1) // as the splice does: dropped, counted, the session goes on
				continue
			}
			r.log.Debug("udp backlog write", zap.Error(err))
			break
		}
		moved += int64(len(d))
	}
	r.wg.Add(1)
	go r.run(s, moved)
}

// run supervises a session's two splices until it ends, then closes it.
func (r *UDPRelay) run(s *udpSession, sent int64) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.sessions, s)
		r.mu.Unlock()
		s.client.Close()
		s.server.Close()
		r.ended.Add(1)
	}()
	// cur is direction j's current (or last) splice, done[j] what its
	// splices before that one moved; progress adds the current one.
	var cur [2]atomic.Pointer[splice.Splice]
	var done [2]atomic.Int64
	done[0].Store(sent)
	srcs := [2]*stack.UDPConn{s.client, s.server}
	progress := func(j int) int64 { return done[j].Load() + cur[j].Load().Len() }
	var wg sync.WaitGroup
	dir := func(i int) {
		defer wg.Done()
		src, dst := srcs[i], srcs[1-i]
		for !r.killed() {
			limit := int64(0)
			if r.cfg.Max > 0 {
				if limit = r.cfg.Max - done[i].Load(); limit <= 0 {
					return
				}
			}
			before := progress(1 - i)
			spl, err := r.sp.Splice(src, dst, limit, r.cfg.Idle)
			if err != nil {
				r.log.Debug("udp splice refused", zap.Error(err))
				return
			}
			cur[i].Store(spl)
			err = spl.Wait()
			if errors.Is(err, syscall.EMSGSIZE) {
				// A datagram too big for the drain's MTU (a relay from
				// IPv4 to IPv6 carries 20 bytes less): dropped and
				// counted, as a router would; the session goes on.
				r.oversize.Add(1)
				done[i].Add(spl.Len())
				continue
			}
			if !errors.Is(err, syscall.ETIMEDOUT) {
				// Max reached (or the next datagram would pass it), the
				// session closing, or an error: this direction is done.
				return
			}
			if progress(1-i) == before {
				// Both directions idle: end the session. The other
				// direction's splice is the one whose source is dst,
				// also if it has just spliced again and not yet
				// published its handle in cur.
				r.sp.Lookup(dst).Unsplice()
				return
			}
			// The other direction is alive: splice again (count this
			// splice's bytes first).
			done[i].Add(spl.Len())
		}
	}
	wg.Add(2)
	go dir(0)
	go dir(1)
	wg.Wait()
}

func (r *UDPRelay) killed() bool {
	select {
	case <-r.kill:
		return true
	default:
		return false
	}
}

// Stats returns the counters.
func (r *UDPRelay) Stats() UDPStats {
	r.mu.Lock()
	active := uint64(len(r.sessions))
	r.mu.Unlock()
	return UDPStats{Sessions: r.opened.Load(), Ended: r.ended.Load(), Active: active,
		Refused: r.refused.Load(), Failed: r.failed.Load(), BacklogDrops: r.backlogDrops.Load(), Oversize: r.oversize.Load()}
}

// Close stops taking new clients (StopAccepting). With drain > 0 it lets
// the sessions of clients already being set up open, and live sessions
// run, that long (they end when idle), then ends what is left; it
// returns when all is done.
func (r *UDPRelay) Close(drain time.Duration) {
	r.StopAccepting()
	deadline := time.Now().Add(drain)
	// wait waits until cond holds or the drain time is over.
	wait := func(cond func() bool) {
		for time.Now().Before(deadline) {
			r.mu.Lock()
			ok := cond()
			r.mu.Unlock()
			if ok {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(func() bool { return len(r.pending) == 0 })
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	wait(func() bool { return len(r.sessions) == 0 })
	// End what is left: closing a session's sockets unsplices them, and
	// no direction splices again once kill is closed.
	close(r.kill)
	r.mu.Lock()
	live := make([]*udpSession, 0, len(r.sessions))
	for s := range r.sessions {
		live = append(live, s)
	}
	r.mu.Unlock()
	for _, s := range live {
		s.client.Close()
		s.server.Close()
	}
	r.wg.Wait()
	r.mu.Lock()
	if r.succ != nil {
		r.succ.prev.CompareAndSwap(r, nil) // nothing is pending here any more
	}
	r.mu.Unlock()
}
