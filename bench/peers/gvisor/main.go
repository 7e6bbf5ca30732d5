// Command gvisor runs netsplice's benchmark workloads (tcp-bulk, tcp-conn,
// udp-bulk; see bench/ in the main module) on gVisor's netstack, so that
// `make bench` can print the two stacks side by side.
//
// Two gVisor stacks (IPv4 with ARP, TCP, UDP) each get one NIC: an Ethernet
// endpoint (link/ethernet) over an in-memory channel endpoint (link/channel).
// A goroutine per direction pumps frames from one channel endpoint's
// outbound queue into the other's inbound path: that pump is gVisor's
// equivalent of netsplice's in-memory wire (driver/memwire).
//
// This is its own Go module so that the main module does not depend on
// gVisor. The JSON shape duplicates bench.Result of the main module; keep the
// field names in step with bench/result.go.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Result is one measurement, printed as one JSON line. It has exactly the
// fields (and JSON names) of bench.Result in the main module.
type Result struct {
	Stack        string  `json:"stack"`
	Workload     string  `json:"workload"`
	Mode         string  `json:"mode,omitempty"`
	Softnets     int     `json:"softnets"`
	Gbps         float64 `json:"gbps,omitempty"`
	PPS          float64 `json:"pps,omitempty"`
	NsPerPkt     float64 `json:"ns_per_pkt,omitempty"`
	AllocsPerPkt float64 `json:"allocs_per_pkt"`
	HandoffsPkt  float64 `json:"handoffs_per_pkt"`
	CPUSPerGiB   float64 `json:"cpu_s_per_gib,omitempty"`
	CPS          float64 `json:"cps,omitempty"`
	Packets      uint64  `json:"packets"`
	Seconds      float64 `json:"seconds"`
	Drops        uint64  `json:"drops"`
}

// writeJSON writes r as one line.
func writeJSON(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// The same addresses as netsplice's benchmarks.
var (
	addrA  = tcpip.AddrFrom4([4]byte{198, 51, 100, 1})
	addrB  = tcpip.AddrFrom4([4]byte{198, 51, 100, 2})
	macA   = tcpip.LinkAddress("\x02\x00\x00\x00\x00\x01")
	macB   = tcpip.LinkAddress("\x02\x00\x00\x00\x00\x02")
	prefix = 24
)

const (
	nicID = 1
	// queueLen is the channel endpoint's outbound queue, like memwire's
	// 1024-entry rings in netsplice's TCP benchmarks.
	queueLen = 1024
	// frameMTU is the channel endpoint's MTU: an IP MTU of 1500 plus the
	// 14-byte Ethernet header that link/ethernet adds.
	frameMTU = 1514
	// timeWait matches netsplice's benchmarks (MSL 100ms, TIME_WAIT 2*MSL).
	timeWait = 200 * time.Millisecond
)

// wireEnd is one end of the wire: a channel endpoint that counts the frames
// its full queue refused (channel.Endpoint drops them silently).
type wireEnd struct {
	*channel.Endpoint
	dropped atomic.Uint64
}

// WritePackets implements stack.LinkEndpoint.
func (e *wireEnd) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n, err := e.Endpoint.WritePackets(pkts)
	if short := pkts.Len() - n; short > 0 {
		e.dropped.Add(uint64(short))
	}
	return n, err
}

// pair is two gVisor stacks joined by channel endpoints and a pump.
type pair struct {
	a, b     *stack.Stack
	epA, epB *wireEnd
	cancel   context.CancelFunc
	pumps    sync.WaitGroup
}

func newStack(ep *wireEnd, addr tcpip.Address) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocolCUBIC, udp.NewProtocol},
	})
	if err := s.CreateNIC(nicID, ethernet.New(ep)); err != nil {
		return nil, fmt.Errorf("CreateNIC: %s", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: prefix},
	}
	if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("AddProtocolAddress: %s", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}})
	// Like netsplice: CUBIC (NewProtocolCUBIC above), SACK (on by default
	// in this gVisor, set to be sure), TIME_WAIT of 200ms. TCP buffers stay
	// at gVisor's defaults (1 MiB send and receive, receive buffer
	// moderation on); netsplice's are 256 KiB.
	sack := tcpip.TCPSACKEnabled(true)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return nil, fmt.Errorf("SACK: %s", err)
	}
	tw := tcpip.TCPTimeWaitTimeoutOption(timeWait)
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &tw); err != nil {
		return nil, fmt.Errorf("TIME_WAIT: %s", err)
	}
	return s, nil
}

