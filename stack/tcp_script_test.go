package stack

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
)

// rawPeer is a hand-driven TCP endpoint on the wire, in the style of
// gVisor's packetimpact: the test writes every segment it sends and reads
// every segment the stack under test emits, decoded by gopacket.
type rawPeer struct {
	t    *testing.T
	port *memwire.Port
	mac  header.MAC
	ip   [4]byte
	dut  *Stack // device under test, driven by Poll
	dmac header.MAC
	dip  [4]byte
}

func newRawPeer(t *testing.T, cfg Config) *rawPeer {
	t.Helper()
	w := memwire.New()
	pd, err := w.AddPort(memwire.Config{Name: "dut", PoolSize: 1024, RingSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := w.AddPort(memwire.Config{Name: "raw", PoolSize: 1024, RingSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	dut, err := New(cfg, InterfaceConfig{Port: &tap{Port: pd, verify: true}, Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	r := &rawPeer{t: t, port: pr, mac: header.MAC(pr.MAC()), ip: [4]byte{192, 0, 2, 9}, dut: dut,
		dmac: header.MAC(pd.MAC()), dip: addrB.Addr().As4()}
	t.Cleanup(func() {
		if n, err := dut.ifaces[0].port.(*tap).verified(); err != nil {
			t.Errorf("gopacket oracle on the stack's %d frames: %v", n, err)
		}
	})
	return r
}

// seg describes a segment the peer sends.
type seg struct {
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	wnd          uint16
	opts         []byte
	payload      []byte
}

func (r *rawPeer) send(s seg) {
	r.t.Helper()
	r.sendBurst(s)
}

// sendBurst puts the segments on the wire together, so that the stack
// receives them in one burst, then polls it.
func (r *rawPeer) sendBurst(segs ...seg) {
	r.t.Helper()
	var pkts []*driver.Packet
	for _, s := range segs {
		pkts = append(pkts, r.frame(s))
	}
	if n := r.port.TxBurst(0, pkts); n != len(pkts) {
		r.t.Fatalf("raw peer: wire took %d of %d frames", n, len(pkts))
	}
	r.poll()
}

// frame builds the frame of one segment in a packet of the raw port.
func (r *rawPeer) frame(s seg) *driver.Packet {
	if s.wnd == 0 && s.flags&header.TCPFlagRst == 0 {
		s.wnd = 65535
	}
	if s.wnd == 0xdead {
		s.wnd = 0
	}
	ol := (len(s.opts) + 3) &^ 3
	tl := 20 + ol + len(s.payload)
	f := make([]byte, 14+20+tl)
	header.Ethernet(f).Encode(r.dmac, r.mac, header.EtherTypeIPv4)
	header.IPv4(f[14:]).Encode(&header.IPv4Fields{TotalLen: uint16(20 + tl), TTL: 64, Protocol: header.ProtoTCP, Src: r.ip, Dst: r.dip, DontFragment: true})
	tcp := header.TCP(f[34:])
	tcp.SetSrcPort(s.sport)
	tcp.SetDstPort(s.dport)
	tcp.SetSeq(s.seq)
	tcp.SetAck(s.ack)
	tcp.SetDataOffset(20 + ol)
	tcp.SetFlags(s.flags)
	tcp.SetWindow(s.wnd)
	copy(f[54:], s.opts)
	for i := 54 + len(s.opts); i < 54+ol; i++ {
		f[i] = tcpOptNop
	}
	copy(f[54+ol:], s.payload)
	tcp.SetChecksum(r.ip, r.dip, uint16(tl))
	pk := r.port.Pool(0).Get()
	copy(pk.Append(len(f)), f)
	return pk
}

func (r *rawPeer) poll() {
	for i := 0; i < 3; i++ {
		r.dut.sn[0].Poll()
	}
}

// recv returns the next TCP segment the stack sent, answering ARP on the
// way; nil if none within the wait.
func (r *rawPeer) recv(wait time.Duration) *layers.TCP {
	r.t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]*driver.Packet, 32)
	for {
		r.poll()
		n := r.port.RxBurst(0, buf)
		for i := 0; i < n; i++ {
			data := append([]byte(nil), buf[i].Data()...)
			r.port.Pool(0).Put(buf[i])
			if got := r.handle(data); got != nil {
				for _, pk := range buf[i+1 : n] {
					r.port.Pool(0).Put(pk) // the tests read one segment at a time
				}
				return got
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		if n == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
}

func (r *rawPeer) handle(f []byte) *layers.TCP {
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		if arp.Operation == layers.ARPRequest && [4]byte(arp.DstProtAddress) == r.ip {
			rep := make([]byte, 42)
			header.Ethernet(rep).Encode(header.MAC(arp.SourceHwAddress), r.mac, header.EtherTypeARP)
			header.ARP(rep[14:]).Encode(header.ARPReply, r.mac, r.ip, header.MAC(arp.SourceHwAddress), [4]byte(arp.SourceProtAddress))
			pk := r.port.Pool(0).Get()
			copy(pk.Append(len(rep)), rep)
			r.port.TxBurst(0, []*driver.Packet{pk})
		}
		return nil
	}
	tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp
}

func (r *rawPeer) mustRecv(what string) *layers.TCP {
	r.t.Helper()
	got := r.recv(2 * time.Second)
	if got == nil {
		r.t.Fatalf("%s: nothing received", what)
	}
	return got
}

func (r *rawPeer) expectNothing(what string, wait time.Duration) {
	r.t.Helper()
	if got := r.recv(wait); got != nil {
		r.t.Fatalf("%s: got unexpected segment seq %d ack %d flags %s", what, got.Seq, got.Ack, flagString(got))
	}
}

func flagString(t *layers.TCP) string {
	s := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{t.SYN, "S"}, {t.ACK, "A"}, {t.FIN, "F"}, {t.RST, "R"}, {t.PSH, "P"}} {
		if f.on {
			s += f.name
		}
	}
	return s
}

func tsOpt(val, ecr uint32) []byte {
	b := []byte{tcpOptNop, tcpOptNop, tcpOptTimestamp, 10, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], val)
	binary.BigEndian.PutUint32(b[8:], ecr)
	return b
}

func tsOf(t *layers.TCP) (uint32, uint32, bool) {
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps {
			return binary.BigEndian.Uint32(o.OptionData[0:]), binary.BigEndian.Uint32(o.OptionData[4:]), true
		}
	}
	return 0, 0, false
}

// conn is an established connection between the raw peer (client) and
// the stack under test (server).
type scriptConn struct {
	r        *rawPeer
	c        *TCPConn
	sport    uint16
	seq, ack uint32 // the peer's next sequence number, and what it acks
	ts       uint32
}

// handshake opens a connection from the raw peer with every option and
// checks the SYN-ACK.
func (r *rawPeer) handshake(l *TCPListener, sport uint16) *scriptConn {
	r.t.Helper()
	syn := []byte{tcpOptMSS, 4, 0x05, 0xb4, tcpOptSACKPerm, 2, tcpOptTimestamp, 10, 0, 0, 0, 100, 0, 0, 0, 0, tcpOptNop, tcpOptWS, 3, 2}
	r.send(seg{sport: sport, dport: 80, seq: 1000, flags: header.TCPFlagSyn, opts: syn})
	sa := r.mustRecv("SYN-ACK")
	if !sa.SYN || !sa.ACK || sa.Ack != 1001 {
		r.t.Fatalf("got %s ack %d, want SYN-ACK acking 1001", flagString(sa), sa.Ack)
	}
	kinds := map[layers.TCPOptionKind]bool{}
	for _, o := range sa.Options {
		kinds[o.OptionType] = true
	}
	for _, k := range []layers.TCPOptionKind{layers.TCPOptionKindMSS, layers.TCPOptionKindWindowScale, layers.TCPOptionKindSACKPermitted, layers.TCPOptionKindTimestamps} {
		if !kinds[k] {
			r.t.Fatalf("SYN-ACK lacks option %v", k)
		}
	}
	if _, ecr, _ := tsOf(sa); ecr != 100 {
		r.t.Fatalf("SYN-ACK echoes timestamp %d, want 100", ecr)
	}
	sc := &scriptConn{r: r, sport: sport, seq: 1001, ack: sa.Seq + 1, ts: 200}
	sc.sendACK()
	l.SetDeadline(time.Now().Add(-time.Second))
	c, err := l.AcceptTCP()
	if err != nil {
		r.t.Fatalf("accept after handshake: %v", err)
	}
	sc.c = c
	return sc
}

func (sc *scriptConn) send(flags uint8, payload []byte) {
	sc.ts++
	sc.r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: flags, opts: tsOpt(sc.ts, 1), payload: payload})
}

func (sc *scriptConn) sendACK() { sc.send(header.TCPFlagAck, nil) }

func scriptSetup(t *testing.T) (*rawPeer, *TCPListener) {
	r := newRawPeer(t, Config{TCP: TCPConfig{RecvBuffer: 64 << 10, RTOMin: 5 * time.Millisecond, RTOInitial: 20 * time.Millisecond,
		DelayedAck: time.Millisecond, MSL: 10 * time.Millisecond}})
	l, err := r.dut.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return r, l
}

func TestScriptOutOfWindow(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40000)
	// Data beyond the window is dropped and answered with a duplicate ACK.
	far := sc.seq + 1<<30
	r.send(seg{sport: sc.sport, dport: 80, seq: far, ack: sc.ack, flags: header.TCPFlagAck, opts: tsOpt(300, 1), payload: []byte("far away")})
	a := r.mustRecv("dup ACK for out-of-window data")
	if !a.ACK || a.Ack != sc.seq || len(a.Payload) != 0 {
		t.Fatalf("got %s ack %d, want ACK of %d", flagString(a), a.Ack, sc.seq)
	}
	if got := r.dut.Counters()[TCPDropWindow]; got != 1 {
		t.Fatalf("drop_tcp_window = %d, want 1", got)
	}
	// In-window data is delivered and acknowledged.
	sc.send(header.TCPFlagAck|header.TCPFlagPsh, []byte("hello"))
	sc.seq += 5
	a = r.mustRecv("ACK for data")
	if a.Ack != sc.seq {
		t.Fatalf("ack %d, want %d", a.Ack, sc.seq)
	}
	buf := make([]byte, 16)
	n, err := sc.c.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read %q %v", buf[:n], err)
	}
	// Old timestamps fail PAWS.
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, opts: tsOpt(1, 1), payload: []byte("old")})
	r.mustRecv("ACK after PAWS drop")
	if got := r.dut.Counters()[TCPDropPAWS]; got != 1 {
		t.Fatalf("drop_tcp_paws = %d, want 1", got)
	}
}

