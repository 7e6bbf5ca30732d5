package header

// Cross-checks against github.com/google/gopacket/layers, an independent
// implementation of the same formats: packets serialized by gopacket must
// parse and validate here, and packets built here must decode cleanly in
// gopacket. gopacket does not verify checksums when decoding, so checksums
// of packets built here are verified by recomputation, both with Checksum
// and with the naive reference implementation.

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	gpSrcMAC = net.HardwareAddr(testSrcMAC[:])
	gpDstMAC = net.HardwareAddr(testDstMAC[:])
	gpSrcIP  = net.IP(testSrcIP[:])
	gpDstIP  = net.IP(testDstIP[:])
)

// serialize serializes ls with lengths and checksums computed by gopacket.
func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("gopacket.SerializeLayers: %v", err)
	}
	return clone(buf.Bytes())
}

// decode decodes an Ethernet frame with gopacket and fails the test if
// gopacket reports a decoding error.
func decode(t *testing.T, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode error: %v", el.Error())
	}
	return p
}

func gpEthernet(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: gpSrcMAC, DstMAC: gpDstMAC, EthernetType: typ}
}

// checkIPv4Fields parses frame as Ethernet+IPv4 with this package and
// compares the fields with gopacket's struct.
func checkIPv4Fields(t *testing.T, frame []byte, want *layers.IPv4) IPv4 {
	t.Helper()
	eth := Ethernet(frame)
	if got, want := eth.Check(), OK; got != want {
		t.Fatalf("Ethernet.Check(): got %v, want %v", got, want)
	}
	if got, want := eth.Dst(), testDstMAC; got != want {
		t.Errorf("Ethernet.Dst(): got %v, want %v", got, want)
	}
	if got, want := eth.Src(), testSrcMAC; got != want {
		t.Errorf("Ethernet.Src(): got %v, want %v", got, want)
	}
	if got, want := eth.Type(), uint16(EtherTypeIPv4); got != want {
		t.Fatalf("Ethernet.Type(): got %#04x, want %#04x", got, want)
	}
	ip := IPv4(eth.Payload())
	if got, want := ip.Check(), OK; got != want {
		t.Fatalf("IPv4.Check(): got %v, want %v", got, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", ip.Version(), want.Version},
		{"HeaderLen", ip.HeaderLen(), int(want.IHL) * 4},
		{"TOS", ip.TOS(), want.TOS},
		{"TotalLen", ip.TotalLen(), want.Length},
		{"ID", ip.ID(), want.Id},
		{"Flags", ip.Flags(), uint8(want.Flags)},
		{"DontFragment", ip.DontFragment(), want.Flags&layers.IPv4DontFragment != 0},
		{"MoreFragments", ip.MoreFragments(), want.Flags&layers.IPv4MoreFragments != 0},
		{"FragmentOffset", ip.FragmentOffset(), want.FragOffset * 8},
		{"TTL", ip.TTL(), want.TTL},
		{"Protocol", ip.Protocol(), uint8(want.Protocol)},
		{"HeaderChecksum", ip.HeaderChecksum(), want.Checksum},
		{"Src", ip.SrcAddr().String(), want.SrcIP.String()},
		{"Dst", ip.DstAddr().String(), want.DstIP.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("IPv4.%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}
	return ip
}

func TestGopacketUDPToView(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		ip      layers.IPv4
	}{
		{"empty payload, padded frame", nil, layers.IPv4{TTL: 64, Id: 1}},
		{"one byte", []byte{0x42}, layers.IPv4{TTL: 1, TOS: 0x10, Flags: layers.IPv4DontFragment}},
		{"odd length", []byte("odd payload"), layers.IPv4{TTL: 255, Id: 0xffff}},
		{"full MTU", bytes.Repeat([]byte{0xa5, 0x5a, 0xff}, 1472/3+1)[:1472], layers.IPv4{TTL: 64, Flags: layers.IPv4DontFragment}},
		{"with options", []byte("opts"), layers.IPv4{TTL: 64, Options: []layers.IPv4Option{
			{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}, // Router Alert
			{OptionType: 1}, // NOP, padded to 4 bytes by gopacket
		}}},
		{"first fragment", []byte("frag"), layers.IPv4{TTL: 64, Flags: layers.IPv4MoreFragments}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ipl := tt.ip
			ipl.Version = 4
			ipl.Protocol = layers.IPProtocolUDP
			ipl.SrcIP, ipl.DstIP = gpSrcIP, gpDstIP
			udpl := &layers.UDP{SrcPort: 5353, DstPort: 53}
			if err := udpl.SetNetworkLayerForChecksum(&ipl); err != nil {
				t.Fatal(err)
			}
			frame := serialize(t, gpEthernet(layers.EthernetTypeIPv4), &ipl, udpl, gopacket.Payload(tt.payload))

			ip := checkIPv4Fields(t, frame, &ipl)
			if n := EthernetHeaderLen + int(ipl.Length); len(frame) < 60 || (n < 60 && len(frame) == n) {
				t.Errorf("frame length %d, IP length %d: want gopacket to pad to 60 bytes", len(frame), ipl.Length)
			}
			if ip.IsFragment() != (ipl.Flags&layers.IPv4MoreFragments != 0) {
				t.Errorf("IsFragment(): got %v, want %v", ip.IsFragment(), !ip.IsFragment())
			}
			if got, want := len(ip.Options()), int(ipl.IHL)*4-20; got != want {
				t.Errorf("len(IPv4.Options()): got %v, want %v", got, want)
			}
			u := UDP(ip.Payload())
			if got, want := u.Check(ip.Src(), ip.Dst()), OK; got != want {
				t.Fatalf("UDP.Check(): got %v, want %v", got, want)
			}
			if got, want := u.SrcPort(), uint16(udpl.SrcPort); got != want {
				t.Errorf("UDP.SrcPort(): got %v, want %v", got, want)
			}
			if got, want := u.DstPort(), uint16(udpl.DstPort); got != want {
				t.Errorf("UDP.DstPort(): got %v, want %v", got, want)
			}
			if got, want := u.Length(), udpl.Length; got != want {
				t.Errorf("UDP.Length(): got %v, want %v", got, want)
			}
			if got, want := u.Checksum(), udpl.Checksum; got != want {
				t.Errorf("UDP.Checksum(): got %#04x, want %#04x", got, want)
			}
			if got, want := u.Payload(), tt.payload; !bytes.Equal(got, want) {
				t.Errorf("UDP.Payload(): got %x, want %x", got, want)
			}
		})
	}
}

func TestGopacketICMPToView(t *testing.T) {
	tests := []struct {
		name     string
		typeCode layers.ICMPv4TypeCode
		id, seq  uint16
		payload  []byte
	}{
		{"echo", layers.CreateICMPv4TypeCode(ICMPEcho, 0), 0x1234, 1, []byte("abcdefghijklmnopqrstuvwabcdefghi")},
		{"echo reply odd", layers.CreateICMPv4TypeCode(ICMPEchoReply, 0), 0xffff, 0xfffe, []byte("odd")},
		{"port unreachable", layers.CreateICMPv4TypeCode(ICMPDestUnreachable, ICMPPortUnreachable), 0, 0, bytes.Repeat([]byte{0x45}, 28)},
		{"time exceeded", layers.CreateICMPv4TypeCode(ICMPTimeExceeded, 0), 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: gpSrcIP, DstIP: gpDstIP}
			icmpl := &layers.ICMPv4{TypeCode: tt.typeCode, Id: tt.id, Seq: tt.seq}
			frame := serialize(t, gpEthernet(layers.EthernetTypeIPv4), ipl, icmpl, gopacket.Payload(tt.payload))
			ip := checkIPv4Fields(t, frame, ipl)
			m := ICMPv4(ip.Payload())
			if got, want := m.Check(), OK; got != want {
				t.Fatalf("ICMPv4.Check(): got %v, want %v", got, want)
			}
			checks := []struct {
				name      string
				got, want any
			}{
				{"Type", m.Type(), tt.typeCode.Type()},
				{"Code", m.Code(), tt.typeCode.Code()},
				{"Checksum", m.Checksum(), icmpl.Checksum},
				{"Ident", m.Ident(), tt.id},
				{"Seq", m.Seq(), tt.seq},
				{"Payload", string(m.Payload()), string(tt.payload)},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("ICMPv4.%s(): got %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestGopacketTCPToView(t *testing.T) {
	ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: gpSrcIP, DstIP: gpDstIP,
		Flags: layers.IPv4DontFragment}
	tcpl := &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 0xfffffff0, Ack: 17,
		SYN: true, ACK: true, ECE: true, Window: 29200, Urgent: 0,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
	if err := tcpl.SetNetworkLayerForChecksum(ipl); err != nil {
		t.Fatal(err)
	}
	payload := []byte("GET / HTTP/1.1\r\n\r\n!")
	frame := serialize(t, gpEthernet(layers.EthernetTypeIPv4), ipl, tcpl, gopacket.Payload(payload))
	ip := checkIPv4Fields(t, frame, ipl)
	s := TCP(ip.Payload())
	if got, want := s.Check(ip.Src(), ip.Dst()), OK; got != want {
		t.Fatalf("TCP.Check(): got %v, want %v", got, want)
	}
	// Decode again to get gopacket's view of the options, including the
	// padding it added.
	var gp layers.TCP
	if err := gp.DecodeFromBytes(ip.Payload(), gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("gopacket TCP decode: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"SrcPort", s.SrcPort(), uint16(tcpl.SrcPort)},
		{"DstPort", s.DstPort(), uint16(tcpl.DstPort)},
		{"Seq", s.Seq(), tcpl.Seq},
		{"Ack", s.Ack(), tcpl.Ack},
		{"DataOffset", s.DataOffset(), int(gp.DataOffset) * 4},
		{"Flags", s.Flags(), uint8(TCPFlagSyn | TCPFlagAck | TCPFlagEce)},
		{"Window", s.Window(), tcpl.Window},
		{"Checksum", s.Checksum(), gp.Checksum},
		{"UrgentPtr", s.UrgentPtr(), tcpl.Urgent},
		{"Options", string(s.Options()), string(gp.Contents[20:])},
		{"Payload", string(s.Payload()), string(payload)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("TCP.%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestGopacketARPToView(t *testing.T) {
	for _, op := range []uint16{layers.ARPRequest, layers.ARPReply} {
		arpl := &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: gpSrcMAC, SourceProtAddress: gpSrcIP,
			DstHwAddress: gpDstMAC, DstProtAddress: gpDstIP,
		}
		frame := serialize(t, gpEthernet(layers.EthernetTypeARP), arpl)
		eth := Ethernet(frame)
		if got, want := eth.Check(), OK; got != want {
			t.Fatalf("Ethernet.Check(): got %v, want %v", got, want)
		}
		if got, want := eth.Type(), uint16(EtherTypeARP); got != want {
			t.Fatalf("Ethernet.Type(): got %#04x, want %#04x", got, want)
		}
		a := ARP(eth.Payload())
		if got, want := a.Check(), OK; got != want {
			t.Fatalf("ARP.Check(): got %v, want %v", got, want)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"Op", a.Op(), op},
			{"SenderMAC", a.SenderMAC(), testSrcMAC},
			{"SenderIP", a.SenderIP(), testSrcIP},
			{"TargetMAC", a.TargetMAC(), testDstMAC},
			{"TargetIP", a.TargetIP(), testDstIP},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("op %d: ARP.%s(): got %v, want %v", op, c.name, c.got, c.want)
			}
		}
	}
}

// verifyIPv4Checksum checks the header checksum of ip with both
// implementations.
func verifyIPv4Checksum(t *testing.T, ip []byte) {
	t.Helper()
	hl := int(ip[0]&0xf) * 4
	if got, want := Fold(Checksum(ip[:hl], 0)), uint16(0xffff); got != want {
		t.Errorf("IPv4 header sum: got %#04x, want %#04x", got, want)
	}
	if got, want := naiveChecksum(ip[:hl], 0), uint16(0xffff); got != want {
		t.Errorf("IPv4 header naive sum: got %#04x, want %#04x", got, want)
	}
}

// verifyTransportChecksum checks the checksum of a UDP or TCP segment with
// both implementations.
func verifyTransportChecksum(t *testing.T, proto uint8, seg []byte) {
	t.Helper()
	pseudo := PseudoHeaderChecksum(proto, testSrcIP, testDstIP, uint16(len(seg)))
	if got, want := Fold(Checksum(seg, pseudo)), uint16(0xffff); got != want {
		t.Errorf("protocol %d sum: got %#04x, want %#04x", proto, got, want)
	}
	if !naiveTransportOK(proto, testSrcIP, testDstIP, seg) {
		t.Errorf("protocol %d naive sum does not verify", proto)
	}
}

func TestViewUDPToGopacket(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17, 18, 1472} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*7 + 3)
		}
		frame := buildUDPFrame(12345, 7777, payload)
		p := decode(t, frame)

		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ipl, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udpl, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if eth == nil || ipl == nil || udpl == nil {
			t.Fatalf("len %d: gopacket layers: got %v, want Ethernet, IPv4, UDP", n, p.Layers())
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"Ethernet.SrcMAC", eth.SrcMAC.String(), testSrcMAC.String()},
			{"Ethernet.DstMAC", eth.DstMAC.String(), testDstMAC.String()},
			{"Ethernet.EthernetType", eth.EthernetType, layers.EthernetTypeIPv4},
			{"IPv4.Version", ipl.Version, uint8(4)},
			{"IPv4.IHL", ipl.IHL, uint8(5)},
			{"IPv4.Length", int(ipl.Length), IPv4MinHeaderLen + UDPHeaderLen + n},
			{"IPv4.Id", ipl.Id, uint16(0x1234)},
			{"IPv4.Flags", ipl.Flags, layers.IPv4DontFragment},
			{"IPv4.FragOffset", ipl.FragOffset, uint16(0)},
			{"IPv4.TTL", ipl.TTL, uint8(64)},
			{"IPv4.Protocol", ipl.Protocol, layers.IPProtocolUDP},
			{"IPv4.SrcIP", ipl.SrcIP.String(), "192.0.2.1"},
			{"IPv4.DstIP", ipl.DstIP.String(), "198.51.100.7"},
			{"UDP.SrcPort", udpl.SrcPort, layers.UDPPort(12345)},
			{"UDP.DstPort", udpl.DstPort, layers.UDPPort(7777)},
			{"UDP.Length", int(udpl.Length), UDPHeaderLen + n},
			{"UDP.Payload", string(udpl.Payload), string(payload)},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("len %d: %s: got %v, want %v", n, c.name, c.got, c.want)
			}
		}
		ip := frame[EthernetHeaderLen:]
		verifyIPv4Checksum(t, ip)
		verifyTransportChecksum(t, ProtoUDP, ip[IPv4MinHeaderLen:])
	}
}

