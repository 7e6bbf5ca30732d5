package hist

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// testQ are the quantiles checked against exact ones, including those of
// Summary.
var testQ = []float64{0, 0.001, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1}

// exactQuantile returns the ceil(q*n)-th smallest (1-based, at least the
// first) of the sorted values: the rank convention Quantile documents.
func exactQuantile(sorted []int64, q float64) int64 {
	q = min(max(q, 0), 1)
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(r, 1), len(sorted))-1]
}

// exactMean returns the mean of vs rounded down, computed with big.Int.
func exactMean(vs []int64) int64 {
	if len(vs) == 0 {
		return 0
	}
	sum := new(big.Int)
	for _, v := range vs {
		sum.Add(sum, big.NewInt(v))
	}
	return sum.Quo(sum, big.NewInt(int64(len(vs)))).Int64()
}

// withinPrecision reports whether got is a correct report of want: not
// below it and above it by at most want/1024.
func withinPrecision(got, want int64) bool {
	if got < want {
		return false
	}
	d := new(big.Int).Mul(big.NewInt(got-want), big.NewInt(1024))
	return d.Cmp(big.NewInt(want)) <= 0
}

// checkAgainst checks every statistic of h against the values it holds
// (after clamping), which it sorts in place.
func checkAgainst(t *testing.T, h *Histogram, vs []int64) {
	t.Helper()
	slices.Sort(vs)
	if got, want := h.Count(), uint64(len(vs)); got != want {
		t.Fatalf("Count: got %d, want %d", got, want)
	}
	if len(vs) == 0 {
		return
	}
	if got, want := int64(h.Min()), vs[0]; got != want {
		t.Errorf("Min: got %d, want %d", got, want)
	}
	if got, want := int64(h.Max()), vs[len(vs)-1]; got != want {
		t.Errorf("Max: got %d, want %d", got, want)
	}
	if got, want := int64(h.Mean()), exactMean(vs); got != want {
		t.Errorf("Mean: got %d, want %d", got, want)
	}
	for _, q := range testQ {
		got, want := int64(h.Quantile(q)), exactQuantile(vs, q)
		if !withinPrecision(got, want) {
			t.Errorf("Quantile(%v): got %d, want %d within 1/1024", q, got, want)
		}
	}
	if got, want := h.Quantile(0), h.Min(); got != want {
		t.Errorf("Quantile(0): got %v, want Min %v", got, want)
	}
	if got, want := h.Quantile(1), h.Max(); got != want {
		t.Errorf("Quantile(1): got %v, want Max %v", got, want)
	}
	s := h.Summary()
	want := Summary{
		P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99),
		P999: h.Quantile(0.999), Max: h.Max(), Count: h.Count(),
	}
	if s != want {
		t.Errorf("Summary: got %+v, want %+v", s, want)
	}
}

func TestLayout(t *testing.T) {
	h := New(math.MaxInt64)
	if got, want := len(h.counts), 55296; got != want {
		t.Fatalf("counts for max MaxInt64: got %d, want %d", got, want)
	}
	prevHigh := int64(-1)
	for i := range h.counts {
		lo, hi := prevHigh+1, highest(i)
		if hi < lo {
			t.Fatalf("index %d: highest %d below lowest %d", i, hi, lo)
		}
		if got := index(uint64(lo)); got != i {
			t.Fatalf("index(%d): got %d, want %d", lo, got, i)
		}
		if got := index(uint64(hi)); got != i {
			t.Fatalf("index(%d): got %d, want %d", hi, got, i)
		}
		if lo < subCount && lo != hi {
			t.Fatalf("index %d: [%d, %d] is not exact below %d", i, lo, hi, subCount)
		}
		if (hi-lo)*1024 > lo {
			t.Fatalf("index %d: [%d, %d] wider than 1/1024 of its lowest", i, lo, hi)
		}
		prevHigh = hi
	}
	if prevHigh != math.MaxInt64 {
		t.Fatalf("last index ends at %d, want %d", prevHigh, int64(math.MaxInt64))
	}
}

func TestMemory(t *testing.T) {
	for _, max := range []time.Duration{time.Hour, math.MaxInt64} {
		h := New(max)
		if got := len(h.counts) * 8; got >= 1<<20 {
			t.Errorf("New(%v): %d bytes of counts, want below 1 MiB", max, got)
		}
	}
	if got, want := len(New(time.Hour).counts), 33421; got != want {
		t.Errorf("New(time.Hour): got %d counts, want %d", got, want)
	}
}

