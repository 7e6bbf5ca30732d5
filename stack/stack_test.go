package stack

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/stack/header"
)

func TestNewValidation(t *testing.T) {
	p := newPair(t, pairConfig{})
	port := p.ta.Port
	for _, tc := range []struct {
		name string
		cfg  Config
		ifc  InterfaceConfig
	}{
		{"no port", Config{}, InterfaceConfig{Addr: addrA}},
		{"ipv6 address", Config{}, InterfaceConfig{Port: port, Addr: netip.MustParsePrefix("2001:db8::1/64")}},
		{"unspecified address", Config{}, InterfaceConfig{Port: port, Addr: netip.MustParsePrefix("0.0.0.0/24")}},
		{"gateway off link", Config{}, InterfaceConfig{Port: port, Addr: addrA, Gateway: netip.MustParseAddr("198.51.100.1")}},
		{"queues differ from softnets", Config{Softnets: 2}, InterfaceConfig{Port: port, Addr: addrA}},
		{"bad poll mode", Config{Poll: 7}, InterfaceConfig{Port: port, Addr: addrA}},
		{"cpus mismatch", Config{CPUs: []int{0, 1}}, InterfaceConfig{Port: port, Addr: addrA}},
	} {
		if _, err := New(tc.cfg, tc.ifc); err == nil {
			t.Errorf("%s: New succeeded, want an error", tc.name)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New with no interfaces succeeded")
	}
}

// TestARPResolvesAndPing: the first datagram waits for ARP, both caches
// learn, and ICMP echo gets its reply.
func TestARPResolvesAndPing(t *testing.T) {
	p := newPair(t, pairConfig{})
	c, err := p.a.ListenPing()
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("netsplice ping payload")
	if err := c.SendEcho(addrB.Addr(), 7, payload); err != nil {
		t.Fatal(err)
	}
	p.poll(10)
	c.SetReadDeadline(time.Now().Add(-time.Second)) // never block: we drive the polls
	buf := make([]byte, 64)
	n, src, seq, err := c.ReadReply(buf)
	if err != nil {
		t.Fatalf("ReadReply: %v", err)
	}
	if src != addrB.Addr() || seq != 7 || !bytes.Equal(buf[:n], payload) {
		t.Fatalf("reply from %v seq %d payload %q; want %v, 7, %q", src, seq, buf[:n], addrB.Addr(), payload)
	}
	ca, cb := p.a.Counters(), p.b.Counters()
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"A arp_requests_tx (gratuitous + resolution)", ca[ARPRequestsTx], 2},
		{"A arp_learned", ca[ARPLearned], 1},
		{"B arp_replies_tx", cb[ARPRepliesTx], 1},
		{"B arp_learned", cb[ARPLearned], 1},
		{"A arp_pending_queued", ca[ARPPendingQueued], 1},
		{"B icmp_echo_requests_rx", cb[ICMPEchoRequestsRx], 1},
		{"B icmp_echo_replies_tx", cb[ICMPEchoRepliesTx], 1},
		{"A icmp_echo_replies_rx", ca[ICMPEchoRepliesRx], 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if d := ca.Drops() + cb.Drops(); d != 0 {
		t.Errorf("drops = %d, want 0", d)
	}
	checkFrames(t, append(p.ta.captured(), p.tb.captured()...))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: got %v, want net.ErrClosed", err)
	}
}

