package memwire

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// superFrameOf builds, from p's queue 0 pool, a TCP super-frame (IPv4 or
// IPv6) of total payload bytes cut into mss-byte segments, its payload
// stream in two packets of that pool (2000 bytes, then the rest) that the
// sender keeps, as a send queue does: the caller frees p1 and p2.
func superFrameOf(p *Port, v6 bool, stream []byte, total, mss int) (pk, p1, p2 *driver.Packet) {
	f, flags, l3 := offloadFrame(v6, false, nil, 0)
	pk = p.Pool(0).Get()
	copy(pk.Append(len(f)), f)
	pk.Flags, pk.L2Len, pk.L3Len = flags|driver.TxTCPSeg, header.EthernetHeaderLen, uint16(l3)
	p1, p2 = p.Pool(0).Get(), p.Pool(0).Get()
	copy(p1.Append(2000), stream[:2000])
	copy(p2.Append(len(stream)-2000), stream[2000:])
	p1.Next = p2
	pk.More, pk.MoreOff, pk.MoreLen, pk.SegSize = p1, 0, int32(total), uint16(mss)
	return pk, p1, p2
}

// TestTSODelivery: a port with TSO cuts a super-frame into frames the
// wire carries; an offloading receiver gets them marked verified, a plain
// one (promiscuous here) with their checksums completed, matching
// gopacket's; a port without TSO drops a super-frame and counts it.
func TestTSODelivery(t *testing.T) {
	w := New()
	a, err := w.AddPort(Config{Name: "a", MAC: driver.MAC{2, 0, 0, 0, 0, 1}, TSO: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.AddPort(Config{Name: "b", MAC: driver.MAC{2, 0, 0, 0, 0, 2}, TSO: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.AddPort(Config{Name: "c", Promiscuous: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Offloads()&(driver.OffloadTxTCPSeg|driver.OffloadTxTCPChecksum) != driver.OffloadTxTCPSeg|driver.OffloadTxTCPChecksum || c.Offloads() != 0 {
		t.Fatalf("offloads: a %b, c %b", a.Offloads(), c.Offloads())
	}
	const mss, total = 1000, 3500
	stream := make([]byte, total)
	for i := range stream {
		stream[i] = byte(i % 251)
	}
	super := func(p *Port) *driver.Packet {
		pk, _, _ := superFrameOf(p, false, stream, total, mss)
		return pk
	}
	if n := a.TxBurst(0, []*driver.Packet{super(a)}); n != 1 {
		t.Fatalf("TxBurst took %d", n)
	}
	rx := make([]*driver.Packet, 8)
	nb := b.RxBurst(0, rx)
	nc := c.RxBurst(0, rx[nb:])
	if nb != 4 || nc != 4 {
		t.Fatalf("b received %d frames, c %d; want 4 each", nb, nc)
	}
	for i := range 4 {
		fb, fc := rx[i], rx[nb+i]
		payload := stream[i*mss : min((i+1)*mss, total)]
		if got := header.TCP(fb.Data()[34:]).Payload(); !bytes.Equal(got, payload) {
			t.Fatalf("frame %d: payload differs", i)
		}
		if fb.Flags&(driver.RxIPChecksumGood|driver.RxL4ChecksumGood) != driver.RxIPChecksumGood|driver.RxL4ChecksumGood {
			t.Errorf("b frame %d: flags %b, want both verified", i, fb.Flags)
		}
		if fc.Flags&(driver.RxIPChecksumGood|driver.RxL4ChecksumGood) != 0 {
			t.Errorf("c frame %d: flags %b, want no verdict", i, fc.Flags)
		}
		if want := recomputed(t, fc.Data(), false); !bytes.Equal(fc.Data(), want) {
			t.Errorf("c frame %d: checksums not completed:\n got %x\nwant %x", i, fc.Data(), want)
		}
	}
	if s := a.Stats(); s.TxPackets != 4 || s.TxErrors != 0 {
		t.Errorf("a: %d frames sent, %d errors; want 4, 0", s.TxPackets, s.TxErrors)
	}
	// c has no TSO: a super-frame handed to it anyway is dropped whole.
	if n := c.TxBurst(0, []*driver.Packet{super(c)}); n != 1 {
		t.Fatalf("TxBurst took %d", n)
	}
	if n := b.RxBurst(0, rx); n != 0 {
		t.Errorf("b received %d frames from a port without TSO", n)
	}
	if s := c.Stats(); s.TxErrors != 1 {
		t.Errorf("c: %d transmit errors, want 1", s.TxErrors)
	}
}

// TestLRODelivery: a super-frame to a port that asked for coalesced
// frames (SetRxCoalesce) arrives whole: one frame marked RxTCPCoalesced,
// the first segment with headers of its own lengths (and a valid IPv4
// header checksum, as gopacket reads it), the rest of the payload on Next
// as views of the sender's buffers (not reused until the views go), the
// stream intact; nothing else is built. Buffers of another pool are
// copied, a segment a piece. Off again, the frame arrives cut. A ring
// short of buffers loses it whole; every buffer goes back to its pool.
func TestLRODelivery(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		w := New()
		a, err := w.AddPort(Config{Name: "a", MAC: driver.MAC{2, 0, 0, 0, 0, 1}, TSO: true, ChecksumOffload: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.AddPort(Config{Name: "b", MAC: driver.MAC{2, 0, 0, 0, 0, 2}, ChecksumOffload: true, RingSize: 8, BurstSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		var rc driver.RxCoalescer = b
		if err := rc.SetRxCoalesce(true); err != nil {
			t.Fatal(err)
		}
		const mss, total = 1000, 3500
		stream := make([]byte, total)
		for i := range stream {
			stream[i] = byte(i % 251)
		}
		var kept []*driver.Packet // the sender's payload packets
		super := func(total int) *driver.Packet {
			pk, p1, p2 := superFrameOf(a, v6, stream, total, mss)
			kept = append(kept, p1, p2)
			return pk
		}
		a.TxBurst(0, []*driver.Packet{super(total)})
		rx := make([]*driver.Packet, 8)
		if n := b.RxBurst(0, rx); n != 1 {
			t.Fatalf("v6=%v: b received %d frames, want 1 coalesced", v6, n)
		}
		head := rx[0]
		want := driver.RxTCPCoalesced | driver.RxL4ChecksumGood | driver.RxHashValid
		if !v6 {
			want |= driver.RxIPChecksumGood
		}
		if head.Flags != want {
			t.Errorf("v6=%v: flags %b, want %b", v6, head.Flags, want)
		}
		l3 := header.IPv4MinHeaderLen
		first := layers.LayerTypeIPv4
		if v6 {
			l3, first = header.IPv6HeaderLen, layers.LayerTypeIPv6
		}
		d := head.Data()
		if len(d) != header.EthernetHeaderLen+l3+header.TCPMinHeaderLen+mss {
			t.Fatalf("v6=%v: head of %d bytes, want the headers and %d payload bytes", v6, len(d), mss)
		}
		pkt := gopacket.NewPacket(d[header.EthernetHeaderLen:], first, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("v6=%v: gopacket: %v", v6, el.Error())
		}
		if v6 {
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if int(ip.Length) != header.TCPMinHeaderLen+mss {
				t.Errorf("v6: payload length %d, want %d", ip.Length, header.TCPMinHeaderLen+mss)
			}
		} else {
			ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if int(ip.Length) != l3+header.TCPMinHeaderLen+mss {
				t.Errorf("total length %d, want %d", ip.Length, l3+header.TCPMinHeaderLen+mss)
			}
			if got := ipChecksum(d[header.EthernetHeaderLen : header.EthernetHeaderLen+l3]); got != 0 {
				t.Errorf("IPv4 header checksum does not verify (%#04x)", got)
			}
		}
		tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !tcp.PSH || !tcp.ACK {
			t.Errorf("v6=%v: head flags PSH %v ACK %v, want the super-frame's", v6, tcp.PSH, tcp.ACK)
		}
		got := append([]byte(nil), tcp.Payload...)
		pieces := 0
		for p := head.Next; p != nil; p = p.Next {
			if !p.Shared() {
				t.Errorf("v6=%v: piece %d of %d bytes is a copy, want a view of the sender's buffer", v6, pieces, p.Len())
			}
			got = append(got, p.Data()...)
			pieces++
		}
		// One view per buffer of the sender's: the rest of the first
		// (1000 bytes past the head's segment) and the second (1500).
		if pieces != 2 || !bytes.Equal(got, stream) || head.SegSize != mss {
			t.Fatalf("v6=%v: %d pieces after the head, stream equal %v, SegSize %d; want 2, true, %d", v6, pieces, bytes.Equal(got, stream), head.SegSize, mss)
		}
		// The views hold the sender's buffers: freed by the sender first,
		// they are not reused until the views go.
		freeA := a.Pool(0).Available()
		for _, p := range kept {
			p.Next = nil
			a.Pool(0).Put(p)
		}
		kept = kept[:0]
		if got := a.Pool(0).Available(); got != freeA {
			t.Errorf("v6=%v: the sender's viewed buffers went back to its pool (%d free, %d before)", v6, got, freeA)
		}
		if s := a.Stats(); s.TxPackets != 4 || s.TxErrors != 0 {
			t.Errorf("v6=%v: a sent %d frames (%d errors), want the 4 segments", v6, s.TxPackets, s.TxErrors)
		}
		if s := b.Stats(); s.RxBytes != uint64(header.EthernetHeaderLen+l3+header.TCPMinHeaderLen+total) {
			t.Errorf("v6=%v: b counted %d bytes received", v6, s.RxBytes)
		}
		for p := head; p != nil; {
			next := p.Next
			p.Next = nil
			p.Free()
			p = next
		}
		if got := a.Pool(0).Available(); got != freeA+2 {
			t.Errorf("v6=%v: the sender's 2 buffers not back once the views went (%d free, %d before)", v6, got, freeA)
		}
		// More segments than the ring has buffers: lost whole.
		a.TxBurst(0, []*driver.Packet{super(9 * mss)})
		if n := b.RxBurst(0, rx); n != 0 {
			t.Errorf("v6=%v: b received %d frames of a super-frame its ring could not hold", v6, n)
		}
		if s := b.Stats(); s.RxMissed != 9 {
			t.Errorf("v6=%v: b missed %d frames, want 9", v6, s.RxMissed)
		}
		// Payload in buffers of another pool than the sending queue's:
		// copied, one segment a piece.
		other, err := driver.NewPool(4, driver.DefaultHeadroom, driver.DefaultDataRoom)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range kept {
			p.Next = nil
			p.Free()
		}
		kept = kept[:0]
		sf := super(total)
		for i, p := range []*driver.Packet{other.Get(), other.Get()} {
			copy(p.Append(kept[i].Len()), kept[i].Data())
			kept[i].Next = nil
			kept[i].Free()
			kept[i] = p
		}
		kept[0].Next, sf.More = kept[1], kept[0]
		a.TxBurst(0, []*driver.Packet{sf})
		if n := b.RxBurst(0, rx); n != 1 {
			t.Fatalf("v6=%v: %d frames for a super-frame of foreign buffers, want 1", v6, n)
		}
		got = append(got[:0], rx[0].Data()[len(rx[0].Data())-mss:]...)
		pieces = 0
		for p := rx[0].Next; p != nil; p = p.Next {
			if p.Shared() || p.Len() != min(mss, total-(pieces+1)*mss) {
				t.Errorf("v6=%v: piece %d of foreign buffers: %d bytes, a view %v; want a copied segment", v6, pieces, p.Len(), p.Shared())
			}
			got = append(got, p.Data()...)
			pieces++
		}
		if pieces != 3 || !bytes.Equal(got, stream) {
			t.Errorf("v6=%v: foreign buffers: %d pieces, stream equal %v", v6, pieces, bytes.Equal(got, stream))
		}
		for p := rx[0]; p != nil; {
			next := p.Next
			p.Next = nil
			p.Free()
			p = next
		}
		// Coalescing off: cut, as before.
		rc.SetRxCoalesce(false)
		a.TxBurst(0, []*driver.Packet{super(total)})
		n := b.RxBurst(0, rx)
		if n != 4 {
			t.Errorf("v6=%v: with coalescing off b received %d frames, want 4", v6, n)
		}
		for _, p := range rx[:n] {
			if p.Next != nil || p.Flags&driver.RxTCPCoalesced != 0 {
				t.Errorf("v6=%v: a frame cut on the wire came chained or marked coalesced", v6)
			}
			p.Free()
		}
		for _, p := range kept {
			p.Next = nil
			p.Free()
		}
		checkPools(t, a, b)
	}
}
