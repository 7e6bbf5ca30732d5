package memwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/rss"
)

var broadcast = driver.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// flow is the part of an IPv4 packet RSS looks at.
type flow struct {
	proto        byte // 1 (ICMP), 6 (TCP) or 17 (UDP)
	src, dst     [4]byte
	sport, dport uint16
	frag         bool // set MF: a first fragment, hashed on addresses only
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// ipv4Frame builds an Ethernet frame holding an IPv4 packet of flow f,
// size bytes long (at least the headers and 4 bytes), whose last four
// bytes are seq.
func ipv4Frame(dst, src driver.MAC, f flow, seq uint32, size int) []byte {
	l4 := 8
	if f.proto == 6 {
		l4 = 20
	}
	size = max(size, 14+20+l4+4)
	b := make([]byte, size)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	binary.BigEndian.PutUint16(ip[4:], uint16(seq))
	if f.frag {
		binary.BigEndian.PutUint16(ip[6:], 0x2000)
	}
	ip[8] = 64
	ip[9] = f.proto
	copy(ip[12:16], f.src[:])
	copy(ip[16:20], f.dst[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
	l := ip[20:]
	switch f.proto {
	case 6:
		binary.BigEndian.PutUint16(l[0:], f.sport)
		binary.BigEndian.PutUint16(l[2:], f.dport)
		binary.BigEndian.PutUint32(l[4:], seq)
		l[12] = 5 << 4
		l[13] = 0x10 // ACK
	case 17:
		binary.BigEndian.PutUint16(l[0:], f.sport)
		binary.BigEndian.PutUint16(l[2:], f.dport)
		binary.BigEndian.PutUint16(l[4:], uint16(size-14-20))
	default:
		l[0] = 8 // echo request
	}
	binary.BigEndian.PutUint32(b[size-4:], seq)
	return b
}

// arpFrame builds an ARP request frame whose last four bytes are seq.
func arpFrame(dst, src driver.MAC, seq uint32) []byte {
	b := make([]byte, 60)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	b[12], b[13] = 0x08, 0x06
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1)
	copy(a[8:14], src[:])
	binary.BigEndian.PutUint32(b[56:], seq)
	return b
}

// rawFrame builds a frame of size bytes with a local experimental
// EtherType; frames of 18 bytes or more end in seq. Shorter sizes give a
// truncated header.
func rawFrame(dst, src driver.MAC, seq uint32, size int) []byte {
	b := make([]byte, max(size, 14))
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	b[12], b[13] = 0x88, 0xb5
	for i := 14; i < size; i++ {
		b[i] = byte(i)
	}
	if size >= 18 {
		binary.BigEndian.PutUint32(b[size-4:], seq)
	}
	return b[:size]
}

func seqOf(frame []byte) uint32 { return binary.BigEndian.Uint32(frame[len(frame)-4:]) }

// expectHash is the oracle for the wire's RSS: computed from the flow, not
// from the frame bytes.
func expectHash(h *rss.Hasher, types rss.HashTypes, f flow) uint32 {
	l4 := rss.HashTypes(0)
	switch f.proto {
	case 6:
		l4 = rss.TCPv4
	case 17:
		l4 = rss.UDPv4
	}
	if types&l4 != 0 && !f.frag {
		return h.HashIPv4Ports(f.src, f.dst, f.sport, f.dport)
	}
	if types&rss.IPv4 != 0 {
		return h.HashIPv4(f.src, f.dst)
	}
	return 0
}

// bufLens records the buffer length each test port was made with.
var bufLens sync.Map // *Port -> int

func newWire(t testing.TB, cfgs ...Config) []*Port {
	t.Helper()
	w := New()
	var ports []*Port
	for _, c := range cfgs {
		p, err := w.AddPort(c)
		if err != nil {
			t.Fatalf("AddPort(%+v): %v", c, err)
		}
		room := c.DataRoom
		if room == 0 {
			room = driver.DefaultDataRoom
		}
		bufLens.Store(p, driver.DefaultHeadroom+room)
		t.Cleanup(func() { bufLens.Delete(p) })
		ports = append(ports, p)
	}
	return ports
}

// sendFrom transmits frames on queue q of p in bursts, taking buffers from
// pool.
func sendFrom(t testing.TB, p *Port, q int, pool *driver.Pool, frames [][]byte) {
	t.Helper()
	pkts := make([]*driver.Packet, 0, p.BurstSize())
	flush := func() {
		if n := p.TxBurst(q, pkts); n != len(pkts) {
			t.Fatalf("TxBurst took %d of %d", n, len(pkts))
		}
		pkts = pkts[:0]
	}
	for _, f := range frames {
		pk := pool.Get()
		if pk == nil {
			t.Fatalf("pool of %s exhausted", p.Name())
		}
		copy(pk.Append(len(f)), f)
		pkts = append(pkts, pk)
		if len(pkts) == cap(pkts) {
			flush()
		}
	}
	if len(pkts) > 0 {
		flush()
	}
}

func send(t testing.TB, p *Port, q int, frames [][]byte) {
	t.Helper()
	sendFrom(t, p, q, p.Pool(q), frames)
}

type rxFrame struct {
	q     int
	data  []byte
	hash  uint32
	flags driver.Flags
	port  uint16
	queue uint16
}

// drainQueue receives everything on queue q of p, copies it out and gives
// the buffers back to the queue's pool.
func drainQueue(t testing.TB, p *Port, q int) []rxFrame {
	t.Helper()
	var out []rxFrame
	pkts := make([]*driver.Packet, p.BurstSize())
	for {
		n := p.RxBurst(q, pkts)
		if n == 0 {
			return out
		}
		for _, pk := range pkts[:n] {
			if pk.Pool() != p.Pool(q) {
				t.Fatalf("received buffer belongs to pool %p, want queue %d's pool %p", pk.Pool(), q, p.Pool(q))
			}
			out = append(out, rxFrame{q, slices.Clone(pk.Data()), pk.Hash, pk.Flags, pk.Port, pk.Queue})
			p.Pool(q).Put(pk)
		}
	}
}

func drainAll(t testing.TB, p *Port) []rxFrame {
	t.Helper()
	var out []rxFrame
	for q := range p.NumQueues() {
		out = append(out, drainQueue(t, p, q)...)
	}
	return out
}

// ringHeld returns the buffers of queue q that the driver holds: posted in
// the ring, filled and waiting, or allocated for posting.
func (p *Port) ringHeld(q int) int {
	r := &p.rx[q]
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posted.size + r.done.size + len(r.stash)
}

// checkPools asserts that every pool of every port still has its size:
// once the receivers have freed everything, a pool's free packets plus the
// buffers its queue's ring holds are exactly the pool's size, every one of
// them belongs to the pool and has the pool's buffer shape.
func checkPools(t testing.TB, ports ...*Port) {
	t.Helper()
	for _, p := range ports {
		for q := range p.rx { // the SYN ring too
			pool := p.pools[q]
			if got, want := pool.Available()+p.ringHeld(q), pool.Size(); got != want {
				t.Errorf("%s queue %d: Available() %d + ring %d = %v, want Size() %v",
					p.Name(), q, pool.Available(), p.ringHeld(q), got, want)
			}
			r := &p.rx[q]
			r.mu.Lock()
			var held []*driver.Packet
			for _, rg := range []*ring{&r.posted, &r.done} {
				for i := range rg.size {
					held = append(held, rg.buf[(rg.head+i)%len(rg.buf)])
				}
			}
			held = append(held, r.stash...)
			r.mu.Unlock()
			// Take every free packet out and check it, then put them back.
			free := make([]*driver.Packet, pool.Available())
			free = free[:pool.GetBulk(free)]
			want := -1
			if v, ok := bufLens.Load(p); ok {
				want = v.(int)
			}
			for _, pk := range append(held, free...) {
				if pk.Pool() != pool {
					t.Errorf("%s queue %d: buffer of pool %p among pool %p's", p.Name(), q, pk.Pool(), pool)
					break
				}
				if want >= 0 && len(pk.Buf) != want {
					t.Errorf("%s queue %d: buffer of %d bytes, want %d", p.Name(), q, len(pk.Buf), want)
					break
				}
			}
			for _, pk := range free {
				pool.Put(pk)
			}
		}
	}
}

var (
	// Microsoft's RSS verification suite, first IPv4 vector.
	msSrc, msDst     = [4]byte{66, 9, 149, 187}, [4]byte{161, 142, 100, 80}
	msSport, msDport = uint16(2794), uint16(1766)
)

// TestOracle checks the independent hash used as the expected value
// against Microsoft's published vector.
func TestOracle(t *testing.T) {
	h := rss.NewHasher(rss.DefaultKey())
	if got, want := h.HashIPv4(msSrc, msDst), uint32(0x323e8fc2); got != want {
		t.Errorf("HashIPv4 got %#x, want %#x", got, want)
	}
	if got, want := h.HashIPv4Ports(msSrc, msDst, msSport, msDport), uint32(0x51ccc178); got != want {
		t.Errorf("HashIPv4Ports got %#x, want %#x", got, want)
	}
}

// testFlows returns UDP and TCP flows with varied addresses and ports,
// plus ICMP and fragmented ones.
func testFlows() []flow {
	var fs []flow
	for i := range 96 {
		proto := byte(17)
		if i%2 == 1 {
			proto = 6
		}
		fs = append(fs, flow{
			proto: proto,
			src:   [4]byte{10, 0, byte(i / 7), byte(1 + i)},
			dst:   [4]byte{10, 1, 0, byte(200 + i%3)},
			sport: uint16(1024 + 977*i),
			dport: uint16(80 + i%5*1000),
		})
	}
	fs = append(fs,
		flow{proto: 6, src: msSrc, dst: msDst, sport: msSport, dport: msDport},
		flow{proto: 1, src: [4]byte{192, 168, 1, 1}, dst: [4]byte{192, 168, 1, 2}},
		flow{proto: 1, src: [4]byte{192, 168, 7, 1}, dst: [4]byte{192, 168, 1, 2}},
		flow{proto: 17, src: [4]byte{172, 16, 0, 1}, dst: [4]byte{172, 16, 0, 2}, sport: 5000, dport: 53, frag: true},
		flow{proto: 6, src: [4]byte{172, 16, 0, 3}, dst: [4]byte{172, 16, 0, 2}, sport: 5001, dport: 80, frag: true},
	)
	return fs
}

func TestRSSSteering(t *testing.T) {
	reversed := func(n int) rss.RETA {
		r := make(rss.RETA, 64)
		for i := range r {
			r[i] = uint16(n - 1 - i%n)
		}
		return r
	}
	type tc struct {
		name   string
		queues int
		cfg    *rss.Config // nil: default
	}
	var tests []tc
	for _, n := range []int{1, 2, 4} {
		tests = append(tests, tc{fmt.Sprintf("default/%dq", n), n, nil})
	}
	tests = append(tests,
		tc{"reversed-reta/4q", 4, &rss.Config{Key: rss.DefaultKey(), RETA: reversed(4), Types: rss.AllTypes}},
		tc{"symmetric-key/3q", 3, &rss.Config{Key: rss.SymmetricKey(), RETA: reversed(3), Types: rss.AllTypes}},
		tc{"ipv4-2tuple-only/4q", 4, &rss.Config{Key: rss.DefaultKey(), RETA: reversed(4), Types: rss.IPv4}},
		tc{"no-types/2q", 2, &rss.Config{Key: rss.DefaultKey(), RETA: reversed(2), Types: 0}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports := newWire(t, Config{Queues: 2}, Config{Queues: tt.queues, RSS: tt.cfg})
			a, b := ports[0], ports[1]
			want := tt.cfg
			if want == nil {
				c, err := rss.DefaultConfig(tt.queues)
				if err != nil {
					t.Fatal(err)
				}
				want = &c
			}
			if got := b.RSS(); got.Key != want.Key || !slices.Equal(got.RETA, want.RETA) || got.Types != want.Types {
				t.Fatalf("RSS() got %+v, want %+v", got, *want)
			}
			h := rss.NewHasher(want.Key)
			flows := testFlows()
			type expect struct {
				q    int
				hash uint32
				arp  bool
			}
			var frames [][]byte
			var exp []expect
			// Several rounds so each flow has many frames in flight.
			for round := range 3 {
				for i, f := range flows {
					seq := uint32(len(frames))
					frames = append(frames, ipv4Frame(b.MAC(), a.MAC(), f, seq, 60+(i*37+round)%900))
					hh := expectHash(h, want.Types, f)
					exp = append(exp, expect{want.RETA.Queue(hh), hh, false})
				}
				for range 4 {
					frames = append(frames, arpFrame(broadcast, a.MAC(), uint32(len(frames))))
					exp = append(exp, expect{want.RETA.Queue(0), 0, true})
					frames = append(frames, rawFrame(b.MAC(), a.MAC(), uint32(len(frames)), 80))
					exp = append(exp, expect{want.RETA.Queue(0), 0, true})
				}
			}
			// Order is kept per sender queue and receive queue.
			send(t, a, 0, frames)
			perQueue := make([]int, tt.queues)
			for _, e := range exp {
				perQueue[e.q]++
			}
			got := make([]int, tt.queues)
			seen := make([]bool, len(frames))
			for q := range tt.queues {
				var last int64 = -1
				for _, r := range drainQueue(t, b, q) {
					seq := seqOf(r.data)
					if int(seq) >= len(frames) || seen[seq] {
						t.Fatalf("queue %d: unexpected or duplicate frame seq %d", q, seq)
					}
					seen[seq] = true
					got[q]++
					e := exp[seq]
					if !bytes.Equal(r.data, frames[seq]) {
						t.Fatalf("frame %d: data differs", seq)
					}
					if e.q != q {
						t.Errorf("frame %d: got queue %v, want %v", seq, q, e.q)
					}
					if int(r.queue) != q || r.port != 1 {
						t.Errorf("frame %d: Port/Queue got %v/%v, want 1/%v", seq, r.port, r.queue, q)
					}
					if r.hash != e.hash {
						t.Errorf("frame %d: Hash got %#x, want %#x", seq, r.hash, e.hash)
					}
					if got, want := r.flags&driver.RxHashValid != 0, !e.arp && e.hash != 0; got != want {
						t.Errorf("frame %d (arp %v, hash %#x): RxHashValid is %v, want %v", seq, e.arp, e.hash, got, want)
					}
					if int64(seq) <= last {
						t.Errorf("queue %d: frame %d after frame %d, want in order", q, seq, last)
					}
					last = int64(seq)
				}
			}
			if !slices.Equal(got, perQueue) {
				t.Errorf("frames per queue got %v, want %v", got, perQueue)
			}
			if tt.queues > 1 && tt.cfg == nil {
				for q, n := range got {
					if n == 0 {
						t.Errorf("queue %d got no frames; RSS does not spread", q)
					}
				}
			}
			if st := b.Stats(); st.RxPackets != uint64(len(frames)) || st.RxMissed != 0 {
				t.Errorf("b.Stats() got %+v, want RxPackets %v and no misses", st, len(frames))
			}
			checkPools(t, a, b)
		})
	}
}

func TestUnicastFiltering(t *testing.T) {
	for _, promisc := range []bool{false, true} {
		t.Run(fmt.Sprintf("promiscuous=%v", promisc), func(t *testing.T) {
			ports := newWire(t, Config{}, Config{}, Config{}, Config{Promiscuous: promisc})
			a, b, c, d := ports[0], ports[1], ports[2], ports[3]
			unknown := driver.MAC{0x02, 0xaa, 0, 0, 0, 9}
			f := flow{proto: 17, src: [4]byte{10, 0, 0, 1}, dst: [4]byte{10, 0, 0, 3}, sport: 1, dport: 2}
			var toC, toB, toX [][]byte
			for i := range 10 {
				toC = append(toC, ipv4Frame(c.MAC(), a.MAC(), f, uint32(i), 100))
				toB = append(toB, ipv4Frame(b.MAC(), a.MAC(), f, uint32(100+i), 100))
				toX = append(toX, ipv4Frame(unknown, a.MAC(), f, uint32(200+i), 100))
			}
			send(t, a, 0, toC)
			if got := len(drainAll(t, b)); got != 0 {
				t.Errorf("b received %v frames for c, want 0", got)
			}
			gotC := drainAll(t, c)
			if len(gotC) != 10 {
				t.Fatalf("c received %v frames, want 10", len(gotC))
			}
			for i, r := range gotC {
				if !bytes.Equal(r.data, toC[i]) {
					t.Errorf("c frame %d differs", i)
				}
			}
			send(t, a, 0, toB)
			if got := len(drainAll(t, c)); got != 0 {
				t.Errorf("c received %v frames for b, want 0", got)
			}
			if got := len(drainAll(t, b)); got != 10 {
				t.Errorf("b received %v frames, want 10", got)
			}
			send(t, a, 0, toX)
			for _, p := range []*Port{b, c} {
				if got := len(drainAll(t, p)); got != 0 {
					t.Errorf("%s received %v frames for an unknown MAC, want 0", p.Name(), got)
				}
			}
			if got := len(drainAll(t, a)); got != 0 {
				t.Errorf("sender received %v of its own frames, want 0", got)
			}
			gotD := drainAll(t, d)
			want := 0
			if promisc {
				want = 30
			}
			if len(gotD) != want {
				t.Fatalf("d received %v frames, want %v", len(gotD), want)
			}
			all := slices.Concat(toC, toB, toX)
			for i, r := range gotD {
				if !bytes.Equal(r.data, all[i]) {
					t.Errorf("d frame %d differs", i)
				}
			}
			// Frames for an address no port has are lost on the wire and
			// counted; a promiscuous port claims them.
			wantErr := uint64(10)
			if promisc {
				wantErr = 0
			}
			if st := a.Stats(); st.TxPackets != 30 || st.TxErrors != wantErr {
				t.Errorf("a.Stats() got %+v, want 30 TxPackets and %d TxErrors", st, wantErr)
			}
			checkPools(t, a, b, c, d)
		})
	}
}

func TestBroadcastAndMulticast(t *testing.T) {
	ports := newWire(t, Config{}, Config{Queues: 2}, Config{Queues: 4}, Config{})
	a := ports[0]
	multicast := driver.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	f := flow{proto: 17, src: [4]byte{10, 0, 0, 1}, dst: [4]byte{224, 0, 0, 1}, sport: 7, dport: 7}
	var frames [][]byte
	for i := range 40 {
		switch i % 3 {
		case 0:
			frames = append(frames, arpFrame(broadcast, a.MAC(), uint32(i)))
		case 1:
			frames = append(frames, ipv4Frame(multicast, a.MAC(), f, uint32(i), 300))
		default:
			g := f
			g.sport = uint16(i * 1000)
			frames = append(frames, ipv4Frame(broadcast, a.MAC(), g, uint32(i), 1514))
		}
	}
	send(t, a, 0, frames)
	if got := len(drainAll(t, a)); got != 0 {
		t.Errorf("sender received %v of its own broadcasts, want 0", got)
	}
	// The receivers hold all their frames at once: the copies must be
	// distinct buffers.
	bufs := map[*byte]string{}
	for _, p := range ports[1:] {
		var held []*driver.Packet
		pkts := make([]*driver.Packet, p.BurstSize())
		for q := range p.NumQueues() {
			for {
				n := p.RxBurst(q, pkts)
				if n == 0 {
					break
				}
				held = append(held, pkts[:n]...)
			}
		}
		if len(held) != len(frames) {
			t.Fatalf("%s received %v frames, want %v", p.Name(), len(held), len(frames))
		}
		slices.SortFunc(held, func(x, y *driver.Packet) int { return int(seqOf(x.Data())) - int(seqOf(y.Data())) })
		for i, pk := range held {
			if !bytes.Equal(pk.Data(), frames[i]) {
				t.Errorf("%s frame %d: data differs", p.Name(), i)
			}
			if other, dup := bufs[&pk.Buf[0]]; dup {
				t.Fatalf("%s frame %d shares its buffer with %s", p.Name(), i, other)
			}
			bufs[&pk.Buf[0]] = p.Name()
		}
		for _, pk := range held {
			pk.Free()
		}
	}
	checkPools(t, ports...)
}

func TestRingOverflow(t *testing.T) {
	const ring, burst, sent = 64, 16, 200
	ports := newWire(t, Config{}, Config{RingSize: ring, BurstSize: burst, PoolSize: 2 * ring})
	a, b := ports[0], ports[1]
	var frames [][]byte
	for i := range sent {
		frames = append(frames, rawFrame(b.MAC(), a.MAC(), uint32(i), 64))
	}
	var notified atomic.Int32
	b.SetRxNotify(0, func() { notified.Add(1) })
	send(t, a, 0, frames)
	if got, want := b.Stats().RxMissed, uint64(sent-ring); got != want {
		t.Errorf("RxMissed got %v, want %v", got, want)
	}
	// Bursts after the ring filled deliver nothing and do not notify.
	if got, want := notified.Load(), int32((ring+31)/32); got != want {
		t.Errorf("notifications got %v, want %v", got, want)
	}
	if got, want := a.Stats().TxPackets, uint64(sent); got != want {
		t.Errorf("a TxPackets got %v, want %v", got, want)
	}
	got := drainQueue(t, b, 0)
	if len(got) != ring {
		t.Fatalf("received %v frames, want %v", len(got), ring)
	}
	for i, r := range got {
		if seqOf(r.data) != uint32(i) {
			t.Fatalf("frame %d: got seq %v, want %v", i, seqOf(r.data), i)
		}
	}
	checkPools(t, a, b)
	// The ring recovers: everything sent now arrives.
	send(t, a, 0, frames[:ring])
	if got := len(drainQueue(t, b, 0)); got != ring {
		t.Errorf("after recovery received %v frames, want %v", got, ring)
	}
	if st := b.Stats(); st.RxPackets+st.RxMissed != uint64(sent+ring) {
		t.Errorf("b.Stats() got %+v, want RxPackets+RxMissed = %v", st, sent+ring)
	}
	checkPools(t, a, b)
}

// TestReceiverHoldsBuffers checks that a receiver that keeps everything it
// received (and so drains its pool) loses frames as missed, counts RxNoBuf,
// and recovers once it frees them.
func TestReceiverHoldsBuffers(t *testing.T) {
	const ring, burst, pool = 32, 8, 64
	ports := newWire(t, Config{}, Config{RingSize: ring, BurstSize: burst, PoolSize: pool})
	a, b := ports[0], ports[1]
	var held []*driver.Packet
	pkts := make([]*driver.Packet, burst)
	total := 0
	for i := range 20 {
		var frames [][]byte
		for j := range burst {
			frames = append(frames, rawFrame(b.MAC(), a.MAC(), uint32(i*burst+j), 64))
		}
		send(t, a, 0, frames)
		total += burst
		for {
			n := b.RxBurst(0, pkts)
			if n == 0 {
				break
			}
			held = append(held, pkts[:n]...)
		}
	}
	st := b.Stats()
	if st.RxMissed == 0 || st.RxNoBuf == 0 {
		t.Errorf("b.Stats() got %+v, want misses and RxNoBuf", st)
	}
	if got, want := st.RxPackets+st.RxMissed, uint64(total); got != want {
		t.Errorf("RxPackets+RxMissed got %v, want %v", got, want)
	}
	if got, want := uint64(len(held)), st.RxPackets; got != want {
		t.Errorf("held %v, want %v", got, want)
	}
	if got := b.ringHeld(0); got != 0 {
		t.Fatalf("ring holds %v buffers with the pool empty, want 0", got)
	}
	for _, pk := range held {
		b.Pool(0).Put(pk)
	}
	// Polls, even of an empty ring, post buffers again, one burst each.
	for range ring / burst {
		if n := b.RxBurst(0, pkts); n != 0 {
			t.Fatalf("RxBurst of an empty ring got %v, want 0", n)
		}
	}
	if got := b.ringHeld(0); got < ring {
		t.Fatalf("after %d empty polls the ring holds %v buffers, want %v", ring/burst, got, ring)
	}
	before := b.Stats().RxMissed
	var frames [][]byte
	for range ring {
		frames = append(frames, rawFrame(b.MAC(), a.MAC(), 1, 64))
	}
	send(t, a, 0, frames)
	if got := len(drainQueue(t, b, 0)); got != ring {
		t.Errorf("after freeing received %v frames, want %v (missed %v)", got, ring, b.Stats().RxMissed-before)
	}
	checkPools(t, a, b)
}

func TestTxLengthErrors(t *testing.T) {
	for _, mtu := range []int{1500, 100} {
		t.Run(fmt.Sprintf("mtu=%d", mtu), func(t *testing.T) {
			ports := newWire(t, Config{MTU: mtu}, Config{})
			a, b := ports[0], ports[1]
			tests := []struct {
				size int
				ok   bool
			}{
				{0, false},
				{1, false},
				{13, false},
				{14, true},
				{18, true},
				{60, true},
				{mtu + 13, true},
				{mtu + 14, true},
				{mtu + 15, false},
				{mtu + 100, false},
				{driver.DefaultDataRoom, false},
			}
			var wantTx, wantErr, wantBytes uint64
			for _, tc := range tests {
				send(t, a, 0, [][]byte{rawFrame(b.MAC(), a.MAC(), uint32(tc.size), tc.size)})
				got := drainQueue(t, b, 0)
				after := a.Stats()
				if tc.ok {
					wantTx++
					wantBytes += uint64(tc.size)
					if len(got) != 1 || len(got[0].data) != tc.size {
						t.Errorf("size %d: received %v frames, want 1 of %d bytes", tc.size, len(got), tc.size)
					}
				} else {
					wantErr++
					if len(got) != 0 {
						t.Errorf("size %d: received %v frames, want 0", tc.size, len(got))
					}
				}
				if after.TxErrors != wantErr {
					t.Errorf("size %d: TxErrors got %v, want %v", tc.size, after.TxErrors, wantErr)
				}
			}
			st := a.Stats()
			if st.TxPackets != wantTx || st.TxErrors != wantErr || st.TxBytes != wantBytes {
				t.Errorf("a.Stats() got %+v, want TxPackets %v TxErrors %v TxBytes %v", st, wantTx, wantErr, wantBytes)
			}
			bs := b.Stats()
			if bs.RxPackets != wantTx || bs.RxBytes != wantBytes {
				t.Errorf("b.Stats() got %+v, want RxPackets %v RxBytes %v", bs, wantTx, wantBytes)
			}
			checkPools(t, a, b)
		})
	}
}

func TestRxNotify(t *testing.T) {
	ports := newWire(t, Config{}, Config{Queues: 2})
	a, b := ports[0], ports[1]
	h := rss.NewHasher(rss.DefaultKey())
	reta := b.RSS().RETA
	// Find flows for each of b's queues.
	var byQueue [2][]flow
	for i := 0; len(byQueue[0]) < 4 || len(byQueue[1]) < 4; i++ {
		f := flow{proto: 17, src: [4]byte{10, 0, 0, 1}, dst: [4]byte{10, 0, 0, 2}, sport: uint16(1000 + i), dport: 53}
		q := reta.Queue(h.HashIPv4Ports(f.src, f.dst, f.sport, f.dport))
		byQueue[q] = append(byQueue[q], f)
	}
	var count [2]atomic.Int32
	for q := range 2 {
		b.SetRxNotify(q, func() {
			// Called after the frames are on the ring and the ring is
			// unlocked.
			r := &b.rx[q]
			if r.ndone.Load() == 0 {
				t.Errorf("queue %d: notified with an empty ring", q)
			}
			if !r.mu.TryLock() {
				t.Errorf("queue %d: notified with the ring locked", q)
			} else {
				r.mu.Unlock()
			}
			count[q].Add(1)
		})
	}
	frames := func(q int, n int) [][]byte {
		var fs [][]byte
		for i := range n {
			fs = append(fs, ipv4Frame(b.MAC(), a.MAC(), byQueue[q][i%4], uint32(i), 80))
		}
		return fs
	}
	send(t, a, 0, frames(1, 10))
	if got := [2]int32{count[0].Load(), count[1].Load()}; got != [2]int32{0, 1} {
		t.Errorf("notifications after a burst to queue 1 got %v, want [0 1]", got)
	}
	drainAll(t, b)
	send(t, a, 0, slices.Concat(frames(0, 3), frames(1, 3)))
	if got := [2]int32{count[0].Load(), count[1].Load()}; got != [2]int32{1, 2} {
		t.Errorf("notifications after a burst to both queues got %v, want [1 2]", got)
	}
	// Frames for another port do not notify.
	send(t, a, 0, [][]byte{rawFrame(driver.MAC{2, 9, 9, 9, 9, 9}, a.MAC(), 0, 60)})
	if got := [2]int32{count[0].Load(), count[1].Load()}; got != [2]int32{1, 2} {
		t.Errorf("notifications after a frame for nobody got %v, want [1 2]", got)
	}
	b.SetRxNotify(1, nil)
	send(t, a, 0, frames(1, 5))
	if got := count[1].Load(); got != 2 {
		t.Errorf("notifications after SetRxNotify(nil) got %v, want 2", got)
	}
	if got := len(drainAll(t, b)); got != 11 {
		t.Errorf("received %v frames, want 11", got)
	}
	var _ driver.RxNotifier = b
	checkPools(t, a, b)
}

// TestRxBurstBusyRing: a poll that finds its ring locked by a sender
// returns nothing at once, and the sender that lets go wakes the owner
// even when it delivered nothing itself, so the waiting frames are not
// left to the owner's sleep timeout.
func TestRxBurstBusyRing(t *testing.T) {
	ports := newWire(t, Config{}, Config{})
	a, b := ports[0], ports[1]
	var woken atomic.Int32
	b.SetRxNotify(0, func() { woken.Add(1) })
	f := flow{proto: 17, src: [4]byte{10, 0, 0, 1}, dst: [4]byte{10, 0, 0, 2}, sport: 1000, dport: 53}
	send(t, a, 0, [][]byte{ipv4Frame(b.MAC(), a.MAC(), f, 1, 80)})
	woken.Store(0)
	r := &b.rx[0]
	r.mu.Lock() // a sender in the middle of a burst
	pkts := make([]*driver.Packet, 4)
	if n := b.RxBurst(0, pkts); n != 0 {
		t.Fatalf("RxBurst on a locked ring returned %d", n)
	}
	// The sender lets go having delivered nothing more.
	tx := txBurst{cur: r}
	tx.release()
	if woken.Load() != 1 {
		t.Fatalf("owner woken %d times after the sender let go, want 1", woken.Load())
	}
	if n := b.RxBurst(0, pkts); n != 1 {
		t.Fatalf("RxBurst after the sender let go returned %d, want 1", n)
	}
	b.Pool(0).Put(pkts[0])
	// A sender that finds nothing skipped does not wake anyone.
	r.mu.Lock()
	tx = txBurst{cur: r}
	tx.release()
	if woken.Load() != 1 {
		t.Fatalf("owner woken again with nothing waiting")
	}
	checkPools(t, a, b)
}

func TestClose(t *testing.T) {
	ports := newWire(t, Config{}, Config{}, Config{})
	a, b, c := ports[0], ports[1], ports[2]
	fr := func(dst driver.MAC, n int) [][]byte {
		var fs [][]byte
		for i := range n {
			fs = append(fs, rawFrame(dst, a.MAC(), uint32(i), 64))
		}
		return fs
	}
	if !b.Link().Up {
		t.Fatalf("Link().Up got false before Close, want true")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if b.Link().Up {
		t.Errorf("Link().Up got true after Close, want false")
	}
	if err := b.Close(); err == nil {
		t.Errorf("second Close got nil error, want one")
	}
	send(t, a, 0, fr(b.MAC(), 5))
	send(t, a, 0, fr(broadcast, 5))
	if got := len(drainAll(t, b)); got != 0 {
		t.Errorf("closed port received %v frames, want 0", got)
	}
	if got := len(drainAll(t, c)); got != 5 {
		t.Errorf("c received %v broadcasts, want 5", got)
	}
	// A closed port refuses to send, takes the packets and counts errors.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	before := c.Stats()
	pool := c.Pool(0)
	var pkts []*driver.Packet
	for _, f := range fr(a.MAC(), 7) {
		pk := pool.Get()
		copy(pk.Append(len(f)), f)
		pkts = append(pkts, pk)
	}
	if n := c.TxBurst(0, pkts); n != len(pkts) {
		t.Errorf("TxBurst on a closed port took %v, want %v", n, len(pkts))
	}
	after := c.Stats()
	if got, want := after.TxErrors-before.TxErrors, uint64(7); got != want {
		t.Errorf("TxErrors got %v, want %v", got, want)
	}
	if after.TxPackets != before.TxPackets {
		t.Errorf("TxPackets changed on a closed port: got %v, want %v", after.TxPackets, before.TxPackets)
	}
	if got := len(drainAll(t, a)); got != 0 {
		t.Errorf("a received %v frames from a closed port, want 0", got)
	}
	checkPools(t, a, b, c)
}

func TestDefaults(t *testing.T) {
	w := New()
	p0, err := w.AddPort(Config{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := w.AddPort(Config{Queues: 4})
	if err != nil {
		t.Fatal(err)
	}
	var _ driver.Port = p0
	tests := []struct {
		name      string
		got, want any
	}{
		{"p0.Name", p0.Name(), "mem0"},
		{"p1.Name", p1.Name(), "mem1"},
		{"p0.MAC", p0.MAC(), driver.MAC{2, 0, 0, 0, 0, 1}},
		{"p1.MAC", p1.MAC(), driver.MAC{2, 0, 0, 0, 0, 2}},
		{"MTU", p0.MTU(), 1500},
		{"NumQueues", p0.NumQueues(), 1},
		{"p1.NumQueues", p1.NumQueues(), 4},
		{"BurstSize", p0.BurstSize(), driver.DefaultBurstSize},
		{"Offloads", p0.Offloads(), driver.Offloads(0)},
		{"Link", p0.Link(), driver.Link{Up: true, SpeedMbps: 100000}},
		{"PoolSize", p1.Pool(3).Size(), 4096},
		{"RingSize", p1.ringHeld(3), 512},
		{"Buf", len(p0.Pool(0).Get().Buf), driver.DefaultHeadroom + driver.DefaultDataRoom},
		{"Types", p1.RSS().Types, rss.AllTypes},
		{"Key", p1.RSS().Key, rss.DefaultKey()},
		{"RETA", fmt.Sprint(p1.RSS().RETA), func() string { c, _ := rss.DefaultConfig(4); return fmt.Sprint(c.RETA) }()},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestAddPortValidation(t *testing.T) {
	badRETA := rss.Config{Key: rss.DefaultKey(), RETA: rss.RETA{0, 1, 2, 1}, Types: rss.AllTypes}
	goodRETA := rss.Config{Key: rss.DefaultKey(), RETA: rss.RETA{1, 0, 1, 0}, Types: rss.AllTypes}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" means success
	}{
		{"zero queues default to one", Config{Queues: 0}, ""},
		{"negative queues", Config{Queues: -1}, "queues"},
		{"too many queues", Config{Queues: 1025}, "queues"},
		{"burst too big", Config{BurstSize: 1025, RingSize: 2048, PoolSize: 8192}, "burst"},
		{"negative burst", Config{BurstSize: -1}, "burst"},
		{"ring smaller than burst", Config{BurstSize: 64, RingSize: 32}, "ring size"},
		{"pool too small", Config{RingSize: 512, BurstSize: 32, PoolSize: 575}, "pool size"},
		{"pool just big enough", Config{RingSize: 512, BurstSize: 32, PoolSize: 576}, ""},
		{"MTU too big for data room", Config{MTU: 2035}, "MTU"},
		{"MTU fills data room", Config{MTU: 2034}, ""},
		{"jumbo with data room", Config{MTU: 9000, DataRoom: 9014}, ""},
		{"MTU too small", Config{MTU: 67}, "MTU"},
		{"RETA names a missing queue", Config{Queues: 2, RSS: &badRETA}, "queue 2"},
		{"RETA fits", Config{Queues: 2, RSS: &goodRETA}, ""},
		{"empty RETA", Config{Queues: 2, RSS: &rss.Config{Key: rss.DefaultKey()}}, "redirection table"},
		{"RETA for fewer queues", Config{Queues: 4, RSS: &goodRETA}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := New()
			p, err := w.AddPort(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("AddPort got error %v, want none", err)
				}
				if tc.cfg.Queues == 0 && p.NumQueues() != 1 {
					t.Fatalf("NumQueues() got %v, want 1", p.NumQueues())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("AddPort got error %v, want one mentioning %q", err, tc.wantErr)
			}
			if p != nil {
				t.Fatalf("AddPort returned a port with an error")
			}
			// A refused port is not on the wire.
			if n := len(*w.ports.Load()); n != 0 {
				t.Fatalf("wire has %v ports after a refused AddPort, want 0", n)
			}
		})
	}
}

// TestForeignPool sends packets that belong to other pools than the
// sending queue's: another queue's pool of the same port, and a received
// packet forwarded out of another port (as l2fwd does). Every pool must
// keep its size.
func TestForeignPool(t *testing.T) {
	t.Run("other queue", func(t *testing.T) {
		ports := newWire(t, Config{Queues: 2}, Config{})
		a, b := ports[0], ports[1]
		var frames [][]byte
		for i := range 100 {
			frames = append(frames, rawFrame(b.MAC(), a.MAC(), uint32(i), 100))
		}
		sendFrom(t, a, 0, a.Pool(1), frames)
		// Frames too long and frames for nobody are freed by the driver.
		sendFrom(t, a, 0, a.Pool(1), [][]byte{rawFrame(b.MAC(), a.MAC(), 0, 1600), rawFrame(driver.MAC{2}, a.MAC(), 0, 60)})
		if got := len(drainAll(t, b)); got != 100 {
			t.Errorf("received %v frames, want 100", got)
		}
		checkPools(t, a, b)
	})
	t.Run("forward", func(t *testing.T) {
		w1 := newWire(t, Config{Name: "src"}, Config{Name: "fwd-in"})
		w2 := newWire(t, Config{Name: "fwd-out"}, Config{Name: "dst"})
		src, in, out, dst := w1[0], w1[1], w2[0], w2[1]
		pkts := make([]*driver.Packet, in.BurstSize())
		total := 0
		for round := range 20 {
			var frames [][]byte
			for i := range 32 {
				frames = append(frames, rawFrame(in.MAC(), src.MAC(), uint32(round*32+i), 200))
			}
			send(t, src, 0, frames)
			for {
				n := in.RxBurst(0, pkts)
				if n == 0 {
					break
				}
				dstMAC, outMAC := dst.MAC(), out.MAC()
				for _, pk := range pkts[:n] {
					d := pk.Data()
					copy(d[0:6], dstMAC[:])
					copy(d[6:12], outMAC[:])
				}
				out.TxBurst(0, pkts[:n])
			}
			got := drainAll(t, dst)
			for i, r := range got {
				if seqOf(r.data) != uint32(round*32+i) {
					t.Fatalf("round %d frame %d: got seq %v", round, i, seqOf(r.data))
				}
			}
			total += len(got)
		}
		if total != 20*32 {
			t.Errorf("forwarded %v frames, want %v", total, 20*32)
		}
		checkPools(t, src, in, out, dst)
	})
}

// TestMixedDataRoom joins ports whose buffers differ in size: buffers must
// not change pools, and a frame that does not fit the receiver's buffer is
// dropped, not delivered in a foreign buffer.
func TestMixedDataRoom(t *testing.T) {
	ports := newWire(t, Config{Name: "std"}, Config{Name: "jumbo", MTU: 9000, DataRoom: 9216}, Config{Name: "std2"})
	std, jumbo, std2 := ports[0], ports[1], ports[2]
	var small, big [][]byte
	for i := range 40 {
		small = append(small, rawFrame(broadcast, jumbo.MAC(), uint32(i), 1000))
		big = append(big, rawFrame(std.MAC(), jumbo.MAC(), uint32(i), 9014))
	}
	var toJumbo [][]byte
	for i := range 40 {
		toJumbo = append(toJumbo, rawFrame(jumbo.MAC(), std.MAC(), uint32(i), 1500))
	}
	send(t, std, 0, toJumbo)
	send(t, jumbo, 0, small)
	send(t, jumbo, 0, big)
	if got := len(drainAll(t, jumbo)); got != 40 {
		t.Errorf("jumbo received %v frames, want 40", got)
	}
	got := drainAll(t, std)
	if len(got) != 40 {
		t.Errorf("std received %v frames, want the 40 small ones", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r.data, small[i]) {
			t.Errorf("std frame %d differs", i)
		}
	}
	if got := len(drainAll(t, std2)); got != 40 {
		t.Errorf("std2 received %v frames, want 40", got)
	}
	if got, want := std.Stats().RxMissed, uint64(40); got != want {
		t.Errorf("std RxMissed got %v, want %v", got, want)
	}
	checkPools(t, std, jumbo, std2)
}

func TestSteadyStateNoAllocs(t *testing.T) {
	ports := newWire(t, Config{}, Config{Queues: 2})
	a, b := ports[0], ports[1]
	const burst = 32
	var frames [][]byte
	for i := range burst {
		f := flow{proto: 17, src: [4]byte{10, 0, 0, byte(i)}, dst: [4]byte{10, 0, 0, 200}, sport: uint16(i * 99), dport: 4789}
		frames = append(frames, ipv4Frame(b.MAC(), a.MAC(), f, uint32(i), 64))
	}
	var notified int
	b.SetRxNotify(0, func() { notified++ })
	tx := make([]*driver.Packet, burst)
	rx := make([]*driver.Packet, burst)
	cycle := func() {
		pool := a.Pool(0)
		for i := range tx {
			pk := pool.Get()
			copy(pk.Append(len(frames[i])), frames[i])
			tx[i] = pk
		}
		a.TxBurst(0, tx)
		for q := range b.NumQueues() {
			for {
				n := b.RxBurst(q, rx)
				if n == 0 {
					break
				}
				for _, pk := range rx[:n] {
					b.Pool(q).Put(pk)
				}
			}
		}
	}
	cycle()
	if allocs := testing.AllocsPerRun(200, cycle); allocs != 0 {
		t.Errorf("TxBurst+RxBurst+Put: got %v allocs per burst, want 0", allocs)
	}
	// One cycle before, one warm-up run and 200 runs.
	if st := b.Stats(); st.RxPackets != 202*burst || st.RxMissed != 0 {
		t.Errorf("b.Stats() got %+v, want %v received", st, 202*burst)
	}
	checkPools(t, a, b)
}

// TestConcurrentPorts runs owners of different queues in parallel; run it
// with -race. Every frame sent is either received or counted missed.
func TestConcurrentPorts(t *testing.T) {
	tests := []struct {
		name   string
		queues int
	}{
		// One goroutine per port.
		{"port-per-goroutine", 1},
		// Softnet style: goroutine q owns queue q of both ports, and sends
		// to both of the other port's queues.
		{"queue-per-goroutine", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const bursts = 300
			cfg := Config{Queues: tt.queues, RingSize: 64, BurstSize: 16, PoolSize: 128}
			ports := newWire(t, cfg, cfg)
			a, b := ports[0], ports[1]
			h := rss.NewHasher(rss.DefaultKey())
			reta := a.RSS().RETA
			// flows[q] are flows landing on queue q.
			flows := make([][]flow, tt.queues)
			for i := 0; ; i++ {
				f := flow{proto: 6, src: [4]byte{10, 0, 0, 1}, dst: [4]byte{10, 0, 0, 2}, sport: uint16(3000 + i), dport: 443}
				q := reta.Queue(h.HashIPv4Ports(f.src, f.dst, f.sport, f.dport))
				flows[q] = append(flows[q], f)
				done := true
				for _, fs := range flows {
					done = done && len(fs) >= 4
				}
				if done {
					break
				}
			}
			type owner struct {
				tx, rx *Port
				q      int
			}
			var owners []owner
			if tt.queues == 1 {
				owners = []owner{{a, a, 0}, {b, b, 0}}
			} else {
				owners = []owner{{a, b, 0}, {b, a, 1}}
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, o := range owners {
				wg.Go(func() {
					<-start
					peer := b
					if o.tx == b {
						peer = a
					}
					txPkts := make([]*driver.Packet, 16)
					rxPkts := make([]*driver.Packet, 16)
					seq := uint32(0)
					poll := func(p *Port, q int) {
						n := p.RxBurst(q, rxPkts)
						for i, pk := range rxPkts[:n] {
							if i%2 == 0 {
								pk.Free()
							} else {
								p.Pool(q).Put(pk)
							}
						}
					}
					for i := range bursts {
						pool := o.tx.Pool(o.q)
						k := 0
						for k < len(txPkts) {
							pk := pool.Get()
							if pk == nil {
								break
							}
							fs := flows[(i+k)%tt.queues]
							f := ipv4Frame(peer.MAC(), o.tx.MAC(), fs[k%len(fs)], seq, 64+k*50)
							seq++
							copy(pk.Append(len(f)), f)
							txPkts[k] = pk
							k++
						}
						o.tx.TxBurst(o.q, txPkts[:k])
						// Poll every queue this goroutine owns.
						poll(o.tx, o.q)
						if o.rx != o.tx {
							poll(o.rx, o.q)
						}
						// Let the peer run: interleave the two owners.
						runtime.Gosched()
					}
				})
			}
			close(start)
			wg.Wait()
			// Drain what is left, as each queue's owner (now this one).
			for _, p := range ports {
				for q := range p.NumQueues() {
					drainQueue(t, p, q)
				}
			}
			as, bs := a.Stats(), b.Stats()
			t.Logf("a %+v", as)
			t.Logf("b %+v", bs)
			if as.TxPackets == 0 || bs.TxPackets == 0 {
				t.Fatalf("no traffic: a %+v, b %+v", as, bs)
			}
			if got, want := bs.RxPackets+bs.RxMissed, as.TxPackets; got != want {
				t.Errorf("a->b: rx %v + missed %v = %v, want tx %v", bs.RxPackets, bs.RxMissed, got, want)
			}
			if got, want := as.RxPackets+as.RxMissed, bs.TxPackets; got != want {
				t.Errorf("b->a: rx %v + missed %v = %v, want tx %v", as.RxPackets, as.RxMissed, got, want)
			}
			if as.TxErrors != 0 || bs.TxErrors != 0 {
				t.Errorf("TxErrors: a %v, b %v, want 0", as.TxErrors, bs.TxErrors)
			}
			checkPools(t, a, b)
		})
	}
}

// tcpFrame is a TCP frame from src to dst with the given flags, over IPv4
// (ipv4Frame's layout) or over IPv6.
func tcpFrame(dst, src driver.MAC, v6 bool, sport uint16, flags byte, seq uint32) []byte {
	if !v6 {
		f := ipv4Frame(dst, src, flow{proto: 6, src: [4]byte{198, 51, 100, 1}, dst: [4]byte{198, 51, 100, 2}, sport: sport, dport: 80}, seq, 64)
		f[14+20+13] = flags
		return f
	}
	b := make([]byte, 14+40+20+4)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	b[12], b[13] = 0x86, 0xdd
	ip := b[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 24)
	ip[6], ip[7] = 6, 64
	ip[8], ip[9], ip[23] = 0x20, 0x01, 1
	ip[24], ip[25], ip[39] = 0x20, 0x01, 2
	l := ip[40:]
	binary.BigEndian.PutUint16(l[0:], sport)
	binary.BigEndian.PutUint16(l[2:], 80)
	l[12] = 5 << 4
	l[13] = flags
	binary.BigEndian.PutUint32(b[len(b)-4:], seq)
	return b
}

// TestSYNQueue checks the SYN filter: pure SYNs of both families land on
// the SYN ring and nothing else does; a flood that overflows the SYN ring
// costs the RSS queues nothing; queue 0's notifier fires for the SYN ring.
func TestSYNQueue(t *testing.T) {
	const ring = 64
	ports := newWire(t, Config{Queues: 1}, Config{Queues: 2, SYNQueue: true, RingSize: ring, BurstSize: 16, PoolSize: 2 * ring})
	a, b := ports[0], ports[1]
	var _ driver.SYNQueuer = b
	if a.SYNQueue() || a.RxSYNBurst(make([]*driver.Packet, 4)) != 0 {
		t.Fatal("a port without a SYN ring reports one")
	}
	if !b.SYNQueue() || b.NumQueues() != 2 {
		t.Fatalf("SYNQueue() %v, NumQueues() %d: want true, 2", b.SYNQueue(), b.NumQueues())
	}
	var notified atomic.Int32
	b.SetRxNotify(0, func() { notified.Add(1) })
	var syns, others [][]byte
	for i := range 10 {
		v6 := i%2 == 1
		syns = append(syns, tcpFrame(b.MAC(), a.MAC(), v6, uint16(1000+i), 0x02, uint32(i)))
		others = append(others,
			tcpFrame(b.MAC(), a.MAC(), v6, uint16(2000+i), 0x12, uint32(100+i)), // SYN-ACK
			tcpFrame(b.MAC(), a.MAC(), v6, uint16(3000+i), 0x10, uint32(200+i)), // ACK
			tcpFrame(b.MAC(), a.MAC(), v6, uint16(4000+i), 0x00, uint32(300+i))) // no flags
	}
	send(t, a, 0, syns)
	if notified.Load() == 0 {
		t.Error("queue 0's notifier did not fire for SYNs")
	}
	send(t, a, 0, others)
	drainSYN := func() [][]byte {
		var out [][]byte
		pkts := make([]*driver.Packet, b.BurstSize())
		for {
			n := b.RxSYNBurst(pkts)
			if n == 0 {
				return out
			}
			for _, pk := range pkts[:n] {
				if !driver.PureSYN(pk.Data()) {
					t.Errorf("SYN ring holds a frame that is not a pure SYN: % x", pk.Data()[:60])
				}
				out = append(out, slices.Clone(pk.Data()))
				pk.Free()
			}
		}
	}
	// While a sender holds the SYN ring, its owner does not wait for it.
	sr := &b.rx[b.syn]
	sr.mu.Lock()
	if n := b.RxSYNBurst(make([]*driver.Packet, 4)); n != 0 {
		t.Errorf("RxSYNBurst took %d frames from a locked ring", n)
	}
	sr.mu.Unlock()
	if got := drainSYN(); len(got) != len(syns) {
		t.Errorf("SYN ring gave %d frames, want %d", len(got), len(syns))
	}
	rest := drainAll(t, b)
	if len(rest) != len(others) {
		t.Errorf("RSS queues gave %d frames, want %d", len(rest), len(others))
	}
	for _, r := range rest {
		if driver.PureSYN(r.data) {
			t.Errorf("queue %d got a pure SYN", r.q)
		}
	}
	checkPools(t, a, b)

	// A flood of 3 rings' worth of SYNs mixed with data: the SYN ring
	// overflows, every data frame arrives.
	var mixed [][]byte
	data := 0
	for i := range 3 * ring {
		mixed = append(mixed, tcpFrame(b.MAC(), a.MAC(), i%3 == 0, uint16(5000+i), 0x02, uint32(i)))
		if i%6 == 0 {
			mixed = append(mixed, tcpFrame(b.MAC(), a.MAC(), false, 443, 0x18, uint32(i)))
			data++
		}
	}
	before := b.Stats().RxMissed
	send(t, a, 0, mixed)
	if got, want := b.Stats().RxMissed-before, uint64(2*ring); got != want {
		t.Errorf("RxMissed went up by %d, want %d (the SYN ring's overflow)", got, want)
	}
	if got := len(drainSYN()); got != ring {
		t.Errorf("SYN ring gave %d frames after the flood, want %d", got, ring)
	}
	if got := len(drainAll(t, b)); got != data {
		t.Errorf("RSS queues gave %d data frames during the flood, want all %d", got, data)
	}
	checkPools(t, a, b)
}
