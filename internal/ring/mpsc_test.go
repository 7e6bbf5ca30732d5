package ring

import (
	"sync"
	"testing"
)

func TestMPSCOrderAndCapacity(t *testing.T) {
	q, err := New[int](5)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.Cap(), 8; got != want {
		t.Fatalf("Cap() = %d, want %d", got, want)
	}
	vals := make([]int, 9)
	for i := range vals {
		vals[i] = i
	}
	for i := 0; i < 8; i++ {
		if !q.Push(&vals[i]) {
			t.Fatalf("Push %d failed below capacity", i)
		}
	}
	if q.Push(&vals[8]) {
		t.Fatal("Push succeeded on a full queue")
	}
	if got := q.Len(); got != 8 {
		t.Fatalf("Len() = %d, want 8", got)
	}
	if v := q.Peek(); v == nil || *v != 0 || q.Len() != 8 {
		t.Fatalf("Peek() = %v with Len() %d, want 0 and 8 (nothing removed)", v, q.Len())
	}
	for i := 0; i < 8; i++ {
		v := q.Pop()
		if v == nil || *v != i {
			t.Fatalf("Pop #%d = %v, want %d", i, v, i)
		}
	}
	if v := q.Pop(); v != nil || !q.Empty() {
		t.Fatalf("Pop on empty queue = %v, Empty() = %v", v, q.Empty())
	}
}

func TestMPSCInitErrors(t *testing.T) {
	for _, n := range []int{0, -1, 1<<30 + 1} {
		if _, err := New[int](n); err == nil {
			t.Errorf("New(%d) succeeded, want an error", n)
		}
	}
}

// TestMPSCConcurrentProducers checks under the race detector that every
// pushed value arrives exactly once and that each producer's values stay
// in order.
func TestMPSCConcurrentProducers(t *testing.T) {
	const producers, per = 4, 20000
	q, _ := New[[2]int](64)
	vals := make([][2]int, producers*per)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				v := &vals[p*per+i]
				*v = [2]int{p, i}
				for !q.Push(v) {
				}
			}
		}(p)
	}
	next := make([]int, producers)
	for got := 0; got < producers*per; {
		v := q.Pop()
		if v == nil {
			continue
		}
		if v[1] != next[v[0]] {
			t.Fatalf("producer %d: got %d, want %d", v[0], v[1], next[v[0]])
		}
		next[v[0]]++
		got++
	}
	wg.Wait()
	if q.Pop() != nil {
		t.Fatal("extra value after all were consumed")
	}
}

func TestMPSCNoAllocs(t *testing.T) {
	q, _ := New[int](16)
	v := 1
	if n := testing.AllocsPerRun(1000, func() {
		q.Push(&v)
		q.Pop()
	}); n != 0 {
		t.Fatalf("Push+Pop allocated %v times, want 0", n)
	}
}

func BenchmarkMPSCPushPop(b *testing.B) {
	q, _ := New[int](1024)
	v := 1
	b.ReportAllocs()
	for b.Loop() {
		q.Push(&v)
		q.Pop()
	}
}

// TestMPSCLaps: through many laps of the slots, with the queue filled to
// capacity and emptied at staggered points, every value comes out once,
// in order, and a full queue refuses the next.
func TestMPSCLaps(t *testing.T) {
	q, err := New[int](4)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]int, 1000)
	next, want := 0, 0
	for round := 0; next < len(vals)-8; round++ {
		fill := 1 + round%q.Cap()
		for i := 0; i < fill; i++ {
			vals[next] = next
			if !q.Push(&vals[next]) {
				t.Fatalf("round %d: Push %d failed with %d queued", round, next, q.Len())
			}
			next++
		}
		if q.Len() == q.Cap() && q.Push(&vals[0]) {
			t.Fatalf("round %d: Push succeeded on a full queue", round)
		}
		for !q.Empty() {
			v := q.Pop()
			if v == nil || *v != want {
				t.Fatalf("round %d: Pop = %v, want %d", round, v, want)
			}
			want++
		}
	}
	if want != next {
		t.Fatalf("popped %d values, pushed %d", want, next)
	}
}
