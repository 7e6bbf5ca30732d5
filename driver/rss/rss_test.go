package rss

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// msVector is one of Microsoft's published RSS verification vectors
// ("Verifying the RSS Hash Calculation"), computed with DefaultKey.
type msVector struct {
	dst, src string // address:port
	ip, tcp  uint32 // 2-tuple and 4-tuple hashes
}

var ipv4Vectors = []msVector{
	{"161.142.100.80:1766", "66.9.149.187:2794", 0x323e8fc2, 0x51ccc178},
	{"65.69.140.83:4739", "199.92.111.2:14230", 0xd718262a, 0xc626b0ea},
	{"12.22.207.184:38024", "24.19.198.95:12898", 0xd2d0a5de, 0x5c2b394a},
	{"209.142.163.6:2217", "38.27.205.30:48228", 0x82989176, 0xafc7327f},
	{"202.188.127.2:1303", "153.39.163.191:44251", 0x5d1809c5, 0x10e828a2},
}

var ipv6Vectors = []msVector{
	{"[3ffe:2501:200:3::1]:1766", "[3ffe:2501:200:1fff::7]:2794", 0x2cc18cd5, 0x40207d3d},
	{"[ff02::1]:4739", "[3ffe:501:8::260:97ff:fe40:efab]:14230", 0x0f0c461c, 0xdde51bbf},
	{"[fe80::200:f8ff:fe21:67cf]:38024", "[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:44251", 0x4b61e985, 0x02d1feef},
}

// tupleInput returns the Toeplitz input for a 2-tuple (ports false) or
// 4-tuple: source address, destination address, source port, destination
// port, in network byte order.
func tupleInput(src, dst netip.AddrPort, ports bool) []byte {
	b := append(src.Addr().AsSlice(), dst.Addr().AsSlice()...)
	if ports {
		b = binary.BigEndian.AppendUint16(b, src.Port())
		b = binary.BigEndian.AppendUint16(b, dst.Port())
	}
	return b
}

func testVectors(t *testing.T, vectors []msVector) {
	t.Helper()
	h := NewHasher(DefaultKey())
	for _, v := range vectors {
		src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
		for _, c := range []struct {
			name string
			got  uint32
			want uint32
		}{
			{"HashAddr", h.HashAddr(src.Addr(), dst.Addr()), v.ip},
			{"HashAddrPort", h.HashAddrPort(src, dst), v.tcp},
			{"Hash(2-tuple)", h.Hash(tupleInput(src, dst, false)), v.ip},
			{"Hash(4-tuple)", h.Hash(tupleInput(src, dst, true)), v.tcp},
			{"hashSlow(2-tuple)", hashSlow(DefaultKey(), tupleInput(src, dst, false)), v.ip},
			{"hashSlow(4-tuple)", hashSlow(DefaultKey(), tupleInput(src, dst, true)), v.tcp},
		} {
			if c.got != c.want {
				t.Errorf("%s(src %v, dst %v) = %#08x, want %#08x", c.name, src, dst, c.got, c.want)
			}
		}
	}
}

func TestMicrosoftVectorsIPv4(t *testing.T) {
	testVectors(t, ipv4Vectors)
	h := NewHasher(DefaultKey())
	for _, v := range ipv4Vectors {
		src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
		s, d := src.Addr().As4(), dst.Addr().As4()
		if got := h.HashIPv4(s, d); got != v.ip {
			t.Errorf("HashIPv4(%v, %v) = %#08x, want %#08x", s, d, got, v.ip)
		}
		if got := h.HashIPv4Ports(s, d, src.Port(), dst.Port()); got != v.tcp {
			t.Errorf("HashIPv4Ports(%v, %v) = %#08x, want %#08x", src, dst, got, v.tcp)
		}
	}
}

func TestMicrosoftVectorsIPv6(t *testing.T) {
	testVectors(t, ipv6Vectors)
}

