package iperf3

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// stream is one data stream of a test, on either side. Its counters are
// atomics: the goroutine that moves the stream's data adds to them, the
// test goroutine and Stats read them. The UDP receive state (udpRecv) is
// owned by the one goroutine that reads the stream's datagrams.
type stream struct {
	id     int
	sender bool     // this side sends on the stream
	conn   net.Conn // TCP stream, or the client's connected UDP socket
	peer   netip.AddrPort

	bytes   atomic.Uint64 // sent or received while the test counted
	blocks  atomic.Uint64 // writes, datagrams, or reads (iperf3 counts reads)
	packets atomic.Uint64 // UDP: sent, or the highest sequence number seen
	lost    atomic.Uint64 // UDP receiver: iperf3's cnt_error
	ooo     atomic.Uint64 // UDP receiver: out-of-order datagrams
	jitter  atomic.Uint64 // UDP receiver: float64 bits, seconds

	omitBytes atomic.Uint64 // bytes at the end of the omit period
	resetJit  atomic.Bool   // omit ended: the receiver restarts jitter

	udpRecv
}

// udpRecv is a UDP receiver's running state (iperf_udp_recv).
type udpRecv struct {
	seen        bool
	prevTransit float64
	jit         float64
}

// reported is the stream's byte count after the omit period.
func (s *stream) reported() uint64 {
	b, o := s.bytes.Load(), s.omitBytes.Load()
	if o > b {
		return 0
	}
	return b - o
}

func (s *stream) jitterSeconds() float64 { return math.Float64frombits(s.jitter.Load()) }

// monoEpoch anchors the timestamps in UDP datagrams. Only differences
// between a stream's timestamps matter (jitter), so any clock that runs
// at the right rate will do; this one never jumps.
var monoEpoch = time.Now()

// stamp is now as iperf3's (seconds, microseconds) pair.
func stamp() (sec, usec uint32) {
	d := time.Since(monoEpoch)
	return uint32(d / time.Second), uint32(d % time.Second / time.Microsecond)
}

// udpHeaderLen is the header of a UDP test datagram: seconds,
// microseconds, then a 32- or 64-bit packet count, all big-endian.
func udpHeaderLen(counters64 bool) int {
	if counters64 {
		return 16
	}
	return 12
}

// putUDPHeader writes the header for packet number seq into b.
func putUDPHeader(b []byte, seq uint64, counters64 bool) {
	sec, usec := stamp()
	binary.BigEndian.PutUint32(b[0:], sec)
	binary.BigEndian.PutUint32(b[4:], usec)
	if counters64 {
		binary.BigEndian.PutUint64(b[8:], seq)
	} else {
		binary.BigEndian.PutUint32(b[8:], uint32(seq))
	}
}

// parseUDPHeader reads a datagram's header; ok is false when b is too
// short to hold one.
func parseUDPHeader(b []byte, counters64 bool) (sec, usec uint32, seq uint64, ok bool) {
	if len(b) < udpHeaderLen(counters64) {
		return 0, 0, 0, false
	}
	sec = binary.BigEndian.Uint32(b[0:])
	usec = binary.BigEndian.Uint32(b[4:])
	if counters64 {
		seq = binary.BigEndian.Uint64(b[8:])
	} else {
		seq = uint64(binary.BigEndian.Uint32(b[8:]))
	}
	return sec, usec, seq, true
}

// transit is |arrival - sent| in seconds, as iperf_time_diff computes it.
func transit(asec, ausec, ssec, susec uint32) float64 {
	a := float64(asec) + float64(ausec)/1e6
	s := float64(ssec) + float64(susec)/1e6
	return math.Abs(a - s)
}

// udpReceive accounts one datagram of n bytes received while the test
// counts: bytes, loss and reordering from the sequence number, and jitter
// per RFC 1889 (iperf_udp_recv). Only the stream's reading goroutine
// calls it.
func (s *stream) udpReceive(b []byte, counters64 bool, asec, ausec uint32) {
	s.bytes.Add(uint64(len(b)))
	s.blocks.Add(1)
	if s.resetJit.Swap(false) {
		s.seen, s.jit = false, 0
		s.jitter.Store(0)
	}
	sec, usec, seq, ok := parseUDPHeader(b, counters64)
	if !ok {
		return
	}
	high := s.packets.Load()
	if seq >= high+1 && high+1 != 0 {
		if seq > high+1 {
			addSat(&s.lost, seq-1-high)
		}
		s.packets.Store(seq)
	} else {
		s.ooo.Add(1)
		if l := s.lost.Load(); l > 0 {
			s.lost.Store(l - 1)
		}
	}
	t := transit(asec, ausec, sec, usec)
	if !s.seen {
		s.seen = true
		s.prevTransit = t
	}
	d := math.Abs(t - s.prevTransit)
	s.prevTransit = t
	s.jit += (d - s.jit) / 16
	s.jitter.Store(math.Float64bits(s.jit))
}

// addSat adds d to c, saturating at the largest uint64.
func addSat(c *atomic.Uint64, d uint64) {
	v := c.Load()
	if v+d < v {
		c.Store(math.MaxUint64)
		return
	}
	c.Store(v + d)
}

// pacer holds a sender to rate bits per second, on average since start:
// the sender may send while the bits it has sent are below rate times the
// elapsed time (iperf_check_throttle), and otherwise sleeps until they
// are not. One pacer per sending goroutine.
type pacer struct {
	rate  uint64 // bits/s; 0 is unpaced
	start time.Time
	timer *time.Timer
}

func newPacer(rate uint64, start time.Time) *pacer { return &pacer{rate: rate, start: start} }

// due is when a sender that has sent sent bytes may send again.
func (p *pacer) due(sent uint64) time.Time {
	sec := float64(sent) * 8 / float64(p.rate)
	if sec > float64(MaxDuration*4) {
		sec = MaxDuration * 4
	}
	return p.start.Add(time.Duration(sec * float64(time.Second)))
}

// wait blocks until the sender may send, or stop is closed (false).
func (p *pacer) wait(sent uint64, stop <-chan struct{}) bool {
	if p.rate == 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	return p.sleepUntil(p.due(sent), stop)
}

// sleepUntil sleeps until t or until stop is closed (false).
func (p *pacer) sleepUntil(t time.Time, stop <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return true
	case <-stop:
		p.timer.Stop()
		return false
	}
}

// payload returns a send buffer of n bytes: iperf3's repeating "0123456789"
// pattern, or random bytes.
func payload(n int, repeating bool) []byte {
	b := make([]byte, n)
	if repeating {
		for i := range b {
			b[i] = '0' + byte(i%10)
		}
		return b
	}
	fillRandom(b)
	return b
}

// fillRandom fills b with cheap pseudo-random bytes (xorshift; the
// content only has to be incompressible).
func fillRandom(b []byte) {
	x := uint64(time.Now().UnixNano()) | 1
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

// unmap drops an IPv4-mapped IPv6 prefix.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// addrPortOf returns a net.Addr's address and port, when it has one.
func addrPortOf(a net.Addr) netip.AddrPort {
	if a == nil {
		return netip.AddrPort{}
	}
	if x, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		return unmap(x.AddrPort())
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return unmap(ap)
}
