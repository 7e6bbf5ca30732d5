package memwire_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
)

const benchBurst = driver.DefaultBurstSize

// udpHeaders returns the Ethernet, IPv4 and UDP headers (42 bytes) of a
// frame of size bytes from src to dst; flow varies the source port.
func udpHeaders(dst, src driver.MAC, size, flow int) []byte {
	h := make([]byte, 42)
	copy(h[0:6], dst[:])
	copy(h[6:12], src[:])
	h[12], h[13] = 0x08, 0x00
	ip := h[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8], ip[9] = 64, 17
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], uint16(10000+flow))
	binary.BigEndian.PutUint16(ip[22:], 4789)
	binary.BigEndian.PutUint16(ip[24:], uint16(size-34))
	return h
}

// benchLink sends 32-frame bursts of size-byte frames from tx to rx and
// drains every queue of rx, giving the buffers back; it reports ns/pkt.
// Only the headers are written: the wire itself never copies a unicast
// frame, so the cost should not depend on the size.
func benchLink(b *testing.B, tx, rx driver.Port, dst, src driver.MAC, size, flows int) {
	hdrs := make([][]byte, benchBurst)
	for i := range hdrs {
		hdrs[i] = udpHeaders(dst, src, size, i%flows)
	}
	txPkts := make([]*driver.Packet, benchBurst)
	rxPkts := make([]*driver.Packet, rx.BurstSize())
	pkts := 0
	b.SetBytes(int64(benchBurst * size))
	b.ReportAllocs()
	for b.Loop() {
		pool := tx.Pool(0)
		for i := range txPkts {
			pk := pool.Get()
			copy(pk.Append(size), hdrs[i])
			txPkts[i] = pk
		}
		tx.TxBurst(0, txPkts)
		for q := range rx.NumQueues() {
			for {
				n := rx.RxBurst(q, rxPkts)
				if n == 0 {
					break
				}
				for _, pk := range rxPkts[:n] {
					rx.Pool(q).Put(pk)
				}
				pkts += n
			}
		}
		if i, ok := tx.(driver.Idler); ok {
			i.Idle(0)
		}
	}
	if pkts == 0 {
		b.Fatal("nothing received")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/pkt")
}

func newPair(b *testing.B, rxQueues int) (*memwire.Port, *memwire.Port) {
	w := memwire.New()
	a, err := w.AddPort(memwire.Config{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := w.AddPort(memwire.Config{Queues: rxQueues})
	if err != nil {
		b.Fatal(err)
	}
	return a, c
}

// BenchmarkWireBurst: 32-frame bursts A->B, B drained each time.
func BenchmarkWireBurst(b *testing.B) {
	for _, tc := range []struct {
		size, queues, flows int
	}{
		{64, 1, 1},
		{1514, 1, 1},
		{64, 4, 32}, // 32 flows spread by RSS over 4 queues
	} {
		b.Run(fmt.Sprintf("%dB/%dq", tc.size, tc.queues), func(b *testing.B) {
			a, c := newPair(b, tc.queues)
			benchLink(b, a, c, c.MAC(), a.MAC(), tc.size, tc.flows)
		})
	}
}

// BenchmarkImpairPassThrough measures the fault injector's overhead: the
// raw wire, a wrapper injecting nothing, and one injecting faults.
func BenchmarkImpairPassThrough(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  *impair.Config
	}{
		{"raw", nil},
		{"passthrough", &impair.Config{Seed: 1}},
		{"faults", &impair.Config{Drop: 0.01, Dup: 0.01, Corrupt: 0.001, Reorder: 8, Delay: 4, Seed: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, c := newPair(b, 1)
			var tx driver.Port = a
			if tc.cfg != nil {
				ip, err := impair.Wrap(a, *tc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				tx = ip
			}
			benchLink(b, tx, c, c.MAC(), a.MAC(), 64, 1)
		})
	}
}