func newPair() (*pair, error) {
	p := &pair{
		epA: &wireEnd{Endpoint: channel.New(queueLen, frameMTU, macA)},
		epB: &wireEnd{Endpoint: channel.New(queueLen, frameMTU, macB)},
	}
	var err error
	if p.a, err = newStack(p.epA, addrA); err != nil {
		return nil, err
	}
	if p.b, err = newStack(p.epB, addrB); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.pumps.Add(2)
	go p.pump(ctx, p.epA, p.epB)
	go p.pump(ctx, p.epB, p.epA)
	return p, nil
}

// pump is the wire: it moves every frame that one stack sends (queued on
// its channel endpoint) into the other stack's receive path. ToBuffer shares
// the frame's storage (reference counted), it copies no payload.
func (p *pair) pump(ctx context.Context, from, to *wireEnd) {
	defer p.pumps.Done()
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
		proto := pkt.NetworkProtocolNumber
		pkt.DecRef()
		to.InjectInbound(proto, in)
		in.DecRef()
	}
}

func (p *pair) close() {
	p.a.Close()
	p.b.Close()
	p.cancel()
	p.pumps.Wait()
	p.epA.Close()
	p.epB.Close()
	p.a.Wait()
	p.b.Wait()
}

// drops counts what either stack dropped: frames the wire's queue had no
// room for, packets dropped at the transport layer, UDP datagrams a full
// receive buffer refused.
func (p *pair) drops() uint64 {
	n := p.epA.dropped.Load() + p.epB.dropped.Load()
	for _, s := range []*stack.Stack{p.a, p.b} {
		st := s.Stats()
		n += st.NICs.TxPacketsDroppedNoBufferSpace.Value() + st.DroppedPackets.Value() + st.UDP.ReceiveBufferErrors.Value()
	}
	return n
}

// meter measures wall time, process CPU time and allocations, as
// netsplice's bench package does.
type meter struct {
	start   time.Time
	cpu     time.Duration
	mallocs uint64
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startMeter() meter {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return meter{start: time.Now(), cpu: cpuTime(), mallocs: ms.Mallocs}
}

func (m meter) stop() (time.Duration, time.Duration, uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return time.Since(m.start), cpuTime() - m.cpu, ms.Mallocs - m.mallocs
}

func full(addr tcpip.Address, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: addr, Port: port}
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

// tcpBulk: one connection, the client writes 256 KiB at a time, the server
// reads and discards (netsplice's bench.TCPBulk with one softnet).
func tcpBulk(d time.Duration) (Result, error) {
	p, err := newPair()
	if err != nil {
		return Result{}, err
	}
	defer p.close()
	l, err := gonet.ListenTCP(p.b, full(addrB, 5201), ipv4.ProtocolNumber)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	var received atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, countingReader{c, &received})
				c.Close()
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := gonet.DialContextTCP(ctx, p.a, full(addrB, 5201), ipv4.ProtocolNumber)
	cancel()
	if err != nil {
		return Result{}, fmt.Errorf("tcp-bulk: dial: %w", err)
	}
	tx := p.a.Stats().TCP.SegmentsSent
	before := tx.Value()
	m := startMeter()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256<<10)
		for !stop.Load() {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	time.Sleep(d)
	n := received.Load()
	wall, cpu, allocs := m.stop()
	stop.Store(true)
	segs := tx.Value() - before
	drops := p.drops()
	c.Close()
	<-done
	if n == 0 {
		return Result{}, errors.New("tcp-bulk: no bytes arrived")
	}
	return Result{
		Stack:        "gvisor",
		Workload:     "tcp-bulk",
		Softnets:     1,
		Packets:      segs,
		Seconds:      wall.Seconds(),
		Gbps:         float64(n) * 8 / wall.Seconds() / 1e9,
		PPS:          float64(segs) / wall.Seconds(),
		NsPerPkt:     float64(wall.Nanoseconds()) / float64(max(segs, 1)),
		AllocsPerPkt: float64(allocs) / float64(max(segs, 1)),
		CPUSPerGiB:   cpu.Seconds() / (float64(n) / (1 << 30)),
		Drops:        drops,
	}, nil
}

