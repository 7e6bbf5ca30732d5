package header

import (
	"encoding/binary"
	"net/netip"
)

// NDPNeighborLen is the length of a neighbor solicitation or advertisement
// without options, the ICMPv6 header included.
const NDPNeighborLen = 24

// NDPLinkLayerOptionLen is the length of a source or target link-layer
// address option carrying an Ethernet address.
const NDPLinkLayerOptionLen = 8

// Neighbor Discovery option types (RFC 4861 section 4.6) handled by this
// package.
const (
	NDPOptSourceLinkLayer = 1
	NDPOptTargetLinkLayer = 2
)

// Neighbor advertisement flags, as returned by [NDPNeighborAdvert.Flags].
const (
	NDPFlagRouter    = 0x80
	NDPFlagSolicited = 0x40
	NDPFlagOverride  = 0x20
)

// NDPNeighborSolicit is a view of a neighbor solicitation (RFC 4861 section
// 4.3), starting at the ICMPv6 type field and extending to the end of the
// IPv6 payload. Its accessors require a message that has passed
// ICMPv6.Check (the checksum) and then Check; call both before any other
// method on a received message.
type NDPNeighborSolicit []byte

// Check validates the format of a neighbor solicitation whose checksum
// ICMPv6.Check has verified. It requires that
//
//   - len(b) >= NDPNeighborLen (else ErrTruncated),
//   - the type is ICMPv6NeighborSolicit and the code 0 (else
//     ErrUnsupported), and
//   - the options pass NDPOptions.Check (else ErrOption).
//
// The other checks of RFC 4861 section 7.1.1 need the IPv6 header and are
// the caller's: a hop limit of 255, a target that is not multicast and, if
// the source is the unspecified address, a solicited-node multicast
// destination and no source link-layer address option. It never panics.
func (b NDPNeighborSolicit) Check() Error {
	if len(b) < NDPNeighborLen {
		return ErrTruncated
	}
	if b[0] != ICMPv6NeighborSolicit || b[1] != 0 {
		return ErrUnsupported
	}
	return NDPOptions(b[NDPNeighborLen:]).Check()
}

// Target returns the target address.
func (b NDPNeighborSolicit) Target() [16]byte { return [16]byte(b[8:24]) }

// TargetAddr returns the target address as a netip.Addr.
func (b NDPNeighborSolicit) TargetAddr() netip.Addr { return netip.AddrFrom16(b.Target()) }

// Options returns the options following the fixed part, which may be empty.
func (b NDPNeighborSolicit) Options() NDPOptions { return NDPOptions(b[NDPNeighborLen:]) }

// SourceLinkLayerAddr returns the address in the source link-layer address
// option, and whether there is one.
func (b NDPNeighborSolicit) SourceLinkLayerAddr() (MAC, bool) {
	return b.Options().LinkLayerAddr(NDPOptSourceLinkLayer)
}

// Encode writes a neighbor solicitation for target followed by a source
// link-layer address option carrying ll, and returns its length,
// NDPNeighborLen + NDPLinkLayerOptionLen; b must be at least that long. The
// checksum field is left zero: call ICMPv6(b[:n]).SetChecksum.
//
// Solicitations sent from the unspecified address, for duplicate address
// detection, must carry no such option: use EncodeNoOption.
func (b NDPNeighborSolicit) Encode(target [16]byte, ll MAC) int {
	_ = b[NDPNeighborLen+NDPLinkLayerOptionLen-1] // Bounds check hint.
	n := b.EncodeNoOption(target)
	return n + NDPOption(b[n:]).EncodeLinkLayerAddr(NDPOptSourceLinkLayer, ll)
}

// EncodeNoOption writes a neighbor solicitation for target without options
// and returns its length, NDPNeighborLen; b must be at least that long. The
// checksum field is left zero: call ICMPv6(b[:n]).SetChecksum.
func (b NDPNeighborSolicit) EncodeNoOption(target [16]byte) int {
	_ = b[NDPNeighborLen-1] // Bounds check hint.
	binary.BigEndian.PutUint64(b[0:8], ICMPv6NeighborSolicit<<56)
	copy(b[8:24], target[:])
	return NDPNeighborLen
}

