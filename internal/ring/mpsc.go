// Package ring provides a bounded lock-free multi-producer,
// single-consumer queue, the one structure through which work and data
// cross from one goroutine to a softnet (and packets from softnets to a
// socket's reader).
package ring

import (
	"errors"
	"sync/atomic"
)

// MPSC is a bounded queue of pointers after Dmitry Vyukov's bounded MPMC
// queue, specialised to one consumer. Push may be called from any number
// of goroutines at once; Pop, Len and Drain only from the single consumer.
// Neither allocates.
type MPSC[T any] struct {
	_     [64]byte
	tail  atomic.Uint64 // next position to claim, shared by producers
	_     [56]byte
	head  atomic.Uint64 // next position to consume, written by the consumer only
	_     [56]byte
	mask  uint64
	slots []slot[T]
}

type slot[T any] struct {
	seq atomic.Uint64
	v   *T
}

// New returns a queue holding up to size entries, rounded up to a power of
// two.
func New[T any](size int) (*MPSC[T], error) {
	q := &MPSC[T]{}
	if err := q.Init(size); err != nil {
		return nil, err
	}
	return q, nil
}

// Init prepares a zero queue, for embedding.
func (q *MPSC[T]) Init(size int) error {
	if size < 1 || size > 1<<30 {
		return errors.New("ring: size must be in 1..2^30")
	}
	n := 1
	for n < size {
		n <<= 1
	}
	q.slots = make([]slot[T], n)
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	q.mask = uint64(n - 1)
	return nil
}

// Cap returns the capacity.
func (q *MPSC[T]) Cap() int { return len(q.slots) }

// Push adds v and reports whether there was room.
func (q *MPSC[T]) Push(v *T) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.v = v
				s.seq.Store(pos + 1)
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			return false
		default:
			pos = q.tail.Load()
		}
	}
}

// Pop removes the oldest entry, or returns nil when the queue is empty (or
// when the oldest claimed slot is still being written). Consumer only.
func (q *MPSC[T]) Pop() *T {
	h := q.head.Load()
	s := &q.slots[h&q.mask]
	if s.seq.Load() != h+1 {
		return nil
	}
	v := s.v
	s.v = nil
	s.seq.Store(h + q.mask + 1)
	q.head.Store(h + 1)
	return v
}

// Peek returns the oldest entry without removing it, or nil. Consumer
// only.
func (q *MPSC[T]) Peek() *T {
	h := q.head.Load()
	s := &q.slots[h&q.mask]
	if s.seq.Load() != h+1 {
		return nil
	}
	return s.v
}

// Empty reports whether nothing is ready to pop. Consumer only.
func (q *MPSC[T]) Empty() bool {
	h := q.head.Load()
	return q.slots[h&q.mask].seq.Load() != h+1
}

// Len returns an estimate of the number of entries. Any goroutine may call
// it; the answer may be stale by the time it returns.
func (q *MPSC[T]) Len() int {
	n := int64(q.tail.Load()) - int64(q.head.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}
