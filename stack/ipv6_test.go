package stack

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// checkFrame6 checks an IPv6 frame the stack sent: gopacket decodes it,
// the payload length matches the frame, the ICMPv6, TCP or UDP checksum is
// right (by refChecksum over the pseudo header; UDP's is never zero),
// Neighbor Discovery goes out with hop limit 255 and a link-layer address
// option, everything else with 64, and the Ethernet destination of a
// multicast packet is its group's MAC.
func checkFrame6(pkt gopacket.Packet, f []byte) error {
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil {
		return fmt.Errorf("no IPv6 layer")
	}
	if int(ip.Length) != len(f)-14-40 {
		return fmt.Errorf("IPv6 payload length %d, frame carries %d", ip.Length, len(f)-14-40)
	}
	switch ip.NextHeader {
	case layers.IPProtocolICMPv6, layers.IPProtocolTCP, layers.IPProtocolUDP:
	default:
		return fmt.Errorf("unexpected next header %v", ip.NextHeader)
	}
	if ip.DstIP[0] == 0xff {
		if want := []byte{0x33, 0x33, ip.DstIP[12], ip.DstIP[13], ip.DstIP[14], ip.DstIP[15]}; !bytes.Equal(f[:6], want) {
			return fmt.Errorf("multicast %v sent to MAC %x, want %x", ip.DstIP, f[:6], want)
		}
	}
	l4 := f[54:]
	ph := append(append(append([]byte{}, ip.SrcIP...), ip.DstIP...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, byte(ip.NextHeader))
	if refChecksum(append(ph, l4...)) != 0 {
		return fmt.Errorf("%v checksum wrong", ip.NextHeader)
	}
	switch ip.NextHeader {
	case layers.IPProtocolTCP:
		if tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); tcp == nil {
			return fmt.Errorf("no TCP layer")
		}
		if ip.HopLimit != defaultTTL {
			return fmt.Errorf("TCP sent with hop limit %d", ip.HopLimit)
		}
		return nil
	case layers.IPProtocolUDP:
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || int(udp.Length) != len(l4) || udp.Checksum == 0 {
			return fmt.Errorf("bad UDP header %+v", udp)
		}
		return nil
	}
	icmp, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if icmp == nil {
		return fmt.Errorf("no ICMPv6 layer")
	}
	hop := uint8(defaultTTL)
	switch icmp.TypeCode.Type() {
	case layers.ICMPv6TypeNeighborSolicitation:
		ns, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
		if ns == nil || len(ns.Options) != 1 || ns.Options[0].Type != layers.ICMPv6OptSourceAddress {
			return fmt.Errorf("bad neighbour solicitation %+v", ns)
		}
		hop = ndHopLimit
	case layers.ICMPv6TypeNeighborAdvertisement:
		na, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		if na == nil || len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress ||
			!bytes.Equal(na.Options[0].Data, f[6:12]) {
			return fmt.Errorf("bad neighbour advertisement %+v", na)
		}
		hop = ndHopLimit
	case layers.ICMPv6TypeEchoRequest, layers.ICMPv6TypeEchoReply, layers.ICMPv6TypeParameterProblem,
		layers.ICMPv6TypeDestinationUnreachable:
	default:
		return fmt.Errorf("unexpected ICMPv6 type %v", icmp.TypeCode)
	}
	if ip.HopLimit != hop {
		return fmt.Errorf("%v sent with hop limit %d, want %d", icmp.TypeCode, ip.HopLimit, hop)
	}
	return nil
}

// ping6 sends one echo request from s to dst and polls the pair until the
// reply arrives.
func ping6(t *testing.T, p *pair, s *Stack, dst netip.Addr, seq uint16) {
	t.Helper()
	c, err := s.ListenPing()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := []byte("netsplice ping6 payload")
	if err := c.SendEcho(dst, seq, payload); err != nil {
		t.Fatal(err)
	}
	p.poll(10)
	c.SetReadDeadline(time.Now().Add(-time.Second)) // never block: we drive the polls
	buf := make([]byte, 64)
	n, src, gotSeq, err := c.ReadReply(buf)
	if err != nil {
		t.Fatalf("ReadReply from %v: %v", dst, err)
	}
	if src != dst.WithZone("") || gotSeq != seq || !bytes.Equal(buf[:n], payload) {
		t.Fatalf("reply from %v seq %d payload %q; want %v, %d, %q", src, gotSeq, buf[:n], dst, seq, payload)
	}
}

