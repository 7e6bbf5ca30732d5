package header

import (
	"encoding/binary"
	"testing"
)

// Each fuzz target feeds arbitrary bytes to a view's Check, which must not
// panic, compares its verdict with a straightforward reference validator
// built on naiveChecksum, and, when the input is accepted, exercises every
// accessor and checks the invariants that Check promises.

func FuzzEthernet(f *testing.F) {
	valid := buildUDPFrame(1, 2, []byte("payload"))
	f.Add(valid)                         // Valid Ethernet+IPv4+UDP frame.
	f.Add(valid[:EthernetHeaderLen])     // Header only, empty payload.
	f.Add(valid[:EthernetHeaderLen-1])   // Truncated header.
	f.Add([]byte{})                      // Empty.
	f.Add(append(clone(valid), 0, 0, 0)) // Trailing padding.
	bcast := BroadcastMAC()
	f.Add(append([]byte{}, bcast[:]...)) // Destination address only.
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Ethernet(b).Check()
		if want := len(b) >= EthernetHeaderLen; (e == OK) != want {
			t.Fatalf("Check() on %d bytes: got %v, want OK %v", len(b), e, want)
		}
		if e != OK {
			return
		}
		eth := Ethernet(b)
		if got, want := len(eth.Payload()), len(b)-EthernetHeaderLen; got != want {
			t.Errorf("len(Payload()): got %v, want %v", got, want)
		}
		if eth.Dst().IsBroadcast() && !eth.Dst().IsMulticast() {
			t.Errorf("%v: IsBroadcast() true but IsMulticast() false", eth.Dst())
		}
		_ = eth.Dst().String()
		// Re-encoding the parsed fields reproduces the header.
		c := make(Ethernet, EthernetHeaderLen)
		c.Encode(eth.Dst(), eth.Src(), eth.Type())
		if string(c) != string(b[:EthernetHeaderLen]) {
			t.Errorf("re-encoded header: got %x, want %x", []byte(c), b[:EthernetHeaderLen])
		}
	})
}

// refARPCheck is a reference implementation of ARP.Check.
func refARPCheck(b []byte) Error {
	switch {
	case len(b) < 28:
		return ErrTruncated
	case b[0] != 0 || b[1] != 1 || b[2] != 8 || b[3] != 0 || b[4] != 6 || b[5] != 4:
		return ErrUnsupported
	case b[6] != 0 || (b[7] != 1 && b[7] != 2):
		return ErrUnsupported
	}
	return OK
}

func FuzzARP(f *testing.F) {
	req := buildARP(ARPRequest)
	f.Add(req)                                     // Valid request.
	f.Add(buildARP(ARPReply))                      // Valid reply.
	f.Add(append(clone(req), make([]byte, 18)...)) // Valid request with Ethernet padding.
	f.Add(req[:ARPLen-1])                          // Truncated.
	f.Add([]byte{})                                // Empty.
	bad := clone(req)
	bad[5] = 16 // Protocol address length of IPv6.
	f.Add(bad)
	bad = clone(req)
	bad[7] = 3 // RARP request.
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		a := ARP(b)
		e := a.Check()
		if want := refARPCheck(b); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		if e != OK {
			return
		}
		if a.HardwareLen() != 6 || a.ProtocolLen() != 4 {
			t.Errorf("address lengths: got %d, %d, want 6, 4", a.HardwareLen(), a.ProtocolLen())
		}
		c := make(ARP, ARPLen)
		c.Encode(a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
		if string(c) != string(b[:ARPLen]) {
			t.Errorf("re-encoded packet: got %x, want %x", []byte(c), b[:ARPLen])
		}
		if got, want := c.Check(), OK; got != want {
			t.Errorf("re-encoded packet: Check(): got %v, want %v", got, want)
		}
	})
}

