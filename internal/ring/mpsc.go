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

// slot is one entry. Its sequence number is kept less the slot's index,
// so that a zeroed slot is a free one and Init need not write every slot
// (a connection's ring is made per connection).
type slot[T any] struct {
	seq atomic.Uint64 // the sequence number less the slot's index
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
	q.mask = uint64(n - 1)
	return nil
}

// Cap returns the capacity.
func (q *MPSC[T]) Cap() int { return len(q.slots) }

// Push adds v and reports whether there was room.
func (q *MPSC[T]) Push(v *T) bool {
	pos := q.tail.Load()
	for {
		i := pos & q.mask
		s := &q.slots[i]
		seq := s.seq.Load() + i
		switch d := int64(seq - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.v = v
				s.seq.Store(pos + 1 - i)
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
	i := h & q.mask
	s := &q.slots[i]
	if s.seq.Load()+i != h+1 {
		return nil
	}
	v := s.v
	s.v = nil
	s.seq.Store(h + q.mask + 1 - i)
	q.head.Store(h + 1)
	return v
}

// Peek returns the oldest entry without removing it, or nil. Consumer
// only.
func (q *MPSC[T]) Peek() *T {
	h := q.head.Load()
	i := h & q.mask
	if q.slots[i].seq.Load()+i != h+1 {
		return nil
	}
	return q.slots[i].v
}

// Empty reports whether nothing is ready to pop. Consumer only.
func (q *MPSC[T]) Empty() bool {
	h := q.head.Load()
	i := h & q.mask
	return q.slots[i].seq.Load()+i != h+1
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
