package memwire

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
	"github.com/netsplice/netsplice/driver/rss"
	"github.com/netsplice/netsplice/internal/counter"
	"github.com/netsplice/netsplice/stack/header"
)

// Config configures one port of a wire. Zero fields take defaults.
type Config struct {
	// Name identifies the port; default "memN".
	Name string
	// MAC is the port's address; default 02:00:00:00:00:N+1.
	MAC driver.MAC
	// Queues is the number of queue pairs; default 1.
	Queues int
	// BurstSize is the port's fixed burst size; default 32.
	BurstSize int
	// RingSize is the number of receive descriptors per queue; default 512.
	RingSize int
	// PoolSize is the number of buffers per queue; default 4096.
	PoolSize int
	// DataRoom is the data space of a buffer; default 2048.
	DataRoom int
	// MTU is the largest IP packet; default 1500.
	MTU int
	// RSS is the port's RSS configuration; default rss.DefaultConfig.
	RSS *rss.Config
	// Promiscuous makes the port receive every frame on the wire.
	Promiscuous bool
	// SYNQueue gives pure TCP SYNs (driver.PureSYN) a receive ring of
	// their own, apart from the RSS queues, as a NIC's SYN filter does;
	// the port then implements driver.SYNQueuer. The ring has RingSize
	// descriptors and PoolSize buffers, like a queue's.
	SYNQueue bool
	// ChecksumOffload makes the port offload checksums as a veth pair
	// does: it advertises IPv4 header and TCP/UDP checksum offload both
	// ways, a frame it sends with a Tx*Checksum flag crosses the wire with
	// its checksum unfinished (the pseudo header's sum, as the stack
	// leaves it), and a port with ChecksumOffload receives such a frame
	// marked verified (RxIPChecksumGood, RxL4ChecksumGood) without anyone
	// summing its bytes. A port without it receives the frame with its
	// checksums completed, as a NIC completes them before the wire. Frames
	// captured on the sending side carry the unfinished checksums.
	ChecksumOffload bool
	// TSO makes the port take TCP super-frames (driver.TxTCPSeg) as a
	// veth pair or a NIC with TCP segmentation offload does: it cuts each
	// into MSS frames (package driver/gso) as it sends them, and the wire
	// carries those frames. It implies ChecksumOffload, as TSO does on
	// every NIC.
	TSO bool
}

// Wire joins ports. Add all ports before traffic starts.
type Wire struct {
	mu    sync.Mutex
	ports atomic.Pointer[[]*Port]
}

// New returns an empty wire.
func New() *Wire {
	w := &Wire{}
	w.ports.Store(&[]*Port{})
	return w
}

// Port is one port on a wire. It implements driver.Port and
// driver.RxNotifier.
type Port struct {
	wire   *Wire
	index  int
	name   string
	mac    driver.MAC
	mtu    int
	burst  int
	promis bool
	csum   bool        // Config.ChecksumOffload
	tso    bool        // Config.TSO
	lro    atomic.Bool // SetRxCoalesce: super-frames arrive whole
	rss    rss.Config
	hasher *rss.Hasher
	nq     int // queue pairs
	syn    int // index of the SYN ring in rx and pools, or -1
	pools  []*driver.Pool
	rx     []rxQueue // the queues' rings, then the SYN ring
	tx     []txQueue
	closed atomic.Bool
}

// rxQueue models a NIC receive ring. Its fields are grouped by who
// writes them, each group on its own cache lines, and the queues of a port
// (a slice) are kept apart the same way: on a machine with many cores a
// receiver's per-burst writes must not evict the line senders lock, nor
// the next queue's.
type rxQueue struct {
	_ [64]byte

	// Shared by senders and the owner, under mu.
	mu     ringLock
	posted ring // empty buffers, posted by the owner
	done   ring // filled buffers, waiting for RxBurst
	ndone  atomic.Int32
	notify atomic.Pointer[func()]
	// skipped: the owner found the ring locked and left its frames for
	// the next poll; the sender unlocking it wakes the owner then.
	skipped atomic.Bool
	missed  atomic.Uint64 // written by senders under mu
	_       [64]byte

	// Owner-only.
	stash    []*driver.Packet // buffers allocated for posting
	unfilled int              // ring slots left without a buffer at the last poll
	packets  counter.Counter
	bytes    counter.Counter
	nobuf    counter.Counter
	_        [64]byte
}

