// Package impair wraps a driver.Port with a deterministic fault injector,
// a netem inside the appliance: it drops, duplicates, corrupts, delays and
// reorders frames on the port's receive and transmit paths.
//
// Every queue and direction has its own seeded generator, so one queue's
// sequence of decisions depends only on the seed and on the frames that
// queue carried. Like the port it wraps, each queue belongs to one owner
// goroutine; nothing here locks or allocates per packet.
//
// Per frame, in order: drop (with probability Drop), corrupt (flip one
// random bit, with probability Corrupt), duplicate (with probability Dup),
// then the delay line (a frame leaves after Delay later frames have entered)
// and the reorder window (up to Reorder frames are held and released in a
// random order). Held frames also leave, one per call, when the owner
// reports an idle poll (driver.Idler), so a stopped flow is not stuck.
package impair

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
	"github.com/netsplice/netsplice/internal/counter"
)

// Config sets the faults. The zero value injects nothing.
type Config struct {
	// Drop, Dup and Corrupt are probabilities in [0, 1].
	Drop, Dup, Corrupt float64
	// Reorder is the size of the reorder window in frames (0 or 1: none).
	Reorder int
	// Delay holds every frame until this many later frames have passed.
	Delay int
	// Seed makes the decisions reproducible.
	Seed uint64
	// Rx and Tx choose the directions faults apply to; when both are
	// false, both directions are impaired.
	Rx, Tx bool
	// Whole passes TCP super-frames (driver.TxTCPSeg) to the inner port
	// whole, for its segmentation offload, Drop striking each as one
	// frame (the loss of a burst of segments), instead of cutting them
	// first and striking each segment. Only Drop may go with it: a held
	// or copied super-frame would keep references into its sender's
	// send queue.
	Whole bool
}

// Enabled reports whether the configuration injects any fault.
func (c Config) Enabled() bool {
	return c.Drop > 0 || c.Dup > 0 || c.Corrupt > 0 || c.Reorder > 1 || c.Delay > 0
}

// Validate checks the ranges.
func (c Config) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"drop", c.Drop}, {"dup", c.Dup}, {"corrupt", c.Corrupt}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("impair: %s=%v is not a probability in [0,1]", p.name, p.v)
		}
	}
	if c.Reorder < 0 || c.Reorder > 4096 {
		return fmt.Errorf("impair: reorder=%d, want 0..4096", c.Reorder)
	}
	if c.Delay < 0 || c.Delay > 4096 {
		return fmt.Errorf("impair: delay=%d, want 0..4096", c.Delay)
	}
	if c.Whole && (c.Dup > 0 || c.Corrupt > 0 || c.Reorder > 1 || c.Delay > 0) {
		return errors.New("impair: whole (super-frames passed whole) goes with drop only")
	}
	return nil
}

// Parse reads a configuration such as
// "drop=0.01,dup=0.001,reorder=8,corrupt=0.0001,delay=4,seed=7,dir=rx"
// (or "drop=1%,dir=tx,whole=true").
// Probabilities may also be written as percentages ("drop=1%").
func Parse(s string) (Config, error) {
	var c Config
	if strings.TrimSpace(s) == "" {
		return c, errors.New("impair: empty specification")
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return c, fmt.Errorf("impair: %q is not key=value", kv)
		}
		var err error
		switch k {
		case "drop":
			c.Drop, err = parseProb(v)
		case "dup":
			c.Dup, err = parseProb(v)
		case "corrupt":
			c.Corrupt, err = parseProb(v)
		case "reorder":
			c.Reorder, err = strconv.Atoi(v)
		case "delay":
			c.Delay, err = strconv.Atoi(v)
		case "seed":
			c.Seed, err = strconv.ParseUint(v, 0, 64)
		case "whole":
			c.Whole, err = strconv.ParseBool(v)
		case "dir":
			switch v {
			case "rx":
				c.Rx = true
			case "tx":
				c.Tx = true
			case "both":
				c.Rx, c.Tx = true, true
			default:
				err = errors.New("want rx, tx or both")
			}
		default:
			return c, fmt.Errorf("impair: unknown key %q (want drop, dup, corrupt, reorder, delay, seed, dir, whole)", k)
		}
		if err != nil {
			return c, fmt.Errorf("impair: %s=%s: %v", k, v, err)
		}
	}
	return c, c.Validate()
}

