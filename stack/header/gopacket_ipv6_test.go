package header

// Cross-checks of the IPv6 formats against gopacket/layers, as in
// gopacket_test.go. Packets serialized by gopacket, with checksums it
// computes, must validate here; packets built here must decode cleanly in
// gopacket, and gopacket, asked to serialize the decoded layers again with
// ComputeChecksums, must reproduce them byte for byte, checksum included.

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	gpSrcIP6 = net.IP(testSrcIP6[:])
	gpDstIP6 = net.IP(testDstIP6[:])
)

func gpIPv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0x2e, FlowLabel: 0xbeef1, NextHeader: next, HopLimit: 64,
		SrcIP: gpSrcIP6, DstIP: gpDstIP6}
}

// checkIPv6Fields parses frame as Ethernet+IPv6 with this package, compares
// the fixed header with gopacket's struct, walks the extension headers and
// returns the packet and the walk's result.
func checkIPv6Fields(t *testing.T, frame []byte, want *layers.IPv6) (IPv6, IPv6ExtHeaders) {
	t.Helper()
	eth := Ethernet(frame)
	if got, want := eth.Check(), OK; got != want {
		t.Fatalf("Ethernet.Check(): got %v, want %v", got, want)
	}
	if got, want := eth.Type(), uint16(EtherTypeIPv6); got != want {
		t.Fatalf("Ethernet.Type(): got %#04x, want %#04x", got, want)
	}
	ip := IPv6(eth.Payload())
	if got, want := ip.Check(), OK; got != want {
		t.Fatalf("IPv6.Check(): got %v, want %v", got, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", ip.Version(), want.Version},
		{"TrafficClass", ip.TrafficClass(), want.TrafficClass},
		{"FlowLabel", ip.FlowLabel(), want.FlowLabel},
		{"PayloadLen", ip.PayloadLen(), want.Length},
		{"NextHeader", ip.NextHeader(), uint8(want.NextHeader)},
		{"HopLimit", ip.HopLimit(), want.HopLimit},
		{"Src", ip.SrcAddr().String(), want.SrcIP.String()},
		{"Dst", ip.DstAddr().String(), want.DstIP.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("IPv6.%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}
	var x IPv6ExtHeaders
	if got, want := ip.WalkExtHeaders(&x), OK; got != want {
		t.Fatalf("IPv6.WalkExtHeaders(): got %v, want %v", got, want)
	}
	return ip, x
}

// upper returns the upper-layer packet that the walk x found in ip.
func upper(ip IPv6, x IPv6ExtHeaders) []byte {
	return ip[x.Offset : IPv6HeaderLen+int(ip.PayloadLen())]
}

func TestGopacketUDP6ToView(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		hbh     bool // a Hop-by-Hop Options header
		dst     bool // a Destination Options header
	}{
		{"empty payload", nil, false, false},
		{"odd length", []byte("odd payload"), false, false},
		{"full MTU", bytes.Repeat([]byte{0xa5, 0x5a, 0xff}, 1452/3)[:1452], false, false},
		{"hop-by-hop", []byte("hbh"), true, false},
		{"destination options", []byte("dst"), false, true},
		{"both", []byte("both!"), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip6 := gpIPv6(layers.IPProtocolUDP)
			ls := []gopacket.SerializableLayer{gpEthernet(layers.EthernetTypeIPv6), ip6}
			wantOff, wantCount := IPv6HeaderLen, 0
			if tt.hbh {
				h := &layers.IPv6HopByHop{}
				h.NextHeader = layers.IPProtocolUDP
				// Router Alert and an empty PadN: gopacket pads
				// option areas wrongly, so they must fill the header.
				h.Options = []*layers.IPv6HopByHopOption{{OptionType: 5, OptionData: []byte{0, 0}}, {OptionType: 1}}
				ip6.HopByHop = h
				wantOff += 8
				wantCount++
			}
			if tt.dst {
				d := &layers.IPv6Destination{}
				d.NextHeader = layers.IPProtocolUDP
				d.Options = []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: make([]byte, 10)}, {OptionType: 1}}
				if ip6.HopByHop != nil {
					ip6.HopByHop.NextHeader = layers.IPProtocolIPv6Destination
				} else {
					ip6.NextHeader = layers.IPProtocolIPv6Destination
				}
				ls = append(ls, d)
				wantOff += 16
				wantCount++
			}
			udpl := &layers.UDP{SrcPort: 5353, DstPort: 53}
			if err := udpl.SetNetworkLayerForChecksum(ip6); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, udpl, gopacket.Payload(tt.payload))
			frame := serialize(t, ls...)

			ip, x := checkIPv6Fields(t, frame, ip6)
			if x.Proto != ProtoUDP || x.Offset != wantOff || x.Count != wantCount || x.Fragment {
				t.Fatalf("WalkExtHeaders(): got %+v, want UDP at %d after %d headers", x, wantOff, wantCount)
			}
			u := UDP(upper(ip, x))
			if got, want := u.CheckIPv6(ip.Src(), ip.Dst()), OK; got != want {
				t.Fatalf("UDP.CheckIPv6(): got %v, want %v", got, want)
			}
			checks := []struct {
				name      string
				got, want any
			}{
				{"SrcPort", u.SrcPort(), uint16(udpl.SrcPort)},
				{"DstPort", u.DstPort(), uint16(udpl.DstPort)},
				{"Length", u.Length(), udpl.Length},
				{"Checksum", u.Checksum(), udpl.Checksum},
				{"Payload", string(u.Payload()), string(tt.payload)},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("UDP.%s(): got %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestGopacketTCP6ToView(t *testing.T) {
	ip6 := gpIPv6(layers.IPProtocolTCP)
	tcpl := &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 0xfffffff0, Ack: 17, SYN: true, ACK: true, Window: 64800,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xa0}},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
	if err := tcpl.SetNetworkLayerForChecksum(ip6); err != nil {
		t.Fatal(err)
	}
	payload := []byte("GET / HTTP/1.1\r\n\r\n!")
	frame := serialize(t, gpEthernet(layers.EthernetTypeIPv6), ip6, tcpl, gopacket.Payload(payload))
	ip, x := checkIPv6Fields(t, frame, ip6)
	if x.Proto != ProtoTCP || x.Offset != IPv6HeaderLen {
		t.Fatalf("WalkExtHeaders(): got %+v, want TCP at 40", x)
	}
	s := TCP(upper(ip, x))
	if got, want := s.CheckIPv6(ip.Src(), ip.Dst()), OK; got != want {
		t.Fatalf("TCP.CheckIPv6(): got %v, want %v", got, want)
	}
	if s.SrcPort() != 40000 || s.DstPort() != 443 || s.Seq() != tcpl.Seq || s.Ack() != 17 ||
		s.Flags() != TCPFlagSyn|TCPFlagAck || s.Window() != 64800 || s.Checksum() != tcpl.Checksum ||
		string(s.Payload()) != string(payload) {
		t.Errorf("TCP fields: got % x, want gopacket's %+v", []byte(s[:20]), tcpl)
	}
}

func TestGopacketICMPv6ToView(t *testing.T) {
	t.Run("echo", func(t *testing.T) {
		for _, typ := range []uint8{ICMPv6EchoRequest, ICMPv6EchoReply} {
			ip6 := gpIPv6(layers.IPProtocolICMPv6)
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
			if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
				t.Fatal(err)
			}
			data := []byte("0123456789abcdefghijklmnopqrstuvwxyz!")
			frame := serialize(t, gpEthernet(layers.EthernetTypeIPv6), ip6, icmp,
				&layers.ICMPv6Echo{Identifier: 0xbeef, SeqNumber: 42}, gopacket.Payload(data))
			ip, x := checkIPv6Fields(t, frame, ip6)
			m := ICMPv6(upper(ip, x))
			if got, want := m.Check(ip.Src(), ip.Dst()), OK; got != want {
				t.Fatalf("type %d: ICMPv6.Check(): got %v, want %v", typ, got, want)
			}
			if m.Type() != typ || m.Code() != 0 || m.Checksum() != icmp.Checksum || m.Ident() != 0xbeef ||
				m.Seq() != 42 || string(m.Payload()) != string(data) {
				t.Errorf("type %d: got % x", typ, []byte(m))
			}
		}
	})
	t.Run("packet too big", func(t *testing.T) {
		ip6 := gpIPv6(layers.IPProtocolICMPv6)
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6PacketTooBig, 0)}
		if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
			t.Fatal(err)
		}
		invoking := buildIPv6(ProtoUDP, testDstIP6, testSrcIP6, nil, buildUDP6(1, 2, make([]byte, 100)))
		body := append([]byte{0, 0, 0x05, 0x00}, invoking...) // MTU 1280.
		frame := serialize(t, gpEthernet(layers.EthernetTypeIPv6), ip6, icmp, gopacket.Payload(body))
		ip, x := checkIPv6Fields(t, frame, ip6)
		m := ICMPv6(upper(ip, x))
		if got, want := m.Check(ip.Src(), ip.Dst()), OK; got != want {
			t.Fatalf("ICMPv6.Check(): got %v, want %v", got, want)
		}
		if !m.IsError() || m.MTU() != 1280 || !bytes.Equal(m.Payload(), invoking) {
			t.Errorf("got IsError %v MTU %d payload % x", m.IsError(), m.MTU(), m.Payload())
		}
	})
}

