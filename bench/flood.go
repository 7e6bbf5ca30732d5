package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/relay"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/header"
)

// The syn-flood workload: the tcp-relay workload's three stacks (client
// -> relay -> server on one in-memory wire) plus a flooder, a raw port
// with its own MAC on the same wire. The relayed bulk transfer runs twice
// on the same stacks: first alone (the baseline), then while the flooder
// sends TCP SYNs to the relay's listening address and port as fast as the
// wire takes them, from spoofed addresses and random ports.
//
// The spoofed sources are the free host addresses of the relay's /24
// (203.0.113.16-254) and the flooder answers ARP for them, as a router's
// proxy ARP would: the relay resolves each once and sends every SYN-ACK
// out on the wire, where the flooder receives and discards it. So the
// relay pays all a real flood costs it: every SYN parsed, every SYN-ACK
// built, checksummed and transmitted. (relayStacks gives the relay no
// gateway, and the stack learns only on-link neighbours, so sources off
// the link would leave the SYN-ACKs parked for ARP and dropped instead.
// So are those to a source whose ARP reply the flooder missed, its ring
// full, until the relay asks again: drop_arp_pending_full.)
// Nothing ever completes the spoofed handshakes: the first Backlog of them
// fill the relay's listen backlog with half-open connections and every
// later SYN is answered with a SYN cookie.
//
// Every relayed connection, the bulk ones and the new ones a prober opens
// during each measurement, carries an 8-byte id and then a fixed
// pseudo-random pattern that the server verifies byte for byte; each one
// ends with a half-close from the client, which must come back as a clean
// EOF through the relay.

// FloodConfig configures the syn-flood workload.
type FloodConfig struct {
	// RelayConfig: the relay's softnets and splice mode, the poll mode,
	// each phase's measured Duration [2s] and the bulk Conns [Softnets].
	RelayConfig
	// FloodPPS caps the flooder's SYNs per second; 0 sends as fast as
	// the wire takes them.
	FloodPPS float64
	// ProbeEvery is the pause between the new connections the prober
	// dials, one at a time, during each measurement [100ms].
	ProbeEvery time.Duration
	// MinFloodSYNs stretches the flooded measurement past Duration until
	// the flooder has sent this many SYNs, up to floodMaxStretch times
	// Duration, so that a starved machine (a race-detector run on a busy
	// CI host) still floods the relay with as many SYNs as a quick one;
	// 0 measures for Duration alone.
	MinFloodSYNs uint64
}

// FloodResult is the syn-flood workload's result. The embedded Result
// describes the flooded phase: Gbps is the flooded throughput, Packets
// and PPS the flooder's SYNs and their rate, Drops the relay's drop
// counters during the flood.
type FloodResult struct {
	Result
	BaselineGbps float64 `json:"baseline_gbps"`
	FloodedGbps  float64 `json:"flooded_gbps"`
	// Ratio is FloodedGbps / BaselineGbps.
	Ratio float64 `json:"ratio"`
	// FloodSYNs and FloodPPS are the SYNs the flooder put on the wire
	// during the measurement and their rate; the relay received those
	// its receive ring had room for (the rest are PortRxMissed).
	FloodSYNs uint64  `json:"flood_syns"`
	FloodPPS  float64 `json:"flood_pps"`
	// FloodSynAcks are the relay's SYN-ACKs the flooder received (and
	// discarded) over the whole flooded phase.
	FloodSynAcks uint64 `json:"flood_synacks_rx"`
	// The relay's counters over the whole flooded phase.
	SynCookiesSent    uint64 `json:"tcp_syncookies_sent"`
	SynCookiesValid   uint64 `json:"tcp_syncookies_valid"`
	SynCookiesInvalid uint64 `json:"tcp_syncookies_invalid"`
	DropTCPBacklog    uint64 `json:"drop_tcp_backlog"`
	PortRxMissed      uint64 `json:"port_rx_missed"`
	// BulkConns bulk connections were established before the flood;
	// BulkSurvived of them completed with every byte verified, a clean
	// half-close each way and no error.
	BulkConns    int `json:"bulk_conns"`
	BulkSurvived int `json:"bulk_survived"`
	// NewConnsOK and NewConnsFailed count the connections the prober
	// opened during the flood (each one relayed and verified end to end).
	NewConnsOK     int `json:"new_conns_ok"`
	NewConnsFailed int `json:"new_conns_failed"`
	// Resets are the RSTs the client and server received during the
	// flooded phase.
	Resets uint64 `json:"resets"`
	// PAWSDrops are the relay's segments the client and server dropped
	// as old (RFC 7323 PAWS) during the flooded phase.
	PAWSDrops uint64 `json:"drop_tcp_paws"`
	// Survived: every bulk connection survived, no reset.
	Survived bool `json:"survived"`
	// BaselineOK: the unflooded phase's connections all completed.
	BaselineOK bool `json:"baseline_ok"`
	// RelayCounters are the relay's non-zero counters over the flooded
	// phase.
	RelayCounters map[string]uint64 `json:"relay_counters,omitempty"`
	// Failures describe the connections that did not complete (a few).
	Failures []string `json:"failures,omitempty"`
}