func TestExactBelow2048(t *testing.T) {
	h := New(time.Hour)
	vs := make([]int64, subCount)
	for i := range vs {
		vs[i] = int64(i)
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	for _, v := range vs {
		h.Record(time.Duration(v))
	}
	for r := 1; r <= subCount; r++ {
		q := float64(r) / subCount
		if got, want := h.Quantile(q), time.Duration(r-1); got != want {
			t.Fatalf("Quantile(%v): got %d, want %d", q, got, want)
		}
	}
	checkAgainst(t, h, vs)
}

func TestRankConvention(t *testing.T) {
	// Values 1..100 ns are exact, so the quantile is the value at rank
	// ceil(q*100), at least 1.
	h := New(time.Hour)
	for v := 100; v >= 1; v-- {
		h.Record(time.Duration(v))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0, 1}, {0.001, 1}, {0.01, 1}, {0.011, 2}, {0.5, 50}, {0.501, 51},
		{0.9, 90}, {0.99, 99}, {0.991, 100}, {0.999, 100}, {1, 100},
	} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v): got %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestEachValueWithinPrecision(t *testing.T) {
	// v is recorded twice below a larger value, so that the median is
	// reported from v's sub-bucket and not clamped to Max.
	var vs []int64
	for e := 0; e < 34; e++ {
		p := int64(1) << e
		vs = append(vs, p-1, p, p+1, 3*p/2, 2*p-1)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		vs = append(vs, r.Int64N(int64(10*time.Second)))
	}
	h := New(time.Hour)
	for _, v := range vs {
		if v < 0 {
			continue
		}
		h.Reset()
		h.Record(time.Duration(v))
		h.Record(time.Duration(v))
		h.Record(time.Hour)
		if got := int64(h.Quantile(0.5)); !withinPrecision(got, v) {
			t.Errorf("value %d reported as %d", v, got)
		}
		if v < subCount {
			if got := int64(h.Quantile(0.5)); got != v {
				t.Errorf("value %d reported as %d, want exact", v, got)
			}
		}
	}
}

func TestDistributions(t *testing.T) {
	const (
		lo = int64(time.Microsecond)
		hi = int64(10 * time.Second)
		n  = 100000
	)
	clampRange := func(v float64) int64 {
		return min(max(int64(v), lo), hi)
	}
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) int64
	}{
		{"uniform", func(r *rand.Rand) int64 { return lo + r.Int64N(hi-lo+1) }},
		{"exponential", func(r *rand.Rand) int64 {
			return clampRange(r.ExpFloat64() * float64(2*time.Millisecond))
		}},
		{"bimodal", func(r *rand.Rand) int64 {
			if r.IntN(10) == 0 {
				return clampRange(r.NormFloat64()*float64(5*time.Millisecond) + float64(50*time.Millisecond))
			}
			return clampRange(r.NormFloat64()*float64(30*time.Microsecond) + float64(200*time.Microsecond))
		}},
		{"loguniform", func(r *rand.Rand) int64 {
			return clampRange(math.Exp(math.Log(float64(lo)) + r.Float64()*math.Log(float64(hi/lo))))
		}},
	} {
		for seed := uint64(1); seed <= 3; seed++ {
			r := rand.New(rand.NewPCG(seed, 0x6e73))
			h := New(time.Hour)
			vs := make([]int64, n)
			for i := range vs {
				vs[i] = tc.gen(r)
				h.Record(time.Duration(vs[i]))
			}
			t.Run(tc.name, func(t *testing.T) {
				checkAgainst(t, h, vs)
				if h.Clamped() != 0 {
					t.Errorf("Clamped: got %d, want 0", h.Clamped())
				}
			})
		}
	}
}

func TestClamp(t *testing.T) {
	h := New(time.Second)
	for _, d := range []time.Duration{-5, -1, 0, time.Second, time.Second + 1, time.Hour, math.MaxInt64, math.MinInt64, 7} {
		h.Record(d)
	}
	if got, want := h.Clamped(), uint64(6); got != want {
		t.Errorf("Clamped: got %d, want %d", got, want)
	}
	checkAgainst(t, h, []int64{0, 0, 0, int64(time.Second), int64(time.Second), int64(time.Second),
		int64(time.Second), 0, 7})
}

func TestMeanLarge(t *testing.T) {
	// The sum of these overflows 64 bits many times over.
	h := New(math.MaxInt64)
	var vs []int64
	for i := range 1000 {
		v := int64(math.MaxInt64 - i)
		vs = append(vs, v)
		h.Record(time.Duration(v))
	}
	vs = append(vs, 3)
	h.Record(3)
	checkAgainst(t, h, vs)

	// Merge carries between the words of the sums: each half sums to
	// just under 2^64.
	a, b := New(math.MaxInt64), New(math.MaxInt64)
	for range 2 {
		a.Record(math.MaxInt64)
		b.Record(math.MaxInt64 - 1)
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, a, []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - 1})
}

