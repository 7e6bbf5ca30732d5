// Package task is a softnet's task queue: a bounded multi-producer ring of
// reference-counted tasks that the softnet runs in its own loop.
//
// It follows OpenBSD's task(9) with the change the seed made for socket
// splicing: a task holds a reference for every queue entry, so that
// deleting a task, adding it again or tearing down the object it works on
// never needs a barrier on the queue that runs it. A barrier there is what
// deadlocks when the caller itself runs on that queue (a splice task
// unsplicing its own socket); with references the last holder releases.
//
// States and references:
//
//   - A Task starts with one reference, its owner's.
//   - Add moves it from idle to queued and takes a reference for the queue
//     entry. Adding a task that is already queued does nothing.
//   - Del moves a queued task back to idle without touching the ring; the
//     stale entry keeps its reference until the consumer pops it, sees the
//     task idle and drops the reference without running it.
//   - The consumer moves a popped task from queued to idle before running
//     it, so the function may add its own task again.
//   - Release drops a reference; the one that drops the last calls the
//     task's release function (free the socket, count, signal a waiter).
package task

import (
	"errors"
	"sync/atomic"

	"github.com/netsplice/netsplice/internal/counter"
	"github.com/netsplice/netsplice/internal/ring"
)

// ErrFull is returned when a queue has no room for another task.
var ErrFull = errors.New("task: queue full")

const (
	idle uint32 = iota
	queued
)

// Task is a function to run on a softnet. The zero value is not usable;
// call Init (for a Task embedded in another struct) or New.
type Task struct {
	fn      func()
	release func()
	state   atomic.Uint32
	refs    atomic.Int32
	runs    atomic.Uint64
	origin  int32 // softnet that added it last, -1 for none
	_       [4]byte
}

// New returns a task running fn, holding one reference.
func New(fn func()) *Task {
	t := &Task{}
	t.Init(fn, nil)
	return t
}

// Init prepares t to run fn. release, if not nil, is called once the last
// reference is dropped.
func (t *Task) Init(fn, release func()) {
	t.fn, t.release = fn, release
	t.state.Store(idle)
	t.refs.Store(1)
}

// Queued reports whether t waits in a queue.
func (t *Task) Queued() bool { return t.state.Load() == queued }

// Runs returns how many times t has run.
func (t *Task) Runs() uint64 { return t.runs.Load() }

// Hold takes a reference.
func (t *Task) Hold() { t.refs.Add(1) }

// Release drops a reference; dropping the last calls the release function.
func (t *Task) Release() {
	switch n := t.refs.Add(-1); {
	case n == 0:
		if t.release != nil {
			t.release()
		}
	case n < 0:
		panic("task: reference count below zero")
	}
}

// Refs returns the current reference count, for tests and leak checks.
func (t *Task) Refs() int32 { return t.refs.Load() }

// Stats are a queue's counters.
type Stats struct {
	// Added counts tasks put on the ring.
	Added uint64
	// Crossed counts tasks added by another softnet.
	Crossed uint64
	// Full counts adds refused because the ring was full.
	Full uint64
	// Runs counts task functions run.
	Runs uint64
	// Stale counts entries popped for tasks deleted after being added.
	Stale uint64
}

// Queue is a softnet's task queue. Add and Del may be called from any
// goroutine; Run only from the softnet that owns the queue.
type Queue struct {
	ring  ring.MPSC[Task]
	owner int32
	wake  func()

	added, crossed, full atomic.Uint64 // written by producers
	runs, stale          counter.Counter
}

// NewQueue returns a queue of size entries owned by softnet owner. wake,
// if not nil, is called after every successful Add (to rouse a sleeping
// softnet); it must be cheap and must not block.
func NewQueue(size int, owner int, wake func()) (*Queue, error) {
	q := &Queue{owner: int32(owner), wake: wake}
	if err := q.ring.Init(size); err != nil {
		return nil, err
	}
	return q, nil
}

// Add queues t. from is the softnet adding it, or -1 when the caller is
// not a softnet (an application goroutine, the control plane); adds from
// another softnet are counted as crossings. Adding a task that is already
// queued succeeds and does nothing. Add returns ErrFull when the ring has
// no room; t is then not queued.
func (q *Queue) Add(t *Task, from int) error {
	if !t.state.CompareAndSwap(idle, queued) {
		return nil
	}
	t.refs.Add(1)
	if !q.ring.Push(t) {
		t.state.Store(idle)
		t.refs.Add(-1)
		q.full.Add(1)
		return ErrFull
	}
	q.added.Add(1)
	if from >= 0 && int32(from) != q.owner {
		q.crossed.Add(1)
	}
	if q.wake != nil {
		q.wake()
	}
	return nil
}

// Del takes t off the queue if it is queued and reports whether it was.
// It never waits: if t is running right now, it finishes.
func (q *Queue) Del(t *Task) bool {
	return t.state.CompareAndSwap(queued, idle)
}

// Run runs up to max queued tasks and returns how many ran. Owner only.
func (q *Queue) Run(max int) int {
	ran := 0
	for i := 0; i < max; i++ {
		t := q.ring.Pop()
		if t == nil {
			break
		}
		if t.state.CompareAndSwap(queued, idle) {
			t.runs.Add(1)
			t.fn()
			ran++
		} else {
			q.stale.Inc()
		}
		t.Release()
	}
	q.runs.Add(uint64(ran))
	return ran
}

// Pending reports whether entries wait in the ring. Owner only.
func (q *Queue) Pending() bool { return !q.ring.Empty() }

// Len returns an estimate of the entries in the ring.
func (q *Queue) Len() int { return q.ring.Len() }

// Stats returns the queue's counters. Any goroutine may call it.
func (q *Queue) Stats() Stats {
	return Stats{
		Added:   q.added.Load(),
		Crossed: q.crossed.Load(),
		Full:    q.full.Load(),
		Runs:    q.runs.Load(),
		Stale:   q.stale.Load(),
	}
}