// WriteJSON writes r as one line.
func (r FloodResult) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Summary is a one-line description of r.
func (r FloodResult) Summary() string {
	return fmt.Sprintf("%s: %.2f Gbit/s unflooded, %.2f Gbit/s flooded (%.0f%%); flood %.2f Mpps, %d SYN cookies sent, %d valid; %d/%d established connections survived, %d/%d new connections, %d resets",
		r.Workload, r.BaselineGbps, r.FloodedGbps, 100*r.Ratio, r.FloodPPS/1e6, r.SynCookiesSent, r.SynCookiesValid,
		r.BulkSurvived, r.BulkConns, r.NewConnsOK, r.NewConnsOK+r.NewConnsFailed, r.Resets)
}

const (
	floodRelayPort = 80
	floodSinkPort  = 9
	// The spoofed sources: 203.0.113.floodFirst..floodLast.
	floodFirst, floodLast = 16, 254
	floodBurst            = 32
	floodProbeBytes       = 64 << 10
	floodFrameLen         = 60 // Ethernet minimum: a 58-byte SYN and 2 bytes of padding
	// floodCloseWait bounds how long a connection may take to finish once
	// its client stops writing (a probe: from its first byte).
	floodCloseWait = 10 * time.Second
	// floodMaxStretch bounds how far MinFloodSYNs may stretch the flooded
	// measurement, in multiples of Duration.
	floodMaxStretch = 10
)

// floodPattern is what every relayed connection carries after its id.
var floodPattern = func() []byte {
	b := make([]byte, 256<<10)
	r := rand.New(rand.NewPCG(0x5eed, 0xf100d))
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}()

