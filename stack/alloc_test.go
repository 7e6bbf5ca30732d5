package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
)

// TestSteadyStateUDPNoAllocs asserts that, once ARP has resolved, the
// whole UDP path allocates nothing: a blocking-API send (task to the home
// softnet, build, checksum, ARP lookup, tx burst), the wire, the receive
// path (parse, demux, socket ring) and the blocking-API read.
func TestSteadyStateUDPNoAllocs(t *testing.T) {
	p := newPair(t, pairConfig{})
	p.ta.off, p.tb.off = true, true
	srv, err := p.b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:7"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := p.a.ListenUDP(netip.AddrPort{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddrPort("192.0.2.2:7")
	msg := make([]byte, 1000)
	buf := make([]byte, 2048)
	srv.SetReadDeadline(time.Now().Add(-time.Second))
	polls := 5 // the first round waits for ARP
	round := func() {
		if _, err := cli.WriteToUDPAddrPort(msg, dst); err != nil {
			t.Fatal(err)
		}
		p.poll(polls)
		if n, _, err := srv.ReadFromUDPAddrPort(buf); err != nil || n != len(msg) {
			t.Fatalf("read %d, %v", n, err)
		}
	}
	for i := 0; i < 10; i++ { // resolve ARP, warm the maps
		round()
	}
	polls = 1
	if n := testing.AllocsPerRun(1000, round); n != 0 {
		t.Fatalf("steady-state UDP send+receive allocated %v times per datagram, want 0", n)
	}
}

// TestSteadyStateHandlerEchoNoAllocs asserts zero allocations on the
// softnet-resident zero-copy path: handler echo on B, handler receive on A.
func TestSteadyStateHandlerEchoNoAllocs(t *testing.T) {
	p := newPair(t, pairConfig{})
	p.ta.off, p.tb.off = true, true
	_, err := p.b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:7"), &UDPOptions{Handler: func(sn *Softnet, c *UDPConn, pk *driver.Packet) {
		src := UDPSource(pk)
		pk.TrimFront(pk.Len() - len(UDPPayload(pk)))
		c.SendPacket(sn, pk, src)
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	cli, err := p.a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), &UDPOptions{Handler: func(sn *Softnet, c *UDPConn, pk *driver.Packet) {
		got++
		sn.Free(pk)
	}})
	if err != nil {
		t.Fatal(err)
	}
	sn := p.a.sn[0]
	send := func() {
		pk := sn.pools[0].Get()
		pk.Append(512)
		if err := cli.SendPacket(sn, pk, netip.AddrPort{}); err != nil {
			t.Fatal(err)
		}
		p.poll(2)
	}
	for i := 0; i < 10; i++ {
		send()
	}
	if got != 10 {
		t.Fatalf("got %d echoes during warm-up, want 10", got)
	}
	if n := testing.AllocsPerRun(1000, send); n != 0 {
		t.Fatalf("handler echo allocated %v times per round trip, want 0", n)
	}
	// Every buffer is back in its pool: nothing leaked.
	for _, s := range []*Stack{p.a, p.b} {
		for _, sn := range s.sn {
			for _, pool := range sn.pools {
				if pool.Available() < pool.Size()-600 {
					t.Fatalf("pool has %d of %d buffers free", pool.Available(), pool.Size())
				}
			}
		}
	}
}