// TestIPv6PingAndND pings over IPv6 both ways, to global and link-local
// addresses: A resolves B with a solicitation, B learns A from it and
// needs none, and every frame is checked with gopacket.
func TestIPv6PingAndND(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true})
	ping6(t, p, p.a, addr6B.Addr(), 1)
	ca, cb := p.a.Counters(), p.b.Counters()
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"A nd_solicits_tx", ca[NDSolicitsTx], 1},
		{"B nd_solicits_rx", cb[NDSolicitsRx], 1},
		{"B nd_adverts_tx", cb[NDAdvertsTx], 1},
		{"A nd_adverts_rx", ca[NDAdvertsRx], 1},
		{"A nd_learned", ca[NDLearned], 1},
		{"B nd_learned (from the solicitation)", cb[NDLearned], 1},
		{"A nd_pending_queued", ca[NDPendingQueued], 1},
		{"B icmp6_echo_requests_rx", cb[ICMP6EchoRequestsRx], 1},
		{"B icmp6_echo_replies_tx", cb[ICMP6EchoRepliesTx], 1},
		{"A icmp6_echo_replies_rx", ca[ICMP6EchoRepliesRx], 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// B knows A already: no solicitation.
	ping6(t, p, p.b, addr6A.Addr(), 2)
	if got := p.b.Counters()[NDSolicitsTx]; got != 0 {
		t.Errorf("B nd_solicits_tx = %d after pinging A, want 0 (learned from A's solicitation)", got)
	}
	// Link-local both ways, with a zone that is ignored.
	llB := p.b.ifaces[0].LinkLocal()
	if want := netip.MustParseAddr("fe80::ff:fe00:2"); !llB.IsLinkLocalUnicast() {
		t.Fatalf("B's link-local address %v, want one like %v", llB, want)
	}
	ping6(t, p, p.a, llB.WithZone("a"), 3)
	ping6(t, p, p.b, p.a.ifaces[0].LinkLocal(), 4)
	ca, cb = p.a.Counters(), p.b.Counters()
	if ca[NDSolicitsTx] != 2 || cb[NDSolicitsTx] != 0 {
		t.Errorf("nd_solicits_tx A %d B %d, want 2 and 0 (B learns both of A's addresses from A's solicitations)", ca[NDSolicitsTx], cb[NDSolicitsTx])
	}
	if d := ca.Drops() + cb.Drops(); d != 0 {
		var buf bytes.Buffer
		ca.WriteTo(&buf)
		cb.WriteTo(&buf)
		t.Errorf("drops = %d, want 0\n%s", d, buf.String())
	}
	frames := append(p.ta.captured(), p.tb.captured()...)
	n6 := 0
	for _, f := range frames {
		if header.Ethernet(f).Type() == header.EtherTypeIPv6 {
			n6++
		}
	}
	if n6 < 11 {
		t.Errorf("%d IPv6 frames captured, want at least 11 (3 NS, 3 NA, 4 echoes, 4 replies)", n6)
	}
	checkFrames(t, frames)
}

// TestIPv6PingUnresolved pings a neighbour that never answers: the
// solicitations are retried, then the request is dropped and counted.
func TestIPv6PingUnresolved(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, cfg: Config{ARPRetries: 2, ARPRetryInterval: time.Millisecond}})
	c, err := p.a.ListenPing()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendEcho(netip.MustParseAddr("2001:db8:1::99"), 1, nil); err != nil {
		t.Fatal(err)
	}
	p.pollUntil(t, 100000, func() bool { return p.a.Counters()[NDResolveFailed] == 1 })
	if got := p.a.Counters()[NDSolicitsTx]; got != 2 {
		t.Errorf("nd_solicits_tx = %d, want 2", got)
	}
	if err := c.SendEcho(netip.MustParseAddr("2001:db8:2::1"), 1, nil); err == nil {
		t.Errorf("echo to an off-link IPv6 destination: no error, want ENETUNREACH (no IPv6 gateways yet)")
	}
}

// raw6 builds an IPv6 frame from src to dst carrying next header nh and
// body (an ICMPv6 message gets its checksum).
func raw6(dstMAC, srcMAC header.MAC, src, dst [16]byte, hop, nh uint8, body []byte) []byte {
	f := make([]byte, 14+40+len(body))
	header.Ethernet(f).Encode(dstMAC, srcMAC, header.EtherTypeIPv6)
	header.IPv6(f[14:]).Encode(&header.IPv6Fields{PayloadLen: uint16(len(body)), NextHeader: nh, HopLimit: hop, Src: src, Dst: dst})
	copy(f[54:], body)
	if nh == header.ProtoICMPv6 {
		header.ICMPv6(f[54:]).SetChecksum(src, dst)
	}
	return f
}