// refIPv4Check is a reference implementation of IPv4.Check.
func refIPv4Check(b []byte) Error {
	if len(b) < 20 {
		return ErrTruncated
	}
	if b[0]>>4 != 4 {
		return ErrVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < 20 || hl > len(b) {
		return ErrHeaderLen
	}
	tl := int(b[2])<<8 | int(b[3])
	if tl < hl || tl > len(b) {
		return ErrTotalLen
	}
	if naiveChecksum(b[:hl], 0) != 0xffff {
		return ErrChecksum
	}
	return OK
}

func FuzzIPv4(f *testing.F) {
	frame := buildUDPFrame(1, 2, []byte("payload"))
	ip := clone(frame[EthernetHeaderLen:])
	f.Add(ip)                            // Valid packet carrying UDP.
	f.Add(append(clone(ip), 0, 0, 0, 0)) // Valid packet with Ethernet padding.
	f.Add(ip[:IPv4MinHeaderLen])         // Truncated after the header.
	f.Add(ip[:IPv4MinHeaderLen-1])       // Truncated header.
	bad := clone(ip)
	bad[10] ^= 0xff // Bad checksum.
	f.Add(bad)
	bad = clone(ip)
	bad[0] = 0x65 // Version 6.
	f.Add(bad)
	bad = clone(ip)
	bad[0] = 0x44 // IHL 4.
	f.Add(bad)
	withOpts := make([]byte, 28) // 24-byte header with Router Alert, 4-byte payload.
	withOpts[0], withOpts[3], withOpts[8], withOpts[9] = 0x46, 28, 1, 2
	copy(withOpts[20:], []byte{0x94, 4, 0, 0})
	IPv4(withOpts).SetChecksum()
	f.Add(withOpts)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv4(b)
		e := ip.Check()
		if want := refIPv4Check(b); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		if e != OK {
			return
		}
		hl, tl := ip.HeaderLen(), int(ip.TotalLen())
		if !(IPv4MinHeaderLen <= hl && hl <= tl && tl <= len(b)) {
			t.Fatalf("lengths: got header %d, total %d, buffer %d, want 20 <= header <= total <= buffer", hl, tl, len(b))
		}
		if got, want := len(ip.Payload()), tl-hl; got != want {
			t.Errorf("len(Payload()): got %v, want %v", got, want)
		}
		if got, want := len(ip.Options()), hl-IPv4MinHeaderLen; got != want {
			t.Errorf("len(Options()): got %v, want %v", got, want)
		}
		if ip.Version() != 4 {
			t.Errorf("Version(): got %v, want 4", ip.Version())
		}
		if ip.IsFragment() != (ip.MoreFragments() || ip.FragmentOffset() != 0) {
			t.Errorf("IsFragment(): got %v, want MF %v || offset %d", ip.IsFragment(), ip.MoreFragments(), ip.FragmentOffset())
		}
		if !ip.SrcAddr().Is4() || ip.DstAddr().As4() != ip.Dst() {
			t.Errorf("addresses: got %v, %v", ip.SrcAddr(), ip.DstAddr())
		}
		// Recomputing the checksum keeps the header valid, and
		// decrementing the TTL with an incremental update does too.
		c := IPv4(clone(b))
		c.SetChecksum()
		if got, want := c.Check(), OK; got != want {
			t.Errorf("after SetChecksum: Check(): got %v, want %v", got, want)
		}
		oldv := binary.BigEndian.Uint16(c[8:10])
		c.SetTTL(c.TTL() - 1)
		c.SetHeaderChecksum(ChecksumUpdate16(c.HeaderChecksum(), oldv, binary.BigEndian.Uint16(c[8:10])))
		if got, want := c.Check(), OK; got != want {
			t.Errorf("after TTL decrement: Check(): got %v, want %v", got, want)
		}
	})
}

// refICMPv4Check is a reference implementation of ICMPv4.Check.
func refICMPv4Check(b []byte) Error {
	if len(b) < 8 {
		return ErrTruncated
	}
	if naiveChecksum(b, 0) != 0xffff {
		return ErrChecksum
	}
	return OK
}

