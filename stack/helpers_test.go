package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
)

var (
	addrA = netip.MustParsePrefix("192.0.2.1/24")
	addrB = netip.MustParsePrefix("192.0.2.2/24")
	// With pairConfig.ipv6 (ipv6_test.go).
	addr6A = netip.MustParsePrefix("2001:db8:1::1/64")
	addr6B = netip.MustParsePrefix("2001:db8:1::2/64")
)

// tap records a copy of every frame a port sends, per queue, so tests can
// decode everything a stack emitted with gopacket.
type tap struct {
	driver.Port
	mu     sync.Mutex
	frames [][]byte
	off    bool // stop recording (allocation tests)
	verify bool // check each frame with gopacket instead of recording it
	nseen  int
	bad    error
	// Frames sent with a checksum left to the port, and received with
	// one the port verified (checksum offload tests).
	txOffloaded, rxVerified atomic.Int64
	// Super-frames sent (TSO tests); recorded or verified, they are cut
	// first, as the wire carries them.
	txSuper atomic.Int64
	segs    []*driver.Packet
	lro     bool // pass SetRxCoalesce on (pairConfig.lro)
	// rxCoalesced counts frames received coalesced (RxTCPCoalesced).
	rxCoalesced atomic.Int64
}

// SetRxCoalesce implements driver.RxCoalescer: the wire's port's, where
// the test asked for it (pairConfig.lro); refused otherwise, so the stack
// receives segments one by one.
func (t *tap) SetRxCoalesce(on bool) error {
	rc, ok := t.Port.(driver.RxCoalescer)
	if !t.lro || !ok {
		return errors.New("tap: receive coalescing not asked for by the test")
	}
	return rc.SetRxCoalesce(on)
}

func (t *tap) RxBurst(q int, pkts []*driver.Packet) int {
	n := t.Port.RxBurst(q, pkts)
	for _, pk := range pkts[:n] {
		if pk.Flags&driver.RxL4ChecksumGood != 0 {
			t.rxVerified.Add(1)
		}
		if pk.Flags&driver.RxTCPCoalesced != 0 {
			t.rxCoalesced.Add(1)
		}
	}
	return n
}

func (t *tap) TxBurst(q int, pkts []*driver.Packet) int {
	for _, pk := range pkts {
		if pk.Flags&(driver.TxTCPChecksum|driver.TxUDPChecksum) != 0 {
			t.txOffloaded.Add(1)
		}
		if pk.Flags&driver.TxTCPSeg != 0 {
			t.txSuper.Add(1)
		}
	}
	if t.off {
		return t.Port.TxBurst(q, pkts)
	}
	t.mu.Lock()
	for _, pk := range pkts {
		frames := [][]byte{pk.Data()}
		if pk.Flags&driver.TxTCPSeg != 0 {
			frames = t.cut(q, pk)
		}
		for _, f := range frames {
			if !t.verify {
				t.frames = append(t.frames, append([]byte(nil), f...))
				continue
			}
			t.nseen++
			if err := checkFrame(f); err != nil && t.bad == nil {
				t.bad = fmt.Errorf("frame %d: %v", t.nseen, err)
			}
		}
	}
	t.mu.Unlock()
	return t.Port.TxBurst(q, pkts)
}

// cut returns copies of the frames super-frame pk is cut into, with their
// checksums as the sender left them (unfinished where offloaded), or an
// empty frame that fails every check when it cannot be cut.
func (t *tap) cut(q int, pk *driver.Packet) [][]byte {
	segs, err := gso.Cut(pk, t.Port.Pool(q), t.segs)
	t.segs = segs[:0]
	if err != nil {
		return [][]byte{nil}
	}
	var out [][]byte
	for _, s := range segs {
		out = append(out, append([]byte(nil), s.Data()...))
		t.Port.Pool(q).Put(s)
	}
	return out
}

func (t *tap) SetRxNotify(q int, fn func()) {
	if n, ok := t.Port.(driver.RxNotifier); ok {
		n.SetRxNotify(q, fn)
	}
}

func (t *tap) Idle(q int) {
	if i, ok := t.Port.(driver.Idler); ok {
		i.Idle(q)
	}
}

// verified reports the frames checked and the first bad one.
func (t *tap) verified() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nseen, t.bad
}

func (t *tap) captured() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]byte(nil), t.frames...)
}