// TestUDPAllSizesInOrder sends datagrams of every size 1..1472 and checks
// that each arrives intact and in order.
func TestUDPAllSizesInOrder(t *testing.T) {
	for _, softnets := range []int{1, 2} {
		p := newPair(t, pairConfig{softnets: softnets, cfg: Config{UDPQueueSize: 2048}})
		srv, err := p.b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:7000"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := p.a.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addrB.Addr(), 7000), nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 1472)
		for i := range msg {
			msg[i] = byte(i*7 + 3)
		}
		srv.SetReadDeadline(time.Now().Add(-time.Second))
		buf := make([]byte, 2048)
		next := 1
		for size := 1; size <= 1472; size++ {
			msg[0] = byte(size)
			if _, err := cli.Write(msg[:size]); err != nil {
				t.Fatalf("Write(%d bytes): %v", size, err)
			}
			if size%64 == 0 || size == 1472 {
				p.poll(4)
				for {
					n, from, err := srv.ReadFromUDPAddrPort(buf)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if n != next || buf[0] != byte(next) || !bytes.Equal(buf[1:n], msg[1:n]) {
						t.Fatalf("softnets=%d: got datagram of %d bytes (tag %d), want %d bytes intact", softnets, n, buf[0], next)
					}
					if from != cli.LocalAddrPort() {
						t.Fatalf("from %v, want %v", from, cli.LocalAddrPort())
					}
					next++
				}
			}
		}
		if next != 1473 {
			t.Fatalf("softnets=%d: received %d datagrams, want 1472", softnets, next-1)
		}
		cb := p.b.Counters()
		if cb[UDPDelivered] != 1472 || cb.Drops() != 0 {
			t.Fatalf("softnets=%d: udp_delivered %d drops %d, want 1472 and 0", softnets, cb[UDPDelivered], cb.Drops())
		}
		checkFrames(t, p.ta.captured())
		srv.Close()
		cli.Close()
	}
}

// TestUDPStartedEcho runs both stacks on their own goroutines with
// adaptive polling and echoes datagrams through a blocking net.PacketConn.
func TestUDPStartedEcho(t *testing.T) {
	for _, softnets := range []int{1, 2} {
		p := newPair(t, pairConfig{softnets: softnets, poll: PollAdaptive, start: true})
		srv, err := p.b.ListenUDP(netip.MustParseAddrPort("192.0.2.2:7"), nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := srv.ReadFrom(buf)
				if err != nil {
					return
				}
				srv.WriteTo(buf[:n], from)
			}
		}()
		var conns []*UDPConn
		for i := 0; i < 4; i++ {
			cli, err := p.a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), nil)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, cli)
		}
		homes := map[int]bool{}
		for i, cli := range conns {
			homes[cli.Home().ID()] = true
			cli.SetDeadline(time.Now().Add(5 * time.Second))
			for j := 0; j < 50; j++ {
				msg := bytes.Repeat([]byte{byte(i), byte(j)}, 100+j)
				if _, err := cli.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 2048)
				n, err := cli.Read(got)
				if err != nil {
					t.Fatalf("softnets=%d conn %d msg %d: %v", softnets, i, j, err)
				}
				if !bytes.Equal(got[:n], msg) {
					t.Fatalf("echo mismatch")
				}
			}
		}
		rtt, err := p.a.Ping(addrB.Addr(), 56, 5*time.Second)
		if err != nil || rtt <= 0 {
			t.Fatalf("Ping: %v, %v", rtt, err)
		}
		srv.Close()
		for _, c := range conns {
			c.Close()
		}
		p.a.Stop()
		p.b.Stop()
		checkFrames(t, append(p.ta.captured(), p.tb.captured()...))
		if softnets == 2 {
			ca := p.a.Counters()
			if ca[IdleSleeps] == 0 {
				t.Errorf("adaptive softnets never slept")
			}
		}
	}
}

func TestUDPDeadlineAndClose(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true})
	srv, err := p.b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:9"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, err = srv.ReadFrom(make([]byte, 10))
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: got %v, want *net.OpError wrapping os.ErrDeadlineExceeded", err)
	}
	srv.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := srv.ReadFrom(make([]byte, 10))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	srv.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on closed socket: got %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a blocked reader")
	}
	if _, err := srv.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on closed socket: got %v, want net.ErrClosed", err)
	}
}

