package gen

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/counter"
	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/header"
	"github.com/netsplice/netsplice/stack/task"
)

// The generator's UDP header, at the start of every datagram's payload:
// magic, flow, sequence number, intended and actual send time (ns since
// the run's start, monotonic). The rest is the service pattern.
const (
	udpMagic     = 0x6e736701 // "nsg" 1
	udpHeaderLen = 4 + 4 + 8 + 8 + 8
)

// udpGen is the UDP workload.
type udpGen struct {
	st    *stack.Stack
	cfg   Config
	c     *counts
	errs  *firstErrors
	stop  context.Context
	flows []*stack.UDPConn
	// per is each softnet's receive counters, written only by that
	// softnet (the flows' handlers); lat its round trips.
	per []udpSoftnet
	lat *softnetLatencies
	// clock0 is the stack clock at the run's start: the datagrams carry
	// stack clock readings.
	clock0   int64
	senders  []*udpSender
	stopped  atomic.Bool
	finished chan struct{}
}

type udpSoftnet struct {
	received, bytes, bad counter.Counter
	_                    [40]byte
}

func newUDPGen(st *stack.Stack, cfg Config, c *counts, errs *firstErrors, stop context.Context) (*udpGen, error) {
	g := &udpGen{st: st, cfg: cfg, c: c, errs: errs, stop: stop, finished: make(chan struct{}), per: make([]udpSoftnet, st.NumSoftnets()), lat: newSoftnetLatencies(st)}
	for i := 0; i < cfg.Flows; i++ {
		opts := &stack.UDPOptions{Steer: true, Softnet: i % st.NumSoftnets()}
		if !cfg.NoReply {
			opts.Handler = g.receive
		}
		var laddr netip.AddrPort
		if n := len(cfg.Sources); n > 0 {
			laddr = netip.AddrPortFrom(cfg.Sources[i%n], 0)
		}
		fl, err := st.DialUDP(laddr, cfg.To.Addr, opts)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("flow %d: %w", i, err)
		}
		g.flows = append(g.flows, fl)
	}
	return g, nil
}

func (g *udpGen) close() {
	for _, f := range g.flows {
		f.Close()
	}
}

// receive takes in an echoed datagram, on the softnet that owns its flow.
func (g *udpGen) receive(sn *stack.Softnet, _ *stack.UDPConn, pk *driver.Packet) {
	now := time.Duration(sn.Now())
	p := &g.per[sn.ID()]
	b := stack.UDPPayload(pk)
	if len(b) != g.cfg.Size || binary.BigEndian.Uint32(b) != udpMagic ||
		(!g.cfg.CountOnly && service.PatternMismatch(b[udpHeaderLen:], 0) >= 0) {
		p.bad.Inc()
		sn.Free(pk)
		return
	}
	intended := time.Duration(binary.BigEndian.Uint64(b[16:]))
	actual := time.Duration(binary.BigEndian.Uint64(b[24:]))
	p.received.Inc()
	p.bytes.Add(uint64(len(b)))
	g.lat.record2(sn, rttLat, now-intended, rttRawLat, now-actual)
	sn.Free(pk)
}

// udpSender sends one softnet's share of the datagrams: a task that
// re-queues itself on its softnet until the run ends, sending each loop
// iteration what the schedule says is due, at most udpBurst at a time.
// Everything in it is the softnet's but sent and done, which Run reads.
type udpSender struct {
	g     *udpGen
	sn    *stack.Softnet
	task  task.Task
	flows []*stack.UDPConn
	rate  float64 // this softnet's share; 0: as fast as possible
	want  uint64  // datagrams the schedule makes before the end
	start int64   // stack clock at the run's start
	end   int64   // stack clock at the run's end
	// giveUp is the stack clock when the sender stops even if it has not
	// sent all it should have by end (lateGrace): the rest is missed.
	giveUp int64
	next   int // next flow, round robin
	seq    uint64
	tmpl   []byte
	// tmplSum is the sum of tmpl's bytes after the generator header,
	// which every datagram repeats: each datagram's checksum sums only
	// its own header onto it.
	tmplSum uint32
	sent    counter.Counter
	bytes   counter.Counter
	nobuf   counter.Counter
	done    atomic.Bool
	_       [64]byte
}

// sum32 folds a sum of big-endian 32-bit words into 32 bits: the same
// one's complement sum as of their 16-bit halves, since 2^16 is 1 modulo
// 0xffff.
func sum32(acc uint64) uint32 {
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>32 + acc&0xffffffff
	return uint32(acc)
}

// udpBurst is the most datagrams a sender makes per loop iteration.
const udpBurst = 32

