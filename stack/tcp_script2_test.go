package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/stack/header"
)

// TestScriptSynCookies fills a backlog of one, then checks that a second
// handshake completes through a SYN cookie with no state kept for it in
// between, keeps its options, and that a forged cookie is refused.
func TestScriptSynCookies(t *testing.T) {
	r := newRawPeer(t, Config{TCP: TCPConfig{RTOMin: 5 * time.Millisecond, RTOInitial: 20 * time.Millisecond}})
	l, err := r.dut.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	if err != nil {
		t.Fatal(err)
	}
	first := r.handshake(l, 42000) // accepted: pending drops back to 0
	_ = first
	// Fill the backlog with one completed, unaccepted connection.
	syn := []byte{tcpOptMSS, 4, 0x05, 0xb4, tcpOptSACKPerm, 2, tcpOptTimestamp, 10, 0, 0, 0, 100, 0, 0, 0, 0, tcpOptNop, tcpOptWS, 3, 2}
	r.send(seg{sport: 42001, dport: 80, seq: 5000, flags: header.TCPFlagSyn, opts: syn})
	sa := r.mustRecv("SYN-ACK 1")
	r.send(seg{sport: 42001, dport: 80, seq: 5001, ack: sa.Seq + 1, flags: header.TCPFlagAck, opts: tsOpt(101, tsVal(sa))})
	if got := l.pending.Load(); got != 1 {
		t.Fatalf("pending = %d, want 1 (backlog full)", got)
	}
	tables := r.dut.sn[0].tcp.len()
	// The next SYN gets a cookie and no state.
	r.send(seg{sport: 42002, dport: 80, seq: 9000, flags: header.TCPFlagSyn, opts: syn})
	sa = r.mustRecv("SYN-ACK with cookie")
	if !sa.SYN || !sa.ACK || sa.Ack != 9001 {
		t.Fatalf("got %s ack %d, want SYN-ACK of 9001", flagString(sa), sa.Ack)
	}
	if got := r.dut.sn[0].tcp.len(); got != tables {
		t.Fatalf("flow table grew from %d to %d for a cookie SYN", tables, got)
	}
	if got := r.dut.Counters()[TCPSynCookiesSent]; got != 1 {
		t.Fatalf("tcp_syncookies_sent = %d, want 1", got)
	}
	// The cookie's timestamp is never ahead of the stack's clock: the
	// connection's later segments carry the clock, and a peer would drop
	// them as older (PAWS) than the SYN-ACK's.
	key := flowKey{laddr: mapped4(r.dip), raddr: mapped4(r.ip), lport: 80, rport: 42002}
	if now := r.dut.ts.at(r.dut.sn[0].now, r.dut.ts.offset(key)); int32(tsVal(sa)-now) > 0 {
		t.Fatalf("cookie SYN-ACK TSval %d is ahead of the clock %d", tsVal(sa), now)
	}
	// A forged cookie: RST, nothing created.
	r.send(seg{sport: 42003, dport: 80, seq: 7001, ack: 12345, flags: header.TCPFlagAck, opts: tsOpt(102, tsVal(sa))})
	if rst := r.mustRecv("RST for a forged cookie"); !rst.RST {
		t.Fatalf("got %s, want RST", flagString(rst))
	}
	if got := r.dut.Counters()[TCPSynCookiesInvalid]; got != 1 {
		t.Fatalf("tcp_syncookies_invalid = %d, want 1", got)
	}
	// The real ACK rebuilds the connection, with data on it.
	r.send(seg{sport: 42002, dport: 80, seq: 9001, ack: sa.Seq + 1, flags: header.TCPFlagAck | header.TCPFlagPsh,
		opts: tsOpt(103, tsVal(sa)), payload: []byte("cookie data")})
	if got := r.dut.Counters()[TCPSynCookiesValid]; got != 1 {
		t.Fatalf("tcp_syncookies_valid = %d, want 1", got)
	}
	ack := r.mustRecv("ACK of data on the cookie connection")
	if ack.Ack != 9001+11 {
		t.Fatalf("ack %d, want %d", ack.Ack, 9001+11)
	}
	l.SetDeadline(time.Now().Add(-time.Second))
	var got []*TCPConn
	for c, err := l.AcceptTCP(); err == nil; c, err = l.AcceptTCP() {
		got = append(got, c)
	}
	if len(got) != 2 {
		t.Fatalf("accepted %d connections, want 2", len(got))
	}
	cc := got[1]
	if !cc.tsOK || !cc.sackOK || !cc.wsOK || cc.mss != 1448 {
		t.Fatalf("cookie connection: ts %v sack %v ws %v mss %d; want the options back and mss 1448", cc.tsOK, cc.sackOK, cc.wsOK, cc.mss)
	}
	buf := make([]byte, 32)
	n, err := cc.Read(buf)
	if err != nil || string(buf[:n]) != "cookie data" {
		t.Fatalf("Read %q %v", buf[:n], err)
	}
}

func tsVal(t *layers.TCP) uint32 {
	v, _, _ := tsOf(t)
	return v
}

