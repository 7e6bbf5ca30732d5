package gen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/internal/hist"
	"github.com/netsplice/netsplice/stack"
)

// Reason is why a connection failed: each failure counts under one.
type Reason int

// The failure reasons.
const (
	Refused Reason = iota // the peer answered the SYN with a reset
	Reset                 // the connection was reset after it was set up
	Timeout               // a connect or a request took longer than Timeout
	Verify                // the response was short, long or not the pattern
	Other                 // anything else (no route, no free port, ...)
	numReasons
)

var reasonNames = [numReasons]string{"refused", "reset", "timeout", "verify", "other"}

func (r Reason) String() string {
	if r < 0 || r >= numReasons {
		return fmt.Sprintf("reason(%d)", int(r))
	}
	return reasonNames[r]
}

// verifyError is a response that did not match what was asked for.
type verifyError struct{ msg string }

func (e *verifyError) Error() string { return "verify: " + e.msg }

func verifyErr(format string, a ...any) error { return &verifyError{fmt.Sprintf(format, a...)} }

// reasonOf classifies err.
func reasonOf(err error) Reason {
	var ve *verifyError
	switch {
	case errors.As(err, &ve):
		return Verify
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return Timeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Verify
	}
	return Other
}

// Errors counts failures by reason.
type Errors struct {
	Refused uint64 `json:"refused"`
	Reset   uint64 `json:"reset"`
	Timeout uint64 `json:"timeout"`
	Verify  uint64 `json:"verify"`
	Other   uint64 `json:"other"`
}

// Total returns the sum over reasons.
func (e Errors) Total() uint64 { return e.Refused + e.Reset + e.Timeout + e.Verify + e.Other }

// Latencies are the latency summaries of a report, in microseconds; a
// figure the run did not measure is nil.
type Latencies struct {
	Connect             *hist.SummaryMicros `json:"connect,omitempty"`
	ConnectUncorrected  *hist.SummaryMicros `json:"connect_uncorrected,omitempty"`
	Response            *hist.SummaryMicros `json:"response,omitempty"`
	ResponseUncorrected *hist.SummaryMicros `json:"response_uncorrected,omitempty"`
	RTT                 *hist.SummaryMicros `json:"rtt,omitempty"`
	RTTUncorrected      *hist.SummaryMicros `json:"rtt_uncorrected,omitempty"`
}

// Report is one interval's or the whole run's figures. Rates are per
// second over Seconds. Byte counts are payload bytes.
type Report struct {
	// Type is "interval" or "final".
	Type    string  `json:"type"`
	Proto   string  `json:"proto"`
	Seconds float64 `json:"seconds"`
	// TCP: connections attempted, established and completed (every
	// request answered and verified, closed cleanly), and failed.
	// UDP: datagrams sent as attempted, answered as completed.
	Attempted   uint64 `json:"attempted"`
	Established uint64 `json:"established"`
	Completed   uint64 `json:"completed"`
	Failed      uint64 `json:"failed"`
	Errors      Errors `json:"errors"`
	// Requests is TCP responses received whole.
	Requests uint64  `json:"requests"`
	CPS      float64 `json:"cps"`
	RPS      float64 `json:"rps"`
	Gbps     float64 `json:"gbps"`
	Sent     uint64  `json:"sent"`
	Received uint64  `json:"received"`
	// PPS is the stack's packets sent and received per second.
	PPS         float64   `json:"pps"`
	Latency     Latencies `json:"latency_us"`
	Retransmits uint64    `json:"retransmits"`
	// Drops is what the generator's own stack dropped (every drop_*
	// counter: a full ring, no buffer, ARP pending, ...), to tell the
	// generator's losses from the network's.
	Drops uint64 `json:"drops"`
	// Rate is the target rate (0: as fast as possible); Missed counts the
	// scheduled starts or datagrams the generator could not make in time.
	Rate   float64 `json:"rate"`
	Missed uint64  `json:"missed"`
	// Lost is UDP datagrams sent and never answered (final report).
	Lost uint64 `json:"lost,omitempty"`
	// CPUSeconds is the process's CPU time (user and system) over the
	// report's time, SoftnetCPUSeconds the part of it on the stack's
	// softnet threads (0 where the softnets do not hold threads of their
	// own: stack.Config.LockThreads); CPUPerConnUs is CPUSeconds per TCP connection
	// attempted (UDP: per datagram), in microseconds. In one process with
	// its server (--memwire) the server's CPU is included.
	CPUSeconds        float64 `json:"cpu_seconds"`
	SoftnetCPUSeconds float64 `json:"softnet_cpu_seconds"`
	CPUPerConnUs      float64 `json:"cpu_us_per_conn"`
	// OK and Why, final report only: the run held its rate and nothing
	// failed; else why not.
	OK  bool     `json:"ok"`
	Why []string `json:"why,omitempty"`
}

