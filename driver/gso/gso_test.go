package gso

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// superFrame builds a super-frame in a packet of pool: headers serialized
// by gopacket (TCP flags, timestamp option), and its payload, bytes i%251
// of a stream of total bytes, chained over packets of the given sizes
// with off bytes in front of it in the first.
func superFrame(t *testing.T, pool *driver.Pool, v6 bool, flags driver.Flags, mss, off int, sizes []int) (*driver.Packet, []byte) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 0xfffff000, Ack: 77, Window: 512, ACK: true, PSH: true, FIN: true, CWR: true,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 9, 0, 0, 0, 8}}}}
	var ip gopacket.SerializableLayer
	l3 := header.IPv4MinHeaderLen
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
		tcp.SetNetworkLayerForChecksum(ip6)
		ip, l3 = ip6, header.IPv6HeaderLen
		flags |= driver.TxIPv6
	} else {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 65530, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
		tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	pk := pool.Get()
	copy(pk.Append(len(buf.Bytes())), buf.Bytes())
	pk.Flags = flags | driver.TxTCPSeg
	pk.L2Len, pk.L3Len = header.EthernetHeaderLen, uint16(l3)
	var stream []byte
	var prev *driver.Packet
	for i, n := range sizes {
		p := pool.Get()
		d := p.Append(n)
		if i == 0 {
			d = d[off:]
			pk.More, pk.MoreOff = p, int32(off)
		} else {
			prev.Next = p
		}
		for j := range d {
			d[j] = byte(len(stream) % 251)
			stream = append(stream, d[j])
		}
		p.Loops = uint8(i)
		prev = p
	}
	pk.MoreLen, pk.SegSize = int32(len(stream)), uint16(mss)
	return pk, stream
}

