package stack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
)

// TestTCP6HandshakeAndData opens a connection over IPv6, checks its
// addresses and MSS (MTU - 60 - timestamps), moves data both ways, closes
// it, and has gopacket check every frame either side sent.
func TestTCP6HandshakeAndData(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, cfg: Config{TCP: TCPConfig{MSL: 100 * time.Millisecond}}})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Addr().String(); got != "[::]:80" {
		t.Errorf("listener address %s, want [::]:80", got)
	}
	dst := netip.AddrPortFrom(addr6B.Addr(), 80)
	c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, dst)
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
	if c.RemoteAddrPort() != dst || c.LocalAddrPort().Addr() != addr6A.Addr() {
		t.Fatalf("client %v -> %v, want %v -> %v", c.LocalAddrPort(), c.RemoteAddrPort(), addr6A.Addr(), dst)
	}
	if s.RemoteAddrPort() != c.LocalAddrPort() || s.LocalAddrPort() != dst {
		t.Fatalf("server %v -> %v, want %v -> %v", s.LocalAddrPort(), s.RemoteAddrPort(), dst, c.LocalAddrPort())
	}
	if c.mss != 1500-60-12 || s.mss != 1500-60-12 || !c.tsOK || !c.sackOK || !c.wsOK {
		t.Fatalf("negotiated mss %d/%d ts %v sack %v ws %v; want 1428 and all options", c.mss, s.mss, c.tsOK, c.sackOK, c.wsOK)
	}
	msg := bytes.Repeat([]byte("netsplice over IPv6 "), 500) // several segments
	if n, err := c.Write(msg); err != nil || n != len(msg) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 4096)
	p.pollUntil(t, 100, func() bool {
		s.SetReadDeadline(time.Now().Add(-time.Second))
		n, _ := s.Read(buf)
		got = append(got, buf[:n]...)
		return len(got) == len(msg)
	})
	if !bytes.Equal(got, msg) {
		t.Fatal("server read different bytes")
	}
	s.SetReadDeadline(time.Time{})
	s.Write([]byte("reply"))
	p.poll(5)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "reply" {
		t.Fatalf("client Read: %q, %v", buf[:n], err)
	}
	c.Close()
	p.poll(5)
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("server Read after client FIN: %v, want io.EOF", err)
	}
	s.Close()
	p.poll(5)
	if cs := c.sn.tcp.get(c.key); cs == nil || cs.state != tcpTimeWait {
		t.Fatalf("client state %v, want TIME-WAIT", cs)
	}
	time.Sleep(250 * time.Millisecond)
	p.poll(3)
	if n := p.a.sn[0].tcp.len() + p.b.sn[0].tcp.len(); n != 0 {
		t.Fatalf("%d connections left after 2*MSL", n)
	}
	frames := append(p.ta.captured(), p.tb.captured()...)
	checkFrames(t, frames)
	var tcp6 int
	for _, f := range frames {
		if header.Ethernet(f).Type() == header.EtherTypeIPv6 && f[14+6] == header.ProtoTCP {
			tcp6++
		}
	}
	if tcp6 < 10 {
		t.Fatalf("%d TCP-over-IPv6 frames captured, want the whole conversation", tcp6)
	}
}

// TestTCPListenFamilies: a listener on :: takes both families (IPv4 peers
// appear with IPv4 addresses), one on 0.0.0.0 takes IPv4 only (an IPv6
// SYN is refused with a reset), one on an IPv6 address takes that address,
// and dials across families are refused.
func TestTCPListenFamilies(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, start: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dual, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dual.Close()
	v4only, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:81"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v4only.Close()
	one, err := p.b.ListenTCP(netip.AddrPortFrom(addr6B.Addr(), 82), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, err := p.b.ListenTCP(netip.MustParseAddrPort("[2001:db8:1::99]:83"), 0); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("listen on an address B lacks: %v, want EADDRNOTAVAIL", err)
	}
	for _, tc := range []struct {
		l   *TCPListener
		dst netip.AddrPort
	}{
		{dual, netip.AddrPortFrom(addrB.Addr(), 80)},
		{dual, netip.AddrPortFrom(addr6B.Addr(), 80)},
		{v4only, netip.AddrPortFrom(addrB.Addr(), 81)},
		{one, netip.AddrPortFrom(addr6B.Addr(), 82)},
	} {
		c, err := p.a.DialTCP(ctx, netip.AddrPort{}, tc.dst)
		if err != nil {
			t.Fatalf("dial %v: %v", tc.dst, err)
		}
		s, err := tc.l.AcceptTCP()
		if err != nil {
			t.Fatalf("accept for %v: %v", tc.dst, err)
		}
		if s.LocalAddrPort() != tc.dst || s.RemoteAddrPort() != c.LocalAddrPort() {
			t.Errorf("dial %v: server sees %v <- %v, client is %v", tc.dst, s.LocalAddrPort(), s.RemoteAddrPort(), c.LocalAddrPort())
		}
		if tc.dst.Addr().Is4() != s.RemoteAddrPort().Addr().Is4() {
			t.Errorf("dial %v: peer address %v is of the other family", tc.dst, s.RemoteAddrPort())
		}
		c.Close()
		s.Close()
	}
	if _, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addr6B.Addr(), 81)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("IPv6 dial to a 0.0.0.0 listener: %v, want ECONNREFUSED", err)
	}
	if _, err := p.a.DialTCP(ctx, netip.AddrPortFrom(addr6A.Addr(), 0), netip.AddrPortFrom(addrB.Addr(), 80)); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("IPv6 source to an IPv4 peer: %v, want EAFNOSUPPORT", err)
	}
	if _, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("[2001:db8:99::1]:80")); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("dial off-link without a gateway: %v, want ENETUNREACH", err)
	}
}

