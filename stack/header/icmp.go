package header

import "encoding/binary"

// ICMPv4MinLen is the length of the fixed part of an ICMPv4 message.
const ICMPv4MinLen = 8

// ICMPv4 message types.
const (
	ICMPEchoReply       = 0
	ICMPDestUnreachable = 3
	ICMPEcho            = 8
	ICMPTimeExceeded    = 11
)

// ICMPv4 codes.
const (
	// ICMPPortUnreachable is the ICMPDestUnreachable code for a closed
	// port.
	ICMPPortUnreachable = 3
)

// ICMPv4 is a view of an ICMPv4 message (RFC 792), starting at the type
// field and extending to the end of the IP payload. Its accessors require a
// message that has passed Check; call Check before any other method on a
// received message.
type ICMPv4 []byte

// Check validates an ICMPv4 message: it must be at least ICMPv4MinLen bytes
// long (else ErrTruncated) and its checksum, computed over the whole slice,
// must be correct (else ErrChecksum). It never panics.
func (b ICMPv4) Check() Error {
	if len(b) < ICMPv4MinLen {
		return ErrTruncated
	}
	if Fold(Checksum(b, 0)) != 0xffff {
		return ErrChecksum
	}
	return OK
}

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Ident returns the identifier of an echo request or reply.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Seq returns the sequence number of an echo request or reply.
func (b ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the bytes following the fixed part of the message.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinLen:] }

// SetType sets the message type.
func (b ICMPv4) SetType(v uint8) { b[0] = v }

// SetCode sets the message code.
func (b ICMPv4) SetCode(v uint8) { b[1] = v }

// SetChecksumField sets the checksum field to v. See SetChecksum for
// computing it, and ChecksumUpdate16 for updating it after an in-place
// change.
func (b ICMPv4) SetChecksumField(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetIdent sets the identifier.
func (b ICMPv4) SetIdent(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetSeq sets the sequence number.
func (b ICMPv4) SetSeq(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// SetRestOfHeader sets bytes 4 to 8 of the header, which are unused
// (zero) in destination unreachable and time exceeded messages.
func (b ICMPv4) SetRestOfHeader(v uint32) { binary.BigEndian.PutUint32(b[4:8], v) }

// SetChecksum computes the checksum over the whole slice and stores it. Call
// it after writing the header and payload.
func (b ICMPv4) SetChecksum() {
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[2:4], ^Fold(Checksum(b, 0)))
}