// TestSegment: the frames a super-frame is cut into, decoded by gopacket:
// lengths, IPv4 IDs, sequence numbers, flags (CWR first, PSH and FIN
// last), options, payload and checksums, computed or left to the port.
func TestSegment(t *testing.T) {
	pool, err := driver.NewPool(64, driver.DefaultHeadroom, driver.DefaultDataRoom)
	if err != nil {
		t.Fatal(err)
	}
	for _, v6 := range []bool{false, true} {
		for _, offload := range []driver.Flags{0, driver.TxIPChecksum | driver.TxTCPChecksum} {
			if v6 {
				offload &^= driver.TxIPChecksum
			}
			const mss = 1000
			pk, stream := superFrame(t, pool, v6, offload, mss, 100, []int{1500, 2000, 1000})
			n := Count(pk)
			if want := (len(stream) + mss - 1) / mss; n != want || n < 2 {
				t.Fatalf("Count %d for %d bytes, want %d", n, len(stream), want)
			}
			out := make([]*driver.Packet, n)
			for i := range out {
				out[i] = pool.Get()
			}
			if err := Segment(pk, out); err != nil {
				t.Fatalf("v6=%v offload=%v: %v", v6, offload, err)
			}
			for i, o := range out {
				f := o.Data()
				pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
				if el := pkt.ErrorLayer(); el != nil {
					t.Fatalf("frame %d: gopacket: %v", i, el.Error())
				}
				tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
				want := stream[i*mss : min((i+1)*mss, len(stream))]
				if !bytes.Equal(tcp.Payload, want) {
					t.Fatalf("frame %d: payload differs (%d bytes, want %d)", i, len(tcp.Payload), len(want))
				}
				if tcp.Seq != 0xfffff000+uint32(i*mss) || tcp.Ack != 77 || !tcp.ACK {
					t.Fatalf("frame %d: seq %#x ack %d", i, tcp.Seq, tcp.Ack)
				}
				last := i == n-1
				if tcp.CWR != (i == 0) || tcp.PSH != last || tcp.FIN != last {
					t.Fatalf("frame %d: CWR %v PSH %v FIN %v", i, tcp.CWR, tcp.PSH, tcp.FIN)
				}
				if len(tcp.Options) != 3 || tcp.Options[2].OptionType != layers.TCPOptionKindTimestamps {
					t.Fatalf("frame %d: options %v", i, tcp.Options)
				}
				var net gopacket.NetworkLayer
				if v6 {
					ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
					if int(ip.Length) != 32+len(want) {
						t.Fatalf("frame %d: IPv6 payload length %d", i, ip.Length)
					}
					net = ip
				} else {
					ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
					if int(ip.Length) != 20+32+len(want) || ip.Id != uint16(65530+i) || ip.Flags != layers.IPv4DontFragment {
						t.Fatalf("frame %d: IPv4 length %d id %d flags %v", i, ip.Length, ip.Id, ip.Flags)
					}
					net = ip
				}
				wantFlags := offload
				if v6 {
					wantFlags |= driver.TxIPv6
				}
				if o.Flags != wantFlags || o.L2Len != pk.L2Len || o.L3Len != pk.L3Len {
					t.Fatalf("frame %d: flags %v lengths %d/%d", i, o.Flags, o.L2Len, o.L3Len)
				}
				// Source packet j has Loops j and holds stream bytes up
				// to 1400, 3400 and 4400.
				end, loops := min((i+1)*mss, len(stream))-1, uint8(0)
				for _, edge := range []int{1400, 3400} {
					if end >= edge {
						loops++
					}
				}
				if o.Loops != loops {
					t.Fatalf("frame %d: loops %d, want %d", i, o.Loops, loops)
				}
				tcp.SetNetworkLayerForChecksum(net)
				buf := gopacket.NewSerializeBuffer()
				ls := []gopacket.SerializableLayer{pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet), net.(gopacket.SerializableLayer), tcp, gopacket.Payload(tcp.Payload)}
				if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
					t.Fatal(err)
				}
				good := buf.Bytes()
				tcpOff := header.EthernetHeaderLen + int(pk.L3Len)
				if offload == 0 {
					if !bytes.Equal(f, good) {
						t.Fatalf("frame %d (v6=%v): checksums differ from gopacket's", i, v6)
					}
					continue
				}
				// Left to the port: the TCP field holds the pseudo
				// header's sum, the IPv4 header checksum is zero.
				l4 := len(f) - tcpOff
				var pseudo uint16
				if v6 {
					var s, d [16]byte
					copy(s[:], f[22:38])
					copy(d[:], f[38:54])
					pseudo = header.Fold(header.PseudoHeaderChecksumIPv6(header.ProtoTCP, s, d, uint32(l4)))
				} else {
					pseudo = header.Fold(header.PseudoHeaderChecksum(header.ProtoTCP, [4]byte(f[26:30]), [4]byte(f[30:34]), uint16(l4)))
					if f[24] != 0 || f[25] != 0 {
						t.Fatalf("frame %d: IPv4 checksum %x%x left to the port, want 0", i, f[24], f[25])
					}
				}
				if got := header.TCP(f[tcpOff:]).Checksum(); got != pseudo {
					t.Fatalf("frame %d: TCP checksum field %#x, want the pseudo header's %#x", i, got, pseudo)
				}
			}
			for _, o := range out {
				pool.Put(o)
			}
			for p := pk.More; p != nil; {
				next := p.Next
				pool.Put(p)
				p = next
			}
			pool.Put(pk)
		}
	}
}

