package dpdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/rss"
)

// EAL initialises once per process, so every test that needs DPDK runs
// its body in a fresh copy of the test binary: the parent re-executes
// itself with -test.run=^TestName$ and childEnv set, and fails with the
// child's output when the child fails.
const childEnv = "NETSPLICE_DPDK_TEST_CHILD"

// testEAL is the EAL configuration of every test: no hugepages, no PCI
// devices, one lcore, plus the test's vdevs.
var testEAL = []string{"--no-huge", "-m", "256", "--no-pci", "-l", "0", "--no-telemetry", "--no-shconf", "--log-level=lib.eal:error"}

// inChild reports whether the test runs in its own subprocess. In the
// parent it runs the subprocess, checks it passed and returns false.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	runChild(t)
	return false
}

// runChild runs t's body in a copy of the test binary, through the
// command prefix wrap if any (ip netns exec NS), and fails t with the
// child's output when the child fails.
func runChild(t *testing.T, wrap ...string) {
	t.Helper()
	if !Available {
		t.Fatalf("%s needs DPDK, and this test binary was built without it (tag nodpdk or CGO_ENABLED=0)", t.Name())
	}
	args := append(wrap[:len(wrap):len(wrap)], os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=120s")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s in its own process failed (%v):\n%s", t.Name(), err, out)
	}
	t.Logf("subprocess output:\n%s", out)
}

// mustInitEAL initialises EAL with the test arguments and vdevs, failing
// (not skipping) with a clear message when DPDK cannot start.
func mustInitEAL(t testing.TB, vdevs ...string) {
	t.Helper()
	args := append(append([]string{}, testEAL...), vdevs...)
	if err := InitEAL(args); err != nil {
		t.Fatalf("DPDK cannot initialise here (is libdpdk-dev installed, and the PMDs under /usr/lib/*/dpdk?): %v", err)
	}
}

func mustOpen(t testing.TB, cfg PortConfig) *Port {
	t.Helper()
	p, err := OpenPort(cfg)
	if err != nil {
		t.Fatalf("OpenPort(%+v): %v", cfg, err)
	}
	return p
}

// udpFrame writes an Ethernet/IPv4/UDP frame of the given payload size
// into pk, with a payload pattern that depends on seq.
func udpFrame(pk *driver.Packet, src, dst [4]byte, sport, dport uint16, size int, seq int) bool {
	b := pk.Append(14 + 20 + 8 + size)
	if b == nil {
		return false
	}
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+size))
	binary.BigEndian.PutUint16(ip[4:], uint16(seq))
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 64, 17
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	u := b[34:42]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+size))
	u[6], u[7] = 0, 0
	for i := range size {
		b[42+i] = byte(seq*7 + i)
	}
	return true
}

func TestFlagsMatchC(t *testing.T) {
	want := [10]uint32{uint32(driver.RxHashValid), uint32(driver.RxIPChecksumGood), uint32(driver.RxIPChecksumBad),
		uint32(driver.RxL4ChecksumGood), uint32(driver.RxL4ChecksumBad), uint32(driver.TxIPChecksum),
		uint32(driver.TxUDPChecksum), uint32(driver.TxTCPChecksum), uint32(driver.TxIPv6), uint32(driver.RxTCPCoalesced)}
	if got := cFlags(); got != want {
		t.Fatalf("C flags %v, driver flags %v", got, want)
	}
}

// TestEALBogusOption: EAL refuses an unknown option with a clean error,
// and a later call with good arguments still works.
func TestEALBogusOption(t *testing.T) {
	if !inChild(t) {
		return
	}
	if _, err := OpenPort(PortConfig{Name: "net_ring0"}); err == nil {
		t.Fatal("OpenPort before InitEAL succeeded")
	}
	err := InitEAL(append(append([]string{}, testEAL...), "--no-such-eal-option"))
	if err == nil {
		t.Fatal("InitEAL accepted --no-such-eal-option")
	}
	if !strings.Contains(err.Error(), "rte_eal_init") || !strings.Contains(err.Error(), "--no-such-eal-option") {
		t.Fatalf("error does not say what EAL refused: %v", err)
	}
	t.Logf("bogus option: %v", err)
	if Initialized() {
		t.Fatal("Initialized() after a refused InitEAL")
	}
	err = InitEAL([]string{"-l", "999999", "--no-huge", "--no-pci"})
	if err == nil {
		t.Fatal("InitEAL accepted -l 999999")
	}
	t.Logf("bad core list: %v", err)
}

