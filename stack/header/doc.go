// Package header provides zero-copy views of the wire formats used by the
// netsplice network stack: Ethernet, ARP, IPv4, ICMPv4, UDP and TCP, plus
// the Internet checksum.
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
// Multi-byte fields are in network byte order. Nothing in this package keeps
// mutable state, so all of it is safe for concurrent use on distinct buffers.
package header
