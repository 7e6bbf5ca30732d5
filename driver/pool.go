package driver

import (
	"errors"
	"sync/atomic"

	"github.com/netsplice/netsplice/internal/ring"
)

// Pool is a fixed set of packet buffers feeding one queue.
//
// Get and Put belong to the pool's owner, the goroutine that polls the
// queue; they are a pop and a push on an array of pointers that only the
// owner touches. Any other goroutine returns a packet with Packet.Free,
// which pushes its pointer on a lock-free ring of the pool's (a backed
// pool's ring may fill: the rest go on a lock-free stack linked through
// Packet.Next); the owner takes them back when its own array runs dry. A
// pool never grows: when it is empty Get returns nil, and the caller drops
// and counts.
//
// Free packets are pointers in arrays, not a list linked through the
// packets, because a packet's metadata is often last written by another
// core (a receiver that swapped buffers, an application that freed it):
// walking a linked list reads each packet to find the next one, a cache
// miss the walk waits for, one after the other; taking pointers from an
// array reads the pool's own memory, and the packet's line is first
// written (Get resets a Go-memory packet without reading it), which the
// core does not wait for.
type Pool struct {
	free []*Packet
	size int
	// headroom is every buffer's headroom in a Go-memory pool (NewPool),
	// -1 in a backed pool, whose packets keep their own.
	headroom int
	// freed holds the packets other goroutines returned; remote those
	// that found it full (backed pools only: a Go-memory pool's ring
	// holds all its packets).
	freed  ring.MPSC[Packet]
	remote atomic.Pointer[Packet]

	// For pools backed by buffers outside Go (DPDK mempools): packets move
	// to and from the backend a batch at a time, so a cgo call is paid
	// per batch, not per packet.
	backend  PoolBackend
	batch    []*Packet
	cacheMax int
	// lent are freed packets a driver lent (Packet.Lend), on their way to
	// the backend a batch at a time, never to Get.
	lent []*Packet

	// exhausted counts Get calls that found the pool empty.
	exhausted atomic.Uint64
}

// PoolBackend supplies and takes back packets in bulk for a Pool whose
// buffers live outside Go memory, such as a DPDK mempool. Its methods are
// called by the pool's owner only.
type PoolBackend interface {
	// AllocBulk fills pkts with packets bound to fresh buffers and returns
	// how many it could allocate.
	AllocBulk(pkts []*Packet) int
	// FreeBulk returns packets to the backend.
	FreeBulk(pkts []*Packet)
}

// PoolLevels is implemented by backends that can tell how many buffers
// they have in all and free right now.
type PoolLevels interface {
	Capacity() int
	Available() int
}

// NewBackedPool returns a pool that keeps a local cache of up to cache
// packets in front of backend, moving batch packets at a time.
func NewBackedPool(backend PoolBackend, batch, cache int) (*Pool, error) {
	if backend == nil || batch < 1 || cache < 2*batch {
		return nil, errors.New("driver: backed pool needs a backend, a positive batch and a cache of at least two batches")
	}
	p := &Pool{backend: backend, headroom: -1, batch: make([]*Packet, batch), cacheMax: cache, free: make([]*Packet, 0, cache+batch)}
	if err := p.freed.Init(max(2*cache, backedRing)); err != nil {
		return nil, err
	}
	return p, nil
}

// backedRing is the least size of a backed pool's ring of packets freed
// by other goroutines.
const backedRing = 1024

// NewPool returns a pool of n packets in Go memory, each with headroom
// bytes in front of dataRoom bytes of data space, all carved out of one
// allocation.
func NewPool(n, headroom, dataRoom int) (*Pool, error) {
	if n <= 0 || headroom < 0 || headroom > 0xffff || dataRoom <= 0 {
		return nil, errors.New("driver: pool needs a positive size and data room and a headroom in 0..65535")
	}
	bufLen := headroom + dataRoom
	slab := make([]byte, n*bufLen)
	pkts := make([]Packet, n)
	p := &Pool{size: n, headroom: headroom, free: make([]*Packet, 0, n)}
	if err := p.freed.Init(n); err != nil {
		return nil, err
	}
	for i := range pkts {
		pk := &pkts[i]
		pk.Init(slab[i*bufLen:(i+1)*bufLen:(i+1)*bufLen], headroom, p)
		p.free = append(p.free, pk)
	}
	return p, nil
}

// Get takes a packet, reset to an empty frame with the default headroom.
// It returns nil when the pool is exhausted. Owner only.
func (p *Pool) Get() *Packet {
	n := len(p.free)
	if n == 0 {
		p.reclaim()
		if len(p.free) == 0 && p.backend != nil {
			p.refill()
		}
		if n = len(p.free); n == 0 {
			p.exhausted.Store(p.exhausted.Load() + 1)
			return nil
		}
	}
	pk := p.free[n-1]
	p.free = p.free[:n-1]
	if p.headroom >= 0 {
		pk.resetTo(p.headroom)
	} else {
		pk.Reset()
	}
	return pk
}

