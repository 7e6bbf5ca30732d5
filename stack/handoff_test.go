package stack

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHandOffs checks which wakes an iteration counts as hand-offs
// (Softnet.handOff): the ones a request-response exchange waits on (a
// Dial's handshake, an Accept, a Read of a segment shorter than an MSS or
// of the peer's FIN), not a stream's (a full segment), and none where
// nobody waits.
func TestHandOffs(t *testing.T) {
	p := newPair(t, pairConfig{cfg: Config{TCP: TCPConfig{MSL: 100 * time.Millisecond, NoCoalesce: true}}})
	sa, sb := p.a.sn[0], p.b.sn[0]
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	l.await.Store(true) // an Accept blocked
	c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	var dialOffs, acceptOffs int
	for i := 0; i < 10; i++ { // the handshake takes three
		sa.Poll()
		dialOffs += sa.handoffs
		sb.Poll()
		acceptOffs += sb.handoffs
	}
	if !c.Established() || dialOffs != 1 || acceptOffs != 1 {
		t.Fatalf("handshake (established %v): %d hand-offs on the dialling side, %d on the accepting side; want 1 and 1", c.Established(), dialOffs, acceptOffs)
	}
	l.await.Store(false)
	l.SetDeadline(time.Now().Add(-time.Second))
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	mss := c.sn.tcp.get(c.key).mss
	// deliverTo writes n bytes from c and returns the hand-offs B's
	// iterations counted while they arrived.
	deliverTo := func(n int, reader bool) int {
		t.Helper()
		s.rwait.Store(reader)
		defer s.rwait.Store(false)
		if n > 0 {
			if w, err := c.Write(make([]byte, n)); err != nil || w != n {
				t.Fatalf("Write(%d): %d, %v", n, w, err)
			}
		} else {
			c.Close()
		}
		offs := 0
		for i := 0; i < 5; i++ {
			sa.Poll()
			sb.Poll()
			offs += sb.handoffs
		}
		buf := make([]byte, 2*mss)
		s.rdl.Store(1) // read what arrived without blocking
		for {
			if _, err := s.Read(buf); err != nil {
				break
			}
		}
		s.rdl.Store(0)
		return offs
	}
	for _, tc := range []struct {
		name   string
		n      int
		reader bool
		want   int
	}{
		{"short segment, reader waiting", 100, true, 1},
		{"full segment, reader waiting", mss, true, 0},
		{"full segment and a short one", mss + 10, true, 1},
		{"short segment, no reader waiting", 100, false, 0},
		{"FIN, reader waiting", 0, true, 1},
	} {
		if got := deliverTo(tc.n, tc.reader); got != tc.want {
			t.Errorf("%s: %d hand-offs, want %d", tc.name, got, tc.want)
		}
	}
}

// TestHandOffsSoftnetDial: a connection dialled on the softnet
// (Softnet.DialTCP, callbacks) has no goroutine waiting for its
// handshake, so it hands nothing off.
func TestHandOffsSoftnetDial(t *testing.T) {
	p := newPair(t, pairConfig{cfg: Config{TCP: TCPConfig{MSL: 100 * time.Millisecond}}})
	sa := p.a.sn[0]
	if _, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0); err != nil {
		t.Fatal(err)
	}
	established := false
	c, err := sa.DialTCP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:80"), &TCPEvents{Established: func(*TCPConn) { established = true }})
	if err != nil {
		t.Fatal(err)
	}
	offs := 0
	for i := 0; i < 10; i++ {
		sa.Poll()
		offs += sa.handoffs
		p.b.sn[0].Poll()
	}
	if !established || !c.Established() || offs != 0 {
		t.Fatalf("softnet-side dial: established %v, %d hand-offs; want established, 0", established, offs)
	}
}

// TestThreadCPULocking: ThreadCPU reads the softnets' thread clocks, so
// it refuses a running stack whose adaptive softnets run unlocked, and a
// softnet with LockThreads stays on one OS thread.
func TestThreadCPULocking(t *testing.T) {
	for _, lock := range []bool{false, true} {
		p := newPair(t, pairConfig{poll: PollAdaptive, start: true, cfg: Config{LockThreads: lock}})
		d, err := p.a.ThreadCPU()
		if !lock {
			if !errors.Is(err, ErrThreadsNotLocked) {
				t.Errorf("unlocked adaptive softnets: ThreadCPU = %v, %v; want ErrThreadsNotLocked", d, err)
			}
			continue
		}
		if err != nil || d <= 0 {
			t.Fatalf("LockThreads: ThreadCPU = %v, %v; want a positive time", d, err)
		}
		tids := map[int]bool{}
		for i := 0; i < 20; i++ {
			if err := p.a.Call(p.a.sn[0], func() { tids[unix.Gettid()] = true }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // the softnet sleeps and wakes between calls
		}
		if len(tids) != 1 {
			t.Errorf("LockThreads: the softnet ran on %d OS threads, want 1", len(tids))
		}
	}
	// Busy polling locks without being asked.
	p := newPair(t, pairConfig{poll: PollBusy, start: true})
	if _, err := p.a.ThreadCPU(); err != nil {
		t.Errorf("busy softnets: ThreadCPU: %v", err)
	}
}