// SynFlood runs the syn-flood workload.
func SynFlood(cfg FloodConfig) (FloodResult, error) {
	cfg.RelayConfig = cfg.RelayConfig.withDefaults()
	if cfg.ProbeEvery == 0 {
		cfg.ProbeEvery = 100 * time.Millisecond
	}
	w := memwire.New()
	f, err := newFlooder(w)
	if err != nil {
		return FloodResult{}, err
	}
	cl, rl, sv, err := relayStacksOn(w, cfg.RelayConfig)
	if err != nil {
		return FloodResult{}, err
	}
	defer cl.Stop()
	defer rl.Stop()
	defer sv.Stop()
	sink, err := startFloodSink(sv)
	if err != nil {
		return FloodResult{}, err
	}
	defer sink.close()
	sp := splice.New(cfg.Mode)
	defer sp.Close()
	relayAddr := netip.AddrPortFrom(rl.Interfaces()[0].Addr().Addr(), floodRelayPort)
	r, err := relay.Start(rl, sp, relay.Config{Listen: relayAddr, To: netip.AddrPortFrom(sv.Interfaces()[0].Addr().Addr(), floodSinkPort)}, nil)
	if err != nil {
		return FloodResult{}, err
	}
	defer r.Close(0)
	f.dmac, f.dst = rl.Interfaces()[0].MAC(), relayAddr
	rig := &floodRig{cfg: cfg, cl: cl, rl: rl, sv: sv, sink: sink, relay: r, relayAddr: relayAddr}

	base, err := rig.phase(nil)
	if err != nil {
		return FloodResult{}, fmt.Errorf("syn-flood: unflooded: %w", err)
	}
	fl, err := rig.phase(f)
	if err != nil {
		return FloodResult{}, fmt.Errorf("syn-flood: flooded: %w", err)
	}
	c := &fl.relay
	res := FloodResult{
		Result: Result{
			Stack:    "netsplice",
			Workload: floodWorkload(cfg.SYNRing),
			Mode:     cfg.Mode.String(),
			Softnets: cfg.Softnets,
			Gbps:     fl.gbps,
			PPS:      fl.floodPPS,
			Packets:  fl.floodSYNs,
			Seconds:  fl.seconds,
			Drops:    c.Drops(),
		},
		BaselineGbps:      base.gbps,
		FloodedGbps:       fl.gbps,
		FloodSYNs:         fl.floodSYNs,
		FloodPPS:          fl.floodPPS,
		FloodSynAcks:      fl.synAcks,
		SynCookiesSent:    c[stack.TCPSynCookiesSent],
		SynCookiesValid:   c[stack.TCPSynCookiesValid],
		SynCookiesInvalid: c[stack.TCPSynCookiesInvalid],
		DropTCPBacklog:    c[stack.TCPDropBacklog],
		PortRxMissed:      c[stack.PortRxMissed],
		BulkConns:         fl.bulk,
		BulkSurvived:      fl.bulkOK,
		NewConnsOK:        fl.probesOK,
		NewConnsFailed:    fl.probesFailed,
		Resets:            fl.resets,
		PAWSDrops:         fl.paws,
		Survived:          fl.bulkOK == fl.bulk && fl.resets == 0,
		BaselineOK:        base.bulkOK == base.bulk && base.probesFailed == 0 && base.resets == 0,
		RelayCounters:     map[string]uint64{},
	}
	if base.gbps > 0 {
		res.Ratio = fl.gbps / base.gbps
	}
	for id, v := range c {
		if v != 0 {
			res.RelayCounters[stack.CounterID(id).String()] = v
		}
	}
	for _, s := range base.failures {
		res.Failures = append(res.Failures, "unflooded: "+s)
	}
	for _, s := range fl.failures {
		res.Failures = append(res.Failures, "flooded: "+s)
	}
	if len(res.Failures) > 10 {
		res.Failures = append(res.Failures[:10], fmt.Sprintf("... and %d more", len(res.Failures)-10))
	}
	return res, nil
}

// floodRig is the syn-flood workload's stacks and server.
type floodRig struct {
	cfg        FloodConfig
	cl, rl, sv *stack.Stack
	sink       *floodSink
	relay      *relay.Relay
	relayAddr  netip.AddrPort
	nextID     uint64
}

// phaseResult is one phase of the workload.
type phaseResult struct {
	gbps, seconds          float64
	bulk, bulkOK           int
	probesOK, probesFailed int
	resets, paws           uint64
	relay                  stack.Counters // the relay's counters over the phase
	floodSYNs, synAcks     uint64
	floodPPS               float64
	failures               []string
}

// sent is what a client wrote on one connection.
type sent struct {
	id      uint64
	written int64
	err     error
}

