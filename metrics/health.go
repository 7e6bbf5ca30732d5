package metrics

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// health tells stuck softnets from progressing ones by their loops
// counter (stack.Loops), which every iteration of a softnet's loop
// increments: busy or idle, an adaptive softnet wakes at least every
// MaxSleep (1 ms) and counts. Each read of the counter, by /healthz or by
// a scrape, is remembered, so that a probe rarely has to wait:
//
//   - the counter moved since a read less than StallAfter ago: the softnet
//     progressed recently;
//   - the counter has stood at its value since a read StallAfter ago or
//     longer: the softnet is stuck;
//   - otherwise (first read, or the last one too long ago to vouch for
//     recent progress) the probe reads again every pollInterval, for at
//     most StallAfter.
type health struct {
	mu    sync.Mutex
	value []uint64    // the counter at the last read
	read  []time.Time // when it was last read
	since []time.Time // first read that saw value; zero: never read
}

// pollInterval is how often a waiting probe reads the counters again.
const pollInterval = time.Millisecond

type verdict int

const (
	unknown verdict = iota
	progressing
	stuck
)

func (h *health) init(n int) {
	h.value = make([]uint64, n)
	h.read = make([]time.Time, n)
	h.since = make([]time.Time, n)
}

// observe records a read v of softnet i's loops counter at now and
// judges it.
func (h *health) observe(i int, v uint64, now time.Time, stallAfter time.Duration) verdict {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := h.since[i].IsZero()
	last := h.read[i]
	h.read[i] = now
	switch {
	case first:
		h.value[i], h.since[i] = v, now
		return unknown
	case v != h.value[i]:
		h.value[i], h.since[i] = v, now
		if now.Sub(last) <= stallAfter {
			return progressing
		}
		return unknown // it moved, but perhaps long ago
	case now.Sub(h.since[i]) >= stallAfter:
		return stuck
	}
	return unknown
}

// stalled is how long softnet i's counter has stood at its value.
func (h *health) stalled(i int, now time.Time) (uint64, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.value[i], now.Sub(h.since[i])
}

// StuckSoftnet is a softnet whose loop made no progress.
type StuckSoftnet struct {
	Softnet int
	Loops   uint64        // its loops counter, standing still
	For     time.Duration // how long it has stood still (at least)
}

func (s StuckSoftnet) String() string {
	return fmt.Sprintf("softnet %d stuck: loops counter at %d for %v", s.Softnet, s.Loops, s.For.Round(time.Millisecond))
}

// Stuck returns the softnets whose loops counter did not advance within
// StallAfter, in softnet order; none when every softnet progresses. It
// answers at once for softnets known to progress or to be stuck and waits
// at most StallAfter for the others. The error is ctx's.
func (m *Metrics) Stuck(ctx context.Context) ([]StuckSoftnet, error) {
	n := m.st.NumSoftnets()
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	var out []StuckSoftnet
	var t *time.Timer
	for {
		now := time.Now()
		still := pending[:0]
		for _, i := range pending {
			switch m.h.observe(i, m.st.Softnet(i).Counters()[stack.Loops], now, m.opts.StallAfter) {
			case stuck:
				v, d := m.h.stalled(i, now)
				out = append(out, StuckSoftnet{Softnet: i, Loops: v, For: d})
			case unknown:
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if t == nil {
			t = time.NewTimer(pollInterval)
			defer t.Stop()
		} else {
			t.Reset(pollInterval)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	slices.SortFunc(out, func(a, b StuckSoftnet) int { return a.Softnet - b.Softnet })
	return out, nil
}
