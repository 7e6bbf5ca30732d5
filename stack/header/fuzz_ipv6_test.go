package header

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Fuzz targets for the IPv6 formats, in the style of fuzz_test.go: each
// compares a view's verdict with a straightforward reference and checks the
// invariants its documentation promises.

// refIPv6Check is a reference implementation of IPv6.Check.
func refIPv6Check(b []byte) Error {
	switch {
	case len(b) < 40:
		return ErrTruncated
	case b[0]&0xf0 != 0x60:
		return ErrVersion
	case 40+(int(b[4])<<8|int(b[5])) > len(b):
		return ErrTotalLen
	}
	return OK
}

func FuzzIPv6(f *testing.F) {
	ip := buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, nil, buildUDP6(1, 2, []byte("payload")))
	f.Add(ip)                                                                 // Valid packet carrying UDP.
	f.Add(append(clone(ip), 0, 0, 0, 0, 0, 0))                                // Valid, with Ethernet padding.
	f.Add(ip[:IPv6HeaderLen])                                                 // Truncated after the header.
	f.Add(ip[:IPv6HeaderLen-1])                                               // Truncated header.
	f.Add([]byte{})                                                           // Empty.
	f.Add(validIPv4(0))                                                       // IPv4.
	f.Add(buildIPv6(ProtoIPv6NoNextHeader, testSrcIP6, testDstIP6, nil, nil)) // Empty payload.
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv6(b)
		e := ip.Check()
		if want := refIPv6Check(b); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		if e != OK {
			return
		}
		if got, want := len(ip.Payload()), int(ip.PayloadLen()); got != want {
			t.Errorf("len(Payload()): got %v, want %v", got, want)
		}
		if ip.Version() != 6 || ip.FlowLabel() > 0xfffff {
			t.Errorf("Version() %d, FlowLabel() %#x", ip.Version(), ip.FlowLabel())
		}
		if ip.SrcAddr().As16() != ip.Src() || !ip.DstAddr().Is6() {
			t.Errorf("addresses: got %v, %v", ip.SrcAddr(), ip.DstAddr())
		}
		// Re-encoding the parsed fields reproduces the header, and the
		// setters reproduce it too.
		c := make(IPv6, IPv6HeaderLen)
		c.Encode(&IPv6Fields{
			TrafficClass: ip.TrafficClass(), FlowLabel: ip.FlowLabel(), PayloadLen: ip.PayloadLen(),
			NextHeader: ip.NextHeader(), HopLimit: ip.HopLimit(), Src: ip.Src(), Dst: ip.Dst(),
		})
		if string(c) != string(b[:IPv6HeaderLen]) {
			t.Errorf("re-encoded header: got %x, want %x", []byte(c), b[:IPv6HeaderLen])
		}
		s := make(IPv6, IPv6HeaderLen)
		s[0] = 0x60
		s.SetFlowLabel(ip.FlowLabel())
		s.SetTrafficClass(ip.TrafficClass())
		s.SetPayloadLen(ip.PayloadLen())
		s.SetNextHeader(ip.NextHeader())
		s.SetHopLimit(ip.HopLimit())
		s.SetSrc(ip.Src())
		s.SetDst(ip.Dst())
		if string(s) != string(b[:IPv6HeaderLen]) {
			t.Errorf("header from setters: got %x, want %x", []byte(s), b[:IPv6HeaderLen])
		}
	})
}

// refWalk is a reference implementation of IPv6.WalkExtHeaders.
func refWalk(b []byte) (IPv6ExtHeaders, Error) {
	var x IPv6ExtHeaders
	if e := refIPv6Check(b); e != OK {
		return x, e
	}
	payload := b[40 : 40+(int(b[4])<<8|int(b[5]))]
	x.Proto, x.Offset, x.Pointer = b[6], 40, 6
	for i := 0; ; i++ {
		t := x.Proto
		switch {
		case t == 0 && i > 0, t == 50, t == 51, t == 135, t == 139, t == 140, t == 253, t == 254:
			return x, ErrUnknownNextHeader
		case t != 0 && t != 43 && t != 44 && t != 60:
			return x, OK
		case i == 8:
			return x, ErrExtHeader
		}
		rest := payload[x.Offset-40:]
		size := 8
		if t != 44 && len(rest) >= 2 {
			size = 8 * (1 + int(rest[1]))
		}
		if len(rest) < size {
			return x, ErrExtHeader
		}
		if t == 44 {
			if x.Fragment {
				return x, ErrExtHeader
			}
			x.Fragment = true
			x.FragmentHeader = x.Offset
			x.FragmentOffset = uint16(rest[2])<<8 | uint16(rest[3]&0xf8)
			x.MoreFragments = rest[3]&1 == 1
			x.FragmentID = uint32(rest[4])<<24 | uint32(rest[5])<<16 | uint32(rest[6])<<8 | uint32(rest[7])
		}
		if t == 43 && x.RoutingHeader == 0 {
			x.RoutingHeader = x.Offset
		}
		x.Count++
		x.Proto, x.Pointer, x.Offset = rest[0], x.Offset, x.Offset+size
		if t == 44 && x.FragmentOffset != 0 {
			return x, OK
		}
	}
}

