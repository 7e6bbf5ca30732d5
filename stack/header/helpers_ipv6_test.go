package header

import (
	"encoding/binary"
	"net/netip"
)

var (
	// Documentation addresses (RFC 3849).
	testSrcIP6 = netip.MustParseAddr("2001:db8::1").As16()
	testDstIP6 = netip.MustParseAddr("2001:db8:0:1::ab:cdef").As16()
)

// naivePseudo6 returns the bytes of the IPv6 pseudo header (RFC 8200
// section 8.1).
func naivePseudo6(proto uint8, src, dst [16]byte, length uint32) []byte {
	p := make([]byte, 40)
	copy(p[0:16], src[:])
	copy(p[16:32], dst[:])
	binary.BigEndian.PutUint32(p[32:36], length)
	p[39] = proto
	return p
}

// naiveOK6 reports whether the IPv6 pseudo header for a segment of length
// length plus seg sums to 0xffff according to the reference implementation.
func naiveOK6(proto uint8, src, dst [16]byte, length uint32, seg []byte) bool {
	buf := append(naivePseudo6(proto, src, dst, length), seg...)
	return naiveChecksum(buf, 0) == 0xffff
}

// ext6 is an extension header for buildIPv6: its type and its bytes, whose
// first byte (the Next Header) buildIPv6 fills in.
type ext6 struct {
	typ  uint8
	body []byte
}

// opts6 returns a Hop-by-Hop or Destination Options header of typ, 8*(n+1)
// bytes long, holding a Router Alert option and PadN padding.
func opts6(typ uint8, n int) ext6 {
	b := make([]byte, 8*(n+1))
	b[1] = uint8(n)
	copy(b[2:], []byte{5, 2, 0, 0}) // Router Alert, MLD.
	if len(b) > 6 {
		b[6], b[7] = 1, uint8(len(b)-8) // PadN over the rest.
	}
	return ext6{typ, b}
}

// routing6 returns a Routing header of type 0 with one address and
// segments left 0, which gopacket can decode.
func routing6() ext6 {
	b := make([]byte, 24)
	b[1] = 2
	b[2], b[3] = 0, 0
	copy(b[8:], testDstIP6[:])
	return ext6{ProtoIPv6Routing, b}
}

// frag6 returns a Fragment header.
func frag6(offset uint16, more bool, id uint32) ext6 {
	b := make([]byte, 8)
	v := offset &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], v)
	binary.BigEndian.PutUint32(b[4:8], id)
	return ext6{ProtoIPv6Fragment, b}
}

// buildIPv6 encodes an IPv6 packet from src to dst carrying exts and then
// an upper-layer packet up of protocol proto.
func buildIPv6(proto uint8, src, dst [16]byte, exts []ext6, up []byte) []byte {
	n := len(up)
	for _, e := range exts {
		n += len(e.body)
	}
	p := make([]byte, IPv6HeaderLen, IPv6HeaderLen+n)
	first := proto
	if len(exts) > 0 {
		first = exts[0].typ
	}
	IPv6(p).Encode(&IPv6Fields{
		TrafficClass: 0xb8, FlowLabel: 0x12345, PayloadLen: uint16(n),
		NextHeader: first, HopLimit: 64, Src: src, Dst: dst,
	})
	for i, e := range exts {
		nh := proto
		if i+1 < len(exts) {
			nh = exts[i+1].typ
		}
		h := clone(e.body)
		h[0] = nh
		p = append(p, h...)
	}
	return append(p, up...)
}

// frame6 prepends an Ethernet header to an IPv6 packet.
func frame6(dst MAC, ip []byte) []byte {
	f := make([]byte, EthernetHeaderLen, EthernetHeaderLen+len(ip))
	Ethernet(f).Encode(dst, testSrcMAC, EtherTypeIPv6)
	return append(f, ip...)
}

// buildUDP6 encodes a UDP datagram over IPv6 from testSrcIP6 to
// testDstIP6.
func buildUDP6(sport, dport uint16, payload []byte) []byte {
	u := make(UDP, UDPHeaderLen+len(payload))
	u.Encode(sport, dport, uint16(len(u)))
	copy(u[UDPHeaderLen:], payload)
	u.SetChecksumIPv6(testSrcIP6, testDstIP6)
	return u
}

// buildTCP6 encodes a TCP segment over IPv6 from src to dst.
func buildTCP6(src, dst [16]byte, flags uint8, opts, payload []byte) []byte {
	s := buildTCP(testSrcIP, testDstIP, flags, opts, payload)
	TCP(s).SetChecksumIPv6(src, dst, uint16(len(s)))
	return s
}

// buildEcho6 encodes an ICMPv6 echo message from src to dst.
func buildEcho6(typ uint8, src, dst [16]byte, id, seq uint16, data []byte) []byte {
	m := make(ICMPv6, ICMPv6MinLen+len(data))
	n := m.EncodeEcho(typ, id, seq, data)
	m[:n].SetChecksum(src, dst)
	return m[:n]
}

// buildNS encodes a neighbor solicitation for target, with a source
// link-layer address option unless dad, from src to dst.
func buildNS(src, dst, target [16]byte, ll MAC, dad bool) []byte {
	m := make([]byte, 64)
	var n int
	if dad {
		n = NDPNeighborSolicit(m).EncodeNoOption(target)
	} else {
		n = NDPNeighborSolicit(m).Encode(target, ll)
	}
	ICMPv6(m[:n]).SetChecksum(src, dst)
	return m[:n]
}

// buildNA encodes a neighbor advertisement for target with a target
// link-layer address option, from src to dst.
func buildNA(src, dst, target [16]byte, flags uint8, ll MAC) []byte {
	m := make([]byte, 64)
	n := NDPNeighborAdvert(m).Encode(flags, target, ll)
	ICMPv6(m[:n]).SetChecksum(src, dst)
	return m[:n]
}
