package stack

import (
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// icmpProtoUnreachable is the destination-unreachable code for an
// unsupported protocol (RFC 792).
const icmpProtoUnreachable = 2

// icmpErrorQuote bounds an ICMP error to 576 bytes of IP datagram, as RFC
// 1812 section 4.3.2.3 asks.
const icmpErrorQuote = 576 - header.IPv4MinHeaderLen - header.ICMPv4MinLen

// icmpFragNeeded is the ICMPDestUnreachable code for a datagram that
// needed fragmenting with DF set (RFC 1191).
const icmpFragNeeded = 4

// icmpInput handles a received ICMP message. It owns pk.
func (sn *Softnet) icmpInput(ifc *Interface, pk *driver.Packet, ip header.IPv4, bcast bool) {
	icmp := header.ICMPv4(ip.Payload())
	if icmp.Check() != header.OK {
		sn.inc(ICMPDropBad)
		sn.free(pk)
		return
	}
	sn.inc(ICMPRx)
	switch icmp.Type() {
	case header.ICMPEcho:
		sn.inc(ICMPEchoRequestsRx)
		if bcast || icmp.Code() != 0 {
			// Like Linux's icmp_echo_ignore_broadcasts.
			sn.inc(ICMPDropType)
			sn.free(pk)
			return
		}
		sn.echoReply(ifc, pk, ip)
	case header.ICMPEchoReply:
		sn.inc(ICMPEchoRepliesRx)
		c := sn.ping[icmp.Ident()]
		if c == nil {
			sn.inc(ICMPDropNoSocket)
			sn.free(pk)
			return
		}
		// Hand over the datagram from its IP header on.
		pk.TrimFront(header.EthernetHeaderLen)
		pk.Truncate(len(ip))
		c.ep.deliver(sn, pk)
	case header.ICMPDestUnreachable:
		if icmp.Code() == icmpFragNeeded && !bcast {
			sn.pmtuQuote4(ifc, icmp)
		} else {
			sn.inc(ICMPDropType)
		}
		sn.free(pk)
	default:
		sn.inc(ICMPDropType)
		sn.free(pk)
	}
}

// echoReply turns an echo request into its reply in place and sends it
// back to the link-layer sender.
func (sn *Softnet) echoReply(ifc *Interface, pk *driver.Packet, ip header.IPv4) {
	frame := pk.Data()
	eth := header.Ethernet(frame)
	hl := ip.HeaderLen()
	if hl > header.IPv4MinHeaderLen {
		// Drop the options: move the ICMP message up to a 20-byte header.
		n := copy(ip[header.IPv4MinHeaderLen:], ip[hl:])
		ip = ip[:header.IPv4MinHeaderLen+n]
		ip[0] = 4<<4 | header.IPv4MinHeaderLen/4
	}
	src, dst := ip.Src(), ip.Dst()
	sn.ipID++
	ip.Encode(&header.IPv4Fields{
		TOS:          ip.TOS(),
		TotalLen:     uint16(len(ip)),
		ID:           sn.ipID,
		DontFragment: true,
		TTL:          defaultTTL,
		Protocol:     header.ProtoICMP,
		Src:          dst,
		Dst:          src,
	})
	icmp := header.ICMPv4(ip[header.IPv4MinHeaderLen:])
	icmp.SetType(header.ICMPEchoReply)
	// A full sum, not RFC 1624's update: the update yields 0x0000 instead
	// of 0xffff for an all-zero message, which receivers reject.
	icmp.SetChecksum()
	eth.SetDst(eth.Src())
	eth.SetSrc(ifc.mac)
	pk.Truncate(header.EthernetHeaderLen + len(ip))
	sn.inc(ICMPTx)
	sn.inc(ICMPEchoRepliesTx)
	sn.inc(IPTx)
	sn.xmit(ifc, pk)
}

// icmpAllowed takes a token from the softnet's ICMP error bucket.
func (sn *Softnet) icmpAllowed() bool {
	limit := sn.st.cfg.ICMPRateLimit
	if limit == 0 {
		return false
	}
	if elapsed := sn.now - sn.icmpRefill; elapsed > 0 {
		add := int(elapsed * int64(limit) / int64(time.Second))
		if add > 0 {
			sn.icmpTokens = min(limit, sn.icmpTokens+add)
			sn.icmpRefill = sn.now
		}
	}
	if sn.icmpTokens == 0 {
		sn.inc(ICMPRateLimited)
		return false
	}
	sn.icmpTokens--
	return true
}

// icmpError sends an ICMP error about the datagram ip (in frame pk) to its
// source, rate limited. It does not take pk.
func (sn *Softnet) icmpError(ifc *Interface, pk *driver.Packet, ip header.IPv4, typ, code uint8) {
	if !sn.icmpAllowed() {
		return
	}
	out := sn.alloc(ifc)
	if out == nil {
		return
	}
	quote := min(len(ip), icmpErrorQuote)
	msg := out.Append(header.ICMPv4MinLen + quote)
	icmp := header.ICMPv4(msg)
	icmp.SetType(typ)
	icmp.SetCode(code)
	icmp.SetRestOfHeader(0)
	copy(msg[header.ICMPv4MinLen:], ip[:quote])
	icmp.SetChecksum()
	src := ip.Src()
	l2src := header.Ethernet(pk.Data()).Src()
	if out.Prepend(header.EthernetHeaderLen+header.IPv4MinHeaderLen) == nil {
		sn.free(out)
		return
	}
	hdr := out.Data()
	sn.ipID++
	header.IPv4(hdr[header.EthernetHeaderLen:]).Encode(&header.IPv4Fields{
		TotalLen:     uint16(header.IPv4MinHeaderLen + len(msg)),
		ID:           sn.ipID,
		DontFragment: true,
		TTL:          defaultTTL,
		Protocol:     header.ProtoICMP,
		Src:          ip.Dst(), // ours: errors answer unicast datagrams only
		Dst:          src,
	})
	header.Ethernet(hdr).Encode(l2src, ifc.mac, header.EtherTypeIPv4)
	sn.inc(ICMPTx)
	sn.inc(ICMPUnreachTx)
	sn.inc(IPTx)
	sn.xmit(ifc, out)
}
