package stack

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
)

// TestTSO moves TCP both ways between ports with segmentation offload
// (memwire's veth-like TSO), between one with and one without, under loss
// and reordering (impair cuts the super-frames and the faults strike the
// frames the wire carries: data sent again comes from the same referenced
// send queue) and under corruption (which turns TSO off with the checksum
// offloads), with receive coalescing on and off, and with the receiving
// port coalescing (memwire's LRO: super-frames arrive whole, in order or,
// with super-frames lost, with holes). The data arrives whole, a sender
// hands its port super-frames exactly when the port takes them, the stack
// copies no payload into frames (single segments and retransmissions go
// as super-frames of one segment), and every frame on the
// wire is correct by gopacket (where a monitor port sees them: with one
// on the wire, nothing arrives coalesced).
func TestTSO(t *testing.T) {
	const size = 4 << 20
	for _, tc := range []struct {
		name       string
		tsoA, tsoB bool
		v6         bool
		imp        *impair.Config
		noGRO      bool // TCPConfig.NoCoalesce on both
		lro        bool // the receiving ports coalesce (pairConfig.lro)
	}{
		{"both/ipv4", true, true, false, nil, false, false},
		{"both/ipv4/no-gro", true, true, false, nil, true, false},
		{"both/ipv6", true, true, true, nil, false, false},
		{"a-only/ipv4", true, false, false, nil, false, false},
		{"b-only/ipv6", false, true, true, nil, true, false},
		{"both/loss", true, true, false, &impair.Config{Drop: 0.01, Reorder: 3, Seed: 3}, false, false},
		{"both/corrupt", true, true, false, &impair.Config{Corrupt: 0.002, Seed: 7}, false, false},
		{"both/ipv4/lro", true, true, false, nil, false, true},
		{"both/ipv6/lro", true, true, true, nil, false, true},
		{"a-only/ipv4/lro", true, false, false, nil, false, true},
		{"both/ipv4/lro/no-gro", true, true, false, nil, true, true},
		{"both/lro/loss", true, true, false, &impair.Config{Drop: 0.02, Whole: true, Seed: 5}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairConfig{poll: PollAdaptive, start: true, ipv6: tc.v6, tsoA: tc.tsoA, tsoB: tc.tsoB, impairA: tc.imp, lro: tc.lro,
				cfg: Config{TCP: TCPConfig{RTOMin: 20 * time.Millisecond, RTOInitial: 100 * time.Millisecond, NoCoalesce: tc.noGRO}}})
			var mon *monitor
			if !tc.lro && (tc.imp == nil || tc.imp.Corrupt == 0) {
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
				// With TSO all of the stream leaves by reference, single
				// segments (a write's tail; under loss, retransmissions)
				// as super-frames of one segment: the stack copies none.
				if s.super && (ctr[TCPTxTSOBytes] < size || ctr[TCPTxCopyBytes] != 0) {
					t.Errorf("%s: %d bytes sent by reference, %d copied, of %d", s.name, ctr[TCPTxTSOBytes], ctr[TCPTxCopyBytes], size)
				}
				// A super-frame cut at the wire arrives as a run of
				// segments in one burst: the receiver chains them. With
				// LRO it arrives chained.
				if c := ctr[TCPRxCoalesced]; tc.noGRO && c != 0 || !tc.noGRO && tc.imp == nil && c == 0 {
					t.Errorf("%s: tcp_rx_coalesced %d with coalescing off: %v", s.name, c, tc.noGRO)
				}
				// The peer's super-frames arrive whole exactly when the
				// port coalesces: LRO asked for, coalescing on, and no
				// fault injector in between (impair does not pass
				// SetRxCoalesce on: it would drop a chain's head alone).
				peerSuper, wrapped := tc.tsoB, tc.imp != nil
				if s.name == "B" {
					peerSuper, wrapped = tc.tsoA, false
				}
				lro := ctr[TCPRxLRO]
				want := tc.lro && !tc.noGRO && peerSuper && !wrapped
				if got := s.tp.rxCoalesced.Load(); uint64(got) != lro || (lro > 0) != want {
					t.Errorf("%s: %d frames received coalesced, tcp_rx_lro %d; want some: %v", s.name, got, lro, want)
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
// (or delivered whole to a port that coalesces: LRO) and read whole on
// the other side, allocates nothing once warm.
func TestTSONoAllocs(t *testing.T) {
	for _, lro := range []bool{false, true} {
		p := newPair(t, pairConfig{poll: PollAdaptive, start: true, tsoA: true, tsoB: true, quiet: true, lro: lro})
		l, err := p.b.ListenTCP(netip.MustParseAddrPort("0.0.0.0:5001"), 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.a.DialTCP(context.Background(), netip.AddrPort{}, netip.AddrPortFrom(addrB.Addr(), 5001))
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
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
			t.Errorf("lro=%v: a 64 KiB write through TSO allocated %v times, want 0", lro, n)
		}
		if p.a.Counters()[TCPTxTSOFrames] == 0 {
			t.Fatalf("lro=%v: no super-frames sent", lro)
		}
		if got := p.b.Counters()[TCPRxLRO]; (got > 0) != lro {
			t.Errorf("lro=%v: B took %d frames coalesced by its port", lro, got)
		}
		s.Close()
		c.Close()
		l.Close()
	}
}

// TestLROStray: coalesced frames that never reach a connection (no
// listener: the stack answers with a reset; an address not the stack's)
// are freed whole, chain included.
func TestLROStray(t *testing.T) {
	w := memwire.New()
	raw, err := w.AddPort(memwire.Config{Name: "raw", TSO: true, ChecksumOffload: true})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(memwire.Config{Name: "b", ChecksumOffload: true})
	if err != nil {
		t.Fatal(err)
	}
	// The source as a static neighbour: B's resets leave at once rather
	// than wait for ARP in a buffer of B's pool.
	rawMAC := raw.MAC()
	b, err := New(Config{Softnets: 1, Poll: PollAdaptive}, InterfaceConfig{Port: pb, Addr: addrB,
		Neighbors: []Neighbor{{Addr: netip.AddrFrom4([4]byte{192, 0, 2, 9}), MAC: rawMAC[:]}}})
	if err != nil {
		t.Fatal(err)
	}
	b.setRxCoalesce(true)
	sn := b.sn[0]
	for range 3 {
		sn.Poll()
	}
	src := [4]byte{192, 0, 2, 9}
	super := func(dst [4]byte) *driver.Packet {
		pk := raw.Pool(0).Get()
		f := pk.Append(header.EthernetHeaderLen + header.IPv4MinHeaderLen + header.TCPMinHeaderLen)
		mac := pb.MAC()
		header.Ethernet(f).Encode(header.MAC(mac), header.MAC(raw.MAC()), header.EtherTypeIPv4)
		ip := header.IPv4(f[header.EthernetHeaderLen:])
		ip.Encode(&header.IPv4Fields{TotalLen: header.IPv4MinHeaderLen + header.TCPMinHeaderLen, TTL: 64, Protocol: header.ProtoTCP, Src: src, Dst: dst})
		tcp := header.TCP(ip[header.IPv4MinHeaderLen:])
		tcp.SetSrcPort(40000)
		tcp.SetDstPort(4444)
		tcp.SetSeq(1000)
		tcp.SetAck(1)
		tcp.SetDataOffset(header.TCPMinHeaderLen)
		tcp.SetFlags(header.TCPFlagAck)
		tcp.SetWindow(1000)
		pk.Flags, pk.L2Len, pk.L3Len = driver.TxTCPSeg|driver.TxTCPChecksum|driver.TxIPChecksum, header.EthernetHeaderLen, header.IPv4MinHeaderLen
		payload := raw.Pool(0).Get()
		payload.Append(1800)
		pk.More, pk.MoreLen, pk.SegSize = payload, 1800, 600
		return pk
	}
	// One for no connection, one for an address not B's.
	round := func() {
		sent := []*driver.Packet{super(addrB.Addr().As4()), super([4]byte{192, 0, 2, 77})}
		payloads := []*driver.Packet{sent[0].More, sent[1].More}
		raw.TxBurst(0, sent)
		for range 3 {
			sn.Poll()
		}
		for _, p := range payloads {
			p.Free()
		}
	}
	// The first round fills the ring's stash of spare buffers; from then
	// on a round takes from the pool what it gives back.
	round()
	pool := pb.Pool(0)
	before := pool.Available()
	round()
	c := b.Counters()
	if c[PortRxPackets] != 4 || c[TCPNoConn] != 2 || c[IPDropNotForUs] != 2 || c[TCPRxLRO] != 0 {
		t.Errorf("received %d frames, %d for no connection, %d not for B, %d coalesced taken; want 4, 2, 2, 0",
			c[PortRxPackets], c[TCPNoConn], c[IPDropNotForUs], c[TCPRxLRO])
	}
	if got := pool.Available(); got != before {
		t.Errorf("B's pool has %d buffers free, %d before the two coalesced frames of 3 segments: chains leaked", got, before)
	}
}
