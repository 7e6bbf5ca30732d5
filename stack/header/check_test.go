package header

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// validIPv4 returns a valid IPv4 packet carrying a UDP datagram, followed by
// pad bytes of trailing padding.
func validIPv4(pad int) []byte {
	f := buildUDPFrame(1000, 2000, []byte("hello, world"))
	return append(clone(f[EthernetHeaderLen:]), make([]byte, pad)...)
}

func TestIPv4Accessors(t *testing.T) {
	p := make([]byte, 60)
	ip := IPv4(p)
	ip.Encode(&IPv4Fields{
		TOS:          0xb8,
		TotalLen:     48,
		ID:           0xbeef,
		DontFragment: true,
		TTL:          17,
		Protocol:     ProtoTCP,
		Src:          testSrcIP,
		Dst:          testDstIP,
	})
	if got, want := ip.Check(), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", ip.Version(), uint8(4)},
		{"HeaderLen", ip.HeaderLen(), 20},
		{"TOS", ip.TOS(), uint8(0xb8)},
		{"TotalLen", ip.TotalLen(), uint16(48)},
		{"ID", ip.ID(), uint16(0xbeef)},
		{"Flags", ip.Flags(), uint8(IPv4FlagDontFragment)},
		{"DontFragment", ip.DontFragment(), true},
		{"MoreFragments", ip.MoreFragments(), false},
		{"FragmentOffset", ip.FragmentOffset(), uint16(0)},
		{"IsFragment", ip.IsFragment(), false},
		{"TTL", ip.TTL(), uint8(17)},
		{"Protocol", ip.Protocol(), uint8(ProtoTCP)},
		{"Src", ip.Src(), testSrcIP},
		{"Dst", ip.Dst(), testDstIP},
		{"SrcAddr", ip.SrcAddr(), netip.MustParseAddr("192.0.2.1")},
		{"DstAddr", ip.DstAddr(), netip.MustParseAddr("198.51.100.7")},
		{"len(Options)", len(ip.Options()), 0},
		{"len(Payload)", len(ip.Payload()), 28},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}

	// Fragment fields.
	tests := []struct {
		flags      uint8
		offset     uint16
		mf, df     bool
		isFragment bool
	}{
		{0, 0, false, false, false},
		{IPv4FlagMoreFragments, 0, true, false, true},
		{0, 1480, false, false, true},
		{IPv4FlagMoreFragments, 65528, true, false, true},
		{IPv4FlagDontFragment, 0, false, true, false},
	}
	for _, tt := range tests {
		ip.SetFlagsFragmentOffset(tt.flags, tt.offset)
		ip.SetChecksum()
		if got, want := ip.Check(), OK; got != want {
			t.Errorf("flags %d offset %d: Check(): got %v, want %v", tt.flags, tt.offset, got, want)
		}
		if got, want := ip.Flags(), tt.flags; got != want {
			t.Errorf("flags %d offset %d: Flags(): got %v, want %v", tt.flags, tt.offset, got, want)
		}
		if got, want := ip.FragmentOffset(), tt.offset; got != want {
			t.Errorf("flags %d offset %d: FragmentOffset(): got %v, want %v", tt.flags, tt.offset, got, want)
		}
		if got, want := ip.MoreFragments(), tt.mf; got != want {
			t.Errorf("flags %d offset %d: MoreFragments(): got %v, want %v", tt.flags, tt.offset, got, want)
		}
		if got, want := ip.DontFragment(), tt.df; got != want {
			t.Errorf("flags %d offset %d: DontFragment(): got %v, want %v", tt.flags, tt.offset, got, want)
		}
		if got, want := ip.IsFragment(), tt.isFragment; got != want {
			t.Errorf("flags %d offset %d: IsFragment(): got %v, want %v", tt.flags, tt.offset, got, want)
		}
	}

	// Setters.
	ip.SetTOS(1)
	ip.SetTotalLen(40)
	ip.SetID(2)
	ip.SetTTL(3)
	ip.SetProtocol(ProtoICMP)
	ip.SetSrc(testDstIP)
	ip.SetDst(testSrcIP)
	ip.SetHeaderChecksum(0x1234)
	if got, want := ip.HeaderChecksum(), uint16(0x1234); got != want {
		t.Errorf("HeaderChecksum(): got %#04x, want %#04x", got, want)
	}
	ip.SetChecksum()
	if got, want := ip.Check(), OK; got != want {
		t.Errorf("Check() after setters: got %v, want %v", got, want)
	}
	if ip.TOS() != 1 || ip.TotalLen() != 40 || ip.ID() != 2 || ip.TTL() != 3 ||
		ip.Protocol() != ProtoICMP || ip.Src() != testDstIP || ip.Dst() != testSrcIP {
		t.Errorf("setters: got % x, want fields 1, 40, 2, 3, 1, %v, %v", p[:20], testDstIP, testSrcIP)
	}
	if got, want := naiveChecksum(p[:20], 0), uint16(0xffff); got != want {
		t.Errorf("naive header sum: got %#04x, want %#04x", got, want)
	}
}

