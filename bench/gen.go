package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/gen"
	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
)

// GenConfig configures the generator workloads.
type GenConfig struct {
	// Softnets of each stack, Poll mode and the measured Duration [2s].
	Softnets int
	Poll     stack.PollMode
	Duration time.Duration
	// Conns is gen-cps's concurrency [64].
	Conns int
	// Size is gen-udp's payload [64 bytes].
	Size int
	// Offload gives both ports checksum and segmentation offload (TCPConfig.Offload).
	Offload bool
}

func (c GenConfig) withDefaults() GenConfig {
	if c.Softnets == 0 {
		c.Softnets = 1
	}
	if c.Duration == 0 {
		c.Duration = 2 * time.Second
	}
	if c.Conns == 0 {
		c.Conns = 64
	}
	if c.Size == 0 {
		c.Size = 64
	}
	return c
}

// genMeasured is one generator run against spec, with what it cost.
type genMeasured struct {
	r          gen.Report
	softnetCPU time.Duration // the generator stack's softnet threads
	allocs     uint64        // the whole process's
}

// runGen runs the generator gc against a server stack running spec, one
// stack each on an in-memory wire, and measures it.
func runGen(cfg GenConfig, spec service.Spec, gc gen.Config) (genMeasured, error) {
	// The generator's softnets hold their threads: its CPU is their clocks.
	g, s, err := pair(cfg.Softnets, cfg.Poll, portOpts{offload: cfg.Offload, lockThreads: true})
	if err != nil {
		return genMeasured{}, err
	}
	defer g.Stop()
	defer s.Stop()
	_, c, err := service.Start(s, spec)
	if err != nil {
		return genMeasured{}, err
	}
	defer c.Close()
	gc.To = gen.Target{Proto: spec.Proto, Addr: netip.AddrPortFrom(benchB.Addr(), spec.Port)}
	gc.Duration = cfg.Duration
	cpu0, err := g.ThreadCPU()
	if err != nil {
		return genMeasured{}, err
	}
	m := startMeter()
	r, err := gen.Run(context.Background(), g, gc)
	if err != nil {
		return genMeasured{}, err
	}
	_, _, allocs := m.stop()
	cpu1, err := g.ThreadCPU()
	if err != nil {
		return genMeasured{}, err
	}
	return genMeasured{r: r, softnetCPU: cpu1 - cpu0, allocs: allocs}, nil
}

// GenCPS measures the generator's connection rate: closed-loop HTTP/1.1
// connections (connect, GET /bytes/64 verified, close) against the HTTP
// service, Conns at a time. CPS is completed connections a second;
// NsPerPkt is the generator stack's softnet CPU per connection;
// AllocsPerPkt is allocations per connection, both stacks and the
// server's handler included.
func GenCPS(cfg GenConfig) (Result, error) {
	cfg = cfg.withDefaults()
	m, err := runGen(cfg, service.Spec{Kind: service.HTTP, Proto: "tcp", Port: 80}, gen.Config{Conns: cfg.Conns, HTTP: true, Response: 64})
	if err != nil {
		return Result{}, err
	}
	n := m.r.Completed
	if n == 0 {
		return Result{}, fmt.Errorf("gen-cps: no connection completed: %v", m.r.Why)
	}
	return Result{
		Stack: "netsplice", Workload: "gen-cps", Softnets: cfg.Softnets, Offload: cfg.Offload,
		Seconds: m.r.Seconds, CPS: float64(n) / m.r.Seconds,
		NsPerPkt:     float64(m.softnetCPU) / float64(n),
		AllocsPerPkt: float64(m.allocs) / float64(n),
		Packets:      n, Drops: m.r.Failed,
	}, nil
}

// GenUDP measures the generator's datagram rate: Size-byte datagrams as
// fast as the softnets send them, to a discard service. PPS is datagrams
// sent a second over all softnets; NsPerPkt the generator stack's softnet
// CPU per datagram.
func GenUDP(cfg GenConfig) (Result, error) {
	cfg = cfg.withDefaults()
	m, err := runGen(cfg, service.Spec{Kind: service.Discard, Proto: "udp", Port: 9}, gen.Config{Size: cfg.Size, Flows: 16 * cfg.Softnets, NoReply: true})
	if err != nil {
		return Result{}, err
	}
	n := m.r.Attempted
	if n == 0 {
		return Result{}, fmt.Errorf("gen-udp: nothing sent: %v", m.r.Why)
	}
	return Result{
		Stack: "netsplice", Workload: "gen-udp", Softnets: cfg.Softnets, Offload: cfg.Offload,
		Seconds: m.r.Seconds, PPS: float64(n) / m.r.Seconds,
		Gbps:         float64(m.r.Sent) * 8 / m.r.Seconds / 1e9,
		NsPerPkt:     float64(m.softnetCPU) / float64(n),
		AllocsPerPkt: float64(m.allocs) / float64(n),
		Packets:      n, Drops: m.r.Failed,
	}, nil
}

