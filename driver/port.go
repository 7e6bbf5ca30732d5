package driver

import "github.com/netsplice/netsplice/driver/rss"

// MAC is an Ethernet hardware address.
type MAC [6]byte

// DefaultBurstSize is the burst size drivers use unless configured
// otherwise, as in DPDK's examples.
const DefaultBurstSize = 32

// Link describes a port's link state.
type Link struct {
	Up        bool
	SpeedMbps uint32
}

// Port is a network port with NumQueues receive/transmit queue pairs.
//
// RxBurst, TxBurst and Pool(q) for queue q may only be called by the
// goroutine that owns queue q (one softnet). The other methods are safe
// from any goroutine.
type Port interface {
	// Name identifies the port in logs and statistics.
	Name() string
	// MAC returns the port's hardware address.
	MAC() MAC
	// MTU returns the largest IP packet the port sends, in bytes.
	MTU() int
	// NumQueues returns the number of receive/transmit queue pairs.
	NumQueues() int
	// BurstSize returns the largest burst RxBurst returns and TxBurst
	// accepts, fixed for the life of the port.
	BurstSize() int
	// RSS returns the port's receive-side-scaling configuration.
	RSS() rss.Config
	// Offloads returns the checksum offloads the port performs.
	Offloads() Offloads
	// Link returns the link state.
	Link() Link
	// Pool returns the buffer pool of queue q, from which the owner of q
	// allocates packets to send.
	Pool(q int) *Pool
	// RxBurst stores up to len(pkts) received packets of queue q in pkts
	// and returns how many. The caller owns them.
	RxBurst(q int, pkts []*Packet) int
	// TxBurst queues pkts for transmission on queue q and returns how many
	// it took; the driver owns (and eventually frees) those, the caller
	// keeps the rest.
	TxBurst(q int, pkts []*Packet) int
	// Stats returns the port's counters.
	Stats() PortStats
	// Close stops the port and releases its resources.
	Close() error
}

// PortStats are a port's counters, summed over its queues.
type PortStats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	// RxMissed counts frames the port had to drop because the receive
	// ring had no free buffer (the softnet did not poll fast enough).
	RxMissed uint64
	// RxNoBuf counts receive buffers the port could not allocate.
	RxNoBuf uint64
	// TxErrors counts frames the port could not send (too short or too
	// long) or that nothing received (no port on the wire has the
	// destination address).
	TxErrors uint64
}

// RxNotifier is implemented by ports that can tell a sleeping poller that
// a queue has received packets (the in-memory wire; an interrupt-capable
// NIC). A softnet in adaptive polling mode uses it to wake early.
type RxNotifier interface {
	// SetRxNotify registers fn to be called, from any goroutine, after
	// packets are queued on receive queue q. fn must be cheap and must not
	// block.
	SetRxNotify(q int, fn func())
}

// RxCoalescer is implemented by ports that can receive TCP segments
// coalesced (LRO): consecutive segments of one flow handed to the owner
// as one frame (RxTCPCoalesced), the way a NIC's LRO or veth's GRO hands
// them to the kernel. A port delivers such frames only after its owner
// asked for them with SetRxCoalesce(true): an owner that does not know
// them, or a wrapper between the port and the stack that does not pass
// the method on, never sees one.
type RxCoalescer interface {
	// SetRxCoalesce turns coalesced delivery on or off for every receive
	// queue; an error says the port cannot (its device refused), and
	// nothing changed. Safe from any goroutine; frames already queued keep
	// the form they were queued in.
	SetRxCoalesce(on bool) error
}

// Idler is implemented by ports that hold packets back (a fault injector
// delaying or reordering) and release them when traffic stops. The owner
// of queue q calls Idle(q) when a poll of its queues found nothing.
type Idler interface {
	Idle(q int)
}

// MulticastReceiver is implemented by ports that filter received
// multicast frames by destination address (most NICs). A stack with IPv6
// on the port asks it for the groups Neighbor Discovery needs: all-nodes
// (33:33:00:00:00:01) and the solicited-node group of each address
// (33:33:ff:xx:xx:xx). Ports that deliver every multicast frame anyway
// (the in-memory wire, af_packet) need not implement it.
type MulticastReceiver interface {
	// JoinMulticast makes the port receive frames sent to macs, each a
	// multicast address, in addition to what it receives already. A port
	// may receive more (all multicast). Safe from any goroutine.
	JoinMulticast(macs []MAC) error
}

// SYNQueuer is implemented by ports that receive pure TCP SYNs (SYN set,
// ACK clear, either family; see PureSYN) on a receive ring of their own,
// apart from the RSS queues, as a NIC's SYN filter or an rte_flow rule on
// the TCP flags does. A SYN flood then overflows that ring, and the rings
// that carry established connections' segments keep flowing.
//
// The SYN ring belongs to the owner of queue 0: only that goroutine calls
// RxSYNBurst, and the ring's buffers come from queue 0's side of the port.
// Where queue 0 has a notifier (RxNotifier), it also fires for the SYN
// ring.
type SYNQueuer interface {
	// SYNQueue reports whether pure SYNs arrive on the SYN ring (it may
	// be off, for example when the NIC refused the filter).
	SYNQueue() bool
	// RxSYNBurst is RxBurst for the SYN ring.
	RxSYNBurst(pkts []*Packet) int
}