func TestGopacketNDPToView(t *testing.T) {
	target := net.ParseIP("fe80::2aa:ff:fe28:9c5a")
	tests := []struct {
		name string
		msg  gopacket.SerializableLayer
		typ  uint8
	}{
		{"solicitation", &layers.ICMPv6NeighborSolicitation{TargetAddress: target, Options: layers.ICMPv6Options{
			{Type: layers.ICMPv6OptSourceAddress, Data: gpSrcMAC},
			{Type: 14, Data: []byte{1, 2, 3, 4, 5, 6}}, // Nonce (RFC 7527).
		}}, ICMPv6NeighborSolicit},
		{"solicitation without options", &layers.ICMPv6NeighborSolicitation{TargetAddress: target}, ICMPv6NeighborSolicit},
		{"advertisement", &layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: target, Options: layers.ICMPv6Options{
			{Type: layers.ICMPv6OptTargetAddress, Data: gpDstMAC},
		}}, ICMPv6NeighborAdvert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip6 := gpIPv6(layers.IPProtocolICMPv6)
			ip6.HopLimit = 255
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(tt.typ, 0)}
			if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
				t.Fatal(err)
			}
			frame := serialize(t, gpEthernet(layers.EthernetTypeIPv6), ip6, icmp, tt.msg)
			ip, x := checkIPv6Fields(t, frame, ip6)
			m := upper(ip, x)
			if got, want := ICMPv6(m).Check(ip.Src(), ip.Dst()), OK; got != want {
				t.Fatalf("ICMPv6.Check(): got %v, want %v", got, want)
			}
			if got, want := ICMPv6(m).Checksum(), icmp.Checksum; got != want {
				t.Errorf("ICMPv6.Checksum(): got %#04x, want %#04x", got, want)
			}
			// gopacket's own decoding of the options, in wire order.
			var gpOpts layers.ICMPv6Options
			if err := gpOpts.DecodeFromBytes(m[NDPNeighborLen:], gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("gopacket options decode: %v", err)
			}
			var opts NDPOptions
			switch tt.typ {
			case ICMPv6NeighborSolicit:
				ns := NDPNeighborSolicit(m)
				if got, want := ns.Check(), OK; got != want {
					t.Fatalf("Check(): got %v, want %v", got, want)
				}
				if got, want := ns.TargetAddr().String(), target.String(); got != want {
					t.Errorf("TargetAddr(): got %v, want %v", got, want)
				}
				mac, ok := ns.SourceLinkLayerAddr()
				if want := len(tt.msg.(*layers.ICMPv6NeighborSolicitation).Options) > 0; ok != want || (ok && mac != testSrcMAC) {
					t.Errorf("SourceLinkLayerAddr(): got %v, %v", mac, ok)
				}
				opts = ns.Options()
			case ICMPv6NeighborAdvert:
				na := NDPNeighborAdvert(m)
				if got, want := na.Check(), OK; got != want {
					t.Fatalf("Check(): got %v, want %v", got, want)
				}
				gp := tt.msg.(*layers.ICMPv6NeighborAdvertisement)
				if na.Flags() != gp.Flags || na.Router() != gp.Router() || na.Solicited() != gp.Solicited() ||
					na.Override() != gp.Override() || na.TargetAddr().String() != target.String() {
					t.Errorf("fields: got flags %#02x target %v", na.Flags(), na.TargetAddr())
				}
				if mac, ok := na.TargetLinkLayerAddr(); !ok || mac != testDstMAC {
					t.Errorf("TargetLinkLayerAddr(): got %v, %v, want %v, true", mac, ok, testDstMAC)
				}
				opts = na.Options()
			}
			i := 0
			for rest := opts; len(rest) > 0; i++ {
				o, next, e := rest.Next()
				if e != OK {
					t.Fatalf("option %d: Next(): got %v, want OK", i, e)
				}
				if i >= len(gpOpts) || o.Type() != uint8(gpOpts[i].Type) || !bytes.Equal(o.Data(), gpOpts[i].Data) {
					t.Errorf("option %d: got type %d data % x, gopacket has %v", i, o.Type(), o.Data(), gpOpts)
				}
				rest = next
			}
			if i != len(gpOpts) {
				t.Errorf("options: got %d, gopacket has %d", i, len(gpOpts))
			}
		})
	}
}

