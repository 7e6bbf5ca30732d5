//go:build cgo && !nodpdk

package dpdk

/*
#include <stdlib.h>
#include "ns_dpdk.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
	"github.com/netsplice/netsplice/driver/rss"
	"github.com/netsplice/netsplice/internal/counter"
	"github.com/netsplice/netsplice/internal/ring"
)

// Port is a DPDK ethdev port as a driver.Port with NumQueues logical queue
// pairs. RxBurst, TxBurst and Pool(q) belong to the owner of queue q; the
// other methods are safe from any goroutine.
type Port struct {
	id      uint16
	name    string
	drv     string
	mac     driver.MAC
	mtu     int
	burst   int
	nq      int // logical queues
	nrxh    int // hardware rx queues
	ntxh    int // hardware tx queues
	mode    RSSMode
	reason  string
	rss     rss.Config
	hasher  *rss.Hasher
	offl    driver.Offloads
	prepare C.int
	// tso: the NIC segments IPv4 super-frames sent as mbuf chains (TSO,
	// MULTI_SEGS), and IPv6 ones too with tso6; txSegMax is the most mbufs
	// one chain may have.
	tso, tso6 bool
	txSegMax  int
	// lro: the NIC coalesces received TCP segments (RX_OFFLOAD_TCP_LRO);
	// coalesce: the owner asked for coalesced frames (SetRxCoalesce),
	// which are described as RxTCPCoalesced chains only then.
	lro      bool
	coalesce atomic.Bool
	// tsoOff turns TSO off for good once the PMD's tx_prepare refused a
	// chain (a limit not reported in its device info): segmentation goes
	// back to software, logged once.
	tsoOff atomic.Bool
	// tsoL2InMTU: the PMD measures a TSO segment's size against the MTU
	// with its Ethernet header (net_tap), so segments are made smaller by
	// that much.
	tsoL2InMTU bool
	log        *zap.Logger

	pools  []*driver.Pool
	mps    []*mempool
	bcalls []*counter.Counter // per queue: cgo calls of the pool backend
	rxq    []rxQueue
	txq    []txQueue
	hwrx   []hwQueue
	txLock []paddedMutex // per hardware tx queue, when softnets share one
	// synRing holds the pure SYNs the pollers classified (PortConfig.
	// SYNRing, software RSS), for queue 0's owner (RxSYNBurst).
	synRing *ring.MPSC[driver.Packet]

	closeMu sync.Mutex
	closed  atomic.Bool
}

// rxQueue is a logical queue's receive state, owned by its softnet.
type rxQueue struct {
	mb     []uintptr
	meta   []C.struct_ns_rxmeta
	seg    []C.struct_ns_rxseg // a burst's coalesced chains' mbufs after the first (lro)
	segAt  int                 // the next of seg to describe
	bad    []uintptr
	ring   *ring.MPSC[driver.Packet] // software RSS: frames for this queue
	notify atomic.Pointer[func()]
	wake   []bool // software RSS: destinations to wake after a burst

	packets, bytes counter.Counter
	handoffs       counter.Counter
	ringDrops      counter.Counter
	unsupported    counter.Counter
	lroFrames      counter.Counter // coalesced frames handed over as chains
	calls          counter.Counter
	syns, synDrops counter.Counter
	_              [64]byte
}

// txQueue is a logical queue's transmit scratch, owned by its softnet.
type txQueue struct {
	mb             []uintptr
	meta           []C.struct_ns_txmeta
	packets, bytes counter.Counter
	short          counter.Counter
	calls          counter.Counter
	segs           []*driver.Packet // software GSO's frames, owner only
	gsoDrops       counter.Counter  // super-frames or their frames dropped by software GSO
	// TSO (txTSO): a chain's payload pieces, the spare mbufs that carry
	// them and the sender's packets they reference, owner only.
	pieces   []C.struct_ns_piece
	spare    []*driver.Packet
	lend     []*driver.Packet
	tsoSent  counter.Counter // super-frames the NIC took to segment
	tsoDrops counter.Counter // super-frames the NIC refused (dropped)
	_        [64]byte
}

// hwQueue guards a hardware rx queue that several softnets may poll
// (software RSS): the one that wins the flag polls, the others go on.
type hwQueue struct {
	busy atomic.Bool
	_    [63]byte
}

type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

func cconst(i int) uint64 { return eal.c[i] }

// OpenPort configures and starts a port: cfg.Queues logical queue pairs,
// a mempool per queue, RSS with netsplice's key where the PMD can do it
// (hardware RSS, RETA programmed and read back), software RSS otherwise.
// EAL must be initialised.
func OpenPort(cfg PortConfig) (*Port, error) {
	if !Initialized() {
		return nil, errors.New("dpdk: OpenPort before InitEAL")
	}
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.BurstSize == 0 {
		cfg.BurstSize = driver.DefaultBurstSize
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.RxDesc, 1024)
	def(&cfg.TxDesc, 1024)
	def(&cfg.SoftRingSize, 1024)
	def(&cfg.LocalCache, 128)
	def(&cfg.PoolCache, 256)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	maxQ := int(cconst(C.NS_C_MAX_LCORE))
	switch {
	case cfg.Queues < 1 || cfg.Queues > maxQ:
		return nil, fmt.Errorf("dpdk: %d queues, want 1..%d", cfg.Queues, maxQ)
	case cfg.BurstSize < 1 || cfg.BurstSize > 512:
		return nil, fmt.Errorf("dpdk: burst size %d, want 1..512", cfg.BurstSize)
	case cfg.RxDesc < 1 || cfg.TxDesc < 1 || cfg.RxDesc > 32768 || cfg.TxDesc > 32768:
		return nil, fmt.Errorf("dpdk: ring sizes %d/%d, want 1..32768", cfg.RxDesc, cfg.TxDesc)
	case cfg.SoftRingSize < 1 || cfg.SoftRingSize > 1<<20:
		return nil, fmt.Errorf("dpdk: software RSS ring size %d, want 1..2^20", cfg.SoftRingSize)
	case cfg.PoolSize < 0 || cfg.PoolCache < 0 || cfg.LocalCache < 0:
		return nil, errors.New("dpdk: pool sizes must not be negative")
	case cfg.MTU < 0 || cfg.MTU > driver.DefaultDataRoom-18:
		return nil, fmt.Errorf("dpdk: MTU %d, want up to %d (an mbuf holds %d bytes)", cfg.MTU, driver.DefaultDataRoom-18, driver.DefaultDataRoom)
	}
	cfg.LocalCache = max(cfg.LocalCache, 2*cfg.BurstSize)

	var id C.uint16_t
	if cfg.Name != "" {
		cname := C.CString(cfg.Name)
		ret := C.ns_port_by_name(cname, &id)
		C.free(unsafe.Pointer(cname))
		if ret != 0 {
			return nil, fmt.Errorf("dpdk: no port named %q (give it to EAL, e.g. --vdev=%s or -a PCI_ADDRESS)", cfg.Name, cfg.Name)
		}
	} else {
		id = C.uint16_t(cfg.PortID)
		if C.ns_port_valid(id) == 0 {
			return nil, fmt.Errorf("dpdk: no port %d (EAL found none, or fewer)", cfg.PortID)
		}
	}
	eal.mu.Lock()
	for o := range eal.ports {
		if o.id == uint16(id) {
			eal.mu.Unlock()
			return nil, fmt.Errorf("dpdk: port %d (%s) is already open", id, o.name)
		}
	}
	eal.mu.Unlock()

	var info C.struct_ns_devinfo
	var ebuf [errLen]C.char
	if C.ns_dev_info(id, &info, &ebuf[0], errLen) < 0 {
		return nil, fmt.Errorf("dpdk: port %d: %s", id, cerr(ebuf[:]))
	}
	p := &Port{
		id:    uint16(id),
		name:  C.GoString(&info.name[0]),
		drv:   C.GoString(&info.driver[0]),
		burst: cfg.BurstSize,
		nq:    cfg.Queues,
		log:   cfg.Logger,
	}
	copy(p.mac[:], unsafe.Slice((*byte)(unsafe.Pointer(&info.mac[0])), 6))
	if info.max_rx_queues == 0 || info.max_tx_queues == 0 {
		return nil, fmt.Errorf("dpdk: port %s (%s) reports no rx or tx queue", p.name, p.drv)
	}
	n := cfg.Queues
	p.nrxh = min(n, int(info.max_rx_queues))
	p.ntxh = min(n, int(info.max_tx_queues))
	if cfg.hwQueues > 0 {
		p.nrxh, p.ntxh = min(p.nrxh, cfg.hwQueues), min(p.ntxh, cfg.hwQueues)
	}

	// RSS: the hash types we want that the PMD offers, and the key padded
	// to the PMD's key size (the first 40 bytes decide every IPv4/IPv6
	// hash).
	rssAll := cconst(C.NS_C_RSS_IPV4) | cconst(C.NS_C_RSS_TCPV4) | cconst(C.NS_C_RSS_UDPV4) |
		cconst(C.NS_C_RSS_IPV6) | cconst(C.NS_C_RSS_TCPV6) | cconst(C.NS_C_RSS_UDPV6)
	hf := uint64(info.rss_offloads) & rssAll
	keyLen := int(info.hash_key_size)
	if keyLen == 0 {
		keyLen = rss.KeySize
	}
	p.mode = HardwareRSS
	switch {
	case cfg.SoftwareRSS:
		p.mode, p.reason = SoftwareRSS, "asked for"
	case p.drv == "net_af_packet":
		p.mode, p.reason = SoftwareRSS, "af_packet: kernel fanout, not Toeplitz, picks the rx queue"
	case p.drv == "net_tap":
		p.mode, p.reason = SoftwareRSS, "tap: the kernel picks the queue (tap hashes only through BPF flow rules)"
	case hf == 0:
		p.mode, p.reason = SoftwareRSS, "the PMD has no RSS"
	case int(info.max_rx_queues) < n:
		p.mode, p.reason = SoftwareRSS, fmt.Sprintf("the PMD has %d rx queues for %d softnets", info.max_rx_queues, n)
	case keyLen < rss.KeySize || keyLen > 64:
		p.mode, p.reason = SoftwareRSS, fmt.Sprintf("the PMD's RSS key is %d bytes", keyLen)
	case n > 1 && info.reta_size == 0:
		p.mode, p.reason = SoftwareRSS, "the PMD has no redirection table"
	}
	var pc C.struct_ns_portconf
	pc.nb_rx, pc.nb_tx = C.uint16_t(p.nrxh), C.uint16_t(p.ntxh)
	pc.nb_rxd, pc.nb_txd = C.uint16_t(cfg.RxDesc), C.uint16_t(cfg.TxDesc)
	key := rss.DefaultKey()
	if hf != 0 && (p.mode == HardwareRSS || p.nrxh > 1) && keyLen >= rss.KeySize && keyLen <= 64 {
		// Also in software mode over several hardware queues: the NIC
		// spreads the load, software decides the softnet.
		pc.rss = 1
		pc.rss_hf = C.uint64_t(hf)
		for i := 0; i < keyLen; i++ {
			if i < rss.KeySize {
				pc.key[i] = C.uint8_t(key[i])
			}
		}
		pc.key_len = C.uint8_t(keyLen)
	}
	if !cfg.NoOffloads {
		txWant := map[int]driver.Offloads{C.NS_C_TX_IPV4_CKSUM: driver.OffloadTxIPChecksum,
			C.NS_C_TX_UDP_CKSUM: driver.OffloadTxUDPChecksum, C.NS_C_TX_TCP_CKSUM: driver.OffloadTxTCPChecksum}
		for c, o := range txWant {
			if uint64(info.tx_offload_capa)&cconst(c) != 0 {
				pc.tx_offloads |= C.uint64_t(cconst(c))
				p.offl |= o
			}
		}
		rxWant := map[int]driver.Offloads{C.NS_C_RX_IPV4_CKSUM: driver.OffloadRxIPChecksum,
			C.NS_C_RX_UDP_CKSUM: driver.OffloadRxL4Checksum, C.NS_C_RX_TCP_CKSUM: driver.OffloadRxL4Checksum}
		for c, o := range rxWant {
			if uint64(info.rx_offload_capa)&cconst(c) != 0 {
				pc.rx_offloads |= C.uint64_t(cconst(c))
				p.offl |= o
			}
		}
	}
	if p.offl&(driver.OffloadTxIPChecksum|driver.OffloadTxUDPChecksum|driver.OffloadTxTCPChecksum) != 0 {
		p.prepare = 1
	}
	if p.offl&driver.OffloadTxTCPChecksum != 0 {
		// Segmentation: the stack builds one header per 64 KiB and never
		// copies the payload itself. Where the PMD offers TSO on chained
		// mbufs, TxBurst hands IPv4 super-frames to the NIC as a chain
		// that references the payload (txTSO); otherwise, and for
		// IPv6, it cuts them into mbufs of the queue's pool in software
		// (package driver/gso) and the NIC finishes each frame's
		// checksums.
		p.offl |= driver.OffloadTxTCPSeg
		tsoWant := cconst(C.NS_C_TX_TCP_TSO) | cconst(C.NS_C_TX_MULTI_SEGS)
		// A NIC that segments fills in each segment's IPv4 header
		// checksum, with IPv4 checksum offload where it has that (the
		// Intel and Mellanox NICs) or on its own (virtio's host).
		if !cfg.NoTSO && uint64(info.tx_offload_capa)&tsoWant == tsoWant {
			pc.tx_offloads |= C.uint64_t(tsoWant)
			p.tso = true
			// net_tap segments in its own software (librte_gso), for
			// IPv4 only.
			p.tso6 = p.drv != "net_tap"
			p.tsoL2InMTU = p.drv == "net_tap"
			p.txSegMax = int(info.tx_seg_max)
			if p.txSegMax == 0 {
				p.txSegMax = 40
			}
		}
	}
	// Receive coalescing by the NIC (LRO), where it offers it: frames of
	// up to 64 KiB in chains of mbufs (SCATTER), described to the stack
	// as RxTCPCoalesced chains once it asks (SetRxCoalesce).
	lroWant := cconst(C.NS_C_RX_TCP_LRO)
	if !cfg.NoOffloads && !cfg.NoLRO && uint64(info.rx_offload_capa)&lroWant != 0 && p.offl&driver.OffloadRxL4Checksum != 0 {
		pc.rx_offloads |= C.uint64_t(lroWant)
		if sc := cconst(C.NS_C_RX_SCATTER); uint64(info.rx_offload_capa)&sc != 0 {
			pc.rx_offloads |= C.uint64_t(sc)
		}
		p.lro = true
		p.coalesce.Store(true)
	}
	pc.mtu = C.uint16_t(cfg.MTU)
	if cfg.Promiscuous {
		pc.promisc = 1
	}
	if C.ns_port_configure(id, &pc, &ebuf[0], errLen) < 0 {
		return nil, fmt.Errorf("dpdk: port %s (%s): %s", p.name, p.drv, cerr(ebuf[:]))
	}

	// One mempool and pool per logical queue; hardware rx queue h fills
	// from mempool h.
	size := cfg.PoolSize
	if size == 0 {
		need := int(pc.nb_rxd) + int(pc.nb_txd) + cfg.SoftRingSize + cfg.PoolCache + cfg.LocalCache + 4*cfg.BurstSize
		// TCP send queues and socket rings hold mbufs too: leave room
		// for them beyond what the rings need.
		need = max(need, 16383)
		size = 1
		for size < need+1 {
			size <<= 1
		}
		size--
	}
	if size < 2*cfg.BurstSize {
		return nil, fmt.Errorf("dpdk: pool of %d mbufs is smaller than two bursts", size)
	}
	cache := min(cfg.PoolCache, int(float64(size)/1.5), 512)
	fail := func(err error) (*Port, error) {
		C.ns_port_stop_close(id)
		for _, m := range p.mps {
			m.free()
		}
		return nil, err
	}
	for q := 0; q < n; q++ {
		m, err := newMempool(int(id), q, size, cache, int(info.socket))
		if err != nil {
			return fail(err)
		}
		p.mps = append(p.mps, m)
		calls := &counter.Counter{}
		p.bcalls = append(p.bcalls, calls)
		pool, err := driver.NewBackedPool(newBackend(m, cfg.BurstSize, calls), cfg.BurstSize, cfg.LocalCache)
		if err != nil {
			return fail(err)
		}
		m.bind(pool)
		p.pools = append(p.pools, pool)
	}
	pools := make([]uintptr, p.nrxh)
	for h := range pools {
		pools[h] = uintptr(unsafe.Pointer(p.mps[h].mp))
	}
	if C.ns_port_start(id, &pc, (*C.uintptr_t)(unsafe.Pointer(&pools[0])), &ebuf[0], errLen) < 0 {
		return fail(fmt.Errorf("dpdk: port %s (%s): %s", p.name, p.drv, cerr(ebuf[:])))
	}

	// RSS: program the RETA, read key, types and RETA back.
	p.rss = rss.Config{Key: key, Types: rss.AllTypes}
	if p.mode == HardwareRSS {
		if err := p.readBackRSS(n, int(info.reta_size), keyLen, hf); err != nil {
			if n > 1 {
				p.mode, p.reason = SoftwareRSS, err.Error()
			} else {
				p.log.Debug("RSS not read back", zap.String("port", p.name), zap.Error(err))
			}
		}
	}
	if p.mode == HardwareRSS && len(p.rss.RETA) == 0 {
		p.rss.RETA = make(rss.RETA, 1)
	}
	if p.mode == SoftwareRSS {
		reta, _ := rss.NewRETA(rss.DefaultRETASize, n)
		p.rss = rss.Config{Key: key, RETA: reta, Types: rss.AllTypes}
	}
	p.hasher = rss.NewHasher(p.rss.Key)
	if cfg.SYNRing {
		if p.mode == SoftwareRSS {
			p.synRing, _ = ring.New[driver.Packet](cfg.SoftRingSize)
		} else {
			p.log.Warn("no SYN ring on this port: it has hardware RSS, and the rte_flow rule that would steer SYNs is not implemented; SoftwareRSS gives a software SYN ring",
				zap.String("port", p.name))
		}
	}

	// MTU: the port's, bounded by what one mbuf holds.
	p.mtu = int(info.mtu)
	var mtu C.uint16_t
	var ninfo C.struct_ns_devinfo
	if C.ns_dev_info(id, &ninfo, &ebuf[0], errLen) == 0 {
		mtu = ninfo.mtu
		copy(p.mac[:], unsafe.Slice((*byte)(unsafe.Pointer(&ninfo.mac[0])), 6))
	}
	if mtu != 0 {
		p.mtu = int(mtu)
	}
	p.mtu = min(p.mtu, driver.DefaultDataRoom-18)

	p.rxq = make([]rxQueue, n)
	p.txq = make([]txQueue, n)
	p.hwrx = make([]hwQueue, p.nrxh)
	for q := 0; q < n; q++ {
		r := &p.rxq[q]
		r.mb = make([]uintptr, p.burst)
		r.meta = make([]C.struct_ns_rxmeta, p.burst)
		r.seg = make([]C.struct_ns_rxseg, p.burst*lroSegsPerFrame)
		r.bad = make([]uintptr, 0, p.burst)
		r.wake = make([]bool, n)
		if p.mode == SoftwareRSS && n > 1 {
			r.ring, _ = ring.New[driver.Packet](cfg.SoftRingSize)
		}
		t := &p.txq[q]
		t.mb = make([]uintptr, p.burst)
		t.meta = make([]C.struct_ns_txmeta, p.burst)
		if p.tso {
			t.pieces = make([]C.struct_ns_piece, 0, 64)
			t.spare = make([]*driver.Packet, 0, 64)
			t.lend = make([]*driver.Packet, 0, 64)
		}
	}
	if p.ntxh < n {
		p.txLock = make([]paddedMutex, p.ntxh)
	}
	registerPort(p)
	fields := []zap.Field{zap.String("port", p.name), zap.String("driver", p.drv), zap.Uint16("id", p.id),
		zap.Int("queues", n), zap.Int("hw_rx_queues", p.nrxh), zap.Int("hw_tx_queues", p.ntxh),
		zap.Stringer("rss_types", p.rss.Types), zap.Int("reta_size", len(p.rss.RETA)),
		zap.Int("mtu", p.mtu), zap.String("mac", macString(p.mac)), zap.Int("pool_mbufs", size),
		zap.String("offloads", offloadString(p.offl, p.tso, p.tso6, p.lro))}
	if p.ntxh < n {
		fields = append(fields, zap.String("tx", "softnets share hardware tx queues under a lock"))
	}
	if p.mode == HardwareRSS {
		p.log.Info("dpdk port open: hardware RSS", fields...)
	} else {
		p.log.Info("dpdk port open: software RSS: "+p.reason, fields...)
	}
	return p, nil
}

// readBackRSS programs a round-robin RETA over n queues and reads the key,
// hash types and RETA back from the PMD. It fails when the PMD cannot
// confirm what it hashes with.
func (p *Port) readBackRSS(n, retaSize, keyLen int, hf uint64) error {
	if retaSize > 0 {
		want, _ := rss.NewRETA(retaSize, n)
		if ret := C.ns_reta_update(C.uint16_t(p.id), (*C.uint16_t)(unsafe.Pointer(&want[0])), C.uint16_t(retaSize)); ret < 0 {
			p.log.Warn("RETA update refused; reading the PMD's own", zap.String("port", p.name), zap.String("error", C.GoString(C.rte_strerror(-ret))))
		}
		got := make(rss.RETA, retaSize)
		if ret := C.ns_reta_query(C.uint16_t(p.id), (*C.uint16_t)(unsafe.Pointer(&got[0])), C.uint16_t(retaSize)); ret < 0 {
			return fmt.Errorf("RETA not readable: %s", C.GoString(C.rte_strerror(-ret)))
		}
		if err := got.Validate(n); err != nil {
			return fmt.Errorf("RETA read back: %v", err)
		}
		p.rss.RETA = got
	} else {
		p.rss.RETA = make(rss.RETA, 1) // one queue: every hash to queue 0
	}
	var kb [64]C.uint8_t
	kl := C.uint8_t(keyLen)
	var gotHF C.uint64_t
	if ret := C.ns_rss_get(C.uint16_t(p.id), &kb[0], &kl, &gotHF); ret < 0 {
		return fmt.Errorf("RSS key not readable: %s", C.GoString(C.rte_strerror(-ret)))
	}
	for i := 0; i < rss.KeySize; i++ {
		if byte(kb[i]) != p.rss.Key[i] {
			return fmt.Errorf("the PMD hashes with another key (read back %x...)", byte(kb[0]))
		}
	}
	p.rss.Types = hashTypes(uint64(gotHF))
	if p.rss.Types == 0 {
		p.rss.Types = hashTypes(hf)
	}
	return nil
}

// hashTypes maps DPDK's rss_hf bits to netsplice's hash types.
func hashTypes(hf uint64) rss.HashTypes {
	var t rss.HashTypes
	for _, m := range []struct {
		c int
		t rss.HashTypes
	}{{C.NS_C_RSS_IPV4, rss.IPv4}, {C.NS_C_RSS_TCPV4, rss.TCPv4}, {C.NS_C_RSS_UDPV4, rss.UDPv4},
		{C.NS_C_RSS_IPV6, rss.IPv6}, {C.NS_C_RSS_TCPV6, rss.TCPv6}, {C.NS_C_RSS_UDPV6, rss.UDPv6}} {
		if hf&cconst(m.c) != 0 {
			t |= m.t
		}
	}
	return t
}

// offloadString names the offloads in o; tso says whether the NIC
// segments (tcp-seg(hw)) or the binding does (tcp-seg(sw)).
func offloadString(o driver.Offloads, tso, tso6, lro bool) string {
	seg := "tcp-seg(sw)"
	switch {
	case tso && tso6:
		seg = "tcp-seg(hw)"
	case tso:
		seg = "tcp-seg(hw: ipv4; sw: ipv6)"
	}
	var s []string
	if lro {
		s = append(s, "lro")
	}
	for _, x := range []struct {
		o driver.Offloads
		n string
	}{{driver.OffloadRxIPChecksum, "rx-ipv4-cksum"}, {driver.OffloadRxL4Checksum, "rx-l4-cksum"},
		{driver.OffloadTxIPChecksum, "tx-ipv4-cksum"}, {driver.OffloadTxUDPChecksum, "tx-udp-cksum"},
		{driver.OffloadTxTCPChecksum, "tx-tcp-cksum"}, {driver.OffloadTxTCPSeg, seg}} {
		if o&x.o != 0 {
			s = append(s, x.n)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// Name implements driver.Port: the DPDK device name.
func (p *Port) Name() string { return p.name }

// ID returns the DPDK port id.
func (p *Port) ID() uint16 { return p.id }

// Driver returns the PMD's name, such as "net_af_packet".
func (p *Port) Driver() string { return p.drv }

// MAC implements driver.Port.
func (p *Port) MAC() driver.MAC { return p.mac }

// MTU implements driver.Port.
func (p *Port) MTU() int { return p.mtu }

// NumQueues implements driver.Port: the logical queue pairs.
func (p *Port) NumQueues() int { return p.nq }

// HardwareQueues returns the hardware rx and tx queues behind the logical
// ones.
func (p *Port) HardwareQueues() (rx, tx int) { return p.nrxh, p.ntxh }

// BurstSize implements driver.Port.
func (p *Port) BurstSize() int { return p.burst }

// RSS implements driver.Port: in hardware mode what the PMD reported back.
func (p *Port) RSS() rss.Config {
	c := p.rss
	c.RETA = append(rss.RETA(nil), p.rss.RETA...)
	return c
}

// RSSMode returns who steers frames, and in software mode why.
func (p *Port) RSSMode() (RSSMode, string) { return p.mode, p.reason }

// Offloads implements driver.Port.
func (p *Port) Offloads() driver.Offloads { return p.offl }

// Link implements driver.Port.
func (p *Port) Link() driver.Link {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed.Load() {
		return driver.Link{}
	}
	var up C.int
	var speed C.uint32_t
	if C.ns_link(C.uint16_t(p.id), &up, &speed) < 0 {
		return driver.Link{}
	}
	return driver.Link{Up: up != 0, SpeedMbps: uint32(speed)}
}

// JoinMulticast implements driver.MulticastReceiver: it turns on
// all-multicast reception (rte_eth_allmulticast_enable), which every PMD
// that filters multicast supports, rather than programming the list
// (rte_eth_dev_set_mc_addr_list, which many do not). PMDs that deliver every
// frame anyway (net_af_packet, net_tap) answer ENOTSUP, which is no error.
func (p *Port) JoinMulticast(macs []driver.MAC) error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed.Load() {
		return errors.New("dpdk: port closed")
	}
	if ret := C.ns_port_allmulticast(C.uint16_t(p.id)); ret < 0 && syscall.Errno(-ret) != syscall.ENOTSUP {
		return fmt.Errorf("dpdk: port %s: rte_eth_allmulticast_enable: %w", p.name, syscall.Errno(-ret))
	}
	return nil
}

// Pool implements driver.Port.
func (p *Port) Pool(q int) *driver.Pool { return p.pools[q] }

// SYNQueue implements driver.SYNQueuer.
func (p *Port) SYNQueue() bool { return p.synRing != nil }

// RxSYNBurst implements driver.SYNQueuer: the SYNs the pollers classified,
// for the owner of queue 0. It returns 0 on a port without a SYN ring.
func (p *Port) RxSYNBurst(pkts []*driver.Packet) int {
	if p.synRing == nil || p.closed.Load() {
		return 0
	}
	n := 0
	var b uint64
	for n < len(pkts) {
		pk := p.synRing.Pop()
		if pk == nil {
			break
		}
		pkts[n] = pk
		b += uint64(pk.Len())
		n++
	}
	if n > 0 {
		r := &p.rxq[0]
		r.packets.Add(uint64(n))
		r.bytes.Add(b)
	}
	return n
}

// SetRxCoalesce implements driver.RxCoalescer: frames the PMD received
// coalesced (RTE_MBUF_F_RX_LRO: the NIC's LRO, or a virtio peer's TSO
// frames on net_vhost) are described as RxTCPCoalesced chains while on;
// while off a coalesced chain is dropped (counted in rx_unsupported). A
// port whose NIC was set to coalesce (LRO offered, PortConfig.NoLRO not
// set) hands over coalesced frames from its start, and refuses to turn
// that off (a stack takes such frames either way, and dropping them
// would stall every connection the NIC coalesces): open the port with
// NoLRO for single segments.
func (p *Port) SetRxCoalesce(on bool) error {
	if !on && p.lro && !p.closed.Load() {
		return fmt.Errorf("dpdk: port %s coalesces received segments (LRO) from its start: open it with NoLRO (--no-gro)", p.name)
	}
	p.coalesce.Store(on)
	return nil
}

// SetRxNotify implements driver.RxNotifier for software RSS: a poller
// that moves frames to another softnet's ring (or a SYN to the SYN ring)
// wakes it.
func (p *Port) SetRxNotify(q int, fn func()) {
	if q >= 0 && q < p.nq && fn != nil {
		p.rxq[q].notify.Store(&fn)
	}
}

// describe binds the descriptor of received mbuf i of r to queue q's pool
// and fills it in; nil means the mbuf was put on r.bad for freeing.
func (p *Port) describe(r *rxQueue, i int, q int) *driver.Packet {
	m := &r.meta[i]
	segs := r.seg[r.segAt : r.segAt+int(m.nseg)]
	r.segAt += int(m.nseg)
	pk := lookup(uint64(m.tag))
	if pk == nil || m.flags&C.NS_RX_UNSUPPORTED != 0 {
		return p.undescribable(r, r.mb[i], segs)
	}
	p.pools[q].Adopt(pk)
	pk.Reset()
	if !pk.SetData(int(m.off), int(m.len)) {
		return p.undescribable(r, r.mb[i], segs)
	}
	pk.Flags = driver.Flags(m.flags)
	if pk.Flags&driver.RxHashValid != 0 {
		pk.Hash = uint32(m.hash)
	}
	pk.Port = p.id
	pk.Queue = uint16(q)
	if pk.Flags&driver.RxTCPCoalesced != 0 {
		if len(segs) > 0 && p.coalesced(pk, segs, q, uint16(m.segsz)) {
			r.lroFrames.Inc()
		} else {
			// One mbuf holds it all: a large segment like any other
			// (its checksums verified), or a chain not to be described.
			pk.Flags &^= driver.RxTCPCoalesced
			if len(segs) > 0 {
				return p.undescribable(r, r.mb[i], segs)
			}
		}
	}
	return pk
}

// undescribable frees a received frame the binding cannot describe: mbuf
// mb and, of a coalesced chain, the mbufs taken off it (segs).
func (p *Port) undescribable(r *rxQueue, mb uintptr, segs []C.struct_ns_rxseg) *driver.Packet {
	r.bad = append(r.bad, mb)
	for i := range segs {
		r.bad = append(r.bad, uintptr(segs[i].mb))
	}
	r.unsupported.Inc()
	return nil
}

// coalesced makes pk, the first mbuf of a frame the NIC coalesced (LRO),
// the head of an RxTCPCoalesced chain: the packets of the mbufs that
// followed it (segs, taken off the mbuf chain in C) go on pk.Next, and
// pk's IP header is made to describe pk's own bytes, as the driver
// contract has it (the NIC's gives the whole frame's length; the header
// checksum is not checked again: RxIPChecksumGood). It reports false,
// having changed nothing in pk, when pk is no plain TCP/IP frame.
func (p *Port) coalesced(pk *driver.Packet, segs []C.struct_ns_rxseg, q int, segsz uint16) bool {
	d := pk.Data()
	if len(d) < 14+40 {
		return false
	}
	switch binary.BigEndian.Uint16(d[12:]) {
	case 0x0800:
		if d[14]>>4 != 4 || d[14+9] != 6 {
			return false
		}
		binary.BigEndian.PutUint16(d[14+2:], uint16(len(d)-14))
		pk.Flags |= driver.RxIPChecksumGood
	case 0x86dd:
		if d[14]>>4 != 6 || d[14+6] != 6 {
			return false
		}
		binary.BigEndian.PutUint16(d[14+4:], uint16(len(d)-14-40))
	default:
		return false
	}
	var tail *driver.Packet
	for i := range segs {
		s := lookup(uint64(segs[i].tag))
		if s != nil {
			p.pools[q].Adopt(s)
			s.Reset()
		}
		if s == nil || !s.SetData(int(segs[i].off), int(segs[i].len)) {
			// Give back what was linked; the caller frees the mbufs.
			for x := pk.Next; x != nil; {
				next := x.Next
				x.Next = nil
				x = next
			}
			pk.Next = nil
			return false
		}
		if tail == nil {
			pk.Next = s
		} else {
			tail.Next = s
		}
		tail = s
	}
	pk.SegSize = segsz
	return true
}

// lroSegsPerFrame is the most mbufs of one coalesced frame (64 KiB in
// buffers of the default data room), so that a burst of such frames fits
// a queue's ns_rxseg array.
const lroSegsPerFrame = 65536/driver.DefaultDataRoom + 2

// rxBurst polls hardware queue h for up to n frames into r's arrays;
// coalesced chains are described while the owner asks for them.
func (p *Port) rxBurst(r *rxQueue, h, n int) int {
	r.segAt = 0
	return int(C.ns_rx_burst(C.uint16_t(p.id), C.uint16_t(h), (*C.uintptr_t)(unsafe.Pointer(&r.mb[0])), &r.meta[0], C.uint16_t(n),
		&r.seg[0], C.uint16_t(len(r.seg)), cbool(p.coalesce.Load())))
}

func (p *Port) freeBad(r *rxQueue) {
	if len(r.bad) > 0 {
		r.calls.Inc()
		C.ns_free_bulk((*C.uintptr_t)(unsafe.Pointer(&r.bad[0])), C.uint(len(r.bad)))
		r.bad = r.bad[:0]
	}
}

// RxBurst implements driver.Port: one cgo call per burst. With software
// RSS it first takes the frames other pollers steered to q, then, if no
// other softnet is polling it, polls the hardware queue q%hw and steers
// each frame by its Toeplitz hash.
func (p *Port) RxBurst(q int, pkts []*driver.Packet) int {
	if p.closed.Load() {
		return 0
	}
	r := &p.rxq[q]
	if len(pkts) > p.burst {
		pkts = pkts[:p.burst]
	}
	if len(pkts) == 0 {
		return 0
	}
	var n int
	if p.mode == HardwareRSS {
		r.calls.Inc()
		k := p.rxBurst(r, q, len(pkts))
		for i := 0; i < k; i++ {
			if pk := p.describe(r, i, q); pk != nil {
				pkts[n] = pk
				n++
			}
		}
		p.freeBad(r)
	} else {
		n = p.rxSoft(q, r, pkts)
	}
	if n > 0 {
		var b uint64
		for _, pk := range pkts[:n] {
			b += uint64(pk.Len())
		}
		r.packets.Add(uint64(n))
		r.bytes.Add(b)
	}
	return n
}

func (p *Port) rxSoft(q int, r *rxQueue, pkts []*driver.Packet) int {
	h := q % p.nrxh
	hw := &p.hwrx[h]
	// Take the hardware queue first, then the frames other pollers
	// steered here: a poller pushes what it steered before it lets the
	// queue go, so once this softnet holds it, every frame polled from it
	// earlier is on the ring, and the ring's frames go up before any this
	// softnet polls now. A flow's frames keep their order.
	polling := hw.busy.CompareAndSwap(false, true)
	n := 0
	if r.ring != nil {
		for n < len(pkts) {
			pk := r.ring.Pop()
			if pk == nil {
				break
			}
			pkts[n] = pk
			n++
		}
	}
	if !polling {
		return n
	}
	if n == len(pkts) {
		hw.busy.Store(false)
		return n
	}
	// With other softnets, poll a whole burst: frames beyond pkts wait
	// on the ring. A lone softnet has no ring: poll only what fits.
	want := p.burst
	if r.ring == nil {
		want = len(pkts) - n
	}
	r.calls.Inc()
	k := p.rxBurst(r, h, want)
	woke := false
	for i := 0; i < k; i++ {
		pk := p.describe(r, i, q)
		if pk == nil {
			continue
		}
		hash := p.hasher.HashFrame(pk.Data(), p.rss.Types)
		pk.Hash = hash
		pk.Flags &^= driver.RxHashValid
		if hash != 0 {
			pk.Flags |= driver.RxHashValid
		}
		if p.synRing != nil && driver.PureSYN(pk.Data()) {
			// Queue 0's owner takes it with RxSYNBurst.
			if q != 0 {
				p.pools[0].Adopt(pk)
				pk.Queue = 0
			}
			if !p.synRing.Push(pk) {
				r.bad = append(r.bad, pk.Priv)
				r.synDrops.Inc()
				continue
			}
			r.syns.Inc()
			if q != 0 {
				r.wake[0] = true
				woke = true
			}
			continue
		}
		dst := p.rss.RETA.Queue(hash)
		if dst == q && n < len(pkts) {
			pkts[n] = pk
			n++
			continue
		}
		if dst != q {
			for x := pk; x != nil; x = x.Next { // a coalesced frame's packets too
				p.pools[dst].Adopt(x)
			}
			pk.Queue = uint16(dst)
		}
		if !p.rxq[dst].ring.Push(pk) {
			for x := pk; x != nil; x = x.Next {
				r.bad = append(r.bad, x.Priv)
			}
			r.ringDrops.Inc()
			continue
		}
		if dst != q {
			r.handoffs.Inc()
			r.wake[dst] = true
			woke = true
		}
	}
	hw.busy.Store(false)
	p.freeBad(r)
	if woke {
		for d, w := range r.wake {
			if w {
				r.wake[d] = false
				if fn := p.rxq[d].notify.Load(); fn != nil {
					(*fn)()
				}
			}
		}
	}
	return n
}

// TxBurst implements driver.Port: one cgo call per burst, which writes
// each frame's layout and offload requests into its mbuf and transmits.
// Frames the PMD does not take stay with the caller. When softnets
// outnumber the hardware tx queues, queue q sends on hardware queue q%hw
// under that queue's lock.
//
// A TCP super-frame (driver.TxTCPSeg) is cut in software into mbufs of
// queue q's pool and always taken: frames of it the PMD refuses, or a
// super-frame the pool cannot hold, are dropped and counted in TxErrors'
// software share (tx_gso_drops), as a NIC drops what its ring cannot
// take; TCP sends them again.
func (p *Port) TxBurst(q int, pkts []*driver.Packet) int {
	if p.closed.Load() {
		return 0
	}
	for i, pk := range pkts {
		if pk.Flags&driver.TxTCPSeg != 0 {
			return p.txWithSuperFrames(q, pkts, i)
		}
	}
	return p.txBurst(q, pkts)
}

// txWithSuperFrames is TxBurst for a burst whose first super-frame is
// pkts[first].
func (p *Port) txWithSuperFrames(q int, pkts []*driver.Packet, first int) int {
	t := &p.txq[q]
	sent := 0
	for len(pkts) > 0 {
		if first > 0 {
			k := p.txBurst(q, pkts[:first])
			sent += k
			if k < first {
				return sent
			}
			pkts = pkts[first:]
			if len(pkts) == 0 {
				break
			}
		}
		pk := pkts[0]
		if p.tso && !p.tsoOff.Load() && p.txTSO(q, pk) {
			sent++
			pkts = pkts[1:]
			first = 0
			for first < len(pkts) && pkts[first].Flags&driver.TxTCPSeg == 0 {
				first++
			}
			continue
		}
		segs, err := gso.Cut(pk, p.pools[q], t.segs)
		t.segs = segs[:0]
		if pk.Pool() == p.pools[q] {
			p.pools[q].Put(pk)
		} else {
			pk.Free()
		}
		sent++
		pkts = pkts[1:]
		if err != nil {
			t.gsoDrops.Inc()
		}
		for len(segs) > 0 {
			k := p.txBurst(q, segs)
			if k == 0 {
				t.gsoDrops.Add(uint64(len(segs)))
				for _, s := range segs {
					p.pools[q].Put(s)
				}
				break
			}
			segs = segs[k:]
		}
		clear(t.segs[:cap(t.segs)])
		first = 0
		for first < len(pkts) && pkts[first].Flags&driver.TxTCPSeg == 0 {
			first++
		}
	}
	return sent
}

// txTSO sends super-frame pk as one mbuf chain for the NIC to segment:
// pk's headers, then one spare mbuf of queue q's pool per piece of the
// payload pk references, attached to the sender's mbuf (a reference,
// no copy). The sender's packets are lent (driver.Packet.Lend): freed
// while the NIC still reads them, they go back to the mempool by its
// reference count, not to reuse. It reports false, having changed
// nothing, when pk cannot go this way (IPv6 where the PMD segments only
// IPv4, net_tap; payload outside mbufs;
// more pieces than a chain may have; the pool short of spare mbufs; the
// PMD's tx_prepare refusing the chain, which also turns TSO off for the
// port), and the caller cuts it in software; true when pk is consumed:
// sent, or dropped on a full ring (counted in TxErrors, as software
// GSO's drops; TCP sends it again).
func (p *Port) txTSO(q int, pk *driver.Packet) bool {
	d := pk.Data()
	v6 := pk.Flags&driver.TxIPv6 != 0
	if pk.Priv == 0 || v6 && !p.tso6 || pk.SegSize == 0 || pk.MoreLen <= 0 {
		return false
	}
	l2, l3 := int(pk.L2Len), int(pk.L3Len)
	if l2 == 0 {
		l2 = 14
	}
	if l3 == 0 && len(d) > l2 {
		l3 = 40
		if !v6 {
			l3 = int(d[l2]&0x0f) * 4
		}
	}
	if len(d) < l2+l3+20 {
		return false
	}
	l4 := int(d[l2+l3+12]>>4) * 4
	if l2+l3+l4 != len(d) {
		return false
	}
	// A segment's IP packet fits the MTU (the PMD may count the Ethernet
	// header in too): cut smaller than SegSize if need be, which TCP
	// takes as it takes any segment shorter than the MSS.
	most := p.mtu - l3 - l4
	if p.tsoL2InMTU {
		most -= l2
	}
	segsz := min(int(pk.SegSize), most)
	if segsz <= 0 {
		return false
	}
	t := &p.txq[q]
	pool := p.pools[q]
	giveBack := func() {
		for _, s := range t.spare {
			pool.Put(s)
		}
		clear(t.spare)
		clear(t.lend)
		t.spare, t.lend, t.pieces = t.spare[:0], t.lend[:0], t.pieces[:0]
	}
	off, left := int(pk.MoreOff), int(pk.MoreLen)
	for m := pk.More; left > 0; m = m.Next {
		if m == nil || m.Priv == 0 || len(t.pieces)+2 > min(p.txSegMax, cap(t.pieces)) {
			giveBack()
			return false
		}
		n := min(m.Len()-off, left)
		if n <= 0 {
			off -= m.Len()
			continue
		}
		s := pool.Get()
		if s == nil {
			giveBack()
			return false
		}
		t.spare = append(t.spare, s)
		t.lend = append(t.lend, m)
		t.pieces = append(t.pieces, C.struct_ns_piece{ind: C.uintptr_t(s.Priv), mb: C.uintptr_t(m.Priv),
			off: C.uint16_t(m.Headroom() + off), len: C.uint16_t(n)})
		left -= n
		off = 0
	}
	h := q
	if p.txLock != nil {
		h = q % p.ntxh
		p.txLock[h].Lock()
	}
	t.calls.Inc()
	r := C.ns_tx_tso(C.uint16_t(p.id), C.uint16_t(h), C.uintptr_t(pk.Priv), C.uint16_t(pk.Headroom()), C.uint16_t(len(d)),
		C.uint16_t(l2), C.uint16_t(l3), C.uint16_t(l4), C.uint16_t(segsz), &t.pieces[0], C.uint16_t(len(t.pieces)), cbool(v6), cbool(!v6 && p.offl&driver.OffloadTxIPChecksum != 0))
	if p.txLock != nil {
		p.txLock[h].Unlock()
	}
	if r < 0 {
		// The PMD cannot send such chains: software from now on.
		if !p.tsoOff.Swap(true) {
			p.log.Warn("dpdk: the PMD refused a TSO chain in tx_prepare; TCP segmentation goes back to software",
				zap.String("port", p.name), zap.Int("segments", len(t.pieces)+1), zap.Int("seg_size", segsz))
		}
		giveBack()
		return false
	}
	if r == 1 {
		// The NIC holds references to the sender's buffers until it
		// has sent them.
		for _, m := range t.lend {
			m.Lend()
		}
		t.tsoSent.Inc()
		t.packets.Inc()
		t.bytes.Add(uint64(len(d)) + uint64(pk.MoreLen))
	} else {
		t.tsoDrops.Inc()
	}
	// pk and the spare mbufs now belong to the PMD (or went back to
	// their mempool with the refused chain).
	clear(t.spare)
	clear(t.lend)
	t.spare, t.lend, t.pieces = t.spare[:0], t.lend[:0], t.pieces[:0]
	return true
}

// txBurst sends frames that are whole in their mbufs.
func (p *Port) txBurst(q int, pkts []*driver.Packet) int {
	t := &p.txq[q]
	if len(pkts) > p.burst {
		pkts = pkts[:p.burst]
	}
	n := 0
	for _, pk := range pkts {
		if pk.Priv == 0 {
			break // not an mbuf: cannot be sent by DPDK
		}
		t.mb[n] = pk.Priv
		m := &t.meta[n]
		m.off = C.uint16_t(pk.Headroom())
		m.len = C.uint16_t(pk.Len())
		var f driver.Flags
		if p.prepare != 0 {
			f = pk.Flags & (driver.TxIPChecksum | driver.TxUDPChecksum | driver.TxTCPChecksum | driver.TxIPv6)
		}
		m.flags = C.uint32_t(f)
		if f != 0 {
			l2, l3 := pk.L2Len, pk.L3Len
			if l2 == 0 {
				l2 = 14
			}
			if l3 == 0 {
				if d := pk.Data(); len(d) > int(l2) {
					l3 = uint16(d[l2]&0x0f) * 4
				}
			}
			m.l2, m.l3 = C.uint16_t(l2), C.uint16_t(l3)
		}
		n++
	}
	if n == 0 {
		return 0
	}
	h := q
	if p.txLock != nil {
		h = q % p.ntxh
		p.txLock[h].Lock()
	}
	t.calls.Inc()
	k := int(C.ns_tx_burst(C.uint16_t(p.id), C.uint16_t(h), (*C.uintptr_t)(unsafe.Pointer(&t.mb[0])), &t.meta[0], C.uint16_t(n), p.prepare))
	if p.txLock != nil {
		p.txLock[h].Unlock()
	}
	if k < len(pkts) {
		t.short.Inc()
	}
	var b uint64
	for i := 0; i < k; i++ {
		b += uint64(t.meta[i].len)
	}
	t.packets.Add(uint64(k))
	t.bytes.Add(b)
	return k
}

// Stats implements driver.Port: DPDK's port counters (rte_eth_stats_get),
// with the binding's own drops added: RxMissed adds frames dropped on full
// software RSS rings, RxNoBuf adds failed pool allocations.
func (p *Port) Stats() driver.PortStats {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	s, _ := p.stats()
	return s
}

// stats returns the port's counters and DPDK's ierrors; the caller holds
// closeMu, so the port is not closed under rte_eth_stats_get.
func (p *Port) stats() (driver.PortStats, uint64) {
	var s driver.PortStats
	var ierrors uint64
	var v [8]C.uint64_t
	if !p.closed.Load() && C.ns_stats(C.uint16_t(p.id), &v[0]) == 0 {
		s.RxPackets, s.RxBytes = uint64(v[0]), uint64(v[1])
		s.TxPackets, s.TxBytes = uint64(v[2]), uint64(v[3])
		s.RxMissed = uint64(v[4])
		ierrors = uint64(v[5])
		s.TxErrors = uint64(v[6])
		s.RxNoBuf = uint64(v[7])
	} else {
		for q := range p.rxq {
			s.RxPackets += p.rxq[q].packets.Load()
			s.RxBytes += p.rxq[q].bytes.Load()
			s.TxPackets += p.txq[q].packets.Load()
			s.TxBytes += p.txq[q].bytes.Load()
		}
	}
	for q := range p.rxq {
		s.RxMissed += p.rxq[q].ringDrops.Load() + p.rxq[q].synDrops.Load()
		s.RxNoBuf += p.pools[q].Exhausted()
	}
	for q := range p.txq {
		s.TxErrors += p.txq[q].gsoDrops.Load() + p.txq[q].tsoDrops.Load() // super-frames and frames segmentation dropped
	}
	return s, ierrors
}

// SoftStats returns the binding's own counters.
func (p *Port) SoftStats() SoftStats {
	var s SoftStats
	for q := range p.rxq {
		r := &p.rxq[q]
		s.Handoffs += r.handoffs.Load()
		s.RingDrops += r.ringDrops.Load()
		s.Unsupported += r.unsupported.Load()
		s.CgoCalls += r.calls.Load() + p.txq[q].calls.Load() + p.bcalls[q].Load()
		s.TxShortCalls += p.txq[q].short.Load()
		s.SYNs += r.syns.Load()
		s.SYNDrops += r.synDrops.Load()
		s.TSOChains += p.txq[q].tsoSent.Load()
		s.TSODrops += p.txq[q].tsoDrops.Load()
		s.LROFrames += r.lroFrames.Load()
	}
	return s
}

// XStats returns DPDK's extended statistics of the port
// (rte_eth_xstats_get) by name, plus the binding's own counters under
// "netsplice_*" names.
func (p *Port) XStats() (map[string]uint64, error) {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	xs, err := p.xstats()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(xs)+4)
	for _, x := range xs {
		out[x.Name] = x.Value
	}
	s := p.SoftStats()
	out["netsplice_rx_handoffs"] = s.Handoffs
	out["netsplice_rx_ring_drops"] = s.RingDrops
	out["netsplice_rx_unsupported"] = s.Unsupported
	out["netsplice_tx_short_bursts"] = s.TxShortCalls
	out["netsplice_rx_syn_ring"] = s.SYNs
	out["netsplice_rx_syn_ring_drops"] = s.SYNDrops
	out["netsplice_tx_tso_chains"] = s.TSOChains
	out["netsplice_tx_tso_drops"] = s.TSODrops
	out["netsplice_rx_lro_frames"] = s.LROFrames
	return out, nil
}

// xstats returns DPDK's extended statistics in DPDK's order (the PMD's
// name order, stable for a PMD). The caller holds closeMu.
func (p *Port) xstats() ([]Stat, error) {
	if p.closed.Load() {
		return nil, errors.New("dpdk: port closed")
	}
	n := int(C.ns_xstats(C.uint16_t(p.id), nil, nil, 0))
	if n < 0 {
		return nil, fmt.Errorf("dpdk: xstats of %s: %s", p.name, C.GoString(C.rte_strerror(C.int(-n))))
	}
	if n == 0 {
		return nil, nil
	}
	sz := int(cconst(C.NS_C_XSTATS_NAME_SIZE))
	// Room for a few more, should the PMD add statistics in between.
	names := make([]byte, (n+16)*sz)
	vals := make([]uint64, n+16)
	got := int(C.ns_xstats(C.uint16_t(p.id), (*C.char)(unsafe.Pointer(&names[0])), (*C.uint64_t)(unsafe.Pointer(&vals[0])), C.int(n+16)))
	if got < 0 {
		return nil, fmt.Errorf("dpdk: xstats of %s: %s", p.name, C.GoString(C.rte_strerror(C.int(-got))))
	}
	out := make([]Stat, 0, got)
	for i := 0; i < got; i++ {
		b := names[i*sz : (i+1)*sz]
		if j := bytes.IndexByte(b, 0); j >= 0 {
			b = b[:j]
		}
		out = append(out, Stat{Name: string(b), Value: vals[i]})
	}
	return out, nil
}

// Counters returns the port's counters under stable names, in a stable
// order, for printing beside the softnet counters (stack.Counters) in the
// same "name value" form:
//
//   - always, driver.PortStats: rx_packets, rx_bytes, tx_packets,
//     tx_bytes (rte_eth_stats ipackets, ibytes, opackets, obytes),
//     rx_missed (imissed, plus frames dropped on full software RSS
//     rings), rx_nobuf (rx_nombuf, plus failed pool allocations) and
//     tx_errors (oerrors);
//   - when not zero: rx_errors (ierrors) and the binding's own
//     rx_handoffs, rx_ring_drops, rx_unsupported, tx_short_bursts,
//     cgo_calls, rx_syn_ring, rx_syn_ring_drops, tx_tso_chains,
//     tx_tso_drops and rx_lro_frames (SoftStats);
//   - when not zero: each extended statistic (rte_eth_xstats_get) under
//     DPDK's name, in DPDK's order, e.g. rx_good_packets, rx_q0_bytes;
//     one whose name is already taken above gets the prefix "xstat_".
//
// The error is that of the xstats, which a closed port no longer has; the
// counters returned before them are valid regardless.
func (p *Port) Counters() ([]Stat, error) {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	ps, ierrors := p.stats()
	ss := p.SoftStats()
	out := []Stat{
		{"rx_packets", ps.RxPackets}, {"rx_bytes", ps.RxBytes},
		{"tx_packets", ps.TxPackets}, {"tx_bytes", ps.TxBytes},
		{"rx_missed", ps.RxMissed}, {"rx_nobuf", ps.RxNoBuf}, {"tx_errors", ps.TxErrors},
	}
	for _, s := range []Stat{{"rx_errors", ierrors}, {"rx_handoffs", ss.Handoffs}, {"rx_ring_drops", ss.RingDrops},
		{"rx_unsupported", ss.Unsupported}, {"tx_short_bursts", ss.TxShortCalls}, {"cgo_calls", ss.CgoCalls},
		{"rx_syn_ring", ss.SYNs}, {"rx_syn_ring_drops", ss.SYNDrops}, {"tx_tso_chains", ss.TSOChains}, {"tx_tso_drops", ss.TSODrops},
		{"rx_lro_frames", ss.LROFrames}} {
		if s.Value != 0 {
			out = append(out, s)
		}
	}
	xs, err := p.xstats()
	taken := make(map[string]bool, len(out)+len(xs))
	for _, s := range out {
		taken[s.Name] = true
	}
	for _, x := range xs {
		if x.Value == 0 {
			continue
		}
		if taken[x.Name] {
			x.Name = "xstat_" + x.Name
		}
		taken[x.Name] = true
		out = append(out, x)
	}
	return out, err
}

// Close implements driver.Port: it stops and closes the DPDK port and
// frees its mempools once every mbuf is back. The caller guarantees that
// no softnet uses the port any more (stop the stack first): Close then
// owns the queues and returns their cached packets to DPDK.
func (p *Port) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed.Load() {
		return fmt.Errorf("dpdk: port %s already closed", p.name)
	}
	for q := range p.rxq {
		r := &p.rxq[q]
		if r.ring == nil {
			continue
		}
		for pk := r.ring.Pop(); pk != nil; pk = r.ring.Pop() {
			p.pools[q].Put(pk)
		}
	}
	if p.synRing != nil {
		for pk := p.synRing.Pop(); pk != nil; pk = p.synRing.Pop() {
			p.pools[0].Put(pk)
		}
	}
	for _, pool := range p.pools {
		pool.Flush()
	}
	p.closed.Store(true)
	ret := C.ns_port_stop_close(C.uint16_t(p.id))
	kept := 0
	for _, m := range p.mps {
		if !m.free() {
			kept++
		}
	}
	unregisterPort(p)
	if kept > 0 {
		p.log.Debug("mempools kept until EAL cleanup: mbufs still out", zap.String("port", p.name), zap.Int("mempools", kept))
	}
	if ret < 0 {
		return fmt.Errorf("dpdk: closing port %s: %s", p.name, C.GoString(C.rte_strerror(-ret)))
	}
	return nil
}

// cFlags returns the C side's flag values in the order of driver's
// RxHashValid, RxIPChecksumGood, RxIPChecksumBad, RxL4ChecksumGood,
// RxL4ChecksumBad, TxIPChecksum, TxUDPChecksum, TxTCPChecksum, TxIPv6 (a test
// checks they agree).
func cFlags() [10]uint32 {
	return [10]uint32{C.NS_RX_HASH, C.NS_RX_IPCK_GOOD, C.NS_RX_IPCK_BAD, C.NS_RX_L4CK_GOOD, C.NS_RX_L4CK_BAD,
		C.NS_TX_IPCK, C.NS_TX_UDPCK, C.NS_TX_TCPCK, C.NS_TX_IPV6, C.NS_RX_COALESCED}
}

// cbool is b as a C int.
func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
