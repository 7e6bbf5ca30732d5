package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4MinHeaderLen is the length of an IPv4 header without options.
const IPv4MinHeaderLen = 20

// IP protocol numbers.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// IPv4 flag bits, as returned by [IPv4.Flags].
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
)

// IPv4 is a view of an IPv4 packet, starting at the IP header. The slice may
// extend past the end of the packet (TotalLen), for example into Ethernet
// padding.
//
// Its accessors require a header that has passed Check; call Check before any
// other method on a received packet.
type IPv4 []byte

// IPv4Fields holds the values Encode writes into an IPv4 header without
// options.
type IPv4Fields struct {
	TOS          uint8
	TotalLen     uint16
	ID           uint16
	DontFragment bool
	TTL          uint8
	Protocol     uint8
	Src, Dst     [4]byte
}

// Check validates an IPv4 header and returns OK if the other methods of b
// may be used. It requires that
//
//   - len(b) >= IPv4MinHeaderLen (else ErrTruncated),
//   - the version is 4 (else ErrVersion),
//   - IPv4MinHeaderLen <= HeaderLen() <= len(b) (else ErrHeaderLen),
//   - HeaderLen() <= TotalLen() <= len(b) (else ErrTotalLen), and
//   - the header checksum is correct (else ErrChecksum).
//
// It does not examine fragmentation fields or options. It never panics.
func (b IPv4) Check() Error {
	if e := b.CheckHeader(); e != OK {
		return e
	}
	if Fold(Checksum(b[:b.HeaderLen()], 0)) != 0xffff {
		return ErrChecksum
	}
	return OK
}

// CheckHeader performs Check's checks but the checksum's: for a header
// whose checksum the port's NIC verified (driver.RxIPChecksumGood). It
// never panics.
func (b IPv4) CheckHeader() Error {
	if len(b) < IPv4MinHeaderLen {
		return ErrTruncated
	}
	if b[0]>>4 != 4 {
		return ErrVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return ErrHeaderLen
	}
	if tl := int(binary.BigEndian.Uint16(b[2:4])); tl < hl || tl > len(b) {
		return ErrTotalLen
	}
	return OK
}

// Version returns the IP version, 4 for a valid header.
func (b IPv4) Version() uint8 { return b[0] >> 4 }

// HeaderLen returns the header length in bytes, including options.
func (b IPv4) HeaderLen() int { return int(b[0]&0xf) * 4 }

// TOS returns the type of service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[1] }

// TotalLen returns the length of the packet, header included, in bytes.
func (b IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Flags returns the three flag bits; see IPv4FlagDontFragment and
// IPv4FlagMoreFragments.
func (b IPv4) Flags() uint8 { return b[6] >> 5 }

// MoreFragments reports whether the MF flag is set.
func (b IPv4) MoreFragments() bool { return b[6]&0x20 != 0 }

// DontFragment reports whether the DF flag is set.
func (b IPv4) DontFragment() bool { return b[6]&0x40 != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[6:8]) << 3
}

// IsFragment reports whether the packet is a fragment, that is, whether MF
// is set or the fragment offset is nonzero.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[6:8])&0x3fff != 0
}

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the protocol number of the payload, such as ProtoUDP.
func (b IPv4) Protocol() uint8 { return b[9] }

// HeaderChecksum returns the header checksum field.
func (b IPv4) HeaderChecksum() uint16 { return binary.BigEndian.Uint16(b[10:12]) }

// Src returns the source address.
func (b IPv4) Src() [4]byte { return [4]byte(b[12:16]) }

// Dst returns the destination address.
func (b IPv4) Dst() [4]byte { return [4]byte(b[16:20]) }

// SrcAddr returns the source address as a netip.Addr.
func (b IPv4) SrcAddr() netip.Addr { return netip.AddrFrom4(b.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (b IPv4) DstAddr() netip.Addr { return netip.AddrFrom4(b.Dst()) }

// Options returns the header options, which may be empty.
func (b IPv4) Options() []byte { return b[IPv4MinHeaderLen:b.HeaderLen()] }

// Payload returns the packet payload: the bytes from the end of the header
// to TotalLen, excluding any trailing padding.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLen()] }

// SetTOS sets the type of service byte.
func (b IPv4) SetTOS(v uint8) { b[1] = v }

// SetTotalLen sets the total length.
func (b IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetID sets the identification field.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetFlagsFragmentOffset sets the flag bits and the fragment offset, given
// in bytes; the offset must be a multiple of 8.
func (b IPv4) SetFlagsFragmentOffset(flags uint8, offset uint16) {
	binary.BigEndian.PutUint16(b[6:8], uint16(flags&7)<<13|offset>>3)
}

// SetTTL sets the time to live.
func (b IPv4) SetTTL(v uint8) { b[8] = v }

// SetProtocol sets the protocol number.
func (b IPv4) SetProtocol(v uint8) { b[9] = v }

// SetHeaderChecksum sets the header checksum field to v. See SetChecksum
// for computing it.
func (b IPv4) SetHeaderChecksum(v uint16) { binary.BigEndian.PutUint16(b[10:12], v) }

// SetSrc sets the source address.
func (b IPv4) SetSrc(a [4]byte) { copy(b[12:16], a[:]) }

// SetDst sets the destination address.
func (b IPv4) SetDst(a [4]byte) { copy(b[16:20], a[:]) }

// SetChecksum computes the header checksum over HeaderLen bytes and stores
// it. Call it after setting every other header field.
func (b IPv4) SetChecksum() {
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], ^Fold(Checksum(b[:b.HeaderLen()], 0)))
}

// Encode writes a complete 20-byte IPv4 header without options, including
// its checksum, from f. The identification field is written as given, so
// callers sending fragmentable packets should provide unique IDs.
func (b IPv4) Encode(f *IPv4Fields) {
	_ = b[IPv4MinHeaderLen-1] // Bounds check hint.
	b[0] = 4<<4 | IPv4MinHeaderLen/4
	b[1] = f.TOS
	binary.BigEndian.PutUint16(b[2:4], f.TotalLen)
	binary.BigEndian.PutUint16(b[4:6], f.ID)
	var frag uint16
	if f.DontFragment {
		frag = IPv4FlagDontFragment << 13
	}
	binary.BigEndian.PutUint16(b[6:8], frag)
	b[8] = f.TTL
	b[9] = f.Protocol
	copy(b[12:16], f.Src[:])
	copy(b[16:20], f.Dst[:])
	// The checksum sums the fields as given rather than reading back the
	// bytes just stored, whose wide loads would wait on the narrow stores.
	// Ten 16-bit words cannot overflow 32 bits.
	sum := uint32(4<<12|IPv4MinHeaderLen/4<<8|uint16(f.TOS)) + uint32(f.TotalLen) + uint32(f.ID) + uint32(frag) +
		uint32(f.TTL)<<8 + uint32(f.Protocol) +
		uint32(f.Src[0])<<8 + uint32(f.Src[1]) + uint32(f.Src[2])<<8 + uint32(f.Src[3]) +
		uint32(f.Dst[0])<<8 + uint32(f.Dst[1]) + uint32(f.Dst[2])<<8 + uint32(f.Dst[3])
	binary.BigEndian.PutUint16(b[10:12], ^Fold(sum))
}