// reserialize serializes ls with gopacket, which computes lengths and
// checksums, and fails the test unless the result equals want.
func reserialize(t *testing.T, what string, want []byte, ls ...gopacket.SerializableLayer) {
	t.Helper()
	got := serialize(t, ls...)
	if !bytes.Equal(got, want) {
		t.Errorf("%s: gopacket reserialized\n% x\nbuilt here\n% x", what, got, want)
	}
}

// decode6 decodes a frame built here with gopacket and returns its IPv6
// layer after comparing it with the fields buildIPv6 writes.
func decode6(t *testing.T, frame []byte) (gopacket.Packet, *layers.IPv6) {
	t.Helper()
	p := decode(t, frame)
	ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip6 == nil {
		t.Fatalf("gopacket layers: got %v, want IPv6", p.Layers())
	}
	ip := IPv6(frame[EthernetHeaderLen:])
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", ip6.Version, uint8(6)},
		{"TrafficClass", ip6.TrafficClass, uint8(0xb8)},
		{"FlowLabel", ip6.FlowLabel, uint32(0x12345)},
		{"Length", ip6.Length, ip.PayloadLen()},
		{"NextHeader", uint8(ip6.NextHeader), ip.NextHeader()},
		{"HopLimit", ip6.HopLimit, uint8(64)},
		{"SrcIP", ip6.SrcIP.String(), ip.SrcAddr().String()},
		{"DstIP", ip6.DstIP.String(), ip.DstAddr().String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("IPv6.%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	return p, ip6
}

func TestViewUDP6ToGopacket(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17, 1452} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*7 + 3)
		}
		u := buildUDP6(12345, 7777, payload)
		frame := frame6(testDstMAC, buildIPv6(ProtoUDP, testSrcIP6, testDstIP6, nil, u))
		p, ip6 := decode6(t, frame)
		udpl, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udpl == nil {
			t.Fatalf("len %d: gopacket layers: got %v, want UDP", n, p.Layers())
		}
		if udpl.SrcPort != 12345 || udpl.DstPort != 7777 || int(udpl.Length) != len(u) || !bytes.Equal(udpl.Payload, payload) {
			t.Errorf("len %d: gopacket UDP: got %+v", n, udpl)
		}
		if err := udpl.SetNetworkLayerForChecksum(ip6); err != nil {
			t.Fatal(err)
		}
		reserialize(t, "UDP", u, udpl, gopacket.Payload(udpl.Payload))
	}
}