// TestScriptKeepAlive: an idle connection is probed; a peer that answers
// keeps it, a silent one gets it reset.
func TestScriptKeepAlive(t *testing.T) {
	r := newRawPeer(t, Config{TCP: TCPConfig{KeepAlive: 20 * time.Millisecond, KeepAliveInterval: 10 * time.Millisecond, KeepAliveProbes: 2}})
	l, err := r.dut.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
	if err != nil {
		t.Fatal(err)
	}
	sc := r.handshake(l, 43000)
	probe := r.mustRecv("keepalive probe")
	if probe.Seq != sc.ack-1 || len(probe.Payload) != 0 {
		t.Fatalf("probe seq %d len %d, want %d and no data", probe.Seq, len(probe.Payload), sc.ack-1)
	}
	sc.sendACK() // the peer is alive
	r.mustRecv("next keepalive probe after idling again")
	// Now silence: probes, then a reset.
	var rst *layers.TCP
	for i := 0; i < 5 && rst == nil; i++ {
		if s := r.mustRecv("probe or reset"); s.RST {
			rst = s
		}
	}
	if rst == nil {
		t.Fatal("silent peer never reset")
	}
	if got := r.dut.Counters()[TCPKeepAliveDrops]; got != 1 {
		t.Fatalf("tcp_keepalive_drops = %d, want 1", got)
	}
	sc.c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := sc.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read on a connection keepalive reset succeeded")
	}
}

// TestScriptSimultaneousOpen: the stack's SYN crosses the peer's SYN; both
// sides answer with SYN-ACK and the connection opens (RFC 9293 figure 8).
func TestScriptSimultaneousOpen(t *testing.T) {
	r := newRawPeer(t, Config{TCP: TCPConfig{RTOMin: 5 * time.Millisecond, RTOInitial: 50 * time.Millisecond}})
	c, err := r.dut.DialTCP(t.Context(), netip.AddrPort{}, netip.AddrPortFrom(netip.AddrFrom4(r.ip), 9999))
	if err != nil {
		t.Fatal(err)
	}
	syn := r.mustRecv("the stack's SYN")
	if !syn.SYN || syn.ACK {
		t.Fatalf("got %s, want SYN", flagString(syn))
	}
	// The peer's own SYN, as if it opened at the same time.
	r.send(seg{sport: 9999, dport: uint16(syn.SrcPort), seq: 7000, flags: header.TCPFlagSyn,
		opts: []byte{tcpOptMSS, 4, 0x05, 0xb4}})
	sa := r.mustRecv("SYN-ACK in SYN-RECEIVED")
	if !sa.SYN || !sa.ACK || sa.Seq != syn.Seq || sa.Ack != 7001 {
		t.Fatalf("got %s seq %d ack %d, want SYN-ACK seq %d ack 7001", flagString(sa), sa.Seq, sa.Ack, syn.Seq)
	}
	// The peer's SYN-ACK completes it.
	r.send(seg{sport: 9999, dport: uint16(syn.SrcPort), seq: 7000, ack: syn.Seq + 1, flags: header.TCPFlagSyn | header.TCPFlagAck,
		opts: []byte{tcpOptMSS, 4, 0x05, 0xb4}})
	r.poll()
	if !c.Established() {
		t.Fatalf("not established after the crossing handshake (state %v)", c.state)
	}
	c.Write([]byte("simultaneous"))
	d := r.mustRecv("data")
	for len(d.Payload) == 0 {
		d = r.mustRecv("data")
	}
	if string(d.Payload) != "simultaneous" || d.Ack != 7001 {
		t.Fatalf("got %q ack %d", d.Payload, d.Ack)
	}
}

// TestScriptSynCookieBudget: past the softnet's cookie budget for the
// second, SYNs are dropped (the first one in the listener, the rest as
// they arrive, unread), counted, and an established connection goes on.
func TestScriptSynCookieBudget(t *testing.T) {
	r := newRawPeer(t, Config{TCP: TCPConfig{RTOMin: 5 * time.Millisecond, RTOInitial: 20 * time.Millisecond, SynCookieBudget: 2}})
	l, err := r.dut.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	if err != nil {
		t.Fatal(err)
	}
	sc := r.handshake(l, 43000) // accepted
	syn := []byte{tcpOptMSS, 4, 0x05, 0xb4}
	r.send(seg{sport: 43001, dport: 80, seq: 5000, flags: header.TCPFlagSyn, opts: syn})
	sa := r.mustRecv("SYN-ACK")
	r.send(seg{sport: 43001, dport: 80, seq: 5001, ack: sa.Seq + 1, flags: header.TCPFlagAck}) // fills the backlog
	// The budget is per second of the stack's clock: start early in one.
	if into := time.Duration(r.dut.now() % int64(time.Second)); into > 700*time.Millisecond {
		time.Sleep(time.Second - into + 10*time.Millisecond)
	}
	cookies := 0
	for i := 0; i < 6; i++ {
		r.send(seg{sport: uint16(44000 + i), dport: 80, seq: 9000, flags: header.TCPFlagSyn, opts: syn})
		if s := r.recv(5 * time.Millisecond); s != nil && s.SYN && s.ACK {
			cookies++
		}
	}
	c := r.dut.Counters()
	if cookies != 2 || c[TCPSynCookiesSent] != 2 || c[TCPDropSynFlood] != 4 {
		t.Fatalf("%d cookie SYN-ACKs, tcp_syncookies_sent %d, drop_tcp_syn_flood %d; want 2, 2, 4",
			cookies, c[TCPSynCookiesSent], c[TCPDropSynFlood])
	}
	// The established connection is untouched.
	sc.send(header.TCPFlagAck|header.TCPFlagPsh, []byte("still here"))
	sc.seq += 10
	if a := r.mustRecv("ACK of data"); a.Ack != sc.seq {
		t.Fatalf("ack %d, want %d", a.Ack, sc.seq)
	}
}
