package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
	"github.com/netsplice/netsplice/stack/header"
)

// defaultTTL is the TTL of datagrams the stack sends (RFC 1700's
// recommendation, as Linux).
const defaultTTL = 64

// ipInput handles a received IPv4 frame. It owns pk.
func (sn *Softnet) ipInput(ifc *Interface, pk *driver.Packet, frame []byte) {
	ip := header.IPv4(frame[header.EthernetHeaderLen:])
	e, nic := nicVerdict(pk, driver.RxIPChecksumGood, driver.RxIPChecksumBad)
	if !nic {
		e = ip.Check()
	} else if e == header.OK {
		e = ip.CheckHeader()
	}
	switch e {
	case header.OK:
	case header.ErrChecksum:
		sn.inc(IPDropChecksum)
		sn.free(pk)
		return
	default:
		sn.inc(IPDropHeader)
		sn.free(pk)
		return
	}
	sn.inc(IPRx)
	ip = ip[:ip.TotalLen()] // drop Ethernet padding
	dst, src := ip.Dst(), ip.Src()
	bcast := ifc.isBroadcast(dst)
	if dst != ifc.ip && !bcast && !ifc.isLocal4(dst) {
		sn.inc(IPDropNotForUs)
		sn.free(pk)
		return
	}
	if src[0] >= 224 || ifc.isLocal4(src) || ifc.isBroadcast(src) {
		sn.inc(IPDropMartian)
		sn.free(pk)
		return
	}
	if ip.IsFragment() {
		sn.inc(IPDropFragment)
		sn.free(pk)
		return
	}
	switch ip.Protocol() {
	case header.ProtoUDP:
		sn.udpInput(ifc, pk, ip, bcast)
	case header.ProtoICMP:
		sn.icmpInput(ifc, pk, ip, bcast)
	case header.ProtoTCP:
		sn.tcpInput(ifc, pk, ip, bcast)
	default:
		sn.inc(IPDropProto)
		if !bcast {
			sn.icmpError(ifc, pk, ip, header.ICMPDestUnreachable, icmpProtoUnreachable)
		}
		sn.free(pk)
	}
}

// route picks the interface and next hop for dst: the interface whose
// prefix holds dst, else the first interface with a gateway.
func (s *Stack) route(dst [4]byte) (*Interface, [4]byte, bool) {
	for _, ifc := range s.ifaces {
		if ifc.onLink(dst) || dst == [4]byte{255, 255, 255, 255} && ifc.has4 {
			return ifc, dst, true
		}
	}
	for _, ifc := range s.ifaces {
		if ifc.gateway.IsValid() { // only on an interface with IPv4
			return ifc, ifc.gw, true
		}
	}
	return nil, dst, false
}

// nexthop returns where a packet to dst leaves ifc: dst itself on the
// link, else the gateway.
func (s *Stack) nexthop(ifc *Interface, dst [4]byte) [4]byte {
	if ifc.onLink(dst) {
		return dst
	}
	if _, gw, ok := s.route(dst); ok {
		return gw
	}
	return dst
}

// interfaceFor returns the interface that owns address a.
func (s *Stack) interfaceFor(a [4]byte) *Interface {
	for _, ifc := range s.ifaces {
		if ifc.isLocal4(a) {
			return ifc
		}
	}
	return nil
}

// ipOutput prepends IPv4 and Ethernet headers to an L4 message in pk and
// sends it to nexthop on ifc. The L4 checksum must be complete (or set up
// for offload). It owns pk.
func (sn *Softnet) ipOutput(ifc *Interface, pk *driver.Packet, proto uint8, src, dst, nexthop [4]byte) {
	l4 := pk.FrameLen()
	if wireL4(pk)+header.IPv4MinHeaderLen > ifc.mtu {
		// A bug upstream, never a fragment: count it and drop.
		sn.inc(IPDropTooBig)
		sn.free(pk)
		return
	}
	hdr := pk.Prepend(header.EthernetHeaderLen + header.IPv4MinHeaderLen)
	if hdr == nil {
		sn.inc(TxDropNoBuf)
		sn.free(pk)
		return
	}
	sn.ipID++
	ip := header.IPv4(hdr[header.EthernetHeaderLen:])
	ip.Encode(&header.IPv4Fields{
		TotalLen:     uint16(header.IPv4MinHeaderLen + l4),
		ID:           sn.ipID,
		DontFragment: true,
		TTL:          defaultTTL,
		Protocol:     proto,
		Src:          src,
		Dst:          dst,
	})
	if pk.More != nil {
		sn.ipID += uint16(gso.Count(pk) - 1) // one ID per frame it is cut into
	}
	if ifc.txCsum&driver.OffloadTxIPChecksum != 0 {
		ip.SetHeaderChecksum(0)
		pk.Flags |= driver.TxIPChecksum
	}
	if pk.Flags&(driver.TxIPChecksum|driver.TxTCPChecksum|driver.TxUDPChecksum) != 0 {
		pk.L2Len, pk.L3Len = header.EthernetHeaderLen, header.IPv4MinHeaderLen
	}
	sn.inc(IPTx)
	if ifc.isLocal4(dst) {
		sn.loopbackFrame(ifc, pk)
		return
	}
	sn.ethSend(ifc, pk, nexthop)
}
