package stack

import (
	"context"
	"net/netip"
	"testing"
	"time"

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

// BenchmarkTCPBulkFamily measures bulk TCP's CPU on both stacks of an
// unstarted pair driven by one goroutine: A writes, both stacks are
// polled, B reads and discards. ns/op is one 64 KiB write's worth of
// segments sent, acknowledged and read, wire included; no scheduling in
// the figure. IPv4 and IPv6 side by side (issue 12: IPv6 within 5%).
func BenchmarkTCPBulkFamily(b *testing.B) {
	for _, fam := range []struct {
		name string
		dst  netip.Addr
	}{{"v4", addrB.Addr()}, {"v6", addr6B.Addr()}} {
		b.Run(fam.name, func(b *testing.B) {
			p := newPair(b, pairConfig{ipv6: true})
			p.ta.off, p.tb.off = true, true
			l, err := p.b.ListenTCP(netip.AddrPortFrom(fam.dst, 5001), 0)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.AddrPortFrom(fam.dst, 5001))
			if err != nil {
				b.Fatal(err)
			}
			p.pollUntil(b, 100, c.Established)
			l.SetDeadline(time.Now().Add(-time.Second))
			var s *TCPConn
			p.pollUntil(b, 100, func() bool {
				s, err = l.AcceptTCP()
				return err == nil
			})
			s.SetReadDeadline(time.Now().Add(-time.Second)) // Poll-driven: reads never block
			const chunk = 64 << 10
			wbuf, rbuf := make([]byte, chunk), make([]byte, chunk)
			var written, read int64
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			ca0, cb0 := p.a.Counters(), p.b.Counters()
			for read < int64(b.N)*chunk {
				if written-read < 4*chunk {
					n, _ := c.Write(wbuf)
					written += int64(n)
				}
				p.poll(1)
				for {
					n, _ := s.Read(rbuf)
					if n == 0 {
						break
					}
					read += int64(n)
				}
			}
			b.StopTimer()
			ca, cb := p.a.Counters(), p.b.Counters()
			b.ReportMetric(float64(ca[TCPTx]-ca0[TCPTx])/float64(b.N), "segs/op")
			b.ReportMetric(float64(cb[TCPTx]-cb0[TCPTx])/float64(b.N), "acks/op")
			b.ReportMetric(float64(ca[TCPRetransmits]-ca0[TCPRetransmits]+ca[TCPTimeouts]-ca0[TCPTimeouts]), "rtx")
		})
	}
}