// phase runs the relayed bulk transfer once, flooded by f when f is not
// nil: it opens the bulk connections (before the flood starts), measures
// the server's verified bytes over cfg.Duration while the prober opens new
// connections, then half-closes every connection and checks that each
// one came through whole.
func (g *floodRig) phase(f *flooder) (phaseResult, error) {
	var pr phaseResult
	relay0, cl0, sv0 := g.rl.Counters(), g.cl.Counters(), g.sv.Counters()
	var conns []*stack.TCPConn
	var ids []uint64
	for i := 0; i < g.cfg.Conns; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := g.cl.DialTCP(ctx, netip.AddrPort{}, g.relayAddr)
		cancel()
		if err != nil {
			for _, c := range conns {
				c.Reset()
			}
			return pr, fmt.Errorf("dial: %w", err)
		}
		g.nextID++
		conns = append(conns, c)
		ids = append(ids, g.nextID)
	}
	pr.bulk = len(conns)
	var stop atomic.Bool
	results := make(chan sent, len(conns))
	for i, c := range conns {
		go func(c *stack.TCPConn, id uint64) {
			runtime.LockOSThread()
			results <- floodWrite(c, id, &stop, 0)
		}(c, ids[i])
	}
	// Every bulk connection is relayed end to end before the flood.
	if err := g.sink.await(ids, 5*time.Second); err != nil {
		stop.Store(true)
		return pr, err
	}
	if f != nil {
		cookies0 := g.rl.Counters()[stack.TCPSynCookiesSent]
		f.start(g.cfg.FloodPPS)
		// The flood is on once the backlog is full and cookies go out.
		for deadline := time.Now().Add(3 * time.Second); g.rl.Counters()[stack.TCPSynCookiesSent] == cookies0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // past slow start
	// The prober opens new connections, one at a time, while measuring.
	var probing atomic.Bool
	probing.Store(true)
	var probeIDs []uint64
	var probeSent []sent
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for probing.Load() {
			g.nextID++
			id := g.nextID
			probeIDs = append(probeIDs, id)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := g.cl.DialTCP(ctx, netip.AddrPort{}, g.relayAddr)
			cancel()
			if err != nil {
				probeSent = append(probeSent, sent{id: id, err: fmt.Errorf("dial: %w", err)})
			} else {
				probeSent = append(probeSent, floodWrite(c, id, nil, floodProbeBytes))
			}
			time.Sleep(g.cfg.ProbeEvery)
		}
	}()
	var fs0 floodStats
	if f != nil {
		fs0 = f.stats()
	}
	n0 := g.sink.received.Load()
	t0 := time.Now()
	time.Sleep(g.cfg.Duration)
	if f != nil && g.cfg.MinFloodSYNs > 0 {
		for limit := t0.Add(floodMaxStretch * g.cfg.Duration); f.stats().sent-fs0.sent < g.cfg.MinFloodSYNs && time.Now().Before(limit); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	n := g.sink.received.Load() - n0
	pr.seconds = time.Since(t0).Seconds()
	if f != nil {
		fs := f.stats()
		pr.floodSYNs = fs.sent - fs0.sent
		pr.floodPPS = float64(pr.floodSYNs) / fs.seconds(fs0)
	}
	pr.gbps = float64(n) * 8 / pr.seconds / 1e9
	probing.Store(false)
	// Half-close every bulk connection, flood still on, and wait for
	// each to come back whole.
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(floodCloseWait))
	}
	stop.Store(true)
	var all []sent
	for range conns {
		all = append(all, <-results)
	}
	<-probeDone
	all = append(all, probeSent...)
	if f != nil {
		pr.synAcks = f.halt().synAcks
	}
	allIDs := append(append([]uint64(nil), ids...), probeIDs...)
	got := g.sink.wait(allIDs, 2*time.Second)
	bulk := map[uint64]bool{}
	for _, id := range ids {
		bulk[id] = true
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	for _, s := range all {
		err := s.err
		if err == nil {
			err = got[s.id].check(s.written)
		}
		switch {
		case err == nil && bulk[s.id]:
			pr.bulkOK++
		case err == nil:
			pr.probesOK++
		default:
			kind := "new connection"
			if bulk[s.id] {
				kind = "bulk connection"
			} else {
				pr.probesFailed++
			}
			pr.failures = append(pr.failures, fmt.Sprintf("%s %d: %v", kind, s.id, err))
		}
	}
	if len(pr.failures) > 0 {
		pr.failures = append(pr.failures, "relay state: "+g.relay.Describe())
	}
	relay1, cl1, sv1 := g.rl.Counters(), g.cl.Counters(), g.sv.Counters()
	for i := range pr.relay {
		pr.relay[i] = relay1[i] - relay0[i]
	}
	pr.resets = cl1[stack.TCPRstRx] - cl0[stack.TCPRstRx] + sv1[stack.TCPRstRx] - sv0[stack.TCPRstRx]
	pr.paws = cl1[stack.TCPDropPAWS] - cl0[stack.TCPDropPAWS] + sv1[stack.TCPDropPAWS] - sv0[stack.TCPDropPAWS]
	return pr, nil
}

