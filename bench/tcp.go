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

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/driver/rss"
	"github.com/netsplice/netsplice/stack"
)

// TCPConfig configures the TCP workloads: two stacks on an in-memory
// wire, each with Softnets softnets.
type TCPConfig struct {
	Softnets int
	Poll     stack.PollMode
	Duration time.Duration
	// Conns is the number of bulk connections (one per softnet when 0),
	// or the concurrency of the connection-rate workload.
	Conns int
	// Bytes, when set, stops tcp-bulk after this many bytes.
	Bytes int64
	// IPv6 runs the connections over IPv6 (the stacks are dual-stack
	// either way); the workload's name gets "-v6".
	IPv6 bool
	// Offload gives the in-memory ports veth's default offloads: checksum
	// offload both ways and TCP segmentation (memwire.Config.ChecksumOffload
	// and TSO); the result says so.
	Offload bool
}

const spinPolls = 200 // two stacks share the machine's cores with the application goroutines

// wireStack adds a port to w and starts a stack on it: the building block
// of the in-process workloads.
//
// Every bench port hashes with the symmetric RSS key, so a flow lands on
// the same queue index at both ends: the client steers its source port to
// its softnet i, and the server (or the relay's backend) then handles the
// flow on its softnet i too. With the default key the server's placement
// of a few flows is a matter of luck, and two flows sharing a server
// softnet halve a multi-softnet figure in one family and not the other.
func wireStack(w *memwire.Wire, name string, addr, addr6 netip.Prefix, softnets int, poll stack.PollMode, opts portOpts) (*stack.Stack, error) {
	rc, err := rss.DefaultConfig(softnets)
	if err != nil {
		return nil, err
	}
	rc.Key = rss.SymmetricKey()
	p, err := w.AddPort(memwire.Config{Name: name, Queues: softnets, PoolSize: 16384, RingSize: 1024, RSS: &rc,
		SYNQueue: opts.synRing, ChecksumOffload: opts.offload, TSO: opts.offload})
	if err != nil {
		return nil, err
	}
	// Receive coalescing is the stack's GRO: off with the port's offloads,
	// as the kernel peer's `ethtool -K ... gro off`.
	cfg := stack.Config{Softnets: softnets, Poll: poll, SpinPolls: spinPolls, ReserveProcs: opts.reserveProcs, LockThreads: opts.lockThreads, TCP: stack.TCPConfig{MSL: 100 * time.Millisecond, NoCoalesce: !opts.offload,
		SendBuffer: opts.tcpBuffer, RecvBuffer: opts.tcpBuffer}}
	st, err := stack.New(cfg, stack.InterfaceConfig{Port: p, Addr: addr, Addr6: []netip.Prefix{addr6}})
	if err != nil {
		return nil, err
	}
	return st, st.Start()
}

// portOpts are the optional features of a bench port and its stack.
type portOpts struct {
	synRing bool // memwire.Config.SYNQueue
	offload bool // memwire.Config.ChecksumOffload and TSO, and the stack's receive coalescing (GRO, and LRO on the port), as veth's default offloads
	// reserveProcs: stack.Config.ReserveProcs. For tcp-conn, whose 8
	// clients and their servers are 16 goroutines ready at once besides
	// the two softnets: on 2 CPUs it made 1.4 times the connections a
	// second. The bulk and relay workloads, one writer and one reader,
	// lost 10-20% (more threads than CPUs, each switch costing the
	// softnets' caches), so they leave GOMAXPROCS alone.
	reserveProcs bool
	// tcpBuffer sets the stack's TCP send and receive buffers (0: the
	// stack's default, 256 KiB).
	tcpBuffer int
	// lockThreads: stack.Config.LockThreads, for a workload that reads
	// the softnets' thread clocks (Stack.ThreadCPU).
	lockThreads bool
}

