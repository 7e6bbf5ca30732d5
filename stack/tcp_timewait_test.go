package stack

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// closeFirst runs one connection from a to b's echo-less server: write,
// half-close first (so a ends in TIME-WAIT), read the server's EOF.
func closeFirst(t *testing.T, p *pair, dst netip.AddrPort) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.a.DialTCP(ctx, netip.AddrPort{}, dst)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "HELLO" {
		t.Fatalf("read %q, %v; want HELLO", b, err)
	}
	return nil
}

// upperServer answers each connection with its bytes upper-cased, after
// the client's FIN, then closes.
func upperServer(t *testing.T, s *Stack, port uint16) {
	l, err := s.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				b, _ := io.ReadAll(c)
				for i := range b {
					b[i] -= 'a' - 'A'
				}
				c.Write(b)
			}()
		}
	}()
}

// TestTimeWaitReuse: with every ephemeral port held by a connection in
// TIME-WAIT, a dial fails with EADDRNOTAVAIL unless TimeWaitReuse lets it
// take over one old enough; the new connection on the same tuple carries
// its data, and the port accounting comes back to zero.
func TestTimeWaitReuse(t *testing.T) {
	dst := netip.AddrPortFrom(addrB.Addr(), 7)
	for _, reuse := range []bool{false, true} {
		cfg := Config{EphemeralPorts: [2]uint16{50000, 50003}, TCP: TCPConfig{MSL: 400 * time.Millisecond, TimeWaitReuse: 50 * time.Millisecond}}
		if !reuse {
			cfg.TCP.TimeWaitReuse = -1
		}
		p := newPair(t, pairConfig{start: true, poll: PollAdaptive, cfg: cfg})
		upperServer(t, p.b, 7)
		for i := 0; i < 4; i++ {
			if err := closeFirst(t, p, dst); err != nil {
				t.Fatalf("reuse=%v: connection %d: %v", reuse, i, err)
			}
		}
		if !reuse {
			err := closeFirst(t, p, dst)
			if !errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Fatalf("all 4 ports in TIME-WAIT, no reuse: dial err %v, want EADDRNOTAVAIL", err)
			}
			continue
		}
		// 20 more through 4 ports, each as soon as a port is 50ms into
		// TIME-WAIT (well before its 800ms are over).
		start := time.Now()
		for i := 0; i < 20; i++ {
			for {
				err := closeFirst(t, p, dst)
				if err == nil {
					break
				}
				if !errors.Is(err, syscall.EADDRNOTAVAIL) || time.Since(start) > 20*time.Second {
					t.Fatalf("connection %d: %v", 4+i, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		if n := p.a.Counters()[TCPTimeWaitReused]; n < 16 {
			t.Errorf("tcp_time_wait_reused %d, want at least 16 of 20", n)
		}
		// Every TIME-WAIT ends within 2*MSL: no port stays counted.
		waitFor(t, 5*time.Second, "ports released", func() bool {
			p.a.mu.Lock()
			defer p.a.mu.Unlock()
			return len(p.a.tcpPorts) == 0 && len(p.a.tcpTW) == 0
		})
	}
}