// floodWrite sends id and then the pattern on c: limit bytes of it, or
// until stop when limit is 0 (the caller sets c's deadline then). Then it
// half-closes c, reads the peer's EOF and closes c.
func floodWrite(c *stack.TCPConn, id uint64, stop *atomic.Bool, limit int64) sent {
	s := sent{id: id}
	defer c.Close()
	if limit > 0 {
		c.SetDeadline(time.Now().Add(floodCloseWait))
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], id)
	if _, s.err = c.Write(hdr[:]); s.err != nil {
		return s
	}
	for (limit == 0 && !stop.Load()) || (limit > 0 && s.written < limit) {
		off := s.written % int64(len(floodPattern))
		b := floodPattern[off:]
		if limit > 0 {
			b = b[:min(int64(len(b)), limit-s.written)]
		}
		n, err := c.Write(b)
		s.written += int64(n)
		if err != nil {
			s.err = fmt.Errorf("write: %w (%s)", err, c.Describe())
			return s
		}
	}
	if err := c.CloseWrite(); err != nil {
		s.err = fmt.Errorf("close write: %w", err)
		return s
	}
	var b [512]byte
	for {
		n, err := c.Read(b[:])
		if n > 0 {
			s.err = fmt.Errorf("read %d unexpected bytes", n)
			return s
		}
		if errors.Is(err, io.EOF) {
			return s
		}
		if err != nil {
			s.err = fmt.Errorf("read: %w (%s)", err, c.Describe())
			return s
		}
	}
}

// floodSink is the server: it verifies every connection's pattern.
type floodSink struct {
	ls       *stack.TCPListener
	received atomic.Int64 // verified pattern bytes, all connections
	mu       sync.Mutex
	changed  chan struct{}
	conns    map[uint64]*sinkConn
}

// sinkConn is what the server made of one connection.
type sinkConn struct {
	n    int64
	done bool
	err  error
}

// check reports how a connection whose client wrote written bytes came
// through.
func (s *sinkConn) check(written int64) error {
	switch {
	case s == nil:
		return errors.New("never reached the server")
	case !s.done:
		return fmt.Errorf("server got %d of %d bytes and no EOF", s.n, written)
	case s.err != nil:
		return fmt.Errorf("server: %w", s.err)
	case s.n != written:
		return fmt.Errorf("server got %d bytes, client wrote %d", s.n, written)
	}
	return nil
}

