package header

import "encoding/binary"

// ICMPv6MinLen is the length of the fixed part of an ICMPv6 message: type,
// code, checksum and the 32-bit field that follows them in every message
// this package handles.
const ICMPv6MinLen = 8

// ICMPv6MaxErrorLen is the largest ICMPv6 error message, which RFC 4443
// section 2.4 (c) limits so that the IPv6 packet carrying it, without
// extension headers, fits in the IPv6 minimum MTU.
const ICMPv6MaxErrorLen = IPv6MinMTU - IPv6HeaderLen

// ICMPv6 message types (RFC 4443, RFC 4861). Types below 128 are errors.
const (
	ICMPv6DestUnreachable = 1
	ICMPv6PacketTooBig    = 2
	ICMPv6TimeExceeded    = 3
	ICMPv6ParamProblem    = 4
	ICMPv6EchoRequest     = 128
	ICMPv6EchoReply       = 129
	ICMPv6RouterSolicit   = 133
	ICMPv6RouterAdvert    = 134
	ICMPv6NeighborSolicit = 135
	ICMPv6NeighborAdvert  = 136
	ICMPv6Redirect        = 137
)

// ICMPv6 codes.
const (
	// ICMPv6DestUnreachable codes.
	ICMPv6NoRoute            = 0
	ICMPv6AdminProhibited    = 1
	ICMPv6BeyondScope        = 2
	ICMPv6AddressUnreachable = 3
	ICMPv6PortUnreachable    = 4

	// ICMPv6TimeExceeded codes.
	ICMPv6HopLimitExceeded  = 0
	ICMPv6ReassemblyTimeout = 1

	// ICMPv6ParamProblem codes. The pointer of code 1 is
	// IPv6ExtHeaders.Pointer.
	ICMPv6ErroneousHeader   = 0
	ICMPv6UnknownNextHeader = 1
	ICMPv6UnknownOption     = 2
	ICMPv6IncompleteChain   = 3 // RFC 8200 section 4.5, RFC 7112.
)

// ICMPv6 is a view of an ICMPv6 message (RFC 4443), starting at the type
// field and extending to the end of the IPv6 payload (past any extension
// headers). Its accessors require a message that has passed Check; call
// Check before any other method on a received message.
//
// The 32-bit field after the checksum is read, according to the type, with
// Ident and Seq (echo request and reply), MTU (packet too big) or Pointer
// (parameter problem); it is unused in destination unreachable and time
// exceeded messages. Payload is the echo data, or, in an error message, as
// much of the invoking packet as fitted, starting at its IPv6 header.
type ICMPv6 []byte

// Check validates an ICMPv6 message carried in IPv6 from src to dst: it must
// be at least ICMPv6MinLen bytes long (else ErrTruncated), no longer than
// the 32-bit upper-layer length of the pseudo header allows (else
// ErrBadLength), and its checksum, computed over the IPv6 pseudo header
// (next header 58) and the whole slice, must be correct (else ErrChecksum).
// It does not examine the type or code. It never panics.
func (b ICMPv6) Check(src, dst [16]byte) Error {
	if len(b) < ICMPv6MinLen {
		return ErrTruncated
	}
	if uint64(len(b)) > 0xffffffff {
		return ErrBadLength
	}
	return verifyChecksum(b, PseudoHeaderChecksumIPv6(ProtoICMPv6, src, dst, uint32(len(b))))
}

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return b[1] }

// IsError reports whether the message is an error message (type below
// 128), to which no ICMPv6 error may be sent in reply (RFC 4443 section
// 2.4 (e)).
func (b ICMPv6) IsError() bool { return b[0] < 128 }

// Checksum returns the checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Ident returns the identifier of an echo request or reply.
func (b ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Seq returns the sequence number of an echo request or reply.
func (b ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// MTU returns the MTU of a packet too big message.
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Pointer returns the pointer of a parameter problem message: the offset of
// the offending octet in the invoking packet.
func (b ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Payload returns the bytes following the fixed part of the message: echo
// data, or the invoking packet of an error message.
func (b ICMPv6) Payload() []byte { return b[ICMPv6MinLen:] }

// SetType sets the message type.
func (b ICMPv6) SetType(v uint8) { b[0] = v }

// SetCode sets the message code.
func (b ICMPv6) SetCode(v uint8) { b[1] = v }

// SetChecksumField sets the checksum field to v. See SetChecksum for
// computing it, and ChecksumUpdate16 for updating it after an in-place
// change; the pseudo header does not change when an echo request is turned
// into a reply by swapping the addresses.
func (b ICMPv6) SetChecksumField(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetIdent sets the identifier of an echo request or reply.
func (b ICMPv6) SetIdent(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetSeq sets the sequence number of an echo request or reply.
func (b ICMPv6) SetSeq(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// SetMTU sets the MTU of a packet too big message.
func (b ICMPv6) SetMTU(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetPointer sets the pointer of a parameter problem message.
func (b ICMPv6) SetPointer(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetChecksum computes the checksum over the IPv6 pseudo header for src and
// dst and the whole slice, and stores it. Call it after writing the header
// and payload, on a slice that ends where the message ends.
func (b ICMPv6) SetChecksum(src, dst [16]byte) {
	b[2], b[3] = 0, 0
	c := ^Fold(Checksum(b, PseudoHeaderChecksumIPv6(ProtoICMPv6, src, dst, uint32(len(b)))))
	binary.BigEndian.PutUint16(b[2:4], c)
}

// EncodeEcho writes an echo request or reply (typ ICMPv6EchoRequest or
// ICMPv6EchoReply) with the given identifier, sequence number and data, and
// returns its length, ICMPv6MinLen + len(data). b must be at least that
// long. The checksum field is left zero: call SetChecksum on b[:n].
func (b ICMPv6) EncodeEcho(typ uint8, ident, seq uint16, data []byte) int {
	_ = b[ICMPv6MinLen-1] // Bounds check hint.
	b[0], b[1], b[2], b[3] = typ, 0, 0, 0
	binary.BigEndian.PutUint16(b[4:6], ident)
	binary.BigEndian.PutUint16(b[6:8], seq)
	return ICMPv6MinLen + copy(b[ICMPv6MinLen:], data)
}

// EncodeError writes an error message of type typ and code code whose
// 32-bit field after the checksum is param (zero for destination
// unreachable and time exceeded, the MTU for packet too big, the pointer
// for parameter problem) and whose body is invoking, the packet that caused
// the error starting at its IPv6 header. invoking is truncated so that the
// message fits both in b and in ICMPv6MaxErrorLen. It returns the length of
// the message; len(b) must be at least ICMPv6MinLen. The checksum field is
// left zero: call SetChecksum on b[:n].
func (b ICMPv6) EncodeError(typ, code uint8, param uint32, invoking []byte) int {
	_ = b[ICMPv6MinLen-1] // Bounds check hint.
	b[0], b[1], b[2], b[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(b[4:8], param)
	body := b[ICMPv6MinLen:]
	if len(body) > ICMPv6MaxErrorLen-ICMPv6MinLen {
		body = body[:ICMPv6MaxErrorLen-ICMPv6MinLen]
	}
	return ICMPv6MinLen + copy(body, invoking)
}