// GenHeld searches for the highest open-loop rate the generator holds
// with nothing failed (gen's report OK: every scheduled start made in
// time, no failure, no loss): gen-cps-held (TCP connections a second,
// against the HTTP service) or gen-udp-held (64-byte datagrams a second,
// echoed, none lost). It first runs as fast as possible to find the
// ceiling, then bisects between a rate held and one not held, each trial
// for a quarter of Duration (at least 500 ms), seven trials at most. CPS
// (or PPS) is the highest rate held; Packets the trials; Drops the
// failures of the last trial not held.
func GenHeld(cfg GenConfig, proto string) (Result, error) {
	cfg = cfg.withDefaults()
	spec := service.Spec{Kind: service.HTTP, Proto: "tcp", Port: 80}
	base := gen.Config{Conns: cfg.Conns, HTTP: true, Response: 64}
	name := "gen-cps-held"
	if proto == "udp" {
		spec = service.Spec{Kind: service.Echo, Proto: "udp", Port: 7}
		base = gen.Config{Size: cfg.Size, Flows: 16 * cfg.Softnets}
		name = "gen-udp-held"
	}
	trial := cfg
	trial.Duration = max(cfg.Duration/4, 500*time.Millisecond)
	run := func(rate float64) (gen.Report, error) {
		gc := base
		gc.Rate = rate
		m, err := runGen(trial, spec, gc)
		return m.r, err
	}
	top, err := run(0)
	if err != nil {
		return Result{}, err
	}
	ceiling := float64(top.Completed) / top.Seconds
	if proto == "udp" {
		ceiling = float64(top.Attempted) / top.Seconds
	}
	if ceiling <= 0 {
		return Result{}, fmt.Errorf("%s: nothing completed as fast as possible: %v", name, top.Why)
	}
	lo, hi := 0.0, ceiling*1.1 // lo held (0 trivially), hi not known to be
	var drops uint64
	trials := 1
	for ; trials < 8 && hi-lo > ceiling/50; trials++ {
		rate := hi
		if trials > 1 {
			rate = (lo + hi) / 2
		}
		r, err := run(rate)
		if err != nil {
			return Result{}, err
		}
		if r.OK {
			lo = rate
			if trials == 1 {
				break // the ceiling plus 10% is held: as good as it gets
			}
		} else {
			hi, drops = rate, r.Failed+r.Lost+r.Missed
		}
	}
	if lo == 0 {
		return Result{}, fmt.Errorf("%s: no rate held with nothing failed (last trial: %d failed, lost or missed)", name, drops)
	}
	res := Result{Stack: "netsplice", Workload: name, Softnets: cfg.Softnets, Offload: cfg.Offload, Seconds: trial.Duration.Seconds(),
		Packets: uint64(trials), Drops: drops}
	if proto == "udp" {
		res.PPS = lo
	} else {
		res.CPS = lo
	}
	return res, nil
}

// Sink is a port that takes frames and receives none, as a NIC does
// towards a device that only counts (DPDK's net_null with no-rx=1, whose
// transmit frees each mbuf as a NIC's completion does), with the hooks
// its driver needs on each softnet thread (stack.Config.ThreadInit and
// ThreadExit).
type Sink struct {
	Port       driver.Port
	ThreadInit func(softnet int) error
	ThreadExit func(softnet int)
}

// sinkMAC is the static neighbour gen-udp-sink sends to: nothing answers
// ARP behind a sink.
var sinkMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x5c}

