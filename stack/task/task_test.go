package task

import (
	"sync"
	"sync/atomic"
	"testing"
)

func newQueue(t *testing.T, owner int) *Queue {
	t.Helper()
	return NewQueue(owner, nil)
}

func TestAddRunOnce(t *testing.T) {
	q := newQueue(t, 0)
	n := 0
	tk := New(func() { n++ })
	for i := 0; i < 3; i++ {
		q.Add(tk, -1)
	}
	if got := q.Run(10); got != 1 || n != 1 {
		t.Fatalf("Run ran %d tasks, fn ran %d times; want 1 and 1", got, n)
	}
	if tk.Queued() {
		t.Fatal("task still queued after it ran")
	}
	if got := tk.Refs(); got != 1 {
		t.Fatalf("Refs() = %d after run, want 1 (the owner's)", got)
	}
}

func TestDelThenReAdd(t *testing.T) {
	q := newQueue(t, 0)
	n := 0
	tk := New(func() { n++ })
	q.Add(tk, -1)
	if !q.Del(tk) {
		t.Fatal("Del of a queued task returned false")
	}
	if q.Del(tk) {
		t.Fatal("second Del returned true")
	}
	if got := tk.Refs(); got != 2 {
		t.Fatalf("Refs() = %d with a stale entry, want 2", got)
	}
	q.Add(tk, -1) // re-added while its entry is still linked: the same entry runs it
	if got := tk.Refs(); got != 2 {
		t.Fatalf("Refs() = %d after re-adding a linked task, want 2 (one entry)", got)
	}
	q.Run(10)
	if n != 1 {
		t.Fatalf("fn ran %d times, want 1", n)
	}
	if got, want := q.Stats().Stale, uint64(0); got != want {
		t.Fatalf("Stale = %d, want %d", got, want)
	}
	if got := tk.Refs(); got != 1 {
		t.Fatalf("Refs() = %d, want 1", got)
	}
}

func TestDeletedTaskDoesNotRun(t *testing.T) {
	q := newQueue(t, 0)
	ran := false
	tk := New(func() { ran = true })
	q.Add(tk, -1)
	q.Del(tk)
	if got := q.Run(10); got != 0 || ran {
		t.Fatalf("Run() = %d, ran = %v; want 0, false", got, ran)
	}
}

func TestTaskReAddsItself(t *testing.T) {
	q := newQueue(t, 0)
	n := 0
	var tk *Task
	tk = New(func() {
		n++
		if n < 3 {
			q.Add(tk, 0)
		}
	})
	q.Add(tk, 0)
	for q.Pending() {
		q.Run(1)
	}
	if n != 3 {
		t.Fatalf("fn ran %d times, want 3", n)
	}
}

// TestReleaseWithoutBarrier is the seed's deadlock case: a task running on
// its queue tears down the object that owns it. With a barrier it would
// wait for itself; with references the release happens when the running
// task drops the queue's reference.
func TestReleaseWithoutBarrier(t *testing.T) {
	q := newQueue(t, 0)
	freed := 0
	tk := &Task{}
	tk.Init(func() {
		q.Del(tk)    // nothing to delete, must not block
		tk.Release() // the owner lets go while the task is still running
		if freed != 0 {
			panic("freed while running")
		}
	}, func() { freed++ })
	q.Add(tk, 0)
	q.Run(1)
	if freed != 1 {
		t.Fatalf("release ran %d times, want 1", freed)
	}
}

func TestReleaseAfterDelWaitsForStaleEntry(t *testing.T) {
	q := newQueue(t, 0)
	freed := 0
	tk := &Task{}
	tk.Init(func() { t.Fatal("deleted task ran") }, func() { freed++ })
	q.Add(tk, -1)
	q.Del(tk)
	tk.Release()
	if freed != 0 {
		t.Fatal("released while the ring still referenced the task")
	}
	q.Run(1)
	if freed != 1 {
		t.Fatalf("release ran %d times, want 1", freed)
	}
}

// TestNeverFull is the rule that replaced the bounded ring: any number of
// distinct tasks can be queued at once, each runs exactly once, in order,
// and none is refused (a lost FIN or wake-up was the ring's failure mode).
func TestNeverFull(t *testing.T) {
	q := newQueue(t, 0)
	const n = 100000
	order := make([]int, 0, n)
	tasks := make([]*Task, n)
	for i := range tasks {
		tasks[i] = New(func() { order = append(order, i) })
		q.Add(tasks[i], -1)
		q.Add(tasks[i], -1) // a second Add of a queued task is a no-op
	}
	if got := q.Stats().Added; got != n {
		t.Fatalf("Added = %d, want %d", got, n)
	}
	for q.Pending() {
		q.Run(256)
	}
	if len(order) != n {
		t.Fatalf("%d tasks ran, want %d", len(order), n)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("task %d ran in position %d: not FIFO", v, i)
		}
	}
	for _, tk := range tasks {
		if tk.Queued() || tk.Refs() != 1 {
			t.Fatalf("task left queued=%v refs=%d", tk.Queued(), tk.Refs())
		}
	}
}

