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

// genPair starts a generator stack and a server stack on an in-memory
// wire, the server running spec.
func genPair(cfg GenConfig, spec service.Spec) (g, s *stack.Stack, closeAll func(), err error) {
	if g, s, err = pair(cfg.Softnets, cfg.Poll); err != nil {
		return nil, nil, nil, err
	}
	_, c, err := service.Start(s, spec)
	if err != nil {
		g.Stop()
		s.Stop()
		return nil, nil, nil, err
	}
	return g, s, func() { c.Close(); g.Stop(); s.Stop() }, nil
}

// GenCPS measures the generator's connection rate: closed-loop HTTP/1.1
// connections (connect, GET /bytes/64 verified, close) against the HTTP
// service, Conns at a time. CPS is completed connections a second;
// NsPerPkt is the generator stack's softnet CPU per connection;
// AllocsPerPkt is allocations per connection, both stacks and the
// server's handler included.
func GenCPS(cfg GenConfig) (Result, error) {
	cfg = cfg.withDefaults()
	g, _, closeAll, err := genPair(cfg, service.Spec{Kind: service.HTTP, Proto: "tcp", Port: 80})
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	cpu0, _ := g.ThreadCPU()
	m := startMeter()
	r, err := gen.Run(context.Background(), g, gen.Config{
		To:       gen.Target{Proto: "tcp", Addr: netip.AddrPortFrom(benchB.Addr(), 80)},
		Duration: cfg.Duration, Conns: cfg.Conns, HTTP: true, Response: 64,
	})
	if err != nil {
		return Result{}, err
	}
	_, _, allocs := m.stop()
	cpu1, _ := g.ThreadCPU()
	if r.Completed == 0 {
		return Result{}, fmt.Errorf("gen-cps: no connection completed: %v", r.Why)
	}
	return Result{
		Stack: "netsplice", Workload: "gen-cps", Softnets: cfg.Softnets,
		Seconds: r.Seconds, CPS: float64(r.Completed) / r.Seconds,
		NsPerPkt:     float64(cpu1-cpu0) / float64(r.Completed),
		AllocsPerPkt: float64(allocs) / float64(r.Completed),
		Packets:      r.Completed, Drops: r.Failed,
	}, nil
}

// GenUDP measures the generator's datagram rate: Size-byte datagrams as
// fast as the softnets send them, to a discard service. PPS is datagrams
// sent a second over all softnets; NsPerPkt the generator stack's softnet
// CPU per datagram.
func GenUDP(cfg GenConfig) (Result, error) {
	cfg = cfg.withDefaults()
	g, _, closeAll, err := genPair(cfg, service.Spec{Kind: service.Discard, Proto: "udp", Port: 9})
	if err != nil {
		return Result{}, err
	}
	defer closeAll()
	cpu0, _ := g.ThreadCPU()
	m := startMeter()
	r, err := gen.Run(context.Background(), g, gen.Config{
		To:       gen.Target{Proto: "udp", Addr: netip.AddrPortFrom(benchB.Addr(), 9)},
		Duration: cfg.Duration, Size: cfg.Size, Flows: 16 * cfg.Softnets, NoReply: true,
	})
	if err != nil {
		return Result{}, err
	}
	_, _, allocs := m.stop()
	cpu1, _ := g.ThreadCPU()
	if r.Attempted == 0 {
		return Result{}, fmt.Errorf("gen-udp: nothing sent: %v", r.Why)
	}
	return Result{
		Stack: "netsplice", Workload: "gen-udp", Softnets: cfg.Softnets,
		Seconds: r.Seconds, PPS: float64(r.Attempted) / r.Seconds,
		Gbps:         float64(r.Sent) * 8 / r.Seconds / 1e9,
		NsPerPkt:     float64(cpu1-cpu0) / float64(r.Attempted),
		AllocsPerPkt: float64(allocs) / float64(r.Attempted),
		Packets:      r.Attempted, Drops: r.Failed,
	}, nil
}