// ringLock guards a receive ring. A NIC ring never puts its users to
// sleep, and neither may the wire: a sync.Mutex that is contended parks
// the goroutine, and with it the softnet's locked OS thread, for a futex
// round trip of many microseconds in the middle of a burst. The lock is
// held for a few ring operations, so a sender waiting for it spins,
// yielding the processor now and then in case the holder was preempted;
// the ring's owner does not wait at all (RxBurst).
type ringLock struct{ held atomic.Bool }

func (l *ringLock) Lock() {
	for spins := 1; !l.held.CompareAndSwap(false, true); spins++ {
		if spins%64 == 0 {
			runtime.Gosched()
		}
	}
}

// TryLock takes the lock if it is free and reports whether it did.
func (l *ringLock) TryLock() bool { return l.held.CompareAndSwap(false, true) }

func (l *ringLock) Unlock() { l.held.Store(false) }

type txQueue struct {
	packets counter.Counter
	bytes   counter.Counter
	errors  counter.Counter
	segs    []*driver.Packet // scratch for cutting super-frames, owner only
	_       [64]byte         // keep queues owned by different softnets apart
}

// ring is a fixed-capacity FIFO of packets.
type ring struct {
	buf        []*driver.Packet
	head, size int
}

func newRing(n int) ring { return ring{buf: make([]*driver.Packet, n)} }

func (r *ring) push(p *driver.Packet) bool {
	if r.size == len(r.buf) {
		return false
	}
	i := r.head + r.size
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = p
	r.size++
	return true
}

func (r *ring) pop() *driver.Packet {
	if r.size == 0 {
		return nil
	}
	p := r.buf[r.head]
	r.buf[r.head] = nil
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.size--
	return p
}

// AddPort adds a port to the wire.
func (w *Wire) AddPort(cfg Config) (*Port, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := *w.ports.Load()
	idx := len(old)
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("mem%d", idx)
	}
	if cfg.MAC == (driver.MAC{}) {
		cfg.MAC = driver.MAC{0x02, 0, 0, 0, byte(idx >> 8), byte(idx + 1)}
	}
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.BurstSize == 0 {
		cfg.BurstSize = driver.DefaultBurstSize
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = 512
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 4096
	}
	if cfg.DataRoom == 0 {
		cfg.DataRoom = driver.DefaultDataRoom
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	switch {
	case cfg.Queues < 0 || cfg.Queues > 1024:
		return nil, fmt.Errorf("memwire: port %s: %d queues, want 1..1024", cfg.Name, cfg.Queues)
	case cfg.BurstSize < 1 || cfg.BurstSize > 1024:
		return nil, fmt.Errorf("memwire: port %s: burst size %d, want 1..1024", cfg.Name, cfg.BurstSize)
	case cfg.RingSize < cfg.BurstSize:
		return nil, fmt.Errorf("memwire: port %s: ring size %d smaller than burst size %d", cfg.Name, cfg.RingSize, cfg.BurstSize)
	case cfg.PoolSize < cfg.RingSize+2*cfg.BurstSize:
		return nil, fmt.Errorf("memwire: port %s: pool size %d too small for ring %d and two bursts", cfg.Name, cfg.PoolSize, cfg.RingSize)
	case cfg.MTU < 68 || cfg.MTU+14 > cfg.DataRoom:
		return nil, fmt.Errorf("memwire: port %s: MTU %d does not fit 68..data room %d", cfg.Name, cfg.MTU, cfg.DataRoom)
	}
	var rc rss.Config
	if cfg.RSS != nil {
		rc = *cfg.RSS
		rc.RETA = append(rss.RETA(nil), rc.RETA...) // the caller keeps its slice
		if len(rc.RETA) == 0 {
			return nil, fmt.Errorf("memwire: port %s: empty RSS redirection table", cfg.Name)
		}
		for _, q := range rc.RETA {
			if int(q) >= cfg.Queues {
				return nil, fmt.Errorf("memwire: port %s: redirection table names queue %d of %d", cfg.Name, q, cfg.Queues)
			}
		}
	} else {
		var err error
		if rc, err = rss.DefaultConfig(cfg.Queues); err != nil {
			return nil, fmt.Errorf("memwire: port %s: %w", cfg.Name, err)
		}
	}
	p := &Port{
		wire:   w,
		index:  idx,
		name:   cfg.Name,
		mac:    cfg.MAC,
		mtu:    cfg.MTU,
		burst:  cfg.BurstSize,
		promis: cfg.Promiscuous,
		csum:   cfg.ChecksumOffload || cfg.TSO,
		tso:    cfg.TSO,
		rss:    rc,
		hasher: rss.NewHasher(rc.Key),
		nq:     cfg.Queues,
		syn:    -1,
		tx:     make([]txQueue, cfg.Queues),
	}
	rings := cfg.Queues
	if cfg.SYNQueue {
		p.syn = rings // the SYN ring follows the RSS queues' rings
		rings++
	}
	p.pools = make([]*driver.Pool, rings)
	p.rx = make([]rxQueue, rings)
	for q := range p.rx {
		pool, err := driver.NewPool(cfg.PoolSize, driver.DefaultHeadroom, cfg.DataRoom)
		if err != nil {
			return nil, err
		}
		p.pools[q] = pool
		r := &p.rx[q]
		r.posted = newRing(cfg.RingSize)
		r.done = newRing(cfg.RingSize)
		r.stash = make([]*driver.Packet, 0, cfg.BurstSize)
		for r.posted.size < cfg.RingSize {
			r.posted.push(pool.Get())
		}
	}
	ports := append(append([]*Port(nil), old...), p)
	w.ports.Store(&ports)
	return p, nil
}