func TestUDPBindErrors(t *testing.T) {
	p := newPair(t, pairConfig{})
	s := p.a
	l, err := s.ListenUDP(netip.MustParseAddrPort("0.0.0.0:5000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListenUDP(netip.MustParseAddrPort("192.0.2.1:5000"), nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("overlapping bind: got %v, want EADDRINUSE", err)
	}
	if _, err := s.ListenUDP(netip.MustParseAddrPort("192.0.2.99:5001"), nil); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("bind to foreign address: got %v, want EADDRNOTAVAIL", err)
	}
	if _, err := s.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("198.51.100.1:53"), nil); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("dial without route: got %v, want ENETUNREACH", err)
	}
	// A connected socket may share the listener's port.
	c, err := s.DialUDP(netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("192.0.2.2:6000"), nil)
	if err != nil {
		t.Fatalf("connected socket on the listener's port: %v", err)
	}
	if _, err := c.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("192.0.2.2:1")); !errors.Is(err, syscall.EISCONN) {
		t.Errorf("WriteTo on connected socket: got %v, want EISCONN", err)
	}
	if _, err := l.Write([]byte("x")); !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Errorf("Write on unconnected socket: got %v, want EDESTADDRREQ", err)
	}
	if _, err := l.WriteToUDPAddrPort(make([]byte, 1473), netip.MustParseAddrPort("192.0.2.2:1")); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("oversize datagram: got %v, want EMSGSIZE", err)
	}
	l.Close()
	if l2, err := s.ListenUDP(netip.MustParseAddrPort("0.0.0.0:5000"), nil); err != nil {
		t.Errorf("rebind after close: %v", err)
	} else {
		l2.Close()
	}
	c.Close()
}

// TestSteeredDial asks for local ports whose replies land on each softnet.
func TestSteeredDial(t *testing.T) {
	p := newPair(t, pairConfig{softnets: 2})
	for want := 0; want < 2; want++ {
		c, err := p.a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), &UDPOptions{Steer: true, Softnet: want})
		if err != nil {
			t.Fatal(err)
		}
		if c.Home().ID() != want {
			t.Fatalf("steered to softnet %d, home is %d", want, c.Home().ID())
		}
		// Check the prediction against the wire's own RSS.
		ifc := p.a.ifaces[0]
		l, r := c.LocalAddrPort(), c.RemoteAddrPort()
		q := ifc.rss.RETA.Queue(ifc.hasher.HashIPv4Ports(r.Addr().As4(), l.Addr().As4(), r.Port(), l.Port()))
		if q != want {
			t.Fatalf("RSS puts replies on queue %d, want %d", q, want)
		}
		c.Close()
	}
}

