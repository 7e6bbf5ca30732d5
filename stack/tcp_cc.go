package stack

// congestionControl is a sender's congestion window policy. Its methods
// run on the connection's softnet.
type congestionControl interface {
	// window returns the congestion window in bytes.
	window() int
	// onAck is called when acked new bytes are acknowledged outside
	// recovery.
	onAck(acked int)
	// onEnterRecovery is called on the third duplicate ACK (RFC 5681
	// section 3.2) with the bytes in flight.
	onEnterRecovery(flight int)
	// onDupAckInRecovery inflates the window for each further duplicate.
	onDupAckInRecovery()
	// onPartialAck deflates the window by acked bytes (RFC 6582 step 5).
	onPartialAck(acked int)
	// onExitRecovery is called on the ACK that covers the recovery point.
	onExitRecovery(flight int)
	// onTimeout is called on a retransmission timeout with the bytes in
	// flight.
	onTimeout(flight int)
}

// newCongestion returns the connection's congestion control.
// The state lives in the connection (ccState): starting over, as the
// handshake does once the MSS is known, allocates nothing.
func newCongestion(c *TCPConn) congestionControl {
	if c.st.cfg.TCP.Congestion == "newreno" {
		c.ccState.reno = newReno{c: c, cwnd: initialWindow * c.mss, ssthresh: 1 << 30}
		return &c.ccState.reno
	}
	c.ccState.cubic = cubic{c: c, cwnd: initialWindow * c.mss, ssthresh: 1 << 30}
	return &c.ccState.cubic
}

// newReno is RFC 5681 congestion control with RFC 6582 NewReno recovery.
type newReno struct {
	c        *TCPConn
	cwnd     int
	ssthresh int
	acked    int // bytes acked toward the next congestion-avoidance increase
}

// initialWindow is RFC 6928's initial window: 10 segments.
const initialWindow = 10

func (r *newReno) window() int { return r.cwnd }

func (r *newReno) onAck(acked int) {
	mss := r.c.mss
	if r.cwnd < r.ssthresh {
		// Slow start, with RFC 3465's limit of 2*SMSS per ACK.
		r.cwnd += min(acked, 2*mss)
		return
	}
	// Congestion avoidance: one segment per window's worth of ACKs.
	r.acked += acked
	if r.acked >= r.cwnd {
		r.acked -= r.cwnd
		r.cwnd += mss
	}
}

func (r *newReno) onEnterRecovery(flight int) {
	r.ssthresh = max(flight/2, 2*r.c.mss)
	r.cwnd = r.ssthresh + 3*r.c.mss
}

func (r *newReno) onDupAckInRecovery() { r.cwnd += r.c.mss }

func (r *newReno) onPartialAck(acked int) {
	r.cwnd = max(r.cwnd-acked+r.c.mss, r.c.mss)
}

func (r *newReno) onExitRecovery(flight int) {
	r.cwnd = min(r.ssthresh, max(flight, 0)+r.c.mss)
	r.acked = 0
}

func (r *newReno) onTimeout(flight int) {
	r.ssthresh = max(flight/2, 2*r.c.mss)
	r.cwnd = r.c.mss
	r.acked = 0
}