func (s *udpSender) run() {
	now := s.sn.Clock()
	if s.g.stopped.Load() || (s.rate == 0 && now >= s.end) || now >= s.giveUp {
		s.done.Store(true)
		return
	}
	n := uint64(udpBurst)
	if s.rate > 0 {
		due := min(uint64(float64(now-s.start)*s.rate/1e9)+1, s.want)
		n = min(due-min(due, s.seq), udpBurst)
	}
	for i := uint64(0); i < n; i++ {
		fl := s.flows[s.next]
		pk := fl.NewPacket(s.sn)
		if pk == nil {
			s.nobuf.Inc() // late: tried again next iteration
			break
		}
		b := pk.Append(len(s.tmpl))
		if b == nil {
			s.sn.Free(pk)
			s.nobuf.Inc()
			break
		}
		copy(b, s.tmpl)
		intended := now
		if s.rate > 0 {
			intended = s.start + int64(float64(s.seq)*1e9/s.rate)
		}
		flow, seq := uint32(s.next), s.seq
		binary.BigEndian.PutUint32(b[4:], flow)
		binary.BigEndian.PutUint64(b[8:], seq)
		binary.BigEndian.PutUint64(b[16:], uint64(intended))
		binary.BigEndian.PutUint64(b[24:], uint64(now))
		s.seq++
		if s.next++; s.next == len(s.flows) {
			s.next = 0
		}
		// The payload's sum, from the values rather than the bytes just
		// stored: the header's 32-bit words onto the template's sum.
		sum := sum32(uint64(s.tmplSum) + udpMagic + uint64(flow) + seq>>32 + seq&0xffffffff +
			uint64(intended)>>32 + uint64(intended)&0xffffffff + uint64(now)>>32 + uint64(now)&0xffffffff)
		if err := fl.SendPacketSummed(s.sn, pk, netip.AddrPort{}, sum); err != nil {
			continue // counted by the stack (no route, no ARP)
		}
		s.sent.Inc()
		s.bytes.Add(uint64(len(s.tmpl)))
	}
	if s.rate > 0 && s.seq >= s.want {
		s.done.Store(true)
		return
	}
	s.sn.Add(&s.task, s.sn)
}

// run sends from t0 until t0+Duration on every softnet that owns a flow,
// then waits up to Timeout for the echoes. It returns the datagrams sent
// and those the schedule asked for.
func (g *udpGen) run(t0 time.Time) (made, want uint64) {
	start := g.st.Softnet(0).Clock() - int64(time.Since(t0))
	g.clock0 = start
	bySoftnet := map[int][]*stack.UDPConn{}
	for _, fl := range g.flows {
		bySoftnet[fl.Home().ID()] = append(bySoftnet[fl.Home().ID()], fl)
	}
	tmpl := make([]byte, g.cfg.Size)
	binary.BigEndian.PutUint32(tmpl, udpMagic)
	service.Pattern(tmpl[udpHeaderLen:], 0)
	for id, flows := range bySoftnet {
		s := &udpSender{g: g, sn: g.st.Softnet(id), flows: flows, start: start, end: start + int64(g.cfg.Duration), tmpl: tmpl, tmplSum: header.Checksum(tmpl[udpHeaderLen:], 0)}
		s.giveUp = s.end + int64(lateGrace(g.cfg.Duration))
		if g.cfg.Rate > 0 {
			s.rate = g.cfg.Rate * float64(len(flows)) / float64(len(g.flows))
			s.want = scheduledBy(g.cfg.Duration, s.rate)
			want += s.want
		}
		s.task.Init(s.run, nil)
		g.senders = append(g.senders, s)
	}
	go func() {
		select {
		case <-g.stop.Done():
			g.stopped.Store(true)
		case <-g.finished:
		}
	}()
	for _, s := range g.senders {
		s.sn.Add(&s.task, nil)
	}
	for !g.sendersDone() {
		time.Sleep(time.Millisecond)
	}
	made = g.sentTotal()
	if !g.cfg.NoReply {
		for deadline := time.Now().Add(g.cfg.Timeout); time.Now().Before(deadline) && !g.stopped.Load(); {
			if g.answered() >= made {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(g.finished)
	return made, want
}

func (g *udpGen) sendersDone() bool {
	for _, s := range g.senders {
		if !s.done.Load() {
			return false
		}
	}
	return true
}

// sentTotal returns the datagrams and bytes sent so far.
func (g *udpGen) sentTotal() uint64 {
	var n uint64
	for _, s := range g.senders {
		n += s.sent.Load()
	}
	return n
}

func (g *udpGen) sentBytes() uint64 {
	var n uint64
	for _, s := range g.senders {
		n += s.bytes.Load()
	}
	return n
}

// answered returns the echoes received so far.
func (g *udpGen) answered() uint64 {
	var n uint64
	for i := range g.per {
		n += g.per[i].received.Load()
	}
	return n
}

// received returns the echoes and their bytes, and the malformed ones.
func (g *udpGen) received() (n, bytes, bad uint64) {
	for i := range g.per {
		n += g.per[i].received.Load()
		bytes += g.per[i].bytes.Load()
		bad += g.per[i].bad.Load()
	}
	return
}

func (g *udpGen) intervalLatencies(r *Report) { g.lat.intervalInto(r) }
func (g *udpGen) totalLatencies(r *Report)    { g.lat.totalInto(r) }
