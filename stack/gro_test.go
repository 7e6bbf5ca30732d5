package stack

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// groSeg is one segment of a coalescing case: n payload bytes at offset
// off of the stream, with the connection's timestamp, acknowledgment and
// window unless it says otherwise.
type groSeg struct {
	off, n int
	flags  uint8  // besides ACK
	ts     uint32 // added to the connection's timestamp value
	ack    uint32 // added to the connection's acknowledgment
	wnd    uint16 // 0: 65535
}

// TestCoalesce sends bursts crafted against each of the coalescing rules
// (gro.go) and checks how many segments were chained (tcp_rx_coalesced),
// that the reader gets the stream whole and in order, and that the stack
// acknowledges all of it: coalescing may only ever change how much work
// TCP input does, never what it delivers.
func TestCoalesce(t *testing.T) {
	const psh, fin, cwr = header.TCPFlagPsh, header.TCPFlagFin, header.TCPFlagCwr
	run := func(n, size int) []groSeg {
		s := make([]groSeg, n)
		for i := range s {
			s[i] = groSeg{off: i * size, n: size}
		}
		return s
	}
	for _, tc := range []struct {
		name      string
		first     []groSeg // sent before, each alone
		burst     []groSeg // then these in one burst
		coalesced uint64
		off       bool // TCPConfig.NoCoalesce
	}{
		{name: "in-order", burst: run(8, 100), coalesced: 7},
		{name: "off", burst: run(8, 100), off: true},
		{name: "psh-ends-chain", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {100, 100, psh, 0, 0, 0}, {200, 100, 0, 0, 0, 0}, {300, 100, 0, 0, 0, 0}}, coalesced: 2},
		{name: "fin-joins-last", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {100, 100, 0, 0, 0, 0}, {200, 50, fin, 0, 0, 0}}, coalesced: 2},
		{name: "fin-cannot-start", burst: []groSeg{{0, 100, fin, 0, 0, 0}}},
		{name: "psh-cannot-start", burst: []groSeg{{0, 100, psh, 0, 0, 0}, {100, 100, 0, 0, 0, 0}, {200, 100, 0, 0, 0, 0}}, coalesced: 1},
		{name: "short-ends-chain", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {100, 60, 0, 0, 0, 0}, {160, 60, 0, 0, 0, 0}}, coalesced: 1},
		{name: "longer-cannot-join", burst: []groSeg{{0, 60, 0, 0, 0, 0}, {60, 100, 0, 0, 0, 0}}},
		{name: "timestamps-differ", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {100, 100, 0, 1, 0, 0}, {200, 100, 0, 2, 0, 0}}},
		{name: "acks-differ", burst: []groSeg{{0, 100, 0, 0, ^uint32(0), 0}, {100, 100, 0, 0, 0, 0}}},
		{name: "windows-differ", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {100, 100, 0, 0, 0, 60000}}},
		{name: "cwr-cannot-join", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {100, 100, cwr, 0, 0, 0}, {200, 100, cwr, 0, 0, 0}}},
		{name: "gap-in-burst", burst: []groSeg{{0, 100, 0, 0, 0, 0}, {200, 100, 0, 0, 0, 0}, {300, 100, 0, 0, 0, 0}, {100, 100, 0, 0, 0, 0}}, coalesced: 1},
		{name: "chain-ahead-of-hole", burst: []groSeg{{100, 100, 0, 0, 0, 0}, {200, 100, 0, 0, 0, 0}, {300, 100, 0, 0, 0, 0}, {0, 100, 0, 0, 0, 0}}, coalesced: 2},
		{name: "chain-overlaps-received", first: []groSeg{{0, 100, 0, 0, 0, 0}}, burst: run(4, 100), coalesced: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRawPeer(t, Config{TCP: TCPConfig{RecvBuffer: 64 << 10, RTOMin: 5 * time.Millisecond, RTOInitial: 20 * time.Millisecond,
				DelayedAck: time.Millisecond, MSL: 10 * time.Millisecond, NoCoalesce: tc.off}})
			l, err := r.dut.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
			if err != nil {
				t.Fatal(err)
			}
			sc := r.handshake(l, 40000)
			total, finAt := 0, -1
			build := func(gs []groSeg) []seg {
				var out []seg
				for _, g := range gs {
					p := make([]byte, g.n)
					for i := range p {
						p[i] = byte((g.off + i) % 251)
					}
					w := g.wnd
					if w == 0 {
						w = 65535
					}
					out = append(out, seg{sport: sc.sport, dport: 80, seq: sc.seq + uint32(g.off), ack: sc.ack + g.ack,
						flags: header.TCPFlagAck | g.flags, wnd: w, opts: tsOpt(sc.ts+1+g.ts, 1), payload: p})
					total = max(total, g.off+g.n)
					if g.flags&fin != 0 {
						finAt = g.off + g.n
					}
				}
				return out
			}
			for _, s := range build(tc.first) {
				r.send(s)
			}
			before := r.dut.Counters()[TCPRxCoalesced]
			r.sendBurst(build(tc.burst)...)
			if got := r.dut.Counters()[TCPRxCoalesced] - before; got != tc.coalesced {
				t.Errorf("tcp_rx_coalesced %d, want %d", got, tc.coalesced)
			}
			want := sc.seq + uint32(total)
			if finAt >= 0 {
				want++
			}
			if got := r.highestAck(want, 2*time.Second); got != want {
				t.Fatalf("acknowledged up to %d, want %d (the whole burst)", got, want)
			}
			readStream(t, sc.c, total)
			if finAt >= 0 {
				if n, err := sc.c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("after the FIN: read %d, %v; want EOF", n, err)
				}
			}
		})
	}
}