func FuzzIPv6ExtHeaders(f *testing.F) {
	udp := buildUDP6(1, 2, []byte("payload"))
	hbh, dst := opts6(ProtoIPv6HopByHop, 0), opts6(ProtoIPv6DestOpts, 1)
	add := func(proto uint8, exts []ext6, up []byte) { f.Add(buildIPv6(proto, testSrcIP6, testDstIP6, exts, up)) }
	add(ProtoUDP, nil, udp)                                                       // No extension headers.
	add(ProtoUDP, []ext6{hbh}, udp)                                               // Hop-by-hop.
	add(ProtoTCP, []ext6{hbh, dst, routing6(), frag6(0, false, 1), dst}, nil)     // Full chain, atomic fragment.
	add(ProtoUDP, []ext6{frag6(0, true, 2)}, udp)                                 // First fragment.
	add(ProtoIPv6DestOpts, []ext6{frag6(1232, true, 3)}, []byte("fragment data")) // Later fragment.
	add(ProtoIPv6NoNextHeader, []ext6{dst}, []byte("ignored"))                    // No next header.
	add(ProtoUDP, []ext6{dst, hbh}, udp)                                          // Misplaced hop-by-hop.
	add(ProtoESP, []ext6{hbh}, make([]byte, 16))                                  // ESP.
	add(ProtoUDP, []ext6{frag6(0, false, 1), frag6(0, false, 2)}, udp)            // Two fragment headers.
	add(ProtoUDP, []ext6{hbh, dst, dst, dst, dst, dst, dst, dst, dst}, udp)       // Nine headers.
	p := buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, []ext6{dst}, nil)
	p[41] = 2 // Header length past the payload.
	f.Add(append(p, make([]byte, 16)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var x IPv6ExtHeaders
		e := IPv6(b).WalkExtHeaders(&x)
		want, wantE := refWalk(b)
		if e != wantE || x != want {
			t.Fatalf("WalkExtHeaders(): got %v %+v, want %v %+v", e, x, wantE, want)
		}
		if e != OK && e != ErrExtHeader && e != ErrUnknownNextHeader {
			return
		}
		end := IPv6HeaderLen + int(IPv6(b).PayloadLen())
		if x.Offset < IPv6HeaderLen || x.Offset > end || x.Count > IPv6MaxExtHeaders {
			t.Fatalf("got Offset %d, Count %d, want Offset in [40, %d], Count <= %d", x.Offset, x.Count, end, IPv6MaxExtHeaders)
		}
		if (x.Count == 0) != (x.Pointer == 6 && x.Offset == IPv6HeaderLen) {
			t.Errorf("Count %d, Pointer %d, Offset %d", x.Count, x.Pointer, x.Offset)
		}
		if x.Pointer >= x.Offset || b[x.Pointer] != x.Proto {
			t.Errorf("b[Pointer %d] = %d, want Proto %d before Offset %d", x.Pointer, b[x.Pointer], x.Proto, x.Offset)
		}
		if x.Fragment && (x.FragmentHeader < IPv6HeaderLen || x.FragmentHeader+8 > x.Offset || b[x.FragmentHeader+3]&1 == 1 != x.MoreFragments) {
			t.Errorf("fragment header at %d, Offset %d", x.FragmentHeader, x.Offset)
		}
		if x.RoutingHeader != 0 && (x.RoutingHeader < IPv6HeaderLen || x.RoutingHeader >= x.Offset) {
			t.Errorf("routing header at %d, Offset %d", x.RoutingHeader, x.Offset)
		}
		// The walk reads nothing past the payload: changing the bytes
		// after it, or removing them, changes nothing.
		c := clone(b)
		for i := end; i < len(c); i++ {
			c[i] = ^c[i]
		}
		for _, c := range [][]byte{c, c[:end:end]} {
			var y IPv6ExtHeaders
			if e2 := IPv6(c).WalkExtHeaders(&y); e2 != e || y != x {
				t.Errorf("with padding changed: got %v %+v, want %v %+v", e2, y, e, x)
			}
		}
	})
}

