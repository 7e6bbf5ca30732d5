// Package gso cuts TCP super-frames (driver.TxTCPSeg) into the frames a
// wire carries, as a NIC's segmentation offload (TSO) engine does: the
// software fallback for ports and port wrappers without one, and the
// engine of the in-memory wire's TSO.
//
// A super-frame is one packet holding the Ethernet, IP and TCP headers of
// a TCP segment whose payload, up to 64 KiB less the headers, lies by
// reference in the sender's packets (driver.Packet.More). Segment writes
// each frame whole into a packet of its own: headers copied, lengths,
// IPv4 ID, sequence number and flags set per frame, checksums finished or
// left to the port as the super-frame's flags say. It reads the
// referenced payload and keeps no reference to it.
//
// Segment allocates nothing and runs on the caller's goroutine; it is on
// the hot path of every TSO send, so its per-frame work is a header copy,
// a payload copy and a handful of stores.
package gso

import (
	"errors"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// Errors Segment returns.
var (
	// ErrNotSuperFrame: the packet has no TxTCPSeg flag, no payload by
	// reference or no segment size.
	ErrNotSuperFrame = errors.New("gso: not a TCP super-frame")
	// ErrHeaders: L2Len and L3Len do not describe an IPv4 header without
	// options or an IPv6 header without extension headers, followed by a
	// TCP header that ends the packet's bytes.
	ErrHeaders = errors.New("gso: super-frame headers malformed")
	// ErrShortPayload: the packets More points at hold fewer bytes than
	// MoreLen from MoreOff.
	ErrShortPayload = errors.New("gso: super-frame payload shorter than MoreLen")
	// ErrCount: len(out) is not Count of the super-frame.
	ErrCount = errors.New("gso: output packets do not match the segment count")
	// ErrRoom: an output packet has no room for its frame.
	ErrRoom = errors.New("gso: output packet too small for a segment")
)

// Count returns how many frames super-frame pk is cut into: its payload
// over SegSize, rounded up; 0 when pk is not a super-frame.
func Count(pk *driver.Packet) int {
	if pk.Flags&driver.TxTCPSeg == 0 || pk.MoreLen <= 0 || pk.SegSize == 0 {
		return 0
	}
	return (int(pk.MoreLen) + int(pk.SegSize) - 1) / int(pk.SegSize)
}

// Check reports how many frames super-frame pk is cut into (Count), or
// why it is no well-formed super-frame: ErrNotSuperFrame, or ErrHeaders
// when L2Len and L3Len do not describe an IPv4 header without options or
// an IPv6 header without extension headers followed by a TCP header that
// ends pk's bytes. It reads the headers only, not the payload.
func Check(pk *driver.Packet) (int, error) {
	n := Count(pk)
	if n == 0 {
		return 0, ErrNotSuperFrame
	}
	hdr := pk.Data()
	l2, l3 := int(pk.L2Len), int(pk.L3Len)
	if l2+l3+header.TCPMinHeaderLen > len(hdr) {
		return 0, ErrHeaders
	}
	if pk.Flags&driver.TxIPv6 != 0 {
		if l3 != header.IPv6HeaderLen || header.IPv6(hdr[l2:]).Version() != 6 {
			return 0, ErrHeaders
		}
	} else if ip := header.IPv4(hdr[l2:]); l3 != header.IPv4MinHeaderLen || ip.Version() != 4 || ip.HeaderLen() != l3 {
		return 0, ErrHeaders
	}
	if thl := header.TCP(hdr[l2+l3:]).DataOffset(); thl < header.TCPMinHeaderLen || l2+l3+thl != len(hdr) {
		return 0, ErrHeaders
	}
	return n, nil
}

// Segment cuts super-frame pk into len(out) == Count(pk) frames, written
// into out's packets: empty packets (Len 0), from any pool, each with
// tailroom for pk's headers and SegSize payload bytes. Every frame gets
// pk's flags less TxTCPSeg, pk's L2Len and L3Len, and the largest Loops
// of the payload packets it copies from. A frame keeps TxIPChecksum and
// TxTCPChecksum with the fields set up as for any frame (IPv4 header
// checksum zero, TCP checksum field holding the pseudo header's folded
// sum) for the port to finish; without those flags Segment computes the
// checksums itself. pk is left as it was: the caller still owns it. On
// an error the contents of out are unspecified.
func Segment(pk *driver.Packet, out []*driver.Packet) error {
	n, err := Check(pk)
	if err != nil {
		return err
	}
	if len(out) != n {
		return ErrCount
	}
	hdr := pk.Data()
	l2, l3 := int(pk.L2Len), int(pk.L3Len)
	v6 := pk.Flags&driver.TxIPv6 != 0
	t0 := header.TCP(hdr[l2+l3:])
	seq, flags, thl := t0.Seq(), t0.Flags(), t0.DataOffset()
	var id uint16
	if !v6 {
		id = header.IPv4(hdr[l2:]).ID()
	}
	offIP, offTCP := pk.Flags&driver.TxIPChecksum != 0, pk.Flags&driver.TxTCPChecksum != 0
	src, off, left, mss := pk.More, int(pk.MoreOff), int(pk.MoreLen), int(pk.SegSize)
	for i, o := range out {
		m := min(mss, left)
		if o.Len() != 0 {
			return ErrRoom
		}
		b := o.Append(len(hdr) + m)
		if b == nil {
			return ErrRoom
		}
		copy(b, hdr)
		var loops uint8
		for p := b[len(hdr):]; len(p) > 0; {
			if src == nil {
				return ErrShortPayload
			}
			d := src.Data()
			if off >= len(d) {
				off -= len(d)
				src = src.Next
				continue
			}
			c := copy(p, d[off:])
			p = p[c:]
			off += c
			loops = max(loops, src.Loops)
		}
		left -= m
		f := flags
		if i > 0 {
			f &^= header.TCPFlagCwr
		}
		if i < n-1 {
			f &^= header.TCPFlagFin | header.TCPFlagPsh
		}
		t := header.TCP(b[l2+l3:])
		t.SetSeq(seq + uint32(i*mss))
		t.SetFlags(f)
		l4 := thl + m
		if v6 {
			ip := header.IPv6(b[l2:])
			ip.SetPayloadLen(uint16(l4))
			if offTCP {
				t.SetChecksumField(header.Fold(header.PseudoHeaderChecksumIPv6(header.ProtoTCP, ip.Src(), ip.Dst(), uint32(l4))))
			} else {
				t.SetChecksumIPv6(ip.Src(), ip.Dst(), uint16(l4))
			}
		} else {
			ip := header.IPv4(b[l2:])
			ip.SetTotalLen(uint16(l3 + l4))
			ip.SetID(id + uint16(i))
			if offIP {
				ip.SetHeaderChecksum(0)
			} else {
				ip.SetChecksum()
			}
			if offTCP {
				t.SetChecksumField(header.Fold(header.PseudoHeaderChecksum(header.ProtoTCP, ip.Src(), ip.Dst(), uint16(l4))))
			} else {
				t.SetChecksum(ip.Src(), ip.Dst(), uint16(l4))
			}
		}
		o.Flags = pk.Flags &^ driver.TxTCPSeg
		o.L2Len, o.L3Len = pk.L2Len, pk.L3Len
		o.Loops = loops
	}
	return nil
}

// Cut is Segment into packets taken from pool, which the caller owns
// (driver.Pool.Get): it appends the frames to segs[:0] and returns them,
// the caller owning them. On an error (ErrRoom too when the pool runs
// short) it returns the packets it took to pool and segs[:0]. pk is left
// as it was. segs grows, allocating, only when pk has more frames than
// its capacity.
func Cut(pk *driver.Packet, pool *driver.Pool, segs []*driver.Packet) ([]*driver.Packet, error) {
	segs = segs[:0]
	n := Count(pk)
	if n == 0 {
		return segs, ErrNotSuperFrame
	}
	for range n {
		s := pool.Get()
		if s == nil {
			break
		}
		segs = append(segs, s)
	}
	err := ErrRoom
	if len(segs) == n {
		err = Segment(pk, segs)
	}
	if err != nil {
		for i, s := range segs {
			pool.Put(s)
			segs[i] = nil
		}
		return segs[:0], err
	}
	return segs, nil
}