type pairConfig struct {
	softnets int
	poll     PollMode
	impairA  *impair.Config // faults on A's port (both directions)
	start    bool
	verify   bool // check every emitted frame with gopacket as it leaves
	ipv6     bool // give A and B addr6A and addr6B too
	// csumA and csumB give A's and B's ports checksum offload
	// (memwire.Config.ChecksumOffload); verify then fails on A's or B's
	// unfinished checksums, so check frames on a monitor port instead.
	csumA, csumB bool
	// tsoA and tsoB give A's and B's ports TCP segmentation offload
	// (memwire.Config.TSO, with checksum offload).
	tsoA, tsoB bool
	quiet      bool // the taps neither record nor verify (tap.off), from the start
	// lro: the taps pass the stacks' SetRxCoalesce on to the wire, whose
	// ports then receive super-frames whole (driver.RxTCPCoalesced) where
	// no third port takes them too (a monitor); without it they refuse.
	lro     bool
	neighA  []Neighbor // A's static neighbours
	staticB bool       // and B's addresses at B's MAC among them
	cfg     Config
}

type pair struct {
	wire   *memwire.Wire
	a, b   *Stack
	ta, tb *tap
	fa     *impair.Port
}

// newPair builds two stacks joined by an in-memory wire: A at 192.0.2.1,
// B at 192.0.2.2.
func newPair(t testing.TB, pc pairConfig) *pair {
	t.Helper()
	if pc.softnets == 0 {
		pc.softnets = 1
	}
	w := memwire.New()
	pa, err := w.AddPort(memwire.Config{Name: "a", Queues: pc.softnets, ChecksumOffload: pc.csumA, TSO: pc.tsoA})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(memwire.Config{Name: "b", Queues: pc.softnets, ChecksumOffload: pc.csumB, TSO: pc.tsoB})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{wire: w}
	var portA driver.Port = pa
	if pc.impairA != nil {
		p.fa, err = impair.Wrap(pa, *pc.impairA)
		if err != nil {
			t.Fatal(err)
		}
		portA = p.fa
	}
	p.ta, p.tb = &tap{Port: portA, verify: pc.verify, off: pc.quiet, lro: pc.lro}, &tap{Port: pb, verify: pc.verify, off: pc.quiet, lro: pc.lro}
	cfg := pc.cfg
	cfg.Softnets = pc.softnets
	cfg.Poll = pc.poll
	ia, ib := InterfaceConfig{Port: p.ta, Addr: addrA, Neighbors: pc.neighA}, InterfaceConfig{Port: p.tb, Addr: addrB}
	if pc.ipv6 {
		ia.Addr6, ib.Addr6 = []netip.Prefix{addr6A}, []netip.Prefix{addr6B}
	}
	if pc.staticB {
		mac := p.tb.MAC()
		ia.Neighbors = append(ia.Neighbors[:len(ia.Neighbors):len(ia.Neighbors)], Neighbor{Addr: addrB.Addr(), MAC: mac[:]})
		if pc.ipv6 {
			ia.Neighbors = append(ia.Neighbors, Neighbor{Addr: addr6B.Addr(), MAC: mac[:]})
		}
	}
	if p.a, err = New(cfg, ia); err != nil {
		t.Fatal(err)
	}
	if p.b, err = New(cfg, ib); err != nil {
		t.Fatal(err)
	}
	if pc.start {
		if err := p.a.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.b.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.a.Stop(); p.b.Stop() })
	}
	return p
}

// poll drives both stacks of a pair that was not started, n rounds.
func (p *pair) poll(n int) {
	for i := 0; i < n; i++ {
		for _, s := range []*Stack{p.a, p.b} {
			for _, sn := range s.sn {
				sn.Poll()
			}
		}
	}
}

// pollUntil polls until cond holds or the rounds run out.
func (p *pair) pollUntil(t testing.TB, rounds int, cond func() bool) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		if cond() {
			return
		}
		p.poll(1)
	}
	if !cond() {
		t.Fatalf("condition not met after %d poll rounds", rounds)
	}
}

// checkFrames decodes every frame with gopacket, the independent oracle:
// no decode errors, lengths consistent, and every checksum correct.
func checkFrames(t testing.TB, frames [][]byte) {
	t.Helper()
	for i, f := range frames {
		if err := checkFrame(f); err != nil {
			t.Fatalf("frame %d (%d bytes): %v\n%s", i, len(f), err, gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default).Dump())
		}
	}
}

