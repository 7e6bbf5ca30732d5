package driver

import (
	"slices"
	"sync"
	"testing"
)

func mustPool(t testing.TB, n, headroom, dataRoom int) *Pool {
	t.Helper()
	p, err := NewPool(n, headroom, dataRoom)
	if err != nil {
		t.Fatalf("NewPool(%d, %d, %d): %v", n, headroom, dataRoom, err)
	}
	return p
}

func TestNewPoolValidation(t *testing.T) {
	tests := []struct {
		n, headroom, dataRoom int
		ok                    bool
	}{
		{1, 0, 1, true},
		{16, DefaultHeadroom, DefaultDataRoom, true},
		{4, 0xffff, 1, true},
		{0, 128, 2048, false},
		{-1, 128, 2048, false},
		{4, -1, 2048, false},
		{4, 0x10000, 2048, false},
		{4, 128, 0, false},
		{4, 128, -5, false},
	}
	for _, tc := range tests {
		p, err := NewPool(tc.n, tc.headroom, tc.dataRoom)
		if got := err == nil; got != tc.ok {
			t.Errorf("NewPool(%d, %d, %d) error %v, want ok=%v", tc.n, tc.headroom, tc.dataRoom, err, tc.ok)
			continue
		}
		if !tc.ok {
			if p != nil {
				t.Errorf("NewPool(%d, %d, %d) got pool %p with an error", tc.n, tc.headroom, tc.dataRoom, p)
			}
			continue
		}
		if got, want := p.Size(), tc.n; got != want {
			t.Errorf("Size() got %v, want %v", got, want)
		}
		if got, want := p.Available(), tc.n; got != want {
			t.Errorf("Available() got %v, want %v", got, want)
		}
	}
}

func TestPoolPacketsShape(t *testing.T) {
	const n, head, room = 8, 64, 256
	p := mustPool(t, n, head, room)
	seen := map[*Packet]bool{}
	var bufs [][]byte
	for range n {
		pk := p.Get()
		if pk == nil {
			t.Fatalf("Get returned nil with packets free")
		}
		if seen[pk] {
			t.Fatalf("Get returned %p twice", pk)
		}
		seen[pk] = true
		if got, want := len(pk.Buf), head+room; got != want {
			t.Fatalf("len(Buf) got %v, want %v", got, want)
		}
		if got, want := cap(pk.Buf), head+room; got != want {
			// The buffers share one slab; a capacity beyond the buffer
			// would let an append run into the neighbour.
			t.Fatalf("cap(Buf) got %v, want %v", got, want)
		}
		if got, want := shapeOf(pk), (shape{head, 0, head, room}); got != want {
			t.Fatalf("fresh packet got %+v, want %+v", got, want)
		}
		if pk.Pool() != p {
			t.Fatalf("Pool() got %p, want %p", pk.Pool(), p)
		}
		// Fill the whole buffer: neighbours must not change.
		for i := range pk.Buf {
			pk.Buf[i] = byte(len(bufs))
		}
		bufs = append(bufs, pk.Buf)
	}
	for i, b := range bufs {
		for _, c := range b {
			if c != byte(i) {
				t.Fatalf("buffer %d was overwritten by a neighbour", i)
			}
		}
	}
}

func TestPoolExhaustion(t *testing.T) {
	const n = 5
	p := mustPool(t, n, 16, 64)
	var got []*Packet
	for i := range n {
		pk := p.Get()
		if pk == nil {
			t.Fatalf("Get %d returned nil", i)
		}
		got = append(got, pk)
		if a, want := p.Available(), n-i-1; a != want {
			t.Fatalf("Available() after %d Gets got %v, want %v", i+1, a, want)
		}
	}
	for i := range 3 {
		if pk := p.Get(); pk != nil {
			t.Fatalf("Get on an empty pool got %p, want nil", pk)
		}
		if e, want := p.Exhausted(), uint64(i+1); e != want {
			t.Fatalf("Exhausted() got %v, want %v", e, want)
		}
	}
	var bulk [4]*Packet
	if k := p.GetBulk(bulk[:]); k != 0 {
		t.Fatalf("GetBulk on an empty pool got %v, want 0", k)
	}
	if e, want := p.Exhausted(), uint64(4); e != want {
		t.Fatalf("Exhausted() after GetBulk got %v, want %v", e, want)
	}
	p.Put(got[0])
	if k := p.GetBulk(bulk[:]); k != 1 {
		t.Fatalf("GetBulk with one free got %v, want 1", k)
	}
	if bulk[0] != got[0] {
		t.Fatalf("GetBulk got %p, want %p", bulk[0], got[0])
	}
	p.Put(bulk[0])
	for _, pk := range got[1:] {
		p.Put(pk)
	}
	if a := p.Available(); a != n {
		t.Fatalf("Available() after returning all got %v, want %v", a, n)
	}
	if k := p.GetBulk(bulk[:]); k != 4 {
		t.Fatalf("GetBulk got %v, want 4", k)
	}
}

