package driver

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frame builds a TCP frame with gopacket, an independent encoder.
func synFrame(t *testing.T, v6, syn, ack bool, frag bool) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, SYN: syn, ACK: ack, Window: 65535}
	var net gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
			SrcIP: []byte{0x20, 1, 0xd, 0xb8, 15: 1}, DstIP: []byte{0x20, 1, 0xd, 0xb8, 15: 2}}
		tcp.SetNetworkLayerForChecksum(ip)
		net = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: []byte{192, 0, 2, 1}, DstIP: []byte{192, 0, 2, 2}}
		if frag {
			ip.FragOffset = 100
		}
		tcp.SetNetworkLayerForChecksum(ip)
		net = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, net, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPureSYN(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tc := range []struct {
			syn, ack, frag, want bool
		}{
			{syn: true, want: true},
			{syn: true, ack: true},   // SYN-ACK: an answer, not a request
			{ack: true},              // data or a bare ACK
			{syn: true, frag: true},  // a later fragment has no TCP header
			{syn: false, ack: false}, // no flags at all
		} {
			if tc.frag && v6 {
				continue
			}
			f := synFrame(t, v6, tc.syn, tc.ack, tc.frag)
			if got := PureSYN(f); got != tc.want {
				t.Errorf("v6 %v syn %v ack %v frag %v: PureSYN = %v, want %v", v6, tc.syn, tc.ack, tc.frag, got, tc.want)
			}
			// No prefix of the frame is a SYN but the whole one, and no
			// prefix panics.
			for n := 0; n < len(f); n++ {
				if PureSYN(f[:n]) && n < 14+20+14 {
					t.Errorf("v6 %v: a %d-byte prefix is a SYN", v6, n)
				}
			}
		}
	}
	// UDP with the SYN bit's byte set is not TCP.
	f := synFrame(t, false, true, false, false)
	f[14+9] = 17
	if PureSYN(f) {
		t.Error("a UDP datagram is a SYN")
	}
}
