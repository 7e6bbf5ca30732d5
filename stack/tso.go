package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
)

// TCP segmentation offload. On an interface whose port cuts TCP
// super-frames (driver.OffloadTxTCPSeg with TCP checksum offload), a
// connection with more than one MSS to send hands the port one frame of
// headers whose payload, up to 64 KiB, stays in the send queue and is
// referenced (driver.Packet.More): no copy, one header, one pass through
// IP and Ethernet output and one transmit slot for up to 44 segments.
// Single segments with payload go the same way, as super-frames of one
// segment (retransmissions, a write's tail, segments with SACK blocks):
// the stack copies no payload for such a port (tcp_tx_copy_bytes 0).
//
// The port reads the referenced payload during TxBurst, or keeps
// references the send queue's buffers honour (DPDK's lent mbufs,
// memwire's views), so a super-frame must reach TxBurst before anything
// can free the send queue's packets: xmit flushes the transmit batch at
// once after one, and a super-frame that would wait (for ARP or Neighbor
// Discovery, or on the loopback ring) is first cut into ordinary frames
// in software (cutSuperFrame). The send queue never changes bytes it
// queued.

// wireL4 returns the largest network-layer payload one frame of pk puts
// on the wire: all of it, or for a super-frame its headers and one
// segment's payload.
func wireL4(pk *driver.Packet) int {
	if pk.More == nil {
		return pk.Len()
	}
	return pk.Len() + min(int(pk.MoreLen), int(pk.SegSize))
}

// wireSize returns the frames and bytes pk puts on the wire.
func wireSize(pk *driver.Packet) (frames, bytes uint64) {
	if pk.More == nil {
		return 1, uint64(pk.Len())
	}
	n := uint64(gso.Count(pk))
	return n, n*uint64(pk.Len()) + uint64(pk.MoreLen)
}

// cutSuperFrame cuts super-frame pk into ordinary frames from ifc's pool,
// frees pk and returns the frames (in sn.segs, valid until the next
// call), which the caller owns. A cut that fails (no buffers) drops the
// super-frame and returns none, counted: TCP sends the data again.
func (sn *Softnet) cutSuperFrame(ifc *Interface, pk *driver.Packet) []*driver.Packet {
	segs, err := gso.Cut(pk, ifc.port.Pool(sn.id), sn.segs)
	sn.segs = segs[:0]
	sn.free(pk)
	if err != nil {
		sn.inc(TxDropNoBuf)
		return nil
	}
	sn.inc(TCPTSOCut)
	return segs
}

// loopbackFrame is loopback for a frame that may be a super-frame: the
// loopback ring would keep its references past this iteration.
func (sn *Softnet) loopbackFrame(ifc *Interface, pk *driver.Packet) {
	if pk.More == nil {
		sn.loopback(ifc, pk)
		return
	}
	for _, s := range sn.cutSuperFrame(ifc, pk) {
		sn.loopback(ifc, s)
	}
}
