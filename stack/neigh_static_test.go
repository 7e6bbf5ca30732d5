package stack

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
)

// TestStaticNeighbor: with B configured as a static neighbour (both
// families), A sends to B without asking ARP or Neighbor Discovery, and
// B's answers, which carry B's MAC and make B ask for A, change nothing.
func TestStaticNeighbor(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, staticB: true})
	for _, dst := range []netip.Addr{addrB.Addr(), addr6B.Addr()} {
		srv, err := p.b.ListenUDP(netip.AddrPortFrom(dst, 7), nil)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := p.a.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(dst, 7), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Write([]byte("no need to ask")); err != nil {
			t.Fatal(err)
		}
		p.poll(4)
		// B answers through its own resolution, which asks A.
		buf := make([]byte, 64)
		n, from, err := srv.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "no need to ask" {
			t.Fatalf("%v: B read %q, %v", dst, buf[:n], err)
		}
		if _, err := srv.WriteTo(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		p.poll(8)
		if n, err := cli.Read(buf); err != nil || string(buf[:n]) != "no need to ask" {
			t.Fatalf("%v: A read %q, %v", dst, buf[:n], err)
		}
		cli.Close()
		srv.Close()
	}
	for _, tc := range []struct {
		dst  string
		want bool
	}{{"192.0.2.2", true}, {"2001:db8:1::2", true}, {"192.0.2.9", false}, {"2001:db8:1::9", false}, {"203.0.113.1", false}} {
		if got := p.a.StaticNextHop(netip.MustParseAddr(tc.dst)); got != tc.want {
			t.Errorf("StaticNextHop(%s) = %v, want %v", tc.dst, got, tc.want)
		}
	}
	ca, cb := p.a.Counters(), p.b.Counters()
	asked := 0 // A's ARP requests for anything but its own address (its announcement)
	for _, f := range p.ta.captured() {
		eth := header.Ethernet(f)
		if arp := header.ARP(f[header.EthernetHeaderLen:]); eth.Type() == header.EtherTypeARP && arp.Op() == header.ARPRequest && arp.TargetIP() != addrA.Addr().As4() {
			asked++
		}
	}
	if asked != 0 || ca[NDSolicitsTx] != 0 {
		t.Errorf("A asked for a static neighbour: %d ARP requests, %d neighbour solicitations", asked, ca[NDSolicitsTx])
	}
	if cb[ARPRequestsTx] == 0 || cb[NDSolicitsTx] == 0 || ca[ARPRequestsRx] == 0 || ca[NDSolicitsRx] == 0 {
		t.Errorf("B did not resolve A (ARP requests %d, solicitations %d): the test did not offer A news of B", cb[ARPRequestsTx], cb[NDSolicitsTx])
	}
	if ca[ARPLearned] != 0 || ca[NDLearned] != 0 {
		t.Errorf("A's static entries changed on what arrived: arp_learned %d, nd_learned %d", ca[ARPLearned], ca[NDLearned])
	}
}