// TestEALOnce: EAL initialises once; a second call and a call after
// Cleanup are errors; unknown ports are clean errors.
func TestEALOnce(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0")
	if err := InitEAL(testEAL); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second InitEAL: %v, want 'already initialised'", err)
	}
	if _, err := OpenPort(PortConfig{Name: "net_nosuch0"}); err == nil {
		t.Fatal("OpenPort of an unknown name succeeded")
	} else {
		t.Logf("unknown port: %v", err)
	}
	if _, err := OpenPort(PortConfig{PortID: 77}); err == nil {
		t.Fatal("OpenPort of port 77 succeeded")
	}
	if _, err := OpenPort(PortConfig{Name: "net_ring0", Queues: -1}); err == nil {
		t.Fatal("OpenPort with -1 queues succeeded")
	}
	p := mustOpen(t, PortConfig{Name: "net_ring0"})
	if _, err := OpenPort(PortConfig{Name: "net_ring0"}); err == nil {
		t.Fatal("second OpenPort of one port succeeded")
	}
	if !p.Link().Up {
		t.Errorf("ring port link down")
	}
	if err := Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if err := InitEAL(testEAL); err == nil {
		t.Fatal("InitEAL after Cleanup succeeded")
	}
}

// TestThreadRegister: ThreadInit gives the locked thread an lcore id and
// ThreadExit takes it back.
func TestThreadRegister(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t)
	var wg, registered sync.WaitGroup
	ids := make([]int, 4)
	registered.Add(len(ids))
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			err := ThreadInit(i)
			ids[i] = LcoreID()
			registered.Done()
			if err != nil {
				t.Errorf("ThreadInit(%d): %v", i, err)
				return
			}
			registered.Wait() // all hold their ids at once
			ThreadExit(i)
			if id := LcoreID(); id != -1 {
				t.Errorf("lcore id %d after ThreadExit", id)
			}
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, id := range ids {
		if id < 1 || seen[id] {
			t.Errorf("softnet %d got lcore id %d (all: %v): want distinct ids above the main lcore 0", i, id, ids)
		}
		seen[id] = true
	}
	t.Logf("lcore ids of registered threads: %v", ids)
}

// sendRecv transmits pkts on queue q and polls every queue until want
// frames came back or a second passed; it returns the frames per queue.
func sendRecv(t *testing.T, p *Port, q int, pkts []*driver.Packet, want int) [][]*driver.Packet {
	t.Helper()
	for len(pkts) > 0 {
		n := p.TxBurst(q, pkts)
		if n == 0 {
			t.Fatalf("TxBurst took nothing")
		}
		pkts = pkts[n:]
	}
	got := make([][]*driver.Packet, p.NumQueues())
	buf := make([]*driver.Packet, p.BurstSize())
	total := 0
	deadline := time.Now().Add(time.Second)
	for total < want && time.Now().Before(deadline) {
		for rq := 0; rq < p.NumQueues(); rq++ {
			n := p.RxBurst(rq, buf)
			got[rq] = append(got[rq], buf[:n]...)
			total += n
		}
	}
	if total != want {
		t.Fatalf("received %d frames, want %d", total, want)
	}
	return got
}

