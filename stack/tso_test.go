package stack

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/impair"
)

// TestTSO moves TCP both ways between ports with segmentation offload
// (memwire's veth-like TSO), between one with and one without, under loss
// and reordering (impair cuts the super-frames and the faults strike the
// frames the wire carries: data sent again comes from the same referenced
// send queue) and under corruption (which turns TSO off with the checksum
// offloads), with receive coalescing on and off. The data arrives whole, a sender hands its port super-frames
// exactly when the port takes them, the payload they carry is not copied
// by the stack, and every frame on the wire is correct by gopacket.
func TestTSO(t *testing.T) {
	const size = 4 << 20
	for _, tc := range []struct {
		name       string
		tsoA, tsoB bool
		v6         bool
		imp        *impair.Config
		noGRO      bool // TCPConfig.NoCoalesce on both
	}{
		{"both/ipv4", true, true, false, nil, false},
		{"both/ipv4/no-gro", true, true, false, nil, true},
		{"both/ipv6", true, true, true, nil, false},
		{"a-only/ipv4", true, false, false, nil, false},
		{"b-only/ipv6", false, true, true, nil, true},
		{"both/loss", true, true, false, &impair.Config{Drop: 0.01, Reorder: 3, Seed: 3}, false},
		{"both/corrupt", true, true, false, &impair.Config{Corrupt: 0.002, Seed: 7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairConfig{poll: PollAdaptive, start: true, ipv6: tc.v6, tsoA: tc.tsoA, tsoB: tc.tsoB, impairA: tc.imp,
				cfg: Config{TCP: TCPConfig{RTOMin: 20 * time.Millisecond, RTOInitial: 100 * time.Millisecond, NoCoalesce: tc.noGRO}}})
			var mon *monitor
			if tc.imp == nil || tc.imp.Corrupt == 0 {
				mon = newMonitor(t, p.wire)
			}
			dst := addrB.Addr()
			if tc.v6 {
				dst = addr6B.Addr()
			}
			bulkTo(t, p, dst, size, bothWays, 5)
			if mon != nil {
				mon.checked(t)
			}
			superA := tc.tsoA && (tc.imp == nil || tc.imp.Corrupt == 0)
			for _, s := range []struct {
				name  string
				st    *Stack
				tp    *tap
				super bool
			}{{"A", p.a, p.ta, superA}, {"B", p.b, p.tb, tc.tsoB}} {
				ctr := s.st.Counters()
				if got := s.tp.txSuper.Load(); (got > 0) != s.super || uint64(got) != ctr[TCPTxTSOFrames] {
					t.Errorf("%s: port took %d super-frames, tcp_tx_tso_frames %d; want some: %v", s.name, got, ctr[TCPTxTSOFrames], s.super)
				}
				// With TSO most of the stream leaves by reference; the
				// stack copies only single segments (the tail of a
				// write; under loss, retransmissions and the small
				// windows after them).
				if s.super && tc.imp == nil && (ctr[TCPTxTSOBytes] < size/2 || ctr[TCPTxCopyBytes] > size/2) {
					t.Errorf("%s: %d bytes sent by reference, %d copied, of %d", s.name, ctr[TCPTxTSOBytes], ctr[TCPTxCopyBytes], size)
				}
				// A super-frame cut at the wire arrives as a run of
				// segments in one burst: the receiver chains them.
				if c := ctr[TCPRxCoalesced]; tc.noGRO && c != 0 || !tc.noGRO && tc.imp == nil && c == 0 {
					t.Errorf("%s: tcp_rx_coalesced %d with coalescing off: %v", s.name, c, tc.noGRO)
				}
				if !s.super && ctr[TCPTxTSOBytes] != 0 {
					t.Errorf("%s: %d bytes in super-frames on a port without TSO", s.name, ctr[TCPTxTSOBytes])
				}
			}
			if tc.imp != nil && tc.imp.Drop > 0 {
				if p.fa.Faults().Dropped == 0 || p.a.Counters()[TCPRetransmits] == 0 {
					t.Errorf("dropped %d frames, A retransmitted %d: want both > 0", p.fa.Faults().Dropped, p.a.Counters()[TCPRetransmits])
				}
			}
		})
	}
}

// TestTSONoAllocs: a 64 KiB write, sent as super-frames, cut by the port
// and read whole on the other side, allocates nothing once warm.
func TestTSONoAllocs(t *testing.T) {
	p := newPair(t, pairConfig{poll: PollAdaptive, start: true, tsoA: true, tsoB: true, quiet: true})
	l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:5001"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.AddrPortFrom(addrB.Addr(), 5001))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg, buf := make([]byte, 64<<10), make([]byte, 64<<10)
	round := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		round()
	}
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Errorf("a 64 KiB write through TSO allocated %v times, want 0", n)
	}
	if p.a.Counters()[TCPTxTSOFrames] == 0 {
		t.Fatal("no super-frames sent")
	}
}