// Line is r as a human-readable line.
func (r Report) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %.1fs:", r.Type, r.Proto, r.Seconds)
	if r.Proto == "tcp" {
		fmt.Fprintf(&b, " %d attempted, %d established, %d completed, %d failed; %.0f conn/s, %.0f req/s, %.3f Gbit/s",
			r.Attempted, r.Established, r.Completed, r.Failed, r.CPS, r.RPS, r.Gbps)
		if l := r.Latency.Connect; l != nil {
			fmt.Fprintf(&b, "; connect p50 %.0fus p99 %.0fus", l.P50, l.P99)
		}
		if l := r.Latency.Response; l != nil {
			fmt.Fprintf(&b, "; response p50 %.0fus p99 %.0fus max %.0fus", l.P50, l.P99, l.Max)
		}
	} else {
		fmt.Fprintf(&b, " %d sent, %d answered; %.0f pkt/s, %.3f Gbit/s", r.Attempted, r.Completed, r.PPS, r.Gbps)
		if l := r.Latency.RTT; l != nil {
			fmt.Fprintf(&b, "; rtt p50 %.0fus p99 %.0fus max %.0fus", l.P50, l.P99, l.Max)
		}
	}
	if r.Retransmits > 0 {
		fmt.Fprintf(&b, "; %d retransmits", r.Retransmits)
	}
	if r.Type == "final" {
		per := "datagram"
		if r.Proto == "tcp" {
			per = "connection"
		}
		fmt.Fprintf(&b, "; CPU %.2fs (%.1fus per %s)", r.CPUSeconds, r.CPUPerConnUs, per)
	}
	if r.Missed > 0 {
		fmt.Fprintf(&b, "; %d missed", r.Missed)
	}
	if r.Lost > 0 {
		fmt.Fprintf(&b, "; %d lost", r.Lost)
	}
	if r.Drops > 0 {
		fmt.Fprintf(&b, "; %d dropped by this stack", r.Drops)
	}
	if e := r.Errors; e.Total() > 0 {
		fmt.Fprintf(&b, "; errors: refused %d reset %d timeout %d verify %d other %d", e.Refused, e.Reset, e.Timeout, e.Verify, e.Other)
	}
	if r.Type == "final" {
		if r.OK {
			b.WriteString("; ok")
		} else {
			fmt.Fprintf(&b, "; NOT OK: %s", strings.Join(r.Why, "; "))
		}
	}
	return b.String()
}

// counts are the run's counters, added to by every worker.
type counts struct {
	attempted, established, completed, requests atomic.Uint64
	sent, received, missed                      atomic.Uint64
	errors                                      [numReasons]atomic.Uint64
}

// countsSnap is counts read at one moment.
type countsSnap struct {
	attempted, established, completed, requests uint64
	sent, received, missed                      uint64
	errors                                      [numReasons]uint64
}

func (c *counts) snap() countsSnap {
	s := countsSnap{
		attempted: c.attempted.Load(), established: c.established.Load(), completed: c.completed.Load(),
		requests: c.requests.Load(), sent: c.sent.Load(), received: c.received.Load(), missed: c.missed.Load(),
	}
	for i := range s.errors {
		s.errors[i] = c.errors[i].Load()
	}
	return s
}

func (s countsSnap) sub(o countsSnap) countsSnap {
	d := countsSnap{
		attempted: s.attempted - o.attempted, established: s.established - o.established, completed: s.completed - o.completed,
		requests: s.requests - o.requests, sent: s.sent - o.sent, received: s.received - o.received, missed: s.missed - o.missed,
	}
	for i := range d.errors {
		d.errors[i] = s.errors[i] - o.errors[i]
	}
	return d
}

func (s countsSnap) fill(r *Report) {
	r.Attempted, r.Established, r.Completed, r.Requests = s.attempted, s.established, s.completed, s.requests
	r.Sent, r.Received, r.Missed = s.sent, s.received, s.missed
	r.Errors = Errors{Refused: s.errors[Refused], Reset: s.errors[Reset], Timeout: s.errors[Timeout], Verify: s.errors[Verify], Other: s.errors[Other]}
	r.Failed = r.Errors.Total()
	if r.Seconds > 0 {
		r.CPS = float64(s.attempted) / r.Seconds
		r.RPS = float64(s.requests) / r.Seconds
		r.Gbps = float64(s.sent+s.received) * 8 / r.Seconds / 1e9
	}
}