// TestCoalesceTwoConns: segments of two connections taking turns in a
// burst are never chained across connections, and each stream arrives
// whole.
func TestCoalesceTwoConns(t *testing.T) {
	r, l := scriptSetup(t)
	a, b := r.handshake(l, 40000), r.handshake(l, 40001)
	var burst []seg
	for i := 0; i < 4; i++ {
		for _, sc := range []*scriptConn{a, b} {
			p := bytes.Repeat([]byte{byte(sc.sport)}, 100)
			burst = append(burst, seg{sport: sc.sport, dport: 80, seq: sc.seq + uint32(i*100), ack: sc.ack,
				flags: header.TCPFlagAck, opts: tsOpt(sc.ts+1, 1), payload: p})
		}
	}
	before := r.dut.Counters()[TCPRxCoalesced]
	r.sendBurst(burst...)
	if got := r.dut.Counters()[TCPRxCoalesced] - before; got != 0 {
		t.Errorf("tcp_rx_coalesced %d for two connections taking turns, want 0", got)
	}
	for _, sc := range []*scriptConn{a, b} {
		sc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		got := make([]byte, 400)
		if _, err := io.ReadFull(sc.c, got); err != nil {
			t.Fatal(err)
		}
		if want := bytes.Repeat([]byte{byte(sc.sport)}, 400); !bytes.Equal(got, want) {
			t.Fatalf("port %d: stream mixed up", sc.sport)
		}
	}
}

// highestAck reads everything the stack sends until one segment
// acknowledges want or the wait ends, and returns the highest
// acknowledgment seen.
func (r *rawPeer) highestAck(want uint32, wait time.Duration) uint32 {
	var high uint32
	buf := make([]*driver.Packet, 32)
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		r.poll()
		n := r.port.RxBurst(0, buf)
		for _, pk := range buf[:n] {
			data := append([]byte(nil), pk.Data()...)
			r.port.Pool(0).Put(pk)
			if a := r.handle(data); a != nil && a.ACK && seqGT(a.Ack, high) {
				high = a.Ack
			}
		}
		if high == want {
			break
		}
		if n == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	return high
}

// FuzzCoalesce sends a burst of up to 16 data segments drawn from the
// plan (offset, length and a PSH, timestamp or window change for each)
// in one receive burst, then the whole stream once more to fill what the
// burst left out, and checks that the reader gets exactly the stream: with
// coalescing on and off alike, whatever chains the burst made.
func FuzzCoalesce(f *testing.F) {
	f.Add([]byte{0, 100, 0, 100, 100, 0, 200, 100, 0}, false)             // in order
	f.Add([]byte{100, 100, 0, 0, 100, 0, 50, 100, 0}, false)              // overlaps and a hole
	f.Add([]byte{0, 100, 1, 100, 100, 2, 200, 50, 4, 250, 100, 0}, false) // PSH, timestamps, windows
	f.Add([]byte{0, 100, 0, 100, 100, 0}, true)                           // coalescing off
	f.Fuzz(func(t *testing.T, plan []byte, off bool) {
		r := newRawPeer(t, Config{TCP: TCPConfig{RecvBuffer: 64 << 10, RTOMin: 5 * time.Millisecond, RTOInitial: 20 * time.Millisecond,
			DelayedAck: time.Millisecond, MSL: 10 * time.Millisecond, NoCoalesce: off}})
		l, err := r.dut.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
		if err != nil {
			t.Fatal(err)
		}
		sc := r.handshake(l, 40000)
		mk := func(o, n int, flags uint8, ts uint32, wnd uint16) seg {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte((o + i) % 251)
			}
			return seg{sport: sc.sport, dport: 80, seq: sc.seq + uint32(o), ack: sc.ack, flags: header.TCPFlagAck | flags,
				wnd: wnd, opts: tsOpt(sc.ts+1+ts, 1), payload: p}
		}
		var burst []seg
		total := 1
		for i := 0; i+2 < len(plan) && len(burst) < 16; i += 3 {
			o, n, how := int(plan[i])*4, 1+int(plan[i+1])*5, plan[i+2]
			var flags uint8
			if how&1 != 0 {
				flags = header.TCPFlagPsh
			}
			wnd := uint16(65535)
			if how&4 != 0 {
				wnd = 60000
			}
			burst = append(burst, mk(o, n, flags, uint32(how>>1&1), wnd))
			total = max(total, o+n)
		}
		if len(burst) > 0 {
			r.sendBurst(burst...)
		}
		for o := 0; o < total; o += 1000 { // fill every hole (timestamps as new as any)
			r.send(mk(o, min(1000, total-o), header.TCPFlagPsh, 2, 65535))
		}
		if got := r.highestAck(sc.seq+uint32(total), 2*time.Second); got != sc.seq+uint32(total) {
			t.Fatalf("acknowledged up to %d, want %d", got, sc.seq+uint32(total))
		}
		readStream(t, sc.c, total)
		sc.c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if n, _ := sc.c.Read(make([]byte, 1)); n != 0 {
			t.Fatalf("%d bytes more than the stream", n)
		}
		if off && r.dut.Counters()[TCPRxCoalesced] != 0 {
			t.Fatal("segments coalesced with coalescing off")
		}
	})
}

// readStream reads total bytes from c and checks them against the test
// stream (byte i is i % 251).
func readStream(t *testing.T, c *TCPConn, total int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %d bytes: %v", total, err)
	}
	for i := range got {
		if got[i] != byte(i%251) {
			t.Fatalf("byte %d is %d, want %d", i, got[i], i%251)
		}
	}
}
