package header

import "encoding/binary"

// IPv6MaxExtHeaders is the largest number of extension headers
// [IPv6.WalkExtHeaders] accepts in one packet; a longer chain is
// ErrExtHeader. The order RFC 8200 section 4.1 recommends has at most seven
// (Hop-by-Hop, Destination Options, Routing, Fragment, AH, ESP, Destination
// Options), and the cap bounds the work done on a hostile packet made of
// many small headers.
const IPv6MaxExtHeaders = 8

// IPv6FragmentHeaderLen is the length of the IPv6 Fragment header.
const IPv6FragmentHeaderLen = 8

// IPv6ExtHeaders describes the extension header chain of an IPv6 packet, as
// found by [IPv6.WalkExtHeaders]. All offsets are in bytes from the start of
// the IPv6 fixed header.
type IPv6ExtHeaders struct {
	// Proto is the Next Header value at which the walk stopped. After OK it
	// is the upper-layer protocol (ProtoTCP, ProtoUDP, ProtoICMPv6 or any
	// other value that is not an extension header type) or
	// ProtoIPv6NoNextHeader; for a fragment other than the first, it is
	// the Next Header field of the Fragment header. After
	// ErrUnknownNextHeader it is the unrecognized value, and after
	// ErrExtHeader the type of the malformed header.
	Proto uint8
	// Offset is where the header that Proto names starts, which is the
	// end of the last extension header walked. After OK, the upper-layer
	// packet (for a fragment other than the first, the fragment data; for
	// ProtoIPv6NoNextHeader, bytes to ignore) is
	// b[Offset : IPv6HeaderLen+PayloadLen()].
	Offset int
	// Pointer is the offset of the Next Header field that holds Proto: 6,
	// in the fixed header, when there are no extension headers. After
	// ErrUnknownNextHeader it is the Pointer of the ICMPv6 Parameter
	// Problem (code 1) to send; after OK the stack may answer in the same
	// way an upper-layer protocol it does not implement.
	Pointer int
	// Count is the number of extension headers walked.
	Count int
	// RoutingHeader is the offset of the first Routing header, or 0 if
	// there is none. The walk skips Routing headers whatever their Segments
	// Left; acting on them (RFC 8200 section 4.4) is the caller's job.
	RoutingHeader int

	// Fragment reports whether a Fragment header was walked. The fields
	// below are set only if it is.
	Fragment bool
	// FragmentHeader is the offset of the Fragment header.
	FragmentHeader int
	// FragmentOffset is the fragment offset, in bytes (a multiple of 8).
	FragmentOffset uint16
	// MoreFragments is the M flag.
	MoreFragments bool
	// FragmentID is the identification.
	FragmentID uint32
}

// WalkExtHeaders validates b with Check, walks its extension header chain
// within the payload (IPv6HeaderLen + PayloadLen() bytes) and fills x, which
// it clears first. It never panics and never reads past the payload.
//
// The walk follows Hop-by-Hop Options (0), Routing (43), Fragment (44) and
// Destination Options (60) headers and stops at the first other Next Header
// value. It returns
//
//   - Check's result if b fails Check;
//   - ErrUnknownNextHeader for a Hop-by-Hop Options header anywhere but
//     directly after the fixed header (RFC 8200 section 4.1), or for an
//     extension header type this package does not walk: AH (51), ESP (50),
//     Mobility (135), HIP (139), Shim6 (140) and the experimental 253 and
//     254. x.Pointer locates the offending Next Header field;
//   - ErrExtHeader if a header extends past the payload, if a second
//     Fragment header follows the first, or if the chain has more than
//     IPv6MaxExtHeaders headers;
//   - OK otherwise, with x.Proto the upper-layer protocol. Any value other
//     than the ones above counts as an upper-layer protocol, whether or
//     not the stack implements it; ProtoIPv6NoNextHeader (59) ends the
//     walk like one.
//
// After an error, x describes the chain up to the header at which the walk
// stopped (see the fields' documentation). In particular a first fragment
// (x.Fragment, x.FragmentOffset 0, x.MoreFragments) whose chain is cut off
// by the end of the fragment gives ErrExtHeader, for which RFC 8200
// section 4.5 suggests a Parameter Problem with code 3.
//
// A Fragment header with a nonzero fragment offset ends the walk: what
// follows it is fragment data, not headers. The walk continues after the
// Fragment header of a first fragment, and of an atomic fragment (offset 0
// and M clear, RFC 6946), which the caller may process as a whole packet.
// Options inside Hop-by-Hop and Destination Options headers are not
// examined.
func (b IPv6) WalkExtHeaders(x *IPv6ExtHeaders) Error {
	*x = IPv6ExtHeaders{}
	if e := b.Check(); e != OK {
		return e
	}
	end := IPv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
	nh, ptr, off := b[6], 6, IPv6HeaderLen
	for {
		x.Proto, x.Offset, x.Pointer = nh, off, ptr
		switch nh {
		case ProtoIPv6HopByHop:
			if off != IPv6HeaderLen {
				return ErrUnknownNextHeader
			}
		case ProtoIPv6Routing, ProtoIPv6Fragment, ProtoIPv6DestOpts:
		case ProtoESP, ProtoAH,
			135,      // Mobility (RFC 6275)
			139,      // HIP (RFC 7401)
			140,      // Shim6 (RFC 5533)
			253, 254: // Experimentation and testing (RFC 3692, RFC 4727)
			return ErrUnknownNextHeader
		default:
			return OK
		}
		// Every extension header is a multiple of 8 bytes long, and at
		// least 8.
		if x.Count == IPv6MaxExtHeaders || off+8 > end {
			return ErrExtHeader
		}
		hl := IPv6FragmentHeaderLen
		if nh == ProtoIPv6Fragment {
			if x.Fragment {
				return ErrExtHeader
			}
			fo := binary.BigEndian.Uint16(b[off+2 : off+4])
			x.Fragment = true
			x.FragmentHeader = off
			x.FragmentOffset = fo &^ 7
			x.MoreFragments = fo&1 != 0
			x.FragmentID = binary.BigEndian.Uint32(b[off+4 : off+8])
		} else {
			hl = (int(b[off+1]) + 1) * 8
			if off+hl > end {
				return ErrExtHeader
			}
			if nh == ProtoIPv6Routing && x.RoutingHeader == 0 {
				x.RoutingHeader = off
			}
		}
		x.Count++
		stop := nh == ProtoIPv6Fragment && x.FragmentOffset != 0
		nh, ptr, off = b[off], off, off+hl
		if stop {
			x.Proto, x.Offset, x.Pointer = nh, off, ptr
			return OK
		}
	}
}
