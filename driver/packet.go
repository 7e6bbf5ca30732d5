package driver

// DefaultHeadroom is the space reserved in front of received or freshly
// allocated data, as DPDK's RTE_PKTMBUF_HEADROOM. Protocol layers prepend
// their headers into it in place.
const DefaultHeadroom = 128

// DefaultDataRoom is the usable buffer size after the headroom, as DPDK's
// RTE_MBUF_DEFAULT_DATAROOM: a full 1500-byte-MTU Ethernet frame fits.
const DefaultDataRoom = 2048

// Flags are per-packet offload flags set by the driver on receive and by
// the stack on transmit.
type Flags uint32

// Receive flags, set by the driver.
const (
	// RxHashValid means Hash holds the RSS hash of the packet's flow.
	RxHashValid Flags = 1 << iota
	// RxIPChecksumGood means the NIC verified the IPv4 header checksum.
	RxIPChecksumGood
	// RxIPChecksumBad means the NIC found the IPv4 header checksum wrong.
	RxIPChecksumBad
	// RxL4ChecksumGood means the NIC verified the TCP or UDP checksum.
	RxL4ChecksumGood
	// RxL4ChecksumBad means the NIC found the TCP or UDP checksum wrong.
	RxL4ChecksumBad
	// RxTCPCoalesced marks a TCP segment coalesced on receive (LRO) by a
	// port its owner asked for them (RxCoalescer): consecutive in-order
	// segments of one connection whose payload continues on Next. The
	// packet itself is the first segment as it arrived, its headers
	// describing its own bytes (IPv4 total length, IPv6 payload length),
	// except that its TCP flags carry the PSH and FIN of the last segment;
	// each packet on Next holds the payload of one further segment, headers
	// stripped, in order. The port verified every segment's checksums and
	// sets RxL4ChecksumGood (and RxIPChecksumGood for IPv4); the checksums
	// in the headers are not to be checked again. The segments had the
	// same acknowledgment, window and options, and no SYN, RST, URG or CWR.
	// Whoever frees the frame frees the packets on Next too.
	RxTCPCoalesced
)

// Transmit flags, set by the stack to request offloads the port advertises.
const (
	// TxIPChecksum asks the NIC to fill in the IPv4 header checksum.
	TxIPChecksum Flags = 1 << (16 + iota)
	// TxUDPChecksum asks the NIC to fill in the UDP checksum; the stack has
	// stored the pseudo-header sum in the checksum field.
	TxUDPChecksum
	// TxTCPChecksum asks the NIC to fill in the TCP checksum; the stack has
	// stored the pseudo-header sum in the checksum field.
	TxTCPChecksum
	// TxIPv6 says, with TxUDPChecksum or TxTCPChecksum, that the frame is
	// IPv6 (L3Len covers the IPv6 header): without it, IPv4.
	TxIPv6
	// TxTCPSeg marks a TCP super-frame for segmentation offload (TSO):
	// the packet holds the Ethernet, IP and TCP headers (L2Len and L3Len
	// set) and More carries the payload, up to 64 KiB less the headers.
	// The port cuts it into frames of at most SegSize payload bytes, each
	// with the headers copied: IPv4 total length, ID (the head's, plus one
	// per frame) and header checksum, or IPv6 payload length; TCP sequence
	// number advanced, FIN and PSH on the last frame only, CWR on the
	// first only, and the TCP checksum. Only ports advertising
	// OffloadTxTCPSeg take such frames; package driver/gso cuts them in
	// software.
	TxTCPSeg
)

// Offloads is the set of offloads a port supports.
type Offloads uint32

// Offload capabilities a port may advertise.
const (
	OffloadRxIPChecksum Offloads = 1 << iota
	OffloadRxL4Checksum
	OffloadTxIPChecksum
	OffloadTxUDPChecksum
	OffloadTxTCPChecksum
	// OffloadTxTCPSeg: the port takes TCP super-frames (TxTCPSeg) and
	// cuts them into segments itself. A port offering it offers
	// OffloadTxTCPChecksum too. The packets More points at stay the
	// caller's: the port reads them during TxBurst, or, where its NIC
	// reads them later through references, marks them lent (Lend) so
	// that freeing them leaves the buffers to those references.
	OffloadTxTCPSeg
)

// Packet describes one frame in a buffer that may be Go or C memory.
//
// Buf is the whole buffer, headroom included; the frame is
// Buf[off:off+length]. A Packet is owned by one goroutine at a time (see
// the package documentation); its fields are not synchronised.
type Packet struct {
	// Buf is the whole buffer. It may point into C memory (a DPDK mbuf).
	Buf []byte
	off int
	n   int

	// Hash is the RSS hash of the flow, valid when Flags has RxHashValid.
	Hash uint32
	// Flags holds offload flags.
	Flags Flags
	// Port and Queue record where a packet was received.
	Port, Queue uint16
	// L2Len and L3Len give header lengths for transmit offloads.
	L2Len, L3Len uint16

	// Loops counts the splices the packet's data passed inside one stack
	// (OpenBSD's ph_loopcnt): a splice that would move it past a limit
	// ends with ELOOP. Reset clears it; nothing on the wire carries it.
	Loops uint8

	// Priv is reserved for the driver that owns the buffer (for DPDK, the
	// address of the rte_mbuf).
	Priv uintptr

	// Next links packets in queues that the current owner keeps (socket
	// receive queues, pending-resolution queues). Pools use it too, while a
	// packet is free.
	Next *Packet

	// More, MoreOff and MoreLen continue a frame by reference: MoreLen
	// payload bytes that start MoreOff bytes into More's data and run on
	// through More.Next, More.Next.Next and so on. Only a super-frame
	// (TxTCPSeg) has them; the packets they point at belong to the
	// sender, not to whoever holds the frame. Reset clears More.
	More             *Packet
	MoreOff, MoreLen int32
	// SegSize is the payload bytes of each segment a super-frame
	// (TxTCPSeg) is cut into: the connection's MSS less its options.
	SegSize uint16

	pool *Pool
	head uint16 // headroom of an empty buffer
	// lent: a driver took references to the buffer that outlive TxBurst
	// (Lend); the pool gives it back to its backend rather than reuse it.
	lent bool
}

