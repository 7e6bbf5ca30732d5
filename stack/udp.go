package stack

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// The default ephemeral port range (RFC 6335 section 6).
const (
	ephemeralLow  = 49152
	ephemeralHigh = 65535
)

// UDPHandler receives datagrams on the softnet instead of the socket's
// receive ring: the zero-copy API for code that runs on softnets (relays,
// generators, benchmarks). It owns pk, whose data starts at the IPv4 or
// IPv6 header (no extension headers: the stack removes them; see
// UDPPayload, UDPSource and UDPDestination); it must free pk (Softnet.Free) or
// pass it on (UDPConn.SendPacket). It runs on the softnet that received the
// datagram and must not block.
type UDPHandler func(sn *Softnet, c *UDPConn, pk *driver.Packet)

// UDPOptions tunes a UDP socket. The zero value is fine.
type UDPOptions struct {
	// Handler, if set, receives datagrams on the softnet (see UDPHandler).
	Handler UDPHandler
	// QueueSize overrides the stack's receive ring size.
	QueueSize int
	// Steer, when a connected socket picks its local port, asks for a
	// port whose reply traffic RSS steers to softnet Softnet, so that the
	// socket lives on that softnet.
	Steer   bool
	Softnet int
}

// UDPConn is a UDP socket. It implements net.PacketConn, and net.Conn
// when connected. Its methods are safe for concurrent use.
type UDPConn struct {
	ep        endpoint
	key       flowKey
	connected bool
	ifc       *Interface // connected: the route's interface
	nexthop   [16]byte
	handler   UDPHandler
	splice    atomic.Pointer[UDPHandler] // set while the socket is a splice source
	closeHook atomic.Pointer[func()]

	// The send request, guarded by ep.wmu.
	reqBuf   []byte
	reqDst   [16]byte
	reqDport uint16
}

// UDPPayload returns the payload of a datagram handed to a UDPHandler.
func UDPPayload(pk *driver.Packet) []byte {
	return udpOf(pk.Data()).Payload()
}

// udpOf returns the UDP header and payload of a datagram whose data
// starts at its IP header.
func udpOf(ip []byte) header.UDP {
	if ip[0]>>4 == 6 {
		return header.UDP(ip[header.IPv6HeaderLen:])
	}
	return header.UDP(ip[header.IPv4(ip).HeaderLen():])
}

