package driver

// PureSYN reports whether frame, an Ethernet frame, carries a TCP segment
// with SYN set and ACK clear (a connection request) in an unfragmented
// IPv4 packet or an IPv6 packet whose fixed header is followed directly by
// TCP: what a NIC's SYN filter matches. It never panics on short or
// malformed frames; they are not SYNs.
func PureSYN(frame []byte) bool {
	const eth = 14
	if len(frame) < eth+20 {
		return false
	}
	var tcp int
	switch {
	case frame[12] == 0x08 && frame[13] == 0x00: // IPv4
		ip := frame[eth:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 6 || (uint16(ip[6])<<8|uint16(ip[7]))&0x3fff != 0 {
			return false
		}
		tcp = eth + ihl
	case frame[12] == 0x86 && frame[13] == 0xdd: // IPv6
		if len(frame) < eth+40 || frame[eth]>>4 != 6 || frame[eth+6] != 6 {
			return false
		}
		tcp = eth + 40
	default:
		return false
	}
	if len(frame) < tcp+14 {
		return false
	}
	const syn, ack = 0x02, 0x10
	return frame[tcp+13]&(syn|ack) == syn
}
