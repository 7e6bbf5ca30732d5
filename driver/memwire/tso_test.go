package memwire

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

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
		f, flags, l3 := offloadFrame(false, false, nil, 0)
		pk := p.Pool(0).Get()
		copy(pk.Append(len(f)), f)
		pk.Flags, pk.L2Len, pk.L3Len = flags|driver.TxTCPSeg, header.EthernetHeaderLen, uint16(l3)
		// The payload in two packets of the sender's, which it keeps.
		p1, p2 := p.Pool(0).Get(), p.Pool(0).Get()
		copy(p1.Append(2000), stream[:2000])
		copy(p2.Append(total-2000), stream[2000:])
		p1.Next = p2
		pk.More, pk.MoreLen, pk.SegSize = p1, total, mss
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
// header checksum, as gopacket reads it), each further segment's payload
// in one packet on Next, the stream intact; nothing else is built. Off
// again, the frame arrives cut. A ring short of buffers loses it whole;
// every buffer goes back to its pool.
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
			f, flags, l3 := offloadFrame(v6, false, nil, 0)
			pk := a.Pool(0).Get()
			copy(pk.Append(len(f)), f)
			pk.Flags, pk.L2Len, pk.L3Len = flags|driver.TxTCPSeg, header.EthernetHeaderLen, uint16(l3)
			p1, p2 := a.Pool(0).Get(), a.Pool(0).Get()
			copy(p1.Append(2000), stream[:2000])
			copy(p2.Append(len(stream)-2000), stream[2000:])
			p1.Next = p2
			kept = append(kept, p1, p2)
			pk.More, pk.MoreOff, pk.MoreLen, pk.SegSize = p1, 0, int32(total), mss
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
			if p.Len() > mss {
				t.Errorf("v6=%v: piece of %d bytes, more than a segment", v6, p.Len())
			}
			got = append(got, p.Data()...)
			pieces++
		}
		if pieces != 3 || !bytes.Equal(got, stream) {
			t.Fatalf("v6=%v: %d pieces after the head, stream equal %v; want 3, true", v6, pieces, bytes.Equal(got, stream))
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
		// More segments than the ring has buffers: lost whole.
		stream = make([]byte, 9*mss)
		a.TxBurst(0, []*driver.Packet{super(len(stream))})
		if n := b.RxBurst(0, rx); n != 0 {
			t.Errorf("v6=%v: b received %d frames of a super-frame its ring could not hold", v6, n)
		}
		if s := b.Stats(); s.RxMissed != 9 {
			t.Errorf("v6=%v: b missed %d frames, want 9", v6, s.RxMissed)
		}
		// Coalescing off: cut, as before.
		stream = stream[:total]
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
