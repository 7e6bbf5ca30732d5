package driver

import (
	"bytes"
	"testing"
)

// newTestPacket returns a packet over a buffer of headroom+dataRoom bytes
// filled with a recognisable pattern, outside any pool.
func newTestPacket(headroom, dataRoom int) *Packet {
	buf := make([]byte, headroom+dataRoom)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	p := &Packet{}
	p.Init(buf, headroom, nil)
	return p
}

// shape is the observable layout of a packet.
type shape struct{ off, n, head, tail int }

func shapeOf(p *Packet) shape {
	return shape{off: p.off, n: p.Len(), head: p.Headroom(), tail: p.Tailroom()}
}

func TestPacketInit(t *testing.T) {
	p := newTestPacket(128, 2048)
	if got, want := shapeOf(p), (shape{128, 0, 128, 2048}); got != want {
		t.Fatalf("after Init: got %+v, want %+v", got, want)
	}
	if got := len(p.Data()); got != 0 {
		t.Fatalf("len(Data()) got %v, want 0", got)
	}
	if p.Pool() != nil {
		t.Fatalf("Pool() got %p, want nil", p.Pool())
	}
}

func TestPacketPrepend(t *testing.T) {
	tests := []struct {
		name     string
		headroom int
		setLen   int // frame length appended before Prepend
		n        int
		ok       bool
		want     shape
	}{
		{"zero", 16, 4, 0, true, shape{16, 4, 16, 80 - 4}},
		{"some", 16, 4, 10, true, shape{6, 14, 6, 76}},
		{"exact headroom", 16, 4, 16, true, shape{0, 20, 0, 76}},
		{"one too many", 16, 4, 17, false, shape{16, 4, 16, 76}},
		{"negative", 16, 4, -1, false, shape{16, 4, 16, 76}},
		{"no headroom", 0, 4, 1, false, shape{0, 4, 0, 76}},
		{"no headroom zero", 0, 4, 0, true, shape{0, 4, 0, 76}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPacket(tc.headroom, 80)
			if p.Append(tc.setLen) == nil {
				t.Fatalf("Append(%d) failed", tc.setLen)
			}
			before := append([]byte(nil), p.Data()...)
			got := p.Prepend(tc.n)
			if (got != nil) != tc.ok {
				t.Fatalf("Prepend(%d) got %v, want ok=%v", tc.n, got, tc.ok)
			}
			if s := shapeOf(p); s != tc.want {
				t.Fatalf("after Prepend(%d): got %+v, want %+v", tc.n, s, tc.want)
			}
			if !tc.ok {
				return
			}
			if len(got) != tc.n {
				t.Fatalf("len(Prepend(%d)) got %v, want %v", tc.n, len(got), tc.n)
			}
			// The returned bytes are the front of the frame, in place.
			for i := range got {
				got[i] = 0xAA
			}
			d := p.Data()
			if !bytes.Equal(d[:tc.n], bytes.Repeat([]byte{0xAA}, tc.n)) {
				t.Fatalf("prepended bytes are not the front of Data(): %x", d[:tc.n])
			}
			if !bytes.Equal(d[tc.n:], before) {
				t.Fatalf("old frame got %x, want %x", d[tc.n:], before)
			}
		})
	}
}

func TestPacketAppend(t *testing.T) {
	tests := []struct {
		name   string
		setLen int
		n      int
		ok     bool
		want   shape
	}{
		{"zero", 10, 0, true, shape{8, 10, 8, 22}},
		{"some", 10, 5, true, shape{8, 15, 8, 17}},
		{"exact tailroom", 10, 22, true, shape{8, 32, 8, 0}},
		{"one too many", 10, 23, false, shape{8, 10, 8, 22}},
		{"negative", 10, -1, false, shape{8, 10, 8, 22}},
		{"full buffer", 32, 1, false, shape{8, 32, 8, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPacket(8, 32)
			if p.Append(tc.setLen) == nil {
				t.Fatalf("Append(%d) failed", tc.setLen)
			}
			got := p.Append(tc.n)
			if (got != nil) != tc.ok {
				t.Fatalf("Append(%d) got %v, want ok=%v", tc.n, got, tc.ok)
			}
			if s := shapeOf(p); s != tc.want {
				t.Fatalf("after Append(%d): got %+v, want %+v", tc.n, s, tc.want)
			}
			if tc.ok {
				if len(got) != tc.n {
					t.Fatalf("len(Append(%d)) got %v, want %v", tc.n, len(got), tc.n)
				}
				for i := range got {
					got[i] = 0x55
				}
				d := p.Data()
				if !bytes.Equal(d[tc.setLen:], bytes.Repeat([]byte{0x55}, tc.n)) {
					t.Fatalf("appended bytes are not the tail of Data(): %x", d[tc.setLen:])
				}
			}
		})
	}
}

