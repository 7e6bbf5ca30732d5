package header

import "encoding/binary"

// TCPMinHeaderLen is the length of a TCP header without options.
const TCPMinHeaderLen = 20

// TCP flags, as returned by [TCP.Flags].
const (
	TCPFlagFin = 1 << iota
	TCPFlagSyn
	TCPFlagRst
	TCPFlagPsh
	TCPFlagAck
	TCPFlagUrg
	TCPFlagEce
	TCPFlagCwr
)

// TCP is a view of a TCP segment (RFC 9293), starting at the header and
// ending exactly at the end of the segment, which is the end of the IP
// payload: TCP has no length field of its own. Its accessors require a
// segment that has passed Check; call Check before any other method on a
// received segment.
type TCP []byte

// Check validates a TCP segment carried in IPv4 from src to dst. It
// requires that
//
//   - len(b) >= TCPMinHeaderLen (else ErrTruncated),
//   - TCPMinHeaderLen <= DataOffset() <= len(b) (else ErrHeaderLen),
//   - len(b) <= 65535 (else ErrBadLength), and
//   - the checksum over the pseudo header and all of b is correct (else
//     ErrChecksum).
//
// It does not parse options. It never panics.
func (b TCP) Check(src, dst [4]byte) Error {
	if e := b.CheckHeader(); e != OK {
		return e
	}
	return verifyChecksum(b, PseudoHeaderChecksum(ProtoTCP, src, dst, uint16(len(b))))
}

// CheckIPv6 validates a TCP segment carried in IPv6 from src to dst, the
// final destination. It is Check with the IPv6 pseudo header; segments
// longer than 65535 bytes (jumbograms) are not supported. It never panics.
func (b TCP) CheckIPv6(src, dst [16]byte) Error {
	if e := b.CheckHeader(); e != OK {
		return e
	}
	return verifyChecksum(b, PseudoHeaderChecksumIPv6(ProtoTCP, src, dst, uint32(len(b))))
}

// CheckHeader performs Check's checks but the checksum's: for a segment
// whose checksum the port's NIC verified (driver.RxL4ChecksumGood). It
// never panics.
func (b TCP) CheckHeader() Error {
	if len(b) < TCPMinHeaderLen {
		return ErrTruncated
	}
	if off := int(b[12]>>4) * 4; off < TCPMinHeaderLen || off > len(b) {
		return ErrHeaderLen
	}
	if len(b) > 0xffff {
		return ErrBadLength
	}
	return OK
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// DataOffset returns the header length in bytes, including options.
func (b TCP) DataOffset() int { return int(b[12]>>4) * 4 }

// Flags returns the flag bits; see TCPFlagFin and the following constants.
func (b TCP) Flags() uint8 { return b[13] }

// Window returns the window field, before any window scaling.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// UrgentPtr returns the urgent pointer.
func (b TCP) UrgentPtr() uint16 { return binary.BigEndian.Uint16(b[18:20]) }

// Options returns the options part of the header, which may be empty.
func (b TCP) Options() []byte { return b[TCPMinHeaderLen:b.DataOffset()] }

// Payload returns the segment data following the header.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// SetSrcPort sets the source port.
func (b TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDstPort sets the destination port.
func (b TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetSeq sets the sequence number.
func (b TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetAck sets the acknowledgment number.
func (b TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(b[8:12], v) }

// SetDataOffset sets the header length, given in bytes; it must be a
// multiple of 4 between TCPMinHeaderLen and 60. The reserved bits are
// cleared.
func (b TCP) SetDataOffset(n int) { b[12] = uint8(n/4) << 4 }

// SetFlags sets the flag bits.
func (b TCP) SetFlags(v uint8) { b[13] = v }

// SetWindow sets the window field.
func (b TCP) SetWindow(v uint16) { binary.BigEndian.PutUint16(b[14:16], v) }

// SetChecksumField sets the checksum field to v. See SetChecksum for
// computing it.
func (b TCP) SetChecksumField(v uint16) { binary.BigEndian.PutUint16(b[16:18], v) }

// SetUrgentPtr sets the urgent pointer.
func (b TCP) SetUrgentPtr(v uint16) { binary.BigEndian.PutUint16(b[18:20], v) }

// SetChecksum computes the checksum over the IPv4 pseudo header for src and
// dst and the first tcpLen bytes of b, the whole segment, and stores it.
func (b TCP) SetChecksum(src, dst [4]byte, tcpLen uint16) {
	b.setChecksum(tcpLen, PseudoHeaderChecksum(ProtoTCP, src, dst, tcpLen))
}

// SetChecksumIPv6 computes the checksum over the IPv6 pseudo header for src
// and dst, the final destination, and the first tcpLen bytes of b, the whole
// segment, and stores it.
func (b TCP) SetChecksumIPv6(src, dst [16]byte, tcpLen uint16) {
	b.setChecksum(tcpLen, PseudoHeaderChecksumIPv6(ProtoTCP, src, dst, uint32(tcpLen)))
}

// setChecksum stores the checksum of the first n bytes of b summed from the
// pseudo header sum pseudo.
func (b TCP) setChecksum(n uint16, pseudo uint32) {
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[16:18], ^Fold(Checksum(b[:n], pseudo)))
}