// TestIPv6Input injects hand-built frames into B from a raw port and
// checks the counter each moves and what B answers.
func TestIPv6Input(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true})
	raw, err := p.wire.AddPort(driverConfig("raw"))
	if err != nil {
		t.Fatal(err)
	}
	macB := header.MAC(p.tb.MAC())
	macR := header.MAC(raw.MAC())
	me := netip.MustParseAddr("2001:db8:1::9").As16()
	b6 := addr6B.Addr().As16()
	echo := make([]byte, 12)
	header.ICMPv6(echo).EncodeEcho(header.ICMPv6EchoRequest, 1, 1, []byte("ping"))
	ns := func(target [16]byte) []byte {
		m := make([]byte, header.NDPNeighborLen+header.NDPLinkLayerOptionLen)
		header.NDPNeighborSolicit(m).Encode(target, macR)
		return m
	}
	fragment := func() []byte {
		// A first fragment of an echo request: Fragment header, M set.
		m := make([]byte, 8+len(echo))
		m[0] = header.ProtoICMPv6
		m[3] = 1 // offset 0, M
		copy(m[8:], echo)
		return m
	}
	snm := header.IPv6SolicitedNode(b6)
	cases := []struct {
		name   string
		frame  []byte
		ctr    CounterID
		answer uint8 // ICMPv6 type B sends back, 0 for none
	}{
		{"echo", raw6(macB, macR, me, b6, 64, header.ProtoICMPv6, echo), ICMP6EchoRequestsRx, header.ICMPv6EchoReply},
		{"echo with a destination options header", raw6(macB, macR, me, b6, 64, header.ProtoIPv6DestOpts,
			append([]byte{header.ProtoICMPv6, 0, 1, 4, 0, 0, 0, 0}, echoSum(me, b6, echo)...)), ICMP6EchoRequestsRx, header.ICMPv6EchoReply},
		{"unknown next header", raw6(macB, macR, me, b6, 64, 253+1, []byte("12345678")), IP6DropProto, header.ICMPv6ParamProblem},
		{"UDP to a closed port", raw6(macB, macR, me, b6, 64, header.ProtoUDP, udp6(me, b6, 9, []byte("hi"))), UDPNoPort, header.ICMPv6DestUnreachable},
		{"UDP with a bad checksum", raw6(macB, macR, me, b6, 64, header.ProtoUDP, func() []byte {
			u := udp6(me, b6, 9, []byte("hi"))
			u[6] ^= 0x55
			return u
		}()), UDPDropChecksum, 0},
		{"UDP with a zero checksum (mandatory over IPv6)", raw6(macB, macR, me, b6, 64, header.ProtoUDP, func() []byte {
			u := udp6(me, b6, 9, []byte("hi"))
			u[6], u[7] = 0, 0
			return u
		}()), UDPDropChecksum, 0},
		{"fragment", raw6(macB, macR, me, b6, 64, header.ProtoIPv6Fragment, fragment()), IP6DropFragment, 0},
		{"not our address", raw6(macB, macR, me, netip.MustParseAddr("2001:db8:1::77").As16(), 64, header.ProtoICMPv6, echo), IP6DropNotForUs, 0},
		{"multicast source", raw6(macB, macR, header.IPv6AllNodes(), b6, 64, header.ProtoICMPv6, echo), IP6DropMartian, 0},
		{"bad version", func() []byte {
			f := raw6(macB, macR, me, b6, 64, header.ProtoICMPv6, echo)
			f[14] = 0x45
			return f
		}(), IP6DropHeader, 0},
		{"ICMPv6 checksum", func() []byte {
			f := raw6(macB, macR, me, b6, 64, header.ProtoICMPv6, echo)
			f[len(f)-1] ^= 1
			return f
		}(), ICMP6DropBad, 0},
		{"echo to all-nodes", raw6(header.IPv6MulticastMAC(header.IPv6AllNodes()), macR, me, header.IPv6AllNodes(), 64, header.ProtoICMPv6, echo), ICMP6DropType, 0},
		{"solicitation, hop limit 64", raw6(header.IPv6MulticastMAC(snm), macR, me, snm, 64, header.ProtoICMPv6, ns(b6)), NDDropHopLimit, 0},
		{"solicitation", raw6(header.IPv6MulticastMAC(snm), macR, me, snm, 255, header.ProtoICMPv6, ns(b6)), NDSolicitsRx, header.ICMPv6NeighborAdvert},
		{"solicitation for the link-local address", raw6(macB, macR, me, p.b.ifaces[0].ll6, 255, header.ProtoICMPv6, ns(p.b.ifaces[0].ll6)), NDSolicitsRx, header.ICMPv6NeighborAdvert},
		{"solicitation for another node", raw6(header.IPv6MulticastMAC(snm), macR, me, snm, 255, header.ProtoICMPv6, ns(me)), NDSolicitsRx, 0},
		{"advertisement, hop limit 64", raw6(macB, macR, me, b6, 64, header.ProtoICMPv6, advert(me, macR)), NDDropHopLimit, 0},
		{"advertisement", raw6(macB, macR, me, b6, 255, header.ProtoICMPv6, advert(me, macR)), NDAdvertsRx, 0},
	}
	drain := func() [][]byte {
		var got [][]byte
		buf := make([]*driver.Packet, 32)
		for n := raw.RxBurst(0, buf); n > 0; n = raw.RxBurst(0, buf) {
			for _, pk := range buf[:n] {
				got = append(got, append([]byte(nil), pk.Data()...))
				raw.Pool(0).Put(pk)
			}
		}
		return got
	}
	for _, tc := range cases {
		before := p.b.Counters()
		pk := raw.Pool(0).Get()
		copy(pk.Append(len(tc.frame)), tc.frame)
		raw.TxBurst(0, []*driver.Packet{pk})
		p.poll(2)
		after := p.b.Counters()
		if after[tc.ctr] != before[tc.ctr]+1 {
			t.Errorf("%s: %v went %d -> %d, want +1", tc.name, tc.ctr, before[tc.ctr], after[tc.ctr])
		}
		var answers []uint8
		for _, f := range drain() {
			if header.Ethernet(f).Type() != header.EtherTypeIPv6 {
				continue
			}
			if err := checkFrame(f); err != nil {
				t.Errorf("%s: B's answer is malformed: %v", tc.name, err)
			}
			answers = append(answers, f[54])
			if f[54] == header.ICMPv6DestUnreachable && f[55] != header.ICMPv6PortUnreachable {
				t.Errorf("%s: destination unreachable code %d, want port unreachable", tc.name, f[55])
			}
			if f[54] == header.ICMPv6ParamProblem {
				// The pointer names the fixed header's Next Header field.
				if ptr := header.ICMPv6(f[54:]).Pointer(); ptr != 6 || f[55] != header.ICMPv6UnknownNextHeader {
					t.Errorf("%s: parameter problem code %d pointer %d, want 1 and 6", tc.name, f[55], ptr)
				}
			}
		}
		switch {
		case tc.answer == 0 && len(answers) != 0:
			t.Errorf("%s: B answered %v, want nothing", tc.name, answers)
		case tc.answer != 0 && (len(answers) != 1 || answers[0] != tc.answer):
			t.Errorf("%s: B answered %v, want one message of type %d", tc.name, answers, tc.answer)
		}
	}
	c := p.b.Counters()
	if c[NDLearned] != 1 {
		t.Errorf("nd_learned = %d, want 1 (the solicitations' sender)", c[NDLearned])
	}
	if mac, ok := p.b.sn[0].nd.lookup(p.b.ifaces[0], me); !ok || mac != macR {
		t.Errorf("neighbour cache: %v %v, want %v", mac, ok, macR)
	}
}

