package bench

import (
	"runtime"
	"testing"

	"github.com/netsplice/netsplice/stack"
)

func TestUDPEchoRuns(t *testing.T) {
	r, err := UDPEcho(UDPConfig{Softnets: 1, Poll: stack.PollAdaptive, Packets: 2000, Window: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.Packets < 4000 || r.PPS <= 0 || r.NsPerPkt <= 0 {
		t.Fatalf("implausible result %+v", r)
	}
	if r.HandoffsPkt != 0 {
		t.Fatalf("handoffs per packet = %v, want 0: the echo runs on the flow's own softnet", r.HandoffsPkt)
	}
	if _, err := UDPEcho(UDPConfig{Size: 5000}); err == nil {
		t.Fatal("oversize payload accepted")
	}
}

func benchUDP(b *testing.B, softnets int) {
	b.ReportAllocs()
	// Busy polling needs a core per softnet; two stacks of softnets
	// softnets each on a smaller machine poll adaptively instead, so that
	// a softnet with no work yields its core.
	poll := stack.PollBusy
	if 2*softnets > runtime.NumCPU() {
		poll = stack.PollAdaptive
	}
	r, err := UDPEcho(UDPConfig{Softnets: softnets, Poll: poll, Packets: uint64(max(b.N, 1000))})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.NsPerPkt, "ns/pkt")
	b.ReportMetric(r.PPS, "pkts/s")
	b.ReportMetric(r.AllocsPerPkt, "allocs/pkt")
	b.ReportMetric(r.Gbps, "Gbit/s")
}

func BenchmarkUDPEcho1Softnet(b *testing.B)  { benchUDP(b, 1) }
func BenchmarkUDPEcho2Softnets(b *testing.B) { benchUDP(b, 2) }

// TestEchoPlacement checks that with two softnets each of the server's
// softnets carries one of the two echo flows, in both families, for UDP and
// TCP: the symmetric RSS key puts a flow on the same queue index at both
// ends, so the figures do not depend on where a hash happens to fall.
func TestEchoPlacement(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		r, err := UDPEcho(UDPConfig{Softnets: 2, Poll: stack.PollAdaptive, Packets: 4000, Window: 8, IPv6: v6})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.ServerSoftnetRx) != 2 || r.ServerSoftnetRx[0] == 0 || r.ServerSoftnetRx[1] == 0 {
			t.Errorf("%s: server softnet rx %v: want both softnets busy", r.Workload, r.ServerSoftnetRx)
		}
		tr, err := TCPBulk(TCPConfig{Softnets: 2, Poll: stack.PollAdaptive, Bytes: 8 << 20, IPv6: v6})
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.ServerSoftnetRx) != 2 || tr.ServerSoftnetRx[0] == 0 || tr.ServerSoftnetRx[1] == 0 {
			t.Errorf("%s: server softnet rx %v: want both softnets busy", tr.Workload, tr.ServerSoftnetRx)
		}
	}
}