func TestPacketTrimFront(t *testing.T) {
	tests := []struct {
		n    int
		ok   bool
		want shape
	}{
		{0, true, shape{8, 10, 8, 14}},
		{4, true, shape{12, 6, 12, 14}},
		{10, true, shape{18, 0, 18, 14}},
		{11, false, shape{8, 10, 8, 14}},
		{-1, false, shape{8, 10, 8, 14}},
	}
	for _, tc := range tests {
		p := newTestPacket(8, 24)
		p.Append(10)
		whole := append([]byte(nil), p.Data()...)
		if got := p.TrimFront(tc.n); got != tc.ok {
			t.Errorf("TrimFront(%d) got %v, want %v", tc.n, got, tc.ok)
		}
		if s := shapeOf(p); s != tc.want {
			t.Errorf("after TrimFront(%d): got %+v, want %+v", tc.n, s, tc.want)
		}
		if tc.ok && !bytes.Equal(p.Data(), whole[tc.n:]) {
			t.Errorf("after TrimFront(%d): Data() got %x, want %x", tc.n, p.Data(), whole[tc.n:])
		}
	}
}

func TestPacketTruncate(t *testing.T) {
	tests := []struct {
		n    int
		ok   bool
		want shape
	}{
		{10, true, shape{8, 10, 8, 14}},
		{3, true, shape{8, 3, 8, 21}},
		{0, true, shape{8, 0, 8, 24}},
		{11, false, shape{8, 10, 8, 14}},
		{-1, false, shape{8, 10, 8, 14}},
	}
	for _, tc := range tests {
		p := newTestPacket(8, 24)
		p.Append(10)
		whole := append([]byte(nil), p.Data()...)
		if got := p.Truncate(tc.n); got != tc.ok {
			t.Errorf("Truncate(%d) got %v, want %v", tc.n, got, tc.ok)
		}
		if s := shapeOf(p); s != tc.want {
			t.Errorf("after Truncate(%d): got %+v, want %+v", tc.n, s, tc.want)
		}
		if tc.ok && !bytes.Equal(p.Data(), whole[:tc.n]) {
			t.Errorf("after Truncate(%d): Data() got %x, want %x", tc.n, p.Data(), whole[:tc.n])
		}
	}
}

func TestPacketSetData(t *testing.T) {
	const bufLen = 40 // headroom 8 + data room 32
	tests := []struct {
		off, n int
		ok     bool
		want   shape
	}{
		{0, 0, true, shape{0, 0, 0, 40}},
		{0, 40, true, shape{0, 40, 0, 0}},
		{8, 32, true, shape{8, 32, 8, 0}},
		{40, 0, true, shape{40, 0, 40, 0}},
		{39, 1, true, shape{39, 1, 39, 0}},
		{39, 2, false, shape{8, 5, 8, 27}},
		{41, 0, false, shape{8, 5, 8, 27}},
		{0, 41, false, shape{8, 5, 8, 27}},
		{-1, 5, false, shape{8, 5, 8, 27}},
		{5, -1, false, shape{8, 5, 8, 27}},
		{1 << 62, 1 << 62, false, shape{8, 5, 8, 27}},
	}
	for _, tc := range tests {
		p := newTestPacket(8, bufLen-8)
		p.Append(5)
		if got := p.SetData(tc.off, tc.n); got != tc.ok {
			t.Errorf("SetData(%d, %d) got %v, want %v", tc.off, tc.n, got, tc.ok)
		}
		if s := shapeOf(p); s != tc.want {
			t.Errorf("after SetData(%d, %d): got %+v, want %+v", tc.off, tc.n, s, tc.want)
		}
		if tc.ok && !bytes.Equal(p.Data(), p.Buf[tc.off:tc.off+tc.n]) {
			t.Errorf("SetData(%d, %d): Data() is not Buf[off:off+n]", tc.off, tc.n)
		}
	}
}

