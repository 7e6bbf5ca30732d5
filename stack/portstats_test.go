package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/memwire"
)

// TestCountersFoldPortStats: Stack.Counters carries the ports' own
// counters (for DPDK, rte_eth_stats) next to the softnets'.
func TestCountersFoldPortStats(t *testing.T) {
	w := memwire.New()
	var stacks []*Stack
	var ports []*memwire.Port
	for i, addr := range []string{"192.0.2.1/24", "192.0.2.2/24"} {
		p, err := w.AddPort(memwire.Config{Name: string(rune('a' + i))})
		if err != nil {
			t.Fatal(err)
		}
		st, err := New(Config{Poll: PollAdaptive}, InterfaceConfig{Port: p, Addr: netip.MustParsePrefix(addr)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Stop)
		stacks, ports = append(stacks, st), append(ports, p)
	}
	if _, err := stacks[0].Ping(netip.MustParseAddr("192.0.2.2"), 5, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c := stacks[0].Counters()
	ps := ports[0].Stats()
	if c[PortTxPackets] == 0 || c[PortTxPackets] != ps.TxPackets || c[PortRxPackets] != ps.RxPackets {
		t.Fatalf("port_tx_packets %d, port_rx_packets %d; the port says %d and %d", c[PortTxPackets], c[PortRxPackets], ps.TxPackets, ps.RxPackets)
	}
	if c[PortTxPackets] != c[TxPackets] {
		t.Fatalf("port_tx_packets %d, softnets' tx_packets %d: want equal on a wire that takes everything", c[PortTxPackets], c[TxPackets])
	}
}