func checkFrame(f []byte) error {
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil {
		return fmt.Errorf("no Ethernet layer")
	}
	switch eth.EthernetType {
	case layers.EthernetTypeARP:
		arp, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		if arp == nil || arp.AddrType != layers.LinkTypeEthernet || arp.Protocol != layers.EthernetTypeIPv4 {
			return fmt.Errorf("bad ARP layer %+v", arp)
		}
		return nil
	case layers.EthernetTypeIPv4:
	case layers.EthernetTypeIPv6:
		return checkFrame6(pkt, f)
	default:
		return fmt.Errorf("unexpected EtherType %v", eth.EthernetType)
	}
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		return fmt.Errorf("no IPv4 layer")
	}
	raw := f[14 : 14+int(ip.IHL)*4]
	if refChecksum(raw) != 0 {
		return fmt.Errorf("IPv4 header checksum wrong")
	}
	if int(ip.Length) != len(f)-14 {
		return fmt.Errorf("IPv4 total length %d, frame carries %d", ip.Length, len(f)-14)
	}
	if ip.Flags&layers.IPv4DontFragment == 0 || ip.TTL != defaultTTL {
		return fmt.Errorf("IPv4 flags %v TTL %d, want DF and %d", ip.Flags, ip.TTL, defaultTTL)
	}
	l4 := f[14+int(ip.IHL)*4:]
	switch ip.Protocol {
	case layers.IPProtocolUDP:
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || int(udp.Length) != len(l4) {
			return fmt.Errorf("UDP length mismatch")
		}
		ph := pseudo(ip.SrcIP.To4(), ip.DstIP.To4(), 17, len(l4))
		if refChecksum(append(ph, l4...)) != 0 {
			return fmt.Errorf("UDP checksum wrong")
		}
	case layers.IPProtocolTCP:
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			return fmt.Errorf("no TCP layer")
		}
		ph := pseudo(ip.SrcIP.To4(), ip.DstIP.To4(), 6, len(l4))
		if refChecksum(append(ph, l4...)) != 0 {
			return fmt.Errorf("TCP checksum wrong")
		}
		if int(tcp.DataOffset)*4 > len(l4) || tcp.DataOffset < 5 {
			return fmt.Errorf("TCP data offset %d", tcp.DataOffset)
		}
		optLen := 0
		for _, o := range tcp.Options {
			switch o.OptionType {
			case layers.TCPOptionKindEndList, layers.TCPOptionKindNop:
				optLen++
				continue
			case layers.TCPOptionKindMSS:
				if !tcp.SYN || o.OptionLength != 4 {
					return fmt.Errorf("MSS option on a non-SYN or of length %d", o.OptionLength)
				}
			case layers.TCPOptionKindWindowScale:
				if !tcp.SYN || o.OptionLength != 3 || o.OptionData[0] > 14 {
					return fmt.Errorf("bad window scale option %v", o)
				}
			case layers.TCPOptionKindSACKPermitted:
				if !tcp.SYN {
					return fmt.Errorf("SACK-permitted on a non-SYN")
				}
			case layers.TCPOptionKindTimestamps:
				if o.OptionLength != 10 {
					return fmt.Errorf("timestamp option of length %d", o.OptionLength)
				}
			case layers.TCPOptionKindSACK:
				if (o.OptionLength-2)%8 != 0 || o.OptionLength > 34 {
					return fmt.Errorf("SACK option of length %d", o.OptionLength)
				}
			default:
				return fmt.Errorf("unexpected TCP option %v", o.OptionType)
			}
			optLen += int(o.OptionLength)
		}
		if optLen != int(tcp.DataOffset)*4-20 {
			return fmt.Errorf("TCP options take %d bytes, header says %d", optLen, int(tcp.DataOffset)*4-20)
		}
		if tcp.SYN && tcp.RST {
			return fmt.Errorf("SYN and RST together")
		}
	case layers.IPProtocolICMPv4:
		if pkt.Layer(layers.LayerTypeICMPv4) == nil {
			return fmt.Errorf("no ICMPv4 layer")
		}
		if refChecksum(l4) != 0 {
			return fmt.Errorf("ICMP checksum wrong")
		}
	default:
		return fmt.Errorf("unexpected protocol %v", ip.Protocol)
	}
	return nil
}

// refChecksum is a byte-at-a-time Internet checksum, independent of the
// header package; it returns 0 over data that carries a correct checksum.
func refChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i < len(b); i++ {
		if i%2 == 0 {
			sum += uint32(b[i]) << 8
		} else {
			sum += uint32(b[i])
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func pseudo(src, dst []byte, proto byte, n int) []byte {
	ph := append(append([]byte{}, src...), dst...)
	return append(ph, 0, proto, byte(n>>8), byte(n))
}

// rawFrame builds an Ethernet+IPv4+UDP frame by hand for injection tests.
func rawUDPFrame(dst, src header.MAC, sip, dip [4]byte, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	header.Ethernet(f).Encode(dst, src, header.EtherTypeIPv4)
	ip := header.IPv4(f[14:])
	ip.Encode(&header.IPv4Fields{TotalLen: uint16(28 + len(payload)), TTL: 64, Protocol: header.ProtoUDP, Src: sip, Dst: dip, DontFragment: true})
	u := header.UDP(f[34:])
	u.Encode(sport, dport, uint16(8+len(payload)))
	copy(u.Payload(), payload)
	u.SetChecksum(sip, dip)
	return f
}

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func driverConfig(name string) memwire.Config { return memwire.Config{Name: name, Promiscuous: false} }