func TestPoolPutGetRoundTrip(t *testing.T) {
	p := mustPool(t, 4, 32, 128)
	pk := p.Get()
	pk.Append(50)
	pk.Prepend(10)
	pk.Hash, pk.Flags, pk.Port, pk.Queue = 99, RxHashValid, 1, 2
	pk.Next = pk
	p.Put(pk)
	if got, want := p.Available(), 4; got != want {
		t.Fatalf("Available() got %v, want %v", got, want)
	}
	// The pool is a stack: the packet just returned comes back first,
	// reset.
	again := p.Get()
	if again != pk {
		t.Fatalf("Get after Put got %p, want %p", again, pk)
	}
	if got, want := shapeOf(again), (shape{32, 0, 32, 128}); got != want {
		t.Fatalf("reused packet got %+v, want %+v", got, want)
	}
	if again.Hash != 0 || again.Flags != 0 || again.Port != 0 || again.Queue != 0 || again.Next != nil {
		t.Fatalf("reused packet metadata not reset: %+v", again)
	}
}

func TestPoolFreeReclaim(t *testing.T) {
	const n = 8
	p := mustPool(t, n, 16, 64)
	var all []*Packet
	for range n {
		all = append(all, p.Get())
	}
	// Freed by another goroutine: the owner's list is empty until Get
	// reclaims the remote stack.
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, pk := range all[:3] {
			pk.Free()
		}
	})
	wg.Wait()
	if got, want := len(p.free), 0; got != want {
		t.Fatalf("owner list before reclaim got %v, want %v", got, want)
	}
	seen := map[*Packet]bool{}
	for range 3 {
		pk := p.Get()
		if pk == nil {
			t.Fatalf("Get after remote Free returned nil")
		}
		seen[pk] = true
	}
	for _, pk := range all[:3] {
		if !seen[pk] {
			t.Fatalf("Get did not return remotely freed packet %p", pk)
		}
	}
	if pk := p.Get(); pk != nil {
		t.Fatalf("Get got %p, want nil", pk)
	}
	if got, want := p.Exhausted(), uint64(1); got != want {
		t.Fatalf("Exhausted() got %v, want %v", got, want)
	}
	// Free by the owner works too, and Available counts remote frees.
	for _, pk := range all {
		pk.Free()
	}
	if got, want := p.Available(), n; got != want {
		t.Fatalf("Available() got %v, want %v", got, want)
	}
}

// TestPoolConcurrentFree frees packets from many goroutines at once while
// the owner keeps allocating; run it with -race.
func TestPoolConcurrentFree(t *testing.T) {
	const (
		n       = 512
		workers = 8
		rounds  = 20
	)
	p := mustPool(t, n, 16, 64)
	ch := make(chan *Packet, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for pk := range ch {
				pk.Data() // touch it as the new owner
				pk.Free()
			}
		})
	}
	handed := 0
	for range rounds {
		for {
			pk := p.Get()
			if pk == nil {
				break
			}
			pk.Append(8)[0] = byte(handed)
			handed++
			ch <- pk
		}
	}
	close(ch)
	wg.Wait()
	if handed < n {
		t.Fatalf("handed out %d packets, want at least %d", handed, n)
	}
	if got, want := p.Exhausted(), uint64(rounds); got != want {
		t.Fatalf("Exhausted() got %v, want %v", got, want)
	}
	if got, want := p.Available(), p.Size(); got != want {
		t.Fatalf("Available() got %v, want %v", got, want)
	}
	// Every packet is distinct and usable again.
	seen := map[*Packet]bool{}
	for range n {
		pk := p.Get()
		if pk == nil || seen[pk] {
			t.Fatalf("Get after concurrent frees got %p (seen %v)", pk, seen[pk])
		}
		seen[pk] = true
	}
	if pk := p.Get(); pk != nil {
		t.Fatalf("pool grew: got %p, want nil", pk)
	}
}

// TestPoolConcurrentFreeStorm has all goroutines free at the same instant.
func TestPoolConcurrentFreeStorm(t *testing.T) {
	const n, workers = 1024, 16
	p := mustPool(t, n, 0, 32)
	var pkts []*Packet
	for range n {
		pkts = append(pkts, p.Get())
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		part := pkts[w*n/workers : (w+1)*n/workers]
		wg.Go(func() {
			<-start
			for _, pk := range part {
				pk.Free()
			}
		})
	}
	close(start)
	wg.Wait()
	if got, want := p.Available(), p.Size(); got != want {
		t.Fatalf("Available() got %v, want %v", got, want)
	}
}

