// Package task is a softnet's task queue: an unbounded intrusive
// multi-producer list of reference-counted tasks that the softnet runs in
// its own loop.
//
// It follows OpenBSD's task(9) with the change the seed made for socket
// splicing: a task holds a reference for every queue entry, so that
// deleting a task, adding it again or tearing down the object it works on
// never needs a barrier on the queue that runs it. A barrier there is what
// deadlocks when the caller itself runs on that queue (a splice task
// unsplicing its own socket); with references the last holder releases.
//
// # Add never fails
//
// A task is the queue entry: its link lives in the Task, which is usually
// embedded in the object it works for (a connection's write task, a
// splice's wake-up). A task is linked at most once, so the queue holds at
// most one entry per task in existence and never has to refuse one. That
// is the one rule for a full queue: there is none. A FIN, a window update
// or a splice's wake-up is never lost to back-pressure, and no caller
// retries or gives up. (The queue before this one was a bounded ring that
// could refuse, and its callers handled that three different ways.)
//
// States and references:
//
//   - A Task starts with one reference, its owner's, idle and unlinked.
//   - Add marks it queued. If it is not linked in the list it is linked
//     and takes a reference for the entry. Adding a task that is already
//     queued does nothing.
//   - Del clears the queued mark without touching the list; the stale
//     entry keeps its reference until the consumer pops it, sees the task
//     not queued and drops the reference without running it. Adding the
//     task again before that only sets the mark: the same entry runs it.
//   - The consumer unlinks a popped task and clears its mark before
//     running it, so the function may add its own task again.
//   - Release drops a reference; the one that drops the last calls the
//     task's release function (free the socket, count, signal a waiter).
//
// A task belongs to one queue: the softnet (or thread) that runs it.
//
// The list is Dmitry Vyukov's intrusive MPSC queue: a push is one atomic
// swap and one store, a pop reads the consumer's end; neither allocates.
package task

import (
	"sync/atomic"

	"github.com/netsplice/netsplice/internal/counter"
)

const (
	queuedBit uint32 = 1 << iota // it runs when its entry is popped
	linkedBit                    // it has an entry in a queue's list
)

// Task is a function to run on a softnet. The zero value is not usable;
// call Init (for a Task embedded in another struct) or New.
type Task struct {
	next    atomic.Pointer[Task] // the queue's link
	fn      func()
	h       Handler
	kind    int
	release func()
	state   atomic.Uint32 // queuedBit | linkedBit
	refs    atomic.Int32
	runs    atomic.Uint64
}

// New returns a task running fn, holding one reference.
func New(fn func()) *Task {
	t := &Task{}
	t.Init(fn, nil)
	return t
}

// Init prepares t to run fn. release, if not nil, is called once the last
// reference is dropped. t must not be queued.
func (t *Task) Init(fn, release func()) {
	t.fn, t.h, t.release = fn, nil, release
	t.state.Store(0)
	t.refs.Store(1)
}

// Handler runs the tasks bound to it with InitHandler: one object with
// several embedded tasks implements it once and tells them apart by kind,
// so binding them allocates nothing.
type Handler interface {
	RunTask(kind int)
}

// InitHandler is Init for a task that runs h.RunTask(kind).
func (t *Task) InitHandler(h Handler, kind int, release func()) {
	t.Init(nil, release)
	t.h, t.kind = h, kind
}

// Queued reports whether t waits in a queue to run.
func (t *Task) Queued() bool { return t.state.Load()&queuedBit != 0 }

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
	// Added counts tasks marked queued (an Add of a task already queued
	// is not counted).
	Added uint64
	// Crossed counts tasks added by another softnet.
	Crossed uint64
	// Runs counts task functions run.
	Runs uint64
	// Stale counts entries popped for tasks deleted after being added.
	Stale uint64
}

