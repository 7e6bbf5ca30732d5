package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestSoftnetEchoZeroCopy runs an echo server written against the
// softnet-side API: received packets go straight back into the send
// queue, no copy into application memory, no goroutine per connection.
func TestSoftnetEchoZeroCopy(t *testing.T) {
	p := newPair(t, pairConfig{softnets: 2, poll: PollAdaptive, start: true, verify: true})
	var echo func(c *TCPConn)
	echo = func(c *TCPConn) {
		// Move what fits; the rest waits in the receive queue until the
		// send queue drains (Writable).
		for {
			space := c.SendSpace()
			if space == 0 {
				break
			}
			head, n := c.ReadPackets(space)
			if n == 0 {
				break
			}
			if rest, _ := c.WritePackets(head); rest != nil {
				t.Errorf("WritePackets left packets although SendSpace allowed them")
				for pk := rest; pk != nil; {
					next := pk.Next
					c.Softnet().Free(pk)
					pk = next
				}
			}
		}
		if c.EOF() && c.SendSpace() > 0 {
			c.ShutdownWrite()
		}
	}
	l, err := p.b.ListenTCPOnSoftnet(netip.MustParseAddrPort("0.0.0.0:7"), 0, func(c *TCPConn) {
		c.SetEvents(&TCPEvents{Readable: echo, Writable: echo, Closed: func(c *TCPConn) {}})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 4; i++ {
		c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		data := make([]byte, 3<<20+i*1000)
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		go func() {
			c.Write(data)
			c.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || len(got) != len(data) || sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("conn %d: echoed %d of %d bytes, err %v, equal %v", i, len(got), len(data), err, bytes.Equal(got, data))
		}
		c.Close()
	}
	// The only crossings are the ARP news softnets share.
	cb := p.b.Counters()
	if got := cb.Handoffs(); got != 0 {
		t.Fatalf("the echo crossed softnets %d times, want 0", got)
	}
}

// TestSoftnetDial opens a connection from a softnet without blocking it.
func TestSoftnetDial(t *testing.T) {
	p := newPair(t, pairConfig{softnets: 2, poll: PollAdaptive, start: true})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:8"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for want := 0; want < 2; want++ {
		done := make(chan *TCPConn, 1)
		sn := p.a.sn[want]
		p.a.call(sn, func() {
			_, err := sn.DialTCP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:8"), &TCPEvents{
				Established: func(c *TCPConn) { done <- c },
			})
			if err != nil {
				t.Errorf("DialTCP: %v", err)
			}
		})
		select {
		case c := <-done:
			if c.Err() != nil || c.Softnet() != sn {
				t.Fatalf("established on softnet %d with err %v, want softnet %d", c.Softnet().ID(), c.Err(), want)
			}
			s, err := l.AcceptTCP()
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("Established never ran")
		}
	}
	if p.a.Counters()[TCPSteerFallback] != 0 {
		t.Fatal("steering fell back although the port range has room")
	}
}

// TestSoftnetOpenCloseAllocs: a connection opened, closed with FINs and
// put into TIME-WAIT through the softnet-side API (as gen and the HTTP
// service drive them) allocates the two connections and their receive
// rings and nothing else: the dial, the SYN, SYN-ACK and ACK, the accept
// hand-over, the events, the FINs and TIME-WAIT reuse what the
// connections hold.
func TestSoftnetOpenCloseAllocs(t *testing.T) {
	p := newPair(t, pairConfig{quiet: true, cfg: Config{TCP: TCPConfig{MSL: time.Millisecond}}})
	srvEv := &TCPEvents{Readable: func(c *TCPConn) {
		if c.EOF() {
			c.CloseOnSoftnet()
		}
	}}
	if _, err := p.b.ListenTCPOnSoftnet(netip.MustParseAddrPort("0.0.0.0:80"), 0, func(c *TCPConn) { c.SetEvents(srvEv) }); err != nil {
		t.Fatal(err)
	}
	cliEv := &TCPEvents{Established: func(c *TCPConn) { c.CloseOnSoftnet() }}
	raddr := netip.MustParseAddrPort("192.0.2.2:80")
	sn := p.a.sn[0]
	round := func() {
		c, err := sn.DialTCP(netip.AddrPort{}, raddr, cliEv)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50 && c.state != tcpTimeWait; i++ {
			p.poll(1)
		}
		if c.state != tcpTimeWait {
			t.Fatalf("client in %v after 50 rounds, want TIME-WAIT", c.state)
		}
		p.poll(2) // the server's last ACK in
	}
	for range 300 { // warm: maps and pools at their size
		round()
	}
	n := testing.AllocsPerRun(200, round)
	if n > 4 {
		t.Errorf("a softnet-side connection's open, close and TIME-WAIT allocated %v times, want at most 4 (each side's connection and receive ring)", n)
	}
	if ctr := p.b.Counters(); ctr[TCPPassiveOpens] < 500 || ctr[TCPEstablished] < 500 {
		t.Fatalf("server opened %d, established %d", ctr[TCPPassiveOpens], ctr[TCPEstablished])
	}
	t.Logf("%v allocations per connection pair", n)
}