func TestPoolAdopt(t *testing.T) {
	a := mustPool(t, 2, 16, 64)
	b := mustPool(t, 2, 16, 64)
	pa, pb := a.Get(), b.Get()
	// Swap buffers, as the in-memory wire does.
	b.Adopt(pa)
	a.Adopt(pb)
	if pa.Pool() != b || pb.Pool() != a {
		t.Fatalf("Adopt did not change pools")
	}
	if got, want := a.Available(), 1; got != want {
		t.Fatalf("Adopt changed Available(): got %v, want %v", got, want)
	}
	pa.Free()
	pb.Free()
	if got, want := a.Available(), 2; got != want {
		t.Fatalf("a.Available() got %v, want %v", got, want)
	}
	if got, want := b.Available(), 2; got != want {
		t.Fatalf("b.Available() got %v, want %v", got, want)
	}
}

func TestPoolNoAllocs(t *testing.T) {
	p := mustPool(t, 64, DefaultHeadroom, DefaultDataRoom)
	if a := testing.AllocsPerRun(1000, func() {
		pk := p.Get()
		pk.Append(60)
		p.Put(pk)
	}); a != 0 {
		t.Errorf("Get+Put: got %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		pk := p.Get()
		pk.Free()
	}); a != 0 {
		t.Errorf("Get+Free: got %v allocs, want 0", a)
	}
	var bulk [64]*Packet
	if a := testing.AllocsPerRun(200, func() {
		// Free the whole pool remotely, then take it back through the
		// remote stack.
		k := p.GetBulk(bulk[:])
		for _, pk := range bulk[:k] {
			pk.Free()
		}
		for range k {
			p.Put(p.Get())
		}
	}); a != 0 {
		t.Errorf("GetBulk+Free+Get: got %v allocs, want 0", a)
	}
}

// fakeBackend hands out packets from a fixed set and counts bulk calls.
type fakeBackend struct {
	free          []*Packet
	allocs, frees int
}

func newFakeBackend(n int) *fakeBackend {
	b := &fakeBackend{}
	for i := 0; i < n; i++ {
		pk := &Packet{}
		pk.Init(make([]byte, 256), 64, nil)
		b.free = append(b.free, pk)
	}
	return b
}

func (b *fakeBackend) AllocBulk(pkts []*Packet) int {
	b.allocs++
	n := copy(pkts, b.free)
	b.free = b.free[n:]
	return n
}

func (b *fakeBackend) FreeBulk(pkts []*Packet) {
	b.frees++
	b.free = append(b.free, pkts...)
}

func TestBackedPool(t *testing.T) {
	if _, err := NewBackedPool(nil, 8, 16); err == nil {
		t.Fatal("NewBackedPool(nil) succeeded")
	}
	if _, err := NewBackedPool(newFakeBackend(1), 8, 15); err == nil {
		t.Fatal("cache smaller than two batches accepted")
	}
	be := newFakeBackend(100)
	p, err := NewBackedPool(be, 8, 16)
	if err != nil {
		t.Fatal(err)
	}
	var got []*Packet
	for pk := p.Get(); pk != nil; pk = p.Get() {
		if pk.Pool() != p || pk.Headroom() != 64 {
			t.Fatalf("packet pool %p headroom %d, want %p and 64", pk.Pool(), pk.Headroom(), p)
		}
		got = append(got, pk)
	}
	if len(got) != 100 || p.Exhausted() != 1 {
		t.Fatalf("got %d packets, exhausted %d; want 100 and 1", len(got), p.Exhausted())
	}
	if be.allocs != 14 { // 13 batches of 8 (the last one short), then one empty
		t.Fatalf("AllocBulk called %d times, want 14 (one per batch)", be.allocs)
	}
	for _, pk := range got[:50] {
		p.Put(pk)
	}
	for _, pk := range got[50:] {
		pk.Free() // from "another goroutine"
	}
	if p.Available() > 16 {
		t.Fatalf("local cache holds %d, want at most 16", p.Available())
	}
	p.Flush()
	if p.Available() != 0 || len(be.free) != 100 {
		t.Fatalf("after Flush: cache %d, backend %d; want 0 and 100", p.Available(), len(be.free))
	}
}