// TestTCP6Bulk moves data both ways over IPv6 under the fault
// configurations of TestTCPBulk, every frame checked by gopacket.
func TestTCP6Bulk(t *testing.T) {
	for _, tc := range bulkCases(11) {
		t.Run(tc.name, func(t *testing.T) { runBulkCase6(t, tc, 1<<20, bothWays, 11) })
	}
}

// TestTCP6Softnets: with two softnets, connections over IPv6 live on the
// softnet RSS (Toeplitz over the IPv6 tuple) gives their replies, on both
// ends, and carry data.
func TestTCP6Softnets(t *testing.T) {
	p := newPair(t, pairConfig{softnets: 2, poll: PollAdaptive, start: true, ipv6: true})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:7"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := make(map[int]bool)
	for i := 0; i < 8; i++ {
		c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addr6B.Addr(), 7))
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		k := c.key
		if want := c.ifc.queueFor(header.ProtoTCP, k.raddr, k.laddr, k.rport, k.lport); c.sn.id != want {
			t.Errorf("client connection on softnet %d, its replies hash to %d", c.sn.id, want)
		}
		sk := s.key
		if want := s.ifc.queueFor(header.ProtoTCP, sk.raddr, sk.laddr, sk.rport, sk.lport); s.sn.id != want {
			t.Errorf("server connection on softnet %d, its segments hash to %d", s.sn.id, want)
		}
		seen[c.sn.id] = true
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q, %v", buf, err)
		}
		c.Close()
		s.Close()
	}
	if len(seen) != 2 {
		t.Errorf("dials used softnets %v, want both (round robin)", seen)
	}
}