// Name implements driver.Port.
func (p *Port) Name() string { return p.name }

// MAC implements driver.Port.
func (p *Port) MAC() driver.MAC { return p.mac }

// MTU implements driver.Port.
func (p *Port) MTU() int { return p.mtu }

// NumQueues implements driver.Port.
func (p *Port) NumQueues() int { return p.nq }

// BurstSize implements driver.Port.
func (p *Port) BurstSize() int { return p.burst }

// RSS implements driver.Port.
func (p *Port) RSS() rss.Config { return p.rss }

// Offloads implements driver.Port: checksums both ways with
// Config.ChecksumOffload, and TCP segmentation with Config.TSO, else
// nothing, so every checksum the stack emits is real.
func (p *Port) Offloads() driver.Offloads {
	if !p.csum {
		return 0
	}
	o := driver.OffloadRxIPChecksum | driver.OffloadRxL4Checksum |
		driver.OffloadTxIPChecksum | driver.OffloadTxTCPChecksum | driver.OffloadTxUDPChecksum
	if p.tso {
		o |= driver.OffloadTxTCPSeg
	}
	return o
}

// Link implements driver.Port.
func (p *Port) Link() driver.Link { return driver.Link{Up: !p.closed.Load(), SpeedMbps: 100000} }

// Pool implements driver.Port.
func (p *Port) Pool(q int) *driver.Pool { return p.pools[q] }

// SetRxNotify implements driver.RxNotifier. Queue 0's notifier also
// fires for the SYN ring, which queue 0's owner polls.
func (p *Port) SetRxNotify(q int, fn func()) {
	var f *func()
	if fn != nil {
		f = &fn
	}
	p.rx[q].notify.Store(f)
	if q == 0 && p.syn >= 0 {
		p.rx[p.syn].notify.Store(f)
	}
}

// SYNQueue implements driver.SYNQueuer.
func (p *Port) SYNQueue() bool { return p.syn >= 0 }

// RxSYNBurst implements driver.SYNQueuer: RxBurst for the SYN ring, from
// the owner of queue 0. It returns 0 on a port without a SYN ring. It
// never waits for the ring's lock: while a flood's sender holds it, the
// SYNs are not worth the owner's time, and the next poll tries again.
func (p *Port) RxSYNBurst(pkts []*driver.Packet) int {
	if p.syn < 0 {
		return 0
	}
	return p.rxBurst(p.syn, pkts)
}

// accepts reports whether the port receives a frame for dst.
func (p *Port) accepts(dst []byte) bool {
	return p.promis || dst[0]&1 != 0 || [6]byte(dst) == p.mac
}

// rxQueueFor returns the receive ring and hash for a frame (the SYN ring
// for a pure SYN when the port has one), and whether
// the frame was hashed, as a NIC reports with its RSS-hash flag: IPv4 or
// IPv6 with an enabled hash type (a zero hash counts as not hashed, so one
// flow in 2^32 is reported without the flag).
func (p *Port) rxQueueFor(frame []byte) (int, uint32, bool) {
	h := p.hasher.HashFrame(frame, p.rss.Types)
	if p.syn >= 0 && driver.PureSYN(frame) {
		return p.syn, h, h != 0
	}
	return p.rss.RETA.Queue(h), h, h != 0
}

