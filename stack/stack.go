package stack

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/rss"
	"github.com/netsplice/netsplice/stack/header"
)

// ErrStopped is returned by operations on a stack that has been stopped.
var ErrStopped = errors.New("stack: stopped")

// ErrThreadsNotLocked is ThreadCPU's error on a running stack whose
// softnets do not hold OS threads of their own (Config.LockThreads).
var ErrThreadsNotLocked = errors.New("stack: softnets not locked to threads (Config.LockThreads)")

// Interface is a port attached to the stack with its IPv4 configuration.
// It is immutable after New.
type Interface struct {
	index   int
	port    driver.Port
	mac     header.MAC
	has4    bool // an IPv4 address (else the interface is IPv6-only)
	addr    netip.Prefix
	ip      [4]byte
	ip4more [][4]byte // secondary IPv4 addresses (InterfaceConfig.Secondary)
	mask    uint32
	bcast   [4]byte
	gateway netip.Addr
	gw      [4]byte
	mtu     int
	rss     rss.Config
	hasher  *rss.Hasher
	txCsum  driver.Offloads
	tso     bool // the port cuts TCP super-frames (TSO, with TCP checksum offload)

	gateway6 netip.Addr
	gw6      [16]byte

	// static4 and static6 are the configured neighbours
	// (InterfaceConfig.Neighbors), which every softnet's tables start with.
	static4 map[[4]byte]header.MAC
	static6 map[[16]byte]header.MAC

	// IPv6 (ipv6.go): has6 when Addr6 was given; ip6 are the addresses
	// of addr6, ll6 the link-local address, and snm6 the solicited-node
	// groups of all of them.
	has6  bool
	addr6 []netip.Prefix
	ip6   [][16]byte
	ll6   [16]byte
	snm6  [][16]byte
}

// Index returns the interface's position, as given to New.
func (i *Interface) Index() int { return i.index }

// Port returns the driver port.
func (i *Interface) Port() driver.Port { return i.port }

// Addr returns the interface's IPv4 address and prefix; it is the zero
// Prefix on an IPv6-only interface.
func (i *Interface) Addr() netip.Prefix { return i.addr }

// Addr6 returns the interface's IPv6 addresses and prefixes, without the
// link-local address.
func (i *Interface) Addr6() []netip.Prefix { return i.addr6 }

// LinkLocal returns the interface's IPv6 link-local address, or the zero
// Addr when the interface has no IPv6.
func (i *Interface) LinkLocal() netip.Addr {
	if !i.has6 {
		return netip.Addr{}
	}
	return netip.AddrFrom16(i.ll6)
}

// MAC returns the interface's hardware address.
func (i *Interface) MAC() header.MAC { return i.mac }

// onLink reports whether ip is inside the interface's prefix.
func (i *Interface) onLink(ip [4]byte) bool {
	return i.has4 && be32(ip)&i.mask == be32(i.ip)&i.mask
}

// isLocal4 reports whether ip is one of the interface's IPv4 addresses.
func (i *Interface) isLocal4(ip [4]byte) bool {
	if !i.has4 {
		return false
	}
	if ip == i.ip {
		return true
	}
	for _, a := range i.ip4more {
		if a == ip {
			return true
		}
	}
	return false
}

// isBroadcast reports whether ip is the limited or the subnet broadcast.
func (i *Interface) isBroadcast(ip [4]byte) bool {
	return ip == [4]byte{255, 255, 255, 255} || (i.mask != 0xffffffff && ip == i.bcast)
}

// queueFor returns the queue (and so the softnet) that receives packets
// from src to dst on this interface (protocol proto), as the port's RSS
// computes it. The addresses are the stack's 16-byte form (addr.go).
func (i *Interface) queueFor(proto uint8, src, dst [16]byte, sport, dport uint16) int {
	if is4(src) {
		return i.queueFor4(proto, as4(src), as4(dst), sport, dport)
	}
	var h uint32
	switch {
	case proto == header.ProtoUDP && i.rss.Types&rss.UDPv6 != 0,
		proto == header.ProtoTCP && i.rss.Types&rss.TCPv6 != 0:
		h = i.hasher.HashIPv6Ports(src, dst, sport, dport)
	case i.rss.Types&rss.IPv6 != 0:
		h = i.hasher.HashIPv6(src, dst)
	}
	return i.rss.RETA.Queue(h)
}