func TestPacketReset(t *testing.T) {
	p := newTestPacket(64, 256)
	p.Append(100)
	p.Prepend(20)
	p.TrimFront(50)
	p.Hash, p.Flags, p.Port, p.Queue, p.L2Len, p.L3Len = 1, RxHashValid|TxTCPChecksum, 2, 3, 14, 20
	p.Next = &Packet{}
	p.Priv = 0xdead
	p.Reset()
	if got, want := shapeOf(p), (shape{64, 0, 64, 256}); got != want {
		t.Fatalf("after Reset: got %+v, want %+v", got, want)
	}
	if p.Hash != 0 || p.Flags != 0 || p.Port != 0 || p.Queue != 0 || p.L2Len != 0 || p.L3Len != 0 || p.Next != nil {
		t.Fatalf("after Reset metadata got %+v, want zero", p)
	}
	// Priv belongs to the driver that owns the buffer and survives Reset.
	if got, want := p.Priv, uintptr(0xdead); got != want {
		t.Fatalf("Priv after Reset got %#x, want %#x", got, want)
	}
	// SetData may move the frame anywhere; Reset restores the headroom.
	p.SetData(0, 0)
	p.Reset()
	if got, want := p.Headroom(), 64; got != want {
		t.Fatalf("Headroom after SetData+Reset got %v, want %v", got, want)
	}
}

func TestPacketCopyFrom(t *testing.T) {
	fill := func(p *Packet, n int) {
		d := p.Append(n)
		for i := range d {
			d[i] = byte(i + 1)
		}
		p.Hash, p.Flags, p.Port, p.Queue, p.L2Len, p.L3Len = 0x1234, RxHashValid, 7, 3, 14, 20
	}
	tests := []struct {
		name               string
		srcHead, srcRoom   int
		srcPrepend, srcLen int
		dstHead, dstRoom   int
		ok                 bool
		wantOff            int
	}{
		{"same shape keeps offset", 128, 2048, 0, 60, 128, 2048, true, 128},
		{"prepended source keeps offset", 128, 2048, 40, 60, 128, 2048, true, 88},
		{"empty frame", 128, 2048, 0, 0, 128, 2048, true, 128},
		{"small dest shifts frame to fit", 128, 2048, 0, 1000, 0, 1000, true, 0},
		{"dest fits only at end", 128, 2048, 0, 1000, 16, 1000, true, 16},
		{"dest exactly frame size", 128, 2048, 0, 500, 0, 500, true, 0},
		{"dest too small", 128, 2048, 0, 1001, 0, 1000, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestPacket(tc.srcHead, tc.srcRoom)
			fill(src, tc.srcLen)
			src.Prepend(tc.srcPrepend)
			dst := newTestPacket(tc.dstHead, tc.dstRoom)
			dstPool := &Pool{}
			dst.pool = dstPool
			dst.Append(3)
			before := shapeOf(dst)
			beforeData := append([]byte(nil), dst.Buf...)
			got := dst.CopyFrom(src)
			if got != tc.ok {
				t.Fatalf("CopyFrom got %v, want %v", got, tc.ok)
			}
			if !tc.ok {
				if s := shapeOf(dst); s != before {
					t.Fatalf("failed CopyFrom changed shape: got %+v, want %+v", s, before)
				}
				if !bytes.Equal(dst.Buf, beforeData) {
					t.Fatalf("failed CopyFrom changed the buffer")
				}
				if dst.Hash != 0 || dst.Flags != 0 {
					t.Fatalf("failed CopyFrom changed metadata: %+v", dst)
				}
				return
			}
			if !bytes.Equal(dst.Data(), src.Data()) {
				t.Fatalf("Data() got %x, want %x", dst.Data(), src.Data())
			}
			if got, want := dst.Headroom(), tc.wantOff; got != want {
				t.Fatalf("Headroom() got %v, want %v", got, want)
			}
			if &dst.Buf[0] == &src.Buf[0] {
				t.Fatalf("CopyFrom shared the source buffer")
			}
			if dst.Pool() != dstPool {
				t.Fatalf("CopyFrom changed the pool")
			}
			if dst.Hash != src.Hash || dst.Flags != src.Flags || dst.Port != src.Port ||
				dst.Queue != src.Queue || dst.L2Len != src.L2Len || dst.L3Len != src.L3Len {
				t.Fatalf("metadata got %+v, want that of %+v", dst, src)
			}
			// A copy, not an alias.
			if len(src.Data()) > 0 {
				src.Data()[0] ^= 0xff
				if dst.Data()[0] == src.Data()[0] {
					t.Fatalf("writing the source changed the copy")
				}
			}
		})
	}
}
