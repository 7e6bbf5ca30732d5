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