// GetBulk fills pkts with packets and returns how many it got. Owner only.
func (p *Pool) GetBulk(pkts []*Packet) int {
	for i := range pkts {
		pk := p.Get()
		if pk == nil {
			return i
		}
		pkts[i] = pk
	}
	return len(pkts)
}

// Put returns a packet of this pool. Owner only; other goroutines call
// Packet.Free.
func (p *Pool) Put(pk *Packet) {
	if pk.root != nil || pk.shared {
		if !pk.release() {
			return
		}
	}
	if pk.lent && p.backend != nil {
		p.putLent(pk)
		return
	}
	p.free = append(p.free, pk)
	if p.backend != nil && len(p.free) > p.cacheMax {
		p.spill()
	}
}

// putLent sends a lent packet towards the backend: the NIC may still read
// its buffer, so it is not cached for reuse; the backend's reference
// count frees the buffer when the NIC's reference goes too.
func (p *Pool) putLent(pk *Packet) {
	p.lent = append(p.lent, pk)
	if len(p.lent) >= len(p.batch) {
		p.flushLent()
	}
}

func (p *Pool) flushLent() {
	if len(p.lent) > 0 {
		p.backend.FreeBulk(p.lent)
		clear(p.lent)
		p.lent = p.lent[:0]
	}
}

// refill takes a batch from the backend into the local list.
func (p *Pool) refill() {
	n := p.backend.AllocBulk(p.batch)
	for i := 0; i < n; i++ {
		pk := p.batch[i]
		p.batch[i] = nil
		pk.pool = p
		p.free = append(p.free, pk)
	}
}

// spill returns a batch from the local list to the backend.
func (p *Pool) spill() {
	n := min(len(p.batch), len(p.free))
	rest := len(p.free) - n
	copy(p.batch, p.free[rest:])
	clear(p.free[rest:])
	p.free = p.free[:rest]
	p.backend.FreeBulk(p.batch[:n])
	clear(p.batch[:n])
}

// Flush returns every cached packet to the backend (for a backed pool;
// a no-op otherwise). Owner only; used when a port stops.
func (p *Pool) Flush() {
	if p.backend == nil {
		return
	}
	p.reclaim()
	for len(p.free) > 0 {
		p.spill()
	}
	p.flushLent()
}

func (p *Pool) putRemote(pk *Packet) {
	if p.freed.Push(pk) {
		return
	}
	for {
		old := p.remote.Load()
		pk.Next = old
		if p.remote.CompareAndSwap(old, pk) {
			return
		}
	}
}

// reclaim moves packets freed by other goroutines to the owner's list.
func (p *Pool) reclaim() {
	for pk := p.freed.Pop(); pk != nil; pk = p.freed.Pop() {
		if p.backend != nil && pk.lent {
			p.putLent(pk)
		} else {
			p.free = append(p.free, pk)
		}
	}
	if p.remote.Load() != nil {
		for pk := p.remote.Swap(nil); pk != nil; {
			next := pk.Next // left set: Get's Reset clears it
			if pk.lent {
				pk.Next = nil
				p.putLent(pk)
			} else {
				p.free = append(p.free, pk)
			}
			pk = next
		}
	}
	for p.backend != nil && len(p.free) > p.cacheMax {
		p.spill()
	}
}

// Adopt makes pk, a packet of another pool with a buffer of the same
// shape, a member of this pool, without putting it on the free list. A
// driver that exchanges buffers between queues (as a NIC's receive ring
// swaps a filled buffer for an empty one) adopts each buffer it hands
// over, so that every pool keeps its size. Only the goroutine that owns pk
// may call it.
func (p *Pool) Adopt(pk *Packet) { pk.pool = p }

// Size returns the number of packets the pool was made with, or 0 for a
// backed pool, whose size is the backend's.
func (p *Pool) Size() int { return p.size }

// Available returns the packets free in the pool, counting those other
// goroutines have returned (for a backed pool: in its local cache).
// Owner only.
func (p *Pool) Available() int {
	p.reclaim()
	return len(p.free)
}

// Low reports whether fewer than a quarter of the pool's buffers are
// free. Code that fills buffers the network has to drain (TCP send
// queues) stops while the pool is low, so that receiving, which frees
// them, never starves. Owner only.
func (p *Pool) Low() bool {
	if p.backend == nil {
		return p.Available() < p.size/4
	}
	l, ok := p.backend.(PoolLevels)
	if !ok {
		return false
	}
	return p.Available()+l.Available() < l.Capacity()/4
}

// Exhausted returns how many Get calls found the pool empty. Any
// goroutine may call it.
func (p *Pool) Exhausted() uint64 { return p.exhausted.Load() }
