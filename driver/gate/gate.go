// Package gate is a test double: a port wrapper that holds the frames it
// is told to hold until the test lets them go, so that a test can put a
// connection into an exact phase (a backend's SYN-ACK held while the
// client resets, data held while a splice starts) without sleeping and
// hoping.
//
// Held frames are transmitted frames: Hold selects them on TxBurst of the
// wrapped port's owner; Release lets them leave, in order, on that queue's
// next RxBurst, TxBurst or Idle (all called by the queue's owner, as the
// driver contract requires). With nothing held the wrapper costs one
// atomic load per burst.
package gate

import (
	"errors"
	"sync/atomic"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
)

// Match selects frames by their bytes (Ethernet header first).
type Match func(frame []byte) bool

// Port holds the transmitted frames a Match selects.
type Port struct {
	driver.Port
	match   atomic.Pointer[Match]
	held    [][]*driver.Packet // per queue, owned by the queue's owner
	pass    [][]*driver.Packet // per queue: scratch for the frames that pass
	segs    [][]*driver.Packet // per queue: scratch for cutting super-frames
	nheld   atomic.Int64
	matched atomic.Uint64
}

// Wrap returns port with a gate that holds nothing yet.
func Wrap(port driver.Port) *Port {
	n := port.NumQueues()
	return &Port{Port: port, held: make([][]*driver.Packet, n), pass: make([][]*driver.Packet, n), segs: make([][]*driver.Packet, n)}
}

// Hold makes the port hold every frame m selects from now on, until
// Release. Any goroutine.
func (p *Port) Hold(m Match) { p.match.Store(&m) }

// Release stops holding; the held frames leave on their queue's next
// burst. Any goroutine.
func (p *Port) Release() { p.match.Store(nil) }

// Held returns the frames held now. Any goroutine.
func (p *Port) Held() int { return int(p.nheld.Load()) }

// Matched returns the frames held since the port was wrapped. Any
// goroutine.
func (p *Port) Matched() uint64 { return p.matched.Load() }

// TxBurst implements driver.Port: selected frames are kept, the others
// pass. It takes every frame it holds. While a match is set, a TCP
// super-frame (driver.TxTCPSeg) is cut first (package driver/gso) and its
// frames are selected one by one: a held super-frame would keep
// references into its sender's send queue.
func (p *Port) TxBurst(q int, pkts []*driver.Packet) int {
	mp := p.match.Load()
	if mp == nil {
		p.flush(q)
		return p.Port.TxBurst(q, pkts)
	}
	m := *mp
	// Keep the selected frames, pass the rest in order.
	pass := p.pass[q][:0]
	for _, pk := range pkts {
		if pk.Flags&driver.TxTCPSeg == 0 {
			pass = p.sort(q, m, pk, pass)
			continue
		}
		segs, err := gso.Cut(pk, p.Port.Pool(q), p.segs[q])
		p.segs[q] = segs[:0]
		pk.Free()
		if err != nil {
			continue // lost, as a frame the wire drops
		}
		for _, s := range segs {
			pass = p.sort(q, m, s, pass)
		}
		clear(segs)
	}
	p.send(q, pass)
	clear(pass)
	p.pass[q] = pass[:0]
	clear(pkts)
	return len(pkts)
}

// sort holds pk when m selects it, else appends it to pass.
func (p *Port) sort(q int, m Match, pk *driver.Packet, pass []*driver.Packet) []*driver.Packet {
	if m(pk.Data()) {
		p.held[q] = append(p.held[q], pk)
		p.nheld.Add(1)
		p.matched.Add(1)
		return pass
	}
	return append(pass, pk)
}

// send transmits frames on queue q in bursts; what the wrapped port
// refuses is freed (the caller can no longer tell those from held ones,
// and a full ring drops them anyway).
func (p *Port) send(q int, frames []*driver.Packet) {
	burst := p.Port.BurstSize()
	for len(frames) > 0 {
		n := min(len(frames), burst)
		sent := p.Port.TxBurst(q, frames[:n])
		for _, pk := range frames[sent:n] {
			pk.Free()
		}
		frames = frames[n:]
	}
}

// RxBurst implements driver.Port; it first lets released frames go.
func (p *Port) RxBurst(q int, pkts []*driver.Packet) int {
	p.flush(q)
	return p.Port.RxBurst(q, pkts)
}

// Idle implements driver.Idler; it lets released frames go.
func (p *Port) Idle(q int) {
	p.flush(q)
	if i, ok := p.Port.(driver.Idler); ok {
		i.Idle(q)
	}
}

// SetRxNotify passes the registration to the wrapped port if it supports
// it.
func (p *Port) SetRxNotify(q int, fn func()) {
	if n, ok := p.Port.(driver.RxNotifier); ok {
		n.SetRxNotify(q, fn)
	}
}

// SetRxCoalesce implements driver.RxCoalescer by passing the request to
// the wrapped port: the gate holds transmitted frames only and passes
// received ones, coalesced or not, as they come. A wrapped port that
// cannot coalesce refuses.
func (p *Port) SetRxCoalesce(on bool) error {
	rc, ok := p.Port.(driver.RxCoalescer)
	if !ok {
		return errors.New("gate: the wrapped port does not coalesce received segments")
	}
	return rc.SetRxCoalesce(on)
}

// flush sends queue q's held frames once the gate is open. Queue owner
// only.
func (p *Port) flush(q int) {
	if len(p.held[q]) == 0 || p.match.Load() != nil {
		return
	}
	p.send(q, p.held[q])
	clear(p.held[q])
	p.held[q] = p.held[q][:0]
	p.nheld.Store(0)
}

// TCPFlags selects IPv4 TCP frames whose flags, masked with mask, equal
// want (TCPFlags(SYN|ACK, SYN|ACK|RST) is a SYN-ACK).
func TCPFlags(want, mask uint8) Match {
	return func(f []byte) bool {
		tcp, ok := tcpHeader(f)
		return ok && tcp[13]&mask == want
	}
}

// TCPData selects IPv4 TCP frames that carry payload.
func TCPData() Match {
	return func(f []byte) bool {
		tcp, ok := tcpHeader(f)
		return ok && len(tcp) > int(tcp[12]>>4)*4
	}
}

// tcpHeader returns the TCP segment of an IPv4 frame.
func tcpHeader(f []byte) ([]byte, bool) {
	if len(f) < 14+20 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6 {
		return nil, false
	}
	ihl := int(f[14]&0x0f) * 4
	total := int(f[16])<<8 | int(f[17])
	if ihl < 20 || total < ihl+20 || 14+total > len(f) {
		return nil, false
	}
	return f[14+ihl : 14+total], true
}