// TestConcurrentProducersLoseNothing drives the queue from several
// producers at once while the owner runs it: every Add made while the
// task was not queued must be followed by a run.
func TestConcurrentProducersLoseNothing(t *testing.T) {
	q := newQueue(t, 0)
	const producers, per = 4, 20000
	var ran atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				q.Add(New(func() { ran.Add(1) }), p)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			for q.Pending() {
				q.Run(256)
			}
			if got := ran.Load(); got != producers*per {
				t.Fatalf("%d tasks ran, want %d", got, producers*per)
			}
			return
		default:
			q.Run(64)
		}
	}
}

func TestCrossedCounter(t *testing.T) {
	woke := 0
	q := NewQueue(1, func() { woke++ })
	q.Add(New(func() {}), 1)  // own softnet
	q.Add(New(func() {}), -1) // application
	q.Add(New(func() {}), 0)  // another softnet
	s := q.Stats()
	if s.Added != 3 || s.Crossed != 1 || woke != 3 {
		t.Fatalf("Added, Crossed, wakes = %d, %d, %d; want 3, 1, 3", s.Added, s.Crossed, woke)
	}
}

func TestConcurrentAddDel(t *testing.T) {
	q := newQueue(t, 0)
	var runs atomic.Int64
	var freed atomic.Int64
	tasks := make([]*Task, 8)
	for i := range tasks {
		tasks[i] = &Task{}
		tasks[i].Init(func() { runs.Add(1) }, func() { freed.Add(1) })
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := 0; p < 3; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				tk := tasks[(i+p)%len(tasks)]
				if i%3 == 0 {
					q.Del(tk)
				} else {
					q.Add(tk, p)
				}
			}
		}(p)
	}
	go func() { wg.Wait(); close(stop) }()
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		q.Run(32)
	}
	for q.Pending() {
		q.Run(32)
	}
	for q.Pending() {
		q.Run(64)
	}
	// After the storm every task still works: added once more, each runs
	// exactly once.
	before := runs.Load()
	for _, tk := range tasks {
		q.Add(tk, -1)
	}
	for q.Pending() {
		q.Run(64)
	}
	if got := runs.Load() - before; got != int64(len(tasks)) {
		t.Fatalf("after the storm %d runs, want %d", got, len(tasks))
	}
	for _, tk := range tasks {
		if tk.Queued() || tk.Refs() != 1 {
			t.Fatalf("task left queued=%v refs=%d, want false and 1", tk.Queued(), tk.Refs())
		}
		tk.Release()
	}
	if got := freed.Load(); got != int64(len(tasks)) {
		t.Fatalf("released %d tasks, want %d", got, len(tasks))
	}
}

func TestNoAllocs(t *testing.T) {
	q := newQueue(t, 0)
	tk := New(func() {})
	if n := testing.AllocsPerRun(1000, func() {
		q.Add(tk, 0)
		q.Run(1)
	}); n != 0 {
		t.Fatalf("Add+Run allocated %v times, want 0", n)
	}
}

func BenchmarkAddRun(b *testing.B) {
	q := NewQueue(0, nil)
	tk := New(func() {})
	b.ReportAllocs()
	for b.Loop() {
		q.Add(tk, 1)
		q.Run(1)
	}
}

// runs records the kinds of the tasks run on it.
type runs []int

func (r *runs) RunTask(kind int) { *r = append(*r, kind) }

// TestHandlerTasks: tasks bound to one Handler run it with their own
// kinds, release runs on the last reference, and binding allocates
// nothing.
func TestHandlerTasks(t *testing.T) {
	q := newQueue(t, 0)
	got := make(runs, 0, 4)
	var a, b Task
	released := 0
	rel := func() { released++ }
	if n := testing.AllocsPerRun(100, func() {
		a.InitHandler(&got, 1, rel)
		b.InitHandler(&got, 2, nil)
	}); n != 0 {
		t.Fatalf("InitHandler allocates %.0f times", n)
	}
	q.Add(&b, -1)
	q.Add(&a, -1)
	if n := q.Run(10); n != 2 || len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Fatalf("ran %d, handler saw %v, want 2 and [2 1]", n, got)
	}
	a.Release()
	if released != 1 {
		t.Fatalf("release ran %d times, want 1", released)
	}
}
