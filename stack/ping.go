package stack

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack/header"
)

// PingConn is an ICMP echo socket: it sends echo requests with its own
// identifier and receives the matching replies, ICMPv4 or ICMPv6 by the
// destination's family (one identifier for both). Its methods are safe
// for concurrent use.
type PingConn struct {
	ep    endpoint
	ident uint16

	reqDst     [4]byte
	reqDst6    [16]byte
	reqV6      bool
	reqSeq     uint16
	reqPayload []byte
}

// ListenPing opens an ICMP echo socket with a fresh identifier.
func (s *Stack) ListenPing() (*PingConn, error) {
	if s.stopped.Load() {
		return nil, ErrStopped
	}
	c := &PingConn{}
	s.mu.Lock()
	for i := 0; i < 65536; i++ {
		id := s.nextID
		s.nextID++
		if _, used := s.pings[id]; !used && id != 0 {
			c.ident = id
			break
		}
	}
	if c.ident == 0 {
		s.mu.Unlock()
		return nil, syscall.EADDRINUSE
	}
	s.pings[c.ident] = c
	home := s.sn[s.homeRR%len(s.sn)]
	s.homeRR++
	s.mu.Unlock()
	if err := c.ep.init(s, home, s.cfg.UDPQueueSize, c.sendEcho); err != nil {
		return nil, err
	}
	id := c.ident
	if err := s.callAll(func(sn *Softnet) { sn.ping[id] = c }); err != nil {
		return nil, err
	}
	return c, nil
}

// Ident returns the socket's ICMP identifier.
func (c *PingConn) Ident() uint16 { return c.ident }

func (c *PingConn) sendEcho(sn *Softnet) error {
	if c.reqV6 {
		return c.sendEcho6(sn)
	}
	ifc, nh, ok := sn.st.route(c.reqDst)
	if !ok {
		sn.inc(IPDropNoRoute)
		return syscall.ENETUNREACH
	}
	if len(c.reqPayload) > ifc.mtu-header.IPv4MinHeaderLen-header.ICMPv4MinLen {
		return syscall.EMSGSIZE
	}
	pk := sn.alloc(ifc)
	if pk == nil {
		return syscall.ENOBUFS
	}
	msg := pk.Append(header.ICMPv4MinLen + len(c.reqPayload))
	icmp := header.ICMPv4(msg)
	icmp.SetType(header.ICMPEcho)
	icmp.SetCode(0)
	icmp.SetIdent(c.ident)
	icmp.SetSeq(c.reqSeq)
	copy(msg[header.ICMPv4MinLen:], c.reqPayload)
	icmp.SetChecksum()
	sn.inc(ICMPTx)
	sn.inc(ICMPEchoRequestsTx)
	sn.ipOutput(ifc, pk, header.ProtoICMP, ifc.ip, c.reqDst, nh)
	return nil
}

// sendEcho6 sends an ICMPv6 echo request, resolving the next hop (the
// destination on the link, else the gateway) if need be.
func (c *PingConn) sendEcho6(sn *Softnet) error {
	ifc, src, _, ok := sn.st.route6(c.reqDst6)
	if !ok || ifc.isLocal6(c.reqDst6) {
		sn.inc(IP6DropNoRoute)
		return syscall.ENETUNREACH
	}
	if len(c.reqPayload) > ifc.mtu-header.IPv6HeaderLen-header.ICMPv6MinLen {
		return syscall.EMSGSIZE
	}
	pk, msg := sn.alloc6(ifc, header.ICMPv6MinLen+len(c.reqPayload))
	if pk == nil {
		return syscall.ENOBUFS
	}
	header.ICMPv6(msg).EncodeEcho(header.ICMPv6EchoRequest, c.ident, c.reqSeq, c.reqPayload)
	sn.inc(ICMP6EchoRequestsTx)
	sn.output6(ifc, pk, src, c.reqDst6, defaultTTL, nil)
	return nil
}

// SendEcho sends an echo request with sequence number seq and payload:
// ICMPv4 to an IPv4 destination, ICMPv6 to an IPv6 one (a zone is
// ignored: link-local destinations leave by the first interface with
// IPv6).
func (c *PingConn) SendEcho(dst netip.Addr, seq uint16, payload []byte) error {
	network := "ip4:icmp"
	if dst.Is6() {
		network = "ip6:ipv6-icmp"
	}
	if !dst.Is4() && (!dst.Is6() || dst.Is4In6()) {
		return &net.OpError{Op: "write", Net: network, Err: syscall.EAFNOSUPPORT}
	}
	c.ep.wmu.Lock()
	if dst.Is4() {
		c.reqDst, c.reqV6 = dst.As4(), false
	} else {
		c.reqDst6, c.reqV6 = dst.As16(), true
	}
	c.reqSeq, c.reqPayload = seq, payload
	err := c.ep.send()
	c.reqPayload = nil
	c.ep.wmu.Unlock()
	if err != nil {
		return &net.OpError{Op: "write", Net: network, Addr: &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}, Err: err}
	}
	return nil
}

// ReadReply waits for an echo reply, copies its payload into b and
// returns the payload length, the replying address and the sequence
// number.
func (c *PingConn) ReadReply(b []byte) (int, netip.Addr, uint16, error) {
	c.ep.rmu.Lock()
	pk, err := c.ep.recv()
	c.ep.rmu.Unlock()
	if err != nil {
		return 0, netip.Addr{}, 0, &net.OpError{Op: "read", Net: "ip4:icmp", Err: err}
	}
	var n int
	var src netip.Addr
	var seq uint16
	if d := pk.Data(); d[0]>>4 == 6 {
		// icmp6Input delivers the message right after the fixed header.
		ip := header.IPv6(d)
		icmp := header.ICMPv6(ip[header.IPv6HeaderLen:])
		n = copy(b, icmp.Payload())
		src, seq = ip.SrcAddr(), icmp.Seq()
	} else {
		ip := header.IPv4(d)
		icmp := header.ICMPv4(ip[ip.HeaderLen():])
		n = copy(b, icmp.Payload())
		src, seq = ip.SrcAddr(), icmp.Seq()
	}
	pk.Free()
	return n, src, seq, nil
}

// SetReadDeadline bounds ReadReply.
func (c *PingConn) SetReadDeadline(t time.Time) error {
	c.ep.setDeadline(&c.ep.rdl, t)
	return nil
}

// Close closes the socket.
func (c *PingConn) Close() error {
	s := c.ep.st
	id := c.ident
	err := c.ep.close(func() error {
		s.mu.Lock()
		delete(s.pings, id)
		s.mu.Unlock()
		return s.callAll(func(sn *Softnet) {
			if sn.ping[id] == c {
				delete(sn.ping, id)
			}
		})
	})
	if errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}

// Ping sends one echo request of size payload bytes to dst (IPv4 or IPv6)
// and waits up to timeout for the reply, returning the round-trip time.
func (s *Stack) Ping(dst netip.Addr, size int, timeout time.Duration) (time.Duration, error) {
	c, err := s.ListenPing()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	start := time.Now()
	if err := c.SendEcho(dst, 1, payload); err != nil {
		return 0, err
	}
	c.SetReadDeadline(start.Add(timeout))
	buf := make([]byte, size+1)
	for {
		n, src, seq, err := c.ReadReply(buf)
		if err != nil {
			return 0, err
		}
		if src == dst.WithZone("") && seq == 1 && n == size && string(buf[:n]) == string(payload) {
			return time.Since(start), nil
		}
	}
}