func TestHashMatchesSlow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var key Key
	var h *Hasher
	buf := make([]byte, MaxInputSize)
	for i := range 10000 {
		if i%100 == 0 {
			for j := range key {
				key[j] = byte(r.Uint32())
			}
			h = NewHasher(key)
		}
		in := buf[:r.IntN(MaxInputSize+1)]
		for j := range in {
			in[j] = byte(r.Uint32())
		}
		if got, want := h.Hash(in), hashSlow(key, in); got != want {
			t.Fatalf("key %v: Hash(%x) = %#08x, hashSlow = %#08x", key, in, got, want)
		}
	}
}

func TestHashLongInput(t *testing.T) {
	h := NewHasher(DefaultKey())
	in := make([]byte, 64)
	for i := range in {
		in[i] = byte(i * 7)
	}
	if got, want := h.Hash(in), h.Hash(in[:MaxInputSize]); got != want {
		t.Errorf("Hash(64 bytes) = %#08x, want hash of first %d bytes %#08x", got, MaxInputSize, want)
	}
	if got, want := hashSlow(DefaultKey(), in), h.Hash(in); got != want {
		t.Errorf("hashSlow(64 bytes) = %#08x, want %#08x", got, want)
	}
	if got := h.Hash(nil); got != 0 {
		t.Errorf("Hash(nil) = %#08x, want 0", got)
	}
}

