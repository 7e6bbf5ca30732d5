package stack

import (
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack/header"
)

// FuzzTCPSegment feeds arbitrary segments (flags, sequence and
// acknowledgment numbers relative to the connection, window, options and
// payload) to an established connection. Nothing may panic and the
// connection's invariants must hold after every segment.
func FuzzTCPSegment(f *testing.F) {
	f.Add(uint8(header.TCPFlagAck), int32(0), int32(0), uint16(1000), []byte{}, []byte("data"))                                // in-order data
	f.Add(uint8(header.TCPFlagAck), int32(5000), int32(0), uint16(1000), []byte{}, []byte("later"))                            // out of order
	f.Add(uint8(header.TCPFlagRst), int32(0), int32(0), uint16(0), []byte{}, []byte{})                                         // exact RST
	f.Add(uint8(header.TCPFlagSyn), int32(3), int32(0), uint16(0), []byte{2, 4, 5, 180}, []byte{})                             // SYN in ESTABLISHED
	f.Add(uint8(header.TCPFlagAck|header.TCPFlagFin), int32(0), int32(0), uint16(9), []byte{}, []byte{})                       // FIN
	f.Add(uint8(header.TCPFlagAck), int32(0), int32(100000), uint16(1), []byte{5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, []byte{})       // SACK, ack of unsent
	f.Add(uint8(header.TCPFlagAck), int32(0), int32(0), uint16(1), []byte{8, 10, 255, 255, 255, 255, 0, 0, 0, 0}, []byte("x")) // timestamps
	f.Fuzz(func(t *testing.T, flags uint8, seqOff, ackOff int32, wnd uint16, opts, payload []byte) {
		if len(opts) > 40 {
			opts = opts[:40]
		}
		if len(payload) > 1400 {
			payload = payload[:1400]
		}
		r, l := scriptSetup(t)
		sc := r.handshake(l, 41000)
		sc.c.Write([]byte("some data in flight"))
		r.poll()
		c := r.dut.sn[0].tcp.get(sc.c.key)
		r.send(seg{sport: sc.sport, dport: 80, seq: sc.seq + uint32(seqOff), ack: sc.ack + uint32(ackOff), flags: flags, wnd: wnd | 1, opts: opts, payload: payload})
		r.poll()
		checkTCPInvariants(t, c)
		// The connection still works or ended cleanly.
		sc.send(header.TCPFlagAck, nil)
		checkTCPInvariants(t, c)
		buf := make([]byte, 2048)
		sc.c.SetReadDeadline(time.Now().Add(-time.Second))
		sc.c.Read(buf)
		sc.c.Close()
		r.poll()
	})
}

func checkTCPInvariants(t *testing.T, c *TCPConn) {
	t.Helper()
	if c.state == tcpClosed {
		if !c.removed || c.sndHead != nil || len(c.ooo) != 0 {
			t.Fatalf("closed connection still holds buffers")
		}
		return
	}
	if !seqLEQ(c.sndUna, c.sndNxt) || !seqLEQ(c.sndNxt, c.sndMax) {
		t.Fatalf("send sequence disorder: una %d nxt %d max %d", c.sndUna, c.sndNxt, c.sndMax)
	}
	n := 0
	for pk := c.sndHead; pk != nil; pk = pk.Next {
		n += pk.Len()
	}
	if n-c.sndHeadOff != c.sndQueued || c.sndQueued < 0 {
		t.Fatalf("send queue holds %d bytes, sndQueued says %d", n-c.sndHeadOff, c.sndQueued)
	}
	ooo := 0
	for i, o := range c.ooo {
		ooo += o.pk.Len()
		if !seqGT(o.seq, c.rcvNxt) {
			t.Fatalf("out-of-order segment %d at %d not after rcvNxt %d", i, o.seq, c.rcvNxt)
		}
		if i > 0 && !seqGT(o.seq, c.ooo[i-1].seq) {
			t.Fatalf("out-of-order queue not sorted")
		}
	}
	if ooo != c.oooBytes {
		t.Fatalf("out-of-order bytes %d, counted %d", ooo, c.oooBytes)
	}
	if seqLT(c.rcvAdv, c.rcvNxt) {
		t.Fatalf("advertised edge %d behind rcvNxt %d", c.rcvAdv, c.rcvNxt)
	}
}
