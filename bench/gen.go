package bench

import (
	"context"
	"fmt"
	"net/netip"
	"time"

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
	g, s, err := pair(cfg.Softnets, cfg.Poll)
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
	cpu0, _ := g.ThreadCPU()
	m := startMeter()
	r, err := gen.Run(context.Background(), g, gc)
	if err != nil {
		return genMeasured{}, err
	}
	_, _, allocs := m.stop()
	cpu1, _ := g.ThreadCPU()
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
		Stack: "netsplice", Workload: "gen-cps", Softnets: cfg.Softnets,
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
		Stack: "netsplice", Workload: "gen-udp", Softnets: cfg.Softnets,
		Seconds: m.r.Seconds, PPS: float64(n) / m.r.Seconds,
		Gbps:         float64(m.r.Sent) * 8 / m.r.Seconds / 1e9,
		NsPerPkt:     float64(m.softnetCPU) / float64(n),
		AllocsPerPkt: float64(m.allocs) / float64(n),
		Packets:      n, Drops: m.r.Failed,
	}, nil
}
