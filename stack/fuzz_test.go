package stack

import (
	"net/netip"
	"testing"

	"github.com/netsplice/netsplice/stack/header"
)

// FuzzInput feeds arbitrary frames to a softnet with a UDP socket and a
// ping socket open. Nothing may panic, every buffer must come back to its
// pool or the socket, and whatever the stack sends in response must be a
// well-formed frame.
func FuzzInput(f *testing.F) {
	macB := header.MAC{0x02, 0, 0, 0, 0, 2}
	src := header.MAC{0x02, 0, 0, 0, 0, 9}
	good := rawUDPFrame(macB, src, [4]byte{192, 0, 2, 9}, [4]byte{192, 0, 2, 2}, 1000, 7, []byte("payload"))
	f.Add(good)                                                                               // a datagram for the open socket
	f.Add(rawUDPFrame(macB, src, [4]byte{192, 0, 2, 9}, [4]byte{192, 0, 2, 2}, 1000, 9, nil)) // closed port: ICMP error
	f.Add(good[:20])                                                                          // truncated IP
	arp := make([]byte, 42)
	header.Ethernet(arp).Encode(header.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src, header.EtherTypeARP)
	header.ARP(arp[14:]).Encode(header.ARPRequest, src, [4]byte{192, 0, 2, 9}, header.MAC{}, [4]byte{192, 0, 2, 2})
	f.Add(arp) // ARP request for us: answered in place
	echo := make([]byte, 14+20+8+4)
	header.Ethernet(echo).Encode(macB, src, header.EtherTypeIPv4)
	header.IPv4(echo[14:]).Encode(&header.IPv4Fields{TotalLen: 32, TTL: 64, Protocol: header.ProtoICMP, Src: [4]byte{192, 0, 2, 9}, Dst: [4]byte{192, 0, 2, 2}})
	ic := header.ICMPv4(echo[34:])
	ic.SetType(header.ICMPEcho)
	ic.SetChecksum()
	f.Add(echo) // ping: answered in place

	// IPv6: a datagram for the open socket, one for a closed port, a SYN
	// for the listener, a segment for no connection, a Packet Too Big.
	me, b6 := netip.MustParseAddr("2001:db8:1::9").As16(), addr6B.Addr().As16()
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoUDP, udp6(me, b6, 7, []byte("payload"))))
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoUDP, udp6(me, b6, 9, nil)))
	syn := header.TCP(make([]byte, header.TCPMinHeaderLen+4))
	syn.SetSrcPort(40000)
	syn.SetDstPort(80)
	syn.SetSeq(1)
	syn.SetDataOffset(len(syn))
	syn.SetFlags(header.TCPFlagSyn)
	syn.SetWindow(65535)
	copy(syn[header.TCPMinHeaderLen:], []byte{2, 4, 5, 0x8c}) // MSS 1420
	syn.SetChecksumIPv6(me, b6, uint16(len(syn)))
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoTCP, syn))
	ack := header.TCP(append([]byte(nil), syn[:header.TCPMinHeaderLen]...))
	ack.SetDataOffset(header.TCPMinHeaderLen)
	ack.SetFlags(header.TCPFlagAck)
	ack.SetChecksumIPv6(me, b6, uint16(len(ack)))
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoTCP, ack))
	ptb := make([]byte, header.ICMPv6MinLen+40+20)
	header.ICMPv6(ptb).EncodeError(header.ICMPv6PacketTooBig, 0, 1280, raw6(src, macB, b6, me, 64, header.ProtoTCP, ack)[14:])
	f.Add(raw6(macB, src, me, b6, 64, header.ProtoICMPv6, ptb))

	fuzzStackInput(f, nil)
}

// fuzzStackInput fuzzes B of a dual-stack pair (UDP on [::]:7, TCP on
// [::]:80, a ping socket) with whole frames: each goes through input, every
// frame B answers with is checked by gopacket, and what reached A and the
// sockets is drained so buffers cycle. prepare, if set, rewrites a frame
// first (FuzzIPv6Input steers most of them to IPv6).
func fuzzStackInput(f *testing.F, prepare func(frame []byte)) {
	p := newPair(f, pairConfig{ipv6: true, cfg: Config{UDPQueueSize: 8}})
	if _, err := p.b.ListenUDP(netip.MustParseAddrPort("[::]:7"), nil); err != nil {
		f.Fatal(err)
	}
	if _, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0); err != nil {
		f.Fatal(err)
	}
	if _, err := p.b.ListenPing(); err != nil {
		f.Fatal(err)
	}
	sn := p.b.sn[0]
	ifc := p.b.ifaces[0]
	pool := sn.pools[0]
	f.Fuzz(func(t *testing.T, frame []byte) {
		pk := pool.Get()
		if pk == nil {
			t.Fatal("pool exhausted: a previous input leaked buffers")
		}
		if len(frame) > pk.Tailroom() {
			frame = frame[:pk.Tailroom()]
		}
		if prepare != nil {
			prepare(frame)
		}
		copy(pk.Append(len(frame)), frame)
		before := len(p.tb.captured())
		sn.input(ifc, pk)
		sn.flush()
		for _, out := range p.tb.captured()[before:] {
			if err := checkFrame(out); err != nil {
				t.Fatalf("response to %x is malformed: %v", frame, err)
			}
		}
		p.poll(1)
		p.tb.mu.Lock()
		p.tb.frames = p.tb.frames[:0]
		p.tb.mu.Unlock()
	})
}
