package stack

import (
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/stack/header"
)

// TestScriptZeroWindowWithDataOutstanding: the peer acknowledges part of
// the data in flight with its window closed (a shrunk window, or a scaled
// one that rounds down to zero), and the update that opens it again is
// lost. The retransmission timer must probe the window then; it used to
// send nothing (output respects the closed window), which left both sides
// waiting forever.
func TestScriptZeroWindowWithDataOutstanding(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40100)
	data := make([]byte, 3000)
	if _, err := sc.c.Write(data); err != nil {
		t.Fatal(err)
	}
	first := r.mustRecv("data")
	for len(first.Payload) == 0 {
		first = r.mustRecv("data")
	}
	for s := r.recv(5 * time.Millisecond); s != nil; s = r.recv(5 * time.Millisecond) {
	}
	una := first.Seq + uint32(len(first.Payload))
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: una, flags: header.TCPFlagAck, wnd: 0xdead, opts: tsOpt(600, 1)})
	// No window update comes: a probe must.
	var probe *layers.TCP
	for deadline := time.Now().Add(2 * time.Second); probe == nil && time.Now().Before(deadline); {
		if s := r.recv(10 * time.Millisecond); s != nil && len(s.Payload) == 0 && s.Seq == una-1 {
			probe = s
		}
	}
	if probe == nil {
		t.Fatal("no window probe while data is outstanding into a closed window")
	}
	// The answer opens the window: the data flows again.
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: una, flags: header.TCPFlagAck, wnd: 1000, opts: tsOpt(601, 1)})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if s := r.recv(10 * time.Millisecond); s != nil && len(s.Payload) > 0 {
			if s.Seq != una {
				t.Fatalf("data at seq %d, want the first unacknowledged byte %d", s.Seq, una)
			}
			return
		}
	}
	t.Fatal("no data after the window opened")
}

// TestScriptWindowUpdateAtRightEdge is the relay stall of issue 14: two
// stacks each waiting for the other's window. The peer's window update
// arrives as a pure ACK whose sequence number is its SND.MAX, the right
// edge of our receive window (it had sent data there that we dropped), or
// as a zero-window probe at RCV.NXT while our window is closed. Both were
// dropped as unacceptable, window update included, so our data waited
// for good. Both must open our send window.
func TestScriptWindowUpdateAtRightEdge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		closed bool // our receive window is closed too
	}{{"right edge", false}, {"zero-window probe", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r, l := scriptSetup(t)
			sc := r.handshake(l, 40200)
			if tc.closed {
				// Fill our receive buffer without reading.
				chunk := make([]byte, 1400)
				for i := 0; sc.c.rcvAdv != sc.c.rcvNxt; i++ {
					if i == 100 {
						t.Fatalf("receive window still open after %d segments", i)
					}
					n := min(len(chunk), int(sc.c.rcvAdv-sc.c.rcvNxt))
					sc.send(header.TCPFlagAck, chunk[:n])
					sc.seq += uint32(n)
					for s := r.recv(time.Millisecond); s != nil; s = r.recv(time.Millisecond) {
					}
				}
			}
			// The peer closes its window; our data waits.
			r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, wnd: 0xdead, opts: tsOpt(700, 1)})
			sc.c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := sc.c.Write([]byte("waiting")); err != nil {
				t.Fatal(err)
			}
			for s := r.recv(5 * time.Millisecond); s != nil; s = r.recv(5 * time.Millisecond) {
			}
			// The update: a pure ACK at our window's right edge, or a
			// probe carrying a byte at RCV.NXT into our closed window.
			edge := sc.c.rcvAdv - sc.c.rcvNxt
			upd := seg{sport: sc.sport, dport: 80, seq: sc.seq + edge, ack: sc.ack, flags: header.TCPFlagAck, wnd: 1000, opts: tsOpt(701, 1)}
			if tc.closed {
				upd.seq, upd.payload = sc.seq, []byte{'x'}
			}
			r.send(upd)
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
				if s := r.recv(10 * time.Millisecond); s != nil && len(s.Payload) > 0 {
					if string(s.Payload) != "waiting" || s.Seq != sc.ack {
						t.Fatalf("got seq %d payload %q, want seq %d %q", s.Seq, s.Payload, sc.ack, "waiting")
					}
					return
				}
			}
			t.Fatalf("the window update was dropped: no data sent (drop_tcp_window %d)", r.dut.Counters()[TCPDropWindow])
		})
	}
}

// TestScriptFastRetransmitStaysBelowSndMax: a fast retransmission resends
// only what was sent. With 1000 bytes in flight (the peer's window) and
// more queued, three duplicate ACKs used to resend a full MSS from
// sndUna: bytes never sent, past the peer's window, that the peer then
// acknowledged beyond our sndMax, so every ACK after it, window updates
// included, was dropped (a both-ways soak run stalled for good).
func TestScriptFastRetransmitStaysBelowSndMax(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40500)
	// The peer's window: 1000 bytes (its SYN's window scale is 2).
	r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, wnd: 250, opts: tsOpt(800, 1)})
	sc.c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := sc.c.Write(make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for s := r.recv(5 * time.Millisecond); s != nil; s = r.recv(5 * time.Millisecond) {
		sent += len(s.Payload)
	}
	if sent == 0 || sent > 1000 {
		t.Fatalf("sent %d bytes into a 1000-byte window", sent)
	}
	// Three duplicate ACKs: fast retransmit.
	for i := 0; i < 3; i++ {
		r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, wnd: 250, opts: tsOpt(uint32(801+i), 1)})
	}
	var rtx *layers.TCP
	for s := r.recv(5 * time.Millisecond); s != nil; s = r.recv(5 * time.Millisecond) {
		if len(s.Payload) > 0 && rtx == nil {
			rtx = s
		}
	}
	if rtx == nil {
		t.Fatal("no fast retransmission")
	}
	if rtx.Seq != sc.ack || len(rtx.Payload) > sent {
		t.Fatalf("retransmitted %d bytes at %d, want at most the %d sent at %d", len(rtx.Payload), rtx.Seq, sent, sc.ack)
	}
}