// TestIPv6ParamProblemRateLimited checks that Parameter Problems share the
// ICMP error budget.
func TestIPv6ParamProblemRateLimited(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, cfg: Config{ICMPRateLimit: 2}})
	raw, err := p.wire.AddPort(driverConfig("raw"))
	if err != nil {
		t.Fatal(err)
	}
	f := raw6(header.MAC(p.tb.MAC()), header.MAC(raw.MAC()), netip.MustParseAddr("2001:db8:1::9").As16(), addr6B.Addr().As16(), 64, 254, []byte("12345678"))
	for i := 0; i < 5; i++ {
		pk := raw.Pool(0).Get()
		copy(pk.Append(len(f)), f)
		raw.TxBurst(0, []*driver.Packet{pk})
	}
	p.poll(2)
	c := p.b.Counters()
	if c[ICMP6ParamProblemTx] != 2 || c[ICMPRateLimited] != 3 || c[IP6DropProto] != 5 {
		t.Errorf("param problems sent %d, rate limited %d, drop_ip6_proto %d; want 2, 3, 5", c[ICMP6ParamProblemTx], c[ICMPRateLimited], c[IP6DropProto])
	}
}

// TestIPv6Disabled checks that an interface without Addr6 takes no IPv6.
func TestIPv6Disabled(t *testing.T) {
	p := newPair(t, pairConfig{})
	if ll := p.a.ifaces[0].LinkLocal(); ll.IsValid() {
		t.Errorf("link-local address %v on an interface without IPv6", ll)
	}
	c, err := p.a.ListenPing()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendEcho(addr6B.Addr(), 1, nil); err == nil {
		t.Errorf("echo over IPv6 from a stack without IPv6: no error")
	}
}

