package relay

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// startUDP runs a UDP relay 192.0.2.2:53 -> 192.0.2.3:54 and a server on
// 192.0.2.3:54 that answers every datagram with reply(datagram).
func (l *lab) startUDP(t *testing.T, mode splice.Mode, cfg UDPConfig, reply func([]byte) []byte) *UDPRelay {
	t.Helper()
	srv, err := l.server.ListenUDP(netip.MustParseAddrPort("0.0.0.0:54"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				srv.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	sp := splice.New(mode)
	t.Cleanup(sp.Close)
	cfg.Listen = netip.MustParseAddrPort("0.0.0.0:53")
	cfg.To = netip.MustParseAddrPort("192.0.2.3:54")
	r, err := StartUDP(l.relay, sp, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(0) })
	return r
}

func (l *lab) udpClient(t *testing.T) *stack.UDPConn {
	t.Helper()
	c, err := l.client.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:53"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends d and returns the reply (nil after a timeout).
func exchange(t *testing.T, c *stack.UDPConn, d []byte, timeout time.Duration) []byte {
	t.Helper()
	if _, err := c.Write(d); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// TestUDPRelayEcho relays datagrams of 0..1472 bytes from three clients
// through the relay to an echo server and back, boundaries kept, in every
// mode.
func TestUDPRelayEcho(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			r := l.startUDP(t, mode, UDPConfig{}, func(d []byte) []byte { return d })
			clients := []*stack.UDPConn{l.udpClient(t), l.udpClient(t), l.udpClient(t)}
			sizes := []int{0, 1, 2, 100, 512, 1000, 1471, 1472}
			for round := 0; round < 20; round++ {
				for i, c := range clients {
					n := sizes[(round+i)%len(sizes)]
					d := bytes.Repeat([]byte{byte(round), byte(i)}, n)[:n]
					got := exchange(t, c, d, 2*time.Second)
					if got == nil || !bytes.Equal(got, d) {
						t.Fatalf("client %d round %d: sent %d bytes, got %d back (nil: none)", i, round, n, len(got))
					}
				}
			}
			st := r.Stats()
			if st.Sessions != 3 || st.Active != 3 || st.Refused != 0 || st.Failed != 0 {
				t.Fatalf("stats %+v, want 3 sessions, all active, none refused or failed", st)
			}
			if mode == splice.ModeSoftnet {
				c := l.relay.Counters()
				if crossed := c.Handoffs(); crossed != 0 {
					t.Fatalf("softnet-mode UDP relay crossed softnets %d times, want 0", crossed)
				}
			}
		})
	}
}

// TestUDPRelayIdleEndsSession: a session idle in both directions ends,
// and the client's next datagram opens a new one.
func TestUDPRelayIdleEndsSession(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			r := l.startUDP(t, mode, UDPConfig{Idle: 100 * time.Millisecond}, func(d []byte) []byte { return d })
			c := l.udpClient(t)
			if got := exchange(t, c, []byte("one"), 2*time.Second); string(got) != "one" {
				t.Fatalf("first exchange got %q", got)
			}
			deadline := time.Now().Add(5 * time.Second)
			for r.Stats().Ended == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the idle session never ended: %+v", r.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := exchange(t, c, []byte("two"), 2*time.Second); string(got) != "two" {
				t.Fatalf("exchange after the idle end got %q", got)
			}
			if st := r.Stats(); st.Sessions != 2 || st.Ended != 1 || st.Active != 1 {
				t.Fatalf("stats %+v, want 2 sessions, 1 ended, 1 active", st)
			}
		})
	}
}

// TestUDPRelayKeepsBusySessions: a session whose client keeps talking
// outlives its idle time many times over.
func TestUDPRelayKeepsBusySessions(t *testing.T) {
	l := newLab(t)
	r := l.startUDP(t, splice.ModeSoftnet, UDPConfig{Idle: 400 * time.Millisecond}, func(d []byte) []byte { return d })
	c := l.udpClient(t)
	for i := 0; i < 50; i++ { // a second: 2.5 idle times
		if got := exchange(t, c, []byte{byte(i)}, 2*time.Second); len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("exchange %d got %v", i, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.Stats(); st.Sessions != 1 || st.Ended != 0 {
		t.Fatalf("stats %+v, want the one session still open", st)
	}
}

// TestUDPRelayMaxSessions: beyond MaxSessions, new clients are refused
// and counted; existing sessions go on.
func TestUDPRelayMaxSessions(t *testing.T) {
	l := newLab(t)
	r := l.startUDP(t, splice.ModeSoftnet, UDPConfig{MaxSessions: 2}, func(d []byte) []byte { return d })
	a, b, c := l.udpClient(t), l.udpClient(t), l.udpClient(t)
	for _, x := range []*stack.UDPConn{a, b} {
		if got := exchange(t, x, []byte("hi"), 2*time.Second); string(got) != "hi" {
			t.Fatalf("exchange got %q", got)
		}
	}
	if got := exchange(t, c, []byte("third"), 200*time.Millisecond); got != nil {
		t.Fatalf("the third client got %q through a relay full at 2 sessions", got)
	}
	if st := r.Stats(); st.Refused != 1 || st.Sessions != 2 {
		t.Fatalf("stats %+v, want 1 refused, 2 sessions", st)
	}
	if got := exchange(t, a, []byte("again"), 2*time.Second); string(got) != "again" {
		t.Fatalf("an existing session stopped working: %q", got)
	}
}

// TestUDPRelayMax: each direction relays whole datagrams up to Max bytes;
// the datagram that would pass it is not relayed.
func TestUDPRelayMax(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t)
			got := make(chan int, 100)
			l.startUDP(t, mode, UDPConfig{Max: 1000}, func(d []byte) []byte { got <- len(d); return nil })
			c := l.udpClient(t)
			for i := 0; i < 10; i++ {
				if _, err := c.Write(make([]byte, 300)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			// Three come through (however slow the machine), then nothing.
			total, n := 0, 0
			timeout := time.After(10 * time.Second)
		collect:
			for n < 3 {
				select {
				case k := <-got:
					total += k
					n++
				case <-timeout:
					break collect
				}
			}
			select {
			case k := <-got:
				total += k
				n++
			case <-time.After(300 * time.Millisecond):
			}
			if n != 3 || total != 900 {
				t.Fatalf("server got %d datagrams, %d bytes; want 3 whole datagrams, 900 bytes (max 1000)", n, total)
			}
		})
	}
}

// TestUDPRelayRefusesItself: a relay whose backend is its own listening
// address would feed itself.
func TestUDPRelayRefusesItself(t *testing.T) {
	l := newLab(t)
	sp := splice.New(splice.ModeSoftnet)
	defer sp.Close()
	for _, listen := range []string{"0.0.0.0:53", "192.0.2.2:53"} {
		_, err := StartUDP(l.relay, sp, UDPConfig{Listen: netip.MustParseAddrPort(listen), To: netip.MustParseAddrPort("192.0.2.2:53")}, nil)
		if !errors.Is(err, syscall.ELOOP) {
			t.Fatalf("listen %s, to itself: %v, want ELOOP", listen, err)
		}
	}
}
