package header

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// EthernetHeaderLen is the length of an Ethernet II header without a VLAN
// tag.
const EthernetHeaderLen = 14

// EtherType values.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
	EtherTypeVLAN = 0x8100
)

// MAC is an Ethernet (EUI-48) hardware address.
type MAC [6]byte

// BroadcastMAC returns the Ethernet broadcast address, ff:ff:ff:ff:ff:ff.
func BroadcastMAC() MAC { return MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// IsBroadcast reports whether m is the broadcast address.
func (m MAC) IsBroadcast() bool {
	return m == MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
}

// IsMulticast reports whether m is a group address, that is, whether the
// I/G bit is set. The broadcast address is a multicast address.
func (m MAC) IsMulticast() bool {
	return m[0]&1 != 0
}

// String returns m in the form "xx:xx:xx:xx:xx:xx" using lowercase
// hexadecimal digits. It allocates and is intended for logging.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var buf [17]byte
	for i, v := range m {
		if i > 0 {
			buf[3*i-1] = ':'
		}
		buf[3*i] = hex[v>>4]
		buf[3*i+1] = hex[v&0xf]
	}
	return string(buf[:])
}

// ParseMAC parses s as six pairs of hexadecimal digits separated by colons or
// hyphens, as in "02:00:5e:10:00:01" or "02-00-5E-10-00-01". The same
// separator must be used throughout; either case of digit is accepted.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 || (s[2] != ':' && s[2] != '-') {
		return MAC{}, errors.New("header: invalid MAC address " + strconv.Quote(s))
	}
	sep := s[2]
	for i := range m {
		if i > 0 && s[3*i-1] != sep {
			return MAC{}, errors.New("header: invalid MAC address " + strconv.Quote(s))
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return MAC{}, errors.New("header: invalid MAC address " + strconv.Quote(s))
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Ethernet is a view of an Ethernet II frame, starting at the destination
// address. Its accessors and setters require len >= EthernetHeaderLen, which
// Check verifies; call Check before any other method on a received frame.
type Ethernet []byte

// Check reports whether b is long enough to hold an Ethernet header. It
// never panics.
func (b Ethernet) Check() Error {
	if len(b) < EthernetHeaderLen {
		return ErrTruncated
	}
	return OK
}

// Dst returns the destination address.
func (b Ethernet) Dst() MAC { return MAC(b[0:6]) }

// Src returns the source address.
func (b Ethernet) Src() MAC { return MAC(b[6:12]) }

// Type returns the EtherType. It is EtherTypeVLAN for a tagged frame, whose
// tags this view does not interpret.
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[12:14]) }

// SetDst sets the destination address.
func (b Ethernet) SetDst(m MAC) { copy(b[0:6], m[:]) }

// SetSrc sets the source address.
func (b Ethernet) SetSrc(m MAC) { copy(b[6:12], m[:]) }

// SetType sets the EtherType.
func (b Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(b[12:14], t) }

// Encode writes a complete Ethernet header.
func (b Ethernet) Encode(dst, src MAC, typ uint16) {
	_ = b[EthernetHeaderLen-1] // Bounds check hint.
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], typ)
}

// Payload returns the bytes following the header. For frames received from
// a driver they may include trailing padding up to the minimum frame size.
func (b Ethernet) Payload() []byte { return b[EthernetHeaderLen:] }
