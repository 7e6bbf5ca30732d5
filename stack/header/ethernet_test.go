package header

import (
	"bytes"
	"testing"
)

func TestMACString(t *testing.T) {
	tests := []struct {
		m    MAC
		want string
	}{
		{MAC{}, "00:00:00:00:00:00"},
		{BroadcastMAC(), "ff:ff:ff:ff:ff:ff"},
		{MAC{0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd}, "02:00:5e:10:ab:cd"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("MAC(%x).String(): got %v, want %v", tt.m[:], got, tt.want)
		}
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in      string
		want    MAC
		wantErr bool
	}{
		{in: "02:00:5e:10:ab:cd", want: MAC{0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd}},
		{in: "02-00-5E-10-AB-CD", want: MAC{0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd}},
		{in: "ff:ff:ff:ff:ff:ff", want: BroadcastMAC()},
		{in: "", wantErr: true},
		{in: "02:00:5e:10:ab", wantErr: true},
		{in: "02:00:5e:10:ab:cd:", wantErr: true},
		{in: "02:00-5e:10:ab:cd", wantErr: true},
		{in: "02:00:5e:10:ab:cg", wantErr: true},
		{in: "0200.5e10.abcd", wantErr: true},
		{in: "02.00.5e.10.ab.cd", wantErr: true},
		{in: "2:00:5e:10:ab:cd0", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseMAC(tt.in)
		if gotErr := err != nil; gotErr != tt.wantErr {
			t.Errorf("ParseMAC(%q) error: got %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseMAC(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
	// Round trip.
	m := MAC{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}
	if got, err := ParseMAC(m.String()); err != nil || got != m {
		t.Errorf("ParseMAC(%v.String()): got %v, %v, want %v, nil", m, got, err, m)
	}
}

func TestMACClass(t *testing.T) {
	tests := []struct {
		m                    MAC
		broadcast, multicast bool
	}{
		{BroadcastMAC(), true, true},
		{MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, false, true},
		{MAC{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, false, true},
		{MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}, false, false},
		{MAC{}, false, false},
	}
	for _, tt := range tests {
		if got := tt.m.IsBroadcast(); got != tt.broadcast {
			t.Errorf("%v.IsBroadcast(): got %v, want %v", tt.m, got, tt.broadcast)
		}
		if got := tt.m.IsMulticast(); got != tt.multicast {
			t.Errorf("%v.IsMulticast(): got %v, want %v", tt.m, got, tt.multicast)
		}
	}
}

func TestEthernet(t *testing.T) {
	f := make([]byte, 20)
	e := Ethernet(f)
	e.Encode(testDstMAC, testSrcMAC, EtherTypeARP)
	copy(e.Payload(), "abcdef")
	want := []byte{
		0x02, 0x00, 0x5e, 0x10, 0x00, 0x02,
		0x02, 0x00, 0x5e, 0x10, 0x00, 0x01,
		0x08, 0x06,
		'a', 'b', 'c', 'd', 'e', 'f',
	}
	if !bytes.Equal(f, want) {
		t.Fatalf("Encode: got %x, want %x", f, want)
	}
	if got, want := e.Check(), OK; got != want {
		t.Errorf("Check(): got %v, want %v", got, want)
	}
	if got, want := e.Dst(), testDstMAC; got != want {
		t.Errorf("Dst(): got %v, want %v", got, want)
	}
	if got, want := e.Src(), testSrcMAC; got != want {
		t.Errorf("Src(): got %v, want %v", got, want)
	}
	if got, want := e.Type(), uint16(EtherTypeARP); got != want {
		t.Errorf("Type(): got %#04x, want %#04x", got, want)
	}
	e.SetDst(BroadcastMAC())
	e.SetSrc(testDstMAC)
	e.SetType(EtherTypeIPv6)
	if got, want := e.Dst(), BroadcastMAC(); got != want {
		t.Errorf("Dst() after SetDst: got %v, want %v", got, want)
	}
	if got, want := e.Src(), testDstMAC; got != want {
		t.Errorf("Src() after SetSrc: got %v, want %v", got, want)
	}
	if got, want := e.Type(), uint16(EtherTypeIPv6); got != want {
		t.Errorf("Type() after SetType: got %#04x, want %#04x", got, want)
	}
	for n := 0; n < EthernetHeaderLen; n++ {
		if got, want := Ethernet(f[:n]).Check(), ErrTruncated; got != want {
			t.Errorf("Ethernet(len %d).Check(): got %v, want %v", n, got, want)
		}
	}
}