// histMax is the longest latency the histograms hold; longer ones are
// clamped to it (and are failures: Timeout is shorter in any sane run).
const histMax = 10 * time.Minute

// latencyKind indexes a latency set.
type latencyKind int

const (
	connectLat latencyKind = iota
	connectRawLat
	responseLat
	responseRawLat
	rttLat
	rttRawLat
	numLatencies
)

// latencySet is one histogram per latency kind.
type latencySet [numLatencies]*hist.Histogram

func newLatencySet() *latencySet {
	var s latencySet
	for i := range s {
		s[i] = hist.New(histMax)
	}
	return &s
}

func (s *latencySet) merge(o *latencySet) {
	for i := range s {
		s[i].Merge(o[i]) // one layout: cannot fail
	}
}

func (s *latencySet) reset() {
	for _, h := range s {
		h.Reset()
	}
}

func (s *latencySet) fill(r *Report) {
	sum := func(k latencyKind) *hist.SummaryMicros {
		if s[k].Count() == 0 {
			return nil
		}
		m := s[k].Summary().Micros()
		return &m
	}
	r.Latency = Latencies{
		Connect: sum(connectLat), ConnectUncorrected: sum(connectRawLat),
		Response: sum(responseLat), ResponseUncorrected: sum(responseRawLat),
		RTT: sum(rttLat), RTTUncorrected: sum(rttRawLat),
	}
}

// softnetLatencies are each softnet's latency sets, for the interval and
// for the run: written on that softnet without a lock, merged for a
// report through Stack.Call on each softnet.
type softnetLatencies struct {
	st  *stack.Stack
	per []softnetLatency
	agg *latencySet // the reporting goroutine's
}

type softnetLatency struct {
	interval, total *latencySet
	_               [48]byte
}

func newSoftnetLatencies(st *stack.Stack) *softnetLatencies {
	l := &softnetLatencies{st: st, per: make([]softnetLatency, st.NumSoftnets()), agg: newLatencySet()}
	for i := range l.per {
		l.per[i] = softnetLatency{interval: newLatencySet(), total: newLatencySet()}
	}
	return l
}

// record2 records two latencies of one event, on softnet sn.
func (l *softnetLatencies) record2(sn *stack.Softnet, k1 latencyKind, d1 time.Duration, k2 latencyKind, d2 time.Duration) {
	p := &l.per[sn.ID()]
	p.interval[k1].Record(d1)
	p.interval[k2].Record(d2)
	p.total[k1].Record(d1)
	p.total[k2].Record(d2)
}

// intervalInto fills r with the latencies since the last call, emptying
// the softnets' interval sets.
func (l *softnetLatencies) intervalInto(r *Report) {
	l.agg.reset()
	for i := range l.per {
		p := &l.per[i]
		l.st.Call(l.st.Softnet(i), func() {
			l.agg.merge(p.interval)
			p.interval.reset()
		})
	}
	l.agg.fill(r)
}

// totalInto fills r with the latencies of the run so far.
func (l *softnetLatencies) totalInto(r *Report) {
	l.agg.reset()
	for i := range l.per {
		p := &l.per[i]
		l.st.Call(l.st.Softnet(i), func() { l.agg.merge(p.total) })
	}
	l.agg.fill(r)
}

// firstErrors keeps the first error of each reason, for the final report.
type firstErrors struct {
	mu    sync.Mutex
	first [numReasons]string
}

func (f *firstErrors) note(r Reason, err error) {
	f.mu.Lock()
	if f.first[r] == "" {
		f.first[r] = err.Error()
	}
	f.mu.Unlock()
}

func (f *firstErrors) get(r Reason) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first[r]
}

// errTimeout is a connect, request or close that made no progress within
// Config.Timeout; errNoBuffer a request the softnet's pool had no buffer
// for.
var (
	errTimeout  = fmt.Errorf("no progress within the timeout: %w", os.ErrDeadlineExceeded)
	errNoBuffer = fmt.Errorf("no packet buffer: %w", syscall.ENOBUFS)
)

// Live holds a run's totals so far (Config.Live): Run updates it every
// interval and at the end; any goroutine may read it.
type Live struct {
	mu  sync.Mutex
	r   Report
	set bool
}

// Totals returns the totals of the run so far, and false before the first
// interval ended.
func (l *Live) Totals() (Report, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r, l.set
}

func (l *Live) store(r Report) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.r, l.set = r, true
	l.mu.Unlock()
}
