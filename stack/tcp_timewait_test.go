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
			return len(p.a.tcpPorts.use) == 0 && len(p.a.tcpPorts.perPort) == 0 && len(p.a.tcpPorts.tw) == 0
		})
	}
}

// TestTCPStateCounts: the per-state counts follow connections through
// their lives and come back to zero once every connection is gone.
func TestTCPStateCounts(t *testing.T) {
	cfg := Config{TCP: TCPConfig{MSL: 100 * time.Millisecond}}
	p := newPair(t, pairConfig{start: true, poll: PollAdaptive, cfg: cfg, softnets: 2})
	upperServer(t, p.b, 7)
	count := func(s *Stack, state string) int64 {
		var n int64
		for i := 0; i < s.NumSoftnets(); i++ {
			for _, c := range s.TCPStates(i) {
				if c.State == state {
					n += c.Conns
				}
			}
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns []*TCPConn
	for i := 0; i < 6; i++ {
		c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrB.Addr(), 7))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, 5*time.Second, "6 established on each side", func() bool {
		return count(p.a, "ESTABLISHED") == 6 && count(p.b, "ESTABLISHED") == 6
	})
	for _, c := range conns {
		if err := closeFirstConn(c); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(p.a, "ESTABLISHED"); n != 0 {
		t.Errorf("%d still ESTABLISHED on the client", n)
	}
	waitFor(t, 5*time.Second, "every count back to zero after TIME-WAIT", func() bool {
		for _, s := range []*Stack{p.a, p.b} {
			for i := 0; i < s.NumSoftnets(); i++ {
				for _, c := range s.TCPStates(i) {
					if c.Conns != 0 {
						return false
					}
				}
			}
		}
		return true
	})
}

// closeFirstConn half-closes c first (so it ends in TIME-WAIT), reads the
// server's answer and EOF, and closes it.
func closeFirstConn(c *TCPConn) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	_, err := io.ReadAll(c)
	return err
}
