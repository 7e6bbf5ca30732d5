package bench

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/relay"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// RelayConfig configures the tcp-relay workload: client stack -> relay
// stack (Softnets softnets, splice Mode) -> server stack, one in-memory
// wire, Conns bulk connections through the relay.
type RelayConfig struct {
	Softnets int
	Mode     splice.Mode
	Poll     stack.PollMode
	Duration time.Duration
	Conns    int
	// SYNRing gives the relay's port a SYN ring (memwire.Config.SYNQueue,
	// a NIC's SYN filter): pure SYNs do not share the rings of the
	// relayed connections' segments.
	SYNRing bool
	// Offload gives every port checksum and segmentation offload (TCPConfig.Offload).
	Offload bool

	tcpBuffer int // the stacks' TCP buffers (portOpts.tcpBuffer)
}

func (cfg RelayConfig) withDefaults() RelayConfig {
	if cfg.Softnets == 0 {
		cfg.Softnets = 1
	}
	if cfg.Conns == 0 {
		cfg.Conns = cfg.Softnets
	}
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	return cfg
}

// relayStacks starts the relay workloads' three stacks on one in-memory
// wire: a client (203.0.113.1, one softnet), the relay (.2, cfg.Softnets)
// and a server (.3, one softnet).
func relayStacks(cfg RelayConfig) (cl, rl, sv *stack.Stack, err error) {
	return relayStacksOn(memwire.New(), cfg)
}

// relayStacksOn is relayStacks on w, which may carry other ports (the
// syn-flood workload's flooder). In copy mode the stacks' softnets hold
// their threads (stack.Config.LockThreads): relayMeter tells the relay's
// CPU apart by the threads' clocks there.
func relayStacksOn(w *memwire.Wire, cfg RelayConfig) (cl, rl, sv *stack.Stack, err error) {
	mk := func(name, addr, addr6 string, softnets int, synRing bool) (*stack.Stack, error) {
		return wireStack(w, name, netip.MustParsePrefix(addr), netip.MustParsePrefix(addr6), softnets, cfg.Poll,
			portOpts{synRing: synRing, offload: cfg.Offload, tcpBuffer: cfg.tcpBuffer, lockThreads: cfg.Mode == splice.ModeCopy})
	}
	if cl, err = mk("client", "203.0.113.1/24", "2001:db8:113::1/64", 1, false); err != nil {
		return nil, nil, nil, err
	}
	if rl, err = mk("relay", "203.0.113.2/24", "2001:db8:113::2/64", cfg.Softnets, cfg.SYNRing); err != nil {
		cl.Stop()
		return nil, nil, nil, err
	}
	if sv, err = mk("server", "203.0.113.3/24", "2001:db8:113::3/64", 1, false); err != nil {
		cl.Stop()
		rl.Stop()
		return nil, nil, nil, err
	}
	return cl, rl, sv, nil
}

// TCPRelay measures bulk TCP through the relay appliance.
func TCPRelay(cfg RelayConfig) (Result, error) {
	cfg = cfg.withDefaults()
	cfg.tcpBuffer = bulkTCPBuffer
	cl, rl, sv, err := relayStacks(cfg)
	if err != nil {
		return Result{}, err
	}
	defer cl.Stop()
	defer rl.Stop()
	defer sv.Stop()
	ls, err := sv.ListenTCP(netip.MustParseAddrPort("0.0.0.0:9"), 0)
	if err != nil {
		return Result{}, err
	}
	defer ls.Close()
	var received atomic.Int64
	// Only copy mode's relay CPU needs the harness goroutines' own CPU
	// (relayMeter): there each is locked to its thread and reads the
	// thread's clock, a system call per read and write that the other
	// modes do not pay for.
	var harness *harnessCPU
	if cfg.Mode == splice.ModeCopy {
		harness = &harnessCPU{}
	}
	go func() {
		for {
			c, err := ls.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				var r io.Reader = countingReader{c, &received}
				if harness != nil {
					runtime.LockOSThread()
					r = cpuReader{r, harness.slot()}
				}
				io.Copy(io.Discard, r)
				c.Close()
			}()
		}
	}()
	sp := splice.New(cfg.Mode)
	defer sp.Close()
	r, err := relay.Start(rl, sp, relay.Config{Listen: netip.MustParseAddrPort("203.0.113.2:80"), To: netip.MustParseAddrPort("203.0.113.3:9")}, nil)
	if err != nil {
		return Result{}, err
	}
	defer r.Close(0)
	var conns []*stack.TCPConn
	for i := 0; i < cfg.Conns; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := cl.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("203.0.113.2:80"))
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("tcp-relay: dial: %w", err)
		}
		conns = append(conns, c)
	}
	before := rl.Counters()
	dedBefore := sp.DedicatedStats().Crossed
	var stop atomic.Bool
	for _, c := range conns {
		go func(c *stack.TCPConn) {
			var slot *cpuSlot
			if harness != nil {
				runtime.LockOSThread()
				slot = harness.slot()
			}
			buf := make([]byte, 256<<10)
			for !stop.Load() {
				if _, err := c.Write(buf); err != nil {
					return
				}
				if slot != nil {
					slot.update()
				}
			}
		}(c)
	}
	time.Sleep(200 * time.Millisecond) // past slow start
	rm := relayMeter{mode: cfg.Mode, relay: rl, sp: sp, others: []*stack.Stack{cl, sv}, harness: harness}
	m := startMeter()
	o0, err := rm.read()
	if err != nil {
		return Result{}, err
	}
	n0 := received.Load()
	segs0 := rl.Counters()[stack.TCPTx]
	time.Sleep(cfg.Duration)
	n := received.Load() - n0
	wall, cpu, allocs := m.stop()
	o1, err := rm.read()
	if err != nil {
		return Result{}, err
	}
	after := rl.Counters()
	stop.Store(true)
	for _, c := range conns {
		c.Close()
	}
	segs := after[stack.TCPTx] - segs0 // segments the relay sent (data and ACKs)
	fwd := max(float64(n)/mss, 1)      // MSS-sized segments forwarded
	handoffs := spliceHandoffs(before, after) + (sp.DedicatedStats().Crossed - dedBefore)
	return Result{
		Stack:        "netsplice",
		Workload:     "tcp-relay",
		Mode:         cfg.Mode.String(),
		Softnets:     cfg.Softnets,
		Offload:      cfg.Offload,
		Packets:      segs,
		Seconds:      wall.Seconds(),
		Gbps:         float64(n) * 8 / wall.Seconds() / 1e9,
		PPS:          float64(segs) / wall.Seconds(),
		NsPerPkt:     float64(cpu.Nanoseconds()) / fwd,
		RelayNsSeg:   float64(rm.relayCPU(o0, o1).Nanoseconds()) / fwd,
		AllocsPerPkt: float64(allocs) / fwd,
		HandoffsPkt:  float64(handoffs) / fwd,
		CPUSPerGiB:   cpu.Seconds() / (float64(n) / (1 << 30)),
	}, nil
}

