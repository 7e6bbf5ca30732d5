// Package relay is netsplice's relay appliance logic. TCP (this file): accept a client,
// open the backend from the softnet that accepted it (its local port
// steered by RSS so both connections share that softnet), splice both
// directions, and end the pair the way relayd does.
//
// Per connection pair one goroutine supervises the two splices (control
// only: the data moves on the softnet, or in the splicer's copy mode).
// When one direction reaches EOF, or its max bytes, the other side's
// write half is shut down; when both directions are done both
// connections close. On an idle timeout the direction is spliced again if
// the other direction moved data meanwhile, otherwise both close. A reset
// on either side resets the other.
package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// Config is one TCP relay: clients of Listen are relayed to To.
type Config struct {
	Listen, To netip.AddrPort
	// Max bounds each direction's bytes (0: none); Idle ends a direction
	// that moved nothing for that long (0: never).
	Max  int64
	Idle time.Duration
	// DialTimeout bounds the backend connect [5s].
	DialTimeout time.Duration
}

// Stats are a relay's counters.
type Stats struct {
	Accepted, Relayed, DialFailed, Resets, Active uint64
	// Bytes is what the relay moved from clients to servers ([0]) and
	// back ([1]), its live pairs' splices included.
	Bytes [2]uint64
}

// Relay runs one TCP relay on a stack.
type Relay struct {
	st  *stack.Stack
	sp  *splice.Splicer
	cfg Config
	log *zap.Logger
	l   *stack.TCPListener

	wg                                    sync.WaitGroup
	accepted, relayed, dialFailed, resets atomic.Uint64
	active                                atomic.Int64
	mu                                    sync.Mutex
	pairs                                 map[*pair]struct{}
	bytes                                 [2]uint64 // of ended pairs; mu
	closed                                atomic.Bool

	// ctl orders StopAccepting and Replace: stopped once either ran (the
	// relay takes no new connections); next is set when Replace gave the
	// listener to a successor, which then owns it.
	ctl        sync.Mutex
	stopped    bool
	next       atomic.Pointer[Relay]
	acceptDone chan struct{} // closed when acceptLoop returned

	hooks
}

// hooks let tests put an event exactly into a phase of a relayed pair:
// afterDial runs once the backend is open, before the splices start;
// beforeResplice before an idle direction is spliced again.
type hooks struct {
	afterDial, beforeResplice func(src, dst *stack.TCPConn)
}

type pair struct {
	client, server *stack.TCPConn
	// cur is each direction's current (or last) splice; moved is the
	// bytes of its splices before that one. mu makes a re-splice's hand
	// over from cur to moved one step for progress.
	mu    sync.Mutex
	cur   [2]atomic.Pointer[splice.Splice]
	moved [2]atomic.Int64
	reset atomic.Bool // resetPair ran
	// idled: a direction found both idle and closed the pair; what the
	// other direction sees after that is the relay's own close.
	idled atomic.Bool
}

// Start listens and relays until Close.
func Start(st *stack.Stack, sp *splice.Splicer, cfg Config, log *zap.Logger) (*Relay, error) {
	return start(st, sp, cfg, log, hooks{})
}

func start(st *stack.Stack, sp *splice.Splicer, cfg Config, log *zap.Logger, h hooks) (*Relay, error) {
	cfg, log, err := checkConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	l, err := st.ListenTCP(cfg.Listen, 0)
	if err != nil {
		return nil, err
	}
	r := newRelay(st, sp, cfg, log, l, h)
	r.wg.Add(1)
	go r.acceptLoop()
	return r, nil
}

// checkConfig fills in cfg's defaults and validates it.
func checkConfig(cfg Config, log *zap.Logger) (Config, *zap.Logger, error) {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Max < 0 || cfg.Idle < 0 || !cfg.To.IsValid() {
		return cfg, nil, syscall.EINVAL
	}
	if log == nil {
		log = zap.NewNop()
	}
	return cfg, log, nil
}

func newRelay(st *stack.Stack, sp *splice.Splicer, cfg Config, log *zap.Logger, l *stack.TCPListener, h hooks) *Relay {
	return &Relay{st: st, sp: sp, cfg: cfg, log: log, l: l, pairs: map[*pair]struct{}{}, hooks: h, acceptDone: make(chan struct{})}
}

func (r *Relay) acceptLoop() {
	defer r.wg.Done()
	defer close(r.acceptDone)
	for {
		c, err := r.l.AcceptTCP()
		if n := r.next.Load(); n != nil {
			// Handed over (Replace): what was accepted from here on is
			// the successor's, with its configuration.
			if err == nil {
				n.take(c)
			}
			return
		}
		if err != nil {
			return
		}
		r.take(c)
	}
}

