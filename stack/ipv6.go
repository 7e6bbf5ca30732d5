package stack

import (
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// init6 validates and records the interface's IPv6 addresses, with the
// link-local address derived from its MAC and the solicited-node groups.
func (i *Interface) init6(addrs []netip.Prefix) error {
	if len(addrs) == 0 {
		return nil
	}
	name := i.port.Name()
	if i.mtu < header.IPv6MinMTU {
		return fmt.Errorf("stack: port %s: MTU %d below IPv6's minimum %d", name, i.mtu, header.IPv6MinMTU)
	}
	i.has6 = true
	i.ll6 = header.IPv6LinkLocal(i.mac)
	i.snm6 = append(i.snm6, header.IPv6SolicitedNode(i.ll6))
	for _, p := range addrs {
		a := p.Addr()
		if !p.IsValid() || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return fmt.Errorf("stack: interface %s: address %v is not an IPv6 prefix", name, p)
		}
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() || p.Bits() < 1 {
			return fmt.Errorf("stack: interface %s: %v cannot be an interface address (the link-local address is derived from the MAC)", name, p)
		}
		a16 := a.As16()
		if i.isLocal6(a16) {
			return fmt.Errorf("stack: interface %s: address %v given twice", name, a)
		}
		i.addr6 = append(i.addr6, p)
		i.ip6 = append(i.ip6, a16)
		if g := header.IPv6SolicitedNode(a16); !i.joined6(g) {
			i.snm6 = append(i.snm6, g)
		}
	}
	return nil
}

// joinMulticast asks a port that filters multicast for the groups of its
// IPv6 addresses; a port that cannot is logged, not fatal (many deliver
// all multicast anyway).
func (i *Interface) joinMulticast(log *zap.Logger) {
	if !i.has6 {
		return
	}
	mr, ok := i.port.(driver.MulticastReceiver)
	if !ok {
		return
	}
	macs := []driver.MAC{driver.MAC(header.IPv6MulticastMAC(header.IPv6AllNodes()))}
	for _, g := range i.snm6 {
		macs = append(macs, driver.MAC(header.IPv6MulticastMAC(g)))
	}
	if err := mr.JoinMulticast(macs); err != nil {
		log.Warn("port cannot join the IPv6 multicast groups; neighbour discovery may fail",
			zap.String("port", i.port.Name()), zap.Error(err))
	}
}

// isLocal6 reports whether a is one of the interface's IPv6 unicast
// addresses, link-local included.
func (i *Interface) isLocal6(a [16]byte) bool {
	if !i.has6 {
		return false
	}
	if a == i.ll6 {
		return true
	}
	for _, o := range i.ip6 {
		if o == a {
			return true
		}
	}
	return false
}

// joined6 reports whether the interface receives multicast group g:
// all-nodes and its solicited-node groups.
func (i *Interface) joined6(g [16]byte) bool {
	if g == header.IPv6AllNodes() {
		return true
	}
	for _, o := range i.snm6 {
		if o == g {
			return true
		}
	}
	return false
}

// src6 picks the source address for dst on the interface: the link-local
// address for link-local and multicast destinations, else the address
// whose prefix holds dst, else the first.
func (i *Interface) src6(dst [16]byte) [16]byte {
	if isLinkLocal6(dst) || dst[0] == 0xff || len(i.ip6) == 0 {
		return i.ll6
	}
	d := netip.AddrFrom16(dst)
	for k, p := range i.addr6 {
		if p.Contains(d) {
			return i.ip6[k]
		}
	}
	return i.ip6[0]
}

