// Package memwire is an in-memory Ethernet wire joining two or more ports,
// the test and benchmark link for everything above the driver contract.
//
// A Wire behaves as a hub: a frame sent on one port reaches every other
// port whose address it matches (its own unicast MAC, broadcast or
// multicast, or any frame for a promiscuous port). Each port has N queue
// pairs and spreads the frames it receives over its receive queues with
// software Toeplitz RSS, using the port's key and redirection table, as a
// NIC does. Frames that are not IPv4 go to the queue of hash 0.
//
// # Rings and buffers
//
// Every receive queue models a NIC receive ring. Its owner (the softnet
// that polls it) posts empty buffers from its own pool; a sender fills one
// posted buffer per frame. To keep the wire cheap a sender does not copy:
// it swaps its filled packet for the posted empty one, so the filled
// buffer joins the receiver's pool and the empty one joins the pool the
// filled one came from, and both pools keep their size. A frame with more
// than one destination (broadcast) is copied for all but the last, and so
// is a frame whose buffer differs in size from the receiver's. When a ring
// has no posted buffer (or the frame does not fit the receiver's buffer)
// the frame is dropped and counted as missed, like a NIC's imissed. A
// receiver whose pool ran dry posts buffers again on its next poll, even
// of an empty ring.
//
// A ring is guarded by a spin lock taken once per burst and destination
// queue, not per packet, and not at all by a poll that finds the ring
// empty; it never parks a thread, as a NIC ring never does. Senders spin
// for it; the owner never waits: a poll that finds a sender delivering
// returns nothing (as a NIC ring whose descriptors are not yet written
// back) and that sender wakes the owner when it lets go. The fields a
// ring's senders share and those only its owner writes sit on separate
// cache lines. No goroutine or channel is involved per packet.
//
// With Config.TSO a port takes TCP super-frames (driver.TxTCPSeg) and cuts
// them into the frames the wire carries (package driver/gso), reading the
// sender's referenced payload during TxBurst only. A super-frame to one
// port that asked for coalesced frames (SetRxCoalesce, driver.RxCoalescer)
// arrives there whole instead, as veth hands a GSO packet to the kernel:
// one frame marked driver.RxTCPCoalesced, the headers and the first
// segment's payload copied into one of the ring's buffers, the rest of the
// payload chained as views of the sender's buffers (driver.Packet.Share:
// no copy, one view per buffer; buffers of another pool, or of the
// sending queue's pool while it runs low, are copied a segment at a
// time), with no header built per segment. A super-frame that several
// ports take (a promiscuous monitor) is cut for all of them.
//
// # SYN ring
//
// With Config.SYNQueue a port models a NIC's SYN filter (an rte_flow rule
// on the TCP flags, Intel's SYN filter): pure SYNs of both families
// (driver.PureSYN) go to one extra ring instead of their RSS queue, and the
// port implements driver.SYNQueuer. The owner of queue 0 polls that ring
// with RxSYNBurst; a SYN flood overflows it (counted as missed) while the
// RSS queues, and the established connections on them, keep their rings.
//
// Faults (drop, duplicate, reorder, corrupt, delay) are added by wrapping
// a port with the impair package.
package memwire