func TestIPv4Check(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p []byte) []byte
		fixSum bool // recompute the header checksum after mutating
		want   Error
	}{
		{"valid", func(p []byte) []byte { return p }, false, OK},
		{"padding", func(p []byte) []byte { return append(p, 0, 0, 0) }, false, OK},
		{"empty", func(p []byte) []byte { return p[:0] }, false, ErrTruncated},
		{"truncated header", func(p []byte) []byte { return p[:19] }, false, ErrTruncated},
		{"version 6", func(p []byte) []byte { p[0] = 0x65; return p }, true, ErrVersion},
		{"version 0", func(p []byte) []byte { p[0] = 0x05; return p }, true, ErrVersion},
		{"IHL 0", func(p []byte) []byte { p[0] = 0x40; return p }, false, ErrHeaderLen},
		{"IHL 4", func(p []byte) []byte { p[0] = 0x44; return p }, false, ErrHeaderLen},
		{"IHL past end", func(p []byte) []byte { p[0] = 0x4f; return p[:40] }, false, ErrHeaderLen},
		{"TotalLen < IHL*4", func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 19); return p }, true, ErrTotalLen},
		{"TotalLen > len", func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], uint16(len(p)+1)); return p }, true, ErrTotalLen},
		{"truncated payload", func(p []byte) []byte { return p[:len(p)-1] }, false, ErrTotalLen},
		{"bad checksum", func(p []byte) []byte { p[10] ^= 1; return p }, false, ErrChecksum},
		{"bad TTL", func(p []byte) []byte { p[8]--; return p }, false, ErrChecksum},
		{"bad payload is not checked", func(p []byte) []byte { p[30] ^= 0xff; return p }, false, OK},
	}
	for _, tt := range tests {
		p := tt.mutate(validIPv4(0))
		if tt.fixSum {
			IPv4(p).SetChecksum()
		}
		if got := IPv4(p).Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIPv4Options(t *testing.T) {
	// A header with a 4-byte Router Alert option (RFC 2113).
	p := make([]byte, 24+4)
	p[0] = 0x46
	binary.BigEndian.PutUint16(p[2:], 28)
	p[8] = 1
	p[9] = 2 // IGMP
	copy(p[12:], testSrcIP[:])
	copy(p[16:], testDstIP[:])
	copy(p[20:], []byte{0x94, 0x04, 0x00, 0x00})
	copy(p[24:], "igmp")
	ip := IPv4(p)
	ip.SetChecksum()
	if got, want := ip.Check(), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	if got, want := ip.HeaderLen(), 24; got != want {
		t.Errorf("HeaderLen(): got %v, want %v", got, want)
	}
	if got, want := ip.Options(), []byte{0x94, 0x04, 0x00, 0x00}; !bytes.Equal(got, want) {
		t.Errorf("Options(): got %x, want %x", got, want)
	}
	if got, want := string(ip.Payload()), "igmp"; got != want {
		t.Errorf("Payload(): got %q, want %q", got, want)
	}
	// The checksum covers the options.
	p[21] ^= 1
	if got, want := ip.Check(), ErrChecksum; got != want {
		t.Errorf("Check() after corrupting option: got %v, want %v", got, want)
	}
}

func TestUDP(t *testing.T) {
	payload := []byte("some payload!")
	f := buildUDPFrame(5353, 53, payload)
	u := UDP(f[EthernetHeaderLen+IPv4MinHeaderLen:])
	if got, want := u.Check(testSrcIP, testDstIP), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	if got, want := u.SrcPort(), uint16(5353); got != want {
		t.Errorf("SrcPort(): got %v, want %v", got, want)
	}
	if got, want := u.DstPort(), uint16(53); got != want {
		t.Errorf("DstPort(): got %v, want %v", got, want)
	}
	if got, want := u.Length(), uint16(UDPHeaderLen+len(payload)); got != want {
		t.Errorf("Length(): got %v, want %v", got, want)
	}
	if got, want := u.Payload(), payload; !bytes.Equal(got, want) {
		t.Errorf("Payload(): got %q, want %q", got, want)
	}
	if !naiveTransportOK(ProtoUDP, testSrcIP, testDstIP, u) {
		t.Errorf("naive checksum of encoded datagram does not verify")
	}
	u.SetSrcPort(1)
	u.SetDstPort(2)
	u.SetLength(9)
	u.SetChecksumField(0)
	if u.SrcPort() != 1 || u.DstPort() != 2 || u.Length() != 9 || u.Checksum() != 0 {
		t.Errorf("setters: got % x, want ports 1, 2, length 9, checksum 0", u[:8])
	}
}

func TestUDPChecksumZeroSentAsOnes(t *testing.T) {
	// Find a payload whose checksum computes to zero; it must be sent as
	// 0xffff.
	u := UDP(make([]byte, 10))
	u.Encode(1, 2, 10)
	s := ^Fold(Checksum(u, PseudoHeaderChecksum(ProtoUDP, testSrcIP, testDstIP, 10)))
	// Adding s to the data makes the sum 0xffff, so the computed checksum 0.
	binary.BigEndian.PutUint16(u[8:], s)
	u.SetChecksum(testSrcIP, testDstIP)
	if got, want := u.Checksum(), uint16(0xffff); got != want {
		t.Errorf("Checksum(): got %#04x, want %#04x", got, want)
	}
	if got, want := u.Check(testSrcIP, testDstIP), OK; got != want {
		t.Errorf("Check(): got %v, want %v", got, want)
	}
}

// TestUDPChecksumSummed checks that a checksum completed from the
// payload's sum equals the one computed over the whole datagram, for
// every payload length up to 70 (odd ones included), both families, and
// the zero case sent as 0xffff.
func TestUDPChecksumSummed(t *testing.T) {
	src6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	dst6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}
	for n := 0; n <= 70; n++ {
		u := UDP(make([]byte, UDPHeaderLen+n))
		for i := range u[UDPHeaderLen:] {
			u[UDPHeaderLen+i] = byte(i*37 + n)
		}
		l := uint16(len(u))
		u.Encode(1234, 53, l)
		sum := Checksum(u[UDPHeaderLen:], 0)
		u.SetChecksum(testSrcIP, testDstIP)
		want := u.Checksum()
		u.SetChecksumField(0x5a5a) // not read
		u.SetChecksumSummed(PseudoHeaderChecksum(ProtoUDP, testSrcIP, testDstIP, l), sum)
		if got := u.Checksum(); got != want {
			t.Errorf("IPv4, %d-byte payload: got %#04x, want %#04x", n, got, want)
		}
		if got := u.Check(testSrcIP, testDstIP); got != OK {
			t.Errorf("IPv4, %d-byte payload: Check() = %v", n, got)
		}
		u.SetChecksumIPv6(src6, dst6)
		want = u.Checksum()
		u.SetChecksumSummed(PseudoHeaderChecksumIPv6(ProtoUDP, src6, dst6, uint32(l)), sum)
		if got := u.Checksum(); got != want {
			t.Errorf("IPv6, %d-byte payload: got %#04x, want %#04x", n, got, want)
		}
	}
	// A payload that makes the sum 0xffff: the checksum goes out as 0xffff.
	u := UDP(make([]byte, 10))
	u.Encode(1, 2, 10)
	s := ^Fold(Checksum(u, PseudoHeaderChecksum(ProtoUDP, testSrcIP, testDstIP, 10)))
	binary.BigEndian.PutUint16(u[8:], s)
	u.SetChecksumSummed(PseudoHeaderChecksum(ProtoUDP, testSrcIP, testDstIP, 10), Checksum(u[8:], 0))
	if got := u.Checksum(); got != 0xffff {
		t.Errorf("zero checksum: got %#04x, want 0xffff", got)
	}
}