// TestUDP6 sends datagrams over IPv6 between a connected socket and one
// bound to :: (which takes IPv4 too), checks sources, the socket-side
// handler's view (UDPSource, UDPDestination, UDPPayload), EMSGSIZE at
// MTU - 48, and gopacket's view of every frame.
func TestUDP6(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, start: true})
	srv, err := p.b.ListenUDP(netip.MustParseAddrPort("[::]:7"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c6, err := p.a.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr6B.Addr(), 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c6.Close()
	c4, err := p.a.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addrB.Addr(), 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	deadline := time.Now().Add(5 * time.Second)
	srv.SetDeadline(deadline)
	c6.SetDeadline(deadline)
	buf := make([]byte, 2048)
	for _, c := range []*UDPConn{c6, c4} {
		msg := []byte("hello from " + c.LocalAddrPort().String())
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from != c.LocalAddrPort() {
			t.Fatalf("server read %q from %v (%v), want %q from %v", buf[:n], from, err, msg, c.LocalAddrPort())
		}
		if _, err := srv.WriteToUDPAddrPort(buf[:n], from); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(deadline)
		m, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:m], msg) {
			t.Fatalf("echo %q, %v", buf[:m], err)
		}
	}
	if _, err := c6.Write(make([]byte, 1500-48+1)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("datagram of MTU - 47 bytes: %v, want EMSGSIZE", err)
	}
	if _, err := c6.Write(make([]byte, 1500-48)); err != nil {
		t.Errorf("datagram of MTU - 48 bytes: %v", err)
	}
	if n, _, err := srv.ReadFromUDPAddrPort(buf); err != nil || n != 1500-48 {
		t.Errorf("full-size datagram: %d bytes, %v", n, err)
	}

	// The handler API sees IPv6 datagrams from their IPv6 header on.
	got := make(chan [3]string, 1)
	h, err := p.b.ListenUDP(netip.AddrPortFrom(addr6B.Addr(), 9), &UDPOptions{Handler: func(sn *Softnet, c *UDPConn, pk *driver.Packet) {
		got <- [3]string{UDPSource(pk).String(), UDPDestination(pk).String(), string(UDPPayload(pk))}
		sn.Free(pk)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := c6.WriteToUDPAddrPort([]byte("x"), h.LocalAddrPort()); !errors.Is(err, syscall.EISCONN) {
		t.Fatalf("WriteTo on a connected socket: %v", err)
	}
	u, err := p.a.ListenUDP(netip.AddrPort{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.WriteToUDPAddrPort([]byte("handled"), netip.AddrPortFrom(addr6B.Addr(), 9)); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		want := [3]string{netip.AddrPortFrom(addr6A.Addr(), u.LocalAddrPort().Port()).String(), "[2001:db8:1::2]:9", "handled"}
		if g != want {
			t.Errorf("handler saw %v, want %v", g, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler got nothing")
	}
	checkFrames(t, append(p.ta.captured(), p.tb.captured()...))
}

// TestUDPBindFamilies: binds overlap as Linux's dual-stack sockets do.
func TestUDPBindFamilies(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true})
	for _, tc := range []struct {
		first, second string
		clash         bool
	}{
		{"[::]:53", "0.0.0.0:53", true},
		{"0.0.0.0:53", "[::]:53", true},
		{"0.0.0.0:53", "[2001:db8:1::2]:53", false},
		{"[2001:db8:1::2]:53", "0.0.0.0:53", false},
		{"[2001:db8:1::2]:53", "[::]:53", true},
		{"192.0.2.2:53", "[2001:db8:1::2]:53", false},
	} {
		a, err := p.b.ListenUDP(netip.MustParseAddrPort(tc.first), nil)
		if err != nil {
			t.Fatalf("bind %s: %v", tc.first, err)
		}
		b, err := p.b.ListenUDP(netip.MustParseAddrPort(tc.second), nil)
		if clash := errors.Is(err, syscall.EADDRINUSE); clash != tc.clash {
			t.Errorf("bind %s then %s: %v, want clash %v", tc.first, tc.second, err, tc.clash)
		}
		if b != nil {
			b.Close()
		}
		a.Close()
	}
}

// TestIPv6OnlyInterface: an interface with IPv6 prefixes and no IPv4
// address carries TCP and UDP over IPv6, sends no ARP, drops IPv4 and ARP
// frames (drop_ethertype), and refuses IPv4 destinations; an interface
// with no address at all is refused.
func TestIPv6OnlyInterface(t *testing.T) {
	w := memwire.New()
	pa, err := w.AddPort(driverConfig("a"))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(driverConfig("b"))
	if err != nil {
		t.Fatal(err)
	}
	tb := &tap{Port: pb}
	if _, err := New(Config{}, InterfaceConfig{Port: pb}); err == nil {
		t.Fatal("an interface with no address was accepted")
	}
	a, err := New(Config{}, InterfaceConfig{Port: pa, Addr: addrA, Addr6: []netip.Prefix{addr6A}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{}, InterfaceConfig{Port: tb, Addr6: []netip.Prefix{addr6B}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Interfaces()[0].Addr().IsValid() {
		t.Fatalf("IPv6-only interface reports IPv4 address %v", b.Interfaces()[0].Addr())
	}
	for _, s := range []*Stack{a, b} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addr6B.Addr(), 80))
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("v6 only"))
	buf := make([]byte, 16)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.ReadFull(s, buf[:7]); err != nil || string(buf[:n]) != "v6 only" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	c.Close()
	s.Close()
	u, err := b.ListenUDP(netip.AddrPort{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(addrA.Addr(), 9)); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("IPv4 datagram from an IPv6-only stack: %v, want ENETUNREACH", err)
	}
	if _, err := b.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrA.Addr(), 80)); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("IPv4 dial from an IPv6-only stack: %v, want ENETUNREACH", err)
	}
	// A's ARP and IPv4 to B's MAC are not B's business.
	before := b.Counters()[DropEtherType]
	if _, err := a.Ping(netip.MustParseAddr("192.0.2.2"), 8, 300*time.Millisecond); err == nil {
		t.Error("ping to an IPv4 address nobody has answered")
	}
	raw := rawUDPFrame(header.MAC(tb.MAC()), header.MAC(pa.MAC()), addrA.Addr().As4(), [4]byte{192, 0, 2, 2}, 1, 7, nil)
	pk := pa.Pool(0).Get()
	copy(pk.Append(len(raw)), raw)
	pa.TxBurst(0, []*driver.Packet{pk})
	waitFor(t, 5*time.Second, "B to drop the IPv4 frame", func() bool { return b.Counters()[DropEtherType] > before })
	for _, f := range tb.captured() {
		if header.Ethernet(f).Type() != header.EtherTypeIPv6 {
			t.Fatalf("IPv6-only B sent a frame of EtherType %#04x", header.Ethernet(f).Type())
		}
	}
}

