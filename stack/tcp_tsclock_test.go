package stack

import (
	"testing"
	"time"
)

// TestTimestampClock: the TCP timestamp clock is the system's monotonic
// clock plus an offset per address pair keyed by the boot. A stack made
// later (another process of the same boot) stamps a peer with newer
// timestamps than an older stack does, with the same offset; another
// address pair has another offset, ports none.
func TestTimestampClock(t *testing.T) {
	p1 := newPair(t, pairConfig{})
	k := flowKey{laddr: mapped4(addrA.Addr().As4()), raddr: mapped4(addrB.Addr().As4()), lport: 40000, rport: 80}
	time.Sleep(30 * time.Millisecond)
	old := p1.a.ts.at(p1.a.now(), p1.a.ts.offset(k))
	time.Sleep(10 * time.Millisecond)
	p2 := newPair(t, pairConfig{})
	fresh := p2.a.ts.at(p2.a.now(), p2.a.ts.offset(k))
	if d := int32(fresh - old); d < 5 {
		t.Errorf("a stack made 10 ms later stamps %d ms after the older one, want about 10: its clock must not start with it", d)
	}
	if p1.a.ts.offset(k) != p2.a.ts.offset(k) {
		t.Error("two stacks of one boot give one address pair different offsets")
	}
	other := k
	other.raddr = mapped4([4]byte{192, 0, 2, 77})
	if p1.a.ts.offset(other) == p1.a.ts.offset(k) {
		t.Error("two address pairs share an offset")
	}
	ports := k
	ports.lport, ports.rport = 1, 2
	if p1.a.ts.offset(ports) != p1.a.ts.offset(k) {
		t.Error("the offset depends on the ports")
	}
}

// TestEchoRTT: an echoed timestamp measures the round trip only when it
// can be ours: not ahead of the clock, not older than the connection.
func TestEchoRTT(t *testing.T) {
	p := newPair(t, pairConfig{})
	k := flowKey{laddr: mapped4(addrA.Addr().As4()), raddr: mapped4(addrB.Addr().As4()), lport: 40000, rport: 80}
	time.Sleep(20 * time.Millisecond)
	sn := p.a.sn[0]
	c := newTCPConn(p.a, sn, p.a.ifaces[0], [16]byte{}, k)
	c.tsOK = true
	sn.now = p.a.now() + int64(50*time.Millisecond)
	now := c.tsNow()
	for _, tc := range []struct {
		name string
		ecr  uint32
		ok   bool
		rtt  time.Duration
	}{
		{"recent", now - 7, true, 7 * time.Millisecond},
		{"now", now, true, 0},
		{"ahead of the clock", now + 5, false, 0},
		{"before the connection", c.tsBorn - 5000, false, 0},
		{"the process's first millisecond", 1, false, 0},
	} {
		seg := &segment{opts: tcpOptions{hasTS: true, tsEcr: tc.ecr}}
		if rtt, ok := c.echoRTT(seg); ok != tc.ok || rtt != tc.rtt {
			t.Errorf("%s: echoRTT %v, %v; want %v, %v", tc.name, rtt, ok, tc.rtt, tc.ok)
		}
	}
}
