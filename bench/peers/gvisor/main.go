// Command gvisor runs netsplice's benchmark workloads (tcp-bulk, tcp-conn,
// udp-bulk, tcp-relay, udp-relay; see bench/ in the main module) on gVisor's
// netstack, so that `make bench` can print the two stacks side by side.
//
// Two gVisor stacks (IPv4 with ARP, TCP, UDP) each get one NIC: an Ethernet
// endpoint (link/ethernet) over an in-memory channel endpoint (link/channel).
// A goroutine per direction pumps frames from one channel endpoint's
// outbound queue into the other's inbound path: that pump is gVisor's
// equivalent of netsplice's in-memory wire (driver/memwire).
//
// The relay workloads (tcp-relay, udp-relay) are the comparison point for
// netsplice's relay appliance: three stacks (client, relay, server) share
// one such segment, a hub with a pump per stack, and the relay stack runs a
// userland relay over gonet conns that copies every byte, since gVisor has
// no splice.
//
// This is its own Go module so that the main module does not depend on
// gVisor. The JSON shape duplicates bench.Result of the main module; keep the
// field names in step with bench/result.go.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
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
	"gvisor.dev/gvisor/pkg/tcpip/header"
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

// Addresses of the relay workloads' three stacks, as in netsplice's
// bench.TCPRelay.
var (
	addrClient = tcpip.AddrFrom4([4]byte{203, 0, 113, 1})
	addrRelay  = tcpip.AddrFrom4([4]byte{203, 0, 113, 2})
	addrServer = tcpip.AddrFrom4([4]byte{203, 0, 113, 3})
)

// hub is gVisor stacks on one shared in-memory Ethernet segment, as
// netsplice's tcp-relay puts its three stacks on one memwire. Each stack
// has a channel endpoint and a pump that hands every frame the stack sends
// to the stack it is addressed to, or to all the others when it is a
// broadcast (ARP requests).
type hub struct {
	stacks []*stack.Stack
	eps    []*wireEnd
	macs   []tcpip.LinkAddress
	cancel context.CancelFunc
	pumps  sync.WaitGroup
}

// newHub starts a stack per address, the n-th (from 1) with MAC
// 02:00:00:00:01:n, all on one hub.
func newHub(addrs ...tcpip.Address) (*hub, error) {
	h := &hub{}
	for i, addr := range addrs {
		mac := tcpip.LinkAddress([]byte{2, 0, 0, 0, 1, byte(i + 1)})
		ep := &wireEnd{Endpoint: channel.New(queueLen, frameMTU, mac)}
		s, err := newStack(ep, addr)
		if err != nil {
			h.close()
			return nil, err
		}
		h.stacks = append(h.stacks, s)
		h.eps = append(h.eps, ep)
		h.macs = append(h.macs, mac)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	for i := range h.eps {
		h.pumps.Add(1)
		go h.pump(ctx, i)
	}
	return h, nil
}

// pump is the hub's wire out of stack from: like pair.pump, but it reads
// each frame's destination MAC to pick the stacks that get it. Each gets
// its own reference to the frame's storage, no payload is copied.
func (h *hub) pump(ctx context.Context, from int) {
	defer h.pumps.Done()
	for {
		pkt := h.eps[from].ReadContext(ctx)
		if pkt == nil {
			return
		}
		dst := header.EthernetBroadcastAddress
		if lh := pkt.LinkHeader().Slice(); len(lh) >= header.EthernetMinimumSize {
			dst = header.Ethernet(lh).DestinationAddress()
		}
		proto := pkt.NetworkProtocolNumber
		for i, to := range h.eps {
			if i == from || (dst != header.EthernetBroadcastAddress && dst != h.macs[i]) {
				continue
			}
			in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
			to.InjectInbound(proto, in)
			in.DecRef()
		}
		pkt.DecRef()
	}
}

// close stops the stacks and the pumps.
func (h *hub) close() {
	for _, s := range h.stacks {
		s.Close()
	}
	if h.cancel != nil {
		h.cancel()
	}
	h.pumps.Wait()
	for _, ep := range h.eps {
		ep.Close()
	}
	for _, s := range h.stacks {
		s.Wait()
	}
}

// drops counts what any stack on the hub dropped, as pair.drops does.
func (h *hub) drops() uint64 {
	var n uint64
	for i, s := range h.stacks {
		n += h.eps[i].dropped.Load()
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

// discard accepts connections on l until it closes and reads each to the
// end, adding what it read to received.
func discard(l net.Listener, received *atomic.Int64) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(io.Discard, countingReader{c, received})
			c.Close()
		}()
	}
}

// countingReader adds the bytes read through it to n.
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
	go discard(l, &received)
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

