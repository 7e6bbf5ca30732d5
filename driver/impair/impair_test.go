package impair_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"testing"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want impair.Config
	}{
		{"drop=0.01,dup=0.001,reorder=8,corrupt=0.0001,delay=4,seed=7,dir=rx",
			impair.Config{Drop: 0.01, Dup: 0.001, Reorder: 8, Corrupt: 0.0001, Delay: 4, Seed: 7, Rx: true}},
		{"drop=1%", impair.Config{Drop: 0.01}},
		{"drop=100%", impair.Config{Drop: 1}},
		{"dup=50%,corrupt=0.5%", impair.Config{Dup: 0.5, Corrupt: 0.005}},
		{"drop=0", impair.Config{}},
		{"drop=1", impair.Config{Drop: 1}},
		{"seed=0x1f", impair.Config{Seed: 31}},
		{"seed=18446744073709551615", impair.Config{Seed: 1<<64 - 1}},
		{"dir=tx", impair.Config{Tx: true}},
		{"dir=both", impair.Config{Rx: true, Tx: true}},
		{"dir=rx,dir=tx", impair.Config{Rx: true, Tx: true}},
		{" drop=0.5 , delay=3 ", impair.Config{Drop: 0.5, Delay: 3}},
		{"reorder=1", impair.Config{Reorder: 1}},
		{"reorder=4096,delay=4096", impair.Config{Reorder: 4096, Delay: 4096}},
		{"drop=0.1,drop=0.2", impair.Config{Drop: 0.2}},
		{"drop=1%,dir=tx,whole=true", impair.Config{Drop: 0.01, Tx: true, Whole: true}},
	}
	for _, tc := range tests {
		got, err := impair.Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q) error %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q) got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestWhole: with Whole, a super-frame reaches the inner port whole (its
// TSO cuts it) or is dropped whole, never in part; frames around it keep
// their order.
func TestWhole(t *testing.T) {
	w := memwire.New()
	ra, err := w.AddPort(memwire.Config{TSO: true, ChecksumOffload: true, PoolSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := w.AddPort(memwire.Config{PoolSize: 4096, RingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	a, err := impair.Wrap(ra, impair.Config{Drop: 0.3, Seed: 5, Tx: true, Whole: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Offloads()&driver.OffloadTxTCPSeg == 0 {
		t.Fatal("the wrapped port lost its segmentation offload")
	}
	const supers, segs, mss = 200, 3, 400
	pool := a.Pool(0)
	dst, src := rb.MAC(), ra.MAC()
	for i := 0; i < supers; i++ {
		pk := pool.Get()
		f := pk.Append(54)
		copy(f[0:6], dst[:])
		copy(f[6:12], src[:])
		f[12], f[13] = 0x08, 0x00
		f[14], f[23] = 0x45, 6
		binary.BigEndian.PutUint16(f[16:], 40)
		copy(f[26:30], []byte{192, 0, 2, 1})
		copy(f[30:34], []byte{192, 0, 2, 2})
		binary.BigEndian.PutUint16(f[34:], 40000)
		binary.BigEndian.PutUint16(f[36:], 80)
		binary.BigEndian.PutUint32(f[38:], uint32(i*segs*mss))
		f[46], f[47] = 5<<4, 0x10
		data := pool.Get()
		d := data.Append(segs * mss)
		for j := range d {
			d[j] = byte(i + j)
		}
		pk.Flags, pk.L2Len, pk.L3Len, pk.SegSize = driver.TxTCPSeg|driver.TxTCPChecksum, 14, 20, mss
		pk.More, pk.MoreLen = data, segs*mss
		if n := a.TxBurst(0, []*driver.Packet{pk}); n != 1 {
			t.Fatalf("TxBurst took %d of 1", n)
		}
		pool.Put(data) // the sender's, after TxBurst: nothing kept a reference
	}
	got := map[int]int{}
	buf := make([]*driver.Packet, 64)
	for n := rb.RxBurst(0, buf); n > 0; n = rb.RxBurst(0, buf) {
		for _, pk := range buf[:n] {
			seq := int(binary.BigEndian.Uint32(pk.Data()[38:]))
			if pk.Len() != 54+mss || pk.Data()[54] != byte(seq/(segs*mss)+seq%(segs*mss)) {
				t.Fatalf("segment at %d: %d bytes or payload wrong", seq, pk.Len())
			}
			got[seq/(segs*mss)]++
			rb.Pool(0).Put(pk)
		}
	}
	whole := 0
	for i, n := range got {
		if n != segs {
			t.Fatalf("super-frame %d: %d of its %d segments arrived: struck in part", i, n, segs)
		}
		whole++
	}
	st := a.Faults()
	if uint64(whole)+st.Dropped != supers || st.Dropped < 30 || st.Dropped > 90 {
		t.Fatalf("%d super-frames arrived whole, %d dropped: want %d in all, about 60 dropped", whole, st.Dropped, supers)
	}
	if _, err := impair.Parse("drop=1%,reorder=4,whole=true"); err == nil {
		t.Fatal("whole with reorder accepted")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string // want: a substring of the error
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"loss=0.1", "unknown key"},
		{"Drop=0.1", "unknown key"},
		{"drop", "not key=value"},
		{"drop=0.1,", "not key=value"},
		{"drop=abc", "not a number"},
		{"drop=", "not a number"},
		{"drop=%", "not a number"},
		{"drop=1.01", "not a probability"},
		{"drop=101%", "not a probability"},
		{"dup=2", "not a probability"},
		{"corrupt=-0.1", "not a probability"},
		{"corrupt=NaN", "not a probability"},
		{"drop=Inf", "not a probability"},
		{"reorder=-1", "reorder"},
		{"reorder=4097", "reorder"},
		{"reorder=2.5", "reorder"},
		{"delay=-2", "delay"},
		{"delay=x", "delay"},
		{"seed=-1", "seed"},
		{"seed=seven", "seed"},
		{"dir=up", "want rx, tx or both"},
		{"drop=0.1,foo=1", "unknown key"},
	}
	for _, tc := range tests {
		_, err := impair.Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) got error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func TestConfigEnabled(t *testing.T) {
	tests := []struct {
		cfg  impair.Config
		want bool
	}{
		{impair.Config{}, false},
		{impair.Config{Seed: 5, Rx: true, Tx: true}, false},
		{impair.Config{Reorder: 1}, false},
		{impair.Config{Reorder: 2}, true},
		{impair.Config{Delay: 1}, true},
		{impair.Config{Drop: 1e-9}, true},
		{impair.Config{Dup: 0.5}, true},
		{impair.Config{Corrupt: 1}, true},
	}
	for _, tc := range tests {
		if got := tc.cfg.Enabled(); got != tc.want {
			t.Errorf("%+v.Enabled() got %v, want %v", tc.cfg, got, tc.want)
		}
	}
}

func TestWrapRejectsInvalid(t *testing.T) {
	w := memwire.New()
	p, err := w.AddPort(memwire.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []impair.Config{{Drop: 2}, {Dup: -1}, {Reorder: -1}, {Delay: 5000}} {
		if ip, err := impair.Wrap(p, cfg); err == nil || ip != nil {
			t.Errorf("Wrap(%+v) got %v, %v; want an error", cfg, ip, err)
		}
	}
}

// link is two memwire ports, either of them wrapped.
type link struct {
	a, b   driver.Port // what the test sends on and receives from
	ia, ib *impair.Port
	ra, rb *memwire.Port
}

// newLink joins a and b; aCfg and bCfg, when not nil, wrap them.
func newLink(t testing.TB, aCfg, bCfg *impair.Config, bPort memwire.Config) *link {
	t.Helper()
	w := memwire.New()
	ra, err := w.AddPort(memwire.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := w.AddPort(bPort)
	if err != nil {
		t.Fatal(err)
	}
	l := &link{a: ra, b: rb, ra: ra, rb: rb}
	if aCfg != nil {
		if l.ia, err = impair.Wrap(ra, *aCfg); err != nil {
			t.Fatal(err)
		}
		l.a = l.ia
	}
	if bCfg != nil {
		if l.ib, err = impair.Wrap(rb, *bCfg); err != nil {
			t.Fatal(err)
		}
		l.b = l.ib
	}
	return l
}

// frame returns a frame for b of about size bytes carrying seq after the
// Ethernet header.
func (l *link) frame(seq uint32, size int) []byte {
	f := make([]byte, max(size, 18))
	dst, src := l.rb.MAC(), l.ra.MAC()
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x88, 0xb5
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < len(f); i++ {
		f[i] = byte(seq) ^ byte(i)
	}
	return f
}

func (l *link) frames(from, n int) [][]byte {
	var fs [][]byte
	for i := range n {
		fs = append(fs, l.frame(uint32(from+i), 60+(from+i)*13%200))
	}
	return fs
}

func seqOf(f []byte) uint32 { return binary.BigEndian.Uint32(f[14:]) }

// send transmits frames on queue 0 of p in one TxBurst per burst size.
func send(t testing.TB, p driver.Port, frames [][]byte) {
	t.Helper()
	pool := p.Pool(0)
	pkts := make([]*driver.Packet, 0, p.BurstSize())
	for i, f := range frames {
		pk := pool.Get()
		if pk == nil {
			t.Fatalf("pool exhausted")
		}
		copy(pk.Append(len(f)), f)
		pkts = append(pkts, pk)
		if len(pkts) == cap(pkts) || i == len(frames)-1 {
			if n := p.TxBurst(0, pkts); n != len(pkts) {
				t.Fatalf("TxBurst took %d of %d", n, len(pkts))
			}
			pkts = pkts[:0]
		}
	}
}

// recv polls queue 0 of p until it returns nothing, copying the frames
// out and freeing the buffers.
func recv(p driver.Port) [][]byte {
	var out [][]byte
	pkts := make([]*driver.Packet, p.BurstSize())
	for {
		n := p.RxBurst(0, pkts)
		if n == 0 {
			return out
		}
		for _, pk := range pkts[:n] {
			out = append(out, slices.Clone(pk.Data()))
			p.Pool(0).Put(pk)
		}
	}
}

func (l *link) held() int {
	n := 0
	for _, ip := range []*impair.Port{l.ia, l.ib} {
		if ip != nil {
			n += ip.Held(0)
		}
	}
	return n
}

// run sends frames from a to b in bursts, receiving after each, then
// reports idle polls until nothing is held. It returns what b received.
func (l *link) run(t testing.TB, frames [][]byte) [][]byte {
	t.Helper()
	var got [][]byte
	for i := 0; i < len(frames); i += 32 {
		send(t, l.a, frames[i:min(i+32, len(frames))])
		got = append(got, recv(l.b)...)
	}
	return append(got, l.idle(t)...)
}

// idle reports idle polls on both ends until nothing is held.
func (l *link) idle(t testing.TB) [][]byte {
	t.Helper()
	var got [][]byte
	for i := 0; l.held() > 0; i++ {
		if i > 10000 {
			t.Fatalf("frames still held after %d idle polls: %d", i, l.held())
		}
		for _, ip := range []*impair.Port{l.ia, l.ib} {
			if ip != nil {
				ip.Idle(0)
			}
		}
		got = append(got, recv(l.b)...)
	}
	return append(got, recv(l.b)...)
}

func (l *link) faults() impair.Stats {
	var s impair.Stats
	for _, ip := range []*impair.Port{l.ia, l.ib} {
		if ip != nil {
			f := ip.Faults()
			s.Dropped += f.Dropped
			s.Duplicated += f.Duplicated
			s.Corrupted += f.Corrupted
			s.Reordered += f.Reordered
			s.Delayed += f.Delayed
			s.DupFailed += f.DupFailed
		}
	}
	return s
}

// checkAccounting asserts sent - dropped + duplicated == received, with
// nothing missed or held.
func (l *link) checkAccounting(t testing.TB, sent int, got [][]byte) {
	t.Helper()
	f := l.faults()
	if st := l.rb.Stats(); st.RxMissed != 0 || st.RxNoBuf != 0 {
		t.Fatalf("b missed frames: %+v", st)
	}
	if h := l.held(); h != 0 {
		t.Fatalf("Held got %v, want 0", h)
	}
	if want := uint64(sent) - f.Dropped + f.Duplicated; uint64(len(got)) != want {
		t.Errorf("received %v, want sent %v - dropped %v + duplicated %v = %v", len(got), sent, f.Dropped, f.Duplicated, want)
	}
}

func TestPassThrough(t *testing.T) {
	zero := impair.Config{Seed: 9}
	for _, dir := range []string{"tx", "rx"} {
		t.Run(dir, func(t *testing.T) {
			var l *link
			if dir == "tx" {
				l = newLink(t, &zero, nil, memwire.Config{})
			} else {
				l = newLink(t, nil, &zero, memwire.Config{})
			}
			frames := l.frames(0, 500)
			got := l.run(t, frames)
			if len(got) != len(frames) {
				t.Fatalf("received %v frames, want %v", len(got), len(frames))
			}
			for i := range got {
				if !bytes.Equal(got[i], frames[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
			if f := l.faults(); f != (impair.Stats{}) {
				t.Errorf("Faults() got %+v, want zero", f)
			}
		})
	}
}

func allFaults(seed uint64) impair.Config {
	return impair.Config{Drop: 0.05, Dup: 0.05, Corrupt: 0.05, Reorder: 6, Delay: 3, Seed: seed}
}

func TestDeterminism(t *testing.T) {
	for _, dir := range []string{"tx", "rx", "both"} {
		t.Run(dir, func(t *testing.T) {
			mk := func(seed uint64) *link {
				cfg := allFaults(seed)
				switch dir {
				case "tx":
					return newLink(t, &cfg, nil, memwire.Config{Promiscuous: true})
				case "rx":
					return newLink(t, nil, &cfg, memwire.Config{Promiscuous: true})
				}
				return newLink(t, &cfg, &cfg, memwire.Config{Promiscuous: true})
			}
			l1, l2, l3 := mk(42), mk(42), mk(43)
			frames := l1.frames(0, 3000)
			got1 := l1.run(t, frames)
			got2 := l2.run(t, frames)
			got3 := l3.run(t, frames)
			if len(got1) != len(got2) {
				t.Fatalf("same seed: received %v and %v frames", len(got1), len(got2))
			}
			for i := range got1 {
				if !bytes.Equal(got1[i], got2[i]) {
					t.Fatalf("same seed: frame %d differs:\n%x\n%x", i, got1[i], got2[i])
				}
			}
			if f1, f2 := l1.faults(), l2.faults(); f1 != f2 {
				t.Errorf("same seed: Faults() got %+v and %+v", f1, f2)
			}
			f := l1.faults()
			if f.Dropped == 0 || f.Duplicated == 0 || f.Corrupted == 0 || f.Reordered == 0 || f.Delayed == 0 {
				t.Errorf("Faults() got %+v, want every fault injected", f)
			}
			if slices.EqualFunc(got1, got3, bytes.Equal) {
				t.Errorf("different seeds gave identical output")
			}
			for _, l := range []*link{l1, l2, l3} {
				l.checkAccounting(t, len(frames), map[*link][][]byte{l1: got1, l2: got2, l3: got3}[l])
			}
		})
	}
}

func TestDropRate(t *testing.T) {
	const n = 20000
	cfg := impair.Config{Drop: 0.1, Seed: 1}
	l := newLink(t, &cfg, nil, memwire.Config{})
	frames := l.frames(0, n)
	got := l.run(t, frames)
	f := l.faults()
	// Binomial standard deviation is about 42: allow about five.
	if f.Dropped < n/10-200 || f.Dropped > n/10+200 {
		t.Errorf("dropped %v of %v, want about %v", f.Dropped, n, n/10)
	}
	if f.Duplicated != 0 || f.Corrupted != 0 || f.Reordered != 0 || f.Delayed != 0 {
		t.Errorf("Faults() got %+v, want only drops", f)
	}
	l.checkAccounting(t, n, got)
	// What survives is unchanged and in order.
	last := -1
	for _, g := range got {
		s := int(seqOf(g))
		if s <= last || !bytes.Equal(g, frames[s]) {
			t.Fatalf("frame %d after %d, or changed", s, last)
		}
		last = s
	}
	if tx := l.ra.Stats().TxPackets; tx != uint64(len(got)) {
		t.Errorf("inner TxPackets got %v, want %v", tx, len(got))
	}
	// drop=1 drops everything, drop=0 nothing.
	for _, p := range []float64{0, 1} {
		cfg := impair.Config{Drop: p, Seed: 1}
		l := newLink(t, &cfg, nil, memwire.Config{})
		got := l.run(t, l.frames(0, 1000))
		if want := int(1000 * (1 - p)); len(got) != want {
			t.Errorf("drop=%v: received %v, want %v", p, len(got), want)
		}
	}
}

func TestDuplicate(t *testing.T) {
	for _, p := range []float64{0.3, 1} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			cfg := impair.Config{Dup: p, Seed: 5}
			l := newLink(t, &cfg, nil, memwire.Config{})
			frames := l.frames(0, 2000)
			got := l.run(t, frames)
			l.checkAccounting(t, len(frames), got)
			// In order, each frame once or twice in a row, each copy exact.
			twice := 0
			next := 0
			for i := 0; i < len(got); i++ {
				s := int(seqOf(got[i]))
				if s != next {
					t.Fatalf("received frame %d, want %d", s, next)
				}
				if !bytes.Equal(got[i], frames[s]) {
					t.Fatalf("frame %d differs", s)
				}
				if i+1 < len(got) && int(seqOf(got[i+1])) == s {
					if !bytes.Equal(got[i+1], frames[s]) {
						t.Fatalf("duplicate of frame %d differs", s)
					}
					twice++
					i++
				}
				next++
			}
			if next != len(frames) {
				t.Fatalf("received frames up to %d, want %d", next, len(frames))
			}
			f := l.faults()
			if uint64(twice) != f.Duplicated || f.DupFailed != 0 {
				t.Errorf("observed %v duplicates, Faults() got %+v", twice, f)
			}
			if p == 1 && twice != len(frames) {
				t.Errorf("dup=1: %v duplicates, want %v", twice, len(frames))
			}
			if p < 1 && (twice < 500 || twice > 700) {
				t.Errorf("dup=%v: %v duplicates of %v, want about %v", p, twice, len(frames), 600)
			}
		})
	}
}

// TestDuplicatePoolEmpty exhausts the sender's pool: duplicates fail and
// are counted, the originals still go out.
func TestDuplicatePoolEmpty(t *testing.T) {
	cfg := impair.Config{Dup: 1, Seed: 5}
	l := newLink(t, &cfg, nil, memwire.Config{})
	pool := l.a.Pool(0)
	var hoard []*driver.Packet
	for pool.Available() > 32 {
		hoard = append(hoard, pool.Get())
	}
	frames := l.frames(0, 32)
	got := l.run(t, frames)
	if len(got) != 32 {
		t.Errorf("received %v, want 32", len(got))
	}
	if f := l.faults(); f.DupFailed != 32 || f.Duplicated != 0 {
		t.Errorf("Faults() got %+v, want DupFailed 32", f)
	}
	for _, pk := range hoard {
		pool.Put(pk)
	}
	got = l.run(t, frames)
	if len(got) != 64 {
		t.Errorf("with buffers back received %v, want 64", len(got))
	}
}

func TestCorrupt(t *testing.T) {
	for _, p := range []float64{0.25, 1} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			cfg := impair.Config{Corrupt: p, Seed: 11}
			// b is promiscuous so a flipped address bit does not lose the
			// frame.
			l := newLink(t, &cfg, nil, memwire.Config{Promiscuous: true})
			frames := l.frames(0, 2000)
			got := l.run(t, frames)
			l.checkAccounting(t, len(frames), got)
			corrupted := 0
			for i, g := range got {
				if len(g) != len(frames[i]) {
					t.Fatalf("frame %d: length %d, want %d", i, len(g), len(frames[i]))
				}
				d := 0
				for j := range g {
					d += bits.OnesCount8(g[j] ^ frames[i][j])
				}
				switch d {
				case 0:
				case 1:
					corrupted++
				default:
					t.Fatalf("frame %d: %d bits flipped, want 0 or 1", i, d)
				}
			}
			if f := l.faults(); uint64(corrupted) != f.Corrupted {
				t.Errorf("observed %v corrupted frames, Faults().Corrupted %v", corrupted, f.Corrupted)
			}
			if p == 1 && corrupted != len(frames) {
				t.Errorf("corrupt=1: %v corrupted, want %v", corrupted, len(frames))
			}
			if p < 1 && (corrupted < 400 || corrupted > 600) {
				t.Errorf("corrupt=%v: %v corrupted of %v, want about 500", p, corrupted, len(frames))
			}
		})
	}
}

// observedReorders counts frames delivered while an earlier one was still
// to come.
func observedReorders(seqs []int, n int) int {
	delivered := make([]bool, n)
	lowest := 0 // lowest frame not yet delivered
	count := 0
	for _, s := range seqs {
		if s != lowest {
			count++
		}
		delivered[s] = true
		for lowest < n && delivered[lowest] {
			lowest++
		}
	}
	return count
}

func TestReorder(t *testing.T) {
	for _, window := range []int{2, 8, 64} {
		t.Run(fmt.Sprint(window), func(t *testing.T) {
			cfg := impair.Config{Reorder: window, Seed: 3}
			l := newLink(t, &cfg, nil, memwire.Config{})
			const n = 3000
			frames := l.frames(0, n)
			got := l.run(t, frames)
			l.checkAccounting(t, n, got)
			seen := make([]bool, n)
			var seqs []int
			outOfOrder := 0
			for k, g := range got {
				s := int(seqOf(g))
				if seen[s] {
					t.Fatalf("frame %d delivered twice", s)
				}
				seen[s] = true
				seqs = append(seqs, s)
				if !bytes.Equal(g, frames[s]) {
					t.Fatalf("frame %d changed", s)
				}
				// Frame s can overtake at most window-1 earlier frames:
				// the k-th frame leaves when frame k+window-1 enters.
				if s > k+window-1 {
					t.Errorf("frame %d delivered %dth, beyond the window of %d", s, k, window)
				}
				if k > 0 && s < seqs[k-1] {
					outOfOrder++
				}
			}
			if len(seqs) != n {
				t.Fatalf("received %v frames, want %v", len(seqs), n)
			}
			if outOfOrder < n/10 {
				t.Errorf("only %v frames out of order", outOfOrder)
			}
			if got, want := l.faults().Reordered, uint64(observedReorders(seqs, n)); got != want {
				t.Errorf("Faults().Reordered got %v, want %v observed", got, want)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	for _, dir := range []string{"tx", "rx"} {
		t.Run(dir, func(t *testing.T) {
			const d = 5
			cfg := impair.Config{Delay: d}
			var l *link
			var ip *impair.Port
			if dir == "tx" {
				l = newLink(t, &cfg, nil, memwire.Config{})
				ip = l.ia
			} else {
				l = newLink(t, nil, &cfg, memwire.Config{})
				ip = l.ib
			}
			frames := l.frames(0, 3*d+1)
			// The first d frames are held until d more arrive.
			for i := range d {
				send(t, l.a, frames[i:i+1])
				if got := recv(l.b); len(got) != 0 {
					t.Fatalf("after %d frames received %v, want 0", i+1, len(got))
				}
				if got, want := ip.Held(0), i+1; got != want {
					t.Fatalf("Held got %v, want %v", got, want)
				}
			}
			var got [][]byte
			for i := d; i < len(frames); i++ {
				send(t, l.a, frames[i:i+1])
				r := recv(l.b)
				if len(r) != 1 || !bytes.Equal(r[0], frames[i-d]) {
					t.Fatalf("after frame %d received %d frames, want frame %d", i, len(r), i-d)
				}
				got = append(got, r...)
				if h := ip.Held(0); h != d {
					t.Fatalf("Held got %v, want %v", h, d)
				}
			}
			// A burst of many frames: the last d stay behind.
			send(t, l.a, l.frames(100, 40))
			if r := recv(l.b); len(r) != 40 || seqOf(r[0]) != uint32(len(frames)-d) {
				t.Fatalf("after a burst of 40 received %v frames", len(r))
			}
			// Idle polls release the rest, one each, in order.
			for i := range d {
				ip.Idle(0)
				r := recv(l.b)
				if len(r) != 1 || seqOf(r[0]) != uint32(100+40-d+i) {
					t.Fatalf("idle poll %d released %d frames, want frame %d", i, len(r), 100+40-d+i)
				}
			}
			if h := ip.Held(0); h != 0 {
				t.Fatalf("Held after %d idle polls got %v, want 0", d, h)
			}
			ip.Idle(0)
			if r := recv(l.b); len(r) != 0 {
				t.Fatalf("idle poll with nothing held released %v frames", len(r))
			}
			if f := ip.Faults(); f.Delayed != uint64(len(frames)+40) {
				t.Errorf("Faults().Delayed got %v, want %v", f.Delayed, len(frames)+40)
			}
		})
	}
}

func TestDelayAndReorderDrainOnIdle(t *testing.T) {
	for _, dir := range []string{"tx", "rx", "both"} {
		t.Run(dir, func(t *testing.T) {
			cfg := impair.Config{Delay: 7, Reorder: 5, Dup: 0.1, Drop: 0.1, Seed: 77}
			var l *link
			switch dir {
			case "tx":
				l = newLink(t, &cfg, nil, memwire.Config{})
			case "rx":
				l = newLink(t, nil, &cfg, memwire.Config{})
			default:
				l = newLink(t, &cfg, &cfg, memwire.Config{})
			}
			frames := l.frames(0, 10)
			send(t, l.a, frames)
			got := recv(l.b)
			if l.held() == 0 {
				t.Fatalf("nothing held after 10 frames")
			}
			got = append(got, l.idle(t)...)
			l.checkAccounting(t, len(frames), got)
		})
	}
}

func TestFaultAccounting(t *testing.T) {
	tests := []struct {
		name   string
		cfg    impair.Config
		tx, rx bool
	}{
		{"tx", impair.Config{Drop: 0.1, Dup: 0.1, Reorder: 4, Delay: 2, Corrupt: 0.1, Seed: 8}, true, false},
		{"rx", impair.Config{Drop: 0.1, Dup: 0.1, Reorder: 4, Delay: 2, Corrupt: 0.1, Seed: 8}, false, true},
		{"both ends", impair.Config{Drop: 0.2, Dup: 0.2, Seed: 8}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ac, bc *impair.Config
			if tc.tx {
				ac = &tc.cfg
			}
			if tc.rx {
				bc = &tc.cfg
			}
			l := newLink(t, ac, bc, memwire.Config{Promiscuous: true})
			frames := l.frames(0, 5000)
			got := l.run(t, frames)
			l.checkAccounting(t, len(frames), got)
			// The wire saw what the sender's faults let through.
			if tc.tx {
				f := l.ia.Faults()
				if got, want := l.ra.Stats().TxPackets, uint64(len(frames))-f.Dropped+f.Duplicated; got != want {
					t.Errorf("wire TxPackets got %v, want %v", got, want)
				}
			}
		})
	}
}

// TestDirection checks that dir=rx leaves the transmit path alone and
// dir=tx the receive path.
func TestDirection(t *testing.T) {
	dropAll := func(dir string) *impair.Config {
		c, err := impair.Parse("drop=1,seed=2,dir=" + dir)
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	// a drops everything it receives, b everything it sends: a->b passes.
	l := newLink(t, dropAll("rx"), dropAll("tx"), memwire.Config{})
	frames := l.frames(0, 300)
	if got := l.run(t, frames); len(got) != len(frames) {
		t.Errorf("a(dir=rx) -> b(dir=tx): received %v, want %v", len(got), len(frames))
	}
	if f := l.faults(); f.Dropped != 0 {
		t.Errorf("Faults() got %+v, want no drops", f)
	}
	// The other way round, everything is dropped, once.
	l = newLink(t, dropAll("tx"), dropAll("rx"), memwire.Config{})
	if got := l.run(t, frames); len(got) != 0 {
		t.Errorf("a(dir=tx) -> b(dir=rx): received %v, want 0", len(got))
	}
	if f := l.ia.Faults(); f.Dropped != uint64(len(frames)) {
		t.Errorf("sender Faults() got %+v, want %v drops", f, len(frames))
	}
	if f := l.ib.Faults(); f.Dropped != 0 {
		t.Errorf("receiver Faults() got %+v, want none: nothing reached it", f)
	}
	// dir=rx with a partial drop rate.
	cfg, err := impair.Parse("drop=25%,dup=10%,seed=4,dir=rx")
	if err != nil {
		t.Fatal(err)
	}
	l = newLink(t, nil, &cfg, memwire.Config{})
	got := l.run(t, l.frames(0, 4000))
	l.checkAccounting(t, 4000, got)
	if st := l.rb.Stats(); st.RxPackets != 4000 {
		t.Errorf("inner port received %v, want all 4000", st.RxPackets)
	}
	if f := l.ib.Faults(); f.Dropped < 850 || f.Dropped > 1150 || f.Duplicated == 0 {
		t.Errorf("Faults() got %+v, want about 1000 drops and some duplicates", f)
	}
}

// TestRxPollNotIdleWhileRingHasFrames: with a receive delay longer than a
// burst, a poll must keep taking frames from the wrapped port rather than
// report nothing (which a softnet takes for an idle poll).
func TestRxPollNotIdleWhileRingHasFrames(t *testing.T) {
	const d = 40
	cfg := impair.Config{Delay: d}
	l := newLink(t, nil, &cfg, memwire.Config{})
	frames := l.frames(0, 100)
	send(t, l.a, frames)
	got := recv(l.b)
	if len(got) != len(frames)-d {
		t.Fatalf("received %v frames, want %v (all but the %d delayed)", len(got), len(frames)-d, d)
	}
	for i, g := range got {
		if !bytes.Equal(g, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if h := l.ib.Held(0); h != d {
		t.Fatalf("Held got %v, want %v", h, d)
	}
}

func TestIdleChainsToWrappedPort(t *testing.T) {
	w := memwire.New()
	a, _ := w.AddPort(memwire.Config{})
	b, _ := w.AddPort(memwire.Config{})
	inner, err := impair.Wrap(a, impair.Config{Delay: 2})
	if err != nil {
		t.Fatal(err)
	}
	outer, err := impair.Wrap(inner, impair.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	l := &link{a: outer, b: b, ia: inner, ra: a, rb: b}
	send(t, outer, l.frames(0, 2))
	if got := len(recv(b)); got != 0 {
		t.Fatalf("received %v, want 0", got)
	}
	outer.Idle(0)
	outer.Idle(0)
	if got := len(recv(b)); got != 2 {
		t.Fatalf("after two idle polls of the outer port received %v, want 2", got)
	}
	var _ driver.Idler = outer
}

func TestRxNotifyPassThrough(t *testing.T) {
	cfg := impair.Config{Drop: 0.5, Seed: 1}
	l := newLink(t, nil, &cfg, memwire.Config{})
	calls := 0
	l.ib.SetRxNotify(0, func() { calls++ })
	send(t, l.a, l.frames(0, 10))
	if calls != 1 {
		t.Errorf("notifications got %v, want 1", calls)
	}
	var _ driver.RxNotifier = l.ib
}

// TestForeignPool sends, through the fault injector, packets from another
// queue's pool: drops and the wire's buffer swaps must return them to it.
func TestForeignPool(t *testing.T) {
	w := memwire.New()
	ra, err := w.AddPort(memwire.Config{Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := w.AddPort(memwire.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ia, err := impair.Wrap(ra, impair.Config{Drop: 0.5, Dup: 0.2, Reorder: 4, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	l := &link{a: ia, b: rb, ia: ia, ra: ra, rb: rb}
	p0, p1 := ra.Pool(0), ra.Pool(1)
	avail0, avail1 := p0.Available(), p1.Available()
	frames := l.frames(0, 1000)
	var got [][]byte
	for i := 0; i < len(frames); i += 32 {
		var pkts []*driver.Packet
		for _, f := range frames[i:min(i+32, len(frames))] {
			pk := p1.Get()
			copy(pk.Append(len(f)), f)
			pkts = append(pkts, pk)
		}
		ia.TxBurst(0, pkts)
		got = append(got, recv(rb)...)
	}
	got = append(got, l.idle(t)...)
	l.checkAccounting(t, len(frames), got)
	if a0, a1 := p0.Available(), p1.Available(); a0 != avail0 || a1 != avail1 {
		t.Errorf("Available() got %v and %v, want %v and %v", a0, a1, avail0, avail1)
	}
}

func TestSteadyStateNoAllocs(t *testing.T) {
	cfg := impair.Config{Drop: 0.05, Dup: 0.05, Corrupt: 0.01, Reorder: 8, Delay: 4, Seed: 1}
	for _, dir := range []string{"tx", "rx"} {
		t.Run(dir, func(t *testing.T) {
			var l *link
			if dir == "tx" {
				l = newLink(t, &cfg, nil, memwire.Config{Promiscuous: true})
			} else {
				l = newLink(t, nil, &cfg, memwire.Config{Promiscuous: true})
			}
			frames := l.frames(0, 32)
			tx := make([]*driver.Packet, 32)
			rx := make([]*driver.Packet, 32)
			cycle := func() {
				pool := l.a.Pool(0)
				for i := range tx {
					pk := pool.Get()
					copy(pk.Append(len(frames[i])), frames[i])
					tx[i] = pk
				}
				l.a.TxBurst(0, tx)
				for {
					n := l.b.RxBurst(0, rx)
					if n == 0 {
						break
					}
					for _, pk := range rx[:n] {
						l.b.Pool(0).Put(pk)
					}
				}
			}
			cycle()
			if a := testing.AllocsPerRun(200, cycle); a != 0 {
				t.Errorf("got %v allocs per burst, want 0", a)
			}
		})
	}
}