func TestViewICMPToGopacket(t *testing.T) {
	payload := []byte("0123456789abcdefghijklmnopqrstuvwxyz!")
	msg := buildICMPEcho(0xbeef, 42, payload)
	frame := make([]byte, EthernetHeaderLen+IPv4MinHeaderLen+len(msg))
	Ethernet(frame).Encode(testDstMAC, testSrcMAC, EtherTypeIPv4)
	IPv4(frame[EthernetHeaderLen:]).Encode(&IPv4Fields{
		TotalLen: uint16(IPv4MinHeaderLen + len(msg)), TTL: 64, Protocol: ProtoICMP,
		Src: testSrcIP, Dst: testDstIP,
	})
	copy(frame[EthernetHeaderLen+IPv4MinHeaderLen:], msg)

	p := decode(t, frame)
	icmpl, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if icmpl == nil {
		t.Fatalf("gopacket layers: got %v, want ICMPv4", p.Layers())
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TypeCode", icmpl.TypeCode, layers.CreateICMPv4TypeCode(ICMPEcho, 0)},
		{"Id", icmpl.Id, uint16(0xbeef)},
		{"Seq", icmpl.Seq, uint16(42)},
		{"Payload", string(icmpl.Payload), string(payload)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("ICMPv4.%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	verifyIPv4Checksum(t, frame[EthernetHeaderLen:])
	m := frame[EthernetHeaderLen+IPv4MinHeaderLen:]
	if got, want := Fold(Checksum(m, 0)), uint16(0xffff); got != want {
		t.Errorf("ICMPv4 sum: got %#04x, want %#04x", got, want)
	}
	if got, want := naiveChecksum(m, 0), uint16(0xffff); got != want {
		t.Errorf("ICMPv4 naive sum: got %#04x, want %#04x", got, want)
	}
}

func TestViewTCPToGopacket(t *testing.T) {
	opts := []byte{2, 4, 0x23, 0x28, 4, 2, 1, 0} // MSS 9000, SACK permitted, NOP, EOL
	payload := []byte("hello")
	seg := buildTCP(testSrcIP, testDstIP, TCPFlagPsh|TCPFlagAck|TCPFlagCwr, opts, payload)
	frame := make([]byte, EthernetHeaderLen+IPv4MinHeaderLen+len(seg))
	Ethernet(frame).Encode(testDstMAC, testSrcMAC, EtherTypeIPv4)
	IPv4(frame[EthernetHeaderLen:]).Encode(&IPv4Fields{
		TotalLen: uint16(IPv4MinHeaderLen + len(seg)), TTL: 64, Protocol: ProtoTCP,
		Src: testSrcIP, Dst: testDstIP, DontFragment: true,
	})
	copy(frame[EthernetHeaderLen+IPv4MinHeaderLen:], seg)

	p := decode(t, frame)
	tcpl, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcpl == nil {
		t.Fatalf("gopacket layers: got %v, want TCP", p.Layers())
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"SrcPort", tcpl.SrcPort, layers.TCPPort(40000)},
		{"DstPort", tcpl.DstPort, layers.TCPPort(80)},
		{"Seq", tcpl.Seq, uint32(0x01020304)},
		{"Ack", tcpl.Ack, uint32(0xa0b0c0d0)},
		{"DataOffset", tcpl.DataOffset, uint8(7)},
		{"flags", [8]bool{tcpl.FIN, tcpl.SYN, tcpl.RST, tcpl.PSH, tcpl.ACK, tcpl.URG, tcpl.ECE, tcpl.CWR},
			[8]bool{false, false, false, true, true, false, false, true}},
		{"Window", tcpl.Window, uint16(65535)},
		{"len(Options)", len(tcpl.Options), 4},
		{"Payload", string(tcpl.Payload), string(payload)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("TCP.%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	verifyIPv4Checksum(t, frame[EthernetHeaderLen:])
	verifyTransportChecksum(t, ProtoTCP, frame[EthernetHeaderLen+IPv4MinHeaderLen:])
}

func TestViewARPToGopacket(t *testing.T) {
	frame := make([]byte, EthernetHeaderLen+ARPLen)
	Ethernet(frame).Encode(BroadcastMAC(), testSrcMAC, EtherTypeARP)
	ARP(frame[EthernetHeaderLen:]).Encode(ARPReply, testSrcMAC, testSrcIP, testDstMAC, testDstIP)
	p := decode(t, frame)
	arpl, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if arpl == nil {
		t.Fatalf("gopacket layers: got %v, want ARP", p.Layers())
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"AddrType", arpl.AddrType, layers.LinkTypeEthernet},
		{"Protocol", arpl.Protocol, layers.EthernetTypeIPv4},
		{"HwAddressSize", arpl.HwAddressSize, uint8(6)},
		{"ProtAddressSize", arpl.ProtAddressSize, uint8(4)},
		{"Operation", arpl.Operation, uint16(layers.ARPReply)},
		{"SourceHwAddress", net.HardwareAddr(arpl.SourceHwAddress).String(), testSrcMAC.String()},
		{"SourceProtAddress", net.IP(arpl.SourceProtAddress).String(), "192.0.2.1"},
		{"DstHwAddress", net.HardwareAddr(arpl.DstHwAddress).String(), testDstMAC.String()},
		{"DstProtAddress", net.IP(arpl.DstProtAddress).String(), "198.51.100.7"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("ARP.%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestEncodeIPv4ChecksumGopacket: Encode sums the header checksum from the
// field values; over random fields it equals what gopacket computes when it
// serializes the same header, and the header sums to 0xffff by the naive
// RFC 1071 sum.
func TestEncodeIPv4ChecksumGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var f IPv4Fields
		f.TOS, f.TTL, f.Protocol = uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32())
		f.TotalLen, f.ID = uint16(r.Uint32()), uint16(r.Uint32())
		f.DontFragment = r.IntN(2) == 0
		for j := range 4 {
			f.Src[j], f.Dst[j] = uint8(r.Uint32()), uint8(r.Uint32())
		}
		if i == 0 { // all ones: the sum's carries at their largest
			f = IPv4Fields{TOS: 0xff, TotalLen: 0xffff, ID: 0xffff, DontFragment: true, TTL: 0xff, Protocol: 0xff,
				Src: [4]byte{255, 255, 255, 255}, Dst: [4]byte{255, 255, 255, 255}}
		}
		b := make(IPv4, IPv4MinHeaderLen)
		b.Encode(&f)
		if got := naiveChecksum(b, 0); got != 0xffff {
			t.Fatalf("%+v: header sums to %#04x, want 0xffff", f, got)
		}
		ipl := layers.IPv4{Version: 4, IHL: 5, TOS: f.TOS, Length: f.TotalLen, Id: f.ID, TTL: f.TTL,
			Protocol: layers.IPProtocol(f.Protocol), SrcIP: net.IP(f.Src[:]), DstIP: net.IP(f.Dst[:])}
		if f.DontFragment {
			ipl.Flags = layers.IPv4DontFragment
		}
		buf := gopacket.NewSerializeBuffer()
		if err := ipl.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
			t.Fatal(err)
		}
		if want := buf.Bytes(); !bytes.Equal(b, want) {
			t.Fatalf("%+v:\n got % x\nwant % x (gopacket)", f, []byte(b), want)
		}
	}
}
