package stack

import (
	"bytes"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// Receive coalescing (GRO in software).
//
// While a softnet walks a receive burst, in-order data segments of one
// connection that follow each other in the burst are chained into one
// segment before TCP input: the connection's state machine, its ACK
// processing and the reader's wake-up run once per chain instead of once
// per wire segment. Each segment was validated on its own first (checksum,
// header, flow lookup); coalescing only decides whether it continues the
// segment held.
//
// The rules follow Linux's tcp_gro_receive. A segment may start a chain
// when its connection is ESTABLISHED and it carries payload with ACK and
// without SYN, RST, URG, FIN or PSH. A later segment joins when it is for
// the same connection, starts where the chain ends, has the same
// acknowledgment, window, flags (but PSH and FIN) and option bytes
// (timestamps and SACK blocks included), no CWR, and no more payload than
// the chain's first segment; the chain then carries at most 64 KiB of
// payload. One that is shorter than the first, or carries PSH or FIN,
// joins as the last. Any other TCP segment first flushes the chain held,
// so a connection's segments reach TCP input in the order they arrived;
// the chain is flushed at the end of each interface's burst too.
//
// A chain is the head packet with the others on Packet.Next, each holding
// its payload only. TCP input handles it as one segment of the summed
// length: in-order data within the window is delivered piece by piece
// onto the receive ring; anything else (a retransmission overlapping what
// was received, data past the window, a hole waiting to be filled) is
// handled piece by piece as if nothing had been coalesced.
//
// TCPConfig.NoCoalesce turns it off, as `ethtool -K gro off`.

// maxCoalesced bounds a chain's payload, as a super-frame's.
const maxCoalesced = 65535

// maxTCPOptions is the most option bytes a TCP header holds.
const maxTCPOptions = 40

// groChain is the coalesced segment a softnet holds during a receive
// burst. Softnet-owned.
type groChain struct {
	c          *TCPConn
	seg        segment // the head's, n summed over the chain, PSH and FIN or'ed in
	head, tail *driver.Packet
	pieces     int
	segSize    int  // the first segment's payload: later ones carry no more
	closed     bool // a last segment joined
	optLen     uint8
	opts       [maxTCPOptions]byte
}

// groInput offers a checked segment of c (pk holds its payload, opts its
// raw options) to the chain held, and passes it to TCP input when it
// neither joins nor starts one. It owns pk.
func (sn *Softnet) groInput(c *TCPConn, pk *driver.Packet, seg *segment, opts []byte) {
	g := &sn.gro
	if g.c != nil {
		if g.joins(c, seg, opts) {
			pk.Next = nil
			g.tail.Next, g.tail = pk, pk
			g.seg.n += seg.n
			g.seg.flags |= seg.flags & (header.TCPFlagPsh | header.TCPFlagFin)
			g.pieces++
			g.closed = seg.n < g.segSize || seg.flags&(header.TCPFlagPsh|header.TCPFlagFin) != 0
			sn.inc(TCPRxCoalesced)
			return
		}
		sn.groFlush()
	}
	if c.state != tcpEstablished || seg.n == 0 || len(opts) > len(g.opts) ||
		seg.flags&(header.TCPFlagAck|header.TCPFlagSyn|header.TCPFlagRst|header.TCPFlagUrg|header.TCPFlagFin|header.TCPFlagPsh) != header.TCPFlagAck {
		c.input(pk, seg)
		return
	}
	pk.Next = nil
	*g = groChain{c: c, seg: *seg, head: pk, tail: pk, pieces: 1, segSize: seg.n, optLen: uint8(len(opts))}
	copy(g.opts[:], opts)
}

// lroInput passes to TCP input a segment the port coalesced
// (driver.RxTCPCoalesced): pk holds the first segment's payload, more
// the others' (sn.rxMore). It is the chain coalescing builds, already
// built: after the chain held, if any, it goes to TCP input whole.
func (sn *Softnet) lroInput(c *TCPConn, pk, more *driver.Packet, seg *segment) {
	sn.rxMore = nil
	pk.Next = more
	for p := more; p != nil; p = p.Next {
		seg.n += p.Len()
	}
	// The segments the frame stands for, as the port cut them (its pieces
	// may be parts of segments: views of the sender's buffers).
	seg.segs = 1
	if ss := int(pk.SegSize); ss > 0 {
		seg.segs = (seg.n + ss - 1) / ss
	}
	sn.inc(TCPRxLRO)
	sn.add(TCPRxCoalesced, uint64(seg.segs-1))
	if sn.gro.c != nil {
		sn.groFlush()
	}
	c.input(pk, seg)
}

// joins reports whether a segment of c continues the chain.
func (g *groChain) joins(c *TCPConn, seg *segment, opts []byte) bool {
	const anyOf = header.TCPFlagPsh | header.TCPFlagFin
	return g.c == c && !g.closed &&
		seg.seq == g.seg.seq+uint32(g.seg.n) &&
		seg.ack == g.seg.ack && seg.wnd == g.seg.wnd &&
		seg.flags&^anyOf == g.seg.flags && seg.flags&header.TCPFlagCwr == 0 &&
		seg.n > 0 && seg.n <= g.segSize && g.seg.n+seg.n <= maxCoalesced &&
		bytes.Equal(opts, g.opts[:g.optLen])
}

// groFlush hands the chain held to TCP input.
func (sn *Softnet) groFlush() {
	g := &sn.gro
	c, head, seg := g.c, g.head, g.seg
	*g = groChain{}
	if c.removed {
		// Another segment of the burst ended the connection while the
		// chain waited: as if these had arrived after it.
		sn.inc(TCPNoConn)
		sn.freeSeg(head)
		return
	}
	c.input(head, &seg)
}

// freeSeg frees a received segment: pk and, for a coalesced one, the
// packets chained on pk.Next.
func (sn *Softnet) freeSeg(pk *driver.Packet) {
	for pk != nil {
		next := pk.Next
		pk.Next = nil
		sn.free(pk)
		pk = next
	}
}

// receiveChain queues a coalesced segment's payload (and a FIN): pk is
// the head, the rest chained on pk.Next; segs is the wire segments it
// stands for, 0 for one per packet.
func (c *TCPConn) receiveChain(pk *driver.Packet, seq uint32, fin bool, segs int) {
	n, pieces := 0, 0
	for p := pk; p != nil; p = p.Next {
		n += p.Len()
		pieces++
	}
	if segs > 0 {
		pieces = segs
	}
	if seq != c.rcvNxt || len(c.ooo) > 0 || c.appClosed.Load() || seqGT(seq+uint32(n), c.rcvAdv) {
		// Not plain in-order data within the window: the pieces one by
		// one, exactly as without coalescing.
		for pk != nil {
			next := pk.Next
			pk.Next = nil
			l := uint32(pk.Len())
			if c.state == tcpClosed {
				c.sn.free(pk)
			} else {
				c.receive(pk, seq, fin && next == nil)
			}
			seq += l
			pk = next
		}
		return
	}
	for pk != nil {
		next := pk.Next
		pk.Next = nil
		if !c.queueData(pk) {
			c.sn.freeSeg(next) // not acknowledged: the peer sends it again
			fin = false
			break
		}
		pk = next
	}
	c.wakeReader()
	if fin {
		c.receiveFin()
		if c.state == tcpClosed {
			return
		}
	}
	if fin || c.finRcvd.Load() || c.state == tcpTimeWait {
		c.sendAck()
		return
	}
	c.ackOwed += pieces - 1 // ackLater counts the last
	c.ackLater()
}