// relayMSS is the MSS that the relay workloads count forwarded segments
// in: a 1500-byte IP MTU less 40 bytes of IPv4 and TCP headers.
const relayMSS = 1460

// relayWarmUp is how long the relay workloads run before measuring, as
// netsplice's bench.TCPRelay does (past slow start, ARP resolved).
const relayWarmUp = 200 * time.Millisecond

// relayTCP is the userland TCP relay for one accepted connection c: it
// dials to, then copies both ways with io.Copy, a goroutine per direction.
// When one side ends, the copy half-closes the other; when both directions
// are done, both connections are closed.
func relayTCP(s *stack.Stack, c *gonet.TCPConn, to tcpip.FullAddress) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	b, err := gonet.DialContextTCP(ctx, s, to, ipv4.ProtocolNumber)
	cancel()
	if err != nil {
		c.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(c, b)
		c.CloseWrite()
	}()
	io.Copy(b, c)
	b.CloseWrite()
	<-done
	c.Close()
	b.Close()
}

// tcpRelay: conns bulk connections from the client stack through the relay
// stack to the server stack, which reads and discards (netsplice's
// bench.TCPRelay with one softnet). gVisor has no splice, so the relay is
// relayTCP, which copies every byte ("copy" mode). A packet is an
// MSS-sized segment's worth of the bytes the server received.
func tcpRelay(d time.Duration, conns int) (Result, error) {
	h, err := newHub(addrClient, addrRelay, addrServer)
	if err != nil {
		return Result{}, err
	}
	defer h.close()
	cl, rl, sv := h.stacks[0], h.stacks[1], h.stacks[2]
	srvAddr, relayAddr := full(addrServer, 9), full(addrRelay, 80)
	ls, err := gonet.ListenTCP(sv, srvAddr, ipv4.ProtocolNumber)
	if err != nil {
		return Result{}, err
	}
	defer ls.Close()
	var received atomic.Int64
	go discard(ls, &received)
	lr, err := gonet.ListenTCP(rl, relayAddr, ipv4.ProtocolNumber)
	if err != nil {
		return Result{}, err
	}
	defer lr.Close()
	go func() {
		for {
			c, err := lr.Accept()
			if err != nil {
				return
			}
			go relayTCP(rl, c.(*gonet.TCPConn), srvAddr)
		}
	}()
	var cs []*gonet.TCPConn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := gonet.DialContextTCP(ctx, cl, relayAddr, ipv4.ProtocolNumber)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("tcp-relay: dial: %w", err)
		}
		cs = append(cs, c)
	}
	var stop atomic.Bool
	var writers sync.WaitGroup
	for _, c := range cs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			buf := make([]byte, 256<<10)
			for !stop.Load() {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(relayWarmUp)
	m := startMeter()
	n0 := received.Load()
	time.Sleep(d)
	n := received.Load() - n0
	wall, cpu, allocs := m.stop()
	stop.Store(true)
	drops := h.drops()
	for _, c := range cs {
		c.Close()
	}
	writers.Wait()
	if n == 0 {
		return Result{}, errors.New("tcp-relay: no bytes arrived")
	}
	segs := uint64(n) / relayMSS
	return Result{
		Stack:        "gvisor",
		Workload:     "tcp-relay",
		Mode:         "copy",
		Softnets:     1,
		Packets:      segs,
		Seconds:      wall.Seconds(),
		Gbps:         float64(n) * 8 / wall.Seconds() / 1e9,
		PPS:          float64(segs) / wall.Seconds(),
		NsPerPkt:     float64(cpu.Nanoseconds()) / float64(max(segs, 1)),
		AllocsPerPkt: float64(allocs) / float64(max(segs, 1)),
		CPUSPerGiB:   cpu.Seconds() / (float64(n) / (1 << 30)),
		Drops:        drops,
	}, nil
}

// udpConn opens a UDP socket as a gonet conn, with udpEndpoint's 4 MiB
// buffers, bound to laddr and connected to raddr when given.
func udpConn(s *stack.Stack, laddr, raddr *tcpip.FullAddress) (*gonet.UDPConn, error) {
	wq := new(waiter.Queue)
	ep, terr := s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, errors.New(terr.String())
	}
	ep.SocketOptions().SetReceiveBufferSize(4<<20, true)
	ep.SocketOptions().SetSendBufferSize(4<<20, true)
	if laddr != nil {
		if terr := ep.Bind(*laddr); terr != nil {
			ep.Close()
			return nil, fmt.Errorf("bind: %s", terr)
		}
	}
	if raddr != nil {
		if terr := ep.Connect(*raddr); terr != nil {
			ep.Close()
			return nil, fmt.Errorf("connect: %s", terr)
		}
	}
	return gonet.NewUDPConn(wq, ep), nil
}

