package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// icmp6Input handles a received ICMPv6 message at offset off of ip (past
// any extension headers). mcast reports a multicast destination. It owns
// pk.
func (sn *Softnet) icmp6Input(ifc *Interface, pk *driver.Packet, ip header.IPv6, off int, mcast bool) {
	src, dst := ip.Src(), ip.Dst()
	icmp := header.ICMPv6(ip[off:])
	if icmp.Check(src, dst) != header.OK {
		sn.inc(ICMP6DropBad)
		sn.free(pk)
		return
	}
	sn.inc(ICMP6Rx)
	typ := icmp.Type()
	if src == ([16]byte{}) && typ != header.ICMPv6NeighborSolicit {
		sn.inc(IP6DropMartian)
		sn.free(pk)
		return
	}
	switch typ {
	case header.ICMPv6EchoRequest:
		sn.inc(ICMP6EchoRequestsRx)
		if mcast || icmp.Code() != 0 {
			sn.inc(ICMP6DropType)
			sn.free(pk)
			return
		}
		sn.echoReply6(ifc, pk, strip6(ip, off, header.ProtoICMPv6))
	case header.ICMPv6EchoReply:
		sn.inc(ICMP6EchoRepliesRx)
		c := sn.ping[icmp.Ident()]
		if c == nil || mcast {
			sn.inc(ICMP6DropNoSocket)
			sn.free(pk)
			return
		}
		// Hand over the packet from its IPv6 header on, the message
		// right after it.
		ip = strip6(ip, off, header.ProtoICMPv6)
		pk.TrimFront(header.EthernetHeaderLen)
		pk.Truncate(len(ip))
		c.ep.deliver(sn, pk)
	case header.ICMPv6PacketTooBig:
		if !mcast {
			sn.pmtuQuote6(ifc, icmp)
		}
		sn.free(pk)
	case header.ICMPv6NeighborSolicit:
		sn.ndSolicitInput(ifc, pk, ip, icmp)
	case header.ICMPv6NeighborAdvert:
		sn.ndAdvertInput(ifc, pk, ip, icmp)
	default:
		sn.inc(ICMP6DropType)
		sn.free(pk)
	}
}

// strip6 moves the upper-layer message (protocol proto) at off up to the
// fixed header, dropping the extension headers, and returns the shortened
// packet.
func strip6(ip header.IPv6, off int, proto uint8) header.IPv6 {
	if off == header.IPv6HeaderLen {
		return ip
	}
	n := copy(ip[header.IPv6HeaderLen:], ip[off:])
	ip = ip[:header.IPv6HeaderLen+n]
	ip.SetNextHeader(proto)
	ip.SetPayloadLen(uint16(n))
	return ip
}

// echoReply6 turns an echo request (without extension headers) into its
// reply in place and sends it back to the link-layer sender.
func (sn *Softnet) echoReply6(ifc *Interface, pk *driver.Packet, ip header.IPv6) {
	eth := header.Ethernet(pk.Data())
	src, dst := ip.Src(), ip.Dst()
	ip.Encode(&header.IPv6Fields{
		TrafficClass: ip.TrafficClass(),
		FlowLabel:    ip.FlowLabel(),
		PayloadLen:   ip.PayloadLen(),
		NextHeader:   header.ProtoICMPv6,
		HopLimit:     defaultTTL,
		Src:          dst,
		Dst:          src,
	})
	icmp := header.ICMPv6(ip[header.IPv6HeaderLen:])
	icmp.SetType(header.ICMPv6EchoReply)
	icmp.SetChecksum(dst, src)
	eth.SetDst(eth.Src())
	eth.SetSrc(ifc.mac)
	pk.Truncate(header.EthernetHeaderLen + len(ip))
	sn.inc(ICMP6Tx)
	sn.inc(ICMP6EchoRepliesTx)
	sn.inc(IP6Tx)
	sn.xmit(ifc, pk)
}

// paramProblem6 sends an ICMPv6 Parameter Problem with code and pointer
// about ip (in frame pk) to its source. It does not take pk.
func (sn *Softnet) paramProblem6(ifc *Interface, pk *driver.Packet, ip header.IPv6, code uint8, pointer int) {
	sn.icmp6Error(ifc, pk, ip, header.ICMPv6ParamProblem, code, uint32(pointer), ICMP6ParamProblemTx)
}

// icmp6Error sends an ICMPv6 error (typ, code, and param, the word after
// the checksum) about ip (in frame pk) to its source, quoting as much of
// ip as fits the minimum MTU, and counts ctr. It is rate limited with the
// ICMPv4 errors (one bucket per softnet) and does not take pk.
func (sn *Softnet) icmp6Error(ifc *Interface, pk *driver.Packet, ip header.IPv6, typ, code uint8, param uint32, ctr CounterID) {
	if ifc.isLocal6(ip.Src()) || !sn.icmpAllowed() {
		return // a datagram from ourselves (loopback) gets no error
	}
	quote := min(len(ip), header.ICMPv6MaxErrorLen-header.ICMPv6MinLen)
	out, msg := sn.alloc6(ifc, header.ICMPv6MinLen+quote)
	if out == nil {
		return
	}
	header.ICMPv6(msg).EncodeError(typ, code, param, ip[:quote])
	l2src := header.Ethernet(pk.Data()).Src()
	sn.inc(ctr)
	sn.output6(ifc, out, ip.Dst(), ip.Src(), defaultTTL, &l2src)
}
