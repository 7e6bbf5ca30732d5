package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6HeaderLen is the length of the fixed IPv6 header.
const IPv6HeaderLen = 40

// IPv6MinMTU is the minimum link MTU of IPv6 (RFC 8200 section 5), the
// largest packet every IPv6 link delivers without fragmentation.
const IPv6MinMTU = 1280

// IPv6 Next Header values, which share the IP protocol number space with
// ProtoTCP, ProtoUDP and the other upper-layer protocols.
const (
	// ProtoIPv6HopByHop is the Hop-by-Hop Options header (RFC 8200 4.3).
	ProtoIPv6HopByHop = 0
	// ProtoIPv6Routing is the Routing header (RFC 8200 4.4).
	ProtoIPv6Routing = 43
	// ProtoIPv6Fragment is the Fragment header (RFC 8200 4.5).
	ProtoIPv6Fragment = 44
	// ProtoESP is IPsec Encapsulating Security Payload (RFC 4303).
	ProtoESP = 50
	// ProtoAH is the IPsec Authentication Header (RFC 4302).
	ProtoAH = 51
	// ProtoICMPv6 is ICMPv6 (RFC 4443).
	ProtoICMPv6 = 58
	// ProtoIPv6NoNextHeader means nothing follows the header (RFC 8200
	// 4.7).
	ProtoIPv6NoNextHeader = 59
	// ProtoIPv6DestOpts is the Destination Options header (RFC 8200 4.6).
	ProtoIPv6DestOpts = 60
)

// IPv6 is a view of an IPv6 packet (RFC 8200), starting at the fixed header.
// The slice may extend past the end of the packet (IPv6HeaderLen +
// PayloadLen), for example into Ethernet padding.
//
// Its accessors require a packet that has passed Check; call Check before
// any other method on a received packet. Extension headers are not part of
// the fixed header: walk them with WalkExtHeaders.
//
// Jumbograms (RFC 2675, a zero payload length with a Jumbo Payload option)
// are not supported: a zero payload length means an empty payload.
type IPv6 []byte

// IPv6Fields holds the values Encode writes into an IPv6 header.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // Only the low 20 bits are used.
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     [16]byte
}

// Check validates the fixed header of an IPv6 packet and returns OK if the
// other methods of b may be used. It requires that
//
//   - len(b) >= IPv6HeaderLen (else ErrTruncated),
//   - the version is 6 (else ErrVersion), and
//   - IPv6HeaderLen + PayloadLen() <= len(b) (else ErrTotalLen).
//
// It examines neither addresses nor extension headers. It never panics.
func (b IPv6) Check() Error {
	if len(b) < IPv6HeaderLen {
		return ErrTruncated
	}
	if b[0]>>4 != 6 {
		return ErrVersion
	}
	if IPv6HeaderLen+int(binary.BigEndian.Uint16(b[4:6])) > len(b) {
		return ErrTotalLen
	}
	return OK
}

// Version returns the IP version, 6 for a valid header.
func (b IPv6) Version() uint8 { return b[0] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN) byte.
func (b IPv6) TrafficClass() uint8 { return b[0]<<4 | b[1]>>4 }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[0:4]) & 0xfffff }

// PayloadLen returns the length of the payload, extension headers
// included, in bytes.
func (b IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// NextHeader returns the Next Header field of the fixed header: the type of
// the first extension header, or the upper-layer protocol if there is none.
func (b IPv6) NextHeader() uint8 { return b[6] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[7] }

// Src returns the source address.
func (b IPv6) Src() [16]byte { return [16]byte(b[8:24]) }

// Dst returns the destination address.
func (b IPv6) Dst() [16]byte { return [16]byte(b[24:40]) }

// SrcAddr returns the source address as a netip.Addr.
func (b IPv6) SrcAddr() netip.Addr { return netip.AddrFrom16(b.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (b IPv6) DstAddr() netip.Addr { return netip.AddrFrom16(b.Dst()) }

// Payload returns the packet payload, extension headers included: the
// bytes from the end of the fixed header to IPv6HeaderLen + PayloadLen(),
// excluding any trailing padding.
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLen())] }

// SetTrafficClass sets the traffic class byte.
func (b IPv6) SetTrafficClass(v uint8) {
	b[0] = b[0]&0xf0 | v>>4
	b[1] = v<<4 | b[1]&0x0f
}

// SetFlowLabel sets the flow label to the low 20 bits of v.
func (b IPv6) SetFlowLabel(v uint32) {
	b[1] = b[1]&0xf0 | uint8(v>>16)&0x0f
	binary.BigEndian.PutUint16(b[2:4], uint16(v))
}

// SetPayloadLen sets the payload length.
func (b IPv6) SetPayloadLen(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetNextHeader sets the Next Header field of the fixed header.
func (b IPv6) SetNextHeader(v uint8) { b[6] = v }

// SetHopLimit sets the hop limit.
func (b IPv6) SetHopLimit(v uint8) { b[7] = v }

// SetSrc sets the source address.
func (b IPv6) SetSrc(a [16]byte) { copy(b[8:24], a[:]) }

// SetDst sets the destination address.
func (b IPv6) SetDst(a [16]byte) { copy(b[24:40], a[:]) }

// Encode writes a complete 40-byte IPv6 fixed header from f. IPv6 has no
// header checksum; the upper-layer checksum covers the addresses through
// the pseudo header (see PseudoHeaderChecksumIPv6).
func (b IPv6) Encode(f *IPv6Fields) {
	_ = b[IPv6HeaderLen-1] // Bounds check hint.
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:6], f.PayloadLen)
	b[6] = f.NextHeader
	b[7] = f.HopLimit
	copy(b[8:24], f.Src[:])
	copy(b[24:40], f.Dst[:])
}