// relayUDP is the userland UDP relay: it reads what clients send to lis
// and forwards each datagram through a backend socket connected to to, one
// per client address, each with a goroutine that sends the replies back to
// its client. It returns, closing the backends, once lis is closed.
func relayUDP(s *stack.Stack, lis *gonet.UDPConn, to tcpip.FullAddress) {
	backends := map[netip.AddrPort]*gonet.UDPConn{}
	defer func() {
		for _, b := range backends {
			b.Close()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := lis.ReadFrom(buf)
		if err != nil {
			return
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		key := ua.AddrPort()
		b := backends[key]
		if b == nil {
			if b, err = udpConn(s, nil, &to); err != nil {
				continue
			}
			backends[key] = b
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := b.Read(buf)
					if err != nil {
						return
					}
					lis.WriteTo(buf[:n], ua)
				}
			}()
		}
		b.Write(buf[:n])
	}
}

// The udp-relay workload's shape, as in netsplice's bench.UDPRelay: each
// client socket keeps udpRelayWindow datagrams of udpRelaySize bytes in
// flight. udpRelayTimeout is how long a client socket may read nothing
// before it takes its window as lost and sends a fresh one.
const (
	udpRelaySize    = 1472
	udpRelayWindow  = 64
	udpRelayTimeout = 50 * time.Millisecond
)

// udpRelay: conns client sockets on the client stack send to relayUDP on the
// relay stack, which forwards to the server stack, which echoes every
// datagram back to its sender; the relay forwards each echo back to its
// client (netsplice's bench.UDPRelay with one softnet). It is closed-loop,
// as there: each client socket keeps udpRelayWindow datagrams of
// udpRelaySize bytes in flight and sends one new datagram for each echo it
// receives. gVisor has no splice, so the relay copies every datagram
// ("copy" mode). After relayWarmUp it measures for d. A packet is a
// datagram the relay forwarded: two per echo the clients received while
// measuring, one each way. ns_per_pkt and allocs_per_pkt are the whole
// process's (client, relay and server stacks and their goroutines) per such
// packet, as netsplice's are. Drops are the datagrams the clients sent over
// the whole run that never came back, counted once the loop has stopped and
// what was in flight has settled.
//
// A lost datagram never comes back to release its slot, so drops would
// shrink a socket's window over time, down to nothing. A client socket that
// has read nothing for udpRelayTimeout therefore takes its window as lost
// and re-sends a full one. Re-sent datagrams count as sent (so what was
// lost still counts as dropped) and their number goes to stderr. Each
// datagram carries its socket's window generation in its first 8 bytes and
// only an echo of the current generation sends the next datagram, so
// echoes of an old window that were late rather than lost do not grow the
// window beyond udpRelayWindow.
func udpRelay(d time.Duration, conns int) (Result, error) {
	const size, window, timeout = udpRelaySize, udpRelayWindow, udpRelayTimeout
	h, err := newHub(addrClient, addrRelay, addrServer)
	if err != nil {
		return Result{}, err
	}
	defer h.close()
	cl, rl, sv := h.stacks[0], h.stacks[1], h.stacks[2]
	srvAddr, relayAddr := full(addrServer, 7), full(addrRelay, 53)
	srv, err := udpConn(sv, &srvAddr, nil)
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	lis, err := udpConn(rl, &relayAddr, nil)
	if err != nil {
		return Result{}, err
	}
	defer lis.Close()
	go relayUDP(rl, lis, srvAddr)
	var cs []*gonet.UDPConn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		c, err := udpConn(cl, nil, &relayAddr)
		if err != nil {
			return Result{}, fmt.Errorf("udp-relay: client socket: %w", err)
		}
		cs = append(cs, c)
	}
	var sent, echoes, resends atomic.Uint64
	// Open every session with one exchange (generation 0) before the loop
	// starts: it resolves ARP and has the relay set up the socket's backend.
	hello, buf := make([]byte, size), make([]byte, 64<<10)
	for _, c := range cs {
		for deadline := time.Now().Add(5 * time.Second); ; {
			if _, err := c.Write(hello); err == nil {
				sent.Add(1)
			}
			c.SetReadDeadline(time.Now().Add(timeout))
			_, err := c.Read(buf)
			if err == nil {
				echoes.Add(1)
				break
			}
			if !isTimeout(err) {
				return Result{}, fmt.Errorf("udp-relay: %w", err)
			}
			if time.Now().After(deadline) {
				return Result{}, errors.New("udp-relay: no echo through the relay")
			}
		}
	}
	var stop atomic.Bool
	var clients sync.WaitGroup
	for _, c := range cs {
		clients.Add(1)
		go func() {
			defer clients.Done()
			out, in := make([]byte, size), make([]byte, 64<<10)
			gen := uint64(1)
			send := func(k int) {
				binary.LittleEndian.PutUint64(out, gen)
				for ; k > 0; k-- {
					if _, err := c.Write(out); err == nil {
						sent.Add(1)
					}
				}
			}
			armed := time.Now()
			c.SetReadDeadline(armed.Add(timeout))
			send(window)
			for {
				n, err := c.Read(in)
				if err != nil {
					if !isTimeout(err) {
						return // closed
					}
					if !stop.Load() {
						gen++
						resends.Add(window)
						send(window)
					}
					armed = time.Now()
					c.SetReadDeadline(armed.Add(timeout))
					continue
				}
				echoes.Add(1)
				if n >= 8 && binary.LittleEndian.Uint64(in) == gen && !stop.Load() {
					send(1)
				}
				// Push the deadline back every timeout/5 rather than per
				// datagram: each SetReadDeadline starts a timer.
				if now := time.Now(); now.Sub(armed) >= timeout/5 {
					armed = now
					c.SetReadDeadline(now.Add(timeout))
				}
			}
		}()
	}
	time.Sleep(relayWarmUp)
	m := startMeter()
	e0 := echoes.Load()
	time.Sleep(d)
	n := echoes.Load() - e0
	wall, cpu, allocs := m.stop()
	stop.Store(true)
	// Let what is still in flight come back: wait until no echo arrives for
	// two timeouts (at most 2s), then close the clients.
	for last, t0 := echoes.Load(), time.Now(); time.Since(t0) < 2*time.Second; {
		time.Sleep(2 * timeout)
		e := echoes.Load()
		if e == last {
			break
		}
		last = e
	}
	for _, c := range cs {
		c.Close()
	}
	clients.Wait()
	var drops uint64
	if tx, rx := sent.Load(), echoes.Load(); tx > rx {
		drops = tx - rx
	}
	if r := resends.Load(); r > 0 {
		fmt.Fprintf(os.Stderr, "gvisor: udp-relay: %d datagrams re-sent after %v read timeouts (counted as sent)\n", r, timeout)
	}
	if n == 0 {
		return Result{}, errors.New("udp-relay: no echo came back while measuring")
	}
	fwd := float64(2 * n) // datagrams the relay forwarded, both ways
	return Result{
		Stack:        "gvisor",
		Workload:     "udp-relay",
		Mode:         "copy",
		Softnets:     1,
		Packets:      2 * n,
		Seconds:      wall.Seconds(),
		Gbps:         fwd * size * 8 / wall.Seconds() / 1e9,
		PPS:          fwd / wall.Seconds(),
		NsPerPkt:     float64(cpu.Nanoseconds()) / fwd,
		AllocsPerPkt: float64(allocs) / fwd,
		CPUSPerGiB:   cpu.Seconds() / (fwd * size / (1 << 30)),
		Drops:        drops,
	}, nil
}

