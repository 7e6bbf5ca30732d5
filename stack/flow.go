package stack

import (
	"encoding/binary"
	"net/netip"
)

// Addresses inside the stack's transport layer are [16]byte in both
// families: an IPv4 address is held IPv4-mapped (::ffff:a.b.c.d, RFC 4291
// section 2.5.5.2), the form netip.Addr.As16 gives. One connection key and
// one code path then serve both families; the IPv4 receive path still
// looks flows up by a 12-byte key (flow4), so IPv6 costs it nothing.

// mapped4 returns the IPv4-mapped form of a.
func mapped4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// is4 reports whether a is IPv4-mapped.
func is4(a [16]byte) bool {
	// Two loads, not twelve: bytes 0-7 zero, 8-9 zero, 10-11 0xffff.
	return binary.LittleEndian.Uint64(a[0:8]) == 0 && binary.LittleEndian.Uint32(a[8:12]) == 0xffff0000
}

// as4 returns the IPv4 address of an IPv4-mapped a.
func as4(a [16]byte) [4]byte { return [4]byte(a[12:]) }

// addrOf returns a netip.Addr as the stack holds it.
func addrOf(a netip.Addr) [16]byte { return a.Unmap().As16() }

// netipOf returns the netip.Addr of a stack address: IPv4 for a mapped one.
func netipOf(a [16]byte) netip.Addr { return netip.AddrFrom16(a).Unmap() }

// any4 is the IPv4 unspecified address, mapped: a socket bound to it
// takes IPv4 only. The all-zero address (::) takes both families.
var any4 = mapped4([4]byte{})

// routeTo picks the interface, source address and next hop for dst in
// either family.
func (s *Stack) routeTo(dst [16]byte) (ifc *Interface, src, nh [16]byte, ok bool) {
	if !is4(dst) {
		return s.route6(dst)
	}
	ifc, nh4, ok := s.route(as4(dst))
	if !ok {
		return nil, src, nh, false
	}
	return ifc, mapped4(ifc.ip), mapped4(nh4), true
}

// nexthopFor returns where a packet to dst leaves ifc, in either family.
func (s *Stack) nexthopFor(ifc *Interface, dst [16]byte) [16]byte {
	if is4(dst) {
		return mapped4(s.nexthop(ifc, as4(dst)))
	}
	return ifc.nexthop6(dst)
}

// localIface returns the interface that has address a, or nil.
func (s *Stack) localIface(a [16]byte) *Interface {
	if is4(a) {
		return s.interfaceFor(as4(a))
	}
	for _, ifc := range s.ifaces {
		if ifc.isLocal6(a) {
			return ifc
		}
	}
	return nil
}

// flowKey is a TCP connection's or UDP socket's 4-tuple in either family:
// its identity for ISNs, cookies, port checks and the IPv6 tables. An
// unconnected UDP socket has a zero remote address and port, and a
// wildcard bind a zero local address (any4 for IPv4 only).
type flowKey struct {
	laddr, raddr [16]byte
	lport, rport uint16
}

// v4 reports whether the flow is IPv4.
func (k flowKey) v4() bool { return is4(k.raddr) || k.raddr == [16]byte{} && is4(k.laddr) }

// flow4 is an IPv4 flow's key in an IPv4 table: 12 bytes, built straight
// from the headers on the receive path.
type flow4 struct {
	laddr, raddr [4]byte
	lport, rport uint16
}

func (k flowKey) flow4() flow4 {
	return flow4{laddr: as4(k.laddr), raddr: as4(k.raddr), lport: k.lport, rport: k.rport}
}

// flowTable is a softnet's table of TCP connections or UDP sockets: one
// map per family, so that an IPv4 lookup hashes 12 bytes, not 36. The
// receive paths index v4 and v6 directly; the rest goes through the
// methods.
type flowTable[C any] struct {
	v4 map[flow4]*C
	v6 map[flowKey]*C
}

func (f *flowTable[C]) init() {
	f.v4 = make(map[flow4]*C)
	f.v6 = make(map[flowKey]*C)
}

func (f *flowTable[C]) get(k flowKey) *C {
	if k.v4() {
		return f.v4[k.flow4()]
	}
	return f.v6[k]
}

func (f *flowTable[C]) put(k flowKey, c *C) {
	if k.v4() {
		f.v4[k.flow4()] = c
	} else {
		f.v6[k] = c
	}
}

func (f *flowTable[C]) del(k flowKey) {
	if k.v4() {
		delete(f.v4, k.flow4())
	} else {
		delete(f.v6, k)
	}
}

// len returns the number of entries.
func (f *flowTable[C]) len() int { return len(f.v4) + len(f.v6) }

// HasAddr reports whether a (either family; IPv4-mapped counts as IPv4)
// is one of the stack's interface addresses, link-local ones included.
func (s *Stack) HasAddr(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && s.localIface(addrOf(a)) != nil
}