func FuzzICMPv4(f *testing.F) {
	echo := buildICMPEcho(0x1234, 1, []byte("abcdefgh"))
	f.Add(echo)                             // Valid echo request.
	f.Add(buildICMPEcho(1, 2, []byte("x"))) // Valid echo request, odd length.
	f.Add(buildICMPEcho(0, 0, nil))         // Valid, header only.
	f.Add(echo[:ICMPv4MinLen-1])            // Truncated header.
	f.Add(echo[:len(echo)-1])               // Truncated payload (bad checksum).
	bad := clone(echo)
	bad[3] ^= 1 // Bad checksum.
	f.Add(bad)
	f.Add(make([]byte, ICMPv4MinLen)) // All zero: checksum must be 0xffff.
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ICMPv4(b)
		e := m.Check()
		if want := refICMPv4Check(b); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		if e != OK {
			return
		}
		if got, want := len(m.Payload()), len(b)-ICMPv4MinLen; got != want {
			t.Errorf("len(Payload()): got %v, want %v", got, want)
		}
		_, _, _, _ = m.Type(), m.Code(), m.Ident(), m.Seq()
		// Rewriting the type in place with an incremental update gives
		// the same checksum as recomputing it.
		c := ICMPv4(clone(b))
		oldv := binary.BigEndian.Uint16(c[0:2])
		c.SetType(^c.Type())
		newv := binary.BigEndian.Uint16(c[0:2])
		got := ChecksumUpdate16(c.Checksum(), oldv, newv)
		c.SetChecksum()
		// The one exception (see ChecksumUpdate16) is a message that
		// becomes all zero, checksum included.
		if allZero(c[4:]) && newv == 0 {
			return
		}
		if want := c.Checksum(); got != want {
			t.Errorf("ChecksumUpdate16: got %#04x, want %#04x", got, want)
		}
		if got, want := c.Check(), OK; got != want {
			t.Errorf("after SetChecksum: Check(): got %v, want %v", got, want)
		}
	})
}

// refUDPCheck is a reference implementation of UDP.Check.
func refUDPCheck(b []byte, src, dst [4]byte) Error {
	if len(b) < 8 {
		return ErrTruncated
	}
	n := int(b[4])<<8 | int(b[5])
	if n < 8 || n > len(b) {
		return ErrBadLength
	}
	if b[6] == 0 && b[7] == 0 {
		return OK
	}
	if !naiveTransportOK(ProtoUDP, src, dst, b[:n]) {
		return ErrChecksum
	}
	return OK
}

func FuzzUDP(f *testing.F) {
	frame := buildUDPFrame(53, 5353, []byte("odd payload"))
	u := clone(frame[EthernetHeaderLen+IPv4MinHeaderLen:])
	src, dst := binary.BigEndian.Uint32(testSrcIP[:]), binary.BigEndian.Uint32(testDstIP[:])
	f.Add(u, src, dst)                         // Valid datagram.
	f.Add(append(clone(u), 1, 2, 3), src, dst) // Valid, followed by padding.
	f.Add(u[:UDPHeaderLen-1], src, dst)        // Truncated header.
	f.Add(u[:len(u)-1], src, dst)              // Truncated payload: Length > len.
	f.Add(u, dst, src)                         // Wrong pseudo header.
	bad := clone(u)
	bad[len(bad)-1] ^= 0x40 // Bad checksum.
	f.Add(bad, src, dst)
	bad = clone(u)
	bad[6], bad[7] = 0, 0 // No checksum.
	f.Add(bad, src, dst)
	bad = clone(u)
	bad[4], bad[5] = 0, 7 // Length below the header length.
	f.Add(bad, src, dst)
	f.Fuzz(func(t *testing.T, b []byte, srcU, dstU uint32) {
		var src, dst [4]byte
		binary.BigEndian.PutUint32(src[:], srcU)
		binary.BigEndian.PutUint32(dst[:], dstU)
		u := UDP(b)
		e := u.Check(src, dst)
		if want := refUDPCheck(b, src, dst); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		if e != OK {
			return
		}
		n := int(u.Length())
		if n < UDPHeaderLen || n > len(b) {
			t.Fatalf("Length(): got %d, want in [8, %d]", n, len(b))
		}
		if got, want := len(u.Payload()), n-UDPHeaderLen; got != want {
			t.Errorf("len(Payload()): got %v, want %v", got, want)
		}
		_, _ = u.SrcPort(), u.DstPort()
		c := UDP(clone(b))
		c.SetChecksum(src, dst)
		if c.Checksum() == 0 {
			t.Errorf("SetChecksum stored 0, want nonzero")
		}
		if got, want := c.Check(src, dst), OK; got != want {
			t.Errorf("after SetChecksum: Check(): got %v, want %v", got, want)
		}
	})
}