// TestRingRxTx: frames sent on a net_ring port come back on its receive
// side intact, in the same mbufs (zero copy: the very descriptors), with
// the software RSS hash set, and descriptors are reused round after round.
func TestRingRxTx(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0")
	p := mustOpen(t, PortConfig{Name: "net_ring0", PoolSize: 511})
	mode, reason := p.RSSMode()
	t.Logf("net_ring0: %v (%s), hw queues %v, offloads %x, MTU %d, MAC %s", mode, reason, fmt.Sprint(p.HardwareQueues()), p.Offloads(), p.MTU(), macString(p.MAC()))
	if mode != SoftwareRSS {
		t.Fatalf("net_ring has no RSS, but the port chose %v", mode)
	}
	h := rss.NewHasher(rss.DefaultKey())
	pool := p.Pool(0)
	src, dst := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
	seen := map[*driver.Packet]bool{}
	for round := 0; round < 50; round++ {
		var pkts []*driver.Packet
		for i := 0; i < 32; i++ {
			pk := pool.Get()
			if pk == nil {
				t.Fatalf("round %d: pool empty after %d packets", round, i)
			}
			seen[pk] = true
			size := 1 + (round*32+i)*37%1472
			if !udpFrame(pk, src, dst, uint16(1000+i), 7, size, round*32+i) {
				t.Fatal("frame does not fit an mbuf")
			}
			pkts = append(pkts, pk)
		}
		sent := append([]*driver.Packet(nil), pkts...)
		copies := make([][]byte, len(pkts))
		for i, pk := range pkts {
			copies[i] = append([]byte(nil), pk.Data()...)
		}
		got := sendRecv(t, p, 0, pkts, len(pkts))[0]
		for i, pk := range got {
			if pk != sent[i] {
				t.Fatalf("round %d frame %d: received descriptor %p, sent %p: not the same mbuf", round, i, pk, sent[i])
			}
			if !bytes.Equal(pk.Data(), copies[i]) {
				t.Fatalf("round %d frame %d: bytes differ", round, i)
			}
			want := h.HashIPv4Ports(src, dst, uint16(1000+i), 7)
			if pk.Flags&driver.RxHashValid == 0 || pk.Hash != want {
				t.Fatalf("frame %d: hash %#x flags %#x, want %#x from software RSS", i, pk.Hash, pk.Flags, want)
			}
			if pk.Pool() != pool || pk.Queue != 0 {
				t.Fatalf("received packet belongs to pool %p queue %d, want queue 0's", pk.Pool(), pk.Queue)
			}
			pool.Put(pk)
		}
	}
	if len(seen) > 511 {
		t.Fatalf("%d distinct descriptors for a pool of 511", len(seen))
	}
	t.Logf("50 rounds of 32 frames used %d distinct descriptors", len(seen))
	st := p.Stats()
	if st.RxPackets != 50*32 || st.TxPackets != 50*32 {
		t.Fatalf("stats rx %d tx %d, want 1600 each", st.RxPackets, st.TxPackets)
	}
	xs, err := p.XStats()
	if err != nil {
		t.Fatalf("XStats: %v", err)
	}
	if xs["rx_good_packets"] != 1600 {
		t.Fatalf("xstats rx_good_packets = %d, want 1600 (all: %v)", xs["rx_good_packets"], xs)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
}

// TestSoftwareRSSSteering: net_ring has no RSS, so a 2-queue port does
// software RSS and every frame lands on the queue that the Toeplitz hash
// and RETA predict, whichever hardware queue it came in on; frames moved
// between softnets are counted as handoffs.
func TestSoftwareRSSSteering(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0")
	p := mustOpen(t, PortConfig{Name: "net_ring0", Queues: 2, PoolSize: 1023})
	mode, reason := p.RSSMode()
	hrx, htx := p.HardwareQueues()
	t.Logf("net_ring0 with 2 softnets: %v (%s), hardware queues rx %d tx %d", mode, reason, hrx, htx)
	if mode != SoftwareRSS || p.NumQueues() != 2 {
		t.Fatalf("mode %v with %d queues, want software RSS with 2", mode, p.NumQueues())
	}
	cfg := p.RSS()
	if cfg.Key != rss.DefaultKey() || cfg.RETA.Validate(2) != nil || cfg.Types&rss.UDPv4 == 0 {
		t.Fatalf("software RSS config %+v: want the default key, a RETA over 2 queues, UDPv4 hashing", cfg)
	}
	h := rss.NewHasher(cfg.Key)
	src, dst := [4]byte{198, 51, 100, 1}, [4]byte{198, 51, 100, 2}
	const flows = 200
	per := [2]int{}
	for txq := 0; txq < 2; txq++ {
		var pkts []*driver.Packet
		want := map[int]int{}
		for f := 0; f < flows; f++ {
			pk := p.Pool(txq).Get()
			if pk == nil {
				t.Fatal("pool empty")
			}
			udpFrame(pk, src, dst, uint16(20000+f), 9, 16, f)
			pkts = append(pkts, pk)
			want[f] = cfg.RETA.Queue(h.HashIPv4Ports(src, dst, uint16(20000+f), 9))
		}
		before := p.SoftStats().Handoffs
		var got [][]*driver.Packet
		for i := 0; i < len(pkts); i += 32 {
			part := sendRecv(t, p, txq, pkts[i:min(i+32, len(pkts))], min(32, len(pkts)-i))
			if got == nil {
				got = part
			} else {
				for q := range part {
					got[q] = append(got[q], part[q]...)
				}
			}
		}
		moved := 0
		for q, pks := range got {
			last := -1
			for _, pk := range pks {
				f := int(binary.BigEndian.Uint16(pk.Data()[34:]) - 20000)
				if want[f] != q || int(pk.Queue) != q || pk.Pool() != p.Pool(q) {
					t.Fatalf("flow %d arrived on queue %d (packet says %d), RSS predicts %d", f, q, pk.Queue, want[f])
				}
				if f <= last {
					t.Fatalf("queue %d: flow %d after %d: order lost", q, f, last)
				}
				last = f
				if q != hrxQueue(txq, hrx) {
					moved++
				}
				per[q]++
				p.Pool(q).Put(pk)
			}
		}
		if d := p.SoftStats().Handoffs - before; d != uint64(moved) {
			t.Fatalf("handoffs counted %d, frames moved %d", d, moved)
		}
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("frames per queue %v: RSS did not spread %d flows", per, flows)
	}
	t.Logf("frames per queue %v, handoffs %d", per, p.SoftStats().Handoffs)
}

// TestSoftwareRSSConcurrentOrder: two softnets, each on its own thread,
// poll one shared hardware queue while one of them sends: every frame
// reaches the softnet its hash names, and each flow's frames arrive in
// the order they were sent, whichever softnet polled them. The software
// RSS rings are larger than the mempool, so no frame can be dropped.
func TestSoftwareRSSConcurrentOrder(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0")
	p := mustOpen(t, PortConfig{Name: "net_ring0", Queues: 2, PoolSize: 4095, SoftRingSize: 4096, hwQueues: 1})
	if hrx, _ := p.HardwareQueues(); hrx != 1 {
		t.Fatalf("%d hardware rx queues, want 1", hrx)
	}
	const flows, perFlow = 8, 4000
	src, dst := [4]byte{198, 51, 100, 1}, [4]byte{198, 51, 100, 2}
	var received [2]int
	var total atomic.Int64
	var errs [2]error
	var wg sync.WaitGroup
	deadline := time.Now().Add(60 * time.Second)
	for q := 0; q < 2; q++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			last := make([]int, flows)
			for i := range last {
				last[i] = -1
			}
			buf := make([]*driver.Packet, p.BurstSize())
			var pending []*driver.Packet
			seq, iter := 0, 0
			for total.Load() < flows*perFlow && time.Now().Before(deadline) {
				if q == 0 && (seq < perFlow || len(pending) > 0) {
					// One frame of every flow per round, then send
					// what the ring takes.
					if len(pending) == 0 {
						for f := 0; f < flows; f++ {
							pk := p.Pool(0).Get()
							if pk == nil {
								break
							}
							udpFrame(pk, src, dst, uint16(20000+f), 9, 18, seq)
							pending = append(pending, pk)
						}
						if len(pending) < flows {
							for _, pk := range pending {
								p.Pool(0).Put(pk)
							}
							pending = pending[:0]
						} else {
							seq++
						}
					}
					k := p.TxBurst(0, pending)
					pending = pending[k:]
				}
				// The sender polls every 4th time round only, so that
				// the other softnet finds frames on the hardware queue
				// too, not only on its ring.
				iter++
				if q == 0 && iter%4 != 0 && seq < perFlow {
					continue
				}
				k := p.RxBurst(q, buf)
				for _, pk := range buf[:k] {
					d := pk.Data()
					f := int(binary.BigEndian.Uint16(d[34:]) - 20000)
					seq := int(binary.BigEndian.Uint16(d[18:]))
					if f < 0 || f >= flows || pk.Queue != uint16(q) {
						errs[q] = fmt.Errorf("queue %d: frame of flow %d for queue %d", q, f, pk.Queue)
					} else if seq <= last[f] && errs[q] == nil {
						errs[q] = fmt.Errorf("queue %d, flow %d: frame %d after %d: order lost", q, f, seq, last[f])
					} else {
						last[f] = seq
					}
					p.Pool(q).Put(pk)
				}
				received[q] += k
				total.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := p.SoftStats()
	if received[0]+received[1] != flows*perFlow || s.RingDrops != 0 {
		t.Fatalf("received %v, dropped %d on full rings, sent %d", received, s.RingDrops, flows*perFlow)
	}
	if received[0] == 0 || received[1] == 0 || s.Handoffs == 0 {
		t.Fatalf("received %v, handoffs %d: the softnets did not share the work", received, s.Handoffs)
	}
	t.Logf("received per softnet %v, handoffs %d", received, s.Handoffs)
}

// hrxQueue is the hardware queue a frame sent on ring tx queue q comes
// in on (net_ring loops queue i to queue i).
func hrxQueue(q, hw int) int { return q % hw }

// TestRSSConfigReadBack: net_null implements the RSS configuration calls,
// so a 2-queue port gets hardware RSS with netsplice's key and a RETA
// read back from the PMD; if the PMD cannot, software RSS must be chosen
// with a reason.
func TestRSSConfigReadBack(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_null0", "--vdev=net_ring0", "--vdev=net_null1")
	p := mustOpen(t, PortConfig{Name: "net_null0", Queues: 2, PoolSize: 2047})
	mode, reason := p.RSSMode()
	cfg := p.RSS()
	hrx, htx := p.HardwareQueues()
	t.Logf("net_null0: %v %s; hw queues %d/%d; key %x; types %v; RETA %d entries %v...", mode, reason, hrx, htx,
		cfg.Key[:8], cfg.Types, len(cfg.RETA), cfg.RETA[:min(8, len(cfg.RETA))])
	switch mode {
	case HardwareRSS:
		if hrx != 2 || htx != 2 {
			t.Fatalf("hardware RSS with %d/%d hardware queues, want 2/2", hrx, htx)
		}
		if cfg.Key != rss.DefaultKey() {
			t.Fatalf("key read back %x, want netsplice's %x", cfg.Key, rss.DefaultKey())
		}
		if err := cfg.RETA.Validate(2); err != nil {
			t.Fatal(err)
		}
		seen := map[uint16]bool{}
		for _, q := range cfg.RETA {
			seen[q] = true
		}
		if len(seen) != 2 {
			t.Fatalf("RETA read back %v does not use both queues", cfg.RETA)
		}
	case SoftwareRSS:
		if reason == "" {
			t.Fatal("software RSS without a reason")
		}
	}
	// A PMD without RSS: software, with the reason logged.
	r := mustOpen(t, PortConfig{Name: "net_ring0", Queues: 3})
	if m, why := r.RSSMode(); m != SoftwareRSS || !strings.Contains(why, "no RSS") {
		t.Fatalf("net_ring: %v (%s), want software RSS because the PMD has no RSS", m, why)
	}
	if err := r.RSS().RETA.Validate(3); err != nil {
		t.Fatal(err)
	}
	// Forced software RSS on a PMD that could hash.
	q := mustOpen(t, PortConfig{Name: "net_null1", Queues: 2, PoolSize: 2047, SoftwareRSS: true})
	if m, _ := q.RSSMode(); m != SoftwareRSS {
		t.Fatalf("SoftwareRSS asked for, got %v", m)
	}
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// TestMempoolExhaustion: a tiny pool runs dry: allocation returns fewer
// and counts, receive returns nothing, nothing crashes, and everything
// works again once buffers come back.
func TestMempoolExhaustion(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0", "--vdev=net_null0,size=64")
	runtime.LockOSThread()
	if err := ThreadInit(0); err != nil {
		t.Fatal(err)
	}
	const size = 95
	p := mustOpen(t, PortConfig{Name: "net_ring0", PoolSize: size})
	pool := p.Pool(0)
	var held []*driver.Packet
	for i := 0; i < 2*size; i++ {
		pk := pool.Get()
		if pk == nil {
			continue
		}
		udpFrame(pk, [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}, uint16(i), 7, 8, i)
		held = append(held, pk)
	}
	if len(held) == 0 || len(held) > size {
		t.Fatalf("got %d packets from a pool of %d", len(held), size)
	}
	if pool.Exhausted() == 0 || p.Stats().RxNoBuf == 0 {
		t.Fatalf("exhaustion not counted: pool %d, port RxNoBuf %d", pool.Exhausted(), p.Stats().RxNoBuf)
	}
	t.Logf("allocated %d of %d mbufs; %d failed allocations counted", len(held), size, pool.Exhausted())
	got := sendRecv(t, p, 0, held, len(held))[0]
	for _, pk := range got {
		pool.Put(pk)
	}
	if pk := pool.Get(); pk == nil {
		t.Fatal("pool still empty after the packets came back")
	} else {
		pool.Put(pk)
	}

	// Receive side: net_null allocates every received frame from the
	// queue's mempool; with all its mbufs held, it receives nothing.
	n := mustOpen(t, PortConfig{Name: "net_null0", PoolSize: size})
	npool := n.Pool(0)
	held = held[:0]
	for pk := npool.Get(); pk != nil; pk = npool.Get() {
		held = append(held, pk)
	}
	buf := make([]*driver.Packet, 32)
	for i := 0; i < 100; i++ {
		if k := n.RxBurst(0, buf); k != 0 {
			t.Fatalf("received %d frames with every mbuf held", k)
		}
	}
	for _, pk := range held {
		npool.Put(pk)
	}
	npool.Flush()
	k := n.RxBurst(0, buf)
	if k == 0 {
		t.Fatal("nothing received after the mbufs came back")
	}
	for _, pk := range buf[:k] {
		npool.Put(pk)
	}
	ns := n.Stats()
	t.Logf("net_null after exhaustion: received %d; stats rx_nobuf %d rx_missed %d", k, ns.RxNoBuf, ns.RxMissed)
	ThreadExit(0)
}

// TestPoolLowLevels: the stack asks Pool.Low before every send buffer it
// fills. While the mempool is mostly free that costs a cgo call per 32
// asks, not one per packet; when buffers run short the answer is exact.
func TestPoolLowLevels(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0")
	const size = 1023
	p := mustOpen(t, PortConfig{Name: "net_ring0", PoolSize: size})
	pool := p.Pool(0)
	calls := p.SoftStats().CgoCalls
	for i := 0; i < 3200; i++ {
		if pool.Low() {
			t.Fatalf("ask %d: a fresh pool of %d reports low", i, size)
		}
	}
	fullCalls := p.SoftStats().CgoCalls - calls
	if fullCalls > 3200/32+1 {
		t.Fatalf("3200 asks of Pool.Low made %d cgo calls, want at most %d", fullCalls, 3200/32+1)
	}
	// Hold mbufs until Low says so: then fewer than a quarter are free.
	var held []*driver.Packet
	for !pool.Low() {
		pk := pool.Get()
		if pk == nil {
			t.Fatalf("pool empty after %d packets and never low", len(held))
		}
		held = append(held, pk)
	}
	if free := size - len(held); free >= size/4 || free < size/4-64 {
		t.Fatalf("low with %d of %d free, want just under a quarter", free, size)
	}
	for _, pk := range held {
		pool.Put(pk)
	}
	if pool.Low() {
		t.Fatal("still low with every mbuf back")
	}
	t.Logf("low at %d of %d held; %d cgo calls for 3200 asks while full", len(held), size, fullCalls)
}

// cycle sends one burst of 64-byte frames on queue 0 and receives it back
// on every queue: the steady state of a forwarding loop.
type cycle struct {
	p    *Port
	pkts []*driver.Packet
	rx   []*driver.Packet
}

func newCycle(p *Port) *cycle {
	return &cycle{p: p, pkts: make([]*driver.Packet, p.BurstSize()), rx: make([]*driver.Packet, p.BurstSize())}
}

// With flows 0 the frames are not built, only sized: the benchmark
// measures the binding, not the writing of headers.
func (c *cycle) run(tb testing.TB, flows int) int {
	pool := c.p.Pool(0)
	n := pool.GetBulk(c.pkts)
	for i, pk := range c.pkts[:n] {
		if flows == 0 {
			pk.Append(60)
			continue
		}
		udpFrame(pk, [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}, uint16(i%flows), 7, 18, i)
	}
	sent := 0
	for sent < n {
		k := c.p.TxBurst(0, c.pkts[sent:n])
		if k == 0 {
			tb.Fatal("tx ring full")
		}
		sent += k
	}
	got := 0
	for spins := 0; got < n; spins++ {
		for q := 0; q < c.p.NumQueues(); q++ {
			k := c.p.RxBurst(q, c.rx)
			for _, pk := range c.rx[:k] {
				c.p.Pool(q).Put(pk)
			}
			got += k
		}
		if spins > 1e6 {
			tb.Fatalf("received %d of %d", got, n)
		}
	}
	return n
}

// TestZeroAllocs: a steady rx/tx cycle allocates nothing, with hardware
// queues and with software RSS across two softnets.
func TestZeroAllocs(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0", "--vdev=net_ring1")
	for _, tc := range []struct {
		name   string
		queues int
	}{{"net_ring0", 1}, {"net_ring1", 2}} {
		p := mustOpen(t, PortConfig{Name: tc.name, Queues: tc.queues, PoolSize: 1023})
		c := newCycle(p)
		for i := 0; i < 100; i++ {
			c.run(t, 64)
		}
		if a := testing.AllocsPerRun(1000, func() { c.run(t, 64) }); a != 0 {
			t.Fatalf("%s with %d queues: %v allocations per burst", tc.name, tc.queues, a)
		}
		t.Logf("%s, %d queue(s): 0 allocations per burst; %+v", tc.name, tc.queues, p.SoftStats())
	}
}

var bench struct {
	once sync.Once
	err  error
	p    *Port
}

// BenchmarkRingRxTx measures the binding alone: allocation, tx burst, rx
// burst (with the software RSS hash of each 60-byte UDP frame) and free
// on net_ring, per packet, with the cgo calls per packet. It runs in the test binary's own process (the tests run in
// subprocesses), which initialises EAL once.
func BenchmarkRingRxTx(b *testing.B) {
	bench.once.Do(func() {
		args := append(append([]string{}, testEAL...), "--vdev=net_ring0")
		if bench.err = InitEAL(args); bench.err != nil {
			return
		}
		bench.p, bench.err = OpenPort(PortConfig{Name: "net_ring0", PoolSize: 2047})
	})
	if bench.err != nil {
		b.Fatalf("DPDK cannot initialise here: %v", bench.err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := ThreadInit(0); err != nil {
		b.Fatal(err)
	}
	defer ThreadExit(0)
	c := newCycle(bench.p)
	for i := 0; i < 100; i++ {
		c.run(b, 1) // real UDP frames in every buffer first
	}
	calls := bench.p.SoftStats().CgoCalls
	pkts := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkts += c.run(b, 0)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/pkt")
	b.ReportMetric(float64(bench.p.SoftStats().CgoCalls-calls)/float64(pkts), "cgo-calls/pkt")
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds()/1e6, "Mpps")
}

// tcpFrame writes an Ethernet/IPv4/TCP frame with the given flags into pk.
func tcpFrame(pk *driver.Packet, src, dst [4]byte, sport, dport uint16, flags byte) {
	b := pk.Append(14 + 20 + 20)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 64, 6
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	tcp := b[34:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	tcp[13] = flags
}

// TestSYNRing: with SYNRing on a software-RSS port (net_ring0, whose
// frames come back on its own receive side), the pollers put every pure
// SYN on the SYN ring, for queue 0's owner, and nothing else; SYN-ACKs
// and data keep their RSS queues. A port with hardware RSS (net_null)
// offers no SYN ring.
func TestSYNRing(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0", "--vdev=net_null0")
	p := mustOpen(t, PortConfig{Name: "net_ring0", Queues: 2, PoolSize: 2047, SYNRing: true})
	var _ driver.SYNQueuer = p
	if m, _ := p.RSSMode(); m != SoftwareRSS || !p.SYNQueue() {
		t.Fatalf("net_ring0: %v, SYNQueue() %v: want software RSS with a SYN ring", m, p.SYNQueue())
	}
	src, dst := [4]byte{198, 51, 100, 1}, [4]byte{198, 51, 100, 2}
	const flows = 64
	var syns, others int
	for txq := 0; txq < 2; txq++ {
		var pkts []*driver.Packet
		for f := 0; f < flows; f++ {
			pk := p.Pool(txq).Get()
			if pk == nil {
				t.Fatal("pool empty")
			}
			switch f % 3 {
			case 0:
				tcpFrame(pk, src, dst, uint16(30000+f), 80, 0x02) // SYN
				syns++
			case 1:
				tcpFrame(pk, src, dst, uint16(30000+f), 80, 0x12) // SYN-ACK
				others++
			default:
				udpFrame(pk, src, dst, uint16(30000+f), 9, 16, f)
				others++
			}
			pkts = append(pkts, pk)
		}
		for len(pkts) > 0 {
			n := p.TxBurst(txq, pkts)
			if n == 0 {
				t.Fatal("TxBurst took nothing")
			}
			pkts = pkts[n:]
		}
	}
	buf := make([]*driver.Packet, p.BurstSize())
	var gotSYN, gotOther int
	deadline := time.Now().Add(time.Second)
	for (gotSYN < syns || gotOther < others) && time.Now().Before(deadline) {
		for q := 0; q < 2; q++ {
			n := p.RxBurst(q, buf)
			for _, pk := range buf[:n] {
				if driver.PureSYN(pk.Data()) {
					t.Fatalf("queue %d received a pure SYN", q)
				}
				gotOther++
				p.Pool(q).Put(pk)
			}
		}
		n := p.RxSYNBurst(buf)
		for _, pk := range buf[:n] {
			if !driver.PureSYN(pk.Data()) || pk.Pool() != p.Pool(0) {
				t.Fatalf("SYN ring gave a frame that is not a SYN or not queue 0's (pool %p)", pk.Pool())
			}
			gotSYN++
			p.Pool(0).Put(pk)
		}
	}
	if gotSYN != syns || gotOther != others {
		t.Fatalf("received %d SYNs on the SYN ring and %d other frames, want %d and %d", gotSYN, gotOther, syns, others)
	}
	if s := p.SoftStats(); s.SYNs != uint64(syns) || s.SYNDrops != 0 {
		t.Fatalf("SoftStats SYNs %d, drops %d: want %d and 0", s.SYNs, s.SYNDrops, syns)
	}
	h := mustOpen(t, PortConfig{Name: "net_null0", Queues: 2, PoolSize: 2047, SYNRing: true})
	if m, _ := h.RSSMode(); m == HardwareRSS && h.SYNQueue() {
		t.Fatal("a hardware-RSS port offers a SYN ring it cannot fill")
	}
	if err := Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// TestSoftwareGSO: a TCP super-frame handed to TxBurst, between ordinary
// frames, is cut in software into mbufs of the queue's pool; on net_ring
// the frames come back in order with their payload, sequence numbers and
// checksums right (net_ring offloads nothing, so the cut computes them),
// and the super-frame's payload packets stay the sender's.
func TestSoftwareGSO(t *testing.T) {
	if !inChild(t) {
		return
	}
	mustInitEAL(t, "--vdev=net_ring0")
	p := mustOpen(t, PortConfig{Name: "net_ring0", PoolSize: 511})
	pool := p.Pool(0)
	src, dst := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
	const mss, total = 1000, 4500
	before, after := pool.Get(), pool.Get()
	udpFrame(before, src, dst, 1, 7, 100, 1)
	udpFrame(after, src, dst, 1, 7, 100, 2)
	super, payload := superFrame(pool, src, dst, driver.TxTCPSeg, 1000, mss, total)
	if n := p.TxBurst(0, []*driver.Packet{before, super, after}); n != 3 {
		t.Fatalf("TxBurst took %d of 3", n)
	}
	var got []*driver.Packet
	buf := make([]*driver.Packet, 32)
	for deadline := time.Now().Add(time.Second); len(got) < 7 && time.Now().Before(deadline); {
		n := p.RxBurst(0, buf)
		got = append(got, buf[:n]...)
	}
	if len(got) != 7 {
		t.Fatalf("received %d frames, want 1 + 5 + 1", len(got))
	}
	if got[0].Data()[9+14] != 17 || got[6].Data()[9+14] != 17 {
		t.Fatalf("the ordinary frames did not stay around the super-frame's")
	}
	var frames [][]byte
	for _, f := range got[1:6] {
		frames = append(frames, f.Data())
	}
	checkSegments(t, frames, 1000, mss, total)
	for _, pk := range got {
		pool.Put(pk)
	}
	// The payload packets are still the sender's, intact.
	for i, pk := range payload {
		if pk.Len() != 1500 || pk.Data()[0] != byte(i*1500%251) {
			t.Fatalf("payload packet %d changed", i)
		}
		pool.Put(pk)
	}
	if st := p.Stats(); st.TxPackets != 7 || st.TxErrors != 0 {
		t.Fatalf("stats: %d frames sent, %d errors; want 7, 0", st.TxPackets, st.TxErrors)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
}

// superFrame builds, from pool, a TCP super-frame (PSH|ACK, sequence
// number seq0, SegSize mss, the flags given) whose total payload bytes,
// the i % 251 pattern, lie in three 1500-byte packets it references; it
// returns the frame and the payload packets.
func superFrame(pool *driver.Pool, src, dst [4]byte, flags driver.Flags, seq0 uint32, mss, total int) (*driver.Packet, []*driver.Packet) {
	super := pool.Get()
	tcpFrame(super, src, dst, 40000, 80, 0x18)
	binary.BigEndian.PutUint32(super.Data()[34+4:], seq0)
	super.Flags, super.L2Len, super.L3Len, super.SegSize = flags, 14, 20, uint16(mss)
	payload := patternPayload(pool)
	super.More, super.MoreLen = payload[0], int32(total)
	return super, payload
}

// patternPayload returns three 1500-byte packets from pool, linked on
// Next, holding the i % 251 pattern: a super-frame's payload.
func patternPayload(pool *driver.Pool) []*driver.Packet {
	var payload []*driver.Packet
	for i := 0; i < 3; i++ {
		pk := pool.Get()
		d := pk.Append(1500)
		for j := range d {
			d[j] = byte((i*1500 + j) % 251)
		}
		if i > 0 {
			payload[i-1].Next = pk
		}
		payload = append(payload, pk)
	}
	return payload
}

// checkSegments checks frames, the segments of a superFrame: lengths,
// sequence numbers, payload, PSH on the last only, and both checksums.
func checkSegments(t *testing.T, frames [][]byte, seq0 uint32, mss, total int) {
	t.Helper()
	for i, d := range frames {
		ip := d[14:34]
		tcp := d[34:]
		want := min(mss, total-i*mss)
		if len(d) != 54+want || int(binary.BigEndian.Uint16(ip[2:])) != 40+want {
			t.Fatalf("segment %d: %d bytes, IP length %d, want payload %d", i, len(d), binary.BigEndian.Uint16(ip[2:]), want)
		}
		if seq := binary.BigEndian.Uint32(tcp[4:]); seq != seq0+uint32(i*mss) {
			t.Fatalf("segment %d: seq %d, want %d", i, seq, seq0+uint32(i*mss))
		}
		for j, c := range tcp[20:] {
			if c != byte((i*mss+j)%251) {
				t.Fatalf("segment %d: payload byte %d is %d", i, j, c)
			}
		}
		if psh := tcp[13]&0x08 != 0; psh != (i == len(frames)-1) {
			t.Fatalf("segment %d: PSH %v", i, psh)
		}
		if sum := ^foldSum(ip, 0); sum != 0 {
			t.Fatalf("segment %d: IPv4 header checksum wrong", i)
		}
		pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 6), byte(len(tcp)>>8), byte(len(tcp)))
		if sum := ^foldSum(tcp, foldSum(pseudo, 0)); sum != 0 {
			t.Fatalf("segment %d: TCP checksum wrong", i)
		}
	}
}

// foldSum is the ones' complement sum of b, added to initial, folded.
func foldSum(b []byte, initial uint16) uint16 {
	s := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