func TestScriptRSTAndChallengeACK(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40001)
	// RST in the window but not at rcvNxt: challenge ACK (RFC 5961 3.2).
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq + 100, flags: header.TCPFlagRst})
	a := r.mustRecv("challenge ACK")
	if a.RST || !a.ACK || a.Ack != sc.seq {
		t.Fatalf("got %s ack %d, want challenge ACK of %d", flagString(a), a.Ack, sc.seq)
	}
	// SYN on an established connection: challenge ACK (RFC 5961 4.2).
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq + 5, flags: header.TCPFlagSyn, opts: tsOpt(400, 0)})
	a = r.mustRecv("challenge ACK for SYN")
	if a.SYN || a.RST || a.Ack != sc.seq {
		t.Fatalf("got %s ack %d, want challenge ACK of %d", flagString(a), a.Ack, sc.seq)
	}
	if got := r.dut.Counters()[TCPChallengeAcks]; got != 2 {
		t.Fatalf("tcp_challenge_acks = %d, want 2", got)
	}
	// RST at exactly rcvNxt resets the connection.
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, flags: header.TCPFlagRst})
	sc.c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := sc.c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after RST: %v, want ECONNRESET", err)
	}
	if r.dut.sn[0].tcp.len() != 0 {
		t.Fatal("connection still in the flow table after RST")
	}
	// Anything further gets an RST from the closed port... of a listener:
	// a bare ACK for no connection.
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck})
	a = r.mustRecv("RST for no connection")
	if !a.RST || a.Seq != sc.ack {
		t.Fatalf("got %s seq %d, want RST with seq %d", flagString(a), a.Seq, sc.ack)
	}
}