// NDPNeighborAdvert is a view of a neighbor advertisement (RFC 4861 section
// 4.4), starting at the ICMPv6 type field and extending to the end of the
// IPv6 payload. Its accessors require a message that has passed
// ICMPv6.Check (the checksum) and then Check; call both before any other
// method on a received message.
type NDPNeighborAdvert []byte

// Check validates the format of a neighbor advertisement whose checksum
// ICMPv6.Check has verified. It requires that
//
//   - len(b) >= NDPNeighborLen (else ErrTruncated),
//   - the type is ICMPv6NeighborAdvert and the code 0 (else
//     ErrUnsupported), and
//   - the options pass NDPOptions.Check (else ErrOption).
//
// The other checks of RFC 4861 section 7.1.2 are the caller's: a hop limit
// of 255, a target that is not multicast and, if the destination is
// multicast, a clear Solicited flag. It never panics.
func (b NDPNeighborAdvert) Check() Error {
	if len(b) < NDPNeighborLen {
		return ErrTruncated
	}
	if b[0] != ICMPv6NeighborAdvert || b[1] != 0 {
		return ErrUnsupported
	}
	return NDPOptions(b[NDPNeighborLen:]).Check()
}

// Flags returns the flag byte; see NDPFlagRouter, NDPFlagSolicited and
// NDPFlagOverride. The reserved low bits are returned as received.
func (b NDPNeighborAdvert) Flags() uint8 { return b[4] }

// Router reports whether the R flag is set: the sender is a router.
func (b NDPNeighborAdvert) Router() bool { return b[4]&NDPFlagRouter != 0 }

// Solicited reports whether the S flag is set: the advertisement answers a
// solicitation.
func (b NDPNeighborAdvert) Solicited() bool { return b[4]&NDPFlagSolicited != 0 }

// Override reports whether the O flag is set: the advertisement should
// override an existing cache entry.
func (b NDPNeighborAdvert) Override() bool { return b[4]&NDPFlagOverride != 0 }

// Target returns the target address.
func (b NDPNeighborAdvert) Target() [16]byte { return [16]byte(b[8:24]) }

// TargetAddr returns the target address as a netip.Addr.
func (b NDPNeighborAdvert) TargetAddr() netip.Addr { return netip.AddrFrom16(b.Target()) }

// Options returns the options following the fixed part, which may be empty.
func (b NDPNeighborAdvert) Options() NDPOptions { return NDPOptions(b[NDPNeighborLen:]) }

// TargetLinkLayerAddr returns the address in the target link-layer address
// option, and whether there is one.
func (b NDPNeighborAdvert) TargetLinkLayerAddr() (MAC, bool) {
	return b.Options().LinkLayerAddr(NDPOptTargetLinkLayer)
}

// Encode writes a neighbor advertisement with the given flags (R, S and O;
// other bits are cleared) for target, followed by a target link-layer
// address option carrying ll, and returns its length, NDPNeighborLen +
// NDPLinkLayerOptionLen; b must be at least that long. The checksum field
// is left zero: call ICMPv6(b[:n]).SetChecksum.
func (b NDPNeighborAdvert) Encode(flags uint8, target [16]byte, ll MAC) int {
	_ = b[NDPNeighborLen+NDPLinkLayerOptionLen-1] // Bounds check hint.
	n := b.EncodeNoOption(flags, target)
	return n + NDPOption(b[n:]).EncodeLinkLayerAddr(NDPOptTargetLinkLayer, ll)
}