// TestIPv6Validation checks the Addr6 values New refuses.
func TestIPv6Validation(t *testing.T) {
	for _, bad := range []string{"192.0.2.9/24", "::ffff:192.0.2.9/120", "fe80::1/64", "ff02::1/64", "::/0", "::1/128", "2001:db8::1/0"} {
		p := newPair(t, pairConfig{})
		_, err := New(Config{}, InterfaceConfig{Port: p.ta, Addr: netip.MustParsePrefix("198.51.100.1/24"), Addr6: []netip.Prefix{netip.MustParsePrefix(bad)}})
		if err == nil {
			t.Errorf("Addr6 %s: accepted, want an error", bad)
		}
	}
}

// echoSum returns an echo request with its checksum for src and dst.
func echoSum(src, dst [16]byte, echo []byte) []byte {
	m := append([]byte(nil), echo...)
	header.ICMPv6(m).SetChecksum(src, dst)
	return m
}

// advert returns a solicited advertisement for target at mac.
func advert(target [16]byte, mac header.MAC) []byte {
	m := make([]byte, header.NDPNeighborLen+header.NDPLinkLayerOptionLen)
	header.NDPNeighborAdvert(m).Encode(header.NDPFlagSolicited|header.NDPFlagOverride, target, mac)
	return m
}

// FuzzIPv6Input feeds arbitrary IPv6 frames to a softnet with IPv6 and a
// ping socket open. Nothing may panic, every buffer must come back to its
// pool or the socket, and whatever the stack sends in response must be a
// well-formed frame.
func FuzzIPv6Input(f *testing.F) {
	macB := header.MAC{0x02, 0, 0, 0, 0, 2}
	src := header.MAC{0x02, 0, 0, 0, 0, 9}
	me := netip.MustParseAddr("2001:db8:1::9").As16()
	b6 := addr6B.Addr().As16()
	snm := header.IPv6SolicitedNode(b6)
	echo := make([]byte, 12)
	header.ICMPv6(echo).EncodeEcho(header.ICMPv6EchoRequest, 1, 1, []byte("ping"))
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoICMPv6, echo))                      // echo: answered in place
	f.Add(raw6(macB, src, me, b6, 64, 254, []byte("12345678")))                       // unknown next header: parameter problem
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoIPv6HopByHop, []byte{59, 0, 1, 4})) // hop-by-hop, cut short
	nsm := make([]byte, header.NDPNeighborLen+header.NDPLinkLayerOptionLen)
	header.NDPNeighborSolicit(nsm).Encode(b6, src)
	f.Add(raw6(header.IPv6MulticastMAC(snm), src, me, snm, 255, header.ProtoICMPv6, nsm)) // solicitation: advertised
	f.Add(raw6(macB, src, me, b6, 255, header.ProtoICMPv6, advert(me, src)))              // advertisement: learned

	fuzzStackInput(f, func(frame []byte) {
		if len(frame) >= 14 {
			// Most inputs should reach ipv6Input.
			frame[12], frame[13] = 0x86, 0xdd
		}
	})
}

// udp6 builds a UDP datagram from port 40000 to dport with a correct IPv6
// checksum.
func udp6(src, dst [16]byte, dport uint16, payload []byte) []byte {
	u := header.UDP(make([]byte, header.UDPHeaderLen+len(payload)))
	copy(u[header.UDPHeaderLen:], payload)
	u.Encode(40000, dport, uint16(len(u)))
	u.SetChecksumIPv6(src, dst)
	return u
}