// refTCPCheck is a reference implementation of TCP.Check.
func refTCPCheck(b []byte, src, dst [4]byte) Error {
	if len(b) < 20 {
		return ErrTruncated
	}
	off := int(b[12]>>4) * 4
	if off < 20 || off > len(b) {
		return ErrHeaderLen
	}
	if len(b) > 0xffff {
		return ErrBadLength
	}
	if !naiveTransportOK(ProtoTCP, src, dst, b) {
		return ErrChecksum
	}
	return OK
}

func FuzzTCP(f *testing.F) {
	opts := []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2} // MSS, NOP, NOP, SACK permitted
	seg := buildTCP(testSrcIP, testDstIP, TCPFlagSyn, opts, nil)
	data := buildTCP(testSrcIP, testDstIP, TCPFlagAck|TCPFlagPsh, nil, []byte("some data"))
	src, dst := binary.BigEndian.Uint32(testSrcIP[:]), binary.BigEndian.Uint32(testDstIP[:])
	f.Add(seg, src, dst)                      // Valid SYN with options.
	f.Add(data, src, dst)                     // Valid segment with data.
	f.Add(data[:TCPMinHeaderLen-1], src, dst) // Truncated header.
	f.Add(seg[:TCPMinHeaderLen+4], src, dst)  // Options cut short.
	f.Add(data[:len(data)-1], src, dst)       // Truncated data (bad checksum).
	bad := clone(data)
	bad[16] ^= 0x01 // Bad checksum.
	f.Add(bad, src, dst)
	bad = clone(data)
	bad[12] = 0x40 // Data offset 16.
	f.Add(bad, src, dst)
	f.Fuzz(func(t *testing.T, b []byte, srcU, dstU uint32) {
		var src, dst [4]byte
		binary.BigEndian.PutUint32(src[:], srcU)
		binary.BigEndian.PutUint32(dst[:], dstU)
		s := TCP(b)
		e := s.Check(src, dst)
		if want := refTCPCheck(b, src, dst); e != want {
			t.Fatalf("Check(): got %v, want %v", e, want)
		}
		if e != OK {
			return
		}
		off := s.DataOffset()
		if off < TCPMinHeaderLen || off > len(b) {
			t.Fatalf("DataOffset(): got %d, want in [20, %d]", off, len(b))
		}
		if got, want := TCPMinHeaderLen+len(s.Options())+len(s.Payload()), len(b); got != want {
			t.Errorf("20 + len(Options()) + len(Payload()): got %v, want %v", got, want)
		}
		_, _, _, _, _, _, _ = s.SrcPort(), s.DstPort(), s.Seq(), s.Ack(), s.Flags(), s.Window(), s.UrgentPtr()
		c := TCP(clone(b))
		c.SetChecksum(src, dst, uint16(len(c)))
		if got, want := c.Check(src, dst), OK; got != want {
			t.Errorf("after SetChecksum: Check(): got %v, want %v", got, want)
		}
	})
}

func allZero(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}
