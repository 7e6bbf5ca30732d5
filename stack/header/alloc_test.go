package header

import "testing"

// parseUDPFrame parses an Ethernet+IPv4+UDP frame the way the receive path
// does and returns a digest of its fields.
func parseUDPFrame(frame []byte) (sum uint32, e Error) {
	eth := Ethernet(frame)
	if e := eth.Check(); e != OK {
		return 0, e
	}
	if eth.Type() != EtherTypeIPv4 || eth.Dst().IsMulticast() {
		return 0, ErrUnsupported
	}
	ip := IPv4(eth.Payload())
	if e := ip.Check(); e != OK {
		return 0, e
	}
	if ip.Protocol() != ProtoUDP || ip.IsFragment() {
		return 0, ErrUnsupported
	}
	src, dst := ip.SrcAddr(), ip.DstAddr()
	if !src.Is4() || !dst.IsValid() {
		return 0, ErrUnsupported
	}
	u := UDP(ip.Payload())
	if e := u.Check(ip.Src(), ip.Dst()); e != OK {
		return 0, e
	}
	p := u.Payload()
	return uint32(u.SrcPort()) + uint32(u.DstPort()) + uint32(len(p)) + uint32(ip.TTL()), OK
}

func TestZeroAllocs(t *testing.T) {
	frame := buildUDPFrame(1000, 2000, make([]byte, 100))
	ip := IPv4(frame[EthernetHeaderLen:])
	udp := UDP(ip[IPv4MinHeaderLen:])
	icmp := ICMPv4(buildICMPEcho(1, 2, make([]byte, 56)))
	arp := ARP(buildARP(ARPRequest))
	tcp := TCP(buildTCP(testSrcIP, testDstIP, TCPFlagAck, nil, make([]byte, 100)))
	buf := make([]byte, 1500)

	var sink uint32
	var err error
	tests := []struct {
		name string
		f    func()
	}{
		{"Checksum", func() { sink += Checksum(buf, 0) }},
		{"IPv4.Check", func() { sink += uint32(ip.Check()) }},
		{"UDP.Check", func() { sink += uint32(udp.Check(testSrcIP, testDstIP)) }},
		{"ICMPv4.Check", func() { sink += uint32(icmp.Check()) }},
		{"ARP.Check", func() { sink += uint32(arp.Check()) }},
		{"TCP.Check", func() { sink += uint32(tcp.Check(testSrcIP, testDstIP)) }},
		{"Error.Err", func() { err = ErrChecksum.Err() }},
		{"parse Ethernet+IPv4+UDP", func() {
			s, e := parseUDPFrame(frame)
			if e != OK {
				panic(e.String())
			}
			sink += s
		}},
		{"encode Ethernet+IPv4+UDP", func() {
			Ethernet(buf).Encode(testDstMAC, testSrcMAC, EtherTypeIPv4)
			IPv4(buf[EthernetHeaderLen:]).Encode(&IPv4Fields{TotalLen: 128, TTL: 64, Protocol: ProtoUDP, Src: testSrcIP, Dst: testDstIP})
			u := UDP(buf[EthernetHeaderLen+IPv4MinHeaderLen:])
			u.Encode(1, 2, 108)
			u.SetChecksum(testSrcIP, testDstIP)
		}},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got != 0 {
			t.Errorf("%s: got %v allocations per run, want 0", tt.name, got)
		}
	}
	_, _ = sink, err
}