// TxBurst implements driver.Port. It delivers every frame at once to the
// receive rings of the ports it is for, and always takes all of pkts:
// frames it cannot deliver are dropped and counted. A super-frame
// (driver.TxTCPSeg) on a port with Config.TSO is cut into frames from the
// queue's pool, which the wire carries; its payload is read here and not
// kept.
func (p *Port) TxBurst(q int, pkts []*driver.Packet) int {
	tx := txBurst{port: p, tq: &p.tx[q], pool: p.pools[q], ports: *p.wire.ports.Load()}
	for _, pk := range pkts {
		if pk.Flags&driver.TxTCPSeg != 0 {
			tx.superFrame(pk)
			continue
		}
		tx.frame(pk)
	}
	tx.release()
	return len(pkts)
}

// release unlocks the receive ring the burst holds, if any, and wakes its
// owner.
func (tx *txBurst) release() {
	if tx.cur != nil {
		tx.cur.mu.Unlock()
		tx.cur.wake(tx.delivered)
		tx.cur, tx.curPool, tx.delivered = nil, nil, 0
	}
}

// txBurst is the state of one TxBurst: the sending queue and the receive
// ring it holds locked while consecutive frames go there.
type txBurst struct {
	port      *Port
	tq        *txQueue
	pool      *driver.Pool
	ports     []*Port
	cur       *rxQueue
	curPool   *driver.Pool
	delivered int
}

// frame sends one frame: to every port that accepts it, the last getting
// pk itself and earlier ones copies.
func (tx *txBurst) frame(pk *driver.Packet) {
	p := tx.port
	frame := pk.Data()
	if len(frame) < 14 || len(frame) > p.mtu+14 || p.closed.Load() {
		tx.tq.errors.Inc()
		putBack(tx.pool, pk)
		return
	}
	tx.tq.packets.Inc()
	tx.tq.bytes.Add(uint64(len(frame)))
	var lastDst *Port
	for _, dst := range tx.ports {
		if dst == p || dst.closed.Load() || !dst.accepts(frame) {
			continue
		}
		if lastDst != nil {
			tx.cur, tx.curPool, tx.delivered = lastDst.deliver(pk, false, tx.pool, tx.cur, tx.curPool, tx.delivered)
		}
		lastDst = dst
	}
	if lastDst == nil {
		// No port on the wire takes this address: the frame is lost
		// on the wire, as a switch drops it, and counted.
		tx.tq.errors.Inc()
		putBack(tx.pool, pk)
		return
	}
	tx.cur, tx.curPool, tx.delivered = lastDst.deliver(pk, true, tx.pool, tx.cur, tx.curPool, tx.delivered)
}

// superFrame cuts a TCP super-frame into frames from the queue's pool and
// sends them. A port without TSO, a malformed super-frame or a pool too
// short for all its frames drops it whole, counted as one error (TCP
// sends it again).
func (tx *txBurst) superFrame(pk *driver.Packet) {
	if !tx.port.tso {
		tx.tq.errors.Inc()
		putBack(tx.pool, pk)
		return
	}
	if dst := tx.only(pk.Data()); dst != nil && dst.lro.Load() && tx.coalesced(pk, dst) {
		putBack(tx.pool, pk)
		return
	}
	// The copies take microseconds: no receiver waits on its ring
	// meanwhile.
	tx.release()
	segs, err := gso.Cut(pk, tx.pool, tx.tq.segs)
	tx.tq.segs = segs[:0]
	putBack(tx.pool, pk)
	if err != nil {
		tx.tq.errors.Inc()
		return
	}
	for _, s := range segs {
		tx.frame(s)
	}
	clear(segs)
}

// only returns the one port that accepts frame, nil when none or several
// do (a super-frame to several goes cut, each port copying the frames).
func (tx *txBurst) only(frame []byte) *Port {
	var one *Port
	for _, dst := range tx.ports {
		if dst == tx.port || dst.closed.Load() || !dst.accepts(frame) {
			continue
		}
		if one != nil {
			return nil
		}
		one = dst
	}
	return one
}

