package stack

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack/header"
)

// monitor is a promiscuous port without checksum offload on a pair's
// wire: it receives a copy of every frame with the checksums the senders
// left to their ports completed by the wire, as a capture behind a NIC
// would see them, and checks each with gopacket.
type monitor struct {
	port *memwire.Port
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	n    int
	bad  error
}

func newMonitor(t *testing.T, w *memwire.Wire) *monitor {
	t.Helper()
	p, err := w.AddPort(memwire.Config{Name: "mon", Promiscuous: true, RingSize: 2048, PoolSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	m := &monitor{port: p, stop: make(chan struct{})}
	m.done.Add(1)
	go m.run()
	t.Cleanup(m.halt)
	return m
}

func (m *monitor) run() {
	defer m.done.Done()
	pkts := make([]*driver.Packet, 32)
	for {
		n := m.port.RxBurst(0, pkts)
		for _, pk := range pkts[:n] {
			err := checkFrame(pk.Data())
			m.mu.Lock()
			m.n++
			if err != nil && m.bad == nil {
				m.bad = err
			}
			m.mu.Unlock()
			m.port.Pool(0).Put(pk)
		}
		if n == 0 {
			select {
			case <-m.stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}
}

func (m *monitor) halt() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.done.Wait()
}

func (m *monitor) checked(t *testing.T) {
	t.Helper()
	m.halt()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bad != nil || m.n < 10 {
		t.Fatalf("monitor: %d frames checked by gopacket, first error %v", m.n, m.bad)
	}
}

// TestChecksumOffload moves TCP both ways between ports that offload
// checksums (memwire's veth-like model), between one that does and one
// that does not, and under corruption: the data arrives whole, the
// senders leave their checksums to the port, the receivers skip the
// software sum only for frames their port verified, and every frame as
// the wire completes it is correct by gopacket's decoding.
func TestChecksumOffload(t *testing.T) {
	for _, tc := range []struct {
		name         string
		csumA, csumB bool
		v6           bool
		imp          *impair.Config
	}{
		{"both/ipv4", true, true, false, nil},
		{"both/ipv6", true, true, true, nil},
		{"a-only/ipv4", true, false, false, nil},
		{"b-only/ipv6", false, true, true, nil},
		{"both/corrupt", true, true, false, &impair.Config{Corrupt: 0.002, Seed: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairConfig{poll: PollAdaptive, start: true, ipv6: tc.v6, csumA: tc.csumA, csumB: tc.csumB, impairA: tc.imp,
				cfg: Config{TCP: TCPConfig{RTOMin: 20 * time.Millisecond, RTOInitial: 100 * time.Millisecond}}})
			var mon *monitor
			if tc.imp == nil { // a corrupted frame is wrong on the wire too
				mon = newMonitor(t, p.wire)
			}
			dst := addrB.Addr()
			if tc.v6 {
				dst = addr6B.Addr()
			}
			bulkTo(t, p, dst, 2<<20, bothWays, 3)
			if mon != nil {
				mon.checked(t)
			}
			// A sender leaves the checksum to its port exactly when the
			// port offers it (not when impair corrupts what it sends); a
			// receiver sees it verified exactly when both ends offload.
			offA := tc.csumA && tc.imp == nil
			for _, c := range []struct {
				name string
				got  int64
				want bool
			}{
				{"A frames sent with checksum offload", p.ta.txOffloaded.Load(), offA},
				{"B frames sent with checksum offload", p.tb.txOffloaded.Load(), tc.csumB},
				{"A frames received verified", p.ta.rxVerified.Load(), tc.csumA && tc.csumB},
				{"B frames received verified", p.tb.rxVerified.Load(), offA && tc.csumB},
			} {
				if (c.got > 0) != c.want {
					t.Errorf("%s: %d, want any: %v", c.name, c.got, c.want)
				}
			}
			if tc.imp != nil {
				cb := p.b.Counters()
				if p.fa.Faults().Corrupted == 0 || cb[TCPDropChecksum]+cb[IPDropChecksum] == 0 {
					t.Errorf("corrupted %d frames, B dropped %d for their checksums: want both > 0",
						p.fa.Faults().Corrupted, cb[TCPDropChecksum]+cb[IPDropChecksum])
				}
			}
		})
	}
}

// TestChecksumVerdict: the softnet trusts the port's checksum verdicts.
// A datagram whose checksum the port verified is delivered without a
// software sum (its field here is wrong and it still arrives), and one
// whose IP or UDP checksum the port found bad is dropped and counted even
// when its bytes are right.
func TestChecksumVerdict(t *testing.T) {
	p := newPair(t, pairConfig{})
	srv, err := p.b.ListenUDP(netip.AddrPortFrom(addrB.Addr(), 2000), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sn, ifc := p.b.sn[0], p.b.ifaces[0]
	frame := func(payload string, mangle bool, flags driver.Flags) *driver.Packet {
		f := rawUDPFrame(header.MAC(p.tb.MAC()), header.MAC{2, 0, 0, 0, 0, 9}, [4]byte{192, 0, 2, 9}, addrB.Addr().As4(), 1000, 2000, []byte(payload))
		if mangle {
			u := header.UDP(f[34:])
			u.SetChecksumField(u.Checksum() ^ 0x5a5a)
		}
		pk := sn.pools[0].Get()
		copy(pk.Append(len(f)), f)
		pk.Flags = flags
		return pk
	}
	for _, tc := range []struct {
		name      string
		pk        *driver.Packet
		delivered bool
		ctr       CounterID
	}{
		{"verified, field wrong", frame("trusted", true, driver.RxL4ChecksumGood|driver.RxIPChecksumGood), true, UDPRx},
		{"no verdict, field wrong", frame("summed", true, 0), false, UDPDropChecksum},
		{"L4 found bad", frame("bad-l4", false, driver.RxL4ChecksumBad), false, UDPDropChecksum},
		{"IP found bad", frame("bad-ip", false, driver.RxIPChecksumBad|driver.RxL4ChecksumGood), false, IPDropChecksum},
	} {
		before := p.b.Counters()
		sn.input(ifc, tc.pk)
		sn.publish()
		if after := p.b.Counters(); after[tc.ctr] != before[tc.ctr]+1 {
			t.Errorf("%s: %v went %d -> %d, want +1", tc.name, tc.ctr, before[tc.ctr], after[tc.ctr])
		}
		srv.SetReadDeadline(time.Now().Add(-time.Second))
		buf := make([]byte, 64)
		n, _, err := srv.ReadFromUDPAddrPort(buf)
		if got := err == nil; got != tc.delivered {
			t.Errorf("%s: delivered %v (%q, %v), want %v", tc.name, got, buf[:n], err, tc.delivered)
		}
	}
}
