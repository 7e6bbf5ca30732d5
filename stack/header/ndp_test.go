package header

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestNDPNeighborSolicit(t *testing.T) {
	src := IPv6LinkLocal(testSrcMAC)
	target := netip.MustParseAddr("fe80::2aa:ff:fe28:9c5a").As16()
	dst := IPv6SolicitedNode(target)
	m := buildNS(src, dst, target, testSrcMAC, false)
	want := append([]byte{135, 0, m[2], m[3], 0, 0, 0, 0}, target[:]...)
	want = append(want, 1, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01)
	if !bytes.Equal(m, want) {
		t.Errorf("Encode: got % x, want % x", m, want)
	}
	if got, want := ICMPv6(m).Check(src, dst), OK; got != want {
		t.Fatalf("ICMPv6.Check(): got %v, want %v", got, want)
	}
	if !naiveOK6(ProtoICMPv6, src, dst, uint32(len(m)), m) {
		t.Errorf("naive checksum does not verify")
	}
	ns := NDPNeighborSolicit(m)
	if got, want := ns.Check(), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	if got, want := ns.Target(), target; got != want {
		t.Errorf("Target(): got %x, want %x", got, want)
	}
	if got, want := ns.TargetAddr(), netip.MustParseAddr("fe80::2aa:ff:fe28:9c5a"); got != want {
		t.Errorf("TargetAddr(): got %v, want %v", got, want)
	}
	if got, ok := ns.SourceLinkLayerAddr(); !ok || got != testSrcMAC {
		t.Errorf("SourceLinkLayerAddr(): got %v, %v, want %v, true", got, ok, testSrcMAC)
	}
	if _, ok := ns.Options().LinkLayerAddr(NDPOptTargetLinkLayer); ok {
		t.Errorf("LinkLayerAddr(target): got true, want false")
	}

	// Duplicate address detection: no option.
	dad := NDPNeighborSolicit(buildNS([16]byte{}, dst, target, MAC{}, true))
	if got, want := len(dad), NDPNeighborLen; got != want {
		t.Errorf("EncodeNoOption: got length %v, want %v", got, want)
	}
	if got, want := dad.Check(), OK; got != want {
		t.Errorf("DAD Check(): got %v, want %v", got, want)
	}
	if _, ok := dad.SourceLinkLayerAddr(); ok {
		t.Errorf("DAD SourceLinkLayerAddr(): got true, want false")
	}
	if got, want := ICMPv6(dad).Check([16]byte{}, dst), OK; got != want {
		t.Errorf("DAD ICMPv6.Check(): got %v, want %v", got, want)
	}

	tests := []struct {
		name   string
		mutate func(m []byte) []byte
		want   Error
	}{
		{"valid", func(m []byte) []byte { return m }, OK},
		{"no options", func(m []byte) []byte { return m[:24] }, OK},
		{"extra unknown option", func(m []byte) []byte { return append(m, 14, 2, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0) }, OK},
		{"reserved bits set", func(m []byte) []byte { m[4] = 0xff; return m }, OK},
		{"empty", func(m []byte) []byte { return m[:0] }, ErrTruncated},
		{"truncated", func(m []byte) []byte { return m[:23] }, ErrTruncated},
		{"advertisement", func(m []byte) []byte { m[0] = ICMPv6NeighborAdvert; return m }, ErrUnsupported},
		{"code 1", func(m []byte) []byte { m[1] = 1; return m }, ErrUnsupported},
		{"option length 0", func(m []byte) []byte { m[25] = 0; return m }, ErrOption},
		{"option past end", func(m []byte) []byte { m[25] = 2; return m }, ErrOption},
		{"one trailing byte", func(m []byte) []byte { return append(m, 1) }, ErrOption},
		{"link-layer option of 16 bytes", func(m []byte) []byte { m[25] = 2; return append(m, make([]byte, 8)...) }, ErrOption},
	}
	for _, tt := range tests {
		b := tt.mutate(buildNS(src, dst, target, testSrcMAC, false))
		if got := NDPNeighborSolicit(b).Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNDPNeighborAdvert(t *testing.T) {
	target := testSrcIP6
	tests := []struct {
		flags, want        uint8
		router, sol, overr bool
	}{
		{0, 0, false, false, false},
		{NDPFlagRouter, 0x80, true, false, false},
		{NDPFlagSolicited | NDPFlagOverride, 0x60, false, true, true},
		{0xff, 0xe0, true, true, true}, // Reserved bits are not sent.
	}
	for _, tt := range tests {
		m := buildNA(testSrcIP6, testDstIP6, target, tt.flags, testDstMAC)
		want := append([]byte{136, 0, m[2], m[3], tt.want, 0, 0, 0}, target[:]...)
		want = append(want, 2, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02)
		if !bytes.Equal(m, want) {
			t.Errorf("flags %#02x: Encode: got % x, want % x", tt.flags, m, want)
		}
		if got, want := ICMPv6(m).Check(testSrcIP6, testDstIP6), OK; got != want {
			t.Errorf("flags %#02x: ICMPv6.Check(): got %v, want %v", tt.flags, got, want)
		}
		na := NDPNeighborAdvert(m)
		if got, want := na.Check(), OK; got != want {
			t.Fatalf("flags %#02x: Check(): got %v, want %v", tt.flags, got, want)
		}
		if na.Flags() != tt.want || na.Router() != tt.router || na.Solicited() != tt.sol || na.Override() != tt.overr {
			t.Errorf("flags %#02x: got Flags %#02x R %v S %v O %v, want %#02x %v %v %v", tt.flags,
				na.Flags(), na.Router(), na.Solicited(), na.Override(), tt.want, tt.router, tt.sol, tt.overr)
		}
		if na.Target() != target || na.TargetAddr() != netip.AddrFrom16(target) {
			t.Errorf("flags %#02x: Target(): got %v", tt.flags, na.TargetAddr())
		}
		if got, ok := na.TargetLinkLayerAddr(); !ok || got != testDstMAC {
			t.Errorf("flags %#02x: TargetLinkLayerAddr(): got %v, %v, want %v, true", tt.flags, got, ok, testDstMAC)
		}
	}

	m := make([]byte, NDPNeighborLen)
	if got, want := NDPNeighborAdvert(m).EncodeNoOption(NDPFlagSolicited, target), NDPNeighborLen; got != want {
		t.Errorf("EncodeNoOption: got %v, want %v", got, want)
	}
	if _, ok := NDPNeighborAdvert(m).TargetLinkLayerAddr(); ok {
		t.Errorf("TargetLinkLayerAddr() without option: got true, want false")
	}

	checks := []struct {
		name   string
		mutate func(m []byte) []byte
		want   Error
	}{
		{"valid", func(m []byte) []byte { return m }, OK},
		{"no options", func(m []byte) []byte { return m[:24] }, OK},
		{"truncated", func(m []byte) []byte { return m[:20] }, ErrTruncated},
		{"solicitation", func(m []byte) []byte { m[0] = ICMPv6NeighborSolicit; return m }, ErrUnsupported},
		{"echo request", func(m []byte) []byte { m[0] = ICMPv6EchoRequest; return m }, ErrUnsupported},
		{"code 255", func(m []byte) []byte { m[1] = 255; return m }, ErrUnsupported},
		{"option length 0", func(m []byte) []byte { m[25] = 0; return m }, ErrOption},
		{"truncated option", func(m []byte) []byte { return m[:31] }, ErrOption},
	}
	for _, tt := range checks {
		b := tt.mutate(buildNA(testSrcIP6, testDstIP6, target, NDPFlagSolicited, testDstMAC))
		if got := NDPNeighborAdvert(b).Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNDPOptions(t *testing.T) {
	sll := []byte{1, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	sll2 := []byte{1, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x09}
	tll := []byte{2, 1, 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	mtu := []byte{5, 1, 0, 0, 0, 0, 0x05, 0xdc}
	prefix := append([]byte{3, 4}, make([]byte, 30)...)
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name     string
		opts     []byte
		want     Error
		types    []uint8 // Types walked by Next before its first error.
		src, tgt MAC     // Zero if absent.
	}{
		{"empty", nil, OK, nil, MAC{}, MAC{}},
		{"source", sll, OK, []uint8{1}, testSrcMAC, MAC{}},
		{"target", tll, OK, []uint8{2}, MAC{}, testDstMAC},
		{"both and others", cat(mtu, tll, prefix, sll), OK, []uint8{5, 2, 3, 1}, testSrcMAC, testDstMAC},
		{"duplicate source: first wins", cat(sll, sll2), OK, []uint8{1, 1}, testSrcMAC, MAC{}},
		{"zero length", cat(sll, []byte{2, 0, 0, 0, 0, 0, 0, 0}, tll), ErrOption, []uint8{1}, testSrcMAC, MAC{}},
		{"zero length first", cat([]byte{1, 0, 0, 0, 0, 0, 0, 0}, sll), ErrOption, nil, MAC{}, MAC{}},
		{"past end", cat(sll, []byte{5, 2, 0, 0, 0, 0, 0, 0}), ErrOption, []uint8{1}, testSrcMAC, MAC{}},
		{"one byte", []byte{1}, ErrOption, nil, MAC{}, MAC{}},
		{"short", sll[:7], ErrOption, nil, MAC{}, MAC{}},
		{"long source", cat([]byte{1, 2}, make([]byte, 14)), ErrOption, []uint8{1}, MAC{}, MAC{}},
		{"long target after source", cat(sll, []byte{2, 2}, make([]byte, 14)), ErrOption, []uint8{1, 2}, testSrcMAC, MAC{}},
		{"length 255", cat([]byte{9, 255}, make([]byte, 255*8-2)), OK, []uint8{9}, MAC{}, MAC{}},
	}
	for _, tt := range tests {
		o := NDPOptions(tt.opts)
		if got := o.Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
		var types []uint8
		total := 0
		for rest := o; len(rest) > 0; {
			opt, next, e := rest.Next()
			if e != OK {
				if opt != nil || next != nil {
					t.Errorf("%s: Next() error %v with non-nil results", tt.name, e)
				}
				break
			}
			if opt.Len() != len(opt) || opt.Len() < 8 || opt.Len()%8 != 0 || len(opt.Data()) != len(opt)-2 {
				t.Errorf("%s: option % x: Len() %d", tt.name, []byte(opt), opt.Len())
			}
			types = append(types, opt.Type())
			total += len(opt)
			rest = next
		}
		if !bytes.Equal(types, tt.types) {
			t.Errorf("%s: types walked: got %v, want %v", tt.name, types, tt.types)
		}
		if tt.want == OK && total != len(tt.opts) {
			t.Errorf("%s: walked %d bytes, want %d", tt.name, total, len(tt.opts))
		}
		src, ok := o.LinkLayerAddr(NDPOptSourceLinkLayer)
		if src != tt.src || ok != (tt.src != MAC{}) {
			t.Errorf("%s: LinkLayerAddr(source): got %v, %v, want %v", tt.name, src, ok, tt.src)
		}
		tgt, ok := o.LinkLayerAddr(NDPOptTargetLinkLayer)
		if tgt != tt.tgt || ok != (tt.tgt != MAC{}) {
			t.Errorf("%s: LinkLayerAddr(target): got %v, %v, want %v", tt.name, tgt, ok, tt.tgt)
		}
	}
	if _, _, e := NDPOptions(nil).Next(); e != ErrOption {
		t.Errorf("Next() on empty options: got %v, want %v", e, ErrOption)
	}
	b := make([]byte, 8)
	if got, want := NDPOption(b).EncodeLinkLayerAddr(NDPOptTargetLinkLayer, testDstMAC), 8; got != want {
		t.Errorf("EncodeLinkLayerAddr: got %v, want %v", got, want)
	}
	if !bytes.Equal(b, tll) {
		t.Errorf("EncodeLinkLayerAddr: got % x, want % x", b, tll)
	}
}

func TestIPv6AddressHelpers(t *testing.T) {
	a := func(s string) [16]byte { return netip.MustParseAddr(s).As16() }
	mac := func(s string) MAC {
		m, err := ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got, want := IPv6AllNodes(), a("ff02::1"); got != want {
		t.Errorf("IPv6AllNodes(): got %x, want %x", got, want)
	}

	solicited := []struct{ in, want string }{
		{"4037::01:800:200e:8c6c", "ff02::1:ff0e:8c6c"}, // RFC 4291 section 2.7.1.
		{"fe80::2aa:ff:fe28:9c5a", "ff02::1:ff28:9c5a"},
		{"2001:db8::1", "ff02::1:ff00:1"},
		{"::", "ff02::1:ff00:0"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff02::1:ffff:ffff"},
	}
	for _, tt := range solicited {
		got := IPv6SolicitedNode(a(tt.in))
		if want := a(tt.want); got != want {
			t.Errorf("IPv6SolicitedNode(%s): got %v, want %s", tt.in, netip.AddrFrom16(got), tt.want)
		}
		if !netip.AddrFrom16(got).IsLinkLocalMulticast() {
			t.Errorf("IPv6SolicitedNode(%s) = %v is not link-local multicast", tt.in, netip.AddrFrom16(got))
		}
	}

	multicast := []struct{ in, want string }{
		{"ff02::1", "33:33:00:00:00:01"}, // RFC 2464 section 7.
		{"ff02::2", "33:33:00:00:00:02"},
		{"ff02::1:ff28:9c5a", "33:33:ff:28:9c:5a"},
		{"ff05::1:3", "33:33:00:01:00:03"},
		{"ff0e::1234:5678:9abc:def0", "33:33:9a:bc:de:f0"},
	}
	for _, tt := range multicast {
		got := IPv6MulticastMAC(a(tt.in))
		if got.String() != tt.want {
			t.Errorf("IPv6MulticastMAC(%s): got %v, want %s", tt.in, got, tt.want)
		}
		if !got.IsMulticast() || got.IsBroadcast() {
			t.Errorf("IPv6MulticastMAC(%s) = %v: want a multicast, non-broadcast address", tt.in, got)
		}
	}

	eui := []struct {
		mac string
		id  [8]byte
		ll  string
	}{
		// RFC 2464 section 4.
		{"34:56:78:9a:bc:de", [8]byte{0x36, 0x56, 0x78, 0xff, 0xfe, 0x9a, 0xbc, 0xde}, "fe80::3656:78ff:fe9a:bcde"},
		{"00:aa:00:28:9c:5a", [8]byte{0x02, 0xaa, 0x00, 0xff, 0xfe, 0x28, 0x9c, 0x5a}, "fe80::2aa:ff:fe28:9c5a"},
		// QEMU's default MAC, a locally administered address.
		{"52:54:00:12:34:56", [8]byte{0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56}, "fe80::5054:ff:fe12:3456"},
		{"02:00:5e:10:00:01", [8]byte{0x00, 0x00, 0x5e, 0xff, 0xfe, 0x10, 0x00, 0x01}, "fe80::5eff:fe10:1"},
		{"ff:ff:ff:ff:ff:ff", [8]byte{0xfd, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff}, "fe80::fdff:ffff:feff:ffff"},
	}
	for _, tt := range eui {
		m := mac(tt.mac)
		if got := ModifiedEUI64(m); got != tt.id {
			t.Errorf("ModifiedEUI64(%s): got % x, want % x", tt.mac, got, tt.id)
		}
		got := netip.AddrFrom16(IPv6LinkLocal(m))
		if got.String() != tt.ll {
			t.Errorf("IPv6LinkLocal(%s): got %v, want %s", tt.mac, got, tt.ll)
		}
		if !got.IsLinkLocalUnicast() {
			t.Errorf("IPv6LinkLocal(%s) = %v is not link-local unicast", tt.mac, got)
		}
	}
}
