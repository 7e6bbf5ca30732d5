package bench

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

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
}

// TCPRelay measures bulk TCP through the relay appliance.
func TCPRelay(cfg RelayConfig) (Result, error) {
	if cfg.Softnets == 0 {
		cfg.Softnets = 1
	}
	if cfg.Conns == 0 {
		cfg.Conns = cfg.Softnets
	}
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	w := memwire.New()
	mk := func(name, addr string, softnets int) (*stack.Stack, error) {
		return wireStack(w, name, netip.MustParsePrefix(addr), softnets, cfg.Poll)
	}
	cl, err := mk("client", "203.0.113.1/24", 1)
	if err != nil {
		return Result{}, err
	}
	defer cl.Stop()
	rl, err := mk("relay", "203.0.113.2/24", cfg.Softnets)
	if err != nil {
		return Result{}, err
	}
	defer rl.Stop()
	sv, err := mk("server", "203.0.113.3/24", 1)
	if err != nil {
		return Result{}, err
	}
	defer sv.Stop()
	ls, err := sv.ListenTCP(netip.MustParseAddrPort("0.0.0.0:9"), 0)
	if err != nil {
		return Result{}, err
	}
	defer ls.Close()
	var received atomic.Int64
	go func() {
		for {
			c, err := ls.AcceptTCP()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, countingReader{c, &received}); c.Close() }()
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
			buf := make([]byte, 256<<10)
			for !stop.Load() {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}(c)
	}
	time.Sleep(200 * time.Millisecond) // past slow start
	m := startMeter()
	n0 := received.Load()
	segs0 := rl.Counters()[stack.TCPTx]
	time.Sleep(cfg.Duration)
	n := received.Load() - n0
	wall, cpu, allocs := m.stop()
	after := rl.Counters()
	stop.Store(true)
	for _, c := range conns {
		c.Close()
	}
	segs := after[stack.TCPTx] - segs0 // segments the relay sent (data and ACKs)
	handoffs := (after[stack.TasksCrossed] - before[stack.TasksCrossed]) + (sp.DedicatedStats().Crossed - dedBefore)
	return Result{
		Stack:        "netsplice",
		Workload:     "tcp-relay",
		Mode:         cfg.Mode.String(),
		Softnets:     cfg.Softnets,
		Packets:      segs,
		Seconds:      wall.Seconds(),
		Gbps:         float64(n) * 8 / wall.Seconds() / 1e9,
		PPS:          float64(segs) / wall.Seconds(),
		NsPerPkt:     float64(cpu.Nanoseconds()) / float64(max(segs, 1)),
		AllocsPerPkt: float64(allocs) / float64(max(segs, 1)),
		HandoffsPkt:  float64(handoffs) / float64(max(segs, 1)),
		CPUSPerGiB:   cpu.Seconds() / (float64(n) / (1 << 30)),
	}, nil
}
