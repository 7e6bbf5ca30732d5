package stack

import (
	"net/netip"
	"testing"
	"time"
)

// TestARPRefreshReachesOtherSoftnets: ARP frames all arrive on one queue
// (RSS has no flow to hash), so softnet 0 receives the replies to softnet
// 1's requests. Softnet 1 sends to a neighbour for several ARP timeouts:
// its refreshes must reach it through softnet 0. When softnet 0 shared
// only entries that changed for itself, the replies refreshed its own
// entry while softnet 1's expired for good; softnet 1's packets waited for
// a resolution that never came and were dropped (a relay's TCP
// connections on softnet 1 stalled into ETIMEDOUT 60s in).
func TestARPRefreshReachesOtherSoftnets(t *testing.T) {
	const timeout = 100 * time.Millisecond
	p := newPair(t, pairConfig{softnets: 2, cfg: Config{ARPTimeout: timeout, ARPRetryInterval: 10 * time.Millisecond, ARPRetries: 3}})
	srv, err := p.b.ListenUDP(netip.MustParseAddrPort("192.0.2.2:7"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := p.a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), &UDPOptions{Steer: true, Softnet: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if cli.Home().ID() != 1 {
		t.Fatalf("client lives on softnet %d, want 1", cli.Home().ID())
	}
	sent := 0
	for start := time.Now(); time.Since(start) < 5*timeout; {
		if _, err := cli.Write([]byte("still there?")); err != nil {
			t.Fatal(err)
		}
		sent++
		p.poll(4)
		time.Sleep(2 * time.Millisecond)
	}
	p.poll(8)
	ca, cb := p.a.Counters(), p.b.Counters()
	if ca[ARPResolveFailed] != 0 || cb[UDPDelivered] != uint64(sent) {
		t.Fatalf("softnet 1 sent %d datagrams, %d delivered; drop_arp_unresolved %d, arp_pending_queued %d, arp_updates_crossed %d",
			sent, cb[UDPDelivered], ca[ARPResolveFailed], ca[ARPPendingQueued], ca[ARPUpdatesCrossed])
	}
	if _, ok := p.a.sn[1].arp.lookup(p.a.ifaces[0], addrB.Addr().As4()); !ok {
		t.Fatal("softnet 1 has no live entry for the neighbour it keeps sending to")
	}
}
