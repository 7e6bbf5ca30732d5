// Package header provides zero-copy views of the wire formats used by the
// netsplice network stack: Ethernet, ARP, IPv4, ICMPv4, IPv6 and its
// extension headers, ICMPv6, Neighbor Discovery, UDP and TCP, plus the
// Internet checksum.
//
// Each header is a named byte-slice type, such as
//
//	type IPv4 []byte
//
// whose methods read and write fields directly in the underlying packet
// buffer. Converting a buffer to a view, reading a field or validating a
// header never allocates and never copies; neither do the setters and
// encoders, which write in place.
//
// # Validate, then access
//
// Accessors perform no bounds or consistency checks of their own beyond the
// ones the Go runtime does on slice indexing, so an accessor applied to a
// short or malformed buffer may panic or return garbage. Every view type has
// a Check method that validates lengths, versions and checksums and that
// never panics, whatever the input. Callers must call Check on a received
// header, and act on its result, before using any other method:
//
//	ip := header.IPv4(eth.Payload())
//	if e := ip.Check(); e != header.OK {
//		stats.drop[e]++
//		return
//	}
//	udp := header.UDP(ip.Payload())
//	if e := udp.Check(ip.Src(), ip.Dst()); e != header.OK {
//		...
//	}
//
// Check reports failures as an [Error], a small integer code rather than an
// error interface value, so that the receive path performs no interface
// conversions; [Error.String] gives a stable name suitable as a metrics label
// and [NumErrors] sizes per-code counter arrays. [Error.Err] converts a code
// to an ordinary error value where one is needed.
//
// Setters and Encode methods, used when building packets, require a buffer
// that is already large enough for the header being written.
//
// # IPv6
//
// The IPv6 views follow the same rules; what each needs before use:
//
//   - [IPv6] is the 40-byte fixed header. [IPv6.Check] checks the length,
//     the version and that the payload length fits in the buffer, which
//     may be longer (Ethernet padding). Jumbograms are not supported.
//   - [IPv6.WalkExtHeaders] runs Check, then walks the Hop-by-Hop,
//     Routing, Fragment and Destination Options headers within the payload
//     into an [IPv6ExtHeaders] the caller owns: the upper-layer protocol
//     and its offset, the Fragment header's fields, and for an
//     unrecognized Next Header ([ErrUnknownNextHeader]) the ICMPv6
//     Parameter Problem pointer. It bounds the chain at [IPv6MaxExtHeaders]
//     and treats AH and ESP as unrecognized.
//   - [UDP] and [TCP] are validated over IPv6 with CheckIPv6 and
//     checksummed with SetChecksumIPv6, which use the IPv6 pseudo header
//     ([PseudoHeaderChecksumIPv6]); the UDP checksum is mandatory over
//     IPv6. The upper-layer packet starts at IPv6ExtHeaders.Offset.
//   - [ICMPv6] needs the addresses for its checksum: ICMPv6.Check(src, dst)
//     before any accessor.
//   - [NDPNeighborSolicit] and [NDPNeighborAdvert] are ICMPv6 messages:
//     call ICMPv6.Check (the checksum), then their own Check (type, code,
//     length and options); the checks that need the IPv6 header, such as
//     the hop limit of 255, are the caller's. [NDPOptions] walks options
//     with Next and validates them with Check; it never panics.
//   - The address helpers ([IPv6SolicitedNode], [IPv6MulticastMAC],
//     [IPv6LinkLocal], [ModifiedEUI64]) work on [16]byte addresses, the
//     type IPv6.Src and IPv6.Dst return.
//
// Multi-byte fields are in network byte order. Nothing in this package keeps
// mutable state, so all of it is safe for concurrent use on distinct buffers.
package header