func isLinkLocal6(a [16]byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

// onLink6 reports whether dst is on the interface's link: link-local or
// inside one of its prefixes.
func (i *Interface) onLink6(dst [16]byte) bool {
	if isLinkLocal6(dst) {
		return true
	}
	d := netip.AddrFrom16(dst)
	for _, p := range i.addr6 {
		if p.Contains(d) {
			return true
		}
	}
	return false
}

// nexthop6 returns where a packet to dst leaves the interface: dst itself
// on the link (or when there is no gateway), else the gateway.
func (i *Interface) nexthop6(dst [16]byte) [16]byte {
	if !i.gateway6.IsValid() || i.onLink6(dst) {
		return dst
	}
	return i.gw6
}

// route6 picks the interface, source address and next hop for dst: the
// interface whose prefix holds dst; for a link-local destination the
// first interface with IPv6 (zones are not looked at); else the first
// interface with an IPv6 gateway.
func (s *Stack) route6(dst [16]byte) (ifc *Interface, src, nh [16]byte, ok bool) {
	d := netip.AddrFrom16(dst)
	for _, ifc := range s.ifaces {
		if !ifc.has6 {
			continue
		}
		if isLinkLocal6(dst) {
			return ifc, ifc.ll6, dst, true
		}
		for k, p := range ifc.addr6 {
			if p.Contains(d) {
				return ifc, ifc.ip6[k], dst, true
			}
		}
	}
	for _, ifc := range s.ifaces {
		if ifc.gateway6.IsValid() {
			return ifc, ifc.src6(dst), ifc.gw6, true
		}
	}
	return nil, src, nh, false
}

// ipv6Input handles a received IPv6 frame. It owns pk.
func (sn *Softnet) ipv6Input(ifc *Interface, pk *driver.Packet, frame []byte) {
	if !ifc.has6 {
		sn.inc(DropEtherType)
		sn.free(pk)
		return
	}
	ip := header.IPv6(frame[header.EthernetHeaderLen:])
	var x header.IPv6ExtHeaders
	walk := ip.WalkExtHeaders(&x)
	switch walk {
	case header.OK, header.ErrUnknownNextHeader, header.ErrExtHeader:
	default:
		sn.inc(IP6DropHeader)
		sn.free(pk)
		return
	}
	sn.inc(IP6Rx)
	ip = ip[:header.IPv6HeaderLen+int(ip.PayloadLen())] // drop Ethernet padding
	dst, src := ip.Dst(), ip.Src()
	mcast := dst[0] == 0xff
	if mcast && !ifc.joined6(dst) || !mcast && !ifc.isLocal6(dst) {
		sn.inc(IP6DropNotForUs)
		sn.free(pk)
		return
	}
	// The unspecified source is for duplicate address detection's
	// solicitations only; icmp6Input checks the rest.
	if src[0] == 0xff || ifc.isLocal6(src) || src == ([16]byte{}) && x.Proto != header.ProtoICMPv6 {
		sn.inc(IP6DropMartian)
		sn.free(pk)
		return
	}
	switch walk {
	case header.ErrUnknownNextHeader:
		sn.inc(IP6DropProto)
		if !mcast {
			sn.paramProblem6(ifc, pk, ip, header.ICMPv6UnknownNextHeader, x.Pointer)
		}
		sn.free(pk)
		return
	case header.ErrExtHeader:
		sn.inc(IP6DropExtHeader)
		sn.free(pk)
		return
	}
	if x.Fragment && (x.FragmentOffset != 0 || x.MoreFragments) {
		// Atomic fragments (offset 0, M clear) are whole packets, RFC 6946.
		sn.inc(IP6DropFragment)
		sn.free(pk)
		return
	}
	switch x.Proto {
	case header.ProtoICMPv6:
		sn.icmp6Input(ifc, pk, ip, x.Offset, mcast)
	case header.ProtoTCP:
		sn.tcpInput6(ifc, pk, ip, x.Offset, mcast)
	case header.ProtoUDP:
		sn.udpInput6(ifc, pk, ip, x.Offset, mcast)
	case header.ProtoIPv6NoNextHeader:
		sn.free(pk)
	default:
		// Answered as any next header the stack does not handle (RFC
		// 8200 section 4).
		sn.inc(IP6DropProto)
		if !mcast {
			sn.paramProblem6(ifc, pk, ip, header.ICMPv6UnknownNextHeader, x.Pointer)
		}
		sn.free(pk)
	}
}

// alloc6 takes a packet and lays out Ethernet, IPv6 and n bytes of
// upper-layer message in it, returning the message for the caller to
// fill; finish6 completes the headers.
func (sn *Softnet) alloc6(ifc *Interface, n int) (*driver.Packet, []byte) {
	pk := sn.alloc(ifc)
	if pk == nil {
		return nil, nil
	}
	frame := pk.Append(header.EthernetHeaderLen + header.IPv6HeaderLen + n)
	if frame == nil {
		sn.inc(TxDropNoBuf)
		sn.free(pk)
		return nil, nil
	}
	return pk, frame[header.EthernetHeaderLen+header.IPv6HeaderLen:]
}

// output6 completes the IPv6 header of a packet from alloc6 carrying an
// ICMPv6 message (whose checksum it computes) and sends it to dst, on the
// link: multicast to its group's MAC, unicast to l2dst when given, else
// through the neighbour cache. It owns pk.
func (sn *Softnet) output6(ifc *Interface, pk *driver.Packet, src, dst [16]byte, hop uint8, l2dst *header.MAC) {
	frame := pk.Data()
	ip := header.IPv6(frame[header.EthernetHeaderLen:])
	msg := ip[header.IPv6HeaderLen:]
	ip.Encode(&header.IPv6Fields{PayloadLen: uint16(len(msg)), NextHeader: header.ProtoICMPv6, HopLimit: hop, Src: src, Dst: dst})
	header.ICMPv6(msg).SetChecksum(src, dst)
	eth := header.Ethernet(frame)
	eth.SetSrc(ifc.mac)
	eth.SetType(header.EtherTypeIPv6)
	sn.inc(ICMP6Tx)
	sn.inc(IP6Tx)
	switch {
	case dst[0] == 0xff:
		eth.SetDst(header.IPv6MulticastMAC(dst))
	case l2dst != nil:
		eth.SetDst(*l2dst)
	default:
		nh := ifc.nexthop6(dst)
		if !sn.nd.setDst(ifc, nh, eth) {
			sn.nd.wait(ifc, pk, nh)
			return
		}
	}
	sn.xmit(ifc, pk)
}

// ip6Output prepends IPv6 and Ethernet headers to an upper-layer message
// in pk (proto: TCP or UDP, its checksum complete or set up for offload)
// and sends it to nexthop on ifc, resolving it through the neighbour
// cache; a datagram to one of the stack's own addresses is delivered
// locally. It owns pk.
func (sn *Softnet) ip6Output(ifc *Interface, pk *driver.Packet, proto uint8, src, dst, nexthop [16]byte) {
	l4 := pk.FrameLen()
	if wireL4(pk)+header.IPv6HeaderLen > ifc.mtu {
		// A bug upstream, never a fragment: count it and drop.
		sn.inc(IP6DropTooBig)
		sn.free(pk)
		return
	}
	hdr := pk.Prepend(header.EthernetHeaderLen + header.IPv6HeaderLen)
	if hdr == nil {
		sn.inc(TxDropNoBuf)
		sn.free(pk)
		return
	}
	header.IPv6(hdr[header.EthernetHeaderLen:]).Encode(&header.IPv6Fields{
		PayloadLen: uint16(l4), NextHeader: proto, HopLimit: defaultTTL, Src: src, Dst: dst,
	})
	if pk.Flags&(driver.TxTCPChecksum|driver.TxUDPChecksum) != 0 {
		pk.Flags |= driver.TxIPv6
		pk.L2Len, pk.L3Len = header.EthernetHeaderLen, header.IPv6HeaderLen
	}
	sn.inc(IP6Tx)
	if ifc.isLocal6(dst) {
		sn.loopbackFrame(ifc, pk)
		return
	}
	eth := header.Ethernet(hdr)
	eth.SetSrc(ifc.mac)
	eth.SetType(header.EtherTypeIPv6)
	if dst[0] == 0xff {
		eth.SetDst(header.IPv6MulticastMAC(dst))
		sn.xmit(ifc, pk)
		return
	}
	if !sn.nd.setDst(ifc, nexthop, eth) {
		if pk.More == nil {
			sn.nd.wait(ifc, pk, nexthop)
			return
		}
		for _, s := range sn.cutSuperFrame(ifc, pk) {
			sn.nd.wait(ifc, s, nexthop)
		}
		return
	}
	sn.xmit(ifc, pk)
}
