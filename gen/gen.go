package gen

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// warmUpTimeout bounds the ping that resolves the target's MAC before a
// run.
const warmUpTimeout = time.Second

// workload is the TCP or the UDP generator.
type workload interface {
	// run generates from t0 for the run's Duration, waits for what is in
	// flight, and returns the starts or datagrams it made and those the
	// schedule asked for (0 without a rate).
	run(t0 time.Time) (made, want uint64)
	// intervalLatencies fills r with the latencies since the last call.
	intervalLatencies(r *Report)
	// totalLatencies fills r with the latencies of the run.
	totalLatencies(r *Report)
}

// Run runs the generator on st (started, with an interface that reaches
// cfg.To) until cfg.Duration has passed and what was in flight has ended,
// or until ctx is done. It calls cfg.OnInterval every cfg.Interval and
// returns the final report; Report.OK says whether the run held its rate
// with nothing failed. A bad cfg returns an error wrapping ErrConfig.
func Run(ctx context.Context, st *stack.Stack, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	var (
		c    counts
		errs firstErrors
		w    workload
		udp  *udpGen
	)
	if cfg.To.Proto == "tcp" {
		w = newTCPGen(st, cfg, &c, &errs, ctx)
	} else {
		if udp, err = newUDPGen(st, cfg, &c, &errs, ctx); err != nil {
			return Report{}, err
		}
		defer udp.close()
		w = udp
	}
	type cpuSnap struct{ proc, softnets time.Duration }
	cpuNow := func() cpuSnap {
		sn, _ := st.ThreadCPU()
		return cpuSnap{processCPU(), sn}
	}
	snap := func() (countsSnap, stack.Counters) {
		s := c.snap()
		if udp != nil {
			s.completed, s.received, _ = udp.received()
			s.attempted, s.sent = udp.sentTotal(), udp.sentBytes()
		}
		return s, st.Counters()
	}
	report := func(typ string, secs float64, cs, cs0 countsSnap, sc, sc0 stack.Counters, cpu, cpu0 cpuSnap) Report {
		r := Report{Type: typ, Proto: cfg.To.Proto, Seconds: secs, Rate: cfg.Rate}
		cs.sub(cs0).fill(&r)
		r.CPUSeconds = (cpu.proc - cpu0.proc).Seconds()
		r.SoftnetCPUSeconds = (cpu.softnets - cpu0.softnets).Seconds()
		if r.Attempted > 0 {
			r.CPUPerConnUs = r.CPUSeconds * 1e6 / float64(r.Attempted)
		}
		if udp != nil {
			// A datagram is attempted and answered: no connections.
			r.Established, r.CPS, r.RPS = 0, 0, 0
		}
		r.Retransmits = sc[stack.TCPRetransmits] - sc0[stack.TCPRetransmits]
		r.Drops = sc.Drops() - sc0.Drops()
		if secs > 0 {
			r.PPS = float64(sc[stack.TxPackets]-sc0[stack.TxPackets]+sc[stack.RxPackets]-sc0[stack.RxPackets]) / secs
		}
		return r
	}

	// One ping before the clock starts resolves the target's (or the
	// gateway's) MAC, so that the first datagrams of a fast UDP run are
	// not queued, or dropped, waiting for ARP. A target that does not
	// answer pings costs up to warmUpTimeout; a static neighbour needs
	// no resolution, and behind one (a sink) nothing may answer.
	if !st.StaticNextHop(cfg.To.Addr.Addr()) {
		st.Ping(cfg.To.Addr.Addr(), 8, min(cfg.Timeout, warmUpTimeout))
	}
	cs0, sc0 := snap()
	cpu0 := cpuNow()
	t0 := time.Now()
	type result struct{ made, want uint64 }
	done := make(chan result, 1)
	go func() {
		made, want := w.run(t0)
		done <- result{made, want}
	}()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	lastCS, lastSC, lastCPU, last := cs0, sc0, cpu0, t0
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case now := <-tick.C:
			cs, sc := snap()
			cpu := cpuNow()
			r := report("interval", now.Sub(last).Seconds(), cs, lastCS, sc, lastSC, cpu, lastCPU)
			w.intervalLatencies(&r)
			if cfg.OnInterval != nil {
				cfg.OnInterval(r)
			}
			if cfg.Live != nil {
				t := report("running", now.Sub(t0).Seconds(), cs, cs0, sc, sc0, cpu, cpu0)
				w.totalLatencies(&t)
				cfg.Live.store(t)
			}
			lastCS, lastSC, lastCPU, last = cs, sc, cpu, now
		}
	}
	cs, sc := snap()
	elapsed := min(time.Since(t0), cfg.Duration)
	r := report("final", elapsed.Seconds(), cs, cs0, sc, sc0, cpuNow(), cpu0)
	if res.made < res.want && ctx.Err() == nil {
		r.Missed += res.want - res.made
	}
	if udp != nil {
		_, _, bad := udp.received()
		r.Errors.Verify += bad
		r.Failed = r.Errors.Total()
		if !cfg.NoReply && r.Completed < r.Attempted {
			r.Lost = r.Attempted - r.Completed
		}
	}
	w.totalLatencies(&r)
	r.OK, r.Why = verdict(r, cfg, &errs, ctx)
	cfg.Live.store(r)
	return r, nil
}

// verdict says whether r held its rate with nothing failed, and if not,
// why, one reason a line.
func verdict(r Report, cfg Config, errs *firstErrors, ctx context.Context) (bool, []string) {
	var why []string
	if ctx.Err() != nil {
		why = append(why, "interrupted before the end of the run")
	}
	if r.Missed > 0 {
		why = append(why, fmt.Sprintf("rate not held: %d of %d scheduled %s missed (every one of --conns %d busy, or the generator too slow)",
			r.Missed, scheduledBy(cfg.Duration, cfg.Rate), unit(cfg), cfg.Conns))
		if cfg.To.Proto == "udp" {
			why[len(why)-1] = fmt.Sprintf("rate not held: %d of the scheduled datagrams not sent by the end (the softnets too slow, or their pools empty)", r.Missed)
		}
	}
	e := [numReasons]uint64{r.Errors.Refused, r.Errors.Reset, r.Errors.Timeout, r.Errors.Verify, r.Errors.Other}
	for i, n := range e {
		if n == 0 {
			continue
		}
		s := fmt.Sprintf("%d %s failed: %s", n, unit(cfg), Reason(i))
		if first := errs.get(Reason(i)); first != "" {
			s += " (first: " + first + ")"
		}
		why = append(why, s)
	}
	if r.Lost > 0 {
		why = append(why, fmt.Sprintf("%d of %d datagrams never answered", r.Lost, r.Attempted))
	}
	if cfg.To.Proto == "tcp" && r.Attempted != r.Completed+r.Failed {
		// Every connection ends completed or failed: a run whose counts
		// do not add up is a generator bug, and says so.
		why = append(why, fmt.Sprintf("counts do not add up: %d attempted, %d completed, %d failed", r.Attempted, r.Completed, r.Failed))
	}
	return len(why) == 0, why
}

func unit(cfg Config) string {
	if cfg.To.Proto == "tcp" {
		return "connections"
	}
	return "datagrams"
}

// processCPU returns the process's CPU time, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