// take relays an accepted client.
func (r *Relay) take(c *stack.TCPConn) {
	r.accepted.Add(1)
	r.wg.Add(1)
	go r.serve(c)
}

// Replace hands r's listener to a new relay with cfg (the same Listen)
// and returns it: from then on connections are relayed with cfg, while r
// takes no new ones and its relayed pairs go on as they were (Close(drain)
// then waits for them; it leaves the listener, which the new relay owns,
// open). The listener is never closed in between, so no SYN to it is
// refused: connections that complete their handshake meanwhile wait in
// its accept queue. Replace fails with net.ErrClosed when r already
// stopped accepting (StopAccepting, Close or an earlier Replace).
func (r *Relay) Replace(cfg Config, log *zap.Logger) (*Relay, error) {
	cfg, log, err := checkConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.Listen != r.cfg.Listen {
		return nil, fmt.Errorf("relay: replace: listen %v is not the relay's %v: %w", cfg.Listen, r.cfg.Listen, syscall.EINVAL)
	}
	r.ctl.Lock()
	defer r.ctl.Unlock()
	if r.stopped {
		return nil, net.ErrClosed
	}
	n := newRelay(r.st, r.sp, cfg, log, r.l, r.hooks)
	r.stopped = true
	r.next.Store(n)
	// Wake r's accept loop with a deadline in the past; it sees next and
	// ends (AcceptTCP has one consumer at a time: n starts after it).
	r.l.SetDeadline(time.Unix(0, 1))
	<-r.acceptDone
	r.l.SetDeadline(time.Time{})
	n.wg.Add(1)
	go n.acceptLoop()
	return n, nil
}

// StopAccepting closes the listener (unless Replace handed it over): new
// clients are refused from now on, while the relayed pairs go on until
// they end or Close's drain time passes. Close calls it first.
func (r *Relay) StopAccepting() {
	r.ctl.Lock()
	defer r.ctl.Unlock()
	if r.stopped {
		return
	}
	r.stopped = true
	r.l.Close()
}

// serve relays one client. The phases of a relayed pair, and what a
// reset on either side does in each (it always reaches the other side as
// a reset, never as a clean close, and counts in Stats.Resets):
//
//   - accepted, backend connecting: a client reset (or timeout) aborts
//     the backend's open; a backend that refuses or cannot be reached
//     resets the client (counted in DialFailed).
//   - splice starting: a side reset before its splice starts makes the
//     splice refuse (ENOTCONN); the other side is reset.
//   - spliced: the splice ends with the side's error (ECONNRESET), after
//     the data that came before the reset; the other side is reset.
//   - draining: one direction ended (EOF or max, its receiver shut down
//     for writing) while the other still moves: a reset of either side
//     ends that one too and resets the other.
//   - idle re-splice: a direction idle for Idle is spliced again when the
//     other direction moved data meanwhile (relayd's rule); a reset found
//     while re-splicing resets the other side.
func (r *Relay) serve(c *stack.TCPConn) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DialTimeout)
	r.cancelOnClose(c, cancel)
	b, err := r.st.DialTCPFrom(ctx, c.Softnet().ID(), netip.AddrPort{}, r.cfg.To)
	cancel()
	if c.Err() != nil {
		// The client reset (or timed out) while the backend was opened.
		r.resets.Add(1)
		if b != nil {
			b.Reset()
		}
		c.Close()
		return
	}
	if err != nil {
		r.dialFailed.Add(1)
		r.log.Debug("backend dial failed", zap.Stringer("to", r.cfg.To), zap.Error(err))
		c.Reset()
		return
	}
	p := &pair{client: c, server: b}
	r.mu.Lock()
	r.pairs[p] = struct{}{}
	r.mu.Unlock()
	r.active.Add(1)
	defer func() {
		r.mu.Lock()
		delete(r.pairs, p)
		r.bytes[0] += uint64(p.progress(0))
		r.bytes[1] += uint64(p.progress(1))
		r.mu.Unlock()
		r.active.Add(-1)
	}()
	if r.sp.Mode() == splice.ModeCopy || b.Softnet() != c.Softnet() {
		// No softnet splice will take c's events over: drop the dial
		// phase's watcher, or every packet c receives would run it.
		sn := c.Softnet()
		sn.Stack().Call(sn, func() { c.SetEvents(nil) })
	}
	if h := r.afterDial; h != nil {
		h(c, b)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go r.direction(p, 0, &wg)
	go r.direction(p, 1, &wg)
	wg.Wait()
	if !p.reset.Load() {
		c.Close()
		b.Close()
	}
	r.relayed.Add(1)
}

