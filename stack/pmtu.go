package stack

import (
	"encoding/binary"

	"github.com/netsplice/netsplice/stack/header"
	"github.com/netsplice/netsplice/stack/task"
)

// Path MTU discovery (RFC 8201 for IPv6, RFC 1191 for IPv4): the stack
// never fragments, so a router that cannot forward a segment answers with
// ICMPv6 Packet Too Big or ICMPv4 Fragmentation Needed, quoting it. The
// connection the quote names lowers its MSS to fit the reported MTU (never
// below IPv6's 1280, or IPv4's 576 and a 536-byte MSS) and sends what was
// in flight again at once, cut to size, with no congestion response (a
// size problem, not a loss: Linux's tcp_simple_retransmit).
// A quote whose sequence number is not in flight is ignored (RFC 5927
// section 7.2), as are messages for no connection.
//
// The error arrives on whichever softnet RSS picks for the router's
// packet; the connection belongs to the softnet its own tuple hashes to,
// so the message is handed there as a task (a rare, control-path event).

// pmtuQuote6 handles a Packet Too Big message icmp received on ifc.
func (sn *Softnet) pmtuQuote6(ifc *Interface, icmp header.ICMPv6) {
	q := icmp[header.ICMPv6MinLen:]
	if len(q) < header.IPv6HeaderLen+8 || q[0]>>4 != 6 || q[6] != header.ProtoTCP {
		sn.inc(TCPPathMTUIgnored)
		return
	}
	ip := header.IPv6(q)
	t := q[header.IPv6HeaderLen:]
	key := flowKey{laddr: ip.Src(), raddr: ip.Dst(), lport: binary.BigEndian.Uint16(t[0:]), rport: binary.BigEndian.Uint16(t[2:])}
	mtu := int(min(icmp.MTU(), 1<<16))
	sn.pathMTU(ifc, key, binary.BigEndian.Uint32(t[4:]), max(mtu, header.IPv6MinMTU))
}

// pmtuQuote4 handles a Fragmentation Needed message icmp received on ifc.
func (sn *Softnet) pmtuQuote4(ifc *Interface, icmp header.ICMPv4) {
	q := icmp[header.ICMPv4MinLen:]
	if len(q) < header.IPv4MinHeaderLen || q[0]>>4 != 4 || q[9] != header.ProtoTCP {
		sn.inc(TCPPathMTUIgnored)
		return
	}
	ip := header.IPv4(q)
	hl := ip.HeaderLen()
	if hl < header.IPv4MinHeaderLen || len(q) < hl+8 {
		sn.inc(TCPPathMTUIgnored)
		return
	}
	t := q[hl:]
	key := flowKey{laddr: mapped4(ip.Src()), raddr: mapped4(ip.Dst()), lport: binary.BigEndian.Uint16(t[0:]), rport: binary.BigEndian.Uint16(t[2:])}
	// The next-hop MTU is in the second half of the rest of the header
	// (RFC 1191); a router that does not say gets the plateau below the
	// quoted datagram's size.
	mtu := int(binary.BigEndian.Uint16(icmp[6:8]))
	if mtu == 0 {
		mtu = int(ip.TotalLen()) - 1
	}
	sn.pathMTU(ifc, key, binary.BigEndian.Uint32(t[4:]), max(mtu, 576))
}

// pathMTU lowers the MSS of connection key to fit mtu, on the softnet that
// owns it.
func (sn *Softnet) pathMTU(ifc *Interface, key flowKey, seq uint32, mtu int) {
	owner := sn.st.sn[ifc.queueFor(header.ProtoTCP, key.raddr, key.laddr, key.rport, key.lport)]
	if owner == sn {
		sn.lowerMSS(key, seq, mtu)
		return
	}
	t := task.New(func() { owner.lowerMSS(key, seq, mtu) })
	owner.Add(t, sn)
	t.Release()
}

func (sn *Softnet) lowerMSS(key flowKey, seq uint32, mtu int) {
	c := sn.tcp.get(key)
	if c == nil || !c.state.synchronized() || seqLT(seq, c.sndUna) || !seqLT(seq, c.sndMax) {
		sn.inc(TCPPathMTUIgnored)
		return
	}
	mss := mtu - c.headerLen()
	if c.tsOK {
		mss -= 12
	}
	mss = max(mss, 536-12)
	if mss >= c.mss {
		return
	}
	c.mss = mss
	sn.inc(TCPPathMTULowered)
	c.clearSACK()
	c.rttTiming = false
	c.sndNxt = c.sndUna
	c.highRxt = c.sndUna
	c.output()
}
