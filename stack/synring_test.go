package stack

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
)

// TestSYNRing: a server whose port steers pure SYNs to a ring of their own
// accepts connections in both families on every softnet. Softnet 0 takes
// each SYN off the SYN ring and hands those of flows another softnet owns
// to it, so the half-open connection lives where the rest of its segments
// arrive: every connection completes and carries data both ways.
func TestSYNRing(t *testing.T) {
	const softnets, perFamily = 2, 16
	w := memwire.New()
	pa, err := w.AddPort(memwire.Config{Name: "a", Queues: softnets})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(memwire.Config{Name: "b", Queues: softnets, SYNQueue: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Softnets: softnets, Poll: PollAdaptive}
	a, err := New(cfg, InterfaceConfig{Port: pa, Addr: addrA, Addr6: []netip.Prefix{addr6A}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, InterfaceConfig{Port: pb, Addr: addrB, Addr6: []netip.Prefix{addr6B}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.sn[0].syn) != 1 || len(a.sn[0].syn) != 0 {
		t.Fatalf("SYN rings: server %d, client %d; want 1 and 0", len(b.sn[0].syn), len(a.sn[0].syn))
	}
	for _, s := range []*Stack{a, b} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
	}
	l, err := b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 2*perFamily)
	go func() {
		for {
			s, err := l.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				buf := make([]byte, 64)
				s.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := s.Read(buf)
				if err == nil {
					_, err = s.Write(buf[:n])
				}
				served <- err
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 2*perFamily; i++ {
		dst := netip.AddrPortFrom(addrB.Addr(), 80)
		if i%2 == 1 {
			dst = netip.AddrPortFrom(addr6B.Addr(), 80)
		}
		c, err := a.DialTCP(ctx, netip.AddrPort{}, dst)
		if err != nil {
			t.Fatalf("dial %d to %v: %v", i, dst, err)
		}
		msg := fmt.Sprintf("hello %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("connection %d to %v: echo %q, %v", i, dst, buf, err)
		}
		c.Close()
	}
	for i := 0; i < 2*perFamily; i++ {
		if err := <-served; err != nil {
			t.Fatalf("server side: %v", err)
		}
	}
	ctr := b.Counters()
	if ctr[SYNRingRx] < 2*perFamily {
		t.Errorf("syn_ring_rx %d, want at least %d (one SYN per connection)", ctr[SYNRingRx], 2*perFamily)
	}
	if ctr[SYNRingCrossed] == 0 || ctr[SYNRingCrossed] == ctr[SYNRingRx] {
		t.Errorf("syn_ring_crossed %d of %d: want the SYNs of both softnets' flows", ctr[SYNRingCrossed], ctr[SYNRingRx])
	}
	if ctr[SYNRingDropFull] != 0 || ctr[TCPRstTx] != 0 || ctr[TCPSynCookiesSent] != 0 {
		t.Errorf("drop_syn_ring_full %d, tcp_rst_tx %d, tcp_syncookies_sent %d: want 0", ctr[SYNRingDropFull], ctr[TCPRstTx], ctr[TCPSynCookiesSent])
	}
	for i := 0; i < softnets; i++ {
		if got := b.sn[i].Counters()[TCPPassiveOpens]; got == 0 {
			t.Errorf("softnet %d opened no connection: every SYN stayed on softnet 0", i)
		}
	}
}
