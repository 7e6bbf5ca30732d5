package header

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestIPv6Accessors(t *testing.T) {
	p := make([]byte, 60)
	ip := IPv6(p)
	ip.Encode(&IPv6Fields{
		TrafficClass: 0xb9,
		FlowLabel:    0xfabcde, // Only the low 20 bits count.
		PayloadLen:   12,
		NextHeader:   ProtoUDP,
		HopLimit:     255,
		Src:          testSrcIP6,
		Dst:          testDstIP6,
	})
	if got, want := ip.Check(), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	want := []byte{
		0x6b, 0x9a, 0xbc, 0xde, 0x00, 0x0c, 17, 255,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0xab, 0xcd, 0xef,
	}
	if !bytes.Equal(p[:40], want) {
		t.Errorf("Encode: got % x, want % x", p[:40], want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", ip.Version(), uint8(6)},
		{"TrafficClass", ip.TrafficClass(), uint8(0xb9)},
		{"FlowLabel", ip.FlowLabel(), uint32(0xabcde)},
		{"PayloadLen", ip.PayloadLen(), uint16(12)},
		{"NextHeader", ip.NextHeader(), uint8(ProtoUDP)},
		{"HopLimit", ip.HopLimit(), uint8(255)},
		{"Src", ip.Src(), testSrcIP6},
		{"Dst", ip.Dst(), testDstIP6},
		{"SrcAddr", ip.SrcAddr(), netip.MustParseAddr("2001:db8::1")},
		{"DstAddr", ip.DstAddr(), netip.MustParseAddr("2001:db8:0:1::ab:cdef")},
		{"len(Payload)", len(ip.Payload()), 12},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}

	// Setters change only their own field.
	ip.SetTrafficClass(0x12)
	if got, want := ip.FlowLabel(), uint32(0xabcde); got != want {
		t.Errorf("FlowLabel() after SetTrafficClass: got %#x, want %#x", got, want)
	}
	ip.SetFlowLabel(0xfff54321)
	if got, want := ip.TrafficClass(), uint8(0x12); got != want {
		t.Errorf("TrafficClass() after SetFlowLabel: got %#x, want %#x", got, want)
	}
	ip.SetPayloadLen(20)
	ip.SetNextHeader(ProtoTCP)
	ip.SetHopLimit(1)
	ip.SetSrc(testDstIP6)
	ip.SetDst(testSrcIP6)
	if ip.Version() != 6 || ip.TrafficClass() != 0x12 || ip.FlowLabel() != 0x54321 || ip.PayloadLen() != 20 ||
		ip.NextHeader() != ProtoTCP || ip.HopLimit() != 1 || ip.Src() != testDstIP6 || ip.Dst() != testSrcIP6 {
		t.Errorf("setters: got % x", p[:40])
	}
	if got, want := ip.Check(), OK; got != want {
		t.Errorf("Check() after setters: got %v, want %v", got, want)
	}
}

func TestIPv6Check(t *testing.T) {
	valid := func() []byte { return buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, nil, buildUDP6(1, 2, []byte("hi"))) }
	tests := []struct {
		name   string
		mutate func(p []byte) []byte
		want   Error
	}{
		{"valid", func(p []byte) []byte { return p }, OK},
		{"Ethernet padding", func(p []byte) []byte { return append(p, 0, 0, 0, 0) }, OK},
		{"empty payload", func(p []byte) []byte { binary.BigEndian.PutUint16(p[4:], 0); return p[:40] }, OK},
		{"empty", func(p []byte) []byte { return p[:0] }, ErrTruncated},
		{"truncated header", func(p []byte) []byte { return p[:39] }, ErrTruncated},
		{"version 4", func(p []byte) []byte { p[0] = 0x45; return p }, ErrVersion},
		{"version 0", func(p []byte) []byte { p[0] &= 0x0f; return p }, ErrVersion},
		{"version 7", func(p []byte) []byte { p[0] |= 0x10; return p }, ErrVersion},
		{"truncated payload", func(p []byte) []byte { return p[:len(p)-1] }, ErrTotalLen},
		{"payload length 65535", func(p []byte) []byte { binary.BigEndian.PutUint16(p[4:], 0xffff); return p }, ErrTotalLen},
		{"header only, payload length 1", func(p []byte) []byte { binary.BigEndian.PutUint16(p[4:], 1); return p[:40] }, ErrTotalLen},
		{"bad payload is not checked", func(p []byte) []byte { p[45] ^= 0xff; return p }, OK},
	}
	for _, tt := range tests {
		p := tt.mutate(valid())
		if got := IPv6(p).Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
	p := append(valid(), 9, 9, 9)
	if got, want := len(IPv6(p).Payload()), len(p)-3-IPv6HeaderLen; got != want {
		t.Errorf("len(Payload()) with padding: got %v, want %v", got, want)
	}
}

func TestIPv6WalkExtHeaders(t *testing.T) {
	udp := buildUDP6(1, 2, []byte("payload"))
	hbh := opts6(ProtoIPv6HopByHop, 0)
	dst8 := opts6(ProtoIPv6DestOpts, 0)
	dst16 := opts6(ProtoIPv6DestOpts, 1)
	tests := []struct {
		name  string
		proto uint8
		exts  []ext6
		up    []byte
		edit  func(p []byte) []byte // applied after building, may be nil
		want  Error
		x     IPv6ExtHeaders
	}{
		{"no extension headers", ProtoUDP, nil, udp, nil, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 40, Pointer: 6}},
		{"ICMPv6", ProtoICMPv6, nil, make([]byte, 8), nil, OK,
			IPv6ExtHeaders{Proto: ProtoICMPv6, Offset: 40, Pointer: 6}},
		{"unimplemented upper layer (SCTP)", 132, nil, make([]byte, 12), nil, OK,
			IPv6ExtHeaders{Proto: 132, Offset: 40, Pointer: 6}},
		{"hop-by-hop", ProtoUDP, []ext6{hbh}, udp, nil, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 48, Pointer: 40, Count: 1}},
		{"hop-by-hop, dest opts, routing, fragment, dest opts", ProtoTCP,
			[]ext6{hbh, dst16, routing6(), frag6(0, false, 0xdeadbeef), dst8}, make([]byte, 20), nil, OK,
			IPv6ExtHeaders{Proto: ProtoTCP, Offset: 40 + 8 + 16 + 24 + 8 + 8, Pointer: 40 + 8 + 16 + 24 + 8, Count: 5,
				RoutingHeader: 64, Fragment: true, FragmentHeader: 88, FragmentID: 0xdeadbeef}},
		{"first fragment", ProtoUDP, []ext6{frag6(0, true, 7)}, udp, nil, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 48, Pointer: 40, Count: 1,
				Fragment: true, FragmentHeader: 40, MoreFragments: true, FragmentID: 7}},
		{"first fragment with dest opts after", ProtoUDP, []ext6{frag6(0, true, 7), dst8}, udp, nil, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 56, Pointer: 48, Count: 2,
				Fragment: true, FragmentHeader: 40, MoreFragments: true, FragmentID: 7}},
		{"later fragment stops the walk", ProtoIPv6DestOpts, []ext6{hbh, frag6(1448, true, 9)}, []byte("fragment data, not a header"), nil, OK,
			IPv6ExtHeaders{Proto: ProtoIPv6DestOpts, Offset: 56, Pointer: 48, Count: 2,
				Fragment: true, FragmentHeader: 48, FragmentOffset: 1448, MoreFragments: true, FragmentID: 9}},
		{"last fragment, empty data", ProtoUDP, []ext6{frag6(65528, false, 1)}, nil, nil, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 48, Pointer: 40, Count: 1,
				Fragment: true, FragmentHeader: 40, FragmentOffset: 65528, FragmentID: 1}},
		{"fragment reserved bits ignored", ProtoUDP, []ext6{frag6(8, false, 1)}, udp,
			func(p []byte) []byte { p[41] = 0xff; p[43] |= 6; return p }, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 48, Pointer: 40, Count: 1,
				Fragment: true, FragmentHeader: 40, FragmentOffset: 8, FragmentID: 1}},
		{"no next header", ProtoIPv6NoNextHeader, nil, []byte("ignored"), nil, OK,
			IPv6ExtHeaders{Proto: ProtoIPv6NoNextHeader, Offset: 40, Pointer: 6}},
		{"no next header after dest opts", ProtoIPv6NoNextHeader, []ext6{dst8}, nil, nil, OK,
			IPv6ExtHeaders{Proto: ProtoIPv6NoNextHeader, Offset: 48, Pointer: 40, Count: 1}},
		{"eight headers", ProtoUDP, []ext6{hbh, dst8, dst8, dst8, dst8, dst8, dst8, dst8}, udp, nil, OK,
			IPv6ExtHeaders{Proto: ProtoUDP, Offset: 40 + 64, Pointer: 40 + 56, Count: 8}},
		{"header ends at payload end", ProtoIPv6NoNextHeader, []ext6{dst16}, nil, nil, OK,
			IPv6ExtHeaders{Proto: ProtoIPv6NoNextHeader, Offset: 56, Pointer: 40, Count: 1}},
		{"padding after the packet is not walked", ProtoIPv6NoNextHeader, []ext6{dst8}, nil,
			func(p []byte) []byte { return append(p, ProtoIPv6DestOpts, 0, 0, 0, 0, 0, 0, 0) }, OK,
			IPv6ExtHeaders{Proto: ProtoIPv6NoNextHeader, Offset: 48, Pointer: 40, Count: 1}},

		{"nine headers", ProtoUDP, []ext6{hbh, dst8, dst8, dst8, dst8, dst8, dst8, dst8, dst8}, udp, nil, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6DestOpts, Offset: 40 + 64, Pointer: 40 + 56, Count: 8}},
		{"header past payload", ProtoUDP, []ext6{dst16}, nil,
			func(p []byte) []byte { return p[:len(p)-1] }, ErrTotalLen, IPv6ExtHeaders{}},
		{"header length past payload", ProtoUDP, []ext6{dst16}, nil,
			func(p []byte) []byte { p[41] = 2; return p }, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6DestOpts, Offset: 40, Pointer: 6}},
		{"header length past payload into padding", ProtoUDP, []ext6{dst8}, nil,
			func(p []byte) []byte { p[41] = 1; return append(p, make([]byte, 8)...) }, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6DestOpts, Offset: 40, Pointer: 6}},
		{"truncated fragment header", ProtoUDP, []ext6{frag6(0, true, 1)}, nil,
			func(p []byte) []byte { binary.BigEndian.PutUint16(p[4:], 7); return p[:47] }, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6Fragment, Offset: 40, Pointer: 6}},
		{"empty payload, next header hop-by-hop", ProtoUDP, []ext6{hbh}, nil,
			func(p []byte) []byte { binary.BigEndian.PutUint16(p[4:], 0); return p[:40] }, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6HopByHop, Offset: 40, Pointer: 6}},
		{"first fragment, chain cut off", ProtoUDP, []ext6{frag6(0, true, 5), dst16}, nil,
			func(p []byte) []byte {
				p = p[:len(p)-8]
				binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
				return p
			}, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6DestOpts, Offset: 48, Pointer: 40, Count: 1,
				Fragment: true, FragmentHeader: 40, MoreFragments: true, FragmentID: 5}},
		{"two fragment headers", ProtoUDP, []ext6{frag6(0, false, 1), frag6(0, false, 2)}, udp, nil, ErrExtHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6Fragment, Offset: 48, Pointer: 40, Count: 1,
				Fragment: true, FragmentHeader: 40, FragmentID: 1}},

		{"hop-by-hop after dest opts", ProtoUDP, []ext6{dst8, hbh}, udp, nil, ErrUnknownNextHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6HopByHop, Offset: 48, Pointer: 40, Count: 1}},
		{"two hop-by-hop", ProtoUDP, []ext6{hbh, hbh}, udp, nil, ErrUnknownNextHeader,
			IPv6ExtHeaders{Proto: ProtoIPv6HopByHop, Offset: 48, Pointer: 40, Count: 1}},
		{"AH", ProtoAH, nil, make([]byte, 24), nil, ErrUnknownNextHeader,
			IPv6ExtHeaders{Proto: ProtoAH, Offset: 40, Pointer: 6}},
		{"ESP after routing", ProtoESP, []ext6{routing6()}, make([]byte, 24), nil, ErrUnknownNextHeader,
			IPv6ExtHeaders{Proto: ProtoESP, Offset: 64, Pointer: 40, Count: 1, RoutingHeader: 40}},
		{"mobility", 135, []ext6{hbh}, make([]byte, 8), nil, ErrUnknownNextHeader,
			IPv6ExtHeaders{Proto: 135, Offset: 48, Pointer: 40, Count: 1}},
		{"experimental 253", 253, []ext6{dst8, dst8}, make([]byte, 8), nil, ErrUnknownNextHeader,
			IPv6ExtHeaders{Proto: 253, Offset: 56, Pointer: 48, Count: 2}},

		{"bad version", ProtoUDP, nil, udp, func(p []byte) []byte { p[0] = 0x40; return p }, ErrVersion, IPv6ExtHeaders{}},
		{"truncated", ProtoUDP, nil, udp, func(p []byte) []byte { return p[:30] }, ErrTruncated, IPv6ExtHeaders{}},
	}
	for _, tt := range tests {
		p := buildIPv6(tt.proto, testSrcIP6, testDstIP6, tt.exts, tt.up)
		if tt.edit != nil {
			p = tt.edit(p)
		}
		x := IPv6ExtHeaders{Proto: 99, Count: 99, Fragment: true} // WalkExtHeaders clears it.
		if got := IPv6(p).WalkExtHeaders(&x); got != tt.want {
			t.Errorf("%s: WalkExtHeaders(): got %v, want %v", tt.name, got, tt.want)
		}
		if x != tt.x {
			t.Errorf("%s: WalkExtHeaders(): got %+v, want %+v", tt.name, x, tt.x)
		}
		if x.Count > 0 || tt.want == ErrUnknownNextHeader {
			// The pointer designates the Next Header field holding Proto.
			if x.Pointer >= len(p) || p[x.Pointer] != x.Proto {
				t.Errorf("%s: p[Pointer %d] is not Proto %d", tt.name, x.Pointer, x.Proto)
			}
		}
	}
}