func TestViewTCP6ToGopacket(t *testing.T) {
	opts := []byte{2, 4, 0x23, 0x28, 4, 2, 1, 0} // MSS 9000, SACK permitted, NOP, EOL
	for _, payload := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("tcp6"), 300)} {
		s := buildTCP6(testSrcIP6, testDstIP6, TCPFlagPsh|TCPFlagAck, opts, payload)
		frame := frame6(testDstMAC, buildIPv6(ProtoTCP, testSrcIP6, testDstIP6, nil, s))
		p, ip6 := decode6(t, frame)
		tcpl, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcpl == nil {
			t.Fatalf("gopacket layers: got %v, want TCP", p.Layers())
		}
		if tcpl.SrcPort != 40000 || tcpl.DstPort != 80 || tcpl.Seq != 0x01020304 || !tcpl.PSH || !tcpl.ACK ||
			tcpl.SYN || tcpl.DataOffset != 7 || !bytes.Equal(tcpl.Payload, payload) {
			t.Errorf("gopacket TCP: got %+v", tcpl)
		}
		if err := tcpl.SetNetworkLayerForChecksum(ip6); err != nil {
			t.Fatal(err)
		}
		reserialize(t, "TCP", s, tcpl, gopacket.Payload(tcpl.Payload))
	}
}