// TestSegmentErrors: bad input is an error, never a panic or a frame cut
// from the wrong bytes.
func TestSegmentErrors(t *testing.T) {
	pool, err := driver.NewPool(64, driver.DefaultHeadroom, driver.DefaultDataRoom)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(n int) []*driver.Packet {
		out := make([]*driver.Packet, n)
		for i := range out {
			out[i] = pool.Get()
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(pk *driver.Packet) []*driver.Packet
		want  error
		count int
	}{
		{"no flag", func(pk *driver.Packet) []*driver.Packet { pk.Flags &^= driver.TxTCPSeg; return fresh(3) }, ErrNotSuperFrame, 0},
		{"no segment size", func(pk *driver.Packet) []*driver.Packet { pk.SegSize = 0; return fresh(3) }, ErrNotSuperFrame, 0},
		{"wrong count", func(pk *driver.Packet) []*driver.Packet { return fresh(2) }, ErrCount, 3},
		{"short payload", func(pk *driver.Packet) []*driver.Packet { pk.MoreLen += 1000; return fresh(4) }, ErrShortPayload, 4},
		{"bad L3Len", func(pk *driver.Packet) []*driver.Packet { pk.L3Len = 24; return fresh(3) }, ErrHeaders, 3},
		{"headers cut", func(pk *driver.Packet) []*driver.Packet { pk.Truncate(40); return fresh(3) }, ErrHeaders, 3},
		{"used output", func(pk *driver.Packet) []*driver.Packet {
			out := fresh(3)
			out[1].Append(10)
			return out
		}, ErrRoom, 3},
		{"small output", func(pk *driver.Packet) []*driver.Packet {
			out := fresh(3)
			out[2].SetData(len(out[2].Buf)-100, 0)
			return out
		}, ErrRoom, 3},
	}
	for _, c := range cases {
		pk, _ := superFrame(t, pool, false, 0, 1000, 0, []int{1200, 1300})
		out := c.edit(pk)
		if n := Count(pk); n != c.count {
			t.Errorf("%s: Count %d, want %d", c.name, n, c.count)
		}
		if err := Segment(pk, out); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		// Check judges the headers alone: the errors Segment finds
		// there, and otherwise the count.
		n, err := Check(pk)
		switch c.want {
		case ErrNotSuperFrame, ErrHeaders:
			if !errors.Is(err, c.want) || n != 0 {
				t.Errorf("%s: Check %d, %v; want 0, %v", c.name, n, err, c.want)
			}
		default:
			if err != nil || n != c.count {
				t.Errorf("%s: Check %d, %v; want %d, nil", c.name, n, err, c.count)
			}
		}
	}
}

// TestCut: Cut takes its frames from the pool and gives them all back
// when the pool is too short; it allocates nothing once segs has room.
func TestCut(t *testing.T) {
	pool, err := driver.NewPool(16, driver.DefaultHeadroom, driver.DefaultDataRoom)
	if err != nil {
		t.Fatal(err)
	}
	pk, stream := superFrame(t, pool, false, driver.TxIPChecksum|driver.TxTCPChecksum, 1448, 0, []int{2000, 2000, 2000})
	avail := pool.Available()
	segs, err := Cut(pk, pool, make([]*driver.Packet, 0, 8))
	if err != nil || len(segs) != Count(pk) || pool.Available() != avail-len(segs) {
		t.Fatalf("Cut: %d frames, %v; pool %d -> %d", len(segs), err, avail, pool.Available())
	}
	got := 0
	for _, s := range segs {
		got += s.Len() - 66
		pool.Put(s)
	}
	if got != len(stream) {
		t.Fatalf("frames carry %d payload bytes, want %d", got, len(stream))
	}
	scratch := make([]*driver.Packet, 0, 8)
	if allocs := testing.AllocsPerRun(100, func() {
		segs, err := Cut(pk, pool, scratch)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			pool.Put(s)
		}
	}); allocs != 0 {
		t.Fatalf("Cut allocates %.1f times a call", allocs)
	}
	// Leave the pool two buffers short of the frames.
	var held []*driver.Packet
	for pool.Available() > Count(pk)-2 {
		held = append(held, pool.Get())
	}
	avail = pool.Available()
	if segs, err := Cut(pk, pool, scratch); !errors.Is(err, ErrRoom) || len(segs) != 0 || pool.Available() != avail {
		t.Fatalf("short pool: %d frames, %v; pool %d -> %d", len(segs), err, avail, pool.Available())
	}
	for _, h := range held {
		pool.Put(h)
	}
}
