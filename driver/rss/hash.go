package rss

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// MaxInputSize is the largest number of input bytes a Hasher uses: an
// IPv6 4-tuple (two 16-byte addresses and two 2-byte ports).
const MaxInputSize = 36

// A Hasher computes Toeplitz hashes under a fixed key using precomputed
// per-byte tables. It is immutable once built and safe for concurrent use.
// Its methods do not allocate.
type Hasher struct {
	key Key
	// table[i][v] is the hash contribution of byte value v at input
	// position i.
	table [MaxInputSize][256]uint32
}

// NewHasher returns a Hasher for key k.
func NewHasher(k Key) *Hasher {
	h := &Hasher{key: k}
	for i := range MaxInputSize {
		// The 40 key bits starting at bit 8*i cover the windows of all
		// eight bits of input byte i.
		w := uint64(k[i])<<32 | uint64(binary.BigEndian.Uint32(k[i+1:]))
		t := &h.table[i]
		for v := 1; v < 256; v++ {
			// Peel off the lowest set bit, bit j counting from the most
			// significant; it selects the key window starting j bits
			// into w.
			j := 7 - bits.TrailingZeros(uint(v))
			t[v] = t[v&(v-1)] ^ uint32(w>>(8-j))
		}
	}
	return h
}

// Key returns the key h was built with.
func (h *Hasher) Key() Key {
	return h.key
}

// Hash returns the Toeplitz hash of input. At most MaxInputSize bytes are
// used; any bytes beyond are ignored.
func (h *Hasher) Hash(input []byte) uint32 {
	t := h.table[:min(len(input), MaxInputSize)]
	input = input[:len(t)]
	var r uint32
	for i := range t {
		r ^= t[i][input[i]]
	}
	return r
}

// HashIPv4 returns the hash of the IPv4 2-tuple (src, dst).
func (h *Hasher) HashIPv4(src, dst [4]byte) uint32 {
	t := &h.table
	return t[0][src[0]] ^ t[1][src[1]] ^ t[2][src[2]] ^ t[3][src[3]] ^
		t[4][dst[0]] ^ t[5][dst[1]] ^ t[6][dst[2]] ^ t[7][dst[3]]
}

// HashIPv4Ports returns the hash of the IPv4 4-tuple. The input is, in
// network byte order, the source address, the destination address, the
// source port and the destination port.
func (h *Hasher) HashIPv4Ports(src, dst [4]byte, sport, dport uint16) uint32 {
	t := &h.table
	return t[0][src[0]] ^ t[1][src[1]] ^ t[2][src[2]] ^ t[3][src[3]] ^
		t[4][dst[0]] ^ t[5][dst[1]] ^ t[6][dst[2]] ^ t[7][dst[3]] ^
		t[8][byte(sport>>8)] ^ t[9][byte(sport)] ^
		t[10][byte(dport>>8)] ^ t[11][byte(dport)]
}

// HashIPv6 returns the hash of the IPv6 2-tuple (src, dst).
func (h *Hasher) HashIPv6(src, dst [16]byte) uint32 {
	t := &h.table
	var r uint32
	for i := range 16 {
		r ^= t[i][src[i]] ^ t[16+i][dst[i]]
	}
	return r
}

// HashIPv6Ports returns the hash of the IPv6 4-tuple. The input is, in
// network byte order, the source address, the destination address, the
// source port and the destination port.
func (h *Hasher) HashIPv6Ports(src, dst [16]byte, sport, dport uint16) uint32 {
	t := &h.table
	return h.HashIPv6(src, dst) ^
		t[32][byte(sport>>8)] ^ t[33][byte(sport)] ^
		t[34][byte(dport>>8)] ^ t[35][byte(dport)]
}

// HashAddr returns the 2-tuple hash of the addresses src and dst. If both
// are IPv4 addresses the IPv4 hash is returned, if both are IPv6 addresses
// (including IPv4-mapped ones, which a NIC sees in an IPv6 header) the IPv6
// hash is returned. Zones are ignored. For invalid addresses or mixed
// families HashAddr returns 0.
func (h *Hasher) HashAddr(src, dst netip.Addr) uint32 {
	switch {
	case src.Is4() && dst.Is4():
		return h.HashIPv4(src.As4(), dst.As4())
	case src.Is6() && dst.Is6():
		return h.HashIPv6(src.As16(), dst.As16())
	}
	return 0
}

// HashAddrPort returns the 4-tuple hash of src and dst, with the same
// address family rules as HashAddr.
func (h *Hasher) HashAddrPort(src, dst netip.AddrPort) uint32 {
	sa, da := src.Addr(), dst.Addr()
	switch {
	case sa.Is4() && da.Is4():
		return h.HashIPv4Ports(sa.As4(), da.As4(), src.Port(), dst.Port())
	case sa.Is6() && da.Is6():
		return h.HashIPv6Ports(sa.As16(), da.As16(), src.Port(), dst.Port())
	}
	return 0
}

// hashSlow is the reference bit-by-bit Toeplitz hash, used by tests to
// check the table-driven Hasher. Like Hasher.Hash it uses at most
// MaxInputSize bytes of input.
func hashSlow(key Key, input []byte) uint32 {
	if len(input) > MaxInputSize {
		input = input[:MaxInputSize]
	}
	var r uint32
	window := binary.BigEndian.Uint32(key[:4])
	for i, b := range input {
		next := key[i+4] // key bits that slide into the window
		for bit := 7; bit >= 0; bit-- {
			if b>>bit&1 != 0 {
				r ^= window
			}
			window = window<<1 | uint32(next>>bit&1)
		}
	}
	return r
}
