package stack

import (
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack/header"
)

// TestScriptOneAckPerBurst: ten full segments of one flow arriving in one
// receive burst are acknowledged by one ACK, for all ten, sent at the end
// of the burst (RFC 5681's every-second-segment rule applied per burst,
// as Linux's GRO does); two bursts get two.
func TestScriptOneAckPerBurst(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40300)
	chunk := make([]byte, 1000)
	for burst := 0; burst < 2; burst++ {
		var segs []seg
		for i := 0; i < 10; i++ {
			sc.ts++
			segs = append(segs, seg{sport: sc.sport, dport: 80, seq: sc.seq, ack: sc.ack, flags: header.TCPFlagAck, opts: tsOpt(sc.ts, 1), payload: chunk})
			sc.seq += uint32(len(chunk))
		}
		r.sendBurst(segs...)
		var acks []uint32
		for s := r.recv(2 * time.Millisecond); s != nil; s = r.recv(2 * time.Millisecond) {
			if s.ACK && len(s.Payload) == 0 {
				acks = append(acks, s.Ack)
			}
		}
		if len(acks) != 1 || acks[0] != sc.seq {
			t.Fatalf("burst %d: ACKs %v, want one acknowledging %d", burst, acks, sc.seq)
		}
	}
}

// TestScriptRetransmissionAfterCloseIsNotReset: after the application read
// everything and closed, a retransmission of data it already read (the
// ACK was late) is acknowledged; only new data, which nobody will read,
// gets the reset. (TestTCPShortConnections saw resets under load.)
func TestScriptRetransmissionAfterCloseIsNotReset(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40400)
	sc.send(header.TCPFlagAck|header.TCPFlagPsh, []byte("abc"))
	old := sc.seq
	sc.seq += 3
	buf := make([]byte, 3)
	if n, err := sc.c.Read(buf); n != 3 || err != nil {
		t.Fatalf("Read %d %v", n, err)
	}
	sc.c.Close()
	for s := r.recv(5 * time.Millisecond); s != nil; s = r.recv(5 * time.Millisecond) {
		if s.RST {
			t.Fatal("RST on close after reading everything")
		}
		if s.FIN {
			sc.ack = s.Seq + 1
		}
	}
	// The same bytes again with the peer's FIN (its first FIN was lost,
	// so it sends data and FIN together): the FIN is taken and
	// acknowledged, no reset.
	sc.ts++
	r.send(seg{sport: sc.sport, dport: 80, seq: old, ack: sc.ack, flags: header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin, opts: tsOpt(sc.ts, 1), payload: []byte("abc")})
	a := r.mustRecv("ACK of the retransmission and FIN")
	if a.RST || a.Ack != sc.seq+1 {
		t.Fatalf("got %s ack %d, want a plain ACK of %d (data and FIN)", flagString(a), a.Ack, sc.seq+1)
	}
}

// TestScriptNewDataAfterCloseIsReset: new data for a connection whose
// application closed is answered with a reset (nobody will read it).
func TestScriptNewDataAfterCloseIsReset(t *testing.T) {
	r, l := scriptSetup(t)
	sc := r.handshake(l, 40401)
	sc.c.Close()
	for s := r.recv(5 * time.Millisecond); s != nil; s = r.recv(5 * time.Millisecond) {
		if s.FIN {
			sc.ack = s.Seq + 1
		}
	}
	sc.send(header.TCPFlagAck|header.TCPFlagPsh, []byte("def"))
	if rst := r.mustRecv("RST for new data after close"); !rst.RST {
		t.Fatalf("got %s, want RST", flagString(rst))
	}
	if got := r.dut.Counters()[TCPDropAfterClose]; got != 1 {
		t.Fatalf("drop_tcp_after_close = %d, want 1", got)
	}
}
