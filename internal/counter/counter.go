// Package counter provides single-writer statistics counters.
//
// A softnet (or a driver queue) owns its counters and is the only goroutine
// that increments them. Increments are a plain atomic load and store (no
// lock prefix on amd64), so the per-packet cost is that of an ordinary
// increment, while any other goroutine may read a consistent value with
// Load at any time without a data race. Summing across softnets happens off
// the hot path, in the reader.
package counter

import "sync/atomic"

// Counter is a monotonically increasing 64-bit counter with one writer.
// The zero value is ready to use. A Counter must not be copied after use.
type Counter struct {
	v atomic.Uint64
}

// Inc adds one. Only the owning goroutine may call it.
func (c *Counter) Inc() { c.v.Store(c.v.Load() + 1) }

// Add adds n. Only the owning goroutine may call it.
func (c *Counter) Add(n uint64) { c.v.Store(c.v.Load() + n) }

// Load returns the current value. Any goroutine may call it.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a signed value with one writer, for levels such as queue depths
// or table sizes.
type Gauge struct {
	v atomic.Int64
}

// Add changes the gauge by d. Only the owning goroutine may call it.
func (g *Gauge) Add(d int64) { g.v.Store(g.v.Load() + d) }

// Set sets the gauge. Only the owning goroutine may call it.
func (g *Gauge) Set(v int64) { g.v.Store(v) }

// Load returns the current value. Any goroutine may call it.
func (g *Gauge) Load() int64 { return g.v.Load() }