// spliceHandoffs counts the tasks that crossed between the relay's
// softnets, less ARP news (shared with every softnet, not splice work).
func spliceHandoffs(before, after stack.Counters) uint64 {
	return after.Handoffs() - before.Handoffs()
}

// mss is the payload of a full segment on a 1500-byte MTU with the
// timestamp option every segment of these stacks carries (1460 - 12): the
// relay workloads count forwarded segments as bytes / mss, so that bigger
// frames cannot flatter a per-segment figure, and the kernel peer divides
// by the same.
const mss = 1448

// harnessCPU adds up the CPU time of a benchmark's own goroutines (the
// client writers, the server readers), each locked to its thread and
// publishing its thread's clock in a slot.
type harnessCPU struct {
	mu    sync.Mutex
	slots []*cpuSlot
}

// cpuSlot is one harness thread's CPU time, as it last read it.
type cpuSlot struct{ ns atomic.Int64 }

// update reads the calling thread's clock into the slot.
func (s *cpuSlot) update() {
	if d, err := stack.ThreadCPUTime(); err == nil {
		s.ns.Store(int64(d))
	}
}

func (h *harnessCPU) slot() *cpuSlot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &cpuSlot{}
	h.slots = append(h.slots, s)
	return s
}

func (h *harnessCPU) total() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var t int64
	for _, s := range h.slots {
		t += s.ns.Load()
	}
	return time.Duration(t)
}

// cpuReader updates its slot after every read.
type cpuReader struct {
	r    io.Reader
	slot *cpuSlot
}

func (c cpuReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.slot.update()
	return n, err
}

// relayMeter measures the relay's own CPU. In softnet and dedicated modes
// it is the work of the relay's threads: its softnets' busy_ns (the wall
// time of loop iterations that did work, so polling is not counted) and
// the splice thread's busy time. In copy mode the work also runs in the
// copy goroutines, which no thread clock isolates: there it is the
// process's CPU minus the client's and server's softnet threads, the
// harness threads and the relay softnets' polling, so it includes the Go
// runtime's share (scheduling the goroutines, GC).
type relayMeter struct {
	mode    splice.Mode
	relay   *stack.Stack
	sp      *splice.Splicer
	others  []*stack.Stack
	harness *harnessCPU
}

// reading is one sample of the clocks relayMeter needs.
type reading struct {
	process, others, relayThreads, relayBusy, dedicated time.Duration
}

func (m relayMeter) read() (reading, error) {
	r := reading{process: cpuTime(), dedicated: m.sp.DedicatedBusy()}
	r.relayBusy = time.Duration(m.relay.Counters()[stack.BusyNanos])
	if m.mode != splice.ModeCopy {
		return r, nil // relayCPU needs no thread clocks (relayStacksOn)
	}
	var err error
	if r.relayThreads, err = m.relay.ThreadCPU(); err != nil {
		return r, err
	}
	for _, st := range m.others {
		d, err := st.ThreadCPU()
		if err != nil {
			return r, err
		}
		r.others += d
	}
	if m.harness != nil {
		r.others += m.harness.total()
	}
	return r, nil
}