// coalesced delivers super-frame pk to dst, which asked for coalesced
// frames (SetRxCoalesce), as one received frame (driver.RxTCPCoalesced),
// as veth hands a GSO packet to the kernel: the headers and the first
// segment's payload copied into one of the ring's posted buffers, the
// rest of the payload chained on Next as views of the sender's buffers
// (driver.Packet.Share: no copy, one view per buffer, wherever segments
// end; the sender's TCP keeps those bytes as they are until the receiver
// frees the views). Buffers of another pool than the sending queue's, or
// of that pool while it runs low (the receiver's reader could otherwise
// hold the sender's buffers for long), are copied into posted buffers
// instead, a segment's worth each. No header is
// built per segment. It reports false, having delivered nothing, for a
// frame that is not a well-formed super-frame or whose segments do not
// fit dst's MTU: the caller cuts it. A ring without enough posted buffers
// drops it whole, counted as missed once per segment, and reports true.
func (tx *txBurst) coalesced(pk *driver.Packet, dst *Port) bool {
	n, err := gso.Check(pk)
	hdr := pk.Data()
	l2, l3 := int(pk.L2Len), int(pk.L3Len)
	v6 := pk.Flags&driver.TxIPv6 != 0
	if err != nil || l2 != header.EthernetHeaderLen || len(hdr)-l2+int(pk.SegSize) > dst.mtu {
		return false
	}
	qi, hash, hashed := dst.rxQueueFor(hdr)
	r := &dst.rx[qi]
	if r != tx.cur {
		tx.release()
		r.mu.Lock()
		tx.cur, tx.curPool, tx.delivered = r, dst.pools[qi], 0
	}
	if r.posted.size < n {
		r.missed.Add(uint64(n))
		return true
	}
	mss := int(pk.SegSize)
	sh := sharing{pool: tx.pool, low: tx.pool.Low()}
	rd := payloadReader{src: pk.More, off: int(pk.MoreOff), left: int(pk.MoreLen)}
	// The head: headers and the first segment, copied.
	head := r.posted.pop()
	first := min(mss, rd.left)
	d := head.Append(len(hdr) + first)
	if d == nil || !rd.copyTo(d[copy(d, hdr):]) {
		r.repost(head)
		tx.tq.errors.Inc()
		return true
	}
	if !rd.chain(r, head, mss, &sh) {
		// Out of posted buffers, a buffer too short, or a payload
		// shorter than MoreLen says: everything goes back, the frame is
		// lost.
		r.repost(head)
		r.missed.Add(uint64(n))
		return true
	}
	for p := head.Next; p != nil; p = p.Next {
		p.Flags, p.Hash, p.Loops = 0, 0, rd.loops
		p.Port, p.Queue = uint16(dst.index), uint16(qi)
	}
	// The head is the first segment: its lengths are its own.
	d = head.Data()
	if v6 {
		header.IPv6(d[l2:]).SetPayloadLen(uint16(len(d) - l2 - l3))
	} else {
		ip := header.IPv4(d[l2:])
		ip.SetTotalLen(uint16(len(d) - l2))
		ip.SetChecksum()
	}
	head.Flags = driver.RxL4ChecksumGood
	if head.Next != nil {
		head.Flags |= driver.RxTCPCoalesced // one segment alone is just a frame
	}
	if !v6 {
		head.Flags |= driver.RxIPChecksumGood
	}
	if hashed {
		head.Flags |= driver.RxHashValid
	}
	head.Hash, head.Loops, head.SegSize = hash, rd.loops, uint16(mss)
	head.Port, head.Queue = uint16(dst.index), uint16(qi)
	r.done.push(head) // cannot fail: done and posted share the ring's capacity
	r.ndone.Add(1)
	tx.delivered++
	tx.tq.packets.Add(uint64(n))
	tx.tq.bytes.Add(uint64(n*len(hdr) + int(pk.MoreLen)))
	return true
}

// sharing decides which of a super-frame's payload buffers a receiver
// may view rather than copy: views of views always (their buffers are
// shared already), and the sending queue's own buffers while its pool is
// not low.
type sharing struct {
	pool *driver.Pool
	low  bool
}

func (s *sharing) may(p *driver.Packet) bool {
	return p.Shared() || p.Pool() == s.pool && !s.low
}

// payloadReader walks a super-frame's referenced payload.
type payloadReader struct {
	src   *driver.Packet
	off   int
	left  int
	loops uint8
}