// UDPSource returns the sender of a datagram handed to a UDPHandler.
func UDPSource(pk *driver.Packet) netip.AddrPort {
	ip := pk.Data()
	port := udpOf(ip).SrcPort()
	if ip[0]>>4 == 6 {
		return netip.AddrPortFrom(header.IPv6(ip).SrcAddr(), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4(header.IPv4(ip).Src()), port)
}

// UDPDestination returns the local address and port a datagram handed to
// a UDPHandler was sent to.
func UDPDestination(pk *driver.Packet) netip.AddrPort {
	ip := pk.Data()
	port := udpOf(ip).DstPort()
	if ip[0]>>4 == 6 {
		return netip.AddrPortFrom(header.IPv6(ip).DstAddr(), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4(header.IPv4(ip).Dst()), port)
}

// udpInput demultiplexes a received datagram over IPv4. It owns pk.
func (sn *Softnet) udpInput(ifc *Interface, pk *driver.Packet, ip header.IPv4, bcast bool) {
	src, dst := ip.Src(), ip.Dst()
	u := header.UDP(ip.Payload())
	e, nic := nicVerdict(pk, driver.RxL4ChecksumGood, driver.RxL4ChecksumBad)
	if !nic {
		e = u.Check(src, dst)
	} else if e == header.OK {
		e = u.CheckHeader()
	}
	if !sn.checkL4(pk, e, UDPDropChecksum, UDPDropBad) {
		return
	}
	sn.inc(UDPRx)
	// The connected socket, the one bound to the address, to 0.0.0.0,
	// to :: (both families).
	key := flow4{laddr: dst, lport: u.DstPort(), raddr: src, rport: u.SrcPort()}
	c := sn.udp.v4[key]
	if c == nil {
		key.raddr, key.rport = [4]byte{}, 0
		if c = sn.udp.v4[key]; c == nil {
			key.laddr = [4]byte{}
			if c = sn.udp.v4[key]; c == nil {
				c = sn.udp.v6[flowKey{lport: key.lport}]
			}
		}
	}
	if c == nil {
		sn.inc(UDPNoPort)
		if !bcast {
			sn.icmpError(ifc, pk, ip, header.ICMPDestUnreachable, header.ICMPPortUnreachable)
		}
		sn.free(pk)
		return
	}
	// From here on the packet starts at its IP header.
	pk.TrimFront(header.EthernetHeaderLen)
	pk.Truncate(len(ip))
	sn.udpDeliver(c, pk)
}

// udpInput6 demultiplexes a received datagram over IPv6 whose UDP header
// starts at off. It owns pk.
func (sn *Softnet) udpInput6(ifc *Interface, pk *driver.Packet, ip header.IPv6, off int, mcast bool) {
	src, dst := ip.Src(), ip.Dst()
	u := header.UDP(ip[off:])
	e, nic := nicVerdict(pk, driver.RxL4ChecksumGood, driver.RxL4ChecksumBad)
	if !nic {
		e = u.CheckIPv6(src, dst)
	} else if e == header.OK {
		// The checksum is mandatory over IPv6, verified or not.
		if e = u.CheckHeader(); e == header.OK && u.Checksum() == 0 {
			e = header.ErrChecksum
		}
	}
	if !sn.checkL4(pk, e, UDPDropChecksum, UDPDropBad) {
		return
	}
	sn.inc(UDPRx)
	key := flowKey{laddr: dst, lport: u.DstPort(), raddr: src, rport: u.SrcPort()}
	c := sn.udp.v6[key]
	if c == nil {
		key.raddr, key.rport = [16]byte{}, 0
		if c = sn.udp.v6[key]; c == nil {
			key.laddr = [16]byte{}
			c = sn.udp.v6[key]
		}
	}
	if c == nil || mcast {
		sn.inc(UDPNoPort)
		if !mcast {
			sn.icmp6Error(ifc, pk, ip, header.ICMPv6DestUnreachable, header.ICMPv6PortUnreachable, 0, ICMP6UnreachTx)
		}
		sn.free(pk)
		return
	}
	// From here on the packet starts at its IPv6 header, the UDP header
	// right after it.
	ip = strip6(ip, off, header.ProtoUDP)
	pk.TrimFront(header.EthernetHeaderLen)
	pk.Truncate(len(ip))
	sn.udpDeliver(c, pk)
}

// udpDeliver hands a datagram, its data from the IP header on, to its
// socket's splice, handler or receive ring.
func (sn *Softnet) udpDeliver(c *UDPConn, pk *driver.Packet) {
	sn.inc(UDPDelivered)
	if h := c.splice.Load(); h != nil {
		(*h)(sn, c, pk)
		return
	}
	if c.handler != nil {
		c.handler(sn, c, pk)
		return
	}
	c.Queue(sn, pk)
}

// Queue puts a datagram (data from its IPv4 header on, as handlers get it)
// on the socket's receive ring for its reader; a splice that stops before
// a datagram leaves it there. It runs on the softnet sn.
func (c *UDPConn) Queue(sn *Softnet, pk *driver.Packet) {
	if !c.ep.deliver(sn, pk) {
		sn.inc(UDPDropQueueFull)
	}
}

// Connected reports whether the socket has a peer.
func (c *UDPConn) Connected() bool { return c.connected }

// Closed reports whether the socket was closed.
func (c *UDPConn) Closed() bool { return c.ep.closed.Load() }

// payloadSum is a datagram payload's one's complement sum when its
// writer knows it (SendPacketSummed); the zero value is unknown.
type payloadSum struct {
	v     uint32
	known bool
}

// udpOutput prepends a UDP header to the payload in pk and sends it to
// dst, in either family, through nexthop. It owns pk. A known payload
// sum completes the checksum without reading the payload.
func (sn *Softnet) udpOutput(c *UDPConn, ifc *Interface, pk *driver.Packet, dst [16]byte, dport uint16, nexthop [16]byte, sum payloadSum) error {
	n := pk.Len()
	v4 := is4(dst)
	if n > ifc.mtu-udpIPHeaderLen(v4) {
		sn.free(pk)
		return syscall.EMSGSIZE
	}
	b := pk.Prepend(header.UDPHeaderLen)
	if b == nil {
		sn.inc(TxDropNoBuf)
		sn.free(pk)
		return syscall.ENOBUFS
	}
	src := c.key.laddr
	switch {
	case src == [16]byte{} && v4, src == any4 && v4:
		src = mapped4(ifc.ip)
	case src == [16]byte{}: // :: sends in either family
		src = ifc.src6(dst)
	case is4(src) != v4: // 0.0.0.0 or an address of the other family
		sn.free(pk)
		return syscall.EAFNOSUPPORT
	}
	u := header.UDP(b)
	l := uint16(n + header.UDPHeaderLen)
	u.Encode(c.key.lport, dport, l)
	offload := ifc.txCsum&driver.OffloadTxUDPChecksum != 0
	sn.inc(UDPTx)
	if v4 {
		s4, d4 := as4(src), as4(dst)
		switch pseudo := header.PseudoHeaderChecksum(header.ProtoUDP, s4, d4, l); {
		case offload:
			u.SetChecksumField(header.Fold(pseudo))
			pk.Flags |= driver.TxUDPChecksum
		case sum.known:
			u.SetChecksumSummed(pseudo, sum.v)
		default:
			u.SetChecksum(s4, d4)
		}
		sn.ipOutput(ifc, pk, header.ProtoUDP, s4, d4, as4(nexthop))
		return nil
	}
	switch pseudo := header.PseudoHeaderChecksumIPv6(header.ProtoUDP, src, dst, uint32(l)); {
	case offload:
		u.SetChecksumField(header.Fold(pseudo))
		pk.Flags |= driver.TxUDPChecksum
	case sum.known:
		u.SetChecksumSummed(pseudo, sum.v)
	default:
		u.SetChecksumIPv6(src, dst)
	}
	sn.ip6Output(ifc, pk, header.ProtoUDP, src, dst, nexthop)
	return nil
}

// udpIPHeaderLen returns the IP and UDP header bytes of a datagram.
func udpIPHeaderLen(v4 bool) int {
	if v4 {
		return header.IPv4MinHeaderLen + header.UDPHeaderLen
	}
	return header.IPv6HeaderLen + header.UDPHeaderLen
}

// SendPacket sends the payload in pk to dst (ignored when c is connected)
// from softnet sn, which must be the softnet running the caller. pk's data
// is the payload and needs 62 bytes of headroom (42 over IPv4); SendPacket
// owns pk, also when it returns an error.
func (c *UDPConn) SendPacket(sn *Softnet, pk *driver.Packet, dst netip.AddrPort) error {
	return c.sendPacket(sn, pk, dst, payloadSum{})
}

// SendPacketSummed is SendPacket for a payload whose sum the caller
// knows: sum is header.Checksum of the payload bytes from an initial 0
// (a template's sum, for instance, chained with the bytes that vary).
// The stack completes the UDP checksum from it without reading the
// payload again. A wrong sum sends a datagram its receiver drops.
func (c *UDPConn) SendPacketSummed(sn *Softnet, pk *driver.Packet, dst netip.AddrPort, sum uint32) error {
	return c.sendPacket(sn, pk, dst, payloadSum{v: sum, known: true})
}

func (c *UDPConn) sendPacket(sn *Softnet, pk *driver.Packet, dst netip.AddrPort, sum payloadSum) error {
	if c.ep.closed.Load() {
		sn.free(pk)
		return net.ErrClosed
	}
	if c.connected {
		return sn.udpOutput(c, c.ifc, pk, c.key.raddr, c.key.rport, c.nexthop, sum)
	}
	if !dst.Addr().IsValid() {
		sn.free(pk)
		return syscall.EAFNOSUPPORT
	}
	d := addrOf(dst.Addr())
	ifc, _, nh, ok := sn.st.routeTo(d)
	if !ok {
		sn.inc(IPDropNoRoute)
		sn.free(pk)
		return syscall.ENETUNREACH
	}
	return sn.udpOutput(c, ifc, pk, d, dst.Port(), nh, sum)
}

// NewPacket returns an empty packet for a datagram of the connected
// socket c, from softnet sn's pool for c's interface, with headroom for
// the headers SendPacket puts in front; sn must be the softnet running the
// caller. Append the payload and hand it to SendPacket. It returns nil
// when the pool is empty (counted as tx_drop_nobuf) or c is not
// connected. A generator building datagrams on the softnet uses it
// instead of Write, which waits for the softnet once per datagram.
func (c *UDPConn) NewPacket(sn *Softnet) *driver.Packet {
	if !c.connected {
		return nil
	}
	return sn.alloc(c.ifc)
}

// Free returns a packet a handler received, on the softnet it runs on.
func (sn *Softnet) Free(pk *driver.Packet) { sn.free(pk) }

// sendCopy builds and sends the datagram of the socket's current request.
// It runs on the home softnet.
func (c *UDPConn) sendCopy(sn *Softnet) error {
	ifc, nh := c.ifc, c.nexthop
	dst, dport := c.reqDst, c.reqDport
	if !c.connected {
		var ok bool
		if ifc, _, nh, ok = sn.st.routeTo(dst); !ok {
			sn.inc(IPDropNoRoute)
			return syscall.ENETUNREACH
		}
	}
	if len(c.reqBuf) > ifc.mtu-udpIPHeaderLen(is4(dst)) {
		return syscall.EMSGSIZE
	}
	pk := sn.alloc(ifc)
	if pk == nil {
		return syscall.ENOBUFS
	}
	b := pk.Append(len(c.reqBuf))
	if b == nil {
		sn.free(pk)
		return syscall.EMSGSIZE
	}
	copy(b, c.reqBuf)
	return sn.udpOutput(c, ifc, pk, dst, dport, nh, payloadSum{})
}

// ListenUDP opens an unconnected UDP socket bound to laddr. An unspecified
// address binds every interface; port 0 picks an ephemeral port.
func (s *Stack) ListenUDP(laddr netip.AddrPort, opts *UDPOptions) (*UDPConn, error) {
	return s.openUDP(laddr, netip.AddrPort{}, opts)
}

// DialUDP opens a UDP socket connected to raddr: it receives only from
// raddr and sends only there. laddr may be the zero value: the route's
// interface address and an ephemeral port are used.
func (s *Stack) DialUDP(laddr, raddr netip.AddrPort, opts *UDPOptions) (*UDPConn, error) {
	if !raddr.IsValid() || raddr.Port() == 0 || raddr.Addr().IsUnspecified() || raddr.Addr().IsMulticast() {
		return nil, s.udpErr("dial", laddr, raddr, syscall.EINVAL)
	}
	return s.openUDP(laddr, raddr, opts)
}

func (s *Stack) udpErr(op string, l, r netip.AddrPort, err error) error {
	oe := &net.OpError{Op: op, Net: "udp", Err: err}
	if l.IsValid() {
		oe.Source = net.UDPAddrFromAddrPort(l)
	}
	if r.IsValid() {
		oe.Addr = net.UDPAddrFromAddrPort(r)
	}
	return oe
}

func (s *Stack) openUDP(laddr, raddr netip.AddrPort, opts *UDPOptions) (*UDPConn, error) {
	if opts == nil {
		opts = &UDPOptions{}
	}
	op := "listen"
	if raddr.IsValid() {
		op = "dial"
	}
	if s.stopped.Load() {
		return nil, s.udpErr(op, laddr, raddr, ErrStopped)
	}
	c := &UDPConn{handler: opts.Handler}
	if laddr.IsValid() {
		la := laddr.Addr()
		if la.Zone() != "" {
			return nil, s.udpErr(op, laddr, raddr, syscall.EINVAL)
		}
		c.key.laddr, c.key.lport = addrOf(la), laddr.Port()
		if !la.IsUnspecified() && s.localIface(c.key.laddr) == nil {
			return nil, s.udpErr(op, laddr, raddr, syscall.EADDRNOTAVAIL)
		}
	}
	if raddr.IsValid() {
		c.connected = true
		c.key.raddr, c.key.rport = addrOf(raddr.Addr()), raddr.Port()
		if laddr.IsValid() && c.key.laddr != ([16]byte{}) && is4(c.key.laddr) != is4(c.key.raddr) {
			return nil, s.udpErr(op, laddr, raddr, syscall.EAFNOSUPPORT)
		}
		ifc, src, nh, ok := s.routeTo(c.key.raddr)
		if !ok {
			return nil, s.udpErr(op, laddr, raddr, syscall.ENETUNREACH)
		}
		c.ifc, c.nexthop = ifc, nh
		if c.key.laddr == ([16]byte{}) || c.key.laddr == any4 {
			c.key.laddr = src
		}
	}
	queue := opts.QueueSize
	if queue == 0 {
		queue = s.cfg.UDPQueueSize
	}
	if queue < 1 {
		return nil, s.udpErr(op, laddr, raddr, syscall.EINVAL)
	}

	s.mu.Lock()
	want := -1
	if c.connected && opts.Steer {
		if opts.Softnet < 0 || opts.Softnet >= len(s.sn) {
			s.mu.Unlock()
			return nil, s.udpErr(op, laddr, raddr, syscall.EINVAL)
		}
		want = opts.Softnet
	}
	if c.key.lport == 0 {
		port, ok := s.pickUDPPort(c, want)
		if !ok {
			s.mu.Unlock()
			return nil, s.udpErr(op, laddr, raddr, syscall.EADDRNOTAVAIL)
		}
		c.key.lport = port
	} else if s.udpConflict(c.key) {
		s.mu.Unlock()
		return nil, s.udpErr(op, laddr, raddr, syscall.EADDRINUSE)
	}
	var home *Softnet
	if c.connected {
		home = s.sn[c.ifc.queueFor(header.ProtoUDP, c.key.raddr, c.key.laddr, c.key.rport, c.key.lport)]
	} else {
		home = s.sn[s.homeRR%len(s.sn)]
		s.homeRR++
	}
	s.udp[c.key] = c
	s.mu.Unlock()

	if err := c.ep.init(s, home, queue, c.sendCopy); err != nil {
		s.removeUDP(c.key)
		return nil, s.udpErr(op, laddr, raddr, err)
	}
	key := c.key
	if err := s.callAll(func(sn *Softnet) { sn.udp.put(key, c) }); err != nil {
		s.removeUDP(key)
		return nil, s.udpErr(op, laddr, raddr, err)
	}
	return c, nil
}

func (s *Stack) removeUDP(k flowKey) {
	s.mu.Lock()
	delete(s.udp, k)
	s.mu.Unlock()
}

// udpConflict reports whether binding k clashes with an existing socket:
// the same 4-tuple, or two unconnected binds of one port whose addresses
// overlap. A connected socket may share its local port with an
// unconnected one (it takes the datagrams of its peer). Caller holds s.mu.
func (s *Stack) udpConflict(k flowKey) bool {
	if _, ok := s.udp[k]; ok {
		return true
	}
	if k.rport != 0 {
		return false
	}
	for o := range s.udp {
		if o.lport == k.lport && o.rport == 0 && bindsOverlap(o.laddr, k.laddr) {
			return true
		}
	}
	return false
}

// bindsOverlap reports whether two local addresses of unconnected binds
// take some datagrams in common: equal, either is :: (both families), or
// one is 0.0.0.0 and the other IPv4.
func bindsOverlap(a, b [16]byte) bool {
	switch {
	case a == b || a == [16]byte{} || b == [16]byte{}:
		return true
	case a == any4:
		return is4(b)
	case b == any4:
		return is4(a)
	}
	return false
}

// pickUDPPort finds a free ephemeral port; for want >= 0, one whose reply
// traffic lands on softnet want. Caller holds s.mu.
func (s *Stack) pickUDPPort(c *UDPConn, want int) (uint16, bool) {
	used := make(map[uint16]bool)
	for o := range s.udp {
		used[o.lport] = true
	}
	lo, hi := int(s.cfg.EphemeralPorts[0]), int(s.cfg.EphemeralPorts[1])
	span := hi - lo + 1
	for i := 0; i < span; i++ {
		p := uint16(lo + (int(s.nextEph)-lo+i)%span)
		if used[p] {
			continue
		}
		if want >= 0 && c.ifc.queueFor(header.ProtoUDP, c.key.raddr, c.key.laddr, c.key.rport, p) != want {
			continue
		}
		s.nextEph = p + 1
		if int(s.nextEph) < lo || int(s.nextEph) > hi {
			s.nextEph = uint16(lo)
		}
		return p, true
	}
	return 0, false
}

// Home returns the softnet that sends for the socket.
func (c *UDPConn) Home() *Softnet { return c.ep.home }

// LocalAddrPort returns the bound address.
func (c *UDPConn) LocalAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netipOf(c.key.laddr), c.key.lport)
}

