package stack

import (
	"net/netip"
	"testing"

	"github.com/netsplice/netsplice/driver"
)

// BenchmarkUDPEchoFamily measures a UDP round trip's CPU on both stacks of
// an unstarted pair, driven by one goroutine (no scheduling in the
// figure): A sends a full-size datagram from a connected socket's handler
// API, B's handler echoes it, A's handler counts it and sends the next.
// ns/op is one round trip: two datagrams each sent and received, wire
// included. IPv4 and IPv6 side by side (issue 12: IPv6 within 5%).
func BenchmarkUDPEchoFamily(b *testing.B) {
	for _, fam := range []struct {
		name string
		dst  netip.Addr
		size int
	}{{"v4", addrB.Addr(), 1472}, {"v6", addr6B.Addr(), 1452}} {
		b.Run(fam.name, func(b *testing.B) {
			p := newPair(b, pairConfig{ipv6: true})
			p.ta.off, p.tb.off = true, true
			srv, err := p.b.ListenUDP(netip.AddrPortFrom(fam.dst, 7), &UDPOptions{Handler: func(sn *Softnet, c *UDPConn, pk *driver.Packet) {
				src := UDPSource(pk)
				pk.TrimFront(pk.Len() - len(UDPPayload(pk)))
				c.SendPacket(sn, pk, src)
			}})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			echoes := 0
			cl, err := p.a.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(fam.dst, 7), &UDPOptions{Handler: func(sn *Softnet, c *UDPConn, pk *driver.Packet) {
				echoes++
				pk.TrimFront(pk.Len() - fam.size)
				c.SendPacket(sn, pk, netip.AddrPort{})
			}})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			sn := p.a.sn[0]
			send := func() {
				pk := cl.NewPacket(sn)
				pk.Append(fam.size)
				cl.SendPacket(sn, pk, netip.AddrPort{})
			}
			// Resolve the neighbours, then keep 8 datagrams in flight.
			send()
			p.pollUntil(b, 100, func() bool { return echoes > 0 })
			for i := 0; i < 7; i++ {
				send()
			}
			b.SetBytes(int64(2 * fam.size))
			b.ReportAllocs()
			b.ResetTimer()
			start := echoes
			for echoes-start < b.N {
				p.poll(1)
			}
		})
	}
}