// GenUDPSink measures the generator's own cost: Size-byte datagrams as
// fast as the softnets send them, out of the sink's port to a static
// neighbour, with no receiver on the same CPUs and no in-memory wire's
// delivery in the sender's time (gen-udp has both). PPS is datagrams
// sent a second; NsPerPkt the generator's softnet CPU per datagram;
// Drops what the port refused.
func GenUDPSink(cfg GenConfig, sink Sink) (Result, error) {
	cfg = cfg.withDefaults()
	if n := sink.Port.NumQueues(); n != cfg.Softnets {
		return Result{}, fmt.Errorf("gen-udp-sink: port %s has %d queues, want one per softnet (%d)", sink.Port.Name(), n, cfg.Softnets)
	}
	st, err := stack.New(stack.Config{Softnets: cfg.Softnets, Poll: cfg.Poll, SpinPolls: spinPolls, LockThreads: true, ThreadInit: sink.ThreadInit, ThreadExit: sink.ThreadExit},
		stack.InterfaceConfig{Port: sink.Port, Addr: benchA, Neighbors: []stack.Neighbor{{Addr: benchB.Addr(), MAC: sinkMAC}}})
	if err != nil {
		return Result{}, err
	}
	if err := st.Start(); err != nil {
		return Result{}, err
	}
	defer st.Stop()
	gc := gen.Config{Size: cfg.Size, Flows: 16 * cfg.Softnets, NoReply: true, Duration: cfg.Duration,
		To: gen.Target{Proto: "udp", Addr: netip.AddrPortFrom(benchB.Addr(), 9)}}
	m := startMeter()
	r, err := gen.Run(context.Background(), st, gc)
	if err != nil {
		return Result{}, err
	}
	_, _, allocs := m.stop()
	n := r.Attempted
	if n == 0 {
		return Result{}, fmt.Errorf("gen-udp-sink: nothing sent: %v", r.Why)
	}
	return Result{
		Stack: "netsplice", Workload: "gen-udp-sink", Softnets: cfg.Softnets,
		Seconds: r.Seconds, PPS: float64(n) / r.Seconds,
		Gbps: float64(r.Sent) * 8 / r.Seconds / 1e9,
		// The report's softnet CPU is its run's; the warm-up ping
		// before it, which nothing behind a sink answers, polls for a
		// second.
		NsPerPkt:     r.SoftnetCPUSeconds * 1e9 / float64(n),
		AllocsPerPkt: float64(allocs) / float64(n),
		Packets:      n, Drops: r.Failed,
	}, nil
}

// TCPConnSoftnet is tcp-conn through the softnet-side API at both ends:
// the generator's closed loop (Conns connections at a time [8, as
// tcp-conn's clients]: connect, one byte sent, the byte echoed back,
// close) against an echo server written as softnet callbacks (accept on
// the softnet, ReadPackets, WritePackets of the packets read, close at the
// client's FIN): no goroutine per connection, no hand-off to one. CPS is
// completed connections a second; AllocsPerPkt allocations per connection,
// both stacks together.
func TCPConnSoftnet(cfg TCPConfig) (Result, error) {
	cfg = cfg.connDefaults()
	g, s, err := pair(cfg.Softnets, cfg.Poll, portOpts{offload: cfg.Offload})
	if err != nil {
		return Result{}, err
	}
	defer g.Stop()
	defer s.Stop()
	// The echo server's callbacks: what arrives goes back in the packets
	// it came in (whatever the send buffer cannot take is dropped: one
	// byte always fits), and the peer's FIN, or an error, closes.
	echo := &stack.TCPEvents{Readable: func(c *stack.TCPConn) {
		if pk, n := c.ReadPackets(1 << 20); n > 0 {
			rest, _ := c.WritePackets(pk)
			for rest != nil {
				next := rest.Next
				rest.Next = nil
				c.Softnet().Free(rest)
				rest = next
			}
		}
		if c.EOF() || c.Err() != nil {
			c.CloseOnSoftnet()
		}
	}}
	l, err := s.ListenTCPOnSoftnet(netip.AddrPortFrom(benchB.Addr(), 5204), 0, func(c *stack.TCPConn) { c.SetEvents(echo) })
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	m := startMeter()
	r, err := gen.Run(context.Background(), g, gen.Config{To: gen.Target{Proto: "tcp", Addr: netip.AddrPortFrom(benchB.Addr(), 5204)},
		Duration: cfg.Duration, Conns: cfg.Conns, Request: 1})
	if err != nil {
		return Result{}, err
	}
	_, _, allocs := m.stop()
	n := r.Completed
	if n == 0 {
		return Result{}, fmt.Errorf("tcp-conn-softnet: no connection completed: %v", r.Why)
	}
	return Result{
		Stack: "netsplice", Workload: "tcp-conn-softnet", Softnets: cfg.Softnets, Offload: cfg.Offload,
		Seconds: r.Seconds, CPS: float64(n) / r.Seconds,
		AllocsPerPkt: float64(allocs) / float64(n),
		Packets:      n, Drops: r.Failed,
	}, nil
}
