package gate

import (
	"testing"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
)

// tcpFrame returns an IPv4 TCP frame from a to b with the given flags and
// payload length (checksums are not needed by the wire).
func tcpFrame(dst, src driver.MAC, flags uint8, payload int) []byte {
	f := make([]byte, 14+20+20+payload)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0] = 0x45
	total := 40 + payload
	ip[2], ip[3] = byte(total>>8), byte(total)
	ip[8], ip[9] = 64, 6
	copy(ip[12:16], []byte{192, 0, 2, 1})
	copy(ip[16:20], []byte{192, 0, 2, 2})
	tcp := ip[20:]
	tcp[12] = 5 << 4
	tcp[13] = flags
	return f
}

func send(t *testing.T, p driver.Port, f []byte) {
	t.Helper()
	pk := p.Pool(0).Get()
	copy(pk.Append(len(f)), f)
	if n := p.TxBurst(0, []*driver.Packet{pk}); n != 1 {
		t.Fatalf("TxBurst took %d", n)
	}
}

func recvFlags(p driver.Port) []uint8 {
	buf := make([]*driver.Packet, 32)
	var got []uint8
	n := p.RxBurst(0, buf)
	for _, pk := range buf[:n] {
		got = append(got, pk.Data()[14+20+13])
		pk.Free()
	}
	return got
}

func TestHoldAndRelease(t *testing.T) {
	a, b := twoPorts(t, memwire.Config{Name: "a"})
	g := Wrap(a)
	const ack, synack, psh = 0x10, 0x12, 0x08
	g.Hold(TCPFlags(synack, 0x17))
	send(t, g, tcpFrame(b.MAC(), a.MAC(), synack, 0))
	send(t, g, tcpFrame(b.MAC(), a.MAC(), ack, 0))
	if got := recvFlags(b); len(got) != 1 || got[0] != ack {
		t.Fatalf("received flags %v while the SYN-ACK is held, want only the ACK", got)
	}
	if g.Held() != 1 || g.Matched() != 1 {
		t.Fatalf("Held %d Matched %d, want 1 and 1", g.Held(), g.Matched())
	}
	g.Release()
	if got := recvFlags(b); len(got) != 0 {
		t.Fatalf("released frames left before the owner's next burst: %v", got)
	}
	g.RxBurst(0, make([]*driver.Packet, 4)) // the queue owner's next burst
	if got := recvFlags(b); len(got) != 1 || got[0] != synack {
		t.Fatalf("after Release received %v, want the SYN-ACK", got)
	}
	if g.Held() != 0 {
		t.Fatalf("Held %d after release", g.Held())
	}
	// TCPData selects frames with payload only.
	g.Hold(TCPData())
	send(t, g, tcpFrame(b.MAC(), a.MAC(), ack|psh, 100))
	send(t, g, tcpFrame(b.MAC(), a.MAC(), ack, 0))
	if got := recvFlags(b); len(got) != 1 || got[0] != ack {
		t.Fatalf("received %v while data is held, want only the pure ACK", got)
	}
	g.Release()
	g.Idle(0)
	if got := recvFlags(b); len(got) != 1 || got[0] != ack|psh {
		t.Fatalf("after Release received %v, want the data segment", got)
	}
}

// TestHoldSuperFrame: while a match is set, a TCP super-frame is cut
// first and its frames are held one by one, keeping nothing of the
// sender's payload; released, they arrive in order.
func TestHoldSuperFrame(t *testing.T) {
	a, b := twoPorts(t, memwire.Config{Name: "a", TSO: true})
	g := Wrap(a)
	if g.Offloads()&driver.OffloadTxTCPSeg == 0 {
		t.Fatal("the gate hides the wrapped port's TSO")
	}
	g.Hold(TCPFlags(0x10, 0x10)) // every ACK
	pk := g.Pool(0).Get()
	f := tcpFrame(b.MAC(), a.MAC(), 0x18, 0) // PSH|ACK, headers only
	copy(pk.Append(len(f)), f)
	payload := g.Pool(0).Get()
	for i, d := 0, payload.Append(1800); i < len(d); i++ {
		d[i] = byte(i)
	}
	pk.Flags, pk.L2Len, pk.L3Len = driver.TxTCPSeg|driver.TxTCPChecksum|driver.TxIPChecksum, 14, 20
	pk.More, pk.MoreLen, pk.SegSize = payload, 1800, 1000
	if n := g.TxBurst(0, []*driver.Packet{pk}); n != 1 {
		t.Fatalf("TxBurst took %d", n)
	}
	// The sender may reuse its payload buffer at once.
	clear(payload.Data())
	if g.Held() != 2 {
		t.Fatalf("held %d frames, want the 2 the super-frame is cut into", g.Held())
	}
	g.Release()
	g.Idle(0)
	rx := make([]*driver.Packet, 4)
	n := b.RxBurst(0, rx)
	if n != 2 {
		t.Fatalf("b received %d frames, want 2", n)
	}
	for i, want := range []int{1000, 800} {
		d := rx[i].Data()
		if len(d) != 54+want || d[54] != byte(i*1000) || d[14+20+13] != []uint8{0x10, 0x18}[i] {
			t.Errorf("frame %d: %d bytes, first payload byte %d, flags %#x", i, len(d), d[54], d[14+20+13])
		}
	}
}

// twoPorts returns port a (configured by ca) and a plain port b on one
// in-memory wire.
func twoPorts(t *testing.T, ca memwire.Config) (a, b *memwire.Port) {
	t.Helper()
	w := memwire.New()
	a, err := w.AddPort(ca)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = w.AddPort(memwire.Config{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	return a, b
}
