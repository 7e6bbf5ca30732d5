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
