package header

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestICMPv6Echo(t *testing.T) {
	m := ICMPv6(buildEcho6(ICMPv6EchoRequest, testSrcIP6, testDstIP6, 0x1234, 0x5678, []byte("ping6")))
	want := []byte{128, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 'p', 'i', 'n', 'g', '6'}
	want[2], want[3] = m[2], m[3] // Checked below.
	if !bytes.Equal(m, want) {
		t.Errorf("EncodeEcho: got % x, want % x", []byte(m), want)
	}
	if got, want := m.Check(testSrcIP6, testDstIP6), OK; got != want {
		t.Fatalf("Check(): got %v, want %v", got, want)
	}
	if !naiveOK6(ProtoICMPv6, testSrcIP6, testDstIP6, uint32(len(m)), m) {
		t.Errorf("naive checksum of echo request does not verify")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Type", m.Type(), uint8(ICMPv6EchoRequest)},
		{"Code", m.Code(), uint8(0)},
		{"IsError", m.IsError(), false},
		{"Ident", m.Ident(), uint16(0x1234)},
		{"Seq", m.Seq(), uint16(0x5678)},
		{"Payload", string(m.Payload()), "ping6"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s(): got %v, want %v", c.name, c.got, c.want)
		}
	}

	// Turning the request into a reply in place: the pseudo header is
	// unchanged by swapping the addresses, so an incremental update of
	// the type word suffices.
	oldv := binary.BigEndian.Uint16(m[0:2])
	m.SetType(ICMPv6EchoReply)
	m.SetChecksumField(ChecksumUpdate16(m.Checksum(), oldv, binary.BigEndian.Uint16(m[0:2])))
	if got, want := m.Check(testDstIP6, testSrcIP6), OK; got != want {
		t.Errorf("reply: Check(): got %v, want %v", got, want)
	}
	r := ICMPv6(buildEcho6(ICMPv6EchoReply, testDstIP6, testSrcIP6, 0x1234, 0x5678, []byte("ping6")))
	if got, want := m.Checksum(), r.Checksum(); got != want {
		t.Errorf("reply: Checksum(): got %#04x, want %#04x", got, want)
	}

	tests := []struct {
		name     string
		mutate   func(m []byte) []byte
		src, dst [16]byte
		want     Error
	}{
		{"valid", func(m []byte) []byte { return m }, testSrcIP6, testDstIP6, OK},
		{"empty", func(m []byte) []byte { return m[:0] }, testSrcIP6, testDstIP6, ErrTruncated},
		{"truncated header", func(m []byte) []byte { return m[:7] }, testSrcIP6, testDstIP6, ErrTruncated},
		{"bad checksum", func(m []byte) []byte { m[2] ^= 0x80; return m }, testSrcIP6, testDstIP6, ErrChecksum},
		{"bad type", func(m []byte) []byte { m[0] = ICMPv6EchoReply; return m }, testSrcIP6, testDstIP6, ErrChecksum},
		{"truncated payload", func(m []byte) []byte { return m[:len(m)-1] }, testSrcIP6, testDstIP6, ErrChecksum},
		{"trailing byte", func(m []byte) []byte { return append(m, 0) }, testSrcIP6, testDstIP6, ErrChecksum},
		{"wrong source", func(m []byte) []byte { return m }, testDstIP6, testDstIP6, ErrChecksum},
		{"wrong destination", func(m []byte) []byte { return m }, testSrcIP6, testSrcIP6, ErrChecksum},
		{"ICMPv4 checksum", func(m []byte) []byte { ICMPv4(m).SetChecksum(); return m }, testSrcIP6, testDstIP6, ErrChecksum},
		{"all zero", func(m []byte) []byte { clear(m); return m }, [16]byte{}, [16]byte{}, ErrChecksum},
	}
	for _, tt := range tests {
		b := tt.mutate(buildEcho6(ICMPv6EchoRequest, testSrcIP6, testDstIP6, 1, 2, []byte("payload")))
		if got := ICMPv6(b).Check(tt.src, tt.dst); got != tt.want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestICMPv6Errors(t *testing.T) {
	invoking := buildIPv6(ProtoUDP, testDstIP6, testSrcIP6, nil, buildUDP6(1, 2, []byte("x")))
	big := buildIPv6(ProtoUDP, testDstIP6, testSrcIP6, nil, buildUDP6(1, 2, make([]byte, 1452)))
	tests := []struct {
		name       string
		typ, code  uint8
		param      uint32
		invoking   []byte
		bufLen     int
		wantLen    int
		wantMTU    uint32
		wantPtr    uint32
		wantIsErr  bool
		wantPrefix []byte
	}{
		{"port unreachable", ICMPv6DestUnreachable, ICMPv6PortUnreachable, 0, invoking, 1500, 8 + len(invoking), 0, 0, true, invoking},
		{"packet too big", ICMPv6PacketTooBig, 0, 1280, big, 1500, ICMPv6MaxErrorLen, 1280, 1280, true, big[:ICMPv6MaxErrorLen-8]},
		{"hop limit exceeded", ICMPv6TimeExceeded, ICMPv6HopLimitExceeded, 0, invoking, 1500, 8 + len(invoking), 0, 0, true, invoking},
		{"unknown next header", ICMPv6ParamProblem, ICMPv6UnknownNextHeader, 6, invoking, 1500, 8 + len(invoking), 6, 6, true, invoking},
		{"small buffer", ICMPv6DestUnreachable, ICMPv6AddressUnreachable, 0, big, 100, 100, 0, 0, true, big[:92]},
		{"header only", ICMPv6DestUnreachable, ICMPv6NoRoute, 0, nil, 8, 8, 0, 0, true, nil},
	}
	for _, tt := range tests {
		buf := make([]byte, tt.bufLen)
		for i := range buf {
			buf[i] = 0xee // EncodeError must overwrite everything it returns.
		}
		m := ICMPv6(buf)
		n := m.EncodeError(tt.typ, tt.code, tt.param, tt.invoking)
		if n != tt.wantLen {
			t.Errorf("%s: EncodeError(): got length %v, want %v", tt.name, n, tt.wantLen)
			continue
		}
		m = m[:n]
		m.SetChecksum(testSrcIP6, testDstIP6)
		if got, want := m.Check(testSrcIP6, testDstIP6), OK; got != want {
			t.Errorf("%s: Check(): got %v, want %v", tt.name, got, want)
		}
		if !naiveOK6(ProtoICMPv6, testSrcIP6, testDstIP6, uint32(n), m) {
			t.Errorf("%s: naive checksum does not verify", tt.name)
		}
		if m.Type() != tt.typ || m.Code() != tt.code || m.MTU() != tt.wantMTU || m.Pointer() != tt.wantPtr ||
			m.IsError() != tt.wantIsErr || !bytes.Equal(m.Payload(), tt.wantPrefix) {
			t.Errorf("%s: got type %d code %d MTU %d pointer %d IsError %v payload % x", tt.name,
				m.Type(), m.Code(), m.MTU(), m.Pointer(), m.IsError(), m.Payload())
		}
		if IPv6HeaderLen+n > IPv6MinMTU {
			t.Errorf("%s: error packet of %d bytes exceeds the minimum MTU", tt.name, IPv6HeaderLen+n)
		}
	}

	// Setters of the 32-bit field.
	m := ICMPv6(make([]byte, 8))
	m.SetMTU(9000)
	if got, want := m.MTU(), uint32(9000); got != want {
		t.Errorf("MTU(): got %v, want %v", got, want)
	}
	m.SetPointer(40)
	if got, want := m.Pointer(), uint32(40); got != want {
		t.Errorf("Pointer(): got %v, want %v", got, want)
	}
	m.SetIdent(0xabcd)
	m.SetSeq(0x0102)
	m.SetCode(3)
	if m.Ident() != 0xabcd || m.Seq() != 0x0102 || m.Code() != 3 {
		t.Errorf("setters: got % x", []byte(m))
	}
	for typ, want := range map[uint8]bool{0: true, 1: true, 127: true, 128: false, 135: false, 255: false} {
		m.SetType(typ)
		if got := m.IsError(); got != want {
			t.Errorf("type %d: IsError(): got %v, want %v", typ, got, want)
		}
	}
}