// TestPortUnreachable checks the ICMP error for a closed port and its
// rate limit.
func TestPortUnreachable(t *testing.T) {
	p := newPair(t, pairConfig{cfg: Config{ICMPRateLimit: 5}})
	cli, err := p.a.ListenUDP(netip.AddrPort{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := cli.WriteToUDPAddrPort([]byte("hello?"), netip.MustParseAddrPort("192.0.2.2:4444")); err != nil {
			t.Fatal(err)
		}
		p.poll(3)
	}
	cb, ca := p.b.Counters(), p.a.Counters()
	if cb[UDPNoPort] != 20 {
		t.Fatalf("udp_no_port = %d, want 20", cb[UDPNoPort])
	}
	if cb[ICMPUnreachTx] == 0 || cb[ICMPUnreachTx] > 6 || cb[ICMPRateLimited] == 0 {
		t.Fatalf("icmp_unreach_tx = %d, icmp_rate_limited = %d; want 1..6 and >0", cb[ICMPUnreachTx], cb[ICMPRateLimited])
	}
	if ca[ICMPRx] != cb[ICMPUnreachTx] {
		t.Fatalf("A received %d ICMP messages, B sent %d", ca[ICMPRx], cb[ICMPUnreachTx])
	}
	frames := p.tb.captured()
	checkFrames(t, frames)
	found := false
	for _, f := range frames {
		if header.Ethernet(f).Type() == header.EtherTypeIPv4 && f[23] == header.ProtoICMP {
			icmp := header.ICMPv4(f[34:])
			quoted := header.IPv4(icmp[8:])
			if icmp.Type() == header.ICMPDestUnreachable && icmp.Code() == header.ICMPPortUnreachable && quoted.Dst() == addrB.Addr().As4() {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("no port unreachable quoting the datagram was sent")
	}
}

// TestARPUnresolved sends to an address nobody owns: the packets wait,
// the requests are retried, and then the packets are dropped and counted.
func TestARPUnresolved(t *testing.T) {
	p := newPair(t, pairConfig{cfg: Config{ARPRetryInterval: 2 * time.Millisecond, ARPRetries: 3, ARPPending: 4}})
	cli, _ := p.a.ListenUDP(netip.AddrPort{}, nil)
	for i := 0; i < 6; i++ {
		cli.WriteToUDPAddrPort([]byte("anyone?"), netip.MustParseAddrPort("192.0.2.77:9"))
	}
	ca := p.a.Counters()
	if ca[ARPPendingQueued] != 4 || ca[ARPPendingDrop] != 2 {
		t.Fatalf("queued %d, dropped %d; want 4 and 2", ca[ARPPendingQueued], ca[ARPPendingDrop])
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.a.Counters()[ARPResolveFailed] < 4 && time.Now().Before(deadline) {
		p.poll(1)
		time.Sleep(100 * time.Microsecond)
	}
	ca = p.a.Counters()
	if ca[ARPResolveFailed] != 4 {
		t.Fatalf("drop_arp_unresolved = %d, want 4", ca[ARPResolveFailed])
	}
	// gratuitous + first request + 2 retries
	if ca[ARPRequestsTx] != 4 {
		t.Fatalf("arp_requests_tx = %d, want 4", ca[ARPRequestsTx])
	}
	if p.a.sn[0].arp.nwaiting != 0 || len(p.a.sn[0].arp.waiting) != 0 {
		t.Fatal("pending queue not empty")
	}
}

// TestBadInput injects malformed frames from a raw port: every one is
// dropped and counted under its reason, none panics.
func TestBadInput(t *testing.T) {
	p := newPair(t, pairConfig{})
	raw, err := p.wire.AddPort(driverConfig("raw"))
	if err != nil {
		t.Fatal(err)
	}
	macB := header.MAC(p.tb.MAC())
	srcMAC := header.MAC(raw.MAC())
	good := rawUDPFrame(macB, srcMAC, [4]byte{192, 0, 2, 9}, addrB.Addr().As4(), 1000, 2000, []byte("payload"))
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name  string
		frame []byte
		ctr   CounterID
	}{
		{"IPv6 ethertype", mut(func(b []byte) []byte { b[12], b[13] = 0x86, 0xdd; return b }), DropEtherType},
		{"truncated IP", good[:20], IPDropHeader},
		{"bad IP version", mut(func(b []byte) []byte { b[14] = 0x65; return b }), IPDropHeader},
		{"IP checksum", mut(func(b []byte) []byte { b[24] ^= 0xff; return b }), IPDropChecksum},
		{"total length too long", mut(func(b []byte) []byte {
			header.IPv4(b[14:]).SetTotalLen(1000)
			header.IPv4(b[14:]).SetChecksum()
			return b
		}), IPDropHeader},
		{"not our IP", mut(func(b []byte) []byte {
			header.IPv4(b[14:]).SetDst([4]byte{192, 0, 2, 200})
			header.IPv4(b[14:]).SetChecksum()
			return b
		}), IPDropNotForUs},
		{"fragment", mut(func(b []byte) []byte {
			header.IPv4(b[14:]).SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
			header.IPv4(b[14:]).SetChecksum()
			return b
		}), IPDropFragment},
		{"unknown protocol", mut(func(b []byte) []byte {
			header.IPv4(b[14:]).SetProtocol(132)
			header.IPv4(b[14:]).SetChecksum()
			return b
		}), IPDropProto},
		{"UDP checksum", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), UDPDropChecksum},
		{"UDP length", mut(func(b []byte) []byte { b[38], b[39] = 0x10, 0; return b }), UDPDropBad},
		{"martian source", mut(func(b []byte) []byte {
			header.IPv4(b[14:]).SetSrc([4]byte{224, 0, 0, 1})
			header.IPv4(b[14:]).SetChecksum()
			return b
		}), IPDropMartian},
		{"bad ARP", mut(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b[:30] }), ARPDropBad},
	}
	// The wire filters these two itself, so hand them to the softnet.
	for _, tc := range []struct {
		name  string
		frame []byte
		ctr   CounterID
	}{
		{"truncated ethernet", good[:10], DropTruncated},
		{"other MAC", mut(func(b []byte) []byte { b[0] = 0x02; b[5] = 0x77; return b }), DropNotForUs},
	} {
		sn := p.b.sn[0]
		pk := sn.pools[0].Get()
		copy(pk.Append(len(tc.frame)), tc.frame)
		before := p.b.Counters()
		sn.input(p.b.ifaces[0], pk)
		sn.publish() // as the end of the loop iteration does
		if after := p.b.Counters(); after[tc.ctr] != before[tc.ctr]+1 {
			t.Errorf("%s: %v went %d -> %d, want +1", tc.name, tc.ctr, before[tc.ctr], after[tc.ctr])
		}
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
		drained := make([]*driver.Packet, 32)
		for n := raw.RxBurst(0, drained); n > 0; n = raw.RxBurst(0, drained) {
			for _, pk := range drained[:n] {
				raw.Pool(0).Put(pk)
			}
		}
	}
}

// TestFaultsExplained sends datagrams over a faulty link and checks that
// the counters account for every datagram.
func TestFaultsExplained(t *testing.T) {
	seeds := 3
	if os.Getenv("NETSPLICE_SOAK") != "" {
		seeds = 60 // make soak
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := impair.Config{Drop: 0.05, Dup: 0.03, Corrupt: 0.02, Reorder: 4, Seed: seed, Tx: true}
		p := newPair(t, pairConfig{impairA: &cfg, cfg: Config{UDPQueueSize: 4096, ARPRetryInterval: time.Millisecond, ARPRetries: 1000}})
		srv, _ := p.b.ListenUDP(netip.MustParseAddrPort("0.0.0.0:7"), nil)
		cli, _ := p.a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), nil)
		// Resolve ARP first, over the same faulty link, retrying.
		cli.Write([]byte("warmup"))
		for i := 0; i < 5000 && (p.a.Counters()[ARPLearned] == 0 || p.b.Counters()[ARPLearned] == 0); i++ {
			p.poll(1)
			time.Sleep(50 * time.Microsecond)
		}
		if p.a.Counters()[ARPLearned] == 0 {
			t.Fatalf("seed %d: ARP did not resolve over the faulty link", seed)
		}
		p.poll(50)
		srv.SetReadDeadline(time.Now().Add(-time.Second))
		buf := make([]byte, 2048)
		for {
			if _, _, err := srv.ReadFromUDPAddrPort(buf); err != nil {
				break
			}
		}
		const n = 2000
		base := p.b.Counters()
		baseFaults := p.fa.Faults()
		baseTxErrors := p.ta.Port.Stats().TxErrors
		for i := 0; i < n; i++ {
			cli.Write(bytes.Repeat([]byte{byte(i)}, 200))
			if i%16 == 0 {
				p.poll(2)
			}
		}
		p.poll(200)
		got := 0
		for {
			_, _, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			got++
		}
		cb := p.b.Counters()
		f := p.fa.Faults()
		dropped := f.Dropped - baseFaults.Dropped
		dups := f.Duplicated - baseFaults.Duplicated
		lostToCorruption := (cb[IPDropChecksum] - base[IPDropChecksum]) + (cb[UDPDropChecksum] - base[UDPDropChecksum]) +
			(cb[DropNotForUs] - base[DropNotForUs]) + (cb[DropEtherType] - base[DropEtherType]) +
			(cb[IPDropHeader] - base[IPDropHeader]) + (cb[IPDropNotForUs] - base[IPDropNotForUs]) +
			(cb[UDPDropBad] - base[UDPDropBad]) + (cb[IPDropMartian] - base[IPDropMartian]) +
			(cb[IPDropFragment] - base[IPDropFragment]) + (cb[IPDropProto] - base[IPDropProto]) +
			(cb[UDPNoPort] - base[UDPNoPort])
		// A corrupted destination MAC leaves the frame with no receiver
		// on the wire: the sending port counts it as a tx error.
		missed := p.tb.Port.Stats().RxMissed + p.ta.Port.Stats().TxErrors - baseTxErrors
		if uint64(got)+dropped+lostToCorruption+missed != n+dups {
			t.Fatalf("seed %d: received %d + impair dropped %d + dropped as corrupt %d + missed/unclaimed %d != sent %d + duplicated %d",
				seed, got, dropped, lostToCorruption, missed, n, dups)
		}
		if dropped == 0 || dups == 0 || lostToCorruption == 0 {
			t.Fatalf("seed %d: faults did not happen: dropped %d dups %d corrupt %d", seed, dropped, dups, lostToCorruption)
		}
		checkFrames(t, p.tb.captured()) // B's side of the link is clean
		srv.Close()
		cli.Close()
	}
}
