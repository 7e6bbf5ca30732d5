package counter

import (
	"sync"
	"testing"
)

func TestCounterSingleWriterConcurrentReaders(t *testing.T) {
	var c Counter
	var g Gauge
	const n = 100000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last uint64
		for last < n {
			v := c.Load()
			if v < last {
				t.Errorf("counter went backwards: %d after %d", v, last)
				return
			}
			last = v
			_ = g.Load()
		}
	}()
	for i := 0; i < n; i++ {
		c.Inc()
		g.Add(1)
	}
	wg.Wait()
	c.Add(5)
	if got, want := c.Load(), uint64(n+5); got != want {
		t.Fatalf("got %d, want %d", got, want)
	}
	g.Set(-3)
	if got := g.Load(); got != -3 {
		t.Fatalf("gauge got %d, want -3", got)
	}
}
