package header

import "encoding/binary"

// naiveChecksum is a byte-by-byte reference implementation of the RFC 1071
// sum: it adds big-endian 16-bit words (padding an odd trailing byte with a
// zero low byte) to initial and folds the result to 16 bits.
func naiveChecksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for i := 0; i < len(b); i += 2 {
		w := uint64(b[i]) << 8
		if i+1 < len(b) {
			w |= uint64(b[i+1])
		}
		sum += w
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// naivePseudo returns the bytes of the IPv4 pseudo header.
func naivePseudo(proto uint8, src, dst [4]byte, length uint16) []byte {
	p := make([]byte, 12)
	copy(p[0:4], src[:])
	copy(p[4:8], dst[:])
	p[9] = proto
	binary.BigEndian.PutUint16(p[10:12], length)
	return p
}

// naiveTransportOK reports whether the pseudo header plus seg sums to 0xffff
// according to the reference implementation.
func naiveTransportOK(proto uint8, src, dst [4]byte, seg []byte) bool {
	buf := append(naivePseudo(proto, src, dst, uint16(len(seg))), seg...)
	return naiveChecksum(buf, 0) == 0xffff
}

var (
	testSrcMAC = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	testDstMAC = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	testSrcIP  = [4]byte{192, 0, 2, 1}
	testDstIP  = [4]byte{198, 51, 100, 7}
)

// buildUDPFrame encodes an Ethernet+IPv4+UDP frame with this package's
// encoders.
func buildUDPFrame(sport, dport uint16, payload []byte) []byte {
	udpLen := UDPHeaderLen + len(payload)
	ipLen := IPv4MinHeaderLen + udpLen
	f := make([]byte, EthernetHeaderLen+ipLen)
	Ethernet(f).Encode(testDstMAC, testSrcMAC, EtherTypeIPv4)
	ip := IPv4(f[EthernetHeaderLen:])
	ip.Encode(&IPv4Fields{
		TotalLen:     uint16(ipLen),
		ID:           0x1234,
		DontFragment: true,
		TTL:          64,
		Protocol:     ProtoUDP,
		Src:          testSrcIP,
		Dst:          testDstIP,
	})
	u := UDP(ip[IPv4MinHeaderLen:])
	u.Encode(sport, dport, uint16(udpLen))
	copy(u[UDPHeaderLen:], payload)
	u.SetChecksum(testSrcIP, testDstIP)
	return f
}

// buildICMPEcho encodes an ICMPv4 echo request message.
func buildICMPEcho(id, seq uint16, payload []byte) []byte {
	m := make([]byte, ICMPv4MinLen+len(payload))
	icmp := ICMPv4(m)
	icmp.SetType(ICMPEcho)
	icmp.SetCode(0)
	icmp.SetIdent(id)
	icmp.SetSeq(seq)
	copy(icmp.Payload(), payload)
	icmp.SetChecksum()
	return m
}

// buildTCP encodes a TCP segment with the given options (a multiple of 4
// bytes long) and payload.
func buildTCP(src, dst [4]byte, flags uint8, opts, payload []byte) []byte {
	hl := TCPMinHeaderLen + len(opts)
	s := make([]byte, hl+len(payload))
	t := TCP(s)
	t.SetSrcPort(40000)
	t.SetDstPort(80)
	t.SetSeq(0x01020304)
	t.SetAck(0xa0b0c0d0)
	t.SetDataOffset(hl)
	t.SetFlags(flags)
	t.SetWindow(65535)
	t.SetUrgentPtr(0)
	copy(s[TCPMinHeaderLen:], opts)
	copy(s[hl:], payload)
	t.SetChecksum(src, dst, uint16(len(s)))
	return s
}

// buildARP encodes an ARP packet.
func buildARP(op uint16) []byte {
	a := make([]byte, ARPLen)
	ARP(a).Encode(op, testSrcMAC, testSrcIP, MAC{}, testDstIP)
	return a
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