func TestEmpty(t *testing.T) {
	h := New(time.Hour)
	for name, got := range map[string]time.Duration{
		"Min": h.Min(), "Max": h.Max(), "Mean": h.Mean(),
		"Quantile(0)": h.Quantile(0), "Quantile(0.5)": h.Quantile(0.5), "Quantile(1)": h.Quantile(1),
	} {
		if got != 0 {
			t.Errorf("%s: got %v, want 0", name, got)
		}
	}
	if h.Count() != 0 || h.Clamped() != 0 {
		t.Errorf("Count, Clamped: got %d, %d, want 0, 0", h.Count(), h.Clamped())
	}
	if got := h.Summary(); got != (Summary{}) {
		t.Errorf("Summary: got %+v, want zero", got)
	}
	if got := h.Summary().Micros(); got != (SummaryMicros{}) {
		t.Errorf("Micros: got %+v, want zero", got)
	}
}

func TestQuantileOutOfRange(t *testing.T) {
	h := New(time.Hour)
	for _, d := range []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Millisecond} {
		h.Record(d)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{-1, h.Min()}, {math.Inf(-1), h.Min()}, {math.NaN(), h.Min()},
		{2, h.Max()}, {math.Inf(1), h.Max()},
	} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v): got %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestReset(t *testing.T) {
	h := New(time.Hour)
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		h.Record(time.Duration(r.Int64N(int64(2 * time.Hour))))
	}
	h.Record(-1)
	h.Reset()
	if !reflect.DeepEqual(h, New(time.Hour)) {
		t.Fatalf("after Reset: got count %d, clamped %d, min %d, max %d; want an empty histogram",
			h.Count(), h.Clamped(), h.min, h.max)
	}
	h.Record(time.Millisecond)
	checkAgainst(t, h, []int64{int64(time.Millisecond)})
}

func TestMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b, both := New(time.Hour), New(time.Hour), New(time.Hour)
	var vs []int64
	for i := range 20000 {
		v := time.Duration(r.Int64N(int64(time.Second)))
		if i%2 == 0 {
			v /= 1000 // a holds smaller values than b
			a.Record(v)
		} else {
			b.Record(v)
		}
		both.Record(v)
		vs = append(vs, int64(v))
	}
	for _, d := range []time.Duration{-3, 2 * time.Hour} {
		b.Record(d)
		both.Record(d)
	}
	vs = append(vs, 0, int64(time.Hour))
	if err := a.Merge(b); err != nil {
		t.Fatalf("Merge: %v", err)
	}
	if !reflect.DeepEqual(a, both) {
		t.Fatalf("Merge: got count %d, clamped %d, min %v, max %v, mean %v; want %d, %d, %v, %v, %v",
			a.Count(), a.Clamped(), a.Min(), a.Max(), a.Mean(),
			both.Count(), both.Clamped(), both.Min(), both.Max(), both.Mean())
	}
	checkAgainst(t, a, vs)

	// Merging an empty histogram changes nothing; merging into an empty
	// one copies.
	if err := a.Merge(New(time.Hour)); err != nil || !reflect.DeepEqual(a, both) {
		t.Fatalf("Merge of empty: err %v, equal %v", err, reflect.DeepEqual(a, both))
	}
	e := New(time.Hour)
	if err := e.Merge(a); err != nil || !reflect.DeepEqual(e, a) {
		t.Fatalf("Merge into empty: err %v, equal %v", err, reflect.DeepEqual(e, a))
	}

	// Merging h into itself doubles every count.
	twice := New(time.Hour)
	for range 2 {
		if err := twice.Merge(both); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Merge(a); err != nil || !reflect.DeepEqual(a, twice) {
		t.Fatalf("self Merge: err %v, equal %v", err, reflect.DeepEqual(a, twice))
	}
}

func TestMergeMismatch(t *testing.T) {
	h := New(time.Hour)
	h.Record(time.Millisecond)
	before := New(time.Hour)
	before.Record(time.Millisecond)
	for name, o := range map[string]*Histogram{
		"other max":      New(time.Second),
		"same layout":    New(time.Hour + 1), // same bucket count, different max
		"nil":            nil,
		"larger max":     New(2 * time.Hour),
		"max MaxInt64":   New(math.MaxInt64),
		"one nanosecond": New(1),
	} {
		if o != nil {
			o.Record(time.Microsecond)
		}
		err := h.Merge(o)
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: Merge error: got %v, want ErrMismatch", name, err)
		}
		if !reflect.DeepEqual(h, before) {
			t.Errorf("%s: failed Merge changed the histogram", name)
		}
	}
}

