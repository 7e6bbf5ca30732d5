package stack

import (
	"testing"
	"time"
)

func ccConn() *TCPConn {
	c := &TCPConn{tcpFlow: tcpFlow{st: &Stack{}, sn: &Softnet{now: 1}}}
	c.mss, c.srtt = 1000, 10*time.Millisecond
	return c
}

func TestNewRenoWindow(t *testing.T) {
	c := ccConn()
	r := newNewReno(c)
	if r.window() != 10000 {
		t.Fatalf("initial window %d, want 10 segments", r.window())
	}
	r.onAck(1000)
	if r.window() != 11000 {
		t.Fatalf("slow start: %d, want 11000", r.window())
	}
	r.onEnterRecovery(20000)
	if r.ssthresh != 10000 || r.window() != 13000 {
		t.Fatalf("recovery: ssthresh %d cwnd %d, want 10000 and 13000", r.ssthresh, r.window())
	}
	r.onDupAckInRecovery()
	r.onExitRecovery(8000)
	if r.window() != 9000 {
		t.Fatalf("after recovery: %d, want min(ssthresh, flight+mss) = 9000", r.window())
	}
	// Congestion avoidance: one segment per window of ACKs.
	before := r.window()
	for acked := 0; acked < before; acked += 1000 {
		r.onAck(1000)
	}
	if r.window() != before+1000 {
		t.Fatalf("congestion avoidance: %d after a window of ACKs, want %d", r.window(), before+1000)
	}
	r.onTimeout(10000)
	if r.window() != 1000 || r.ssthresh != 5000 {
		t.Fatalf("timeout: cwnd %d ssthresh %d, want 1000 and 5000", r.window(), r.ssthresh)
	}
}

func TestCubicWindow(t *testing.T) {
	c := ccConn()
	q := newCubic(c)
	// Grow to 100 segments in slow start, then lose.
	for q.window() < 100000 {
		q.onAck(1000)
	}
	q.onEnterRecovery(q.window())
	q.onExitRecovery(0)
	if got, want := q.window(), int(float64(100000)*cubicBeta); got < want-1000 || got > want+1000 {
		t.Fatalf("after the loss cwnd %d, want about beta*W = %d", got, want)
	}
	wMax := q.wMax
	// Feed ACKs over simulated time; the window climbs back to W_max
	// around K seconds and then probes beyond it.
	k := 0.0
	var at10 int
	for step := 0; step < 4000; step++ {
		c.sn.now += int64(time.Millisecond)
		for i := 0; i < q.window()/1000/10+1; i++ { // about one window per 10ms RTT
			q.onAck(1000)
		}
		if step == 10 {
			at10 = q.window()
			k = q.k
		}
	}
	if k <= 0 {
		t.Fatalf("K = %v, want positive after a reduction", k)
	}
	if at10 >= int(wMax*1000) {
		t.Fatalf("window %d 10ms after the loss already at W_max %v", at10, wMax*1000)
	}
	if q.window() <= int(wMax*1000) {
		t.Fatalf("window %d after 4s never passed W_max %v (K = %.2fs)", q.window(), wMax*1000, k)
	}
	q.onTimeout(q.window())
	if q.window() != 1000 {
		t.Fatalf("timeout: cwnd %d, want one segment", q.window())
	}
}

func newNewReno(c *TCPConn) *newReno { return newCongestion(withCC(c, "newreno")).(*newReno) }

func newCubic(c *TCPConn) *cubic { return newCongestion(withCC(c, "cubic")).(*cubic) }

// withCC sets the stack's congestion control for newCongestion.
func withCC(c *TCPConn, name string) *TCPConn {
	c.st.cfg.TCP.Congestion = name
	return c
}
