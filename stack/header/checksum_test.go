package header

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the sum of these bytes is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got, want := Fold(Checksum(b, 0)), uint16(0xddf2); got != want {
		t.Errorf("Fold(Checksum(example)) = %#04x, want %#04x", got, want)
	}
}

func TestChecksumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 256)
	for n := 0; n <= 200; n++ {
		for off := 0; off < 8; off++ {
			for iter := 0; iter < 8; iter++ {
				b := buf[off : off+n]
				switch iter {
				case 0: // All ones, to stress carries.
					for i := range b {
						b[i] = 0xff
					}
				case 1:
					clear(b)
				default:
					for i := range b {
						b[i] = byte(r.Uint32())
					}
				}
				var initial uint32
				switch iter {
				case 2:
					initial = 0xffffffff
				case 3, 4:
					initial = r.Uint32()
				}
				got := Fold(Checksum(b, initial))
				want := naiveChecksum(b, initial)
				if got != want {
					t.Fatalf("len %d offset %d initial %#x: got %#04x, want %#04x", n, off, initial, got, want)
				}
			}
		}
	}
}

func TestChecksumLarge(t *testing.T) {
	// Large all-ones and random buffers exercise the carry accumulator.
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1500, 9000, 65535, 1 << 20} {
		ones := make([]byte, n)
		rnd := make([]byte, n)
		for i := range ones {
			ones[i] = 0xff
			rnd[i] = byte(r.Uint32())
		}
		for _, b := range [][]byte{ones, rnd} {
			if got, want := Fold(Checksum(b, 0)), naiveChecksum(b, 0); got != want {
				t.Errorf("len %d: got %#04x, want %#04x", n, got, want)
			}
		}
	}
}

func TestChecksumChaining(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 301)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	want := Fold(Checksum(b, 0))
	for split := 0; split <= len(b); split += 2 {
		got := Fold(Checksum(b[split:], Checksum(b[:split], 0)))
		if got != want {
			t.Errorf("split at %d: got %#04x, want %#04x", split, got, want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		in   uint32
		want uint16
	}{
		{0, 0},
		{1, 1},
		{0xffff, 0xffff},
		{0x10000, 1},
		{0x1fffe, 0xffff},
		{0xffffffff, 0xffff},
		{0x12345678, 0x68ac},
		{0xffff0000, 0xffff},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%#x): got %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	tests := []struct {
		proto    uint8
		src, dst [4]byte
		length   uint16
	}{
		{ProtoUDP, [4]byte{192, 0, 2, 1}, [4]byte{198, 51, 100, 7}, 8},
		{ProtoTCP, [4]byte{255, 255, 255, 255}, [4]byte{255, 255, 255, 255}, 0xffff},
		{ProtoUDP, [4]byte{}, [4]byte{}, 0},
		{ProtoTCP, [4]byte{10, 1, 2, 3}, [4]byte{172, 16, 254, 1}, 1480},
	}
	for _, tt := range tests {
		got := Fold(PseudoHeaderChecksum(tt.proto, tt.src, tt.dst, tt.length))
		want := naiveChecksum(naivePseudo(tt.proto, tt.src, tt.dst, tt.length), 0)
		if got != want {
			t.Errorf("PseudoHeaderChecksum(%d, %v, %v, %d): got %#04x, want %#04x",
				tt.proto, tt.src, tt.dst, tt.length, got, want)
		}
	}
}

func TestChecksumUpdate16(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for iter := 0; iter < 10000; iter++ {
		n := 8 + 2*r.IntN(40)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		// Checksum field at 2:4, as in ICMP.
		b[2], b[3] = 0, 0
		binary.BigEndian.PutUint16(b[2:4], ^Fold(Checksum(b, 0)))
		old := binary.BigEndian.Uint16(b[2:4])

		// Rewrite one word other than the checksum.
		w := 2 * r.IntN(n/2)
		if w == 2 {
			w = 0
		}
		oldv := binary.BigEndian.Uint16(b[w:])
		newv := uint16(r.Uint32())
		switch iter % 4 {
		case 0:
			newv = 0
		case 1:
			newv = 0xffff
		}
		binary.BigEndian.PutUint16(b[w:], newv)

		got := ChecksumUpdate16(old, oldv, newv)
		b[2], b[3] = 0, 0
		want := ^naiveChecksum(b, 0)
		if got != want {
			t.Fatalf("iter %d: ChecksumUpdate16(%#04x, %#04x, %#04x): got %#04x, want %#04x",
				iter, old, oldv, newv, got, want)
		}
	}
}

func TestChecksumUpdate16ICMPEcho(t *testing.T) {
	// Turning an echo request into a reply in place, as a responder does.
	m := ICMPv4(buildICMPEcho(0x4242, 7, []byte("abcdefghijklmnopq")))
	if got, want := m.Check(), OK; got != want {
		t.Fatalf("Check() before rewrite: got %v, want %v", got, want)
	}
	oldv := binary.BigEndian.Uint16(m[0:2])
	m.SetType(ICMPEchoReply)
	newv := binary.BigEndian.Uint16(m[0:2])
	m.SetChecksumField(ChecksumUpdate16(m.Checksum(), oldv, newv))
	if got, want := m.Check(), OK; got != want {
		t.Errorf("Check() after rewrite: got %v, want %v", got, want)
	}
	want := ICMPv4(buildICMPEcho(0x4242, 7, []byte("abcdefghijklmnopq")))
	want.SetType(ICMPEchoReply)
	want.SetChecksum()
	if got, want := m.Checksum(), want.Checksum(); got != want {
		t.Errorf("Checksum(): got %#04x, want %#04x", got, want)
	}
}

func TestChecksumUpdate16AllZero(t *testing.T) {
	// The documented exception: data that becomes all zero.
	b := []byte{0xff, 0x00, 0, 0, 0, 0, 0, 0}
	ICMPv4(b).SetChecksum()
	old := ICMPv4(b).Checksum()
	if got, want := ChecksumUpdate16(old, 0xff00, 0), uint16(0); got != want {
		t.Errorf("ChecksumUpdate16(%#04x, 0xff00, 0): got %#04x, want %#04x", old, got, want)
	}
	clear(b)
	ICMPv4(b).SetChecksum()
	if got, want := ICMPv4(b).Checksum(), uint16(0xffff); got != want {
		t.Errorf("recomputed checksum of zero message: got %#04x, want %#04x", got, want)
	}
}
