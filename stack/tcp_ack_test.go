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