// relayCPU is the relay's CPU between two readings.
func (m relayMeter) relayCPU(a, b reading) time.Duration {
	busy := b.relayBusy - a.relayBusy + b.dedicated - a.dedicated
	if m.mode != splice.ModeCopy {
		return busy
	}
	polling := (b.relayThreads - a.relayThreads) - (b.relayBusy - a.relayBusy)
	return (b.process - a.process) - (b.others - a.others) - polling
}

// UDPRelay measures the udp-relay workload: client stack -> relay stack
// (Softnets softnets, splice Mode, one session per client socket) ->
// server stack that echoes -> relay -> client. Each client socket keeps
// 64 datagrams of 1472 bytes in flight and sends the next when one comes
// back. Client and server run on their softnets through the handler API;
// relayMeter tells the relay's CPU apart.
func UDPRelay(cfg RelayConfig) (Result, error) {
	cfg = cfg.withDefaults()
	const size, window = 1472, 64
	cl, rl, sv, err := relayStacks(cfg)
	if err != nil {
		return Result{}, err
	}
	defer cl.Stop()
	defer rl.Stop()
	defer sv.Stop()
	srv, err := sv.ListenUDP(netip.MustParseAddrPort("0.0.0.0:7"), &stack.UDPOptions{Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
		src := stack.UDPSource(pk)
		pk.TrimFront(pk.Len() - len(stack.UDPPayload(pk)))
		c.SendPacket(sn, pk, src)
	}})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	sp := splice.New(cfg.Mode)
	defer sp.Close()
	r, err := relay.StartUDP(rl, sp, relay.UDPConfig{Listen: netip.MustParseAddrPort("203.0.113.2:53"), To: netip.MustParseAddrPort("203.0.113.3:7")}, nil)
	if err != nil {
		return Result{}, err
	}
	defer r.Close(0)
	var echoes atomic.Uint64
	var running atomic.Bool
	running.Store(true)
	relayAddr := netip.MustParseAddrPort("203.0.113.2:53")
	var clients []*stack.UDPConn
	for i := 0; i < cfg.Conns; i++ {
		c, err := cl.DialUDP(netip.AddrPort{}, relayAddr, &stack.UDPOptions{
			Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
				echoes.Add(1)
				if running.Load() {
					pk.TrimFront(pk.Len() - size) // reuse the buffer for the next datagram
					c.SendPacket(sn, pk, netip.AddrPort{})
					return
				}
				sn.Free(pk)
			}})
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		clients = append(clients, c)
	}
	// Open every session with one exchange before measuring.
	for _, c := range clients {
		before := echoes.Load()
		if err := udpKick(c, 1); err != nil {
			return Result{}, err
		}
		for deadline := time.Now().Add(5 * time.Second); echoes.Load() == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				return Result{}, fmt.Errorf("udp-relay: no echo through the relay")
			}
		}
	}
	for _, c := range clients {
		if err := udpKick(c, window-1); err != nil {
			return Result{}, err
		}
	}
	time.Sleep(200 * time.Millisecond)
	rm := relayMeter{mode: cfg.Mode, relay: rl, sp: sp, others: []*stack.Stack{cl, sv}}
	before := rl.Counters()
	dedBefore := sp.DedicatedStats().Crossed
	m := startMeter()
	o0, err := rm.read()
	if err != nil {
		return Result{}, err
	}
	e0 := echoes.Load()
	time.Sleep(cfg.Duration)
	n := echoes.Load() - e0
	wall, cpu, allocs := m.stop()
	o1, err := rm.read()
	if err != nil {
		return Result{}, err
	}
	after := rl.Counters()
	running.Store(false)
	fwd := max(float64(2*n), 1) // datagrams the relay forwarded, both ways
	handoffs := spliceHandoffs(before, after) + (sp.DedicatedStats().Crossed - dedBefore)
	return Result{
		Stack:        "netsplice",
		Workload:     "udp-relay",
		Mode:         cfg.Mode.String(),
		Softnets:     cfg.Softnets,
		Offload:      cfg.Offload,
		Packets:      2 * n,
		Seconds:      wall.Seconds(),
		Gbps:         fwd * size * 8 / wall.Seconds() / 1e9,
		PPS:          fwd / wall.Seconds(),
		NsPerPkt:     float64(cpu.Nanoseconds()) / fwd,
		RelayNsSeg:   float64(rm.relayCPU(o0, o1).Nanoseconds()) / fwd,
		AllocsPerPkt: float64(allocs) / fwd,
		HandoffsPkt:  float64(handoffs) / fwd,
		CPUSPerGiB:   cpu.Seconds() / (fwd * size / (1 << 30)),
		Drops:        after.Drops(),
	}, nil
}

// udpKick sends k datagrams of 1472 bytes on c from its home softnet.
func udpKick(c *stack.UDPConn, k int) error {
	home := c.Home()
	pool := home.Stack().Interfaces()[0].Port().Pool(home.ID())
	return home.Stack().Call(home, func() {
		for j := 0; j < k; j++ {
			if pk := pool.Get(); pk != nil {
				pk.Append(1472)
				c.SendPacket(home, pk, netip.AddrPort{})
			}
		}
	})
}
