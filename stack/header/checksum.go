package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum adds the bytes of b, taken as a sequence of big-endian 16-bit
// words, to the partial Internet checksum (RFC 1071) initial and returns the
// new partial sum. If len(b) is odd, the last byte is treated as the high
// byte of a word whose low byte is zero.
//
// The result is an unfolded 32-bit one's complement accumulator: it is
// congruent to the true sum modulo 0xffff and is zero only if initial is zero
// and every byte of b is zero. Pass it to [Fold] to obtain the 16-bit sum, or
// as the initial value of a further call to continue summing; because of the
// odd-length rule, only the last piece of a chained sum may have odd length.
// Partial sums must be chained through initial, not added together, since
// addition of two uint32 sums may overflow.
//
// b may have any length and alignment.
func Checksum(b []byte, initial uint32) uint32 {
	// The one's complement sum is independent of byte order (RFC 1071
	// section 2(B)), so sum the data as little-endian 64-bit words, which
	// needs no byte swaps on common hardware, and swap the folded result
	// once at the end. Because 0xffff divides 2^64-1, carries out of bit 63
	// can be added back in at bit 0.
	var acc, carry uint64
	for len(b) >= 32 {
		var c uint64
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		carry += c
		b = b[32:]
	}
	if len(b) >= 16 {
		var c uint64
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		carry += c
		b = b[16:]
	}
	if len(b) >= 8 {
		var c uint64
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), 0)
		carry += c
		b = b[8:]
	}
	// At most 7 bytes remain; their sum cannot overflow tail.
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.LittleEndian.Uint32(b[0:4]))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.LittleEndian.Uint16(b[0:2]))
		b = b[2:]
	}
	if len(b) == 1 {
		// The odd byte is the high byte of a big-endian word, which is
		// the low byte of a little-endian one.
		tail += uint64(b[0])
	}
	var c uint64
	acc, c = bits.Add64(acc, tail, 0)
	carry += c
	acc, c = bits.Add64(acc, carry, 0)
	acc += c // Cannot overflow: if c is 1, acc < carry.

	// Fold to 16 bits, swap back to big-endian order and add initial.
	s := acc>>32 + acc&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = uint64(bits.ReverseBytes16(uint16(s))) + uint64(initial)
	return uint32(s>>32 + s&0xffffffff)
}

// Fold folds the partial checksum sum to 16 bits with end-around carry and
// returns it. The result is not complemented: a header whose checksum field
// is correct folds to 0xffff, and the value to store in a checksum field is
// ^Fold(sum).
func Fold(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// PseudoHeaderChecksum returns the partial checksum of the IPv4 pseudo header
// used by TCP and UDP (RFC 793, RFC 768): the source and destination
// addresses, the protocol number and the transport segment length. Pass the
// result as the initial value to [Checksum] over the segment.
func PseudoHeaderChecksum(proto uint8, src, dst [4]byte, length uint16) uint32 {
	return uint32(binary.BigEndian.Uint16(src[0:2])) +
		uint32(binary.BigEndian.Uint16(src[2:4])) +
		uint32(binary.BigEndian.Uint16(dst[0:2])) +
		uint32(binary.BigEndian.Uint16(dst[2:4])) +
		uint32(proto) + uint32(length)
}

// PseudoHeaderChecksumIPv6 returns the partial checksum of the IPv6 pseudo
// header used by upper-layer protocols over IPv6 (RFC 8200 section 8.1): the
// source and destination addresses, the upper-layer packet length as a
// 32-bit value and the next header value, proto, of the upper-layer
// protocol (not that of any extension header). Pass the result as the
// initial value to [Checksum] over the upper-layer packet.
//
// For UDP, length is the UDP Length field; for TCP and ICMPv6 it is the
// length of the segment or message. dst is the final destination, which
// differs from the IPv6 Destination Address of a packet with a Routing
// header whose Segments Left is nonzero.
func PseudoHeaderChecksumIPv6(proto uint8, src, dst [16]byte, length uint32) uint32 {
	// 16 address words, two length words and the protocol: at most
	// 19 * 0xffff, which cannot overflow.
	s := length>>16 + length&0xffff + uint32(proto)
	for i := 0; i < 16; i += 2 {
		s += uint32(binary.BigEndian.Uint16(src[i:])) + uint32(binary.BigEndian.Uint16(dst[i:]))
	}
	return s
}

// verifyChecksum returns OK if b, summed from the partial checksum initial,
// folds to 0xffff, as data carrying a correct checksum field does, and
// ErrChecksum otherwise.
func verifyChecksum(b []byte, initial uint32) Error {
	if Fold(Checksum(b, initial)) != 0xffff {
		return ErrChecksum
	}
	return OK
}

// ChecksumUpdate16 returns the checksum field value that results from
// changing one aligned 16-bit word covered by the checksum old from oldv to
// newv, without recomputing the sum over the whole data (RFC 1624,
// equation 3: HC' = ~(~HC + ~m + m')).
//
// The result equals the checksum a full recomputation would produce, with
// one exception inherent in the method: if the update makes every covered
// word other than the checksum zero, it returns 0x0000 where recomputation
// gives 0xffff.
func ChecksumUpdate16(old, oldv, newv uint16) uint16 {
	return ^Fold(uint32(^old) + uint32(^oldv) + uint32(newv))
}
