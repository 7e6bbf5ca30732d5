package hist

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

const (
	// subBits is log2 of the sub-buckets of bucket 0; bucket k >= 1 has
	// half as many (1<<(subBits-1)), as its lower half is covered by the
	// buckets below it.
	subBits  = 11
	subCount = 1 << subBits
	halfBits = subBits - 1
)

// ErrMismatch is returned, wrapped, by Merge when the two histograms were
// created with different max values and so have different layouts.
var ErrMismatch = errors.New("hist: histograms have different layouts")

// Histogram counts durations in log-linear buckets (see the package
// documentation for the layout and precision). The zero value is not
// usable: create one with New. A Histogram is not safe for concurrent use.
type Histogram struct {
	limit   int64    // largest recordable value, in ns
	counts  []uint64 // counts[index(v)]
	count   uint64   // values recorded
	clamped uint64   // values raised to 0 or lowered to limit
	min     int64    // smallest value recorded; math.MaxInt64 when empty
	max     int64    // largest value recorded; 0 when empty
	sumLo   uint64   // 128-bit sum of values recorded, low word
	sumHi   uint64   // high word
}

// index returns the counts index of v, for 0 <= v.
func index(v uint64) int {
	k := bits.Len64(v) - subBits
	if k < 0 {
		k = 0
	}
	return k<<halfBits + int(v>>uint(k))
}

// highest returns the largest value counted at index i.
func highest(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	k := i>>halfBits - 1
	sub := i - k<<halfBits
	return int64(sub+1)<<uint(k) - 1
}

// New returns an empty histogram for durations from 0 to max. It panics if
// max is not positive.
func New(max time.Duration) *Histogram {
	if max <= 0 {
		panic("hist: New with non-positive max")
	}
	return &Histogram{
		limit:  int64(max),
		counts: make([]uint64, index(uint64(max))+1),
		min:    math.MaxInt64,
	}
}

// Record adds d to the histogram. A negative d is recorded as 0 and a d
// above the histogram's max as max; both are counted in Clamped. Record
// takes constant time and does not allocate.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
		h.clamped++
	} else if v > h.limit {
		v = h.limit
		h.clamped++
	}
	h.counts[index(uint64(v))]++
	h.count++
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	var c uint64
	h.sumLo, c = bits.Add64(h.sumLo, uint64(v), 0)
	h.sumHi += c
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.count }

// Clamped returns how many of the recorded values were negative or above
// max and so were recorded as 0 or max.
func (h *Histogram) Clamped() uint64 { return h.clamped }

// Min returns the smallest value recorded (after clamping), exactly, or 0
// if the histogram is empty.
func (h *Histogram) Min() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max returns the largest value recorded (after clamping), exactly, or 0
// if the histogram is empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean of the values recorded (after
// clamping), rounded down to the nanosecond, or 0 if the histogram is
// empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	// The mean is at most max, so the quotient fits in 64 bits and
	// sumHi < count holds, as bits.Div64 requires.
	q, _ := bits.Div64(h.sumHi, h.sumLo, h.count)
	return time.Duration(q)
}

// rank returns the 1-based rank of quantile q among count values:
// ceil(q*count), at least 1 and at most count. q outside [0, 1] is
// clamped into it, and NaN is taken as 0.
func rank(q float64, count uint64) uint64 {
	if !(q > 0) {
		return 1
	}
	if q >= 1 {
		return count
	}
	r := uint64(math.Ceil(q * float64(count)))
	if r < 1 {
		r = 1
	}
	if r > count {
		r = count
	}
	return r
}

// Quantile returns the value at quantile q, in [0, 1]: that of the
// ceil(q*Count())-th smallest value recorded (the first, if q*Count() is 0),
// reported as the highest value of its sub-bucket but never above Max.
// The smallest and largest values are known exactly, so a quantile of rank
// 1, such as Quantile(0), is Min and Quantile(1) is Max. A q outside [0, 1]
// is clamped into it, NaN is taken as 0, and an empty histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	ranks := [1]uint64{rank(q, h.count)}
	var out [1]time.Duration
	h.quantiles(ranks[:], out[:])
	return out[0]
}

// quantiles sets out[i] to the value at 1-based rank ranks[i], in a single
// pass over the counts. ranks must be non-decreasing and within
// [1, Count()], and the histogram must not be empty.
func (h *Histogram) quantiles(ranks []uint64, out []time.Duration) {
	j := 0
	// The smallest value is known exactly; the largest comes from
	// clamping to h.max below.
	for j < len(ranks) && ranks[j] == 1 {
		out[j] = time.Duration(h.min)
		j++
	}
	var cum uint64
	last := index(uint64(h.max))
	for i := index(uint64(h.min)); i <= last && j < len(ranks); i++ {
		cum += h.counts[i]
		for j < len(ranks) && cum >= ranks[j] {
			v := highest(i)
			if v > h.max {
				v = h.max
			}
			out[j] = time.Duration(v)
			j++
		}
	}
}

// Merge adds the values recorded in o to h, as if each had been recorded
// into h. It returns an error wrapping ErrMismatch, and leaves h unchanged,
// if o is nil or was created with a different max than h.
func (h *Histogram) Merge(o *Histogram) error {
	if o == nil {
		return fmt.Errorf("%w: merge of a nil histogram", ErrMismatch)
	}
	if o.limit != h.limit || len(o.counts) != len(h.counts) {
		return fmt.Errorf("%w: max %v, merging max %v", ErrMismatch,
			time.Duration(h.limit), time.Duration(o.limit))
	}
	if o.count == 0 {
		return nil
	}
	// Only o's indices from its min to its max can be non-zero.
	lo, hi := index(uint64(o.min)), index(uint64(o.max))
	for i := lo; i <= hi; i++ {
		h.counts[i] += o.counts[i]
	}
	oLo, oHi := o.sumLo, o.sumHi // o may be h
	var c uint64
	h.sumLo, c = bits.Add64(h.sumLo, oLo, 0)
	h.sumHi += oHi + c
	h.count += o.count
	h.clamped += o.clamped
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
	return nil
}

// Reset empties the histogram, keeping its max and its memory.
func (h *Histogram) Reset() {
	if h.count > 0 {
		// Only the indices from min to max can be non-zero.
		clear(h.counts[index(uint64(h.min)) : index(uint64(h.max))+1])
	}
	*h = Histogram{limit: h.limit, counts: h.counts, min: math.MaxInt64}
}