func startFloodSink(sv *stack.Stack) (*floodSink, error) {
	ls, err := sv.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), floodSinkPort), 0)
	if err != nil {
		return nil, err
	}
	s := &floodSink{ls: ls, changed: make(chan struct{}), conns: map[uint64]*sinkConn{}}
	go func() {
		for {
			c, err := ls.AcceptTCP()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *floodSink) close() { s.ls.Close() }

// update changes the state of a connection under the lock and wakes the
// waiters.
func (s *floodSink) update(fn func()) {
	s.mu.Lock()
	fn()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *floodSink) serve(c *stack.TCPConn) {
	runtime.LockOSThread()
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	sc := &sinkConn{}
	id := binary.BigEndian.Uint64(hdr[:])
	s.update(func() { s.conns[id] = sc })
	buf := make([]byte, 128<<10)
	var n int64
	for {
		k, err := c.Read(buf)
		if k > 0 {
			if !matchPattern(buf[:k], n) {
				err = fmt.Errorf("data corrupt within bytes %d..%d", n, n+int64(k))
			} else {
				n += int64(k)
				s.received.Add(int64(k))
				if n&(1<<20-1) < int64(k) {
					s.update(func() { sc.n = n })
				}
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		if err != nil || k == 0 {
			s.update(func() { sc.n, sc.done, sc.err = n, true, err })
			return
		}
	}
}

// matchPattern reports whether b is the pattern at stream offset off.
func matchPattern(b []byte, off int64) bool {
	p := int(off % int64(len(floodPattern)))
	for len(b) > 0 {
		k := min(len(b), len(floodPattern)-p)
		if !bytes.Equal(b[:k], floodPattern[p:p+k]) {
			return false
		}
		b, p = b[k:], 0
	}
	return true
}

// await waits until every id reached the server.
func (s *floodSink) await(ids []uint64, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		missing := 0
		for _, id := range ids {
			if s.conns[id] == nil {
				missing++
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("%d of %d connections did not reach the server through the relay in %v", missing, len(ids), timeout)
		}
	}
}

// wait waits until every id is done, or timeout, and returns copies of
// their states.
func (s *floodSink) wait(ids []uint64, timeout time.Duration) map[uint64]*sinkConn {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		out := map[uint64]*sinkConn{}
		pending := 0
		for _, id := range ids {
			if sc := s.conns[id]; sc != nil {
				cp := *sc
				out[id] = &cp
				if !sc.done {
					pending++
				}
			} else {
				pending++
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if pending == 0 {
			return out
		}
		select {
		case <-ch:
		case <-deadline:
			return out
		}
	}
}

// flooder is a raw port on the wire that sends spoofed SYNs.
type flooder struct {
	port *memwire.Port
	mac  header.MAC
	dmac header.MAC     // the relay's
	dst  netip.AddrPort // the relay's listener
	stop atomic.Bool
	done chan struct{}
	pps  float64

	mu    sync.Mutex
	st    floodStats
	began time.Time
}

// floodStats are a flooder's counts so far.
type floodStats struct {
	sent, synAcks, arpReplies, other uint64
	at                               time.Time
}

func (b floodStats) seconds(a floodStats) float64 { return b.at.Sub(a.at).Seconds() }

func newFlooder(w *memwire.Wire) (*flooder, error) {
	p, err := w.AddPort(memwire.Config{Name: "flooder", PoolSize: 4096, RingSize: 1024})
	if err != nil {
		return nil, err
	}
	return &flooder{port: p, mac: header.MAC(p.MAC())}, nil
}

// spoofed reports whether a is one of the flooder's source addresses.
func spoofed(a [4]byte) bool {
	return a[0] == 203 && a[1] == 0 && a[2] == 113 && a[3] >= floodFirst && a[3] <= floodLast
}

// start starts the flood: pps SYNs a second, or as many as the wire
// takes when 0.
func (f *flooder) start(pps float64) {
	f.pps = pps
	f.stop.Store(false)
	f.done = make(chan struct{})
	f.began = time.Now()
	go f.run()
}

// stats returns the counts so far.
func (f *flooder) stats() floodStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.at = time.Now()
	return s
}

// halt stops the flood and returns the final counts.
func (f *flooder) halt() floodStats {
	f.stop.Store(true)
	<-f.done
	return f.stats()
}

func (f *flooder) run() {
	defer close(f.done)
	runtime.LockOSThread()
	pool := f.port.Pool(0)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5f1))
	var tx, rx [floodBurst]*driver.Packet
	var sent uint64
	var local floodStats
	dst := f.dst.Addr().As4()
	for i := 0; !f.stop.Load(); i++ {
		// Take in what comes back: answer ARP for the spoofed sources,
		// discard the SYN-ACKs.
		for {
			n := f.port.RxBurst(0, rx[:])
			for _, pk := range rx[:n] {
				f.receive(pk, pool, &local)
			}
			if n < len(rx) {
				break
			}
		}
		burst := floodBurst
		if f.pps > 0 {
			due := int64(f.pps*time.Since(f.began).Seconds()) - int64(sent)
			if due <= 0 {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			burst = int(min(due, floodBurst))
		}
		n := 0
		for n < burst {
			pk := pool.Get()
			if pk == nil {
				break
			}
			f.syn(pk, dst, rng.Uint64())
			tx[n] = pk
			n++
		}
		f.port.TxBurst(0, tx[:n])
		sent += uint64(n)
		local.sent = sent
		if i%64 == 0 {
			f.publish(local)
		}
	}
	f.publish(local)
}

func (f *flooder) publish(s floodStats) {
	f.mu.Lock()
	f.st = s
	f.mu.Unlock()
}

// syn writes a SYN from a random spoofed source and port, with a random
// initial sequence number and an MSS option, into pk.
func (f *flooder) syn(pk *driver.Packet, dst [4]byte, r uint64) {
	frame := pk.Append(floodFrameLen)
	header.Ethernet(frame).Encode(f.dmac, f.mac, header.EtherTypeIPv4)
	src := [4]byte{203, 0, 113, byte(floodFirst + r%(floodLast-floodFirst+1))}
	const tcpLen = header.TCPMinHeaderLen + 4
	header.IPv4(frame[header.EthernetHeaderLen:]).Encode(&header.IPv4Fields{
		TotalLen: header.IPv4MinHeaderLen + tcpLen, ID: uint16(r >> 8), DontFragment: true, TTL: 64,
		Protocol: header.ProtoTCP, Src: src, Dst: dst,
	})
	t := header.TCP(frame[header.EthernetHeaderLen+header.IPv4MinHeaderLen:][:tcpLen])
	t.SetSrcPort(uint16(1024 + (r>>16)%(65536-1024)))
	t.SetDstPort(f.dst.Port())
	t.SetSeq(uint32(r >> 32))
	t.SetAck(0)
	t.SetDataOffset(tcpLen)
	t.SetFlags(header.TCPFlagSyn)
	t.SetWindow(64240)
	t.SetUrgentPtr(0)
	copy(t[header.TCPMinHeaderLen:], []byte{2, 4, 1460 >> 8, 1460 & 0xff}) // MSS 1460
	t.SetChecksum(src, dst, tcpLen)
	clear(frame[header.EthernetHeaderLen+header.IPv4MinHeaderLen+tcpLen:])
}

// receive handles a frame that reached the flooder.
func (f *flooder) receive(pk *driver.Packet, pool *driver.Pool, s *floodStats) {
	frame := pk.Data()
	eth := header.Ethernet(frame)
	if len(frame) >= header.EthernetHeaderLen+header.ARPLen && eth.Type() == header.EtherTypeARP {
		arp := header.ARP(frame[header.EthernetHeaderLen:])
		if arp.Check() == header.OK && arp.Op() == header.ARPRequest && spoofed(arp.TargetIP()) {
			sha, spa, tpa := arp.SenderMAC(), arp.SenderIP(), arp.TargetIP()
			arp.Encode(header.ARPReply, f.mac, tpa, sha, spa)
			eth.SetDst(sha)
			eth.SetSrc(f.mac)
			f.port.TxBurst(0, []*driver.Packet{pk})
			s.arpReplies++
			return
		}
	}
	if len(frame) >= header.EthernetHeaderLen+header.IPv4MinHeaderLen+header.TCPMinHeaderLen && eth.Type() == header.EtherTypeIPv4 {
		ip := header.IPv4(frame[header.EthernetHeaderLen:])
		if ip.Protocol() == header.ProtoTCP && ip.HeaderLen() >= header.IPv4MinHeaderLen && len(ip) >= ip.HeaderLen()+header.TCPMinHeaderLen {
			if header.TCP(ip[ip.HeaderLen():]).Flags()&(header.TCPFlagSyn|header.TCPFlagAck) == header.TCPFlagSyn|header.TCPFlagAck {
				s.synAcks++
			} else {
				s.other++
			}
		}
	}
	if pk.Pool() == pool {
		pool.Put(pk)
	} else {
		pk.Free()
	}
}

// floodWorkload names the syn-flood workload: "syn-flood-ring" when the
// relay's port has a SYN ring.
func floodWorkload(synRing bool) string {
	if synRing {
		return "syn-flood-ring"
	}
	return "syn-flood"
}
