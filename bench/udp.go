package bench

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack"
	"github.com/netsplice/netsplice/stack/task"
)

// UDPConfig configures the udp-bulk workload: a client stack sends
// datagrams to a server stack that echoes them, both on an in-memory wire,
// with Window datagrams in flight per softnet. Everything runs on the
// softnets through the zero-copy handler API, so the figures are the
// stack's own cost.
type UDPConfig struct {
	Softnets int
	Size     int // payload bytes [1472]
	Window   int // datagrams in flight per softnet [64]
	Poll     stack.PollMode
	Duration time.Duration // run time, when Packets is 0
	Packets  uint64        // run until this many echoes came back
	IPv6     bool          // over IPv6, the workload named "udp-bulk-v6" [IPv4]
	Offload  bool          // checksum and segmentation offload on the ports (TCPConfig.Offload)
}

var (
	benchA = netip.MustParsePrefix("198.51.100.1/24")
	benchB = netip.MustParsePrefix("198.51.100.2/24")
	// The stacks' IPv6 addresses, for the -v6 workloads.
	benchA6 = netip.MustParsePrefix("2001:db8:100::1/64")
	benchB6 = netip.MustParsePrefix("2001:db8:100::2/64")
)

// UDPEcho runs the udp-bulk workload.
func UDPEcho(cfg UDPConfig) (Result, error) {
	if cfg.Softnets == 0 {
		cfg.Softnets = 1
	}
	maxSize := 1472 // a full 1500-byte IPv4 packet
	if cfg.IPv6 {
		maxSize = 1452 // IPv6's header is 20 bytes longer
	}
	if cfg.Size == 0 {
		cfg.Size = maxSize
	}
	if cfg.Window == 0 {
		cfg.Window = 64
	}
	if cfg.Size < 1 || cfg.Size > maxSize || cfg.Window < 1 {
		return Result{}, fmt.Errorf("udp-bulk%s: size %d, window %d: want 1..%d and >= 1", familySuffix(cfg.IPv6), cfg.Size, cfg.Window, maxSize)
	}
	if cfg.Duration == 0 && cfg.Packets == 0 {
		cfg.Duration = 2 * time.Second
	}
	a, b, err := pair(cfg.Softnets, cfg.Poll, portOpts{offload: cfg.Offload})
	if err != nil {
		return Result{}, err
	}
	defer a.Stop()
	defer b.Stop()

	srvAddr := netip.AddrPortFrom(serverAddr(cfg.IPv6), 7)
	srv, err := b.ListenUDP(srvAddr, &stack.UDPOptions{Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
		src := stack.UDPSource(pk)
		n := len(stack.UDPPayload(pk))
		pk.TrimFront(pk.Len() - n)
		c.SendPacket(sn, pk, src)
	}})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	// Warm up ARP (or neighbour discovery) both ways before measuring.
	if _, err := a.Ping(srvAddr.Addr(), 8, 5*time.Second); err != nil {
		return Result{}, fmt.Errorf("udp-bulk: warm-up ping: %w", err)
	}

	var echoes atomic.Uint64
	var running atomic.Bool
	running.Store(true)
	size := cfg.Size
	send := func(sn *stack.Softnet, c *stack.UDPConn) {
		pk := c.Home().Stack().Interfaces()[0].Port().Pool(sn.ID()).Get()
		if pk == nil {
			return
		}
		pk.Append(size)
		c.SendPacket(sn, pk, netip.AddrPort{})
	}
	var clients []*stack.UDPConn
	var kicks []*task.Task
	for i := 0; i < cfg.Softnets; i++ {
		c, err := a.DialUDP(netip.AddrPort{}, srvAddr, &stack.UDPOptions{Steer: true, Softnet: i,
			Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
				echoes.Add(1)
				if running.Load() {
					// Reuse the buffer for the next datagram.
					pk.TrimFront(pk.Len() - size)
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
		home := c.Home()
		kicks = append(kicks, task.New(func() {
			for j := 0; j < cfg.Window; j++ {
				send(home, c)
			}
		}))
	}
	m := startMeter()
	before := a.Counters()
	rxBefore := softnetRx(b)
	for i, c := range clients {
		c.Home().Add(kicks[i], nil)
	}
	if cfg.Packets > 0 {
		deadline := time.Now().Add(time.Minute)
		for echoes.Load() < cfg.Packets {
			if time.Now().After(deadline) {
				return Result{}, errors.New("udp-bulk: timed out")
			}
			time.Sleep(100 * time.Microsecond)
		}
	} else {
		time.Sleep(cfg.Duration)
	}
	n := echoes.Load()
	wall, cpu, allocs := m.stop()
	running.Store(false)
	after := a.Counters()
	after2 := b.Counters()
	rx := since(rxBefore, softnetRx(b))
	pkts := 2 * n // each echo is a datagram each way
	bytes := float64(pkts) * float64(size)
	r := Result{
		Stack:        "netsplice",
		Workload:     "udp-bulk" + familySuffix(cfg.IPv6),
		Softnets:     cfg.Softnets,
		Offload:      cfg.Offload,
		Packets:      pkts,
		Seconds:      wall.Seconds(),
		PPS:          float64(pkts) / wall.Seconds(),
		Gbps:         bytes * 8 / wall.Seconds() / 1e9,
		NsPerPkt:     float64(wall.Nanoseconds()) / float64(pkts),
		AllocsPerPkt: float64(allocs) / float64(pkts),
		HandoffsPkt:  float64(after[stack.TasksCrossed]-before[stack.TasksCrossed]) / float64(pkts),
		CPUSPerGiB:   cpu.Seconds() / (bytes / (1 << 30)),
		Drops:        after.Drops() + after2.Drops(),

		ServerSoftnetRx: rx,
	}
	return r, nil
}
