package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// arpFrameLen is an ARP frame padded to Ethernet's 60-byte minimum.
const arpFrameLen = 60

// arpInput handles a received ARP frame. It owns pk.
func (sn *Softnet) arpInput(ifc *Interface, pk *driver.Packet, frame []byte) {
	sn.inc(ARPRx)
	arp := header.ARP(frame[header.EthernetHeaderLen:])
	if arp.Check() != header.OK {
		sn.inc(ARPDropBad)
		sn.free(pk)
		return
	}
	spa, sha, tpa := arp.SenderIP(), arp.SenderMAC(), arp.TargetIP()
	op := arp.Op()
	if op == header.ARPRequest {
		sn.inc(ARPRequestsRx)
	} else {
		sn.inc(ARPRepliesRx)
	}
	// Learn only plausible neighbours: on our link, not ourselves, with a
	// unicast hardware address.
	if !ifc.isLocal4(spa) && ifc.onLink(spa) && !ifc.isBroadcast(spa) && spa != ([4]byte{}) && !sha.IsMulticast() {
		forUs := ifc.isLocal4(tpa)
		changed := sn.arp.learn(spa, sha, forUs || op == header.ARPReply)
		// A reply to us is shared even when it changes nothing here. ARP frames
		// carry no flow for RSS to hash, so one queue's softnet receives
		// the replies to every softnet's requests: another softnet whose
		// entry is expiring (or expired, its packets waiting) learns the
		// answer only this way. Shared only when changed, the replies kept
		// refreshing this softnet's entry while the asker's expired, and
		// its flows were cut off for good (a relay's TCP connections on
		// softnet 1 retransmitting into ETIMEDOUT one ARPTimeout in).
		if changed && (forUs || op == header.ARPReply) || forUs && op == header.ARPReply {
			sn.arp.share(spa, sha)
		}
	}
	if op == header.ARPRequest && ifc.isLocal4(tpa) && spa != ([4]byte{}) {
		// Answer in place.
		arp.Encode(header.ARPReply, ifc.mac, tpa, sha, spa)
		eth := header.Ethernet(frame)
		eth.SetDst(sha)
		eth.SetSrc(ifc.mac)
		sn.inc(ARPTx)
		sn.inc(ARPRepliesTx)
		sn.xmit(ifc, pk)
		return
	}
	sn.free(pk)
}

// arpRequest broadcasts a request for target on ifc.
func (sn *Softnet) arpRequest(ifc *Interface, target [4]byte) {
	sn.sendARP(ifc, header.ARPRequest, ifc.ip, target)
	sn.inc(ARPRequestsTx)
}

func (sn *Softnet) sendARP(ifc *Interface, op uint16, spa, target [4]byte) {
	pk := sn.alloc(ifc)
	if pk == nil {
		return
	}
	frame := pk.Append(arpFrameLen)
	clear(frame)
	header.Ethernet(frame).Encode(header.BroadcastMAC(), ifc.mac, header.EtherTypeARP)
	header.ARP(frame[header.EthernetHeaderLen:]).Encode(op, ifc.mac, spa, header.MAC{}, target)
	sn.inc(ARPTx)
	sn.xmit(ifc, pk)
}

// announce sends a gratuitous ARP for every interface.
func (sn *Softnet) announce() {
	for _, ifc := range sn.ifs {
		if !ifc.has4 {
			continue
		}
		sn.sendARP(ifc, header.ARPRequest, ifc.ip, ifc.ip)
		sn.inc(ARPRequestsTx)
		for _, a := range ifc.ip4more {
			sn.sendARP(ifc, header.ARPRequest, a, a)
			sn.inc(ARPRequestsTx)
		}
	}
}