// refICMPv6Check is a reference implementation of ICMPv6.Check.
func refICMPv6Check(b []byte, src, dst [16]byte) Error {
	if len(b) < 8 {
		return ErrTruncated
	}
	if !naiveOK6(ProtoICMPv6, src, dst, uint32(len(b)), b) {
		return ErrChecksum
	}
	return OK
}

// refNeighborCheck is a reference implementation of NDPNeighborSolicit.Check
// (typ 135) and NDPNeighborAdvert.Check (typ 136).
func refNeighborCheck(b []byte, typ uint8) Error {
	switch {
	case len(b) < 24:
		return ErrTruncated
	case b[0] != typ || b[1] != 0:
		return ErrUnsupported
	}
	return refNDPOptionsCheck(b[24:])
}

func addr16(hi, lo uint64) [16]byte {
	var a [16]byte
	binary.BigEndian.PutUint64(a[0:8], hi)
	binary.BigEndian.PutUint64(a[8:16], lo)
	return a
}

func FuzzICMPv6(f *testing.F) {
	s0, s1 := binary.BigEndian.Uint64(testSrcIP6[0:8]), binary.BigEndian.Uint64(testSrcIP6[8:16])
	d0, d1 := binary.BigEndian.Uint64(testDstIP6[0:8]), binary.BigEndian.Uint64(testDstIP6[8:16])
	echo := buildEcho6(ICMPv6EchoRequest, testSrcIP6, testDstIP6, 1, 2, []byte("ping"))
	f.Add(echo, s0, s1, d0, d1)                                                           // Valid echo request.
	f.Add(echo, d0, d1, s0, s1)                                                           // Wrong pseudo header.
	f.Add(echo[:7], s0, s1, d0, d1)                                                       // Truncated.
	f.Add(buildEcho6(ICMPv6EchoReply, testSrcIP6, testDstIP6, 0, 0, nil), s0, s1, d0, d1) // Header only.
	f.Add(buildNS(testSrcIP6, testDstIP6, testDstIP6, testSrcMAC, false), s0, s1, d0, d1) // Neighbor solicitation.
	f.Add(buildNS(testSrcIP6, testDstIP6, testDstIP6, MAC{}, true), s0, s1, d0, d1)       // DAD solicitation.
	f.Add(buildNA(testSrcIP6, testDstIP6, testSrcIP6, 0xe0, testSrcMAC), s0, s1, d0, d1)  // Neighbor advertisement.
	pb := make(ICMPv6, 200)
	pb = pb[:pb.EncodeError(ICMPv6PacketTooBig, 0, 1280, buildIPv6(ProtoUDP, testDstIP6, testSrcIP6, nil, buildUDP6(1, 2, make([]byte, 300))))]
	pb.SetChecksum(testSrcIP6, testDstIP6)
	f.Add([]byte(pb), s0, s1, d0, d1) // Packet too big.
	f.Fuzz(func(t *testing.T, b []byte, s0, s1, d0, d1 uint64) {
		src, dst := addr16(s0, s1), addr16(d0, d1)
		m := ICMPv6(b)
		e := m.Check(src, dst)
		if want := refICMPv6Check(b, src, dst); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		// The neighbor views' Check never panics and does not depend on
		// the checksum.
		if got, want := NDPNeighborSolicit(b).Check(), refNeighborCheck(b, ICMPv6NeighborSolicit); got != want {
			t.Errorf("NDPNeighborSolicit.Check(): got %v, want %v", got, want)
		}
		if got, want := NDPNeighborAdvert(b).Check(), refNeighborCheck(b, ICMPv6NeighborAdvert); got != want {
			t.Errorf("NDPNeighborAdvert.Check(): got %v, want %v", got, want)
		}
		// Any input fits, truncated, in an error message.
		buf := make(ICMPv6, 1500)
		n := buf.EncodeError(ICMPv6TimeExceeded, ICMPv6HopLimitExceeded, 0, b)
		if want := min(ICMPv6MinLen+len(b), ICMPv6MaxErrorLen); n != want {
			t.Fatalf("EncodeError(): got length %d, want %d", n, want)
		}
		em := buf[:n]
		em.SetChecksum(dst, src)
		if got, want := em.Check(dst, src), OK; got != want || string(em.Payload()) != string(b[:n-ICMPv6MinLen]) {
			t.Errorf("error message: Check() %v, payload % x", got, em.Payload())
		}
		if e != OK {
			return
		}
		if got, want := len(m.Payload()), len(b)-ICMPv6MinLen; got != want {
			t.Errorf("len(Payload()): got %v, want %v", got, want)
		}
		if m.IsError() != (m.Type() < 128) || m.MTU() != m.Pointer() || m.MTU() != uint32(m.Ident())<<16|uint32(m.Seq()) {
			t.Errorf("accessors: type %d MTU %d pointer %d ident %d seq %d", m.Type(), m.MTU(), m.Pointer(), m.Ident(), m.Seq())
		}
		// Rewriting the type in place with an incremental update gives
		// the checksum a recomputation gives. The all-zero exception of
		// ChecksumUpdate16 cannot arise: the pseudo header's length word
		// is at least 8.
		c := ICMPv6(clone(b))
		oldv := binary.BigEndian.Uint16(c[0:2])
		c.SetType(^c.Type())
		newv := binary.BigEndian.Uint16(c[0:2])
		got := ChecksumUpdate16(c.Checksum(), oldv, newv)
		c.SetChecksum(src, dst)
		if want := c.Checksum(); got != want {
			t.Errorf("ChecksumUpdate16: got %#04x, want %#04x", got, want)
		}
		if got, want := c.Check(src, dst), OK; got != want {
			t.Errorf("after SetChecksum: Check(): got %v, want %v", got, want)
		}
	})
}