// TestBackedPoolLent: a lent packet (Packet.Lend) freed by its owner or
// another goroutine goes back to the backend, a batch at a time and on
// Flush, and never out of Get again before the backend hands it out anew;
// Get clears the mark.
func TestBackedPoolLent(t *testing.T) {
	be := newFakeBackend(64)
	p, err := NewBackedPool(be, 8, 16)
	if err != nil {
		t.Fatal(err)
	}
	var lent []*Packet
	for i := 0; i < 12; i++ {
		pk := p.Get()
		pk.Lend()
		lent = append(lent, pk)
	}
	fresh := p.Get()
	for _, pk := range lent[:7] {
		p.Put(pk)
	}
	lent[7].Free() // the eighth, from "another goroutine": reclaimed by the next Get
	p.Put(fresh)
	seen := map[*Packet]bool{}
	// Four from the local cache (fresh and the three never handed out),
	// the fifth after reclaiming the remote free and refilling.
	for i := 0; i < 5; i++ {
		pk := p.Get()
		seen[pk] = true
	}
	if be.frees != 1 || len(p.lent) != 0 {
		t.Fatalf("after 8 lent packets freed: %d FreeBulk calls, %d waiting; want one batch of 8 sent", be.frees, len(p.lent))
	}
	for _, pk := range lent[:8] {
		if seen[pk] {
			t.Fatal("Get handed out a lent packet from the local cache")
		}
		if !slices.Contains(be.free, pk) {
			t.Fatal("a freed lent packet is not back with the backend")
		}
	}
	for _, pk := range lent[8:] {
		p.Put(pk)
	}
	if len(p.lent) != 4 {
		t.Fatalf("%d lent packets waiting, want 4 (less than a batch)", len(p.lent))
	}
	p.Flush()
	if len(p.lent) != 0 || !slices.Contains(be.free, lent[11]) {
		t.Fatal("Flush left lent packets behind")
	}
	// Handed out anew by the backend, a packet is no longer lent.
	for pk := p.Get(); pk != nil; pk = p.Get() {
		if pk.lent {
			t.Fatal("Get returned a packet still marked lent")
		}
	}
}

// TestBackedPoolRemoteOverflow: a backed pool's ring of remotely freed
// packets is bounded; frees past it go on the linked stack, and the owner
// takes back every one of them, lent ones to the backend.
func TestBackedPoolRemoteOverflow(t *testing.T) {
	const n = 3 * backedRing
	be := newFakeBackend(n)
	p, err := NewBackedPool(be, 8, 16)
	if err != nil {
		t.Fatal(err)
	}
	var got []*Packet
	for pk := p.Get(); pk != nil; pk = p.Get() {
		got = append(got, pk)
	}
	if len(got) != n {
		t.Fatalf("got %d packets, want %d", len(got), n)
	}
	for i, pk := range got {
		if i%2 == 0 {
			pk.Lend()
		}
		pk.Free() // from "another goroutine": the ring fills, the rest go on the stack
	}
	if p.freed.Len() != p.freed.Cap() || p.remote.Load() == nil {
		t.Fatalf("ring holds %d of %d, stack empty %v: want a full ring and the rest on the stack", p.freed.Len(), p.freed.Cap(), p.remote.Load() == nil)
	}
	p.Flush()
	if p.Available() != 0 || len(be.free) != n {
		t.Fatalf("after Flush: cache %d, backend %d; want 0 and %d", p.Available(), len(be.free), n)
	}
	seen := map[*Packet]bool{}
	for _, pk := range be.free {
		if seen[pk] {
			t.Fatal("a packet went back to the backend twice")
		}
		seen[pk] = true
	}
}

// TestPoolGetResets: Get hands out a packet freed by another goroutine or
// put back by the owner with the pool's headroom and no metadata left from its last use.
func TestPoolGetResets(t *testing.T) {
	p, err := NewPool(4, 32, 256)
	if err != nil {
		t.Fatal(err)
	}
	var pks []*Packet
	for range 4 {
		pk := p.Get()
		pk.Prepend(10)
		pk.Append(100)
		pk.Hash, pk.Flags, pk.Port, pk.Loops, pk.SegSize = 7, RxTCPCoalesced, 3, 2, 0
		pk.Next = pk
		pks = append(pks, pk)
	}
	for i, pk := range pks {
		if i%2 == 0 {
			pk.Free()
		} else {
			p.Put(pk)
		}
	}
	for range 4 {
		pk := p.Get()
		if pk == nil {
			t.Fatal("a remotely freed packet did not come back")
		}
		if pk.Headroom() != 32 || pk.Len() != 0 || pk.Hash != 0 || pk.Flags != 0 || pk.Port != 0 || pk.Loops != 0 || pk.Next != nil {
			t.Fatalf("Get after Free: headroom %d len %d hash %d flags %v port %d loops %d next %p; want a clean packet with headroom 32",
				pk.Headroom(), pk.Len(), pk.Hash, pk.Flags, pk.Port, pk.Loops, pk.Next)
		}
	}
}