func TestScriptRetransmitAfterDrop(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40002)
	if _, err := sc.c.Write([]byte("retransmit me")); err != nil {
		t.Fatal(err)
	}
	first := r.mustRecv("data")
	if string(first.Payload) != "retransmit me" {
		t.Fatalf("payload %q", first.Payload)
	}
	// The peer "loses" it: no ACK. The RTO resends the same bytes.
	again := r.mustRecv("retransmission")
	if again.Seq != first.Seq || string(again.Payload) != "retransmit me" {
		t.Fatalf("retransmission seq %d payload %q, want seq %d same payload", again.Seq, again.Payload, first.Seq)
	}
	if r.dut.Counters()[TCPTimeouts] == 0 || r.dut.Counters()[TCPRetransmits] == 0 {
		t.Fatal("timeout and retransmission not counted")
	}
	sc.ack = first.Seq + uint32(len(first.Payload))
	sc.sendACK()
	r.expectNothing("after the ACK", 50*time.Millisecond)
}

func TestScriptZeroWindow(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40003)
	// The peer closes its window.
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, wnd: 0xdead, opts: tsOpt(500, 1)})
	sc.c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := sc.c.Write([]byte("waiting")); err != nil {
		t.Fatal(err)
	}
	probe := r.mustRecv("zero-window probe")
	if len(probe.Payload) != 0 || probe.Seq != sc.ack-1 {
		t.Fatalf("probe seq %d len %d, want seq %d and no data", probe.Seq, len(probe.Payload), sc.ack-1)
	}
	// Window update: the data flows.
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, wnd: 1000, opts: tsOpt(501, 1)})
	d := r.mustRecv("data after the window opened")
	for len(d.Payload) == 0 {
		d = r.mustRecv("data after the window opened")
	}
	if string(d.Payload) != "waiting" || d.Seq != sc.ack {
		t.Fatalf("got seq %d payload %q, want seq %d %q", d.Seq, d.Payload, sc.ack, "waiting")
	}
}

