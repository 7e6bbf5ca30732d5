package timer

import (
	"math/rand/v2"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func newWheel(t *testing.T, slots int) *Wheel {
	t.Helper()
	w, err := New(time.Millisecond, slots, 0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestFiresAtExpiry(t *testing.T) {
	w := newWheel(t, 16)
	var at int64 = -1
	now := int64(0)
	var tm Timer
	tm.Init(func() { at = now })
	w.Reset(&tm, 0, 5*time.Millisecond)
	for now = 0; now <= 10*ms; now += ms {
		w.Advance(now)
		if at >= 0 {
			break
		}
	}
	if at != 5*ms {
		t.Fatalf("fired at %d ms, want 5", at/ms)
	}
	if tm.Armed() || w.Len() != 0 {
		t.Fatalf("after firing: Armed() = %v, Len() = %d", tm.Armed(), w.Len())
	}
}

func TestLongerThanOneRevolution(t *testing.T) {
	w := newWheel(t, 8)
	fired := int64(-1)
	now := int64(0)
	var tm Timer
	tm.Init(func() { fired = now })
	w.Reset(&tm, 0, 100*time.Millisecond)
	for now = 0; now <= 200*ms && fired < 0; now += ms {
		w.Advance(now)
	}
	if fired != 100*ms {
		t.Fatalf("fired at %d ms, want 100", fired/ms)
	}
}

func TestJumpFiresAllDue(t *testing.T) {
	w := newWheel(t, 8)
	count := 0
	timers := make([]Timer, 50)
	for i := range timers {
		timers[i].Init(func() { count++ })
		w.Reset(&timers[i], 0, time.Duration(i+1)*time.Millisecond)
	}
	w.Advance(30 * ms) // a long sleep: more than one revolution at once
	if count != 30 {
		t.Fatalf("fired %d, want 30", count)
	}
	w.Advance(1000 * ms)
	if count != 50 || w.Len() != 0 {
		t.Fatalf("fired %d with %d left, want 50 and 0", count, w.Len())
	}
}

func TestStopAndRearm(t *testing.T) {
	w := newWheel(t, 16)
	n := 0
	var tm Timer
	tm.Init(func() { n++ })
	w.Reset(&tm, 0, 3*time.Millisecond)
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop: want true then false")
	}
	w.Advance(10 * ms)
	if n != 0 {
		t.Fatal("stopped timer fired")
	}
	w.Reset(&tm, 10*ms, 2*time.Millisecond)
	w.Reset(&tm, 10*ms, 4*time.Millisecond) // re-arm moves it
	w.Advance(12 * ms)
	if n != 0 {
		t.Fatal("re-armed timer fired at its old expiry")
	}
	w.Advance(14 * ms)
	if n != 1 {
		t.Fatalf("fired %d times, want 1", n)
	}
}

func TestSelfRearmZero(t *testing.T) {
	w := newWheel(t, 4)
	n := 0
	var tm Timer
	tm.Init(func() {
		n++
		w.Reset(&tm, 0, 0)
	})
	w.Reset(&tm, 0, time.Millisecond)
	w.Advance(1 * ms)
	if n != 1 {
		t.Fatalf("after first tick fired %d, want 1", n)
	}
	w.Advance(1 * ms)
	if n != 1 {
		t.Fatalf("same tick again fired %d, want 1 (no loop within a tick)", n)
	}
	w.Advance(2 * ms)
	if n != 2 {
		t.Fatalf("next tick fired %d, want 2", n)
	}
}

// TestRandomAgainstModel arms, stops and advances at random and checks
// every firing time against a simple model.
func TestRandomAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := newWheel(t, 64)
	const n = 200
	timers := make([]Timer, n)
	due := make([]int64, n) // expiry tick, -1 when not armed
	now := int64(0)
	for i := range timers {
		i := i
		due[i] = -1
		timers[i].Init(func() {
			if due[i] < 0 || now/ms < due[i] {
				t.Fatalf("timer %d fired at %d, due %d", i, now/ms, due[i])
			}
			due[i] = -1
		})
	}
	for step := 0; step < 20000; step++ {
		i := rng.IntN(n)
		switch rng.IntN(4) {
		case 0, 1:
			d := time.Duration(rng.IntN(300)) * time.Millisecond
			w.Reset(&timers[i], now, d)
			due[i] = max(now/ms+int64(d)/ms, now/ms+1)
		case 2:
			timers[i].Stop()
			due[i] = -1
		case 3:
			now += int64(rng.IntN(5)) * ms
			w.Advance(now)
			for j, d := range due {
				if d >= 0 && d <= now/ms {
					t.Fatalf("timer %d due at %d not fired by %d", j, d, now/ms)
				}
			}
		}
	}
}

func TestNextExpiry(t *testing.T) {
	w := newWheel(t, 64)
	if _, ok := w.NextExpiry(64); ok {
		t.Fatal("empty wheel reported an expiry")
	}
	var tm Timer
	tm.Init(func() {})
	w.Reset(&tm, 0, 7*time.Millisecond)
	if at, ok := w.NextExpiry(64); !ok || at != 7*ms {
		t.Fatalf("NextExpiry = %d ms, %v; want 7, true", at/ms, ok)
	}
}

func TestNoAllocs(t *testing.T) {
	w := newWheel(t, 64)
	var tm Timer
	tm.Init(func() {})
	now := int64(0)
	if a := testing.AllocsPerRun(1000, func() {
		w.Reset(&tm, now, time.Millisecond)
		now += ms
		w.Advance(now)
	}); a != 0 {
		t.Fatalf("Reset+Advance allocated %v times, want 0", a)
	}
}

func BenchmarkResetStop(b *testing.B) {
	w, _ := New(time.Millisecond, 4096, 0)
	var tm Timer
	tm.Init(func() {})
	b.ReportAllocs()
	for b.Loop() {
		w.Reset(&tm, 0, 200*time.Millisecond)
		tm.Stop()
	}
}

// kinds records the kinds of the timers that fired on it.
type kinds []int

func (k *kinds) OnTimer(kind int) { *k = append(*k, kind) }

// TestHandlerTimers: timers bound to one Handler fire it with their own
// kinds, and binding and arming them allocates nothing.
func TestHandlerTimers(t *testing.T) {
	w := newWheel(t, 16)
	got := make(kinds, 0, 4)
	var a, b Timer
	if n := testing.AllocsPerRun(100, func() {
		a.InitHandler(&got, 7)
		b.InitHandler(&got, 9)
	}); n != 0 {
		t.Fatalf("InitHandler allocates %.0f times", n)
	}
	w.Reset(&a, 0, 2*time.Millisecond)
	w.Reset(&b, 0, 4*time.Millisecond)
	for now := int64(0); now <= 5*ms; now += ms {
		w.Advance(now)
	}
	if len(got) != 2 || got[0] != 7 || got[1] != 9 {
		t.Fatalf("handler saw kinds %v, want [7 9]", got)
	}
}
