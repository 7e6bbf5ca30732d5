package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// ndHopLimit is the hop limit of every Neighbor Discovery message, and
// the only one accepted: it proves the sender is on the link (RFC 4861
// section 7.1).
const ndHopLimit = 255

// ndSolicitInput handles a neighbour solicitation: it learns the sender
// and answers for our addresses with a solicited advertisement carrying
// our MAC. It owns pk.
func (sn *Softnet) ndSolicitInput(ifc *Interface, pk *driver.Packet, ip header.IPv6, icmp header.ICMPv6) {
	sn.inc(NDSolicitsRx)
	ns := header.NDPNeighborSolicit(icmp)
	if ip.HopLimit() != ndHopLimit {
		sn.inc(NDDropHopLimit)
		sn.free(pk)
		return
	}
	if ns.Check() != header.OK {
		sn.inc(NDDropBad)
		sn.free(pk)
		return
	}
	src, dst := ip.Src(), ip.Dst()
	target := ns.Target()
	sll, hasSLL := header.MAC{}, false
	bad := target[0] == 0xff
	if !bad {
		sll, hasSLL = ns.SourceLinkLayerAddr()
		// From the unspecified address (duplicate address detection):
		// to a solicited-node group, without a link-layer address.
		bad = src == ([16]byte{}) && (hasSLL || dst != header.IPv6SolicitedNode(target)) || hasSLL && sll.IsMulticast()
	}
	if bad {
		sn.inc(NDDropBad)
		sn.free(pk)
		return
	}
	if !ifc.isLocal6(target) {
		// Another node's address sharing our solicited-node group.
		sn.free(pk)
		return
	}
	if hasSLL {
		if sn.nd.learn(src, sll, true) {
			sn.nd.share(src, sll)
		}
	}
	l2dst := header.Ethernet(pk.Data()).Src()
	if hasSLL {
		l2dst = sll
	}
	sn.free(pk)
	flags := uint8(header.NDPFlagSolicited | header.NDPFlagOverride)
	to := src
	if src == ([16]byte{}) {
		// Defend the address against a duplicate address detection
		// probe: to all-nodes, unsolicited (RFC 4861 7.2.4).
		flags, to = header.NDPFlagOverride, header.IPv6AllNodes()
	}
	sn.sendAdvert(ifc, flags, target, to, &l2dst)
}

// sendAdvert sends a neighbour advertisement for target with our MAC.
func (sn *Softnet) sendAdvert(ifc *Interface, flags uint8, target, dst [16]byte, l2dst *header.MAC) {
	out, msg := sn.alloc6(ifc, header.NDPNeighborLen+header.NDPLinkLayerOptionLen)
	if out == nil {
		return
	}
	header.NDPNeighborAdvert(msg).Encode(flags, target, ifc.mac)
	sn.inc(NDAdvertsTx)
	sn.output6(ifc, out, target, dst, ndHopLimit, l2dst)
}

// ndAdvertInput learns a neighbour from an advertisement: a solicited
// one creates an entry, an unsolicited one only updates. It owns pk.
func (sn *Softnet) ndAdvertInput(ifc *Interface, pk *driver.Packet, ip header.IPv6, icmp header.ICMPv6) {
	sn.inc(NDAdvertsRx)
	na := header.NDPNeighborAdvert(icmp)
	if ip.HopLimit() != ndHopLimit {
		sn.inc(NDDropHopLimit)
		sn.free(pk)
		return
	}
	if na.Check() != header.OK {
		sn.inc(NDDropBad)
		sn.free(pk)
		return
	}
	target := na.Target()
	if target[0] == 0xff || ip.Dst()[0] == 0xff && na.Solicited() {
		sn.inc(NDDropBad)
		sn.free(pk)
		return
	}
	tll, ok := na.TargetLinkLayerAddr()
	sn.free(pk)
	if !ok || tll.IsMulticast() || ifc.isLocal6(target) {
		return
	}
	// As for ARP (arpInput), a solicited advertisement is shared even
	// when it changes nothing here: the softnet that solicited may be
	// another.
	if changed := sn.nd.learn(target, tll, na.Solicited()); changed || na.Solicited() {
		sn.nd.share(target, tll)
	}
}

// ndSolicit sends a neighbour solicitation for target to its
// solicited-node group.
func (sn *Softnet) ndSolicit(ifc *Interface, target [16]byte) {
	out, msg := sn.alloc6(ifc, header.NDPNeighborLen+header.NDPLinkLayerOptionLen)
	if out == nil {
		return
	}
	header.NDPNeighborSolicit(msg).Encode(target, ifc.mac)
	sn.inc(NDSolicitsTx)
	sn.output6(ifc, out, ifc.src6(target), header.IPv6SolicitedNode(target), ndHopLimit, nil)
}