// Queue is a softnet's task queue. Add and Del may be called from any
// goroutine; Run and Pending only from the softnet that owns the queue.
type Queue struct {
	_     [64]byte
	head  atomic.Pointer[Task] // the producers' end: the last task linked
	_     [56]byte
	tail  *Task // the consumer's end
	stub  Task  // stands in the list when it is empty
	owner int32
	wake  func()

	added, crossed atomic.Uint64 // written by producers
	runs, stale    counter.Counter
}

// NewQueue returns an empty queue owned by softnet owner. wake, if not
// nil, is called after every Add that queued the task (to rouse a
// sleeping softnet); it must be cheap and must not block.
func NewQueue(owner int, wake func()) *Queue {
	q := &Queue{owner: int32(owner), wake: wake}
	q.head.Store(&q.stub)
	q.tail = &q.stub
	return q
}

// Add queues t to run once on the queue's owner. from is the softnet
// adding it, or -1 when the caller is not a softnet (an application
// goroutine, the control plane); adds from another softnet are counted as
// crossings. Adding a task that is already queued does nothing. Add
// cannot fail: the task itself is the entry.
func (q *Queue) Add(t *Task, from int) {
	for {
		s := t.state.Load()
		if s&queuedBit != 0 {
			return
		}
		if !t.state.CompareAndSwap(s, s|queuedBit|linkedBit) {
			continue
		}
		if s&linkedBit == 0 {
			t.refs.Add(1) // the entry's reference
			q.push(t)
		}
		break
	}
	q.added.Add(1)
	if from >= 0 && int32(from) != q.owner {
		q.crossed.Add(1)
	}
	if q.wake != nil {
		q.wake()
	}
}

// push links t at the producers' end.
func (q *Queue) push(t *Task) {
	t.next.Store(nil)
	prev := q.head.Swap(t)
	prev.next.Store(t) // until this store the consumer sees the list end at prev
}

// pop unlinks the task at the consumer's end, or returns nil when the list
// is empty or a producer is between its swap and its link (it wakes the
// owner after linking). Owner only.
func (q *Queue) pop() *Task {
	tail := q.tail
	next := tail.next.Load()
	if tail == &q.stub {
		if next == nil {
			return nil
		}
		q.tail = next
		tail = next
		next = next.next.Load()
	}
	if next != nil {
		q.tail = next
		return tail
	}
	if tail != q.head.Load() {
		return nil // a push is in progress behind tail
	}
	q.push(&q.stub)
	if next = tail.next.Load(); next != nil {
		q.tail = next
		return tail
	}
	return nil
}

// Del takes t off the queue if it is queued and reports whether it was.
// It never waits: if t is running right now, it finishes.
func (q *Queue) Del(t *Task) bool {
	for {
		s := t.state.Load()
		if s&queuedBit == 0 {
			return false
		}
		if t.state.CompareAndSwap(s, s&^queuedBit) {
			return true
		}
	}
}

// Run runs up to max queued tasks and returns how many ran. Owner only.
func (q *Queue) Run(max int) int {
	ran := 0
	for i := 0; i < max; i++ {
		t := q.pop()
		if t == nil {
			break
		}
		if t.state.Swap(0)&queuedBit != 0 {
			t.runs.Add(1)
			if t.h != nil {
				t.h.RunTask(t.kind)
			} else {
				t.fn()
			}
			ran++
		} else {
			q.stale.Inc()
		}
		t.Release()
	}
	q.runs.Add(uint64(ran))
	return ran
}

// Pending reports whether entries wait in the list (or are being
// linked). Owner only.
func (q *Queue) Pending() bool { return q.tail != &q.stub || q.head.Load() != &q.stub }

// Stats returns the queue's counters. Any goroutine may call it.
func (q *Queue) Stats() Stats {
	return Stats{
		Added:   q.added.Load(),
		Crossed: q.crossed.Load(),
		Runs:    q.runs.Load(),
		Stale:   q.stale.Load(),
	}
}
