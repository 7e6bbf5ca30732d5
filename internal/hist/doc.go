// Package hist provides a log-linear latency histogram in the style of
// HdrHistogram, used by the traffic generator (netsplice gen) to report
// connect and response latencies.
//
// # Bucket layout
//
// Values are durations in nanoseconds, from 0 up to the max given to New.
// The value range is split into buckets, one per power of two, and every
// bucket into equal-width sub-buckets, each holding one count:
//
//   - bucket 0 covers [0, 2048) with 2048 sub-buckets of width 1 ns, so
//     values below 2048 ns are recorded exactly;
//   - bucket k >= 1 covers [1024<<k, 2048<<k) with 1024 sub-buckets of
//     width 1<<k ns.
//
// A value v is thus counted at index k*1024 + v>>k, where
// k = max(0, bits.Len64(v)-11): O(1), with no loop and no table.
//
// # Precision
//
// A sub-bucket of bucket k is 1<<k ns wide and starts at 1024<<k ns or
// above, so reporting any value of a sub-bucket in place of another one is
// off by less than 1/1024 of it: three significant decimal digits, the same
// as HdrHistogram with significantFigures = 3. Quantiles are reported as the
// highest value of their sub-bucket (never above Max), so a reported
// quantile is never below the exact one and exceeds it by less than 1/1024.
// Count, Min, Max, Mean and Clamped are exact: they are kept beside the
// counts, the sum in 128 bits so that it cannot overflow.
//
// # Memory
//
// Counts are uint64, so that no count can wrap however long a run is
// merged. One slice of index(max)+1 counts is allocated by New: 33421
// counts (267 KB) for max = time.Hour, and at most 55296 counts (442 KB)
// for the largest max, math.MaxInt64. Record never allocates.
//
// # Ownership
//
// A Histogram is not safe for concurrent use. Each worker (softnet,
// generator goroutine) owns one and is the only goroutine that records
// into it; a reader merges the workers' histograms into one of the same
// max with Merge, after the workers are done or under the caller's own
// synchronisation, and reads quantiles from that.
package hist
