// Package timer is a softnet's hashed timing wheel.
//
// Timers are intrusive list nodes: a protocol embeds a Timer in its state
// (a TCP connection's retransmit timer, a socket's idle timer), binds the
// callback once, and then arms, re-arms and stops it with no allocation.
// Init binds a function; InitHandler binds a Handler and a kind, which
// costs no allocation either (a method value per timer would cost one per
// connection and timer). A wheel has a power-of-two number of slots of one tick each;
// a timer sits in the slot of its expiry tick and is skipped until the
// revolution it is due in, so arming and stopping are O(1) and each tick
// costs one slot visit. A wheel belongs to one softnet and is not safe for
// concurrent use; its callbacks run on that softnet.
package timer

import (
	"errors"
	"time"
)

// Timer is one timer. Its zero value is unarmed; call Init or InitHandler
// before use.
type Timer struct {
	prev, next *Timer
	when       int64 // expiry tick
	fn         func()
	h          Handler
	kind       int
	wheel      *Wheel
}

// Handler receives the expiry of the timers bound to it with InitHandler:
// one object with several timers implements it once and tells them apart
// by kind.
type Handler interface {
	OnTimer(kind int)
}

// Init binds the callback. The timer must not be armed.
func (t *Timer) Init(fn func()) { t.fn, t.h = fn, nil }

// InitHandler binds h and kind: the timer's expiry runs h.OnTimer(kind).
// The timer must not be armed.
func (t *Timer) InitHandler(h Handler, kind int) { t.fn, t.h, t.kind = nil, h, kind }

// Armed reports whether the timer is pending.
func (t *Timer) Armed() bool { return t.wheel != nil }

// Wheel is a hashed timing wheel.
type Wheel struct {
	slots  []Timer // sentinels of circular lists
	mask   int64
	tick   int64 // nanoseconds per tick
	origin int64 // monotonic time of tick 0, in nanoseconds
	cur    int64 // last tick processed
	n      int
	fired  uint64
}

// New returns a wheel of slots slots (rounded up to a power of two) of
// tick each, whose tick 0 is at now (nanoseconds on any monotonic clock
// the caller keeps using).
func New(tick time.Duration, slots int, now int64) (*Wheel, error) {
	if tick <= 0 || slots < 1 || slots > 1<<24 {
		return nil, errors.New("timer: need a positive tick and 1..2^24 slots")
	}
	n := 1
	for n < slots {
		n <<= 1
	}
	w := &Wheel{slots: make([]Timer, n), mask: int64(n - 1), tick: int64(tick), origin: now}
	for i := range w.slots {
		s := &w.slots[i]
		s.prev, s.next = s, s
	}
	return w, nil
}

// Len returns the number of armed timers.
func (w *Wheel) Len() int { return w.n }

// Fired returns how many timers have fired.
func (w *Wheel) Fired() uint64 { return w.fired }

// Tick returns the wheel's resolution.
func (w *Wheel) Tick() time.Duration { return time.Duration(w.tick) }

// Reset arms t to fire d after now (nanoseconds, the wheel's clock),
// re-arming it if it was armed. A timer fires on the first Advance at or
// after its expiry tick, never on the tick being processed when it is
// armed, so a timer that re-arms itself with d <= 0 fires on the next tick.
func (w *Wheel) Reset(t *Timer, now int64, d time.Duration) {
	if t.wheel != nil {
		t.unlink()
	}
	when := (now - w.origin + int64(d) + w.tick - 1) / w.tick
	if when <= w.cur {
		when = w.cur + 1
	}
	t.when = when
	s := &w.slots[when&w.mask]
	t.prev, t.next = s.prev, s
	s.prev.next = t
	s.prev = t
	t.wheel = w
	w.n++
}

// Stop disarms t and reports whether it was armed.
func (t *Timer) Stop() bool {
	if t.wheel == nil {
		return false
	}
	t.unlink()
	return true
}

func (t *Timer) unlink() {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.prev, t.next = nil, nil
	t.wheel.n--
	t.wheel = nil
}

// Advance fires every timer due at now and returns how many fired.
// Callbacks may arm and stop timers, their own included.
func (w *Wheel) Advance(now int64) int {
	target := (now - w.origin) / w.tick
	if target <= w.cur || w.n == 0 {
		if target > w.cur {
			w.cur = target
		}
		return 0
	}
	fired := 0
	steps := target - w.cur
	if steps > int64(len(w.slots)) {
		// Every slot once is enough: each fires all timers due by target.
		steps = int64(len(w.slots))
	}
	start := w.cur
	w.cur = target
	for i := int64(1); i <= steps && w.n > 0; i++ {
		s := &w.slots[(start+i)&w.mask]
		// Take the due timers off first, so callbacks that re-arm into
		// this slot are not visited again in this pass.
		var due *Timer
		for t := s.next; t != s; {
			next := t.next
			if t.when <= target {
				t.unlink()
				t.next = due
				due = t
			}
			t = next
		}
		for due != nil {
			t := due
			due = t.next
			t.next = nil
			fired++
			w.fired++
			if t.h != nil {
				t.h.OnTimer(t.kind)
			} else {
				t.fn()
			}
		}
	}
	return fired
}

// NextExpiry returns the time (wheel clock) of the next tick that has an
// armed timer in its slot, searching at most limit ticks ahead, and false
// when none is found. A softnet uses it to bound how long it sleeps.
func (w *Wheel) NextExpiry(limit int) (int64, bool) {
	if w.n == 0 {
		return 0, false
	}
	for i := int64(1); i <= int64(limit) && i <= int64(len(w.slots)); i++ {
		s := &w.slots[(w.cur+i)&w.mask]
		if s.next != s {
			return w.origin + (w.cur+i)*w.tick, true
		}
	}
	return 0, false
}
