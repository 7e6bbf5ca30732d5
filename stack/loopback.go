package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// Local delivery. A datagram to one of the stack's own addresses (a
// connection from the stack to itself, a relay whose backend is the
// stack's own service) never reaches a port: ipOutput hands it to
// loopback, which gives it to the softnet that RSS would have picked had
// it come from the wire (Interface.queueFor over the datagram as
// received), the same rule that places connections. On the sending
// softnet it waits in a list for the next loop iteration; for another
// softnet it goes through that softnet's MPSC loopback ring (counted in
// loopback_crossed). The packet itself travels, so its Loops count (the
// splices its data passed) survives, which is how a splice loop inside
// one stack is detected (ELOOP).

// loopRingSize bounds the datagrams in flight to one softnet from others.
const loopRingSize = 4096

// loopback delivers a datagram that ipOutput built for ifc's own address.
// The port would have filled in offloaded checksums: that is done here.
// It owns pk.
func (sn *Softnet) loopback(ifc *Interface, pk *driver.Packet) {
	sn.inc(LoopbackTx)
	var target *Softnet
	if l3 := pk.Data()[header.EthernetHeaderLen:]; l3[0]>>4 == 6 {
		target = sn.loopback6(ifc, pk, header.IPv6(l3))
	} else {
		target = sn.loopback4(ifc, pk, header.IPv4(l3))
	}
	pk.Flags, pk.L2Len, pk.L3Len = 0, 0, 0
	if target == sn {
		sn.loop = append(sn.loop, pk)
		return
	}
	if !target.loopIn.Push(pk) {
		sn.inc(LoopbackDropFull)
		sn.free(pk)
		return
	}
	sn.inc(LoopbackCrossed)
	target.wakeup()
}

// loopback4 completes the offloaded checksums of an IPv4 datagram to
// ourselves and returns the softnet it goes to.
func (sn *Softnet) loopback4(ifc *Interface, pk *driver.Packet, ip header.IPv4) *Softnet {
	src, dst := ip.Src(), ip.Dst()
	l4 := ip.Payload()
	var sport, dport uint16
	switch ip.Protocol() {
	case header.ProtoTCP:
		t := header.TCP(l4)
		if pk.Flags&driver.TxTCPChecksum != 0 {
			t.SetChecksum(src, dst, uint16(len(l4)))
		}
		sport, dport = t.SrcPort(), t.DstPort()
	case header.ProtoUDP:
		u := header.UDP(l4)
		if pk.Flags&driver.TxUDPChecksum != 0 {
			u.SetChecksum(src, dst)
		}
		sport, dport = u.SrcPort(), u.DstPort()
	}
	if pk.Flags&driver.TxIPChecksum != 0 {
		ip.SetChecksum()
	}
	return sn.st.sn[ifc.queueFor4(ip.Protocol(), src, dst, sport, dport)]
}

// loopback6 is loopback4 for an IPv6 datagram (ip6Output sends TCP and
// UDP with no extension headers).
func (sn *Softnet) loopback6(ifc *Interface, pk *driver.Packet, ip header.IPv6) *Softnet {
	src, dst := ip.Src(), ip.Dst()
	l4 := ip.Payload()
	var sport, dport uint16
	switch ip.NextHeader() {
	case header.ProtoTCP:
		t := header.TCP(l4)
		if pk.Flags&driver.TxTCPChecksum != 0 {
			t.SetChecksumIPv6(src, dst, uint16(len(l4)))
		}
		sport, dport = t.SrcPort(), t.DstPort()
	case header.ProtoUDP:
		u := header.UDP(l4)
		if pk.Flags&driver.TxUDPChecksum != 0 {
			u.SetChecksumIPv6(src, dst)
		}
		sport, dport = u.SrcPort(), u.DstPort()
	}
	return sn.st.sn[ifc.queueFor(ip.NextHeader(), src, dst, sport, dport)]
}

// loopInput delivers the datagrams to ourselves that are due on this
// softnet and returns how many.
func (sn *Softnet) loopInput() int {
	n := 0
	for i := 0; i < loopRingSize; i++ {
		pk := sn.loopIn.Pop()
		if pk == nil {
			break
		}
		sn.localInput(pk)
		n++
	}
	if len(sn.loop) == 0 {
		return n
	}
	// What these datagrams cause to be sent to ourselves waits for the
	// next iteration.
	batch := sn.loop
	sn.loop, sn.loopNext = sn.loopNext[:0], batch
	for i, pk := range batch {
		batch[i] = nil
		sn.localInput(pk)
	}
	return n + len(batch)
}

// localInput hands a datagram to ourselves to its protocol: its headers
// were built by this stack, so the checks for frames off the wire (MAC,
// martian source, checksums the port filled in) do not apply.
func (sn *Softnet) localInput(pk *driver.Packet) {
	sn.inc(LoopbackRx)
	frame := pk.Data()
	if frame[header.EthernetHeaderLen]>>4 == 6 {
		sn.localInput6(pk, header.IPv6(frame[header.EthernetHeaderLen:]))
		return
	}
	ip := header.IPv4(frame[header.EthernetHeaderLen:])
	ifc := sn.st.interfaceFor(ip.Dst())
	if ifc == nil {
		sn.inc(IPDropNotForUs)
		sn.free(pk)
		return
	}
	sn.inc(IPRx)
	switch ip.Protocol() {
	case header.ProtoUDP:
		sn.udpInput(ifc, pk, ip, false)
	case header.ProtoICMP:
		sn.icmpInput(ifc, pk, ip, false)
	case header.ProtoTCP:
		sn.tcpInput(ifc, pk, ip, false)
	default:
		sn.inc(IPDropProto)
		sn.free(pk)
	}
}

func (sn *Softnet) localInput6(pk *driver.Packet, ip header.IPv6) {
	ifc := sn.st.localIface(ip.Dst())
	if ifc == nil {
		sn.inc(IP6DropNotForUs)
		sn.free(pk)
		return
	}
	sn.inc(IP6Rx)
	switch ip.NextHeader() {
	case header.ProtoUDP:
		sn.udpInput6(ifc, pk, ip, header.IPv6HeaderLen, false)
	case header.ProtoTCP:
		sn.tcpInput6(ifc, pk, ip, header.IPv6HeaderLen, false)
	default:
		sn.inc(IP6DropProto)
		sn.free(pk)
	}
}