// queueFor4 is queueFor for IPv4 addresses.
func (i *Interface) queueFor4(proto uint8, src, dst [4]byte, sport, dport uint16) int {
	var h uint32
	switch {
	case proto == header.ProtoUDP && i.rss.Types&rss.UDPv4 != 0,
		proto == header.ProtoTCP && i.rss.Types&rss.TCPv4 != 0:
		h = i.hasher.HashIPv4Ports(src, dst, sport, dport)
	case i.rss.Types&rss.IPv4 != 0:
		h = i.hasher.HashIPv4(src, dst)
	}
	return i.rss.RETA.Queue(h)
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Stack is a userspace network stack over one or more ports.
type Stack struct {
	cfg    Config
	log    *zap.Logger
	ifaces []*Interface
	sn     []*Softnet
	base   time.Time
	// timers lends blocking calls their deadline timers (deadline.go).
	timers sync.Pool

	mu      sync.Mutex // guards the control-plane fields below
	udp     map[flowKey]*UDPConn
	pings   map[uint16]*PingConn
	nextEph uint16
	nextID  uint16
	homeRR  int

	tcpPorts   tcpPortTable // local ports of listeners and active opens (tcp_ports.go)
	nextTCPEph uint16
	dialRR     int
	isnSeed    maphash.Seed
	ts         tsClock // TCP timestamps (tcp_tsclock.go)

	started atomic.Bool
	stopped atomic.Bool
	stop    chan struct{}
	// unreserve gives back the Ps Start reserved (Config.ReserveProcs).
	unreserve atomic.Pointer[func()]
	wg        sync.WaitGroup
}

// New builds a stack over the given interfaces. Every port must have
// exactly cfg.Softnets queue pairs. The stack does not run until Start.
func New(cfg Config, ifcs ...InterfaceConfig) (*Stack, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(ifcs) == 0 {
		return nil, errors.New("stack: no interfaces")
	}
	s := &Stack{
		cfg:     cfg,
		log:     cfg.Logger,
		base:    time.Now(),
		udp:     make(map[flowKey]*UDPConn),
		pings:   make(map[uint16]*PingConn),
		nextEph: cfg.EphemeralPorts[0],
		nextID:  1,
		stop:    make(chan struct{}),

		nextTCPEph: cfg.EphemeralPorts[0],
		isnSeed:    maphash.MakeSeed(),
	}
	s.tcpPorts.init()
	s.ts.init()
	for i, ic := range ifcs {
		ifc, err := newInterface(i, ic, cfg.Softnets)
		if err != nil {
			return nil, err
		}
		for _, o := range s.ifaces {
			if o.has4 && ifc.has4 && o.addr.Addr() == ifc.addr.Addr() {
				return nil, fmt.Errorf("stack: address %v on two interfaces", ifc.addr)
			}
			for _, a := range ifc.ip6 {
				if o.isLocal6(a) {
					return nil, fmt.Errorf("stack: address %v on two interfaces", netip.AddrFrom16(a))
				}
			}
		}
		s.ifaces = append(s.ifaces, ifc)
	}
	for _, ifc := range s.ifaces {
		ifc.joinMulticast(s.log)
	}
	for i := 0; i < cfg.Softnets; i++ {
		sn, err := newSoftnet(s, i)
		if err != nil {
			return nil, err
		}
		s.sn = append(s.sn, sn)
	}
	for _, ifc := range s.ifaces {
		if !ifc.rssExact() {
			s.log.Info("port has no RSS across its queues; software steering decides the softnet",
				zap.String("port", ifc.port.Name()))
		}
	}
	// Announce every interface with a gratuitous ARP on the first poll.
	s.sn[0].tasks.Add(s.sn[0].announceTask, -1)
	return s, nil
}

func newInterface(i int, ic InterfaceConfig, softnets int) (*Interface, error) {
	if ic.Port == nil {
		return nil, fmt.Errorf("stack: interface %d has no port", i)
	}
	name := ic.Port.Name()
	if n := ic.Port.NumQueues(); n != softnets {
		return nil, fmt.Errorf("stack: port %s has %d queues, want one per softnet (%d)", name, n, softnets)
	}
	ifc := &Interface{
		index:  i,
		port:   ic.Port,
		mac:    header.MAC(ic.Port.MAC()),
		mtu:    ic.Port.MTU(),
		rss:    ic.Port.RSS(),
		txCsum: ic.Port.Offloads(),
	}
	ifc.tso = ifc.txCsum&(driver.OffloadTxTCPSeg|driver.OffloadTxTCPChecksum) == driver.OffloadTxTCPSeg|driver.OffloadTxTCPChecksum
	switch {
	case ic.Addr.IsValid():
		if err := ifc.init4(ic.Addr); err != nil {
			return nil, err
		}
	case len(ic.Addr6) == 0:
		return nil, fmt.Errorf("stack: interface %s has no address (give an IPv4 prefix, IPv6 prefixes, or both)", name)
	}
	ifc.hasher = rss.NewHasher(ifc.rss.Key)
	if len(ifc.rss.RETA) == 0 {
		return nil, fmt.Errorf("stack: port %s reports an empty RSS redirection table", name)
	}
	addr6 := ic.Addr6
	for _, a := range ic.Secondary {
		if a.Is4() || a.Is4In6() {
			a = a.Unmap()
			if !ifc.has4 || !ifc.addr.Contains(a) || a == ifc.addr.Addr() || a == netip.AddrFrom4(ifc.bcast) || ifc.isLocal4(a.As4()) {
				return nil, fmt.Errorf("stack: interface %s: secondary address %v is not another host address in %v", name, a, ifc.addr)
			}
			ifc.ip4more = append(ifc.ip4more, a.As4())
			continue
		}
		in := -1
		for k, p := range ic.Addr6 {
			if p.Contains(a) {
				in = k
				break
			}
		}
		if in < 0 || a.Zone() != "" {
			return nil, fmt.Errorf("stack: interface %s: secondary address %v is inside none of its IPv6 prefixes %v", name, a, ic.Addr6)
		}
		addr6 = append(addr6[:len(addr6):len(addr6)], netip.PrefixFrom(a, ic.Addr6[in].Bits()))
	}
	if err := ifc.init6(addr6); err != nil {
		return nil, err
	}
	if ic.Gateway.IsValid() {
		if !ifc.has4 || !ic.Gateway.Is4() || !ic.Addr.Contains(ic.Gateway) || ic.Gateway.As4() == ifc.ip {
			return nil, fmt.Errorf("stack: interface %s: gateway %v is not another address in %v", name, ic.Gateway, ic.Addr)
		}
		ifc.gateway = ic.Gateway
		ifc.gw = ic.Gateway.As4()
	}
	if g := ic.Gateway6; g.IsValid() {
		switch {
		case !ifc.has6:
			return nil, fmt.Errorf("stack: interface %s: gateway %v needs an IPv6 address on the interface", name, g)
		case !g.Is6() || g.Is4In6() || g.Zone() != "" || g.IsMulticast() || g.IsUnspecified() || g.IsLoopback():
			return nil, fmt.Errorf("stack: interface %s: gateway %v is not an IPv6 unicast address", name, g)
		case ifc.isLocal6(g.As16()):
			return nil, fmt.Errorf("stack: interface %s: gateway %v is the interface's own address", name, g)
		case !g.IsLinkLocalUnicast() && !ifc.onLink6(g.As16()):
			return nil, fmt.Errorf("stack: interface %s: gateway %v is neither link-local nor inside %v", name, g, ifc.addr6)
		}
		ifc.gateway6, ifc.gw6 = g, g.As16()
	}
	if err := ifc.initNeighbors(ic.Neighbors); err != nil {
		return nil, err
	}
	return ifc, nil
}

// initNeighbors validates and records the interface's static neighbours.
func (i *Interface) initNeighbors(ns []Neighbor) error {
	name := i.port.Name()
	for _, n := range ns {
		a := n.Addr.Unmap()
		switch {
		case len(n.MAC) != 6 || n.MAC[0]&1 != 0 || [6]byte(n.MAC) == [6]byte{}:
			return fmt.Errorf("stack: interface %s: neighbour %v: %q is not a unicast Ethernet address", name, n.Addr, n.MAC)
		case a.Is4():
			ip := a.As4()
			if !i.has4 || !i.addr.Contains(a) || ip == i.bcast || i.isLocal4(ip) {
				return fmt.Errorf("stack: interface %s: neighbour %v is not another host address in %v", name, a, i.addr)
			}
			if i.static4 == nil {
				i.static4 = make(map[[4]byte]header.MAC)
			}
			i.static4[ip] = header.MAC(n.MAC)
		case a.Is6():
			ip := a.As16()
			if !i.has6 || a.Zone() != "" || a.IsMulticast() || i.isLocal6(ip) || !a.IsLinkLocalUnicast() && !i.onLink6(ip) {
				return fmt.Errorf("stack: interface %s: neighbour %v is neither link-local nor another address inside %v", name, a, i.addr6)
			}
			if i.static6 == nil {
				i.static6 = make(map[[16]byte]header.MAC)
			}
			i.static6[ip] = header.MAC(n.MAC)
		default:
			return fmt.Errorf("stack: interface %s: neighbour without an address", name)
		}
	}
	return nil
}

// init4 validates and records the interface's IPv4 address.
func (i *Interface) init4(p netip.Prefix) error {
	name := i.port.Name()
	a := p.Addr()
	if !a.Is4() {
		return fmt.Errorf("stack: interface %s: address %v is not an IPv4 prefix", name, p)
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || p.Bits() < 1 {
		return fmt.Errorf("stack: interface %s: %v cannot be an interface address", name, p)
	}
	if i.mtu < 68 {
		return fmt.Errorf("stack: port %s: MTU %d below IPv4's minimum 68", name, i.mtu)
	}
	i.has4, i.addr, i.ip = true, p, a.As4()
	i.mask = uint32(0xffffffff) << (32 - p.Bits())
	b := be32(i.ip) | ^i.mask
	i.bcast = [4]byte{byte(b >> 24), byte(b >> 16), byte(b >> 8), byte(b)}
	return nil
}

// rssExact reports whether the port spreads flows over all its queues
// (hardware or software RSS with a table naming every queue).
func (i *Interface) rssExact() bool {
	if i.port.NumQueues() == 1 {
		return true
	}
	seen := make(map[uint16]bool)
	for _, q := range i.rss.RETA {
		seen[q] = true
	}
	return len(seen) == i.port.NumQueues() && i.rss.Types != 0
}

// Interfaces returns the stack's interfaces.
func (s *Stack) Interfaces() []*Interface { return s.ifaces }

// NumSoftnets returns the number of softnets.
func (s *Stack) NumSoftnets() int { return len(s.sn) }

// Softnet returns softnet i.
func (s *Stack) Softnet(i int) *Softnet { return s.sn[i] }

// Logger returns the stack's logger.
func (s *Stack) Logger() *zap.Logger { return s.log }

// now returns the stack's monotonic clock in nanoseconds.
func (s *Stack) now() int64 { return int64(time.Since(s.base)) }

// locksThreads reports whether the softnets hold OS threads of their own
// (Config.LockThreads): busy polling, pinning and a ThreadInit (a DPDK
// lcore) need one thread per softnet.
func (s *Stack) locksThreads() bool {
	c := &s.cfg
	return c.LockThreads || c.Poll == PollBusy || len(c.CPUs) > 0 || c.ThreadInit != nil
}

// Start runs one goroutine per softnet: locked to an OS thread (and
// pinned when CPUs are configured) where locksThreads says so. Without
// Start, a test may drive the softnets itself with Softnet.Poll from one
// goroutine.
func (s *Stack) Start() error {
	if s.stopped.Load() {
		return ErrStopped
	}
	if s.started.Swap(true) {
		return errors.New("stack: already started")
	}
	s.setRxCoalesce(!s.cfg.TCP.NoCoalesce)
	if s.cfg.ReserveProcs {
		restore := ReserveProcs(len(s.sn))
		s.unreserve.Store(&restore)
	}
	for _, sn := range s.sn {
		s.wg.Add(1)
		go sn.run()
	}
	s.log.Info("stack started", zap.Int("softnets", len(s.sn)), zap.Stringer("poll", s.cfg.Poll),
		zap.Int("interfaces", len(s.ifaces)))
	return nil
}

// setRxCoalesce asks every port that can coalesce received TCP segments
// (driver.RxCoalescer, a NIC's LRO) to, or to stop. Receive coalescing in
// software (gro.go) and the port's go together: TCPConfig.NoCoalesce
// turns both off.
func (s *Stack) setRxCoalesce(on bool) {
	for _, ifc := range s.ifaces {
		rc, ok := ifc.port.(driver.RxCoalescer)
		if !ok {
			continue
		}
		err := rc.SetRxCoalesce(on)
		switch {
		case err != nil && on:
			s.log.Warn("port cannot coalesce received segments; they arrive one by one", zap.String("port", ifc.port.Name()), zap.Error(err))
		case err != nil && !s.stopped.Load():
			// The stack takes coalesced frames anyway (Softnet.poll).
			s.log.Warn("port keeps coalescing received segments though receive coalescing is off", zap.String("port", ifc.port.Name()), zap.Error(err))
		}
	}
}

// Stop stops the softnets and waits for them. Sockets stay usable only
// for Close. The ports are not closed.
func (s *Stack) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	close(s.stop)
	for _, sn := range s.sn {
		sn.wakeup()
	}
	s.wg.Wait()
	s.setRxCoalesce(false)
	if restore := s.unreserve.Swap(nil); restore != nil {
		(*restore)()
	}
	s.log.Info("stack stopped")
}

// Counters returns the counters summed over all softnets, with the ports'
// own counters (port_*) folded in.
func (s *Stack) Counters() Counters {
	var c Counters
	for _, sn := range s.sn {
		sc := sn.Counters()
		c.Add(&sc)
	}
	for _, ifc := range s.ifaces {
		ps := ifc.port.Stats()
		c[PortRxPackets] += ps.RxPackets
		c[PortTxPackets] += ps.TxPackets
		c[PortRxMissed] += ps.RxMissed
		c[PortRxNoBuf] += ps.RxNoBuf
		c[PortTxErrors] += ps.TxErrors
	}
	return c
}

// call runs fn on softnet sn and waits for it. On a stack that is not
// started, the caller is the softnets' driver and fn runs inline.
func (s *Stack) call(sn *Softnet, fn func()) error {
	if !s.started.Load() {
		fn()
		sn.publish() // as the end of a loop iteration would
		return nil
	}
	if s.stopped.Load() {
		return ErrStopped
	}
	done := make(chan struct{})
	t := newCallTask(sn, fn, done)
	sn.tasks.Add(t, -1)
	select {
	case <-done:
		return nil
	case <-s.stop:
		// The softnet may have run it before stopping.
		select {
		case <-done:
			return nil
		default:
			return ErrStopped
		}
	}
}

// Call runs fn on softnet sn and waits for it to finish: the way other
// goroutines reach softnet-owned state. It must not be called from sn
// itself (from a softnet, add a task instead). On a stack that is not
// started, fn runs inline.
func (s *Stack) Call(sn *Softnet, fn func()) error { return s.call(sn, fn) }

// callAll runs fn on every softnet and waits for all of them.
func (s *Stack) callAll(fn func(sn *Softnet)) error {
	for _, sn := range s.sn {
		if err := s.call(sn, func() { fn(sn) }); err != nil {
			return err
		}
	}
	return nil
}

// ThreadCPU returns the CPU time the softnets' threads have used, summed:
// each softnet reads its own thread's clock (CLOCK_THREAD_CPUTIME_ID) in
// a task. On a stack that was not started it reads the caller's thread;
// on a running one it needs softnets that hold their threads
// (locksThreads), else it returns ErrThreadsNotLocked. Benchmarks take
// the difference of two readings to charge a workload's CPU to this stack
// alone, apart from other stacks or goroutines in the same process.
func (s *Stack) ThreadCPU() (time.Duration, error) {
	if s.started.Load() && !s.locksThreads() {
		return 0, ErrThreadsNotLocked
	}
	var total time.Duration
	for _, sn := range s.sn {
		var d time.Duration
		var err error
		if cerr := s.call(sn, func() { d, err = ThreadCPUTime() }); cerr != nil {
			return 0, cerr
		}
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// ThreadCPUTime returns the calling OS thread's CPU time. The caller must
// be locked to its thread (runtime.LockOSThread) for the reading to mean
// anything.
func ThreadCPUTime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
