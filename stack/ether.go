package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// input dispatches one received frame. It owns pk.
func (sn *Softnet) input(ifc *Interface, pk *driver.Packet) {
	frame := pk.Data()
	if len(frame) < header.EthernetHeaderLen {
		sn.inc(DropTruncated)
		sn.free(pk)
		return
	}
	eth := header.Ethernet(frame)
	if dst := eth.Dst(); dst != ifc.mac && !dst.IsMulticast() {
		sn.inc(DropNotForUs)
		sn.free(pk)
		return
	}
	switch t := eth.Type(); {
	case t == header.EtherTypeIPv4 && ifc.has4:
		sn.ipInput(ifc, pk, frame)
	case t == header.EtherTypeARP && ifc.has4:
		sn.arpInput(ifc, pk, frame)
	case t == header.EtherTypeIPv6:
		sn.ipv6Input(ifc, pk, frame)
	default:
		sn.inc(DropEtherType)
		sn.free(pk)
	}
}

// ethSend completes the Ethernet header of an IPv4 frame whose first 14
// bytes are reserved for it and resolves the next hop (ARP) before
// sending. It owns pk.
func (sn *Softnet) ethSend(ifc *Interface, pk *driver.Packet, nexthop [4]byte) {
	eth := header.Ethernet(pk.Data())
	eth.SetSrc(ifc.mac)
	eth.SetType(header.EtherTypeIPv4)
	if ifc.isBroadcast(nexthop) {
		eth.SetDst(header.BroadcastMAC())
		sn.xmit(ifc, pk)
		return
	}
	if sn.arp.setDst(ifc, nexthop, eth) {
		sn.xmit(ifc, pk)
		return
	}
	if pk.More == nil {
		sn.arp.wait(ifc, pk, nexthop)
		return
	}
	for _, s := range sn.cutSuperFrame(ifc, pk) {
		sn.arp.wait(ifc, s, nexthop)
	}
}
