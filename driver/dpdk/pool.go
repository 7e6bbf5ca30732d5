//go:build cgo && !nodpdk

package dpdk

/*
#include <stdlib.h>
#include "ns_dpdk.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/counter"
)

// Descriptor tables: one per mempool, indexed by the tag in each mbuf's
// private area. A table is published once, before any of its mbufs can be
// received, and withdrawn only when its mempool is freed.
const (
	maxTables = 4096
	tagMagic  = 0x4e53
)

var (
	tables    [maxTables]atomic.Pointer[[]driver.Packet]
	tablesMu  sync.Mutex
	poolSeq   int
	tableNext int
)

// lookup returns the descriptor of the mbuf with the given tag, or nil for
// an mbuf that is not from a netsplice mempool.
func lookup(tag uint64) *driver.Packet {
	if tag>>48 != tagMagic {
		return nil
	}
	t := (tag >> 32) & 0xffff
	if t >= maxTables {
		return nil
	}
	d := tables[t].Load()
	if d == nil || uint64(uint32(tag)) >= uint64(len(*d)) {
		return nil
	}
	return &(*d)[uint32(tag)]
}

// mempool is one queue's DPDK mempool with its descriptors: descriptor i
// is bound to the pool's mbuf i for the life of the pool.
type mempool struct {
	mp    *C.struct_rte_mempool
	name  string
	table int
	desc  []driver.Packet
}

// newMempool creates a pktmbuf pool of n mbufs and binds a descriptor to
// each, owned by pool (set later with bind).
func newMempool(port, q, n, cache, socket int) (*mempool, error) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	t := -1
	for i := 0; i < maxTables; i++ {
		j := (tableNext + i) % maxTables
		if tables[j].Load() == nil {
			t = j
			break
		}
	}
	if t < 0 {
		return nil, fmt.Errorf("dpdk: more than %d mempools", maxTables)
	}
	poolSeq++
	name := fmt.Sprintf("ns%d_p%d_q%d", poolSeq, port, q)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	info := make([]C.struct_ns_objinfo, n)
	var buf [errLen]C.char
	dataroom := C.uint16_t(driver.DefaultHeadroom + driver.DefaultDataRoom)
	mp := C.ns_pool_create(cname, C.uint(n), C.uint(cache), dataroom, C.int(socket), C.uint32_t(t), &info[0], &buf[0], errLen)
	if mp == nil {
		return nil, fmt.Errorf("dpdk: mempool %s (%d mbufs): %s", name, n, cerr(buf[:]))
	}
	m := &mempool{mp: mp, name: name, table: t, desc: make([]driver.Packet, n)}
	for i := range m.desc {
		d := &m.desc[i]
		d.Buf = unsafe.Slice((*byte)(info[i].buf), int(info[i].buf_len))
		d.Priv = uintptr(info[i].mbuf)
	}
	tables[t].Store(&m.desc)
	tableNext = t + 1
	return m, nil
}

// bind makes pool the owner of every descriptor, with the mbuf headroom.
func (m *mempool) bind(pool *driver.Pool) {
	for i := range m.desc {
		d := &m.desc[i]
		d.Init(d.Buf, driver.DefaultHeadroom, pool)
	}
}

// avail returns the mbufs in the mempool now, caches included.
func (m *mempool) avail() int { return int(C.ns_pool_avail(m.mp)) }

// free releases the mempool if every mbuf is back in it and reports
// whether it did; otherwise the mempool stays (its mbufs may still be
// referenced) until EAL cleanup.
func (m *mempool) free() bool {
	if m.mp == nil {
		return true
	}
	if int(C.ns_pool_avail(m.mp)) != len(m.desc) {
		return false
	}
	tablesMu.Lock()
	tables[m.table].Store(nil)
	tablesMu.Unlock()
	C.ns_pool_free(m.mp)
	m.mp = nil
	return true
}

// backend is a queue's driver.PoolBackend: bulk allocation and free of
// mbufs, one cgo call per batch. Its owner is the queue's owner.
type backend struct {
	mp    *mempool
	mb    []uintptr
	tags  []uint64
	calls *counter.Counter
	fails counter.Counter
	// level is the mempool's free mbufs as last read, and stale counts
	// the Available calls answered from it since (see Available).
	level int
	stale int
}

// levelReuse is how many Available calls one reading of the mempool's
// level answers while at least half the mempool is free.
const levelReuse = 32

func newBackend(mp *mempool, batch int, calls *counter.Counter) *backend {
	return &backend{mp: mp, mb: make([]uintptr, batch), tags: make([]uint64, batch), calls: calls, stale: levelReuse}
}

// AllocBulk implements driver.PoolBackend.
func (b *backend) AllocBulk(pkts []*driver.Packet) int {
	n := min(len(pkts), len(b.mb))
	if n == 0 {
		return 0
	}
	b.calls.Inc()
	k := int(C.ns_alloc_bulk(b.mp.mp, (*C.uintptr_t)(unsafe.Pointer(&b.mb[0])), (*C.uint64_t)(unsafe.Pointer(&b.tags[0])), C.uint(n)))
	if k < n {
		b.fails.Inc()
		b.stale = levelReuse // read the level afresh next time
	}
	b.level -= k
	for i := 0; i < k; i++ {
		// The mbufs come from this queue's own mempool: the tag is ours.
		pkts[i] = &b.mp.desc[uint32(b.tags[i])]
	}
	return k
}

// Capacity implements driver.PoolLevels.
func (b *backend) Capacity() int { return len(b.mp.desc) }

// Available implements driver.PoolLevels: the mempool's free mbufs,
// caches included. The stack asks before every send buffer it fills
// (driver.Pool.Low), so reading the level (rte_mempool_avail_count, a cgo
// call summing every lcore's cache) each time would be a cgo call per
// packet. While at least half the mempool is free one reading answers
// levelReuse calls, adjusted by this backend's own allocations: other
// users can take at most a few bursts meanwhile, far from the quarter
// that Low checks. Below half, every call reads the level.
func (b *backend) Available() int {
	if b.stale >= levelReuse || b.level < len(b.mp.desc)/2 {
		b.calls.Inc()
		b.level = int(C.ns_avail(b.mp.mp))
		b.stale = 0
	}
	b.stale++
	return max(b.level, 0)
}

// FreeBulk implements driver.PoolBackend. The packets may belong to any
// netsplice mempool: rte_pktmbuf_free_bulk returns each to its own.
func (b *backend) FreeBulk(pkts []*driver.Packet) {
	for len(pkts) > 0 {
		n := min(len(pkts), len(b.mb))
		for i, pk := range pkts[:n] {
			b.mb[i] = pk.Priv
		}
		b.calls.Inc()
		C.ns_free_bulk((*C.uintptr_t)(unsafe.Pointer(&b.mb[0])), C.uint(n))
		pkts = pkts[n:]
	}
}
