package memwire

import (
	"bytes"
	"testing"

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