func TestScriptReceiveWindowUpdate(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40004)
	// Fill most of the receive buffer without reading.
	chunk := make([]byte, 1400)
	var last *layers.TCP
	rcvBuf := r.dut.cfg.TCP.RecvBuffer
	for sent := 0; sent < rcvBuf-2*1400; sent += len(chunk) {
		sc.send(header.TCPFlagAck, chunk)
		sc.seq += uint32(len(chunk))
		if a := r.recv(time.Millisecond); a != nil {
			last = a
		}
	}
	if last == nil {
		t.Fatal("no ACKs while filling the buffer")
	}
	for a := r.recv(5 * time.Millisecond); a != nil; a = r.recv(5 * time.Millisecond) {
		last = a
	}
	shift := sc.c.rcvShift
	wndBefore := int(last.Window) << shift
	if wndBefore > rcvBuf/2 {
		t.Fatalf("advertised window %d while the buffer is nearly full", wndBefore)
	}
	// The application reads: a window update follows.
	buf := make([]byte, rcvBuf)
	n, _ := io.ReadAtLeast(sc.c, buf, rcvBuf-3*1400)
	if n == 0 {
		t.Fatal("read nothing")
	}
	upd := r.mustRecv("window update")
	if int(upd.Window)<<shift <= wndBefore || upd.Ack != sc.seq {
		t.Fatalf("window update %d (ack %d), want more than %d (ack %d)", int(upd.Window)<<shift, upd.Ack, wndBefore, sc.seq)
	}
}