func TestUDPCheck(t *testing.T) {
	valid := func() []byte {
		f := buildUDPFrame(1000, 2000, []byte("hello, world"))
		return clone(f[EthernetHeaderLen+IPv4MinHeaderLen:])
	}
	tests := []struct {
		name     string
		mutate   func(u []byte) []byte
		src, dst [4]byte
		want     Error
	}{
		{"valid", func(u []byte) []byte { return u }, testSrcIP, testDstIP, OK},
		{"trailing bytes", func(u []byte) []byte { return append(u, 1, 2, 3) }, testSrcIP, testDstIP, OK},
		{"no checksum", func(u []byte) []byte { u[6], u[7] = 0, 0; u[9] ^= 0xff; return u }, testSrcIP, testDstIP, OK},
		{"empty", func(u []byte) []byte { return u[:0] }, testSrcIP, testDstIP, ErrTruncated},
		{"truncated header", func(u []byte) []byte { return u[:7] }, testSrcIP, testDstIP, ErrTruncated},
		{"Length < 8", func(u []byte) []byte { binary.BigEndian.PutUint16(u[4:], 7); return u }, testSrcIP, testDstIP, ErrBadLength},
		{"Length > len", func(u []byte) []byte { return u[:len(u)-1] }, testSrcIP, testDstIP, ErrBadLength},
		{"bad checksum", func(u []byte) []byte { u[7] ^= 0x10; return u }, testSrcIP, testDstIP, ErrChecksum},
		{"bad payload", func(u []byte) []byte { u[len(u)-1] ^= 0x01; return u }, testSrcIP, testDstIP, ErrChecksum},
		{"wrong source", func(u []byte) []byte { return u }, testDstIP, testDstIP, ErrChecksum},
		{"wrong destination", func(u []byte) []byte { return u }, testSrcIP, testSrcIP, ErrChecksum},
	}
	for _, tt := range tests {
		u := tt.mutate(valid())
		if got := UDP(u).Check(tt.src, tt.dst); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestICMPv4(t *testing.T) {
	m := ICMPv4(buildICMPEcho(0x1234, 0x5678, []byte("ping")))
	if got, want := m.Check(), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	if m.Type() != ICMPEcho || m.Code() != 0 || m.Ident() != 0x1234 || m.Seq() != 0x5678 ||
		string(m.Payload()) != "ping" {
		t.Errorf("accessors: got % x, want echo request 1234/5678 \"ping\"", []byte(m))
	}
	if got, want := naiveChecksum(m, 0), uint16(0xffff); got != want {
		t.Errorf("naive sum: got %#04x, want %#04x", got, want)
	}

	// A port unreachable message.
	u := ICMPv4(make([]byte, ICMPv4MinLen+28))
	u.SetType(ICMPDestUnreachable)
	u.SetCode(ICMPPortUnreachable)
	u.SetRestOfHeader(0)
	copy(u.Payload(), validIPv4(0)[:28])
	u.SetChecksum()
	if got, want := u.Check(), OK; got != want {
		t.Errorf("port unreachable: Check(): got %v, want %v", got, want)
	}

	tests := []struct {
		name   string
		mutate func(m []byte) []byte
		want   Error
	}{
		{"valid", func(m []byte) []byte { return m }, OK},
		{"empty", func(m []byte) []byte { return m[:0] }, ErrTruncated},
		{"truncated header", func(m []byte) []byte { return m[:7] }, ErrTruncated},
		{"bad checksum", func(m []byte) []byte { m[2] ^= 0x80; return m }, ErrChecksum},
		{"bad type", func(m []byte) []byte { m[0] = ICMPEchoReply; return m }, ErrChecksum},
		{"truncated payload", func(m []byte) []byte { return m[:len(m)-1] }, ErrChecksum},
		{"all zero", func(m []byte) []byte { clear(m); return m }, ErrChecksum},
	}
	for _, tt := range tests {
		b := tt.mutate(buildICMPEcho(1, 2, []byte("payload")))
		if got := ICMPv4(b).Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestARP(t *testing.T) {
	a := ARP(buildARP(ARPRequest))
	if got, want := a.Check(), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	want := []byte{
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
		0x02, 0x00, 0x5e, 0x10, 0x00, 0x01, 192, 0, 2, 1,
		0, 0, 0, 0, 0, 0, 198, 51, 100, 7,
	}
	if !bytes.Equal(a, want) {
		t.Errorf("Encode: got % x, want % x", []byte(a), want)
	}
	if a.HardwareType() != 1 || a.ProtocolType() != EtherTypeIPv4 || a.HardwareLen() != 6 ||
		a.ProtocolLen() != 4 || a.Op() != ARPRequest || a.SenderMAC() != testSrcMAC ||
		a.SenderIP() != testSrcIP || a.TargetMAC() != (MAC{}) || a.TargetIP() != testDstIP {
		t.Errorf("accessors: got % x, want % x", []byte(a), want)
	}

	tests := []struct {
		name   string
		mutate func(a []byte) []byte
		want   Error
	}{
		{"valid", func(a []byte) []byte { return a }, OK},
		{"reply", func(a []byte) []byte { a[7] = ARPReply; return a }, OK},
		{"Ethernet padding", func(a []byte) []byte { return append(a, make([]byte, 18)...) }, OK},
		{"empty", func(a []byte) []byte { return a[:0] }, ErrTruncated},
		{"truncated", func(a []byte) []byte { return a[:27] }, ErrTruncated},
		{"hardware type", func(a []byte) []byte { a[1] = 6; return a }, ErrUnsupported},
		{"protocol type", func(a []byte) []byte { a[2] = 0x86; a[3] = 0xdd; return a }, ErrUnsupported},
		{"hardware length", func(a []byte) []byte { a[4] = 8; return a }, ErrUnsupported},
		{"protocol length", func(a []byte) []byte { a[5] = 16; return a }, ErrUnsupported},
		{"op 0", func(a []byte) []byte { a[7] = 0; return a }, ErrUnsupported},
		{"op 3 (RARP)", func(a []byte) []byte { a[7] = 3; return a }, ErrUnsupported},
		{"op 257", func(a []byte) []byte { a[6] = 1; return a }, ErrUnsupported},
	}
	for _, tt := range tests {
		b := tt.mutate(buildARP(ARPRequest))
		if got := ARP(b).Check(); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTCP(t *testing.T) {
	opts := []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7} // MSS 1460, NOP, WS 7
	s := TCP(buildTCP(testSrcIP, testDstIP, TCPFlagSyn|TCPFlagAck, opts, []byte("data")))
	if got, want := s.Check(testSrcIP, testDstIP), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"SrcPort", s.SrcPort(), uint16(40000)},
		{"DstPort", s.DstPort(), uint16(80)},
		{"Seq", s.Seq(), uint32(0x01020304)},
		{"Ack", s.Ack(), uint32(0xa0b0c0d0)},
		{"DataOffset", s.DataOffset(), 28},
		{"Flags", s.Flags(), uint8(TCPFlagSyn | TCPFlagAck)},
		{"Window", s.Window(), uint16(65535)},
		{"UrgentPtr", s.UrgentPtr(), uint16(0)},
		{"Options", string(s.Options()), string(opts)},
		{"Payload", string(s.Payload()), "data"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}
	if !naiveTransportOK(ProtoTCP, testSrcIP, testDstIP, s) {
		t.Errorf("naive checksum of encoded segment does not verify")
	}
	flags := []struct {
		bit  uint8
		want uint8
	}{
		{TCPFlagFin, 0x01}, {TCPFlagSyn, 0x02}, {TCPFlagRst, 0x04}, {TCPFlagPsh, 0x08},
		{TCPFlagAck, 0x10}, {TCPFlagUrg, 0x20}, {TCPFlagEce, 0x40}, {TCPFlagCwr, 0x80},
	}
	for _, f := range flags {
		if f.bit != f.want {
			t.Errorf("flag constant: got %#02x, want %#02x", f.bit, f.want)
		}
	}
	s.SetChecksumField(0xabcd)
	s.SetUrgentPtr(9)
	if s.Checksum() != 0xabcd || s.UrgentPtr() != 9 {
		t.Errorf("setters: got % x, want checksum abcd, urgent 9", []byte(s[:20]))
	}

	tests := []struct {
		name     string
		mutate   func(s []byte) []byte
		fixSum   bool
		src, dst [4]byte
		want     Error
	}{
		{"valid", func(s []byte) []byte { return s }, false, testSrcIP, testDstIP, OK},
		{"empty", func(s []byte) []byte { return s[:0] }, false, testSrcIP, testDstIP, ErrTruncated},
		{"truncated header", func(s []byte) []byte { return s[:19] }, false, testSrcIP, testDstIP, ErrTruncated},
		{"data offset 16", func(s []byte) []byte { s[12] = 4 << 4; return s }, true, testSrcIP, testDstIP, ErrHeaderLen},
		{"data offset past end", func(s []byte) []byte { s[12] = 15 << 4; return s }, true, testSrcIP, testDstIP, ErrHeaderLen},
		{"data offset == len", func(s []byte) []byte { return s[:28] }, true, testSrcIP, testDstIP, OK},
		{"bad checksum", func(s []byte) []byte { s[17] ^= 4; return s }, false, testSrcIP, testDstIP, ErrChecksum},
		{"truncated payload", func(s []byte) []byte { return s[:len(s)-1] }, false, testSrcIP, testDstIP, ErrChecksum},
		{"wrong source", func(s []byte) []byte { return s }, false, testDstIP, testDstIP, ErrChecksum},
	}
	for _, tt := range tests {
		b := tt.mutate(buildTCP(testSrcIP, testDstIP, TCPFlagAck, opts, []byte("data")))
		if tt.fixSum {
			TCP(b).SetChecksum(testSrcIP, testDstIP, uint16(len(b)))
		}
		if got := TCP(b).Check(tt.src, tt.dst); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}