func TestViewICMPv6ToGopacket(t *testing.T) {
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz!")
	for _, typ := range []uint8{ICMPv6EchoRequest, ICMPv6EchoReply} {
		m := buildEcho6(typ, testSrcIP6, testDstIP6, 0xbeef, 42, data)
		frame := frame6(testDstMAC, buildIPv6(ProtoICMPv6, testSrcIP6, testDstIP6, nil, m))
		p, ip6 := decode6(t, frame)
		icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		echo, _ := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
		if icmp == nil || echo == nil {
			t.Fatalf("gopacket layers: got %v, want ICMPv6, ICMPv6Echo", p.Layers())
		}
		if icmp.TypeCode != layers.CreateICMPv6TypeCode(typ, 0) || echo.Identifier != 0xbeef || echo.SeqNumber != 42 {
			t.Errorf("gopacket ICMPv6: got %v id %#x seq %d", icmp.TypeCode, echo.Identifier, echo.SeqNumber)
		}
		if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
			t.Fatal(err)
		}
		// gopacket's echo layer drops the data; it is in the ICMPv6
		// layer's payload after the identifier and sequence number.
		reserialize(t, "ICMPv6 echo", m, icmp, echo, gopacket.Payload(icmp.Payload[4:]))
	}

	// An error message built with EncodeError.
	invoking := buildIPv6(ProtoUDP, testDstIP6, testSrcIP6, nil, buildUDP6(1, 2, []byte("x")))
	m := make(ICMPv6, 1500)
	m = m[:m.EncodeError(ICMPv6ParamProblem, ICMPv6UnknownNextHeader, 6, invoking)]
	m.SetChecksum(testSrcIP6, testDstIP6)
	frame := frame6(testDstMAC, buildIPv6(ProtoICMPv6, testSrcIP6, testDstIP6, nil, m))
	p, ip6 := decode6(t, frame)
	icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if icmp == nil {
		t.Fatalf("gopacket layers: got %v, want ICMPv6", p.Layers())
	}
	if icmp.TypeCode != layers.CreateICMPv6TypeCode(ICMPv6ParamProblem, ICMPv6UnknownNextHeader) {
		t.Errorf("gopacket ICMPv6: got %v", icmp.TypeCode)
	}
	if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
		t.Fatal(err)
	}
	reserialize(t, "ICMPv6 parameter problem", m, icmp, gopacket.Payload(icmp.Payload))
}