// EncodeNoOption writes a neighbor advertisement with the given flags for
// target without options and returns its length, NDPNeighborLen; b must be
// at least that long. The checksum field is left zero: call
// ICMPv6(b[:n]).SetChecksum.
func (b NDPNeighborAdvert) EncodeNoOption(flags uint8, target [16]byte) int {
	_ = b[NDPNeighborLen-1] // Bounds check hint.
	f := uint64(flags & (NDPFlagRouter | NDPFlagSolicited | NDPFlagOverride))
	binary.BigEndian.PutUint64(b[0:8], ICMPv6NeighborAdvert<<56|f<<24)
	copy(b[8:24], target[:])
	return NDPNeighborLen
}

// NDPOptions is a view of the options of a Neighbor Discovery message (RFC
// 4861 section 4.6): a sequence of type-length-value options, each a
// nonzero multiple of 8 bytes long, filling the slice.
type NDPOptions []byte

// Check validates b: every option must have a nonzero length and end within
// b, and every source or target link-layer address option must be
// NDPLinkLayerOptionLen bytes long, the size for an Ethernet address (RFC
// 2464 section 6). It returns ErrOption if not. An empty b is valid. Options
// of other types are not examined. It never panics.
func (b NDPOptions) Check() Error {
	for len(b) > 0 {
		o, rest, e := b.Next()
		if e != OK {
			return e
		}
		if t := o[0]; (t == NDPOptSourceLinkLayer || t == NDPOptTargetLinkLayer) && len(o) != NDPLinkLayerOptionLen {
			return ErrOption
		}
		b = rest
	}
	return OK
}

// Next splits off the first option of a non-empty b and returns it and the
// options that follow. It returns ErrOption, and nil slices, if that option
// has a length of zero or extends past the end of b, or if b is shorter
// than the two bytes of an option's type and length, as it is when empty.
// Walking a slice with Next takes at most len(b)/8 steps. It never panics.
//
//	for o := opts; len(o) > 0; {
//		opt, rest, e := o.Next()
//		if e != header.OK {
//			...
//		}
//		...
//		o = rest
//	}
func (b NDPOptions) Next() (NDPOption, NDPOptions, Error) {
	if len(b) < 2 {
		return nil, nil, ErrOption
	}
	n := int(b[1]) * 8
	if n == 0 || n > len(b) {
		return nil, nil, ErrOption
	}
	return NDPOption(b[:n]), b[n:], OK
}

// LinkLayerAddr returns the Ethernet address in the first option of type
// typ (NDPOptSourceLinkLayer or NDPOptTargetLinkLayer), and whether there
// is one. As Linux does, later options of the same type are ignored. It
// never panics; on options that fail Check it reports only options that
// precede the first malformed one.
func (b NDPOptions) LinkLayerAddr(typ uint8) (MAC, bool) {
	for len(b) > 0 {
		o, rest, e := b.Next()
		if e != OK {
			break
		}
		if o[0] == typ {
			if len(o) != NDPLinkLayerOptionLen {
				break
			}
			return MAC(o[2:8]), true
		}
		b = rest
	}
	return MAC{}, false
}

// NDPOption is a view of one Neighbor Discovery option, as returned by
// NDPOptions.Next: at least 8 bytes, of which the first two are the type
// and the length in units of 8 bytes.
type NDPOption []byte

// Type returns the option type.
func (b NDPOption) Type() uint8 { return b[0] }

// Len returns the length of the option in bytes, type and length included.
func (b NDPOption) Len() int { return int(b[1]) * 8 }

// Data returns the option's contents after the type and length bytes.
func (b NDPOption) Data() []byte { return b[2:] }

// EncodeLinkLayerAddr writes a link-layer address option of type typ
// (NDPOptSourceLinkLayer or NDPOptTargetLinkLayer) carrying the Ethernet
// address m, and returns its length, NDPLinkLayerOptionLen; b must be at
// least that long.
func (b NDPOption) EncodeLinkLayerAddr(typ uint8, m MAC) int {
	_ = b[NDPLinkLayerOptionLen-1] // Bounds check hint.
	b[0] = typ
	b[1] = NDPLinkLayerOptionLen / 8
	copy(b[2:8], m[:])
	return NDPLinkLayerOptionLen
}