// next returns the unread bytes of the current payload packet, moving
// past packets read to their end; nil when the payload ran out.
func (rd *payloadReader) next() []byte {
	for rd.src != nil {
		if sd := rd.src.Data(); rd.off < len(sd) {
			return sd[rd.off:]
		}
		rd.off -= rd.src.Len()
		rd.src = rd.src.Next
	}
	return nil
}

// advance marks n bytes of the current payload packet read.
func (rd *payloadReader) advance(n int) {
	rd.off += n
	rd.left -= n
	rd.loops = max(rd.loops, rd.src.Loops)
}

// copyTo fills b from the payload and reports whether it held enough.
func (rd *payloadReader) copyTo(b []byte) bool {
	for len(b) > 0 {
		sd := rd.next()
		if sd == nil {
			return false
		}
		c := copy(b, sd)
		b = b[c:]
		rd.advance(c)
	}
	return true
}

// chain appends the rest of the payload after tail, in posted buffers of
// r: a view of each of the sender's buffers that sh allows (as much as it
// holds: pieces need not end where segments do), else copies of up to mss
// bytes. It reports false when it runs out of posted buffers or payload.
func (rd *payloadReader) chain(r *rxQueue, tail *driver.Packet, mss int, sh *sharing) bool {
	for rd.left > 0 {
		sd := rd.next()
		if sd == nil {
			return false
		}
		b := r.posted.pop()
		if b == nil {
			return false
		}
		tail.Next, tail = b, b
		if !sh.may(rd.src) {
			d := b.Append(min(mss, rd.left))
			if d == nil || !rd.copyTo(d) {
				return false
			}
			continue
		}
		c := min(rd.left, len(sd))
		if !b.Share(rd.src, rd.off, c) {
			return false
		}
		rd.advance(c)
	}
	return true
}

// repost puts the buffers of chain pk back on the ring's posted side,
// emptied. The ring's lock is held.
func (r *rxQueue) repost(pk *driver.Packet) {
	for pk != nil {
		next := pk.Next
		pk.Next = nil
		pk.Unshare()
		pk.Reset()
		r.posted.push(pk)
		pk = next
	}
}

// SetRxCoalesce implements driver.RxCoalescer: with on, a super-frame
// from a port with Config.TSO to this port alone arrives whole, as one
// frame marked driver.RxTCPCoalesced, instead of cut into frames. It
// never fails.
func (p *Port) SetRxCoalesce(on bool) error {
	p.lro.Store(on)
	return nil
}

// putBack frees pk, which the owner of pool is done with: with Put when pk
// belongs to pool, else with Free, since a packet sent on a queue may come
// from another queue's pool (a forwarded frame).
func putBack(pool *driver.Pool, pk *driver.Packet) {
	if pk.Pool() == pool {
		pool.Put(pk)
	} else {
		pk.Free()
	}
}

// deliver puts pk (or a copy) on the ring of the queue RSS picks. It keeps
// the ring locked across calls while consecutive frames go to the same
// queue, and swaps buffers so that every pool keeps its size: the empty
// buffer joins the pool pk came from. Buffers of different sizes are not
// swapped but copied.
func (p *Port) deliver(pk *driver.Packet, give bool, senderPool *driver.Pool, cur *rxQueue, curPool *driver.Pool, delivered int) (*rxQueue, *driver.Pool, int) {
	qi, hash, hashed := p.rxQueueFor(pk.Data())
	r := &p.rx[qi]
	if r != cur {
		if cur != nil {
			cur.mu.Unlock()
			cur.wake(delivered)
		}
		r.mu.Lock()
		cur, curPool, delivered = r, p.pools[qi], 0
	}
	empty := r.posted.pop()
	if empty == nil {
		r.missed.Add(1)
		if give {
			putBack(senderPool, pk)
		}
		return cur, curPool, delivered
	}
	// The sender's checksum offloads, read before pk changes hands.
	csum, l2, l3 := pk.Flags&(txChecksums|driver.TxIPv6), int(pk.L2Len), int(pk.L3Len)
	var full *driver.Packet
	switch {
	case give && len(pk.Buf) == len(empty.Buf):
		// Swap: the filled buffer joins the receiver's pool and the empty
		// one the pool the filled one came from.
		home := pk.Pool()
		curPool.Adopt(pk)
		home.Adopt(empty)
		putBack(senderPool, empty)
		full = pk
	case empty.CopyFrom(pk):
		if give {
			putBack(senderPool, pk)
		}
		full = empty
	default:
		// The frame does not fit the receiver's buffer.
		r.posted.push(empty)
		r.missed.Add(1)
		if give {
			putBack(senderPool, pk)
		}
		return cur, curPool, delivered
	}
	full.Hash = hash
	full.Flags = 0
	if hashed {
		full.Flags = driver.RxHashValid
	}
	if csum&txChecksums != 0 {
		if p.csum {
			full.Flags |= rxVerdict(csum)
		} else {
			completeChecksums(full.Data(), csum, l2, l3)
		}
	}
	full.Port = uint16(p.index)
	full.Queue = uint16(qi)
	full.L2Len, full.L3Len = 0, 0
	full.Next = nil
	r.done.push(full) // cannot fail: done and posted share the ring's capacity
	r.ndone.Add(1)
	return cur, curPool, delivered + 1
}

