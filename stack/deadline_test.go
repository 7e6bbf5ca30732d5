package stack

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestReadDeadlinePooledTimers: blocking reads borrow their deadline
// timers from the stack's pool. A read past its deadline fails with
// os.ErrDeadlineExceeded, and a timer that comes back from the pool never
// carries an earlier read's expiry into a later read that has data coming
// (the later read gets its bytes, not a deadline error).
func TestReadDeadlinePooledTimers(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:7"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.a.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.SetDeadline(time.Now().Add(5 * time.Second))
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 16)
	for i := 0; i < 20; i++ {
		// Expires: nothing is sent.
		start := time.Now()
		c.SetReadDeadline(start.Add(2 * time.Millisecond))
		if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("round %d: idle read: %v, want a deadline error", i, err)
		}
		if el := time.Since(start); el < 2*time.Millisecond {
			t.Fatalf("round %d: idle read failed after %v, before its deadline", i, el)
		}
		// Does not expire: the peer writes after the old deadline would
		// have fired, well before the new one.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		go func() {
			time.Sleep(3 * time.Millisecond)
			s.Write([]byte{byte(i)})
		}()
		n, err := c.Read(buf)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("round %d: read %d bytes %v, %v; want the peer's byte", i, n, buf[:n], err)
		}
	}
}