func TestScriptFINStates(t *testing.T) {
	r, l := scriptSetup(t)
	// Passive close: the peer's FIN -> CLOSE-WAIT -> our FIN -> LAST-ACK.
	sc := r.handshake(l, 40005)
	sc.send(header.TCPFlagAck|header.TCPFlagFin, nil)
	sc.seq++
	a := r.mustRecv("ACK of FIN")
	if a.Ack != sc.seq {
		t.Fatalf("ack %d, want %d", a.Ack, sc.seq)
	}
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; st != tcpCloseWait {
		t.Fatalf("state %v, want CLOSE-WAIT", st)
	}
	if _, err := sc.c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read: %v, want EOF", err)
	}
	sc.c.Close()
	r.poll()
	fin := r.mustRecv("our FIN")
	if !fin.FIN {
		t.Fatalf("got %s, want FIN", flagString(fin))
	}
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; st != tcpLastAck {
		t.Fatalf("state %v, want LAST-ACK", st)
	}
	sc.ack = fin.Seq + 1
	sc.sendACK()
	if r.dut.sn[0].tcp.get(sc.c.key) != nil {
		t.Fatal("connection left after LAST-ACK was acknowledged")
	}

	// Active close, simultaneous: our FIN, then the peer's FIN before it
	// acknowledges ours: FIN-WAIT-1 -> CLOSING -> TIME-WAIT.
	sc = r.handshake(l, 40006)
	sc.c.CloseWrite()
	r.poll()
	fin = r.mustRecv("our FIN")
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; !fin.FIN || st != tcpFinWait1 {
		t.Fatalf("got %s in %v, want FIN in FIN-WAIT-1", flagString(fin), st)
	}
	sc.send(header.TCPFlagAck|header.TCPFlagFin, nil) // does not ack our FIN
	sc.seq++
	r.mustRecv("ACK of the peer's FIN")
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; st != tcpClosing {
		t.Fatalf("state %v, want CLOSING", st)
	}
	sc.ack = fin.Seq + 1
	sc.sendACK()
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; st != tcpTimeWait {
		t.Fatalf("state %v, want TIME-WAIT", st)
	}

	// Active close, ordinary: FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT, then
	// a retransmitted FIN in TIME-WAIT is acknowledged again.
	sc = r.handshake(l, 40007)
	sc.c.CloseWrite()
	r.poll()
	fin = r.mustRecv("our FIN")
	sc.ack = fin.Seq + 1
	sc.sendACK()
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; st != tcpFinWait2 {
		t.Fatalf("state %v, want FIN-WAIT-2", st)
	}
	sc.send(header.TCPFlagAck|header.TCPFlagFin, nil)
	r.mustRecv("ACK of FIN")
	if st := r.dut.sn[0].tcp.get(sc.c.key).state; st != tcpTimeWait {
		t.Fatalf("state %v, want TIME-WAIT", st)
	}
	sc.send(header.TCPFlagAck|header.TCPFlagFin, nil) // retransmitted FIN
	again := r.mustRecv("ACK of the retransmitted FIN")
	if again.Ack != sc.seq+1 {
		t.Fatalf("ack %d, want %d", again.Ack, sc.seq+1)
	}
	// TIME-WAIT reuse: a new SYN with a higher sequence number opens a
	// new connection at once (RFC 6191).
	syn := []byte{tcpOptMSS, 4, 0x05, 0xb4, tcpOptSACKPerm, 2, tcpOptTimestamp, 10, 0, 0, 0x10, 0, 0, 0, 0, 0}
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq + 100000, flags: header.TCPFlagSyn, opts: syn})
	sa := r.mustRecv("SYN-ACK on TIME-WAIT reuse")
	if !sa.SYN || !sa.ACK || sa.Ack != sc.seq+100001 {
		t.Fatalf("got %s ack %d, want SYN-ACK acking %d", flagString(sa), sa.Ack, sc.seq+100001)
	}
	// TIME-WAIT expires and the table empties.
	time.Sleep(30 * time.Millisecond)
	r.poll()
	for k, c := range r.dut.sn[0].tcp.v4 {
		if c.state == tcpTimeWait {
			t.Fatalf("connection %v still in TIME-WAIT after 2*MSL", k)
		}
	}
}
