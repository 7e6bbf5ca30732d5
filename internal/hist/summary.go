package hist

import "time"

// Summary holds the quantiles that netsplice gen reports for one latency.
type Summary struct {
	P50, P90, P99, P999, Max time.Duration
	Count                    uint64
}

// SummaryMicros is a Summary in microseconds, the shape written as JSON
// under latency_us (for example latency_us.connect.p99).
type SummaryMicros struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// summaryQ are the quantiles of a Summary, in the order of its fields.
var summaryQ = [...]float64{0.5, 0.9, 0.99, 0.999, 1}

// Summary returns the 0.5, 0.9, 0.99 and 0.999 quantiles, the max and the
// count, as Quantile would, in one pass over the counts. An empty
// histogram returns a zero Summary.
func (h *Histogram) Summary() Summary {
	if h.count == 0 {
		return Summary{}
	}
	var ranks [len(summaryQ)]uint64
	for i, q := range summaryQ {
		ranks[i] = rank(q, h.count)
	}
	var out [len(summaryQ)]time.Duration
	h.quantiles(ranks[:], out[:])
	return Summary{
		P50: out[0], P90: out[1], P99: out[2], P999: out[3], Max: out[4],
		Count: h.count,
	}
}

// Micros returns s in microseconds, as float64, for JSON output.
func (s Summary) Micros() SummaryMicros {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return SummaryMicros{
		P50: us(s.P50), P90: us(s.P90), P99: us(s.P99), P999: us(s.P999), Max: us(s.Max),
	}
}
