package header

import "encoding/binary"

// UDPHeaderLen is the length of a UDP header.
const UDPHeaderLen = 8

// UDP is a view of a UDP datagram (RFC 768), starting at the header. The
// slice may extend past the end of the datagram (Length). Its accessors
// require a datagram that has passed Check; call Check before any other
// method on a received datagram.
type UDP []byte

// Check validates a UDP datagram carried in IPv4 from src to dst. It
// requires that
//
//   - len(b) >= UDPHeaderLen (else ErrTruncated),
//   - UDPHeaderLen <= Length() <= len(b) (else ErrBadLength), and
//   - the checksum over the pseudo header and the first Length() bytes is
//     correct, or the checksum field is zero, meaning none was sent (else
//     ErrChecksum).
//
// It never panics.
func (b UDP) Check(src, dst [4]byte) Error {
	n, e := b.checkLength()
	if e != OK || binary.BigEndian.Uint16(b[6:8]) == 0 {
		return e
	}
	return verifyChecksum(b[:n], PseudoHeaderChecksum(ProtoUDP, src, dst, n))
}

// CheckIPv6 validates a UDP datagram carried in IPv6 from src to dst, the
// final destination. It is Check with the IPv6 pseudo header, except that
// the checksum is mandatory (RFC 8200 section 8.1): a zero checksum field is
// ErrChecksum. It never panics.
func (b UDP) CheckIPv6(src, dst [16]byte) Error {
	n, e := b.checkLength()
	if e != OK {
		return e
	}
	if binary.BigEndian.Uint16(b[6:8]) == 0 {
		return ErrChecksum
	}
	return verifyChecksum(b[:n], PseudoHeaderChecksumIPv6(ProtoUDP, src, dst, uint32(n)))
}

// CheckHeader performs Check's checks but the checksum's: for a datagram
// whose checksum the port's NIC verified (driver.RxL4ChecksumGood). Over
// IPv6 the caller still refuses a zero checksum field. It never panics.
func (b UDP) CheckHeader() Error {
	_, e := b.checkLength()
	return e
}

// checkLength checks the buffer and Length field for Check and CheckIPv6
// and returns Length.
func (b UDP) checkLength() (uint16, Error) {
	if len(b) < UDPHeaderLen {
		return 0, ErrTruncated
	}
	n := binary.BigEndian.Uint16(b[4:6])
	if n < UDPHeaderLen || int(n) > len(b) {
		return 0, ErrBadLength
	}
	return n, OK
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Length returns the length of the datagram, header included, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Checksum returns the checksum field; zero means no checksum was sent.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the datagram payload, the bytes from the end of the header
// to Length.
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// SetSrcPort sets the source port.
func (b UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDstPort sets the destination port.
func (b UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetLength sets the length field.
func (b UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetChecksumField sets the checksum field to v. See SetChecksum for
// computing it.
func (b UDP) SetChecksumField(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// Encode writes a UDP header with the given ports and length (header plus
// payload) and a zero checksum. Call SetChecksum once the payload is in
// place.
func (b UDP) Encode(sport, dport, length uint16) {
	_ = b[UDPHeaderLen-1] // Bounds check hint.
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], length)
	b[6], b[7] = 0, 0
}

// SetChecksum computes the checksum over the IPv4 pseudo header for src and
// dst and the first Length() bytes of b, and stores it. A computed checksum
// of zero is stored as 0xffff, since zero means no checksum (RFC 768).
func (b UDP) SetChecksum(src, dst [4]byte) {
	n := b.Length()
	b.setChecksum(n, PseudoHeaderChecksum(ProtoUDP, src, dst, n))
}

// SetChecksumIPv6 computes the checksum over the IPv6 pseudo header for src
// and dst, the final destination, and the first Length() bytes of b, and
// stores it. A computed checksum of zero is stored as 0xffff (RFC 8200
// section 8.1).
func (b UDP) SetChecksumIPv6(src, dst [16]byte) {
	n := b.Length()
	b.setChecksum(n, PseudoHeaderChecksumIPv6(ProtoUDP, src, dst, uint32(n)))
}

// SetChecksumSummed stores the checksum from pseudo, the pseudo header's
// sum (PseudoHeaderChecksum or PseudoHeaderChecksumIPv6), and payload,
// the sum of the bytes after the header (Checksum(payload, 0)), reading
// only the header: for a payload whose sum its writer already knows (a
// template's, or one summed while copying), as Linux sums while copying
// from user space. The length field must be set. A wrong payload sum
// stores a checksum the receiver rejects; zero is stored as 0xffff.
func (b UDP) SetChecksumSummed(pseudo, payload uint32) {
	// The header's words are read one by one: the ports and length were
	// just stored that way, and a wider load would wait on the stores.
	_ = b[UDPHeaderLen-1] // Bounds check hint.
	c := ^Fold(uint32(Fold(pseudo)) + uint32(Fold(payload)) +
		uint32(binary.BigEndian.Uint16(b[0:2])) + uint32(binary.BigEndian.Uint16(b[2:4])) + uint32(binary.BigEndian.Uint16(b[4:6])))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[6:8], c)
}

// setChecksum stores the checksum of the first n bytes of b summed from the
// pseudo header sum pseudo, with zero sent as 0xffff.
func (b UDP) setChecksum(n uint16, pseudo uint32) {
	b[6], b[7] = 0, 0
	c := ^Fold(Checksum(b[:n], pseudo))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[6:8], c)
}