// wake tells the ring's owner, after a sender unlocked the ring, that n
// frames arrived, or that frames it could not take while the ring was
// locked (rxBurst gave up on the lock) are waiting.
func (r *rxQueue) wake(n int) {
	if n == 0 && !(r.skipped.Load() && r.skipped.Swap(false)) {
		return
	}
	if fn := r.notify.Load(); fn != nil {
		(*fn)()
	}
}

// RxBurst implements driver.Port.
// It never waits for a sender: a ring a sender holds locked (delivering a
// burst) returns nothing now, as a NIC ring whose descriptors are not yet
// written back, and the sender wakes the owner when it lets go. Waiting
// would spin on the line the sender is writing and slow both.
func (p *Port) RxBurst(q int, pkts []*driver.Packet) int { return p.rxBurst(q, pkts) }

// rxBurst is RxBurst for ring q (a queue's, or the SYN ring).
func (p *Port) rxBurst(q int, pkts []*driver.Packet) int {
	r := &p.rx[q]
	// An empty ring needs no lock, unless buffers are missing from it: a
	// ring left without buffers receives nothing until a poll posts some.
	if r.ndone.Load() == 0 && r.unfilled == 0 {
		return 0
	}
	if len(pkts) > p.burst {
		pkts = pkts[:p.burst]
	}
	// Allocate replacements before taking the lock.
	pool := p.pools[q]
	for len(r.stash) < cap(r.stash) {
		pk := pool.Get()
		if pk == nil {
			r.nobuf.Inc()
			break
		}
		r.stash = append(r.stash, pk)
	}
	if !r.mu.TryLock() {
		r.skipped.Store(true)
		// The sender may have let go between the two: look again.
		if !r.mu.TryLock() {
			return 0
		}
		r.skipped.Store(false)
	}
	n := 0
	for n < len(pkts) {
		pk := r.done.pop()
		if pk == nil {
			break
		}
		pkts[n] = pk
		n++
	}
	r.ndone.Add(int32(-n))
	for len(r.stash) > 0 && r.posted.size+r.done.size < len(r.posted.buf) {
		last := len(r.stash) - 1
		r.posted.push(r.stash[last])
		r.stash[last] = nil
		r.stash = r.stash[:last]
	}
	r.unfilled = len(r.posted.buf) - r.posted.size - r.done.size
	r.mu.Unlock()
	var bytes uint64
	for _, pk := range pkts[:n] {
		for p := pk; p != nil; p = p.Next {
			bytes += uint64(p.Len())
		}
	}
	r.packets.Add(uint64(n))
	r.bytes.Add(bytes)
	return n
}

// Stats implements driver.Port.
func (p *Port) Stats() driver.PortStats {
	var s driver.PortStats
	for q := range p.rx {
		r := &p.rx[q]
		s.RxPackets += r.packets.Load()
		s.RxBytes += r.bytes.Load()
		s.RxMissed += r.missed.Load()
		s.RxNoBuf += r.nobuf.Load()
		if q >= len(p.tx) {
			continue // the SYN ring
		}
		t := &p.tx[q]
		s.TxPackets += t.packets.Load()
		s.TxBytes += t.bytes.Load()
		s.TxErrors += t.errors.Load()
	}
	return s
}

// Close implements driver.Port. The port stops sending and receiving;
// frames sent to it are no longer delivered.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return errors.New("memwire: port already closed")
	}
	return nil
}
