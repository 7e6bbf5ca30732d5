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
	closed                                atomic.Bool
}

type pair struct {
	client, server *stack.TCPConn
}

// Start listens and relays until Close.
func Start(st *stack.Stack, sp *splice.Splicer, cfg Config, log *zap.Logger) (*Relay, error) {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Max < 0 || cfg.Idle < 0 || !cfg.To.IsValid() {
		return nil, syscall.EINVAL
	}
	if log == nil {
		log = zap.NewNop()
	}
	l, err := st.ListenTCP(cfg.Listen, 0)
	if err != nil {
		return nil, err
	}
	r := &Relay{st: st, sp: sp, cfg: cfg, log: log, l: l, pairs: map[*pair]struct{}{}}
	r.wg.Add(1)
	go r.acceptLoop()
	return r, nil
}

func (r *Relay) acceptLoop() {
	defer r.wg.Done()
	for {
		c, err := r.l.AcceptTCP()
		if err != nil {
			return
		}
		r.accepted.Add(1)
		r.wg.Add(1)
		go r.serve(c)
	}
}

// serve relays one client.
func (r *Relay) serve(c *stack.TCPConn) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DialTimeout)
	b, err := r.st.DialTCPFrom(ctx, c.Softnet().ID(), netip.AddrPort{}, r.cfg.To)
	cancel()
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
		r.mu.Unlock()
		r.active.Add(-1)
	}()
	var wg sync.WaitGroup
	var moved [2]atomic.Int64 // bytes of each direction's splices before its current (or last) one
	var reset atomic.Bool
	srcs := [2]*stack.TCPConn{c, b}
	// progress is what direction j moved so far, its running splice included.
	progress := func(j int) int64 { return moved[j].Load() + r.sp.SpliceLen(srcs[j]) }
	dir := func(i int, src, dst *stack.TCPConn) {
		defer wg.Done()
		for {
			before := progress(1 - i)
			if err := r.sp.Splice(src, dst, r.remaining(src, i, &moved), r.cfg.Idle); err != nil {
				if !errors.Is(err, syscall.ENOTCONN) {
					r.log.Debug("splice refused", zap.Error(err))
				}
				dst.CloseWrite()
				return
			}
			err := r.sp.Wait(src)
			switch {
			case err == nil || errors.Is(err, syscall.EFBIG):
				// EOF or max: the receiver gets exactly that, then EOF.
				dst.CloseWrite()
				return
			case errors.Is(err, syscall.ETIMEDOUT):
				if progress(1-i) != before && !reset.Load() {
					// The other direction is alive: splice again (which
					// resets SpliceLen, so count this splice's bytes first).
					moved[i].Add(r.sp.SpliceLen(src))
					continue
				}
				src.Close()
				dst.Close()
				return
			default:
				// A reset (or another error) on either side resets both.
				if reset.CompareAndSwap(false, true) {
					r.resets.Add(1)
					src.Reset()
					dst.Reset()
				}
				return
			}
		}
	}
	wg.Add(2)
	go dir(0, c, b)
	go dir(1, b, c)
	wg.Wait()
	if !reset.Load() {
		c.Close()
		b.Close()
	}
	r.relayed.Add(1)
}

// remaining is what a re-splice of direction i may still move under Max.
func (r *Relay) remaining(src *stack.TCPConn, i int, moved *[2]atomic.Int64) int64 {
	if r.cfg.Max == 0 {
		return 0
	}
	return max(r.cfg.Max-moved[i].Load(), 1)
}

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	return Stats{Accepted: r.accepted.Load(), Relayed: r.relayed.Load(), DialFailed: r.dialFailed.Load(),
		Resets: r.resets.Load(), Active: uint64(r.active.Load())}
}

// Close stops accepting. With drain > 0 it waits that long for relayed
// pairs to finish, then closes what is left; it returns when all is done.
func (r *Relay) Close(drain time.Duration) {
	if r.closed.Swap(true) {
		return
	}
	r.l.Close()
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
		fmt.Fprintf(&b, " pair %d client->server %s\n", i, r.sp.Describe(p.client))
		fmt.Fprintf(&b, " pair %d server->client %s\n", i, r.sp.Describe(p.server))
	}
	return b.String()
}
