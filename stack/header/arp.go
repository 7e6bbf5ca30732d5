package header

import "encoding/binary"

// ARPLen is the length of an ARP packet for IPv4 over Ethernet.
const ARPLen = 28

// ARP operation codes.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP hardware and protocol types handled by this package.
const (
	// ARPHardwareEthernet is the ARP hardware type for Ethernet.
	ARPHardwareEthernet = 1
)

// ARP is a view of an ARP packet for IPv4 over Ethernet (RFC 826). Its
// accessors require len >= ARPLen and the address lengths of that variant,
// which Check verifies; call Check before any other method on a received
// packet.
type ARP []byte

// Check validates an ARP packet: it must be at least ARPLen bytes long and
// describe IPv4 over Ethernet (hardware type 1, protocol type 0x0800,
// address lengths 6 and 4) with a request or reply operation. It returns
// ErrTruncated for a short buffer and ErrUnsupported otherwise. It never
// panics.
func (b ARP) Check() Error {
	if len(b) < ARPLen {
		return ErrTruncated
	}
	if b.HardwareType() != ARPHardwareEthernet || b.ProtocolType() != EtherTypeIPv4 ||
		b.HardwareLen() != 6 || b.ProtocolLen() != 4 {
		return ErrUnsupported
	}
	if op := b.Op(); op != ARPRequest && op != ARPReply {
		return ErrUnsupported
	}
	return OK
}

// HardwareType returns the hardware type.
func (b ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// ProtocolType returns the protocol type, an EtherType.
func (b ARP) ProtocolType() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// HardwareLen returns the hardware address length.
func (b ARP) HardwareLen() uint8 { return b[4] }

// ProtocolLen returns the protocol address length.
func (b ARP) ProtocolLen() uint8 { return b[5] }

// Op returns the operation, ARPRequest or ARPReply.
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// SenderMAC returns the sender hardware address.
func (b ARP) SenderMAC() MAC { return MAC(b[8:14]) }

// SenderIP returns the sender protocol address.
func (b ARP) SenderIP() [4]byte { return [4]byte(b[14:18]) }

// TargetMAC returns the target hardware address.
func (b ARP) TargetMAC() MAC { return MAC(b[18:24]) }

// TargetIP returns the target protocol address.
func (b ARP) TargetIP() [4]byte { return [4]byte(b[24:28]) }

// Encode writes a complete ARP packet for IPv4 over Ethernet with operation
// op, sender addresses sha and spa and target addresses tha and tpa.
func (b ARP) Encode(op uint16, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) {
	_ = b[ARPLen-1] // Bounds check hint.
	binary.BigEndian.PutUint16(b[0:2], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(b[2:4], EtherTypeIPv4)
	b[4] = 6
	b[5] = 4
	binary.BigEndian.PutUint16(b[6:8], op)
	copy(b[8:14], sha[:])
	copy(b[14:18], spa[:])
	copy(b[18:24], tha[:])
	copy(b[24:28], tpa[:])
}
