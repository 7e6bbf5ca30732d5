package stack

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
)

// newLoneStack starts a stack with softnets softnets on a wire of its own.
func newLoneStack(t *testing.T, softnets int) *Stack {
	t.Helper()
	return newLoneStackOn(t, memwire.Config{Name: "lone", Queues: softnets})
}

// newLoneStackOn is newLoneStack on a port configured as pc.
func newLoneStackOn(t *testing.T, pc memwire.Config) *Stack {
	t.Helper()
	softnets := pc.Queues
	p, err := memwire.New().AddPort(pc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := New(Config{Softnets: softnets, Poll: PollAdaptive}, InterfaceConfig{Port: p, Addr: netip.MustParsePrefix("192.0.2.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st
}

// TestLoopbackTCP connects the stack to its own address and moves data
// both ways: local delivery never touches the port. On a port with TCP
// segmentation offload the super-frames are cut in software first: the
// loopback ring must not hold references into a send queue.
func TestLoopbackTCP(t *testing.T) {
	for _, tc := range []struct {
		softnets int
		tso      bool
	}{{1, false}, {2, false}, {1, true}, {2, true}} {
		softnets := tc.softnets
		st := newLoneStackOn(t, memwire.Config{Name: "lone", Queues: softnets, TSO: tc.tso})
		l, err := st.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := l.AcceptTCP()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.CloseWrite() }()
			}
		}()
		// The start-up ARP announcement leaves on the first poll: wait for
		// it, or it would be counted against the loopback traffic.
		waitFor(t, 5*time.Second, "the start-up ARP announcement", func() bool { return st.Counters()[ARPTx] >= 1 })
		tx0 := st.Counters()[TxPackets]
		data := bytes.Repeat([]byte("loopback "), 100000)
		for i := 0; i < 4; i++ {
			c, err := st.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.1:80"))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() { c.Write(data); c.CloseWrite() }()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d softnets: echo over loopback: %d of %d bytes, %v", softnets, len(got), len(data), err)
			}
			c.Close()
		}
		l.Close()
		ctr := st.Counters()
		if ctr[LoopbackTx] == 0 || ctr[LoopbackRx] != ctr[LoopbackTx] || ctr[TxPackets] != tx0 {
			t.Fatalf("%d softnets: loopback_tx %d, loopback_rx %d, tx_packets %d; want all local", softnets, ctr[LoopbackTx], ctr[LoopbackRx], ctr[TxPackets])
		}
		if cut := ctr[TCPTSOCut]; (cut > 0) != tc.tso || cut != ctr[TCPTxTSOFrames] {
			t.Fatalf("%d softnets, TSO %v: %d super-frames sent, %d cut for loopback; want all cut, and some only with TSO",
				softnets, tc.tso, ctr[TCPTxTSOFrames], cut)
		}
	}
}

// TestLoopbackUDP sends datagrams to the stack's own address.
func TestLoopbackUDP(t *testing.T) {
	st := newLoneStack(t, 2)
	srv, err := st.ListenUDP(netip.MustParseAddrPort("192.0.2.1:53"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := st.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.1:53"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	for _, n := range []int{0, 1, 1472} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		k, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil || !bytes.Equal(buf[:k], msg) || from != c.LocalAddrPort() {
			t.Fatalf("size %d: got %d bytes from %v (%v), want them from %v", n, k, from, err, c.LocalAddrPort())
		}
	}
}
