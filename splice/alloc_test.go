package splice

import (
	"io"
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// TestSpliceSteadyStateNoAllocs asserts that a running splice allocates
// nothing per move in the modes that splice (softnet, dedicated): a TCP
// segment and a UDP datagram go client -> relay splice -> server, and the
// whole round (the peers' blocking API included) allocates nothing. Copy
// mode is the userland relay: its copier's read deadlines allocate.
func TestSpliceSteadyStateNoAllocs(t *testing.T) {
	for _, mode := range []Mode{ModeSoftnet, ModeDedicated} {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, stack.Config{})
			c, rc, rs, s := l.conns(t)
			uc, usrc, udrain, us := l.udpConns(t)
			sp := newSplicer(t, mode)
			th, err := sp.Splice(rc, rs, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			uh, err := sp.Splice(usrc, udrain, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			// No deadlines: a read with one arms a timer.
			c.SetDeadline(time.Time{})
			s.SetDeadline(time.Time{})
			us.SetReadDeadline(time.Time{})
			msg, buf := make([]byte, 1000), make([]byte, 2048)
			tcp := func() {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(s, buf[:len(msg)]); err != nil {
					t.Fatal(err)
				}
			}
			udp := func() {
				if _, err := uc.Write(msg); err != nil {
					t.Fatal(err)
				}
				if n, _, err := us.ReadFromUDPAddrPort(buf); err != nil || n != len(msg) {
					t.Fatalf("server read %d, %v", n, err)
				}
			}
			for range 50 { // warm up: buffers, timers, the splice thread
				tcp()
				udp()
			}
			if n := testing.AllocsPerRun(200, tcp); n != 0 {
				t.Errorf("TCP through the splice allocated %v times per segment, want 0", n)
			}
			if n := testing.AllocsPerRun(200, udp); n != 0 {
				t.Errorf("UDP through the splice allocated %v times per datagram, want 0", n)
			}
			if th.Len() == 0 || uh.Len() == 0 {
				t.Fatalf("moved TCP %d, UDP %d bytes", th.Len(), uh.Len())
			}
		})
	}
}