// RemoteAddrPort returns the connected peer, or the zero value.
func (c *UDPConn) RemoteAddrPort() netip.AddrPort {
	if !c.connected {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(netipOf(c.key.raddr), c.key.rport)
}

// LocalAddr implements net.Conn.
func (c *UDPConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.LocalAddrPort()) }

// RemoteAddr implements net.Conn; it is nil for an unconnected socket.
func (c *UDPConn) RemoteAddr() net.Addr {
	if !c.connected {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.RemoteAddrPort())
}

func (c *UDPConn) opErr(op string, r netip.AddrPort, err error) error {
	return c.ep.st.udpErr(op, c.LocalAddrPort(), r, err)
}

// ReadFromUDPAddrPort reads one datagram into b (truncating it when b is
// short) and returns its length and sender. It does not allocate.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.ep.rmu.Lock()
	pk, err := c.ep.recv()
	c.ep.rmu.Unlock()
	if err != nil {
		return 0, netip.AddrPort{}, c.opErr("read", c.RemoteAddrPort(), err)
	}
	n := copy(b, UDPPayload(pk))
	src := UDPSource(pk)
	pk.Free()
	return n, src, nil
}

// ReadFrom implements net.PacketConn.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// Read implements net.Conn.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(b)
	return n, err
}

