// Package driver defines the contract between netsplice's softnets and the
// poll-mode drivers that move packet bursts on and off the wire.
//
// # Ports and queues
//
// A [Port] has N receive/transmit queue pairs, numbered 0..N-1. Queue q of
// every port is polled by exactly one softnet (lcore), so each queue, and
// the [Pool] that feeds it, has a single owner goroutine. Bursts cross the
// boundary: [Port.RxBurst] fills a caller-provided slice with up to
// len(pkts) received packets and returns how many; [Port.TxBurst] takes
// ownership of the first n packets it accepts and returns n. The caller
// keeps ownership of the rest (and usually frees them, counting a drop).
// The burst size is fixed for the life of a port.
//
// # Packets
//
// A [Packet] is a descriptor over a buffer that may live in Go memory (the
// in-memory wire) or in C memory (DPDK mbufs): Buf is a slice that may point
// at either, so no copy is ever needed to view a received frame. Every
// buffer reserves headroom in front of the data, so protocol layers prepend
// headers in place. Packets come from per-queue pools and go back to them;
// in steady state nothing is allocated.
//
// # Ownership rules
//
//   - A packet has exactly one owner at a time: the driver while it sits in
//     a ring, the softnet that received or allocated it, or a socket queue
//     owned by that softnet.
//   - [Pool.Get] and [Pool.Put] may only be called by the pool's owner (the
//     goroutine that polls the queue). [Packet.Free] may be called from any
//     goroutine: it returns the packet through a lock-free ring of
//     pointers that the owner drains when its own array runs dry.
//
// # Offloads
//
// A port advertises what it computes for the stack ([Port.Offloads]):
// checksums both ways (the verdicts arrive in [Packet.Flags]; a frame to
// send carries Tx*Checksum flags with L2Len and L3Len) and TCP
// segmentation ([OffloadTxTCPSeg]). A TCP super-frame ([TxTCPSeg]) is a
// packet of headers whose payload, up to 64 KiB, is referenced, not owned:
// [Packet.More] points into the sender's send queue. The port cuts the
// frame into SegSize segments itself (a NIC's TSO, or package driver/gso
// in software), reading the payload during TxBurst, or later when a NIC
// reads it through references the driver took (DPDK's mbuf chains): then
// the driver marks those packets lent ([Packet.Lend]), and their pool,
// when the sender frees them, leaves the buffers to the backend's
// reference count instead of handing them to new data. The sender never
// changes bytes it handed over; it frees the packets when it is done with
// them, as before. Wrappers that hold or record transmitted frames either
// hide the offload or cut the frame first.
//
// Receive coalescing (LRO) is asked for, not advertised: a port that can
// hand consecutive segments of one TCP connection to its owner as one
// frame implements [RxCoalescer], and does so only after the owner called
// SetRxCoalesce(true). Such a frame ([RxTCPCoalesced]) is the first
// segment as it arrived with the others' payload chained on [Packet.Next]
// (the shape the stack's own coalescing builds), the checksums verified
// by the port; freeing it frees the chain. A wrapper that does not pass
// SetRxCoalesce on (a fault injector, a capture) therefore never sees
// one.
//
// # Sharing buffers
//
// A driver may hand a receiver the sender's bytes without copying them,
// as veth hands over a GSO packet's pages: [Packet.Share] makes an empty
// packet a read-only view of another's bytes (no headroom or tailroom, so
// nothing writes past them), and a reference count kept in the viewed
// packet keeps its buffer from reuse until its holder and every view have
// freed it: whoever drops the last reference returns it to its pool
// (Pool.Put and Packet.Free both know). A packet never shared pays one
// flag test; sharing costs an atomic add per view. The sender's side of the
// bargain is that the bytes do not change: TCP's send queue never rewrites
// what it queued, and a receiver treats received payload as read-only.
//
// # RSS
//
// Every port reports its receive-side-scaling configuration ([rss.Config]:
// the 40-byte Toeplitz key, the redirection table and the hashed tuples).
// The stack uses it to predict which queue, and so which softnet, a flow's
// packets arrive on. Received packets carry the hash the NIC (or the
// software wire) computed in [Packet.Hash].
package driver