// cancelOnClose calls cancel when c leaves its flow table (a reset or a
// timeout) while its backend is being opened, or at once if it already
// left.
func (r *Relay) cancelOnClose(c *stack.TCPConn, cancel func()) {
	sn := c.Softnet()
	sn.Stack().Call(sn, func() {
		if c.Closed() {
			cancel()
			return
		}
		c.SetEvents(&stack.TCPEvents{Closed: func(*stack.TCPConn) { cancel() }})
	})
}

// direction runs direction i of a pair (0: client to server, 1: server to
// client): splices, waits, re-splices after an idle time while the other
// direction moves, and ends the way relayd does.
func (r *Relay) direction(p *pair, i int, wg *sync.WaitGroup) {
	defer wg.Done()
	src, dst := p.client, p.server
	if i == 1 {
		src, dst = dst, src
	}
	for {
		before := p.progress(1 - i)
		spl, err := r.sp.Splice(src, dst, r.remaining(p, i), r.cfg.Idle)
		if err != nil {
			if p.idled.Load() {
				return
			}
			if src.Err() != nil || dst.Err() != nil {
				// A side was reset before this splice started.
				r.resetPair(p)
				return
			}
			if !errors.Is(err, syscall.ENOTCONN) {
				r.log.Debug("splice refused", zap.Error(err))
			}
			dst.CloseWrite()
			return
		}
		p.cur[i].Store(spl)
		err = spl.Wait()
		switch {
		case p.reset.Load() || p.idled.Load():
			return // the other direction reset or closed both
		case err == nil || errors.Is(err, syscall.EFBIG):
			// EOF or max: the receiver gets exactly that, then EOF.
			dst.CloseWrite()
			return
		case errors.Is(err, syscall.ETIMEDOUT):
			if p.progress(1-i) != before {
				// The other direction is alive: splice again (count
				// this splice's bytes first).
				p.mu.Lock()
				p.moved[i].Add(spl.Len())
				p.cur[i].Store(nil)
				p.mu.Unlock()
				if h := r.beforeResplice; h != nil {
					h(src, dst)
				}
				continue
			}
			p.idled.Store(true)
			src.Close()
			dst.Close()
			return
		default:
			// A reset (or another error) on either side resets both.
			r.resetPair(p)
			return
		}
	}
}

// resetPair resets both connections of a pair, once, and counts it.
func (r *Relay) resetPair(p *pair) {
	if p.reset.CompareAndSwap(false, true) {
		r.resets.Add(1)
		p.client.Reset()
		p.server.Reset()
	}
}

// progress is what direction j moved so far, its running splice included.
func (p *pair) progress(j int) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.moved[j].Load() + p.cur[j].Load().Len()
}

// remaining is what a re-splice of direction i may still move under Max.
func (r *Relay) remaining(p *pair, i int) int64 {
	if r.cfg.Max == 0 {
		return 0
	}
	return max(r.cfg.Max-p.moved[i].Load(), 1)
}

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	s := Stats{Accepted: r.accepted.Load(), Relayed: r.relayed.Load(), DialFailed: r.dialFailed.Load(),
		Resets: r.resets.Load(), Active: uint64(r.active.Load())}
	r.mu.Lock()
	s.Bytes = r.bytes
	for p := range r.pairs {
		s.Bytes[0] += uint64(p.progress(0))
		s.Bytes[1] += uint64(p.progress(1))
	}
	r.mu.Unlock()
	return s
}

// Close stops accepting (StopAccepting). With drain > 0 it waits that
// long for relayed pairs to finish, then closes what is left; it returns
// when all is done.
func (r *Relay) Close(drain time.Duration) {
	r.StopAccepting()
	if r.closed.Swap(true) {
		return
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(drain):
	}
	r.mu.Lock()
	for p := range r.pairs {
		p.client.Close()
		p.server.Close()
	}
	r.mu.Unlock()
	<-done
}

// Describe returns one line per relayed pair and direction with the
// connections' and splices' state, for diagnosing a stall. Control path.
func (r *Relay) Describe() string {
	r.mu.Lock()
	pairs := make([]*pair, 0, len(r.pairs))
	for p := range r.pairs {
		pairs = append(pairs, p)
	}
	r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "relay %v -> %v: %+v\n", r.cfg.Listen, r.cfg.To, r.Stats())
	for i, p := range pairs {
		fmt.Fprintf(&b, " pair %d client %s\n", i, p.client.Describe())
		fmt.Fprintf(&b, " pair %d server %s\n", i, p.server.Describe())
		fmt.Fprintf(&b, " pair %d client->server %s\n", i, p.cur[0].Load().Describe())
		fmt.Fprintf(&b, " pair %d server->client %s\n", i, p.cur[1].Load().Describe())
	}
	return b.String()
}