// refNDPOptionsCheck is a reference implementation of NDPOptions.Check.
func refNDPOptionsCheck(b []byte) Error {
	for i := 0; i < len(b); {
		if i+2 > len(b) {
			return ErrOption
		}
		n := 8 * int(b[i+1])
		if n == 0 || i+n > len(b) || ((b[i] == 1 || b[i] == 2) && n != 8) {
			return ErrOption
		}
		i += n
	}
	return OK
}

func FuzzNDPOptions(f *testing.F) {
	sll := []byte{1, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	tll := []byte{2, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	f.Add([]byte{})                                          // No options.
	f.Add(sll)                                               // Source link-layer address.
	f.Add(append(clone(tll), sll...))                        // Both.
	f.Add(append([]byte{5, 1, 0, 0, 0, 0, 5, 0xdc}, sll...)) // MTU, then source.
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})                    // Zero length.
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 0})                    // Past the end.
	f.Add(append(clone(sll), 3))                             // One trailing byte.
	f.Add(append([]byte{2, 2}, make([]byte, 14)...))         // Link-layer option of 16 bytes.
	f.Fuzz(func(t *testing.T, b []byte) {
		o := NDPOptions(b)
		e := o.Check()
		if want := refNDPOptionsCheck(b); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		// gopacket's decoder is the oracle for the walk: it accepts the
		// same option sequences, apart from the link-layer address
		// length rule, and finds the same options.
		var gp layers.ICMPv6Options
		gpErr := gp.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		var walkErr Error
		i, steps := 0, 0
		for rest := o; len(rest) > 0; steps++ {
			opt, next, e := rest.Next()
			if e != OK {
				walkErr = e
				break
			}
			if i >= len(gp) || opt.Type() != uint8(gp[i].Type) || string(opt.Data()) != string(gp[i].Data) || opt.Len() != len(opt) {
				t.Fatalf("option %d: got % x, gopacket %v", i, []byte(opt), gp)
			}
			i++
			rest = next
		}
		if (walkErr != OK) != (gpErr != nil) || i != len(gp) {
			t.Fatalf("walk: got error %v after %d options, gopacket %v after %d", walkErr, i, gpErr, len(gp))
		}
		if steps > len(b)/8 {
			t.Errorf("walk took %d steps over %d bytes", steps, len(b))
		}
		for _, typ := range []uint8{NDPOptSourceLinkLayer, NDPOptTargetLinkLayer} {
			var want MAC
			found := false
			for _, g := range gp {
				if uint8(g.Type) == typ {
					if len(g.Data) == 6 {
						want, found = MAC(g.Data), true
					}
					break
				}
			}
			if got, ok := o.LinkLayerAddr(typ); got != want || ok != found {
				t.Errorf("LinkLayerAddr(%d): got %v, %v, want %v, %v", typ, got, ok, want, found)
			}
		}
		// The same options in a neighbor solicitation and advertisement.
		ns := make([]byte, NDPNeighborLen, NDPNeighborLen+len(b))
		NDPNeighborSolicit(ns).EncodeNoOption(testDstIP6)
		if got := NDPNeighborSolicit(append(ns, b...)).Check(); got != e {
			t.Errorf("NDPNeighborSolicit.Check(): got %v, want %v", got, e)
		}
		na := make([]byte, NDPNeighborLen, NDPNeighborLen+len(b))
		NDPNeighborAdvert(na).EncodeNoOption(NDPFlagSolicited, testDstIP6)
		if got := NDPNeighborAdvert(append(na, b...)).Check(); got != e {
			t.Errorf("NDPNeighborAdvert.Check(): got %v, want %v", got, e)
		}
	})
}