// WriteToUDPAddrPort sends b as one datagram to dst. It does not allocate.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	if c.connected {
		return 0, c.opErr("write", dst, syscall.EISCONN)
	}
	if !dst.Addr().IsValid() || dst.Port() == 0 || dst.Addr().IsUnspecified() {
		return 0, c.opErr("write", dst, syscall.EINVAL)
	}
	return c.write(b, addrOf(dst.Addr()), dst.Port(), dst)
}

func (c *UDPConn) write(b []byte, dst [16]byte, dport uint16, r netip.AddrPort) (int, error) {
	if len(b) > 65535-udpIPHeaderLen(is4(dst)) {
		return 0, c.opErr("write", r, syscall.EMSGSIZE)
	}
	c.ep.wmu.Lock()
	c.reqBuf, c.reqDst, c.reqDport = b, dst, dport
	err := c.ep.send()
	c.reqBuf = nil
	c.ep.wmu.Unlock()
	if err != nil {
		return 0, c.opErr("write", r, err)
	}
	return len(b), nil
}

// WriteTo implements net.PacketConn.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opErr("write", netip.AddrPort{}, syscall.EINVAL)
	}
	ap := ua.AddrPort()
	return c.WriteToUDPAddrPort(b, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// Write implements net.Conn for a connected socket.
func (c *UDPConn) Write(b []byte) (int, error) {
	if !c.connected {
		return 0, c.opErr("write", netip.AddrPort{}, syscall.EDESTADDRREQ)
	}
	return c.write(b, c.key.raddr, c.key.rport, c.RemoteAddrPort())
}

// SetDeadline implements net.Conn.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.ep.setDeadline(&c.ep.rdl, t)
	c.ep.setDeadline(&c.ep.wdl, t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	c.ep.setDeadline(&c.ep.rdl, t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	c.ep.setDeadline(&c.ep.wdl, t)
	return nil
}

// Drops returns the datagrams dropped because the receive ring was full.
func (c *UDPConn) Drops() uint64 { return c.ep.drops.Load() }

// Close implements net.Conn. Queued datagrams are freed.
func (c *UDPConn) Close() error {
	if h := c.closeHook.Swap(nil); h != nil {
		(*h)()
	}
	s := c.ep.st
	key := c.key
	err := c.ep.close(func() error {
		s.removeUDP(key)
		return s.callAll(func(sn *Softnet) {
			if sn.udp.get(key) == c {
				sn.udp.del(key)
			}
		})
	})
	if errors.Is(err, ErrStopped) {
		err = nil // nothing runs any more; the tables die with the stack
	}
	if err != nil {
		return c.opErr("close", c.RemoteAddrPort(), err)
	}
	return nil
}