func TestViewNDPToGopacket(t *testing.T) {
	src := IPv6LinkLocal(testSrcMAC)
	target := IPv6LinkLocal(testDstMAC)
	t.Run("solicitation", func(t *testing.T) {
		for _, dad := range []bool{false, true} {
			from := src
			if dad {
				from = [16]byte{}
			}
			dst := IPv6SolicitedNode(target)
			m := buildNS(from, dst, target, testSrcMAC, dad)
			ip := buildIPv6(ProtoICMPv6, from, dst, nil, m)
			frame := frame6(IPv6MulticastMAC(dst), ip)
			p := decode(t, frame)
			ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			ns, _ := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
			if ip6 == nil || eth == nil || icmp == nil || ns == nil {
				t.Fatalf("DAD %v: gopacket layers: got %v, want IPv6, ICMPv6, NS", dad, p.Layers())
			}
			if got, want := eth.DstMAC.String(), "33:33:ff:10:00:02"; got != want {
				t.Errorf("DAD %v: Ethernet.DstMAC: got %v, want %v", dad, got, want)
			}
			if got, want := ip6.DstIP.String(), "ff02::1:ff10:2"; got != want {
				t.Errorf("DAD %v: IPv6.DstIP: got %v, want %v", dad, got, want)
			}
			if got, want := ns.TargetAddress.String(), "fe80::5eff:fe10:2"; got != want {
				t.Errorf("DAD %v: TargetAddress: got %v, want %v", dad, got, want)
			}
			wantOpts := 1
			if dad {
				wantOpts = 0
			}
			if len(ns.Options) != wantOpts ||
				(!dad && (ns.Options[0].Type != layers.ICMPv6OptSourceAddress || !bytes.Equal(ns.Options[0].Data, testSrcMAC[:]))) {
				t.Errorf("DAD %v: options: got %v", dad, ns.Options)
			}
			if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
				t.Fatal(err)
			}
			reserialize(t, "neighbor solicitation", m, icmp, ns)
		}
	})
	t.Run("advertisement", func(t *testing.T) {
		for _, flags := range []uint8{NDPFlagSolicited | NDPFlagOverride, NDPFlagRouter, NDPFlagOverride} {
			dst := src
			if flags&NDPFlagSolicited == 0 {
				dst = IPv6AllNodes()
			}
			m := buildNA(target, dst, target, flags, testDstMAC)
			frame := frame6(testSrcMAC, buildIPv6(ProtoICMPv6, target, dst, nil, m))
			p := decode(t, frame)
			ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			if ip6 == nil || icmp == nil || na == nil {
				t.Fatalf("flags %#02x: gopacket layers: got %v, want IPv6, ICMPv6, NA", flags, p.Layers())
			}
			if na.Flags != flags || na.Router() != (flags&NDPFlagRouter != 0) || na.Solicited() != (flags&NDPFlagSolicited != 0) ||
				na.Override() != (flags&NDPFlagOverride != 0) || !bytes.Equal(na.TargetAddress, target[:]) {
				t.Errorf("flags %#02x: gopacket NA: got %+v", flags, na)
			}
			if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, testDstMAC[:]) {
				t.Errorf("flags %#02x: options: got %v", flags, na.Options)
			}
			if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
				t.Fatal(err)
			}
			reserialize(t, "neighbor advertisement", m, icmp, na)
		}
	})
}

