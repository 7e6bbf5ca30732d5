package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

func TestTCPWorkloadsRun(t *testing.T) {
	r, err := TCPBulk(TCPConfig{Softnets: 1, Poll: stack.PollAdaptive, Bytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Gbps <= 0 || r.Packets == 0 || r.Drops != 0 {
		t.Fatalf("tcp-bulk: implausible %+v", r)
	}
	c, err := TCPConnRate(TCPConfig{Softnets: 1, Poll: stack.PollAdaptive, Duration: 300e6, Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if c.CPS <= 0 || c.Drops != 0 {
		t.Fatalf("tcp-conn: implausible %+v", c)
	}
	// The same through the softnet-side API: every connection echoed and
	// closed, fewer allocations than through net.Conn (no goroutine, no
	// wake-up channel per connection).
	sc, err := TCPConnSoftnet(TCPConfig{Softnets: 1, Poll: stack.PollAdaptive, Duration: 300e6, Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if sc.CPS <= 0 || sc.Drops != 0 || sc.Workload != "tcp-conn-softnet" || sc.AllocsPerPkt >= c.AllocsPerPkt {
		t.Fatalf("tcp-conn-softnet: implausible %+v (net.Conn: %.1f allocs/conn)", sc, c.AllocsPerPkt)
	}
	m, err := IdleConnMemory(200)
	if err != nil {
		t.Fatal(err)
	}
	if m <= 0 || m > 1<<20 {
		t.Fatalf("idle connection memory %v bytes: implausible", m)
	}
}

func BenchmarkTCPBulk1Softnet(b *testing.B) {
	r, err := TCPBulk(TCPConfig{Softnets: 1, Poll: stack.PollAdaptive, Bytes: int64(max(b.N, 1)) * 1448})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.Gbps, "Gbit/s")
	b.ReportMetric(r.NsPerPkt, "ns/seg")
	b.ReportMetric(r.AllocsPerPkt, "allocs/seg")
	b.ReportMetric(r.CPUSPerGiB, "cpu-s/GiB")
}

func BenchmarkTCPConnRate(b *testing.B) {
	r, err := TCPConnRate(TCPConfig{Softnets: 1, Poll: stack.PollAdaptive, Duration: 500e6})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.CPS, "conns/s")
	b.ReportMetric(r.AllocsPerPkt, "allocs/conn")
}

func BenchmarkIdleConnMemory(b *testing.B) {
	m, err := IdleConnMemory(1000)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(m, "bytes/conn")
}

func TestTCPRelayWorkloadRuns(t *testing.T) {
	for _, mode := range []splice.Mode{splice.ModeSoftnet, splice.ModeDedicated, splice.ModeCopy} {
		r, err := TCPRelay(RelayConfig{Softnets: 1, Mode: mode, Poll: stack.PollAdaptive, Duration: 300e6})
		if err != nil {
			t.Fatal(err)
		}
		// (The relay's busy time is wall time: on an oversubscribed
		// machine it may exceed its share of the process's CPU.)
		if r.Gbps <= 0 || r.Packets == 0 || r.RelayNsSeg <= 0 {
			t.Fatalf("%v: implausible %+v", mode, r)
		}
		if mode == splice.ModeSoftnet && r.HandoffsPkt != 0 {
			t.Fatalf("softnet relay handed off %v tasks per segment, want 0", r.HandoffsPkt)
		}
	}
}

func TestUDPRelayWorkloadRuns(t *testing.T) {
	for _, mode := range []splice.Mode{splice.ModeSoftnet, splice.ModeDedicated, splice.ModeCopy} {
		r, err := UDPRelay(RelayConfig{Softnets: 1, Mode: mode, Poll: stack.PollAdaptive, Duration: 300e6})
		if err != nil {
			t.Fatal(err)
		}
		// (The relay's busy time is wall time: on an oversubscribed
		// machine it may exceed its share of the process's CPU.)
		if r.Gbps <= 0 || r.Packets == 0 || r.RelayNsSeg <= 0 {
			t.Fatalf("%v: implausible %+v", mode, r)
		}
		if mode == splice.ModeSoftnet && r.HandoffsPkt != 0 {
			t.Fatalf("softnet relay handed off %v tasks per datagram, want 0", r.HandoffsPkt)
		}
	}
}

func TestGenWorkloads(t *testing.T) {
	c, err := GenCPS(GenConfig{Poll: stack.PollAdaptive, Duration: 300 * time.Millisecond, Conns: 8})
	if err != nil {
		t.Fatal(err)
	}
	if c.CPS <= 0 || c.Packets == 0 || c.Drops != 0 {
		t.Fatalf("gen-cps: implausible %+v", c)
	}
	u, err := GenUDP(GenConfig{Poll: stack.PollAdaptive, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if u.PPS <= 0 || u.Packets == 0 || u.NsPerPkt <= 0 {
		t.Fatalf("gen-udp: implausible %+v", u)
	}
}

// TestGenUDPSink: the generator sends into a port nothing receives from
// (here an in-memory port alone on its wire, which loses every frame and
// counts it), to the static neighbour, without ARP: every datagram the
// report counts reached the port, and none waited for resolution.
func TestGenUDPSink(t *testing.T) {
	p, err := memwire.New().AddPort(memwire.Config{Name: "sink", PoolSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r, err := GenUDPSink(GenConfig{Poll: stack.PollAdaptive, Duration: 300 * time.Millisecond}, Sink{Port: p})
	if err != nil {
		t.Fatal(err)
	}
	if r.Workload != "gen-udp-sink" || r.PPS <= 0 || r.NsPerPkt <= 0 {
		t.Fatalf("gen-udp-sink: implausible %+v", r)
	}
	// The port also sent the stack's gratuitous ARP, also lost; no
	// warm-up ping goes towards a static neighbour.
	if s := p.Stats(); s.TxErrors != r.Packets+1 {
		t.Fatalf("the port lost %d frames on its wire, the generator sent %d datagrams", s.TxErrors, r.Packets)
	}
	if _, err := GenUDPSink(GenConfig{Softnets: 2}, Sink{Port: p}); err == nil || !strings.Contains(err.Error(), "queues") {
		t.Fatalf("2 softnets on a 1-queue port: %v, want an error about its queues", err)
	}
}

// TestGenHeld: the search finds a TCP connection rate the generator holds
// with nothing failed, no higher than the ceiling it measured first.
func TestGenHeld(t *testing.T) {
	r, err := GenHeld(GenConfig{Poll: stack.PollAdaptive, Duration: 2 * time.Second, Conns: 16}, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if r.Workload != "gen-cps-held" || r.CPS <= 0 || r.Packets < 2 {
		t.Fatalf("gen-cps-held: implausible %+v", r)
	}
}

func BenchmarkGenCPS(b *testing.B) {
	for range b.N {
		r, err := GenCPS(GenConfig{Poll: stack.PollAdaptive})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.CPS, "conn/s")
		b.ReportMetric(r.NsPerPkt, "gen-ns/conn")
		b.ReportMetric(r.AllocsPerPkt, "allocs/conn")
	}
}

func BenchmarkGenUDP(b *testing.B) {
	for range b.N {
		r, err := GenUDP(GenConfig{Poll: stack.PollAdaptive})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.PPS/1e6, "Mpkt/s")
		b.ReportMetric(r.NsPerPkt, "gen-ns/pkt")
		b.ReportMetric(r.AllocsPerPkt, "allocs/pkt")
	}
}

// TestOffloadWorkloadsRun: the workloads run with checksum offload on the
// in-memory ports and say so in their results.
func TestOffloadWorkloadsRun(t *testing.T) {
	b, err := TCPBulk(TCPConfig{Softnets: 1, Poll: stack.PollAdaptive, Bytes: 16 << 20, Offload: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := UDPEcho(UDPConfig{Softnets: 1, Poll: stack.PollAdaptive, Duration: 200e6, Offload: true, IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := TCPRelay(RelayConfig{Softnets: 1, Mode: splice.ModeSoftnet, Poll: stack.PollAdaptive, Duration: 200e6, Offload: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []Result{b, u, r} {
		if !res.Offload || res.Gbps <= 0 || res.Packets == 0 {
			t.Errorf("%s: implausible with offload: %+v", res.Workload, res)
		}
	}
}
