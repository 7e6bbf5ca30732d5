package stack

import (
	"math"
	"time"
)

// CUBIC constants (RFC 9438 section 4).
const (
	cubicC    = 0.4 // segments per second cubed
	cubicBeta = 0.7
)

// cubic is RFC 9438 congestion control, with NewReno's recovery hooks
// (RFC 6582) for the window inflation during fast recovery.
type cubic struct {
	c        *TCPConn
	cwnd     int // bytes
	ssthresh int
	wMax     float64 // segments, window before the last reduction
	k        float64 // seconds
	epoch    int64   // start of the current congestion-avoidance epoch, softnet ns; 0 = none
	wEst     float64 // RFC 9438 section 4.3 Reno-friendly estimate, segments
	acked    int     // bytes acked toward the next increment
}

func (q *cubic) window() int { return q.cwnd }

func (q *cubic) segs() float64 { return float64(q.cwnd) / float64(q.c.mss) }

func (q *cubic) onAck(acked int) {
	mss := q.c.mss
	if q.cwnd < q.ssthresh {
		q.cwnd += min(acked, 2*mss) // slow start, RFC 3465 limit
		return
	}
	now := q.c.sn.now
	if q.epoch == 0 {
		q.epoch = now
		cw := q.segs()
		if q.wMax < cw {
			q.wMax = cw
			q.k = 0
		} else {
			q.k = math.Cbrt(q.wMax * (1 - cubicBeta) / cubicC)
		}
		q.wEst = cw
	}
	t := float64(now-q.epoch)/float64(time.Second) + q.rttSeconds()
	target := cubicC*math.Pow(t-q.k, 3) + q.wMax
	// Reno-friendly estimate (RFC 9438 section 4.3).
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	q.wEst += alpha * float64(acked) / float64(q.cwnd)
	cw := q.segs()
	if q.wEst > target {
		target = q.wEst
	}
	if target > 1.5*cw {
		target = 1.5 * cw // RFC 9438 section 4.2: at most 50% per RTT
	}
	if target > cw {
		// Grow by (target - cwnd)/cwnd segments per acked segment.
		q.acked += int(float64(acked) * (target - cw) / cw)
		if q.acked >= mss {
			q.cwnd += q.acked / mss * mss
			q.acked %= mss
		}
	}
}

func (q *cubic) rttSeconds() float64 {
	if q.c.srtt > 0 {
		return q.c.srtt.Seconds()
	}
	return 0
}

// reduce applies the multiplicative decrease with fast convergence
// (RFC 9438 sections 4.6 and 4.7).
func (q *cubic) reduce() {
	cw := q.segs()
	if cw < q.wMax {
		q.wMax = cw * (1 + cubicBeta) / 2
	} else {
		q.wMax = cw
	}
	q.ssthresh = max(int(float64(q.cwnd)*cubicBeta), 2*q.c.mss)
	q.epoch = 0
	q.acked = 0
}

func (q *cubic) onEnterRecovery(flight int) {
	q.reduce()
	q.cwnd = q.ssthresh + 3*q.c.mss
}

func (q *cubic) onDupAckInRecovery() { q.cwnd += q.c.mss }

func (q *cubic) onPartialAck(acked int) {
	q.cwnd = max(q.cwnd-acked+q.c.mss, q.c.mss)
}

func (q *cubic) onExitRecovery(flight int) {
	q.cwnd = q.ssthresh
}

func (q *cubic) onTimeout(flight int) {
	q.reduce()
	q.cwnd = q.c.mss
}