func TestWorkersMerge(t *testing.T) {
	// Each worker owns its histogram; the reader merges them afterwards.
	const workers, n = 4, 10000
	hs := make([]*Histogram, workers)
	var wg sync.WaitGroup
	for w := range hs {
		hs[w] = New(time.Hour)
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range n {
				hs[w].Record(time.Duration(r.Int64N(int64(time.Second))))
			}
		})
	}
	wg.Wait()
	total := New(time.Hour)
	var vs []int64
	for w := range hs {
		if err := total.Merge(hs[w]); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(w), 9))
		for range n {
			vs = append(vs, r.Int64N(int64(time.Second)))
		}
	}
	checkAgainst(t, total, vs)
}

func TestMicros(t *testing.T) {
	s := Summary{P50: 1500, P90: 2 * time.Millisecond, P99: 3 * time.Second, P999: 1, Max: time.Hour, Count: 9}
	m := s.Micros()
	want := SummaryMicros{P50: 1.5, P90: 2000, P99: 3e6, P999: 0.001, Max: 3.6e9}
	if m != want {
		t.Fatalf("Micros: got %+v, want %+v", m, want)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"p50":1.5,"p90":2000,"p99":3000000,"p999":0.001,"max":3600000000}`; got != want {
		t.Fatalf("JSON: got %s, want %s", got, want)
	}
}

func TestNoAllocs(t *testing.T) {
	h := New(time.Hour)
	d := time.Duration(1)
	if got := testing.AllocsPerRun(1000, func() {
		h.Record(d)
		d = d*3 + 7
	}); got != 0 {
		t.Errorf("Record: got %v allocs, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = h.Quantile(0.99) }); got != 0 {
		t.Errorf("Quantile: got %v allocs, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = h.Summary() }); got != 0 {
		t.Errorf("Summary: got %v allocs, want 0", got)
	}
}

func TestNewPanicsOnNonPositiveMax(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(0) did not panic")
		}
	}()
	New(0)
}

// fuzzLimits are the max values FuzzRecordQuantile picks from with its
// input's first byte.
var fuzzLimits = []time.Duration{time.Hour, time.Millisecond, 2047, 1, math.MaxInt64}

func FuzzRecordQuantile(f *testing.F) {
	le := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	f.Add([]byte{})                                          // empty histogram
	f.Add(append([]byte{0}, le(1, 2, 3, 2047, 2048)...))     // exact range and its edge
	f.Add(append([]byte{0}, le(-1, math.MinInt64, 5e12)...)) // clamped both ways
	f.Add(append([]byte{1}, le(999_999, 1_000_000, 1_000_001)...))
	f.Add(append([]byte{4}, le(math.MaxInt64, math.MaxInt64, 0)...)) // 128-bit sum
	f.Add(append([]byte{3}, le(0, 1, 2)...))                         // max of 1 ns
	f.Fuzz(func(t *testing.T, data []byte) {
		limit := time.Hour
		if len(data) > 0 {
			limit = fuzzLimits[int(data[0])%len(fuzzLimits)]
			data = data[1:]
		}
		h := New(limit)
		var vs []int64
		var clamped uint64
		for ; len(data) >= 8; data = data[8:] {
			v := int64(binary.LittleEndian.Uint64(data))
			h.Record(time.Duration(v))
			if v < 0 || v > int64(limit) {
				clamped++
				v = min(max(v, 0), int64(limit))
			}
			vs = append(vs, v)
		}
		if got := h.Clamped(); got != clamped {
			t.Errorf("Clamped: got %d, want %d", got, clamped)
		}
		prev := h.Quantile(math.Inf(-1))
		for q := -0.05; q <= 1.05; q += 0.025 {
			got := h.Quantile(q)
			if got < prev {
				t.Fatalf("Quantile(%v) = %v, below the previous %v", q, got, prev)
			}
			if got < h.Min() || got > h.Max() {
				t.Fatalf("Quantile(%v) = %v, outside [%v, %v]", q, got, h.Min(), h.Max())
			}
			prev = got
		}
		checkAgainst(t, h, vs)
	})
}

func BenchmarkRecord(b *testing.B) {
	r := rand.New(rand.NewPCG(10, 11))
	vs := make([]time.Duration, 4096)
	for i := range vs {
		// Log-uniform over 1 µs .. 10 s, so that all buckets are used.
		vs[i] = time.Duration(math.Exp(math.Log(1e3) + r.Float64()*math.Log(1e7)))
	}
	h := New(time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Record(vs[i&(len(vs)-1)])
		i++
	}
}

func BenchmarkSummary(b *testing.B) {
	r := rand.New(rand.NewPCG(12, 13))
	h := New(time.Hour)
	for range 100000 {
		h.Record(time.Duration(math.Exp(math.Log(1e3) + r.Float64()*math.Log(1e7))))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Summary()
	}
}
