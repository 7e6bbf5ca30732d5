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
	if mac, ok := sn.arpLookup(ifc, nexthop); ok {
		eth.SetDst(mac)
		sn.xmit(ifc, pk)
		return
	}
	sn.arp.wait(ifc, pk, nexthop)
}

// arpLookup is neighTable.lookup for IPv4, written out in non-generic
// code: there the compiler compares the 4-byte keys inline and uses the
// runtime's 32-bit-key map access, where the generic method goes through
// the instantiation's dictionary (1-4 ns a packet). Keep the two alike.
func (sn *Softnet) arpLookup(ifc *Interface, ip [4]byte) (header.MAC, bool) {
	a := &sn.arp
	var e neighEntry
	if a.lastOK && a.lastIP == ip {
		e = a.last
	} else {
		var ok bool
		if e, ok = a.entries[ip]; !ok {
			return header.MAC{}, false
		}
		a.lastIP, a.last, a.lastOK = ip, e, true
	}
	if e.expires > sn.now && e.refreshAt > sn.now {
		return e.mac, true
	}
	return a.use(ifc, ip, e)
}