func parseProb(v string) (float64, error) {
	scale := 1.0
	if strings.HasSuffix(v, "%") {
		v, scale = strings.TrimSuffix(v, "%"), 0.01
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	return f * scale, nil
}

// Stats counts injected faults, summed over queues and directions.
type Stats struct {
	// Reordered counts frames that left the reorder window while an older
	// frame stayed in it; Delayed counts frames that entered the delay line.
	Dropped, Duplicated, Corrupted, Reordered, Delayed uint64
	// DupFailed counts duplicates not made because the pool was empty.
	DupFailed uint64
}

// Port is a driver.Port with faults injected. It implements driver.Idler
// and passes driver.RxNotifier through.
type Port struct {
	driver.Port
	cfg    Config
	rx, tx []line
}

// line is the fault state of one queue in one direction.
type line struct {
	on                 bool
	drop, dup, corrupt uint64 // thresholds for rng.Uint64()
	rng                rand.PCG
	delay              fifo
	window             []*driver.Packet
	reorderN           int
	out                []*driver.Packet // frames ready to leave
	segs               []*driver.Packet // scratch for cutting super-frames
	stats              lineStats
	_                  [32]byte
}

type lineStats struct {
	dropped, duplicated, corrupted, reordered, delayed, dupFailed counter.Counter
}

type fifo struct {
	buf        []*driver.Packet
	head, size int
}

func (f *fifo) push(p *driver.Packet) {
	i := f.head + f.size
	if i >= len(f.buf) {
		i -= len(f.buf)
	}
	f.buf[i] = p
	f.size++
}

func (f *fifo) pop() *driver.Packet {
	p := f.buf[f.head]
	f.buf[f.head] = nil
	f.head++
	if f.head == len(f.buf) {
		f.head = 0
	}
	f.size--
	return p
}

func threshold(p float64) uint64 {
	if p >= 1 {
		return math.MaxUint64
	}
	return uint64(p * (1 << 63) * 2)
}

// Wrap returns port with the faults of cfg injected.
func Wrap(port driver.Port, cfg Config) (*Port, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rxOn, txOn := cfg.Rx, cfg.Tx
	if !rxOn && !txOn {
		rxOn, txOn = true, true
	}
	n := port.NumQueues()
	p := &Port{Port: port, cfg: cfg, rx: make([]line, n), tx: make([]line, n)}
	for q := 0; q < n; q++ {
		p.rx[q].init(cfg, rxOn, uint64(q)*2, port.BurstSize())
		p.tx[q].init(cfg, txOn, uint64(q)*2+1, port.BurstSize())
	}
	return p, nil
}

func (l *line) init(cfg Config, on bool, stream uint64, burst int) {
	l.on = on && cfg.Enabled()
	l.drop, l.dup, l.corrupt = threshold(cfg.Drop), threshold(cfg.Dup), threshold(cfg.Corrupt)
	l.rng.Seed(cfg.Seed, 0x9e3779b97f4a7c15^stream)
	l.delay.buf = make([]*driver.Packet, cfg.Delay+1)
	if cfg.Reorder > 1 {
		l.reorderN = cfg.Reorder
		l.window = make([]*driver.Packet, 0, cfg.Reorder)
	}
	// A burst can at most double (duplicates) plus what the window and
	// delay line release.
	l.out = make([]*driver.Packet, 0, 2*burst+cfg.Reorder+cfg.Delay+2)
}

func (l *line) chance(t uint64) bool { return t != 0 && l.rng.Uint64() < t }

// feed passes one frame through the faults; frames ready to leave are
// appended to l.out.
func (l *line) feed(pk *driver.Packet, pool *driver.Pool) {
	if l.chance(l.drop) {
		l.stats.dropped.Inc()
		putBack(pool, pk)
		return
	}
	if l.chance(l.corrupt) && pk.Len() > 0 {
		d := pk.Data()
		bit := l.rng.Uint64() % uint64(len(d)*8)
		d[bit/8] ^= 1 << (bit % 8)
		// The fault is on the wire, before the NIC's checks: a frame the
		// NIC had verified goes to the stack's software checks instead.
		pk.Flags &^= driver.RxIPChecksumGood | driver.RxL4ChecksumGood
		l.stats.corrupted.Inc()
	}
	if l.chance(l.dup) {
		if c := pool.Get(); c != nil && c.CopyFrom(pk) {
			l.stats.duplicated.Inc()
			l.hold(c, pool)
		} else {
			if c != nil {
				pool.Put(c)
			}
			l.stats.dupFailed.Inc()
		}
	}
	l.hold(pk, pool)
}

// hold runs a frame through the delay line and reorder window.
func (l *line) hold(pk *driver.Packet, pool *driver.Pool) {
	if len(l.delay.buf) > 1 {
		l.delay.push(pk)
		l.stats.delayed.Inc()
		if l.delay.size < len(l.delay.buf) {
			return
		}
		pk = l.delay.pop()
	}
	if l.reorderN > 1 {
		l.window = append(l.window, pk)
		if len(l.window) < l.reorderN {
			return
		}
		pk = l.takeRandom()
	}
	l.out = append(l.out, pk)
}

// takeRandom removes a random frame from the window, which is kept in
// arrival order; the frame counts as reordered when an older one stays.
func (l *line) takeRandom() *driver.Packet {
	i := int(l.rng.Uint64() % uint64(len(l.window)))
	last := len(l.window) - 1
	if i != 0 {
		l.stats.reordered.Inc()
	}
	pk := l.window[i]
	copy(l.window[i:], l.window[i+1:])
	l.window[last] = nil
	l.window = l.window[:last]
	return pk
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

// release lets one held frame go: the oldest of the delay line into the
// window, or one frame of the window.
func (l *line) release() {
	if l.delay.size > 0 {
		pk := l.delay.pop()
		if l.reorderN > 1 {
			l.window = append(l.window, pk)
		} else {
			l.out = append(l.out, pk)
			return
		}
	}
	if len(l.window) > 0 {
		l.out = append(l.out, l.takeRandom())
	}
}

// Offloads implements driver.Port: the inner port's, less the transmit
// checksum offloads when frames are corrupted. A checksum the NIC
// computes after the fault would cover the flipped bit and hide it; the
// stack's own covers the frame as it meant it.
func (p *Port) Offloads() driver.Offloads {
	o := p.Port.Offloads()
	if p.cfg.Corrupt > 0 {
		o &^= driver.OffloadTxIPChecksum | driver.OffloadTxTCPChecksum | driver.OffloadTxUDPChecksum |
			driver.OffloadTxTCPSeg
	}
	return o
}

// TxBurst implements driver.Port. It takes all of pkts; frames the inner
// port refuses are freed, as a NIC's full ring drops them.
func (p *Port) TxBurst(q int, pkts []*driver.Packet) int {
	l := &p.tx[q]
	if !l.on {
		return p.Port.TxBurst(q, pkts)
	}
	pool := p.Port.Pool(q)
	for _, pk := range pkts {
		if pk.Flags&driver.TxTCPSeg == 0 {
			p.feedTx(q, l, pool, pk)
			continue
		}
		if p.cfg.Whole {
			// Whole: the frames before it go first, then it, unless
			// dropped.
			p.flushTx(q, l, pool)
			if l.chance(l.drop) {
				l.stats.dropped.Inc()
				putBack(pool, pk)
				continue
			}
			l.out = append(l.out, pk)
			p.flushTx(q, l, pool)
			continue
		}
		// A super-frame is cut here, before the faults, which then
		// strike the frames the wire carries: a held frame must not
		// keep references into its sender's send queue.
		segs, err := gso.Cut(pk, pool, l.segs)
		l.segs = segs[:0]
		putBack(pool, pk)
		if err != nil {
			l.stats.dropped.Inc()
			continue
		}
		for i, s := range segs {
			segs[i] = nil
			p.feedTx(q, l, pool, s)
		}
	}
	p.flushTx(q, l, pool)
	return len(pkts)
}

// feedTx passes one transmitted frame through the faults, sending what
// has collected when the line's buffer is nearly full.
func (p *Port) feedTx(q int, l *line, pool *driver.Pool, pk *driver.Packet) {
	l.feed(pk, pool)
	if len(l.out) >= cap(l.out)-2 {
		p.flushTx(q, l, pool)
	}
}

func (p *Port) flushTx(q int, l *line, pool *driver.Pool) {
	burst := p.Port.BurstSize()
	for len(l.out) > 0 {
		n := min(len(l.out), burst)
		sent := p.Port.TxBurst(q, l.out[:n])
		for _, pk := range l.out[sent:n] {
			putBack(pool, pk)
		}
		m := copy(l.out, l.out[n:])
		clear(l.out[m:])
		l.out = l.out[:m]
	}
}

// RxBurst implements driver.Port.
func (p *Port) RxBurst(q int, pkts []*driver.Packet) int {
	l := &p.rx[q]
	if !l.on {
		return p.Port.RxBurst(q, pkts)
	}
	// Poll the wrapped port until frames come out of the faults or it has
	// nothing more: returning nothing while it still holds frames would
	// look like an idle poll, and idle polls release held frames early.
	for len(l.out) == 0 {
		n := p.Port.RxBurst(q, pkts)
		if n == 0 {
			break
		}
		pool := p.Port.Pool(q)
		for _, pk := range pkts[:n] {
			l.feed(pk, pool)
		}
	}
	n := copy(pkts, l.out)
	m := copy(l.out, l.out[n:])
	clear(l.out[m:])
	l.out = l.out[:m]
	return n
}

// Idle implements driver.Idler: one held frame per direction moves on.
func (p *Port) Idle(q int) {
	if l := &p.tx[q]; l.on && (l.delay.size > 0 || len(l.window) > 0) {
		l.release()
		p.flushTx(q, l, p.Port.Pool(q))
	}
	if l := &p.rx[q]; l.on && (l.delay.size > 0 || len(l.window) > 0) {
		l.release()
	}
	if i, ok := p.Port.(driver.Idler); ok {
		i.Idle(q)
	}
}

// SetRxNotify passes the registration to the wrapped port if it supports it.
func (p *Port) SetRxNotify(q int, fn func()) {
	if n, ok := p.Port.(driver.RxNotifier); ok {
		n.SetRxNotify(q, fn)
	}
}

// Faults returns the injected-fault counters. Any goroutine may call it.
func (p *Port) Faults() Stats {
	var s Stats
	for _, ls := range [][]line{p.rx, p.tx} {
		for i := range ls {
			st := &ls[i].stats
			s.Dropped += st.dropped.Load()
			s.Duplicated += st.duplicated.Load()
			s.Corrupted += st.corrupted.Load()
			s.Reordered += st.reordered.Load()
			s.Delayed += st.delayed.Load()
			s.DupFailed += st.dupFailed.Load()
		}
	}
	return s
}

// Held returns the frames queue q holds back in both directions. Owner of
// q only; tests use it to account for every frame.
func (p *Port) Held(q int) int {
	return p.rx[q].delay.size + len(p.rx[q].window) + len(p.rx[q].out) +
		p.tx[q].delay.size + len(p.tx[q].window) + len(p.tx[q].out)
}