// TestSecondaryAddresses: an interface answers ARP and Neighbor Discovery
// for its secondary addresses, accepts connections to them, and dials
// from them when asked; New refuses secondaries outside its prefixes.
func TestSecondaryAddresses(t *testing.T) {
	w := memwire.New()
	pa, err := w.AddPort(driverConfig("a"))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(driverConfig("b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"198.51.100.7", "192.0.2.2", "192.0.2.255", "2001:db8:2::1"} {
		if _, err := New(Config{}, InterfaceConfig{Port: pb, Addr: addrB, Addr6: []netip.Prefix{addr6B},
			Secondary: []netip.Addr{netip.MustParseAddr(bad)}}); err == nil {
			t.Errorf("secondary %s accepted", bad)
		}
	}
	sec4, sec6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:1::10")
	a, err := New(Config{}, InterfaceConfig{Port: pa, Addr: addrA, Addr6: []netip.Prefix{addr6A}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{}, InterfaceConfig{Port: pb, Addr: addrB, Addr6: []netip.Prefix{addr6B}, Secondary: []netip.Addr{sec4, sec6}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Stack{a, b} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
	}
	if !b.HasAddr(sec4) || !b.HasAddr(sec6) || b.HasAddr(netip.MustParseAddr("192.0.2.11")) {
		t.Fatal("HasAddr does not know the secondary addresses")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, dst := range []netip.Addr{sec4, sec6} {
		c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(dst, 80))
		if err != nil {
			t.Fatalf("dial %v: %v", dst, err)
		}
		s, err := l.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		if s.LocalAddrPort().Addr() != dst {
			t.Errorf("accepted on %v, want %v", s.LocalAddrPort(), dst)
		}
		c.Close()
		s.Close()
	}
	la, err := a.ListenTCP(netip.MustParseAddrPort("[::]:81"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	for _, src := range []netip.Addr{sec4, sec6} {
		dst := addrA.Addr()
		if src.Is6() {
			dst = addr6A.Addr()
		}
		c, err := b.DialTCP(ctx, netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 81))
		if err != nil {
			t.Fatalf("dial from %v: %v", src, err)
		}
		s, err := la.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		if s.RemoteAddrPort().Addr() != src || c.LocalAddrPort().Addr() != src {
			t.Errorf("dial from %v: A sees %v, B's end is %v", src, s.RemoteAddrPort(), c.LocalAddrPort())
		}
		c.Close()
		s.Close()
	}
}

// TestUDP6ExtensionHeaders: a datagram behind a Destination Options header
// reaches the socket's handler as one without it: IPv6 header (Next Header
// UDP, payload length fixed) and the UDP datagram right after.
func TestUDP6ExtensionHeaders(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true})
	raw, err := p.wire.AddPort(driverConfig("raw"))
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		next    uint8
		plen    int
		src     netip.AddrPort
		payload string
	}
	var got []seen
	u, err := p.b.ListenUDP(netip.MustParseAddrPort("[::]:7"), &UDPOptions{Handler: func(sn *Softnet, c *UDPConn, pk *driver.Packet) {
		ip := header.IPv6(pk.Data())
		got = append(got, seen{ip.NextHeader(), int(ip.PayloadLen()), UDPSource(pk), string(UDPPayload(pk))})
		sn.Free(pk)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	me, b6 := netip.MustParseAddr("2001:db8:1::9").As16(), addr6B.Addr().As16()
	body := append([]byte{header.ProtoUDP, 0, 1, 4, 0, 0, 0, 0}, udp6(me, b6, 7, []byte("hi"))...)
	f := raw6(header.MAC(p.tb.MAC()), header.MAC(raw.MAC()), me, b6, 64, header.ProtoIPv6DestOpts, body)
	pk := raw.Pool(0).Get()
	copy(pk.Append(len(f)), f)
	raw.TxBurst(0, []*driver.Packet{pk})
	p.poll(2)
	want := seen{header.ProtoUDP, header.UDPHeaderLen + 2, netip.AddrPortFrom(netip.AddrFrom16(me), 40000), "hi"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("handler saw %+v, want %+v", got, want)
	}
}

// TestPortsPerSourceAddress: each local address has its own ephemeral
// port range for active opens, so a secondary address adds a whole range
// of 4-tuples toward one server; a listener on :: still takes its port on
// every address.
func TestPortsPerSourceAddress(t *testing.T) {
	w := memwire.New()
	pa, _ := w.AddPort(driverConfig("a"))
	pb, _ := w.AddPort(driverConfig("b"))
	sec := netip.MustParseAddr("192.0.2.10")
	a, err := New(Config{EphemeralPorts: [2]uint16{50000, 50001}, TCP: TCPConfig{TimeWaitReuse: -1}},
		InterfaceConfig{Port: pa, Addr: addrA, Secondary: []netip.Addr{sec}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{}, InterfaceConfig{Port: pb, Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Stack{a, b} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
	}
	l, err := b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dst := netip.AddrPortFrom(addrB.Addr(), 80)
	var conns []*TCPConn
	for _, src := range []netip.Addr{addrA.Addr(), addrA.Addr(), sec, sec} {
		c, err := a.DialTCP(ctx, netip.AddrPortFrom(src, 0), dst)
		if err != nil {
			t.Fatalf("dial from %v with %d open: %v", src, len(conns), err)
		}
		conns = append(conns, c)
	}
	if _, err := a.DialTCP(ctx, netip.AddrPortFrom(sec, 0), dst); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("third dial from %v with a two-port range: %v, want EADDRNOTAVAIL", sec, err)
	}
	if conns[0].LocalAddrPort().Port() != conns[2].LocalAddrPort().Port() && conns[0].LocalAddrPort().Port() != conns[3].LocalAddrPort().Port() {
		t.Errorf("the secondary address reused none of the primary's ports: %v %v %v %v",
			conns[0].LocalAddrPort(), conns[1].LocalAddrPort(), conns[2].LocalAddrPort(), conns[3].LocalAddrPort())
	}
	if _, err := a.ListenTCP(netip.MustParseAddrPort("[::]:50000"), 0); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listen on [::]:50000 while dials use it: %v, want EADDRINUSE", err)
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestSynCookies6: with the listener's backlog full, SYNs over IPv6 get
// cookies (the hash covers the 128-bit tuple), the connections they
// rebuild are accepted and carry data, with the MSS a cookie holds.
func TestSynCookies6(t *testing.T) {
	p := newPair(t, pairConfig{ipv6: true, start: true, verify: true})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("[::]:80"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cs []*TCPConn
	for i := 0; i < 4; i++ {
		c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addr6B.Addr(), 80))
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		cs = append(cs, c)
	}
	if c := p.b.Counters(); c[TCPSynCookiesSent] == 0 || c[TCPSynCookiesValid] == 0 {
		t.Fatalf("cookies sent %d, valid %d: want some of each", c[TCPSynCookiesSent], c[TCPSynCookiesValid])
	}
	accepted := make(map[netip.AddrPort]*TCPConn)
	for i := range cs {
		s, err := l.AcceptTCP()
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		accepted[s.RemoteAddrPort()] = s
	}
	for i, c := range cs {
		s := accepted[c.LocalAddrPort()]
		if s == nil {
			t.Fatalf("conn %d (%v) was not accepted", i, c.LocalAddrPort())
		}
		msg := []byte("cookie over IPv6")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(s, buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("conn %d: read %q, %v", i, buf, err)
		}
		c.Close()
		s.Close()
	}
	for _, tp := range []*tap{p.ta, p.tb} {
		if n, err := tp.verified(); err != nil || n < 10 {
			t.Fatalf("gopacket oracle: %d frames checked, first error %v", n, err)
		}
	}
}

// TestIs4: is4 knows IPv4-mapped addresses from every other form.
func TestIs4(t *testing.T) {
	for _, tc := range []struct {
		a    string
		want bool
	}{
		{"::ffff:192.0.2.1", true}, {"::ffff:0.0.0.0", true}, {"::", false}, {"::1", false},
		{"2001:db8::1", false}, {"::fffe:192.0.2.1", false}, {"0:0:0:0:1:ffff:192.0.2.1", false}, {"1::ffff:192.0.2.1", false},
	} {
		if got := is4(netip.MustParseAddr(tc.a).As16()); got != tc.want {
			t.Errorf("is4(%s) = %v, want %v", tc.a, got, tc.want)
		}
	}
	if !is4(mapped4([4]byte{198, 51, 100, 7})) || as4(mapped4([4]byte{198, 51, 100, 7})) != [4]byte{198, 51, 100, 7} {
		t.Error("mapped4 and as4 do not round-trip")
	}
}
