package stack

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
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

// rawSYNFrame builds an Ethernet+IPv4+TCP SYN by hand.
func rawSYNFrame(dst, src header.MAC, sip, dip [4]byte, sport, dport uint16) []byte {
	f := make([]byte, 14+20+20)
	header.Ethernet(f).Encode(dst, src, header.EtherTypeIPv4)
	header.IPv4(f[14:]).Encode(&header.IPv4Fields{TotalLen: 40, TTL: 64, Protocol: header.ProtoTCP, Src: sip, Dst: dip, DontFragment: true})
	t := header.TCP(f[34:])
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(uint32(sport) << 16)
	t.SetDataOffset(20)
	t.SetFlags(header.TCPFlagSyn)
	t.SetWindow(65535)
	t.SetChecksum(sip, dip, 20)
	return f
}

// TestSYNRingPriority drives softnet 0 by hand: in an iteration that finds
// its queue empty it takes a burst of SYNs from the SYN ring; in
// iterations that find segments waiting it takes no more than the floor
// rate allows, so the SYNs stay in the ring, where the port drops what
// overflows.
func TestSYNRingPriority(t *testing.T) {
	const syns = 400
	w := memwire.New()
	px, err := w.AddPort(memwire.Config{Name: "x", PoolSize: 4096, RingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(memwire.Config{Name: "b", SYNQueue: true, PoolSize: 4096, RingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	// A floor of one SYN a second: the busy iterations below take at
	// most the bucket's first burst, however slowly the test runs.
	b, err := New(Config{SYNFloor: 1}, InterfaceConfig{Port: pb, Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.ListenUDP(netip.AddrPortFrom(addrB.Addr(), 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	sn := b.sn[0]
	inject := func(frames ...[]byte) {
		t.Helper()
		var pkts []*driver.Packet
		for _, f := range frames {
			pk := px.Pool(0).Get()
			copy(pk.Append(len(f)), f)
			pkts = append(pkts, pk)
		}
		px.TxBurst(0, pkts)
	}
	src := header.MAC(px.MAC())
	dst := header.MAC(pb.MAC())
	sip := [4]byte{192, 0, 2, 9}
	for i := 0; i < syns; i += 16 {
		var burst [][]byte
		for j := i; j < i+16; j++ {
			burst = append(burst, rawSYNFrame(dst, src, sip, addrB.Addr().As4(), uint16(20000+j), 80))
		}
		inject(burst...)
	}
	taken := func() uint64 { return sn.Counters()[SYNRingRx] }
	sn.Poll() // the queue is empty: a burst of SYNs
	if got := taken(); got != synBurst {
		t.Fatalf("an idle iteration took %d SYNs, want a burst of %d", got, synBurst)
	}
	// Segments waiting in every iteration: SYNs only from the floor
	// bucket, which starts with one burst.
	for i := 0; i < 100; i++ {
		inject(rawUDPFrame(dst, src, sip, addrB.Addr().As4(), 5000, 7, []byte("data")))
		sn.Poll()
	}
	if got := taken(); got > 2*synBurst+1 {
		t.Fatalf("100 busy iterations took %d SYNs in all, want at most %d: established traffic did not come first", got, 2*synBurst+1)
	}
	if got := sn.Counters()[UDPDelivered]; got != 100 {
		t.Errorf("udp_delivered %d, want 100", got)
	}
	// Idle again: the ring drains a burst an iteration.
	before := taken()
	for i := 0; i < 4; i++ {
		sn.Poll()
	}
	if got := taken() - before; got != 4*synBurst {
		t.Errorf("4 idle iterations took %d SYNs, want %d", got, 4*synBurst)
	}
}
