package header

import "testing"

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		sink += Checksum(buf, 0)
	}
	_ = sink
}

func BenchmarkParseUDPFrame(b *testing.B) {
	frame := buildUDPFrame(1000, 2000, make([]byte, 64))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		s, e := parseUDPFrame(frame)
		if e != OK {
			b.Fatalf("parseUDPFrame: got %v, want %v", e, OK)
		}
		sink += s
	}
	_ = sink
}

// BenchmarkIPv4Encode encodes a header with its checksum, as every IPv4
// packet sent does.
func BenchmarkIPv4Encode(b *testing.B) {
	buf := make(IPv4, IPv4MinHeaderLen)
	f := IPv4Fields{TotalLen: 92, TTL: 64, Protocol: ProtoUDP, DontFragment: true, Src: [4]byte{192, 0, 2, 1}, Dst: [4]byte{192, 0, 2, 2}}
	for i := 0; i < b.N; i++ {
		f.ID = uint16(i)
		buf.Encode(&f)
	}
}
