package memwire

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// txChecksums are the transmit flags that leave a checksum to the port.
const txChecksums = driver.TxIPChecksum | driver.TxTCPChecksum | driver.TxUDPChecksum

// rxVerdict returns the receive flags that say a frame sent with the
// checksum offloads in tx was verified: the wire never corrupts a frame,
// so what the sender left to the port is as good as checked.
func rxVerdict(tx driver.Flags) driver.Flags {
	var f driver.Flags
	if tx&driver.TxIPChecksum != 0 {
		f |= driver.RxIPChecksumGood
	}
	if tx&(driver.TxTCPChecksum|driver.TxUDPChecksum) != 0 {
		f |= driver.RxL4ChecksumGood
	}
	return f
}

// completeChecksums finishes the checksums of frame f that its sender
// left to the port (tx: driver.TxIPChecksum, TxTCPChecksum, TxUDPChecksum,
// with TxIPv6 for an IPv6 frame), as a NIC does before the frame reaches
// the wire. l2 and l3 are the sender's header lengths; the stack left the
// pseudo header's folded sum in the TCP or UDP checksum field. A frame
// whose lengths do not fit is left as it is: the receiver's check drops it.
func completeChecksums(f []byte, tx driver.Flags, l2, l3 int) {
	if l2 < 0 || l3 <= 0 || l2+l3 > len(f) {
		return
	}
	ip := f[l2:]
	var l4 []byte
	if tx&driver.TxIPv6 != 0 {
		h := header.IPv6(ip)
		if h.Check() != header.OK || l3 != header.IPv6HeaderLen {
			return
		}
		l4 = ip[l3 : l3+int(h.PayloadLen())]
	} else {
		h := header.IPv4(ip)
		if h.CheckHeader() != header.OK || h.HeaderLen() != l3 {
			return
		}
		if tx&driver.TxIPChecksum != 0 {
			h.SetChecksum()
		}
		l4 = ip[l3:h.TotalLen()]
	}
	switch {
	case tx&driver.TxTCPChecksum != 0 && len(l4) >= header.TCPMinHeaderLen:
		header.TCP(l4).SetChecksumField(^header.Fold(header.Checksum(l4, 0)))
	case tx&driver.TxUDPChecksum != 0 && len(l4) >= header.UDPHeaderLen:
		sum := ^header.Fold(header.Checksum(l4, 0))
		if sum == 0 {
			sum = 0xffff // zero means "no checksum" (RFC 768)
		}
		header.UDP(l4).SetChecksumField(sum)
	}
}