// TestStaticNeighborWins: a static entry holds against ARP. A's entry for
// B names a MAC nobody has: A's frames go there (B receives nothing),
// and B's ARP request for A, which carries B's real MAC, does not
// correct it.
func TestStaticNeighborWins(t *testing.T) {
	wrong := header.MAC{0x02, 0, 0, 0, 0, 0x99}
	p := newPair(t, pairConfig{neighA: []Neighbor{{Addr: addrB.Addr(), MAC: net.HardwareAddr(wrong[:])}}})
	srvB, err := p.b.ListenUDP(netip.AddrPortFrom(addrB.Addr(), 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srvB.Close()
	srvA, err := p.a.ListenUDP(netip.AddrPortFrom(addrA.Addr(), 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srvA.Close()
	// B sends to A first: its ARP request tells A B's real MAC.
	if _, err := srvB.WriteToUDPAddrPort([]byte("hello A"), netip.AddrPortFrom(addrA.Addr(), 7)); err != nil {
		t.Fatal(err)
	}
	p.poll(8)
	if _, err := srvA.WriteToUDPAddrPort([]byte("hello B"), netip.AddrPortFrom(addrB.Addr(), 7)); err != nil {
		t.Fatal(err)
	}
	p.poll(8)
	if got := p.b.Counters()[UDPDelivered]; got != 0 {
		t.Errorf("B received %d datagrams sent to a static MAC that is not B's", got)
	}
	if got := p.a.Counters()[UDPDelivered]; got != 1 {
		t.Errorf("A received %d datagrams from B, want 1", got)
	}
	for _, sn := range p.a.sn {
		if mac, ok := sn.arp.lookup(p.a.ifaces[0], addrB.Addr().As4()); !ok || mac != wrong {
			t.Errorf("softnet %d: entry for B is %v (%v), want the static %v", sn.id, mac, ok, wrong)
		}
	}
	if got := p.a.Counters()[ARPLearned]; got != 0 {
		t.Errorf("arp_learned %d, want 0", got)
	}
}

// TestStaticNeighborSurvivesEviction: a full cache evicts learned entries,
// never a configured one.
func TestStaticNeighborSurvivesEviction(t *testing.T) {
	static := header.MAC{0x02, 0, 0, 0, 0, 0x42}
	p := newPair(t, pairConfig{cfg: Config{ARPCacheSize: 4}, neighA: []Neighbor{{Addr: addrB.Addr(), MAC: net.HardwareAddr(static[:])}}})
	a := &p.a.sn[0].arp
	for i := 10; i < 40; i++ {
		a.learn([4]byte{192, 0, 2, byte(i)}, header.MAC{0x02, 0, 0, 0, 1, byte(i)}, true)
	}
	if n := len(a.entries); n > 4 {
		t.Errorf("cache holds %d entries, over its size 4", n)
	}
	if mac, ok := a.lookup(p.a.ifaces[0], addrB.Addr().As4()); !ok || mac != static {
		t.Errorf("static entry gone after evictions: %v, %v", mac, ok)
	}
}

// TestStaticNeighborInvalid: New refuses neighbours it cannot use, naming
// them.
func TestStaticNeighborInvalid(t *testing.T) {
	good := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	tests := []struct {
		name  string
		addr6 bool
		n     Neighbor
		want  string
	}{
		{"short MAC", false, Neighbor{Addr: addrB.Addr(), MAC: good[:5]}, "not a unicast Ethernet address"},
		{"multicast MAC", false, Neighbor{Addr: addrB.Addr(), MAC: net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}}, "not a unicast"},
		{"zero MAC", false, Neighbor{Addr: addrB.Addr(), MAC: make(net.HardwareAddr, 6)}, "not a unicast"},
		{"off-link", false, Neighbor{Addr: netip.MustParseAddr("198.51.100.1"), MAC: good}, "not another host address"},
		{"own address", false, Neighbor{Addr: addrA.Addr(), MAC: good}, "not another host address"},
		{"broadcast", false, Neighbor{Addr: netip.MustParseAddr("192.0.2.255"), MAC: good}, "not another host address"},
		{"IPv6 without Addr6", false, Neighbor{Addr: addr6B.Addr(), MAC: good}, "neither link-local"},
		{"IPv6 off-link", true, Neighbor{Addr: netip.MustParseAddr("2001:db8:2::1"), MAC: good}, "neither link-local"},
		{"IPv6 multicast", true, Neighbor{Addr: netip.MustParseAddr("ff02::1"), MAC: good}, "neither link-local"},
		{"no address", false, Neighbor{MAC: good}, "without an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := memwire.New()
			port, err := w.AddPort(memwire.Config{Name: "a"})
			if err != nil {
				t.Fatal(err)
			}
			ic := InterfaceConfig{Port: port, Addr: addrA, Neighbors: []Neighbor{tt.n}}
			if tt.addr6 {
				ic.Addr6 = []netip.Prefix{addr6A}
			}
			_, err = New(Config{}, ic)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// The valid ones pass: IPv4 on-link, IPv6 on-link and link-local.
	w := memwire.New()
	port, _ := w.AddPort(memwire.Config{Name: "a"})
	ic := InterfaceConfig{Port: port, Addr: addrA, Addr6: []netip.Prefix{addr6A}, Neighbors: []Neighbor{
		{Addr: addrB.Addr(), MAC: good}, {Addr: addr6B.Addr(), MAC: good}, {Addr: netip.MustParseAddr("fe80::1"), MAC: good},
	}}
	if _, err := New(Config{}, ic); err != nil {
		t.Fatalf("valid neighbours refused: %v", err)
	}
}