func TestViewIPv6ExtHeadersToGopacket(t *testing.T) {
	udp := buildUDP6(1, 2, []byte("after the chain"))
	tests := []struct {
		name   string
		exts   []ext6
		up     []byte
		proto  uint8
		layers []gopacket.LayerType // After Ethernet and IPv6.
	}{
		{"hop-by-hop", []ext6{opts6(ProtoIPv6HopByHop, 0)}, udp, ProtoUDP,
			[]gopacket.LayerType{layers.LayerTypeIPv6HopByHop, layers.LayerTypeUDP, gopacket.LayerTypePayload}},
		{"hop-by-hop, dest opts, routing, dest opts", []ext6{opts6(ProtoIPv6HopByHop, 1), opts6(ProtoIPv6DestOpts, 0),
			routing6(), opts6(ProtoIPv6DestOpts, 2)}, udp, ProtoUDP,
			[]gopacket.LayerType{layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Routing,
				layers.LayerTypeIPv6Destination, layers.LayerTypeUDP, gopacket.LayerTypePayload}},
		{"first fragment", []ext6{opts6(ProtoIPv6DestOpts, 0), frag6(0, true, 0x01020304)}, udp, ProtoUDP,
			[]gopacket.LayerType{layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Fragment, gopacket.LayerTypeFragment}},
		{"later fragment", []ext6{frag6(2896, false, 0xfffffffe)}, []byte("middle of some datagram"), ProtoUDP,
			[]gopacket.LayerType{layers.LayerTypeIPv6Fragment, gopacket.LayerTypeFragment}},
		{"no next header", []ext6{opts6(ProtoIPv6DestOpts, 0)}, []byte("ignored"), ProtoIPv6NoNextHeader,
			[]gopacket.LayerType{layers.LayerTypeIPv6Destination, gopacket.LayerTypePayload}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ipb := buildIPv6(tt.proto, testSrcIP6, testDstIP6, tt.exts, tt.up)
			p, _ := decode6(t, frame6(testDstMAC, ipb))
			var got []gopacket.LayerType
			for _, l := range p.Layers()[2:] {
				got = append(got, l.LayerType())
			}
			if len(got) != len(tt.layers) {
				t.Fatalf("gopacket layers: got %v, want %v", got, tt.layers)
			}
			for i := range got {
				if got[i] != tt.layers[i] {
					t.Fatalf("gopacket layers: got %v, want %v", got, tt.layers)
				}
			}

			ip := IPv6(ipb)
			var x IPv6ExtHeaders
			if e := ip.WalkExtHeaders(&x); e != OK {
				t.Fatalf("WalkExtHeaders(): got %v, want OK", e)
			}
			// The walk ends where gopacket's last extension header
			// ends, at the same upper-layer protocol.
			var last gopacket.Layer
			for _, l := range p.Layers()[1:] {
				if lt := l.LayerType(); lt == layers.LayerTypeIPv6 || lt == layers.LayerTypeIPv6HopByHop ||
					lt == layers.LayerTypeIPv6Destination || lt == layers.LayerTypeIPv6Routing || lt == layers.LayerTypeIPv6Fragment {
					last = l
				}
			}
			if got, want := len(ip)-len(last.LayerPayload()), x.Offset; got != want && tt.proto != ProtoIPv6NoNextHeader {
				t.Errorf("upper-layer offset: gopacket %v, WalkExtHeaders %v", got, want)
			}
			if got, want := x.Count, len(tt.exts); got != want {
				t.Errorf("Count: got %v, want %v", got, want)
			}
			if f, _ := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); f != nil {
				if !x.Fragment || x.FragmentOffset != f.FragmentOffset*8 || x.MoreFragments != f.MoreFragments ||
					x.FragmentID != f.Identification || x.Proto != uint8(f.NextHeader) {
					t.Errorf("fragment: got %+v, gopacket %+v", x, f)
				}
			} else if x.Fragment {
				t.Errorf("Fragment: got true, gopacket found no Fragment header")
			}
			if x.Proto != tt.proto {
				t.Errorf("Proto: got %v, want %v", x.Proto, tt.proto)
			}
		})
	}
}
