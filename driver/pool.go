package driver

import (
	"errors"
	"sync/atomic"
)

// Pool is a fixed set of packet buffers feeding one queue.
//
// Get and Put belong to the pool's owner, the goroutine that polls the
// queue; they are a pointer pop and push. Any other goroutine returns a
// packet with Packet.Free, which pushes it on a lock-free stack; the owner
// takes that whole stack back in one atomic swap when its own list runs
// dry. A pool never grows: when it is empty Get returns nil, and the
// caller drops and counts.
type Pool struct {
	free   *Packet
	nfree  int
	size   int
	remote atomic.Pointer[Packet]

	// exhausted counts Get calls that found the pool empty.
	exhausted atomic.Uint64
}

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
	p := &Pool{size: n}
	for i := range pkts {
		pk := &pkts[i]
		pk.Init(slab[i*bufLen:(i+1)*bufLen:(i+1)*bufLen], headroom, p)
		pk.Next = p.free
		p.free = pk
		p.nfree++
	}
	return p, nil
}

// Get takes a packet, reset to an empty frame with the default headroom.
// It returns nil when the pool is exhausted. Owner only.
func (p *Pool) Get() *Packet {
	pk := p.free
	if pk == nil {
		p.reclaim()
		pk = p.free
		if pk == nil {
			p.exhausted.Store(p.exhausted.Load() + 1)
			return nil
		}
	}
	p.free = pk.Next
	p.nfree--
	pk.Reset()
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
	pk.Next = p.free
	p.free = pk
	p.nfree++
}

func (p *Pool) putRemote(pk *Packet) {
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
	for pk := p.remote.Swap(nil); pk != nil; {
		next := pk.Next
		pk.Next = p.free
		p.free = pk
		p.nfree++
		pk = next
	}
}

// Adopt makes pk, a packet of another pool with a buffer of the same
// shape, a member of this pool, without putting it on the free list. A
// driver that exchanges buffers between queues (as a NIC's receive ring
// swaps a filled buffer for an empty one) adopts each buffer it hands
// over, so that every pool keeps its size. Only the goroutine that owns pk
// may call it.
func (p *Pool) Adopt(pk *Packet) { pk.pool = p }

// Size returns the number of packets the pool was made with.
func (p *Pool) Size() int { return p.size }

// Available returns the packets free in the pool, counting those other
// goroutines have returned. Owner only.
func (p *Pool) Available() int {
	p.reclaim()
	return p.nfree
}

// Exhausted returns how many Get calls found the pool empty. Any
// goroutine may call it.
func (p *Pool) Exhausted() uint64 { return p.exhausted.Load() }