// Lend records that the driver holding p's buffer took a reference to
// it that outlives TxBurst: a NIC reads p's bytes later, through a chain
// the driver built (segmentation offload), while p stays with the sender.
// When p is freed its pool hands it to the backend, whose reference count
// frees the buffer when the last reference goes, instead of caching it
// for reuse while the NIC may still read it. Only packets of backed pools
// (NewBackedPool) may be lent; the flag lasts until the next Get.
func (p *Packet) Lend() { p.lent = true }

// Lent reports whether p was lent (Lend) since it was last taken from
// its pool.
func (p *Packet) Lent() bool { return p.lent }

// Init points p at buf, with headroom bytes reserved in front of the data,
// as a member of pool. Drivers call it once per buffer, when they build
// their packet descriptors.
func (p *Packet) Init(buf []byte, headroom int, pool *Pool) {
	p.Buf = buf
	p.head = uint16(headroom)
	p.pool = pool
	p.Reset()
}

// Data returns the frame bytes.
func (p *Packet) Data() []byte { return p.Buf[p.off : p.off+p.n] }

// Len returns the length of the frame's bytes in the buffer: for a
// super-frame (TxTCPSeg) its headers; FrameLen adds the payload it holds
// by reference.
func (p *Packet) Len() int { return p.n }

// FrameLen returns the frame's length with the payload that More holds
// by reference.
func (p *Packet) FrameLen() int { return p.n + int(p.MoreLen) }

// Headroom returns the free bytes in front of the data.
func (p *Packet) Headroom() int { return p.off }

// Tailroom returns the free bytes after the data.
func (p *Packet) Tailroom() int { return len(p.Buf) - p.off - p.n }

// Pool returns the pool the packet belongs to.
func (p *Packet) Pool() *Pool { return p.pool }

// Reset empties the packet, restores the buffer's headroom and clears
// metadata.
func (p *Packet) Reset() {
	p.off, p.n = int(p.head), 0
	p.Hash, p.Flags, p.Port, p.Queue, p.L2Len, p.L3Len = 0, 0, 0, 0, 0, 0
	p.Loops = 0
	p.Next = nil
	p.More, p.MoreLen = nil, 0
	p.lent = false
}

// SetData sets the frame to Buf[off:off+n]. It reports false, changing
// nothing, when the range does not fit the buffer.
func (p *Packet) SetData(off, n int) bool {
	if off < 0 || n < 0 || off > len(p.Buf) || n > len(p.Buf)-off {
		return false
	}
	p.off, p.n = off, n
	return true
}

// Prepend grows the frame by n bytes at the front and returns them. It
// returns nil, changing nothing, when the headroom is too small.
func (p *Packet) Prepend(n int) []byte {
	if n < 0 || n > p.off {
		return nil
	}
	p.off -= n
	p.n += n
	return p.Buf[p.off : p.off+n]
}

// Append grows the frame by n bytes at the end and returns them. It
// returns nil, changing nothing, when the tailroom is too small.
func (p *Packet) Append(n int) []byte {
	if n < 0 || n > p.Tailroom() {
		return nil
	}
	s := p.off + p.n
	p.n += n
	return p.Buf[s : s+n]
}

// TrimFront removes n bytes from the front of the frame (consuming a
// header). It reports false, changing nothing, when the frame is shorter.
func (p *Packet) TrimFront(n int) bool {
	if n < 0 || n > p.n {
		return false
	}
	p.off += n
	p.n -= n
	return true
}

// Truncate shortens the frame to n bytes. It reports false, changing
// nothing, when n is negative or longer than the frame.
func (p *Packet) Truncate(n int) bool {
	if n < 0 || n > p.n {
		return false
	}
	p.n = n
	return true
}

// CopyFrom makes p a copy of q's frame and metadata, keeping p's buffer
// and pool. It reports false when q's frame does not fit p's buffer.
func (p *Packet) CopyFrom(q *Packet) bool {
	off := q.off
	if off+q.n > len(p.Buf) {
		off = len(p.Buf) - q.n
		if off < 0 {
			return false
		}
	}
	copy(p.Buf[off:off+q.n], q.Data())
	p.off, p.n = off, q.n
	p.Hash, p.Flags, p.Port, p.Queue, p.L2Len, p.L3Len = q.Hash, q.Flags, q.Port, q.Queue, q.L2Len, q.L3Len
	return true
}

// Free returns the packet to its pool. Any goroutine may call it; the
// owner of the pool may use the faster Pool.Put instead.
func (p *Packet) Free() { p.pool.putRemote(p) }