// bulkTCPBuffer is the TCP buffer each way of the bulk workloads'
// stacks (tcp-bulk, tcp-relay): 1 MiB, where the kernel peer autotunes
// up to 4 MiB to send and 6 MiB to receive (tcp_wmem, tcp_rmem). With the
// stack's default 256 KiB a window is 180 segments, which a softnet
// descheduled on this 2-CPU machine for a millisecond leaves idle: 1 MiB
// took tcp-bulk from 7.0-9.6 to 12.2-13.7 Gbit/s and the relay from
// 4.1-4.5 to 6.8-7.9 (3 alternating runs); 4 MiB did no better.
const bulkTCPBuffer = 1 << 20

// pair builds two started stacks on an in-memory wire.
func pair(softnets int, poll stack.PollMode, opts portOpts) (*stack.Stack, *stack.Stack, error) {
	w := memwire.New()
	a, err := wireStack(w, "client", benchA, benchA6, softnets, poll, opts)
	if err != nil {
		return nil, nil, err
	}
	b, err := wireStack(w, "server", benchB, benchB6, softnets, poll, opts)
	if err != nil {
		a.Stop()
		return nil, nil, err
	}
	return a, b, nil
}

// TCPBulk measures one-way bulk transfer through the net.Conn API: the
// client writes 256 KiB at a time, the server reads and discards.
func TCPBulk(cfg TCPConfig) (Result, error) {
	if cfg.Softnets == 0 {
		cfg.Softnets = 1
	}
	if cfg.Conns == 0 {
		cfg.Conns = cfg.Softnets
	}
	if cfg.Duration == 0 && cfg.Bytes == 0 {
		cfg.Duration = 2 * time.Second
	}
	a, b, err := pair(cfg.Softnets, cfg.Poll, portOpts{offload: cfg.Offload, tcpBuffer: bulkTCPBuffer})
	if err != nil {
		return Result{}, err
	}
	defer a.Stop()
	defer b.Stop()
	dst := netip.AddrPortFrom(serverAddr(cfg.IPv6), 5201)
	l, err := b.ListenTCP(dst, 0)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	var received atomic.Int64
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, _ := io.Copy(io.Discard, countingReader{c, &received})
				_ = n
				c.Close()
			}()
		}
	}()
	var conns []*stack.TCPConn
	for i := 0; i < cfg.Conns; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := a.DialTCPFrom(ctx, i%cfg.Softnets, netip.AddrPort{}, dst)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("tcp-bulk: dial: %w", err)
		}
		conns = append(conns, c)
	}
	before := a.Counters()
	rxBefore := softnetRx(b)
	m := startMeter()
	var stop atomic.Bool
	var writers sync.WaitGroup
	for _, c := range conns {
		writers.Add(1)
		go func(c *stack.TCPConn) {
			defer writers.Done()
			buf := make([]byte, 256<<10)
			for !stop.Load() {
				if cfg.Bytes > 0 && received.Load() >= cfg.Bytes {
					return
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}(c)
	}
	if cfg.Bytes > 0 {
		for received.Load() < cfg.Bytes {
			time.Sleep(200 * time.Microsecond)
		}
	} else {
		time.Sleep(cfg.Duration)
	}
	n := received.Load()
	wall, cpu, allocs := m.stop()
	stop.Store(true)
	after := a.Counters()
	bc := b.Counters()
	rx := since(rxBefore, softnetRx(b))
	for _, c := range conns {
		c.Close()
	}
	writers.Wait()
	segs := after[stack.TCPTx] - before[stack.TCPTx]
	return Result{
		Stack:        "netsplice",
		Workload:     "tcp-bulk" + familySuffix(cfg.IPv6),
		Softnets:     cfg.Softnets,
		Offload:      cfg.Offload,
		Packets:      segs,
		Seconds:      wall.Seconds(),
		Gbps:         float64(n) * 8 / wall.Seconds() / 1e9,
		PPS:          float64(segs) / wall.Seconds(),
		NsPerPkt:     float64(wall.Nanoseconds()) / float64(max(segs, 1)),
		AllocsPerPkt: float64(allocs) / float64(max(segs, 1)),
		HandoffsPkt:  float64(after[stack.TasksCrossed]-before[stack.TasksCrossed]) / float64(max(segs, 1)),
		CPUSPerGiB:   cpu.Seconds() / (float64(n) / (1 << 30)),
		Drops:        after.Drops() + bc.Drops(),

		ServerSoftnetRx: rx,
	}, nil
}

// serverAddr is the server stack's address in the family asked for.
func serverAddr(v6 bool) netip.Addr {
	if v6 {
		return benchB6.Addr()
	}
	return benchB.Addr()
}

// familySuffix names a workload's IPv6 variant.
func familySuffix(v6 bool) string {
	if v6 {
		return "-v6"
	}
	return ""
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// connDefaults fills in the connection workloads' defaults: one softnet,
// 8 clients, 2 s.
func (cfg TCPConfig) connDefaults() TCPConfig {
	if cfg.Softnets == 0 {
		cfg.Softnets = 1
	}
	if cfg.Conns == 0 {
		cfg.Conns = 8
	}
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	return cfg
}

// TCPConnRate measures connections per second: open, one byte each way,
// close, with Conns clients at once.
func TCPConnRate(cfg TCPConfig) (Result, error) {
	cfg = cfg.connDefaults()
	a, b, err := pair(cfg.Softnets, cfg.Poll, portOpts{offload: cfg.Offload, reserveProcs: true})
	if err != nil {
		return Result{}, err
	}
	defer a.Stop()
	defer b.Stop()
	l, err := b.ListenTCP(netip.AddrPortFrom(benchB.Addr(), 5202), 0)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				var one [1]byte
				if _, err := io.ReadFull(c, one[:]); err == nil {
					c.Write(one[:])
				}
				c.Close()
			}()
		}
	}()
	var done atomic.Int64
	var failed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	m := startMeter()
	for i := 0; i < cfg.Conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var one [1]byte
			// One context per client for the whole run, as a load
			// generator holds one: the figure is the connections'
			// allocations, not a context's per dial.
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+10*time.Second)
			defer cancel()
			for !stop.Load() {
				c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(benchB.Addr(), 5202))
				if err != nil {
					failed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(one[:]); err == nil {
					if _, err := io.ReadFull(c, one[:]); err == nil {
						done.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
	time.Sleep(cfg.Duration)
	n := done.Load()
	wall, cpu, allocs := m.stop()
	stop.Store(true)
	wg.Wait()
	_ = cpu
	return Result{
		Stack:        "netsplice",
		Workload:     "tcp-conn",
		Softnets:     cfg.Softnets,
		Offload:      cfg.Offload,
		Seconds:      wall.Seconds(),
		CPS:          float64(n) / wall.Seconds(),
		AllocsPerPkt: float64(allocs) / float64(max(n, 1)), // per connection here
		Packets:      uint64(n),
		Drops:        uint64(failed.Load()),
	}, nil
}

// IdleConnMemory returns the heap bytes each idle established connection
// costs, both ends together, measured over n connections.
func IdleConnMemory(n int) (float64, error) {
	a, b, err := pair(1, stack.PollAdaptive, portOpts{})
	if err != nil {
		return 0, err
	}
	defer a.Stop()
	defer b.Stop()
	l, err := b.ListenTCP(netip.AddrPortFrom(benchB.Addr(), 5203), n)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	var ms0, ms1 runtime.MemStats
	// Twice, so that what earlier runs left behind (stopped stacks and
	// their pools) is swept before the first reading.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var keep []*stack.TCPConn
	for i := 0; i < n; i++ {
		c, err := a.DialTCP(context.Background(), netip.AddrPort{}, netip.AddrPortFrom(benchB.Addr(), 5203))
		if err != nil {
			return 0, err
		}
		s, err := l.AcceptTCP()
		if err != nil {
			return 0, err
		}
		keep = append(keep, c, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	for _, c := range keep {
		c.Close()
	}
	d := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
	if d <= 0 {
		// Memory other goroutines let go of meanwhile outweighed the
		// connections: the figure would be meaningless.
		return 0, fmt.Errorf("idle connection memory: the heap shrank by %d bytes while %d connections were opened", -d, n)
	}
	return float64(d) / float64(n) / 2, nil
}
