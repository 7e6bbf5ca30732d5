package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsplice/netsplice/gen"
	"github.com/netsplice/netsplice/internal/hist"
)

// The generator's series: the run's totals so far, read at scrape time
// from gen.Live (updated every --interval).
var (
	genAttempted   = desc("gen_attempted_total", "Connections (TCP) or datagrams (UDP) the generator started.", "proto")
	genEstablished = desc("gen_established_total", "TCP connections the generator established.", "proto")
	genCompleted   = desc("gen_completed_total", "TCP connections completed with every response verified, or UDP datagrams answered.", "proto")
	genFailed      = desc("gen_failed_total", "Connections or datagrams that failed, by reason.", "proto", "reason")
	genRequests    = desc("gen_requests_total", "TCP responses received whole.", "proto")
	genBytes       = desc("gen_bytes_total", "Payload bytes the generator sent and received.", "proto", "direction")
	genMissed      = desc("gen_missed_total", "Scheduled starts or datagrams the generator could not make in time.", "proto")
	genRate        = desc("gen_rate_target", "The rate asked for, per second (0: as fast as possible).", "proto")
	genLatency     = desc("gen_latency_seconds", "Latency quantiles of the run so far; corrected=true counts from the schedule's intended time.", "proto", "kind", "corrected", "quantile")
)

// genCollector reports one generator run.
type genCollector struct{ live *gen.Live }

// AddGenerator exports the totals of a generator run to /metrics.
func (m *Metrics) AddGenerator(l *gen.Live) {
	m.reg.MustRegister(&genCollector{live: l})
}

func (c *genCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{genAttempted, genEstablished, genCompleted, genFailed, genRequests, genBytes, genMissed, genRate, genLatency} {
		ch <- d
	}
}

func (c *genCollector) Collect(ch chan<- prometheus.Metric) {
	r, ok := c.live.Totals()
	if !ok {
		return
	}
	p := r.Proto
	counter(ch, genAttempted, r.Attempted, p)
	counter(ch, genEstablished, r.Established, p)
	counter(ch, genCompleted, r.Completed, p)
	for reason, n := range map[string]uint64{"refused": r.Errors.Refused, "reset": r.Errors.Reset, "timeout": r.Errors.Timeout, "verify": r.Errors.Verify, "other": r.Errors.Other} {
		counter(ch, genFailed, n, p, reason)
	}
	counter(ch, genRequests, r.Requests, p)
	counter(ch, genBytes, r.Sent, p, "sent")
	counter(ch, genBytes, r.Received, p, "received")
	counter(ch, genMissed, r.Missed, p)
	gauge(ch, genRate, r.Rate, p)
	for _, l := range []struct {
		kind, corrected string
		s               *hist.SummaryMicros
	}{
		{"connect", "true", r.Latency.Connect}, {"connect", "false", r.Latency.ConnectUncorrected},
		{"response", "true", r.Latency.Response}, {"response", "false", r.Latency.ResponseUncorrected},
		{"rtt", "true", r.Latency.RTT}, {"rtt", "false", r.Latency.RTTUncorrected},
	} {
		if l.s == nil {
			continue
		}
		for _, q := range []struct {
			q string
			v float64
		}{{"0.5", l.s.P50}, {"0.9", l.s.P90}, {"0.99", l.s.P99}, {"0.999", l.s.P999}, {"1", l.s.Max}} {
			gauge(ch, genLatency, q.v/1e6, p, l.kind, l.corrected, q.q)
		}
	}
}