// tcpConn: connections per second with 8 clients at once: dial, one byte
// each way, close (netsplice's bench.TCPConnRate).
func tcpConn(d time.Duration) (Result, error) {
	const clients = 8
	p, err := newPair()
	if err != nil {
		return Result{}, err
	}
	defer p.close()
	l, err := gonet.ListenTCP(p.b, full(addrB, 5202), ipv4.ProtocolNumber)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
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
	once := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := gonet.DialContextTCP(ctx, p.a, full(addrB, 5202), ipv4.ProtocolNumber)
		cancel()
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var one [1]byte
		if _, err := c.Write(one[:]); err != nil {
			return err
		}
		_, err = io.ReadFull(c, one[:])
		return err
	}
	// Warm up ARP before measuring, as netsplice's workloads do.
	if err := once(); err != nil {
		return Result{}, fmt.Errorf("tcp-conn: warm-up: %w", err)
	}
	var done, failed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	m := startMeter()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := once(); err != nil {
					failed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(d)
	n := done.Load()
	wall, _, allocs := m.stop()
	stop.Store(true)
	wg.Wait()
	if n == 0 {
		return Result{}, errors.New("tcp-conn: no connection completed")
	}
	return Result{
		Stack:        "gvisor",
		Workload:     "tcp-conn",
		Softnets:     1,
		Seconds:      wall.Seconds(),
		CPS:          float64(n) / wall.Seconds(),
		AllocsPerPkt: float64(allocs) / float64(max(n, 1)), // per connection here
		Packets:      uint64(n),
		Drops:        uint64(failed.Load()),
	}, nil
}

// udpEndpoint opens a UDP endpoint with room for the whole window in its
// buffers, bound to laddr, connected to raddr when given, and calls onRead
// from the receive path (the pump's goroutine) whenever datagrams arrive.
func udpEndpoint(s *stack.Stack, laddr, raddr *tcpip.FullAddress, onRead func()) (tcpip.Endpoint, func(), error) {
	var wq waiter.Queue
	ep, terr := s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, nil, errors.New(terr.String())
	}
	// The callback writes from inside the waiter queue's Notify, which holds
	// the queue's read lock, and a write can Notify the same queue again (send
	// buffer space). Taking that lock for writing meanwhile would deadlock, so
	// the entry is never unregistered: closing the endpoint is enough.
	entry := waiter.NewFunctionEntry(waiter.ReadableEvents, func(waiter.EventMask) { onRead() })
	wq.EventRegister(&entry)
	closeEP := func() { ep.Close() }
	ep.SocketOptions().SetReceiveBufferSize(4<<20, true)
	ep.SocketOptions().SetSendBufferSize(4<<20, true)
	if laddr != nil {
		if terr := ep.Bind(*laddr); terr != nil {
			closeEP()
			return nil, nil, fmt.Errorf("bind: %s", terr)
		}
	}
	if raddr != nil {
		if terr := ep.Connect(*raddr); terr != nil {
			closeEP()
			return nil, nil, fmt.Errorf("connect: %s", terr)
		}
	}
	return ep, closeEP, nil
}

