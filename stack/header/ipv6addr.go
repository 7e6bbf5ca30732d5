package header

// IPv6 addresses are [16]byte values, as returned by IPv6.Src and IPv6.Dst;
// netip.AddrFrom16 and netip.Addr.As16 convert to and from netip.Addr.

// IPv6AllNodes returns the link-local all-nodes multicast address, ff02::1,
// the destination of unsolicited neighbor advertisements.
func IPv6AllNodes() [16]byte {
	return [16]byte{0: 0xff, 1: 0x02, 15: 0x01}
}

// IPv6SolicitedNode returns the solicited-node multicast address of a,
// ff02::1:ff00:0/104 followed by the low 24 bits of a (RFC 4291 section
// 2.7.1), the destination of neighbor solicitations for a.
func IPv6SolicitedNode(a [16]byte) [16]byte {
	return [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// IPv6MulticastMAC returns the Ethernet address to which a packet for the
// IPv6 multicast address a is sent: 33:33 followed by the last four bytes of
// a (RFC 2464 section 7). a must be a multicast address (ff00::/8); the
// result for any other address is meaningless.
func IPv6MulticastMAC(a [16]byte) MAC {
	return MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// ModifiedEUI64 returns the modified EUI-64 interface identifier derived
// from the Ethernet address m (RFC 4291 appendix A, RFC 2464 section 4):
// ff:fe inserted between its third and fourth bytes, and the
// universal/local bit (0x02 of the first byte) inverted.
func ModifiedEUI64(m MAC) [8]byte {
	return [8]byte{m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]}
}

// IPv6LinkLocal returns the link-local address in fe80::/64 whose interface
// identifier is ModifiedEUI64(m) (RFC 4862 section 5.3).
func IPv6LinkLocal(m MAC) [16]byte {
	id := ModifiedEUI64(m)
	a := [16]byte{0: 0xfe, 1: 0x80}
	copy(a[8:], id[:])
	return a
}
