package memwire

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// offloadFrame builds an Ethernet frame carrying TCP or UDP over IPv4 or
// IPv6 with its checksums left to the port the way the stack leaves them:
// the pseudo header's folded sum in the L4 field, a zero IPv4 header
// checksum. pad adds Ethernet padding past the IP datagram.
func offloadFrame(v6, udp bool, payload []byte, pad int) ([]byte, driver.Flags, int) {
	s4, d4 := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
	s6, d6 := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}
	l4len := header.TCPMinHeaderLen + len(payload)
	proto := uint8(header.ProtoTCP)
	flags := driver.TxTCPChecksum
	if udp {
		l4len, proto, flags = header.UDPHeaderLen+len(payload), header.ProtoUDP, driver.TxUDPChecksum
	}
	l3 := header.IPv4MinHeaderLen
	if v6 {
		l3 = header.IPv6HeaderLen
	}
	f := make([]byte, header.EthernetHeaderLen+l3+l4len+pad)
	et := uint16(header.EtherTypeIPv4)
	if v6 {
		et = header.EtherTypeIPv6
	}
	header.Ethernet(f).Encode(header.MAC{2, 0, 0, 0, 0, 2}, header.MAC{2, 0, 0, 0, 0, 1}, et)
	l4 := f[header.EthernetHeaderLen+l3 : header.EthernetHeaderLen+l3+l4len]
	var pseudo uint32
	if v6 {
		header.IPv6(f[header.EthernetHeaderLen:]).Encode(&header.IPv6Fields{PayloadLen: uint16(l4len), NextHeader: proto, HopLimit: 64, Src: s6, Dst: d6})
		pseudo = header.PseudoHeaderChecksumIPv6(proto, s6, d6, uint32(l4len))
		flags |= driver.TxIPv6
	} else {
		ip := header.IPv4(f[header.EthernetHeaderLen:])
		ip.Encode(&header.IPv4Fields{TotalLen: uint16(l3 + l4len), TTL: 64, Protocol: proto, Src: s4, Dst: d4})
		ip.SetHeaderChecksum(0)
		pseudo = header.PseudoHeaderChecksum(proto, s4, d4, uint16(l4len))
		flags |= driver.TxIPChecksum
	}
	if udp {
		u := header.UDP(l4)
		u.Encode(1000, 2000, uint16(l4len))
		copy(u.Payload(), payload)
		u.SetChecksumField(header.Fold(pseudo))
	} else {
		l4[12] = 5 << 4
		l4[13] = header.TCPFlagAck | header.TCPFlagPsh
		copy(l4[header.TCPMinHeaderLen:], payload)
		header.TCP(l4).SetChecksumField(header.Fold(pseudo))
	}
	return f, flags, l3
}

// TestCompleteChecksums: what the wire completes for a port without
// checksum offload is what gopacket computes for the same frame.
func TestCompleteChecksums(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v6, udp bool
		payload []byte
		pad     int
	}{
		{"ipv4/tcp", false, false, bytes.Repeat([]byte{0xa5}, 1001), 0},
		{"ipv4/udp/padded", false, true, []byte("x"), 17},
		{"ipv6/tcp", true, false, bytes.Repeat([]byte{7, 9}, 700), 0},
		{"ipv6/udp", true, true, []byte("hello, offload"), 0},
		{"ipv4/tcp/empty", false, false, nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, flags, l3 := offloadFrame(tc.v6, tc.udp, tc.payload, tc.pad)
			completeChecksums(f, flags, header.EthernetHeaderLen, l3)
			want := recomputed(t, f, tc.v6)
			if !bytes.Equal(f, want) {
				t.Fatalf("completed frame differs from gopacket's:\n got %x\nwant %x", f, want)
			}
		})
	}
	// A frame whose headers do not match the sender's lengths is left as
	// it is (the receiver's checks drop it), never a panic.
	f, flags, _ := offloadFrame(false, false, []byte("abc"), 0)
	before := append([]byte(nil), f...)
	for _, l := range [][2]int{{14, 40}, {14, 0}, {-1, 20}, {14, 9999}} {
		completeChecksums(f, flags, l[0], l[1])
		if !bytes.Equal(f, before) {
			t.Fatalf("lengths %v changed the frame", l)
		}
	}
}

// recomputed re-serializes f with gopacket, computing every checksum.
func recomputed(t *testing.T, f []byte, v6 bool) []byte {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	var net gopacket.NetworkLayer
	if v6 {
		net = pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	} else {
		net = pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	}
	ls := []gopacket.SerializableLayer{pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet), net.(gopacket.SerializableLayer)}
	if l, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		l.SetNetworkLayerForChecksum(net)
		ls = append(ls, l)
	} else {
		l := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		l.SetNetworkLayerForChecksum(net)
		ls = append(ls, l)
	}
	if app := pkt.ApplicationLayer(); app != nil {
		ls = append(ls, gopacket.Payload(app.Payload()))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if pad := len(f) - len(out); pad > 0 { // gopacket drops Ethernet padding
		out = append(out, f[len(out):]...)
	}
	return out
}

// TestChecksumOffloadDelivery: between two offloading ports a frame keeps
// its unfinished checksums and arrives marked verified; a port without
// offload receives it completed and unmarked.
func TestChecksumOffloadDelivery(t *testing.T) {
	w := New()
	a, err := w.AddPort(Config{Name: "a", MAC: driver.MAC{2, 0, 0, 0, 0, 1}, ChecksumOffload: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.AddPort(Config{Name: "b", MAC: driver.MAC{2, 0, 0, 0, 0, 2}, ChecksumOffload: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.AddPort(Config{Name: "c", Promiscuous: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Offloads()&driver.OffloadTxTCPChecksum == 0 || c.Offloads() != 0 {
		t.Fatalf("offloads: a %b, c %b", a.Offloads(), c.Offloads())
	}
	f, flags, l3 := offloadFrame(false, false, []byte("payload"), 0)
	pk := a.Pool(0).Get()
	copy(pk.Append(len(f)), f)
	pk.Flags, pk.L2Len, pk.L3Len = flags, header.EthernetHeaderLen, uint16(l3)
	if n := a.TxBurst(0, []*driver.Packet{pk}); n != 1 {
		t.Fatalf("TxBurst took %d", n)
	}
	rx := make([]*driver.Packet, 4)
	if n := b.RxBurst(0, rx); n != 1 {
		t.Fatalf("b received %d frames", n)
	}
	if got := rx[0].Flags & (driver.RxIPChecksumGood | driver.RxL4ChecksumGood); got != driver.RxIPChecksumGood|driver.RxL4ChecksumGood {
		t.Errorf("b: flags %b, want both verified", rx[0].Flags)
	}
	if !bytes.Equal(rx[0].Data(), f) {
		t.Errorf("b: frame changed on the way")
	}
	if n := c.RxBurst(0, rx[1:]); n != 1 {
		t.Fatalf("c received %d frames", n)
	}
	if rx[1].Flags&(driver.RxIPChecksumGood|driver.RxL4ChecksumGood) != 0 {
		t.Errorf("c: flags %b, want no verdict", rx[1].Flags)
	}
	if want := recomputed(t, f, false); !bytes.Equal(rx[1].Data(), want) {
		t.Errorf("c: checksums not completed:\n got %x\nwant %x", rx[1].Data(), want)
	}
}