// udpBulk: the client keeps window datagrams of size bytes in flight to an
// echo server (netsplice's bench.UDPEcho with one softnet). As netsplice's
// workload runs on its softnets through the handler API, this one runs in
// gVisor's receive path: both ends use the tcpip.Endpoint API from waiter
// callbacks, which the pump goroutines call as they deliver each datagram,
// so no application goroutine is involved. A datagram each way counts as a
// packet.
func udpBulk(d time.Duration) (Result, error) {
	const size, window = 1472, 64
	p, err := newPair()
	if err != nil {
		return Result{}, err
	}
	defer p.close()
	srvAddr := full(addrB, 7)
	// The server's callback runs only on the a->b pump's goroutine, the
	// client's only on the b->a pump's, so each may keep one buffer.
	var srv tcpip.Endpoint
	sbuf := make([]byte, 2048)
	srv, closeSrv, err := udpEndpoint(p.b, &srvAddr, nil, func() {
		for {
			w := tcpip.SliceWriter(sbuf)
			res, terr := srv.Read(&w, tcpip.ReadOptions{NeedRemoteAddr: true})
			if terr != nil {
				return // *tcpip.ErrWouldBlock: drained
			}
			var r bytes.Reader
			r.Reset(sbuf[:res.Count])
			srv.Write(&r, tcpip.WriteOptions{To: &res.RemoteAddr})
		}
	})
	if err != nil {
		return Result{}, err
	}
	defer closeSrv()

	payload := make([]byte, size)
	var cli tcpip.Endpoint
	send := func() {
		var r bytes.Reader
		r.Reset(payload)
		cli.Write(&r, tcpip.WriteOptions{})
	}
	var echoes atomic.Uint64
	var running atomic.Bool
	cbuf := make([]byte, 2048)
	cli, closeCli, err := udpEndpoint(p.a, nil, &srvAddr, func() {
		for {
			w := tcpip.SliceWriter(cbuf)
			if _, terr := cli.Read(&w, tcpip.ReadOptions{}); terr != nil {
				return
			}
			echoes.Add(1)
			if running.Load() {
				send()
			}
		}
	})
	if err != nil {
		return Result{}, err
	}
	defer closeCli()

	// Warm up ARP: one echo before measuring.
	send()
	for t0 := time.Now(); echoes.Load() == 0; time.Sleep(100 * time.Microsecond) {
		if time.Since(t0) > 5*time.Second {
			return Result{}, errors.New("udp-bulk: warm-up echo timed out")
		}
	}
	base := echoes.Load()
	m := startMeter()
	running.Store(true)
	for i := 0; i < window; i++ {
		send()
	}
	// A lost datagram would shrink the window for good: refill it when
	// echoes stop coming (losses show in drops).
	deadline := time.Now().Add(d)
	last := echoes.Load()
	for time.Now().Before(deadline) {
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)))
		if n := echoes.Load(); n == last && time.Now().Before(deadline) {
			for i := 0; i < window; i++ {
				send()
			}
		} else {
			last = n
		}
	}
	n := echoes.Load() - base
	wall, cpu, allocs := m.stop()
	running.Store(false)
	drops := p.drops()
	if n == 0 {
		return Result{}, errors.New("udp-bulk: no echo came back")
	}
	pkts := 2 * n
	nbytes := float64(pkts) * size
	return Result{
		Stack:        "gvisor",
		Workload:     "udp-bulk",
		Softnets:     1,
		Packets:      pkts,
		Seconds:      wall.Seconds(),
		PPS:          float64(pkts) / wall.Seconds(),
		Gbps:         nbytes * 8 / wall.Seconds() / 1e9,
		NsPerPkt:     float64(wall.Nanoseconds()) / float64(pkts),
		AllocsPerPkt: float64(allocs) / float64(pkts),
		CPUSPerGiB:   cpu.Seconds() / (nbytes / (1 << 30)),
		Drops:        drops,
	}, nil
}

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object per line")
	duration := flag.Duration("duration", 2*time.Second, "run time of each measurement")
	workload := flag.String("workload", "tcp-bulk,tcp-conn,udp-bulk", "workloads to run, comma separated: tcp-bulk, tcp-conn, udp-bulk")
	flag.Parse()
	if *duration <= 0 {
		fmt.Fprintln(os.Stderr, "--duration must be positive")
		os.Exit(2)
	}
	runs := map[string]func(time.Duration) (Result, error){
		"tcp-bulk": tcpBulk,
		"tcp-conn": tcpConn,
		"udp-bulk": udpBulk,
	}
	var results []Result
	for _, w := range strings.Split(*workload, ",") {
		run, ok := runs[w]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown workload %q (have: tcp-bulk, tcp-conn, udp-bulk)\n", w)
			os.Exit(2)
		}
		r, err := run(*duration)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gvisor:", err)
			os.Exit(1)
		}
		results = append(results, r)
		if *asJSON {
			if err := writeJSON(os.Stdout, r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
	if !*asJSON {
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "stack\tworkload\tGbit/s\tMpkt/s\tns/pkt\tallocs/pkt\tCPU s/GiB\tconn/s\tdrops")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.3f\t%.1f\t%.3f\t%.3f\t%.0f\t%d\n", r.Stack, r.Workload,
				r.Gbps, r.PPS/1e6, r.NsPerPkt, r.AllocsPerPkt, r.CPUSPerGiB, r.CPS, r.Drops)
		}
		tw.Flush()
	}
}