func TestConvenienceMatchesHash(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var key Key
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	h := NewHasher(key)
	for range 1000 {
		var s4, d4 [4]byte
		var s6, d6 [16]byte
		for i := range s6 {
			s6[i], d6[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		copy(s4[:], s6[:])
		copy(d4[:], d6[:])
		sp, dp := uint16(r.Uint32()), uint16(r.Uint32())
		for _, c := range []struct {
			src, dst netip.AddrPort
			two      uint32
			four     uint32
		}{
			{netip.AddrPortFrom(netip.AddrFrom4(s4), sp), netip.AddrPortFrom(netip.AddrFrom4(d4), dp),
				h.HashIPv4(s4, d4), h.HashIPv4Ports(s4, d4, sp, dp)},
			{netip.AddrPortFrom(netip.AddrFrom16(s6), sp), netip.AddrPortFrom(netip.AddrFrom16(d6), dp),
				h.HashIPv6(s6, d6), h.HashIPv6Ports(s6, d6, sp, dp)},
		} {
			if want := hashSlow(key, tupleInput(c.src, c.dst, false)); c.two != want {
				t.Fatalf("2-tuple hash of %v %v = %#08x, want %#08x", c.src, c.dst, c.two, want)
			}
			if want := hashSlow(key, tupleInput(c.src, c.dst, true)); c.four != want {
				t.Fatalf("4-tuple hash of %v %v = %#08x, want %#08x", c.src, c.dst, c.four, want)
			}
			if got := h.HashAddr(c.src.Addr(), c.dst.Addr()); got != c.two {
				t.Fatalf("HashAddr(%v, %v) = %#08x, want %#08x", c.src, c.dst, got, c.two)
			}
			if got := h.HashAddrPort(c.src, c.dst); got != c.four {
				t.Fatalf("HashAddrPort(%v, %v) = %#08x, want %#08x", c.src, c.dst, got, c.four)
			}
		}
	}
}

func TestHashAddrMixedFamilies(t *testing.T) {
	h := NewHasher(DefaultKey())
	v4 := netip.MustParseAddr("10.0.0.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.2")
	for _, c := range []struct{ src, dst netip.Addr }{
		{v4, v6}, {v6, v4}, {v4, mapped}, {netip.Addr{}, v4}, {v6, netip.Addr{}},
	} {
		if got := h.HashAddr(c.src, c.dst); got != 0 {
			t.Errorf("HashAddr(%v, %v) = %#08x, want 0", c.src, c.dst, got)
		}
		if got := h.HashAddrPort(netip.AddrPortFrom(c.src, 1), netip.AddrPortFrom(c.dst, 2)); got != 0 {
			t.Errorf("HashAddrPort(%v, %v) = %#08x, want 0", c.src, c.dst, got)
		}
	}
	// IPv4-mapped addresses on both sides are hashed as IPv6, as a NIC
	// receiving an IPv6 header would.
	m2 := netip.MustParseAddr("::ffff:10.0.0.1")
	if got, want := h.HashAddr(m2, mapped), h.HashIPv6(m2.As16(), mapped.As16()); got != want {
		t.Errorf("HashAddr(%v, %v) = %#08x, want %#08x", m2, mapped, got, want)
	}
}

func TestSymmetricKey(t *testing.T) {
	k := SymmetricKey()
	if got, want := k.String(), strings.Repeat("6d5a", 20); got != want {
		t.Fatalf("SymmetricKey() = %s, want %s", got, want)
	}
	h := NewHasher(k)
	r := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		var a, b [4]byte
		var a6, b6 [16]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		for i := range a6 {
			a6[i], b6[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		sp, dp := uint16(r.Uint32()), uint16(r.Uint32())
		if x, y := h.HashIPv4Ports(a, b, sp, dp), h.HashIPv4Ports(b, a, dp, sp); x != y {
			t.Fatalf("IPv4 %v:%d -> %v:%d hashes to %#08x, reverse to %#08x", a, sp, b, dp, x, y)
		}
		if x, y := h.HashIPv4(a, b), h.HashIPv4(b, a); x != y {
			t.Fatalf("IPv4 %v -> %v hashes to %#08x, reverse to %#08x", a, b, x, y)
		}
		if x, y := h.HashIPv6Ports(a6, b6, sp, dp), h.HashIPv6Ports(b6, a6, dp, sp); x != y {
			t.Fatalf("IPv6 %x:%d -> %x:%d hashes to %#08x, reverse to %#08x", a6, sp, b6, dp, x, y)
		}
	}
	// The default key is not symmetric.
	d := NewHasher(DefaultKey())
	a, b := [4]byte{66, 9, 149, 187}, [4]byte{161, 142, 100, 80}
	if d.HashIPv4Ports(a, b, 2794, 1766) == d.HashIPv4Ports(b, a, 1766, 2794) {
		t.Errorf("default key unexpectedly symmetric")
	}
}

func TestKey(t *testing.T) {
	const def = "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
	if got := DefaultKey().String(); got != def {
		t.Errorf("DefaultKey() = %s, want %s", got, def)
	}
	// DefaultKey returns a copy.
	k := DefaultKey()
	k[0] = 0
	if DefaultKey()[0] != 0x6d {
		t.Errorf("DefaultKey() changed after modifying a returned key")
	}
	h := NewHasher(DefaultKey())
	if h.Key() != DefaultKey() {
		t.Errorf("Hasher.Key() = %v, want %v", h.Key(), DefaultKey())
	}

	colons := make([]string, KeySize)
	for i := range colons {
		colons[i] = def[2*i : 2*i+2]
	}
	for _, s := range []string{
		def,
		strings.ToUpper(def),
		"0x" + def,
		"0X" + def,
		strings.Join(colons, ":"),
		"0x" + strings.Join(colons, ":"),
		"  " + def + "\n",
	} {
		k, err := ParseKey(s)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", s, err)
			continue
		}
		if k != DefaultKey() {
			t.Errorf("ParseKey(%q) = %v, want %v", s, k, DefaultKey())
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	def := DefaultKey().String()
	for _, c := range []struct {
		in, want string
	}{
		{"", "0 bytes, want 40"},
		{"0x", "0 bytes, want 40"},
		{def[:78], "39 bytes, want 40"},
		{def + "00", "41 bytes, want 40"},
		{def[:79], "odd number of hex digits"},
		{"zz" + def[2:], "invalid byte"},
		{"6d-" + def[3:], "invalid byte"},
	} {
		k, err := ParseKey(c.in)
		if err == nil {
			t.Errorf("ParseKey(%q) = %v, want error", c.in, k)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "rss: ") {
			t.Errorf("ParseKey(%q) error = %q, want it to contain %q", c.in, err, c.want)
		}
		if k != (Key{}) {
			t.Errorf("ParseKey(%q) returned non-zero key %v with error", c.in, k)
		}
	}
}

func TestRETA(t *testing.T) {
	r, err := NewRETA(128, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 128 {
		t.Fatalf("len(NewRETA(128, 3)) = %d", len(r))
	}
	for i, q := range r {
		if int(q) != i%3 {
			t.Fatalf("entry %d = %d, want %d", i, q, i%3)
		}
	}
	if err := r.Validate(3); err != nil {
		t.Errorf("Validate(3): %v", err)
	}
	if err := r.Validate(2); err == nil {
		t.Errorf("Validate(2) succeeded for a 3-queue RETA")
	}
	if err := RETA(nil).Validate(1); err == nil {
		t.Errorf("Validate succeeded for an empty RETA")
	}

	// Power-of-two sizes use the low bits of the hash.
	for _, hash := range []uint32{0, 1, 127, 128, 129, 0xdeadbeef, 0xffffffff} {
		if got, want := r.Queue(hash), int(r[hash&127]); got != want {
			t.Errorf("Queue(%#x) = %d, want %d", hash, got, want)
		}
		if got, want := r.Queue(hash), int(hash&127)%3; got != want {
			t.Errorf("Queue(%#x) = %d, want %d", hash, got, want)
		}
	}
	// Other sizes use the remainder.
	r5, err := NewRETA(5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, hash := range []uint32{0, 4, 5, 7, 0xffffffff} {
		if got, want := r5.Queue(hash), int(r5[hash%5]); got != want {
			t.Errorf("5-entry Queue(%#x) = %d, want %d", hash, got, want)
		}
	}
	if got := RETA(nil).Queue(42); got != 0 {
		t.Errorf("empty RETA Queue = %d, want 0", got)
	}
	// A microsoft vector: 0x51ccc178 & 127 = 120; 120 % 4 = 0.
	r4, _ := NewRETA(128, 4)
	if got := r4.Queue(0x51ccc178); got != 0 {
		t.Errorf("Queue(0x51ccc178) = %d, want 0", got)
	}
	max, err := NewRETA(512, MaxQueues)
	if err != nil || max[511] != 511 {
		t.Errorf("NewRETA(512, MaxQueues) = ..%v, %v", max[len(max)-1:], err)
	}

	for _, c := range []struct{ size, queues int }{
		{0, 1}, {-1, 1}, {128, 0}, {128, -4}, {128, MaxQueues + 1},
	} {
		if r, err := NewRETA(c.size, c.queues); err == nil {
			t.Errorf("NewRETA(%d, %d) = %v, want error", c.size, c.queues, r)
		}
	}
}

func TestHashTypes(t *testing.T) {
	for _, c := range []struct {
		t    HashTypes
		want string
	}{
		{0, "none"},
		{IPv4, "ipv4"},
		{AllIPv4, "ipv4,tcpv4,udpv4"},
		{AllIPv6, "ipv6,tcpv6,udpv6"},
		{AllTypes, "ipv4,tcpv4,udpv4,ipv6,tcpv6,udpv6"},
		{TCPv4 | UDPv6, "tcpv4,udpv6"},
		{IPv4 | 1<<10, "ipv4,0x400"},
		{1 << 31, "0x80000000"},
	} {
		if got := c.t.String(); got != c.want {
			t.Errorf("HashTypes(%#x).String() = %q, want %q", uint32(c.t), got, c.want)
		}
		if c.t&^AllTypes != 0 {
			continue
		}
		p, err := ParseHashTypes(c.want)
		if err != nil || p != c.t {
			t.Errorf("ParseHashTypes(%q) = %v, %v, want %v", c.want, p, err, c.t)
		}
	}
	if p, err := ParseHashTypes(" IPv4 , all"); err != nil || p != AllTypes {
		t.Errorf("ParseHashTypes(all) = %v, %v", p, err)
	}
	if p, err := ParseHashTypes(""); err != nil || p != 0 {
		t.Errorf("ParseHashTypes(\"\") = %v, %v", p, err)
	}
	for _, s := range []string{"ipv5", "ipv4,", "tcp"} {
		if p, err := ParseHashTypes(s); err == nil {
			t.Errorf("ParseHashTypes(%q) = %v, want error", s, p)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	c, err := DefaultConfig(4)
	if err != nil {
		t.Fatal(err)
	}
	if c.Key != DefaultKey() || len(c.RETA) != DefaultRETASize || c.Types != AllTypes {
		t.Errorf("DefaultConfig(4) = %v %d-entry RETA %v", c.Key, len(c.RETA), c.Types)
	}
	if err := c.RETA.Validate(4); err != nil {
		t.Error(err)
	}
	if _, err := DefaultConfig(0); err == nil {
		t.Errorf("DefaultConfig(0) succeeded")
	}
}

// ipv4Packet builds an IPv4 packet with an ihl-byte header (options
// zeroed), the given protocol and fragment field, followed by payload.
func ipv4Packet(ihl int, proto byte, frag uint16, src, dst [4]byte, payload []byte) []byte {
	p := make([]byte, ihl+len(payload))
	p[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[6:], frag)
	p[8] = 64
	p[9] = proto
	copy(p[12:], src[:])
	copy(p[16:], dst[:])
	copy(p[ihl:], payload)
	return p
}

func ports(sport, dport uint16) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

func TestHashIPv4Packet(t *testing.T) {
	h := NewHasher(DefaultKey())
	v := ipv4Vectors[0]
	src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
	s, d := src.Addr().As4(), dst.Addr().As4()
	l4 := ports(src.Port(), dst.Port())

	tcp := ipv4Packet(20, protoTCP, 0x4000 /* DF */, s, d, l4)
	udp := ipv4Packet(20, protoUDP, 0, s, d, l4)
	opts := ipv4Packet(28, protoTCP, 0, s, d, l4)
	mf := ipv4Packet(20, protoTCP, 0x2000, s, d, l4)
	off := ipv4Packet(20, protoUDP, 0x0001, s, d, l4)
	icmp := ipv4Packet(20, 1, 0, s, d, l4)
	shortL4 := ipv4Packet(20, protoTCP, 0, s, d, l4[:3])
	badIHL := ipv4Packet(20, protoTCP, 0, s, d, l4)
	badIHL[0] = 0x44 // IHL 16 bytes
	bigIHL := ipv4Packet(20, protoTCP, 0, s, d, l4)
	bigIHL[0] = 0x4f // IHL 60 bytes, longer than the packet
	v6 := ipv4Packet(20, protoTCP, 0, s, d, l4)
	v6[0] = 0x65

	for _, c := range []struct {
		name  string
		p     []byte
		types HashTypes
		want  uint32
	}{
		{"tcp", tcp, AllTypes, v.tcp},
		{"tcp/ipv4-only", tcp, IPv4, v.ip},
		{"tcp/udp-only", tcp, IPv4 | UDPv4, v.ip},
		{"tcp/tcp-only", tcp, TCPv4, v.tcp},
		{"tcp/ipv6-types", tcp, AllIPv6, 0},
		{"tcp/none", tcp, 0, 0},
		{"udp", udp, AllIPv4, v.tcp},
		{"udp/tcp-only", udp, IPv4 | TCPv4, v.ip},
		{"udp/udp-only", udp, UDPv4, v.tcp},
		{"options", opts, AllIPv4, v.tcp},
		{"first-fragment", mf, AllIPv4, v.ip},
		{"later-fragment", off, AllIPv4, v.ip},
		{"fragment/no-ipv4", off, TCPv4 | UDPv4, 0},
		{"icmp", icmp, AllIPv4, v.ip},
		{"icmp/no-ipv4", icmp, TCPv4 | UDPv4, 0},
		{"truncated-l4", shortL4, AllIPv4, v.ip},
		{"ihl<5", badIHL, AllIPv4, v.ip},
		{"ihl>len", bigIHL, AllIPv4, v.ip},
		{"header-only", tcp[:20], AllIPv4, v.ip},
		{"truncated-header", tcp[:19], AllIPv4, 0},
		{"empty", nil, AllIPv4, 0},
		{"version6", v6, AllTypes, 0},
	} {
		if got := h.HashIPv4Packet(c.p, c.types); got != c.want {
			t.Errorf("%s: HashIPv4Packet(types %v) = %#08x, want %#08x", c.name, c.types, got, c.want)
		}
		if got := h.HashPacket(c.p, c.types); got != c.want {
			t.Errorf("%s: HashPacket(types %v) = %#08x, want %#08x", c.name, c.types, got, c.want)
		}
		if c.p != nil && c.p[0]>>4 == 4 {
			frame := append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}, c.p...)
			if got := h.HashFrame(frame, c.types); got != c.want {
				t.Errorf("%s: HashFrame(types %v) = %#08x, want %#08x", c.name, c.types, got, c.want)
			}
			frame[12] = 0x08
			frame[13] = 0x06 // ARP: not hashed
			if got := h.HashFrame(frame, c.types); got != 0 {
				t.Errorf("%s: HashFrame of an ARP frame = %#08x, want 0", c.name, got)
			}
		}
	}
	// Every truncation of a valid packet is safe.
	for n := range len(opts) {
		h.HashIPv4Packet(opts[:n], AllTypes)
		h.HashFrame(opts[:n], AllTypes)
	}
}

// ipv6Packet builds an IPv6 packet whose header is followed by exts (raw
// extension headers, chained by the caller) and payload.
func ipv6Packet(next byte, src, dst [16]byte, exts, payload []byte) []byte {
	p := make([]byte, 40, 40+len(exts)+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(exts)+len(payload)))
	p[6] = next
	p[7] = 64
	copy(p[8:], src[:])
	copy(p[24:], dst[:])
	p = append(p, exts...)
	return append(p, payload...)
}

func TestHashIPv6Packet(t *testing.T) {
	h := NewHasher(DefaultKey())
	v := ipv6Vectors[0]
	src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
	s, d := src.Addr().As16(), dst.Addr().As16()
	l4 := ports(src.Port(), dst.Port())

	// Hop-by-hop (8 bytes) -> destination options (16 bytes) -> next.
	exts := func(last byte) []byte {
		e := make([]byte, 24)
		e[0], e[1] = protoDestOpts, 0
		e[8], e[9] = last, 1
		return e
	}
	fragHdr := []byte{protoTCP, 0, 0, 0, 0, 0, 0, 1}

	tcp := ipv6Packet(protoTCP, s, d, nil, l4)
	udp := ipv6Packet(protoUDP, s, d, nil, l4)
	extTCP := ipv6Packet(protoHopByHop, s, d, exts(protoTCP), l4)
	frag := ipv6Packet(44, s, d, fragHdr, l4)
	extTrunc := ipv6Packet(protoHopByHop, s, d, exts(protoTCP)[:12], nil)

	for _, c := range []struct {
		name  string
		p     []byte
		types HashTypes
		want  uint32
	}{
		{"tcp", tcp, AllTypes, v.tcp},
		{"tcp/ipv6-only", tcp, IPv6, v.ip},
		{"tcp/ipv4-types", tcp, AllIPv4, 0},
		{"udp", udp, AllIPv6, v.tcp},
		{"udp/tcp-only", udp, IPv6 | TCPv6, v.ip},
		{"ext-tcp", extTCP, AllIPv6, v.tcp},
		{"ext-truncated", extTrunc, AllIPv6, v.ip},
		{"fragment", frag, AllIPv6, v.ip},
		{"truncated-l4", tcp[:43], AllIPv6, v.ip},
		{"header-only", tcp[:40], AllIPv6, v.ip},
		{"truncated-header", tcp[:39], AllIPv6, 0},
	} {
		if got := h.HashIPv6Packet(c.p, c.types); got != c.want {
			t.Errorf("%s: HashIPv6Packet(types %v) = %#08x, want %#08x", c.name, c.types, got, c.want)
		}
		if got := h.HashPacket(c.p, c.types); got != c.want {
			t.Errorf("%s: HashPacket(types %v) = %#08x, want %#08x", c.name, c.types, got, c.want)
		}
	}
	for n := range len(extTCP) {
		h.HashIPv6Packet(extTCP[:n], AllTypes)
	}
	if got := h.HashIPv6Packet(ipv4Packet(20, protoTCP, 0, [4]byte{}, [4]byte{}, l4), AllTypes); got != 0 {
		t.Errorf("HashIPv6Packet(IPv4 packet) = %#08x, want 0", got)
	}
	if got := h.HashPacket([]byte{0x50, 0, 0, 0}, AllTypes); got != 0 {
		t.Errorf("HashPacket(version 5) = %#08x, want 0", got)
	}
}

func TestAllocs(t *testing.T) {
	h := NewHasher(DefaultKey())
	in := make([]byte, MaxInputSize)
	s, d := [4]byte{66, 9, 149, 187}, [4]byte{161, 142, 100, 80}
	sa := netip.MustParseAddrPort("[3ffe:2501:200:1fff::7]:2794")
	da := netip.MustParseAddrPort("[3ffe:2501:200:3::1]:1766")
	pkt := ipv4Packet(20, protoTCP, 0, s, d, ports(2794, 1766))
	var sink uint32
	for name, f := range map[string]func(){
		"Hash":           func() { sink ^= h.Hash(in) },
		"HashIPv4Ports":  func() { sink ^= h.HashIPv4Ports(s, d, 2794, 1766) },
		"HashAddrPort":   func() { sink ^= h.HashAddrPort(sa, da) },
		"HashIPv4Packet": func() { sink ^= h.HashIPv4Packet(pkt, AllTypes) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
	_ = sink
}

func FuzzHashIPv4Packet(f *testing.F) {
	s, d := [4]byte{66, 9, 149, 187}, [4]byte{161, 142, 100, 80}
	l4 := ports(2794, 1766)
	f.Add(ipv4Packet(20, protoTCP, 0, s, d, l4), uint32(AllTypes))
	f.Add(ipv4Packet(24, protoUDP, 0, s, d, l4), uint32(AllIPv4))
	f.Add(ipv4Packet(20, protoUDP, 0x2000, s, d, l4), uint32(AllIPv4))
	f.Add(ipv4Packet(20, protoTCP, 0, s, d, l4[:2]), uint32(IPv4|TCPv4))
	f.Add([]byte{0x45, 0, 0}, uint32(AllTypes))

	key := DefaultKey()
	h := NewHasher(key)
	f.Fuzz(func(t *testing.T, p []byte, types uint32) {
		got := h.HashIPv4Packet(p, HashTypes(types))
		if len(p) > 0 && p[0]>>4 == 4 && h.HashPacket(p, HashTypes(types)) != got {
			t.Fatalf("HashPacket differs from HashIPv4Packet")
		}

		// Independent parse: a fixed 20-byte header prefix, the IHL and
		// fragment fields, then the ports.
		if len(p) < 20 || p[0]>>4 != 4 {
			if got != 0 {
				t.Fatalf("non-IPv4 or short input hashed to %#08x", got)
			}
			return
		}
		addrs := p[12:20]
		var want uint32
		ihl := int(p[0]&15) << 2
		frag := (p[6]&0x3f) != 0 || p[7] != 0
		tcp := p[9] == 6 && types&uint32(TCPv4) != 0
		udp := p[9] == 17 && types&uint32(UDPv4) != 0
		switch {
		case (tcp || udp) && !frag && ihl >= 20 && ihl+4 <= len(p):
			in := make([]byte, 0, 12)
			in = append(in, addrs...)
			in = append(in, p[ihl:ihl+4]...)
			want = hashSlow(key, in)
		case types&uint32(IPv4) != 0:
			want = hashSlow(key, addrs)
		}
		if got != want {
			t.Fatalf("HashIPv4Packet(%x, %v) = %#08x, want %#08x", p, HashTypes(types), got, want)
		}
	})
}

func FuzzHashIPv6Packet(f *testing.F) {
	s := netip.MustParseAddr("3ffe:2501:200:1fff::7").As16()
	d := netip.MustParseAddr("3ffe:2501:200:3::1").As16()
	l4 := ports(2794, 1766)
	f.Add(ipv6Packet(protoTCP, s, d, nil, l4), uint32(AllTypes))
	f.Add(ipv6Packet(protoHopByHop, s, d, []byte{protoUDP, 0, 0, 0, 0, 0, 0, 0}, l4), uint32(AllIPv6))
	f.Add(ipv6Packet(44, s, d, []byte{protoTCP, 0, 0, 0, 0, 0, 0, 1}, l4), uint32(AllIPv6))

	key := DefaultKey()
	h := NewHasher(key)
	f.Fuzz(func(t *testing.T, p []byte, types uint32) {
		got := h.HashIPv6Packet(p, HashTypes(types))
		if len(p) > 0 && p[0]>>4 == 6 && h.HashPacket(p, HashTypes(types)) != got {
			t.Fatalf("HashPacket differs from HashIPv6Packet")
		}
		if len(p) < 40 || p[0]>>4 != 6 {
			if got != 0 {
				t.Fatalf("non-IPv6 or short input hashed to %#08x", got)
			}
			return
		}
		next, off := p[6], 40
		for next == 0 || next == 43 || next == 60 {
			if off+2 > len(p) {
				break
			}
			next = p[off]
			off += 8 * (1 + int(p[off+1]))
		}
		var want uint32
		tcp := next == 6 && types&uint32(TCPv6) != 0
		udp := next == 17 && types&uint32(UDPv6) != 0
		switch {
		case (tcp || udp) && off+4 <= len(p):
			want = hashSlow(key, append(append([]byte(nil), p[8:40]...), p[off:off+4]...))
		case types&uint32(IPv6) != 0:
			want = hashSlow(key, p[8:40])
		}
		if got != want {
			t.Fatalf("HashIPv6Packet(%x, %v) = %#08x, want %#08x", p, HashTypes(types), got, want)
		}
	})
}

var benchSink uint32

func BenchmarkHashIPv4Ports(b *testing.B) {
	h := NewHasher(DefaultKey())
	s, d := [4]byte{66, 9, 149, 187}, [4]byte{161, 142, 100, 80}
	var sport uint16
	var r uint32
	b.SetBytes(12)
	b.ReportAllocs()
	for b.Loop() {
		r ^= h.HashIPv4Ports(s, d, sport, 1766)
		sport++
	}
	benchSink = r
}

func BenchmarkHash36(b *testing.B) {
	h := NewHasher(DefaultKey())
	in := make([]byte, MaxInputSize)
	for i := range in {
		in[i] = byte(i * 37)
	}
	var r uint32
	b.SetBytes(MaxInputSize)
	b.ReportAllocs()
	for b.Loop() {
		r ^= h.Hash(in)
		in[0]++
	}
	benchSink = r
}

func BenchmarkHashIPv4Packet(b *testing.B) {
	h := NewHasher(DefaultKey())
	pkt := ipv4Packet(20, protoTCP, 0, [4]byte{66, 9, 149, 187}, [4]byte{161, 142, 100, 80}, ports(2794, 1766))
	var r uint32
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		r ^= h.HashIPv4Packet(pkt, AllTypes)
	}
	benchSink = r
}

func BenchmarkHashSlow36(b *testing.B) {
	in := make([]byte, MaxInputSize)
	key := DefaultKey()
	var r uint32
	b.SetBytes(MaxInputSize)
	b.ReportAllocs()
	for b.Loop() {
		r ^= hashSlow(key, in)
	}
	benchSink = r
}

func BenchmarkNewHasher(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewHasher(DefaultKey())
	}
}