func TestPseudoHeaderChecksumIPv6(t *testing.T) {
	ones := [16]byte{}
	for i := range ones {
		ones[i] = 0xff
	}
	tests := []struct {
		proto    uint8
		src, dst [16]byte
		length   uint32
	}{
		{ProtoUDP, testSrcIP6, testDstIP6, 8},
		{ProtoTCP, ones, ones, 0xffffffff},
		{ProtoICMPv6, [16]byte{}, [16]byte{}, 0},
		{ProtoICMPv6, IPv6LinkLocal(testSrcMAC), IPv6SolicitedNode(testDstIP6), 0x10000},
		{255, ones, [16]byte{}, 0x12345678},
	}
	for _, tt := range tests {
		got := Fold(PseudoHeaderChecksumIPv6(tt.proto, tt.src, tt.dst, tt.length))
		want := naiveChecksum(naivePseudo6(tt.proto, tt.src, tt.dst, tt.length), 0)
		if got != want {
			t.Errorf("PseudoHeaderChecksumIPv6(%d, %x, %x, %d): got %#04x, want %#04x",
				tt.proto, tt.src, tt.dst, tt.length, got, want)
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		var src, dst [16]byte
		for i := range src {
			src[i], dst[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		proto, length := uint8(r.Uint32()), r.Uint32()
		seg := make([]byte, r.IntN(100))
		for i := range seg {
			seg[i] = byte(r.Uint32())
		}
		got := Fold(Checksum(seg, PseudoHeaderChecksumIPv6(proto, src, dst, length)))
		want := naiveChecksum(append(naivePseudo6(proto, src, dst, length), seg...), 0)
		if got != want {
			t.Fatalf("Checksum(%x, PseudoHeaderChecksumIPv6(%d, %x, %x, %d)): got %#04x, want %#04x",
				seg, proto, src, dst, length, got, want)
		}
	}
}

func TestUDPIPv6(t *testing.T) {
	payload := []byte("datagram over IPv6")
	u := UDP(buildUDP6(5353, 53, payload))
	if got, want := u.CheckIPv6(testSrcIP6, testDstIP6), OK; got != want {
		t.Fatalf("CheckIPv6(): got %v, want %v", got, want)
	}
	if u.SrcPort() != 5353 || u.DstPort() != 53 || int(u.Length()) != len(u) || !bytes.Equal(u.Payload(), payload) {
		t.Errorf("accessors: got % x", []byte(u))
	}
	if !naiveOK6(ProtoUDP, testSrcIP6, testDstIP6, uint32(len(u)), u) {
		t.Errorf("naive checksum of encoded datagram does not verify")
	}
	// The IPv4 checksum of the same datagram differs.
	if got, want := u.Check(testSrcIP, testDstIP), ErrChecksum; got != want {
		t.Errorf("Check() with IPv4 addresses: got %v, want %v", got, want)
	}

	valid := func() []byte { return buildUDP6(1000, 2000, []byte("hello, world")) }
	tests := []struct {
		name     string
		mutate   func(u []byte) []byte
		src, dst [16]byte
		want     Error
	}{
		{"valid", func(u []byte) []byte { return u }, testSrcIP6, testDstIP6, OK},
		{"trailing bytes", func(u []byte) []byte { return append(u, 1, 2, 3) }, testSrcIP6, testDstIP6, OK},
		{"zero checksum is an error", func(u []byte) []byte { u[6], u[7] = 0, 0; return u }, testSrcIP6, testDstIP6, ErrChecksum},
		{"empty", func(u []byte) []byte { return u[:0] }, testSrcIP6, testDstIP6, ErrTruncated},
		{"truncated header", func(u []byte) []byte { return u[:7] }, testSrcIP6, testDstIP6, ErrTruncated},
		{"Length < 8", func(u []byte) []byte { binary.BigEndian.PutUint16(u[4:], 7); return u }, testSrcIP6, testDstIP6, ErrBadLength},
		{"Length > len", func(u []byte) []byte { return u[:len(u)-1] }, testSrcIP6, testDstIP6, ErrBadLength},
		{"bad checksum", func(u []byte) []byte { u[7] ^= 0x10; return u }, testSrcIP6, testDstIP6, ErrChecksum},
		{"bad payload", func(u []byte) []byte { u[len(u)-1] ^= 0x01; return u }, testSrcIP6, testDstIP6, ErrChecksum},
		{"wrong source", func(u []byte) []byte { return u }, testDstIP6, testDstIP6, ErrChecksum},
		{"wrong destination", func(u []byte) []byte { return u }, testSrcIP6, testSrcIP6, ErrChecksum},
	}
	for _, tt := range tests {
		u := tt.mutate(valid())
		if got := UDP(u).CheckIPv6(tt.src, tt.dst); got != tt.want {
			t.Errorf("%s: CheckIPv6(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUDPIPv6ChecksumZeroSentAsOnes(t *testing.T) {
	u := UDP(make([]byte, 10))
	u.Encode(1, 2, 10)
	s := ^Fold(Checksum(u, PseudoHeaderChecksumIPv6(ProtoUDP, testSrcIP6, testDstIP6, 10)))
	binary.BigEndian.PutUint16(u[8:], s) // Makes the computed checksum 0.
	u.SetChecksumIPv6(testSrcIP6, testDstIP6)
	if got, want := u.Checksum(), uint16(0xffff); got != want {
		t.Errorf("Checksum(): got %#04x, want %#04x", got, want)
	}
	if got, want := u.CheckIPv6(testSrcIP6, testDstIP6), OK; got != want {
		t.Errorf("CheckIPv6(): got %v, want %v", got, want)
	}
	// Here a zero field would verify arithmetically, but means "no
	// checksum", which IPv6 forbids.
	u.SetChecksumField(0)
	if got, want := u.CheckIPv6(testSrcIP6, testDstIP6), ErrChecksum; got != want {
		t.Errorf("CheckIPv6() with zero field: got %v, want %v", got, want)
	}
	if got, want := u.Check(testSrcIP, testDstIP), OK; got != want {
		t.Errorf("IPv4 Check() with zero field: got %v, want %v", got, want)
	}
}

func TestTCPIPv6(t *testing.T) {
	opts := []byte{2, 4, 0x05, 0xa0, 1, 3, 3, 7} // MSS 1440, NOP, WS 7
	s := TCP(buildTCP6(testSrcIP6, testDstIP6, TCPFlagSyn, opts, []byte("data")))
	if got, want := s.CheckIPv6(testSrcIP6, testDstIP6), OK; got != want {
		t.Fatalf("CheckIPv6(): got %v, want %v", got, want)
	}
	if !naiveOK6(ProtoTCP, testSrcIP6, testDstIP6, uint32(len(s)), s) {
		t.Errorf("naive checksum of encoded segment does not verify")
	}
	if got, want := s.Check(testSrcIP, testDstIP), ErrChecksum; got != want {
		t.Errorf("Check() with IPv4 addresses: got %v, want %v", got, want)
	}
	tests := []struct {
		name     string
		mutate   func(s []byte) []byte
		fixSum   bool
		src, dst [16]byte
		want     Error
	}{
		{"valid", func(s []byte) []byte { return s }, false, testSrcIP6, testDstIP6, OK},
		{"empty", func(s []byte) []byte { return s[:0] }, false, testSrcIP6, testDstIP6, ErrTruncated},
		{"truncated header", func(s []byte) []byte { return s[:19] }, false, testSrcIP6, testDstIP6, ErrTruncated},
		{"data offset 16", func(s []byte) []byte { s[12] = 4 << 4; return s }, true, testSrcIP6, testDstIP6, ErrHeaderLen},
		{"data offset past end", func(s []byte) []byte { s[12] = 15 << 4; return s }, true, testSrcIP6, testDstIP6, ErrHeaderLen},
		{"longer than 65535", func(s []byte) []byte { return append(s, make([]byte, 0x10000)...) }, false, testSrcIP6, testDstIP6, ErrBadLength},
		{"bad checksum", func(s []byte) []byte { s[17] ^= 4; return s }, false, testSrcIP6, testDstIP6, ErrChecksum},
		{"truncated payload", func(s []byte) []byte { return s[:len(s)-1] }, false, testSrcIP6, testDstIP6, ErrChecksum},
		{"wrong source", func(s []byte) []byte { return s }, false, testDstIP6, testDstIP6, ErrChecksum},
		{"wrong destination", func(s []byte) []byte { return s }, false, testSrcIP6, testSrcIP6, ErrChecksum},
	}
	for _, tt := range tests {
		b := tt.mutate(buildTCP6(testSrcIP6, testDstIP6, TCPFlagAck, opts, []byte("data")))
		if tt.fixSum {
			TCP(b).SetChecksumIPv6(testSrcIP6, testDstIP6, uint16(len(b)))
		}
		if got := TCP(b).CheckIPv6(tt.src, tt.dst); got != tt.want {
			t.Errorf("%s: CheckIPv6(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// parseUDP6Frame parses an Ethernet+IPv6+UDP frame the way a receive path
// would and returns a digest of its fields.
func parseUDP6Frame(frame []byte) (sum uint32, e Error) {
	eth := Ethernet(frame)
	if e := eth.Check(); e != OK {
		return 0, e
	}
	if eth.Type() != EtherTypeIPv6 {
		return 0, ErrUnsupported
	}
	ip := IPv6(eth.Payload())
	var x IPv6ExtHeaders
	if e := ip.WalkExtHeaders(&x); e != OK {
		return 0, e
	}
	if x.Proto != ProtoUDP || x.Fragment {
		return 0, ErrUnsupported
	}
	u := UDP(ip[x.Offset : IPv6HeaderLen+int(ip.PayloadLen())])
	if e := u.CheckIPv6(ip.Src(), ip.Dst()); e != OK {
		return 0, e
	}
	return uint32(u.SrcPort()) + uint32(u.DstPort()) + uint32(len(u.Payload())) + uint32(ip.HopLimit()), OK
}

func TestZeroAllocsIPv6(t *testing.T) {
	udp := buildUDP6(1000, 2000, make([]byte, 100))
	ip := IPv6(buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, []ext6{opts6(ProtoIPv6HopByHop, 0), frag6(0, false, 1)}, udp))
	frame := frame6(testDstMAC, buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, []ext6{opts6(ProtoIPv6DestOpts, 1)}, udp))
	tcp := TCP(buildTCP6(testSrcIP6, testDstIP6, TCPFlagAck, nil, make([]byte, 100)))
	echo := ICMPv6(buildEcho6(ICMPv6EchoRequest, testSrcIP6, testDstIP6, 1, 2, make([]byte, 56)))
	ns := buildNS(testSrcIP6, IPv6SolicitedNode(testDstIP6), testDstIP6, testSrcMAC, false)
	buf := make([]byte, 1500)

	var sink uint32
	tests := []struct {
		name string
		f    func()
	}{
		{"IPv6.Check", func() { sink += uint32(ip.Check()) }},
		{"IPv6.WalkExtHeaders", func() {
			var x IPv6ExtHeaders
			sink += uint32(ip.WalkExtHeaders(&x)) + uint32(x.Offset)
		}},
		{"UDP.CheckIPv6", func() { sink += uint32(UDP(udp).CheckIPv6(testSrcIP6, testDstIP6)) }},
		{"TCP.CheckIPv6", func() { sink += uint32(tcp.CheckIPv6(testSrcIP6, testDstIP6)) }},
		{"ICMPv6.Check", func() { sink += uint32(echo.Check(testSrcIP6, testDstIP6)) }},
		{"NDPNeighborSolicit", func() {
			s := NDPNeighborSolicit(ns)
			m, ok := s.SourceLinkLayerAddr()
			if s.Check() != OK || !ok {
				panic("bad solicitation")
			}
			sink += uint32(m[5])
		}},
		{"parse Ethernet+IPv6+UDP", func() {
			s, e := parseUDP6Frame(frame)
			if e != OK {
				panic(e.String())
			}
			sink += s
		}},
		{"encode Ethernet+IPv6+UDP", func() {
			Ethernet(buf).Encode(testDstMAC, testSrcMAC, EtherTypeIPv6)
			IPv6(buf[EthernetHeaderLen:]).Encode(&IPv6Fields{PayloadLen: 108, NextHeader: ProtoUDP, HopLimit: 64, Src: testSrcIP6, Dst: testDstIP6})
			u := UDP(buf[EthernetHeaderLen+IPv6HeaderLen:])
			u.Encode(1, 2, 108)
			u.SetChecksumIPv6(testSrcIP6, testDstIP6)
		}},
		{"encode NA", func() {
			m := ICMPv6(buf[:NDPNeighborLen+NDPLinkLayerOptionLen])
			NDPNeighborAdvert(m).Encode(NDPFlagSolicited, testSrcIP6, testSrcMAC)
			m.SetChecksum(testSrcIP6, testDstIP6)
		}},
		{"addresses", func() {
			a := IPv6SolicitedNode(IPv6LinkLocal(testSrcMAC))
			sink += uint32(IPv6MulticastMAC(a)[5])
		}},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got != 0 {
			t.Errorf("%s: got %v allocations per run, want 0", tt.name, got)
		}
	}
	_ = sink
}

func BenchmarkParseUDP6Frame(b *testing.B) {
	frame := frame6(testDstMAC, buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, nil, buildUDP6(1000, 2000, make([]byte, 64))))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		s, e := parseUDP6Frame(frame)
		if e != OK {
			b.Fatalf("parseUDP6Frame: got %v, want %v", e, OK)
		}
		sink += s
	}
	_ = sink
}
