package driver

import "sync/atomic"

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
	// the packets on Next hold the rest of the payload, headers stripped,
	// in order (a segment's, or part of one: they may be views of the
	// sender's buffers, Share), and SegSize the payload bytes of each
	// segment but the last. The port verified every segment's checksums and
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
	// (TxTCPSeg) is cut into: the connection's MSS less its options; on a
	// frame received coalesced (RxTCPCoalesced), of each segment that
	// was coalesced but the last.
	SegSize uint16

	pool *Pool
	head uint16 // headroom of an empty buffer
	// lent: a driver took references to the buffer that outlive TxBurst
	// (Lend); the pool gives it back to its backend rather than reuse it.
	lent bool

	// Sharing (Share): a view holds root, the packet whose buffer it
	// reads, and keeps its own buffer in own until it is freed. A root
	// that was shared counts its references in refs, itself included;
	// whoever drops the last returns it to its pool. shared is written by
	// the root's holder when it first shares it and read by whoever frees
	// it, who holds it after that holder.
	root   *Packet
	own    []byte
	shared bool
	refs   atomic.Int32
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

// Share makes p, an empty packet just taken from its pool, a read-only
// view of n bytes of q's frame starting off bytes into it, without
// copying: p's Buf becomes those bytes (no headroom, no tailroom, so
// Prepend and Append fail and nothing is written past them), and q's
// buffer (or the buffer q itself views) is kept from reuse until p and
// every other view are freed and its holder freed it too: a reference
// count, atomic, paid only by shared buffers. Neither side may change the
// shared bytes after Share; the holder of q's buffer keeps it as it was
// (TCP's send queue, whose bytes never change once written). It reports
// false, changing nothing, when the range is outside q's frame or p is
// not empty. The goroutine calling it holds q (and, where q is no view,
// owns it: the first Share of a buffer marks it).
func (p *Packet) Share(q *Packet, off, n int) bool {
	if off < 0 || n <= 0 || off > q.n || n > q.n-off || p.n != 0 || p.root != nil {
		return false
	}
	root := q
	if q.root != nil {
		root = q.root
		root.refs.Add(1)
	} else if !q.shared {
		q.shared = true
		q.refs.Store(2)
	} else {
		q.refs.Add(1)
	}
	s := q.off + off
	p.own, p.root = p.Buf, root
	p.Buf = q.Buf[s : s+n : s+n]
	p.off, p.n = 0, n
	return true
}

// Unshare makes a view (Share) an empty packet of its own buffer again,
// dropping its reference: for a driver taking back a view it never handed
// over. Other packets are left as they are.
func (p *Packet) Unshare() {
	if p.root != nil {
		p.release()
		p.off, p.n = int(p.head), 0
	}
}

// Shared reports whether p is a view of another packet's buffer (Share).
func (p *Packet) Shared() bool { return p.root != nil }

// release ends p's part in sharing before p goes back to its pool. A view
// gets its own buffer back and drops its reference to the root (the last
// one returns the root to the root's pool). It reports false when p is a
// root whose buffer views still read: the last of them returns it.
func (p *Packet) release() bool {
	if root := p.root; root != nil {
		p.Buf, p.own, p.root = p.own, nil, nil
		if root.refs.Add(-1) == 0 {
			root.pool.putRemote(root)
		}
		return true
	}
	return !p.shared || p.refs.Add(-1) == 0
}

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
func (p *Packet) Reset() { p.resetTo(int(p.head)) }

// resetTo is Reset for a caller that knows the buffer's headroom: it
// writes p without reading it, so that a packet last touched by another
// core costs the pool's owner no wait.
func (p *Packet) resetTo(headroom int) {
	p.off, p.n = headroom, 0
	p.Hash, p.Flags, p.Port, p.Queue, p.L2Len, p.L3Len = 0, 0, 0, 0, 0, 0
	p.Loops = 0
	p.Next = nil
	p.More, p.MoreLen = nil, 0
	p.lent = false
	p.shared = false
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
// and pool. It reports false when q's frame does not fit p's buffer, or
// p is a view of another's (Share).
func (p *Packet) CopyFrom(q *Packet) bool {
	if p.root != nil {
		return false // a view's bytes are not its to write
	}
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
func (p *Packet) Free() {
	if p.root != nil || p.shared {
		if !p.release() {
			return
		}
	}
	p.pool.putRemote(p)
}
