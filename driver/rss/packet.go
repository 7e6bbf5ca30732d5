package rss

import "encoding/binary"

// IP protocol numbers and IPv6 extension headers the packet hashers
// recognise.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoDestOpts = 60

	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
)

// HashIPv4Packet returns the hash a NIC would compute for the IPv4 packet
// ip, which starts at the IPv4 header, given the enabled hash types.
//
// If the packet is TCP (or UDP), not a fragment (MF clear and fragment
// offset zero), types contains TCPv4 (or UDPv4) and ip is long enough to
// hold both ports, the 4-tuple is hashed. Otherwise, if types contains
// IPv4, the 2-tuple is hashed. Otherwise, or if ip is not an IPv4 packet at
// least 20 bytes long, HashIPv4Packet returns 0. It never panics and does
// not allocate.
func (h *Hasher) HashIPv4Packet(ip []byte, types HashTypes) uint32 {
	if len(ip) < ipv4HeaderLen || ip[0]>>4 != 4 {
		return 0
	}
	src, dst := [4]byte(ip[12:16]), [4]byte(ip[16:20])
	var l4 HashTypes
	switch ip[9] {
	case protoTCP:
		l4 = TCPv4
	case protoUDP:
		l4 = UDPv4
	}
	ihl := int(ip[0]&0x0f) * 4
	if types&l4 != 0 && ihl >= ipv4HeaderLen && len(ip) >= ihl+4 &&
		binary.BigEndian.Uint16(ip[6:8])&0x3fff == 0 {
		sport := binary.BigEndian.Uint16(ip[ihl:])
		dport := binary.BigEndian.Uint16(ip[ihl+2:])
		return h.HashIPv4Ports(src, dst, sport, dport)
	}
	if types&IPv4 != 0 {
		return h.HashIPv4(src, dst)
	}
	return 0
}

// HashIPv6Packet returns the hash a NIC would compute for the IPv6 packet
// ip, which starts at the IPv6 header, given the enabled hash types.
//
// Hop-by-hop, routing and destination options extension headers are
// skipped. If the upper-layer header that follows is TCP (or UDP), types
// contains TCPv6 (or UDPv6) and ip is long enough to hold both ports, the
// 4-tuple is hashed. Otherwise (including for fragments and unknown
// extension headers), if types contains IPv6, the 2-tuple is hashed.
// Otherwise, or if ip is not an IPv6 packet at least 40 bytes long,
// HashIPv6Packet returns 0. It never panics and does not allocate.
func (h *Hasher) HashIPv6Packet(ip []byte, types HashTypes) uint32 {
	if len(ip) < ipv6HeaderLen || ip[0]>>4 != 6 {
		return 0
	}
	src, dst := [16]byte(ip[8:24]), [16]byte(ip[24:40])
	next, off := ip[6], ipv6HeaderLen
	for (next == protoHopByHop || next == protoRouting || next == protoDestOpts) &&
		off+2 <= len(ip) {
		next, off = ip[off], off+(int(ip[off+1])+1)*8
	}
	var l4 HashTypes
	switch next {
	case protoTCP:
		l4 = TCPv6
	case protoUDP:
		l4 = UDPv6
	}
	if types&l4 != 0 && off+4 <= len(ip) {
		sport := binary.BigEndian.Uint16(ip[off:])
		dport := binary.BigEndian.Uint16(ip[off+2:])
		return h.HashIPv6Ports(src, dst, sport, dport)
	}
	if types&IPv6 != 0 {
		return h.HashIPv6(src, dst)
	}
	return 0
}

// HashPacket returns the hash of the IPv4 or IPv6 packet ip, chosen by the
// version in its first byte, as computed by HashIPv4Packet or
// HashIPv6Packet. It returns 0 for other versions and empty input.
func (h *Hasher) HashPacket(ip []byte, types HashTypes) uint32 {
	if len(ip) == 0 {
		return 0
	}
	switch ip[0] >> 4 {
	case 4:
		return h.HashIPv4Packet(ip, types)
	case 6:
		return h.HashIPv6Packet(ip, types)
	}
	return 0
}

// HashFrame returns the hash of the Ethernet frame's IPv4 or IPv6 packet,
// chosen by its EtherType (untagged frames only), as a NIC computes it:
// HashIPv4Packet or HashIPv6Packet of what follows the 14-byte header. It
// returns 0 for other frames and for frames too short to hold the header.
func (h *Hasher) HashFrame(frame []byte, types HashTypes) uint32 {
	if len(frame) < 14 {
		return 0
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		return h.HashIPv4Packet(frame[14:], types)
	case 0x86dd:
		return h.HashIPv6Packet(frame[14:], types)
	}
	return 0
}