// isTimeout reports whether err is a read or write deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object per line")
	duration := flag.Duration("duration", 2*time.Second, "run time of each measurement")
	workload := flag.String("workload", "tcp-bulk,tcp-conn,udp-bulk", "workloads to run, comma separated: tcp-bulk, tcp-conn, udp-bulk, tcp-relay, udp-relay")
	conns := flag.Int("conns", 1, "tcp-relay: connections through the relay; udp-relay: client sockets (relay sessions)")
	flag.Parse()
	if *duration <= 0 {
		fmt.Fprintln(os.Stderr, "--duration must be positive")
		os.Exit(2)
	}
	if *conns <= 0 {
		fmt.Fprintln(os.Stderr, "--conns must be positive")
		os.Exit(2)
	}
	runs := map[string]func(time.Duration) (Result, error){
		"tcp-bulk":  tcpBulk,
		"tcp-conn":  tcpConn,
		"udp-bulk":  udpBulk,
		"tcp-relay": func(d time.Duration) (Result, error) { return tcpRelay(d, *conns) },
		"udp-relay": func(d time.Duration) (Result, error) { return udpRelay(d, *conns) },
	}
	var results []Result
	for _, w := range strings.Split(*workload, ",") {
		run, ok := runs[w]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown workload %q (have: tcp-bulk, tcp-conn, udp-bulk, tcp-relay, udp-relay)\n", w)
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
		fmt.Fprintln(tw, "stack\tworkload\tmode\tGbit/s\tMpkt/s\tns/pkt\tallocs/pkt\tCPU s/GiB\tconn/s\tdrops")
		for _, r := range results {
			mode := r.Mode
			if mode == "" {
				mode = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.3f\t%.1f\t%.3f\t%.3f\t%.0f\t%d\n", r.Stack, r.Workload, mode,
				r.Gbps, r.PPS/1e6, r.NsPerPkt, r.AllocsPerPkt, r.CPUSPerGiB, r.CPS, r.Drops)
		}
		tw.Flush()
	}
}
