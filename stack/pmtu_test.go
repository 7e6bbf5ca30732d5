package stack

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// TestPathMTU: a router between A and B (a raw port on the wire) answers
// A's full-size data segments with ICMPv6 Packet Too Big (MTU 1280) or
// ICMPv4 Fragmentation Needed (MTU 1000). A lowers the connection's MSS,
// sends what was in flight again in segments that fit, and B still reads
// every byte in order. A message quoting a sequence number not in flight
// changes nothing.
func TestPathMTU(t *testing.T) {
	for _, tc := range []struct {
		name string
		dst  netip.Addr
		mtu  int
	}{
		{"ipv6", addr6B.Addr(), 1280},
		{"ipv4", addrB.Addr(), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairConfig{ipv6: true})
			raw, err := p.wire.AddPort(driverConfig("router"))
			if err != nil {
				t.Fatal(err)
			}
			l, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0)
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.AddrPortFrom(tc.dst, 80))
			if err != nil {
				t.Fatal(err)
			}
			p.pollUntil(t, 50, c.Established)
			l.SetDeadline(time.Now().Add(-time.Second))
			var s *TCPConn
			p.pollUntil(t, 50, func() bool {
				s, err = l.AcceptTCP()
				return err == nil
			})
			oldMSS := c.mss
			msg := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			// A sends; B does not run, so nothing is acknowledged.
			before := len(p.ta.captured())
			for i := 0; i < 3; i++ {
				for _, sn := range p.a.sn {
					sn.Poll()
				}
			}
			var seg []byte
			for _, f := range p.ta.captured()[before:] {
				if len(f) == 14+oldMSS+tcpIPHeaderLen(c.key)+12 {
					seg = f
					break
				}
			}
			if seg == nil {
				t.Fatalf("A sent no full-size segment (MSS %d)", oldMSS)
			}
			inject := func(quoteSeq uint32) {
				q := append([]byte(nil), seg[14:]...)
				var f []byte
				if tc.dst.Is6() {
					header.TCP(q[40:]).SetSeq(quoteSeq)
					msg := make([]byte, header.ICMPv6MinLen+header.ICMPv6MaxErrorLen-header.ICMPv6MinLen)
					n := min(len(q), len(msg)-header.ICMPv6MinLen)
					header.ICMPv6(msg).EncodeError(header.ICMPv6PacketTooBig, 0, uint32(tc.mtu), q[:n])
					f = raw6(header.MAC(p.ta.MAC()), header.MAC(raw.MAC()), netip.MustParseAddr("2001:db8:1::fe").As16(),
						addr6A.Addr().As16(), 64, header.ProtoICMPv6, msg[:header.ICMPv6MinLen+n])
				} else {
					header.TCP(q[20:]).SetSeq(quoteSeq)
					body := make([]byte, 8+20+8)
					icmp := header.ICMPv4(body)
					icmp.SetType(header.ICMPDestUnreachable)
					icmp.SetCode(icmpFragNeeded)
					icmp.SetRestOfHeader(uint32(tc.mtu))
					copy(body[8:], q[:28])
					icmp.SetChecksum()
					f = make([]byte, 14+20+len(body))
					header.Ethernet(f).Encode(header.MAC(p.ta.MAC()), header.MAC(raw.MAC()), header.EtherTypeIPv4)
					header.IPv4(f[14:]).Encode(&header.IPv4Fields{TotalLen: uint16(20 + len(body)), TTL: 64, Protocol: header.ProtoICMP,
						Src: [4]byte{192, 0, 2, 254}, Dst: addrA.Addr().As4()})
					copy(f[34:], body)
				}
				pk := raw.Pool(0).Get()
				copy(pk.Append(len(f)), f)
				raw.TxBurst(0, []*driver.Packet{pk})
			}
			seq := header.TCP(seg[14+tcpIPHeaderLen(c.key)-20:]).Seq()
			inject(seq + 1<<30) // not in flight: ignored
			for _, sn := range p.a.sn {
				sn.Poll()
			}
			if ca := p.a.Counters(); ca[TCPPathMTUIgnored] != 1 || ca[TCPPathMTULowered] != 0 || c.mss != oldMSS {
				t.Fatalf("quote out of flight: ignored %d lowered %d, mss %d (was %d)", ca[TCPPathMTUIgnored], ca[TCPPathMTULowered], c.mss, oldMSS)
			}
			mark := len(p.ta.captured())
			inject(seq)
			for i := 0; i < 2; i++ {
				for _, sn := range p.a.sn {
					sn.Poll()
				}
			}
			want := tc.mtu - tcpIPHeaderLen(c.key) - 12
			if ca := p.a.Counters(); ca[TCPPathMTULowered] != 1 || c.mss != want {
				t.Fatalf("lowered %d, mss %d, want 1 and %d", ca[TCPPathMTULowered], c.mss, want)
			}
			resent := 0
			for _, f := range p.ta.captured()[mark:] {
				if len(f)-14 > tc.mtu {
					t.Fatalf("A sent a %d-byte packet after learning the path MTU %d", len(f)-14, tc.mtu)
				}
				resent++
			}
			if resent == 0 {
				t.Fatal("A sent nothing again after the Packet Too Big")
			}
			got := make([]byte, 0, len(msg))
			buf := make([]byte, 4096)
			p.pollUntil(t, 500, func() bool {
				s.SetReadDeadline(time.Now().Add(-time.Second))
				n, _ := s.Read(buf)
				got = append(got, buf[:n]...)
				return len(got) >= len(msg)
			})
			if !bytes.Equal(got, msg) {
				t.Fatal("B read different bytes")
			}
			checkFrames(t, p.ta.captured())
		})
	}
}
