package iperf3

import (
	"net/netip"
	"testing"
)

// TestUDPBlockSizeByFamily: a UDP test's default block fits one
// unfragmented datagram on a 1500-byte MTU in the server's family; a
// block given is kept.
func TestUDPBlockSizeByFamily(t *testing.T) {
	for _, tc := range []struct {
		server string
		block  int
		want   int
	}{
		{"192.0.2.1:5201", 0, 1460},
		{"[2001:db8::1]:5201", 0, 1440},
		{"[::ffff:192.0.2.1]:5201", 0, 1460},
		{"[2001:db8::1]:5201", 1000, 1000},
	} {
		c, _, err := ClientConfig{Server: netip.MustParseAddrPort(tc.server), UDP: true, BlockSize: tc.block}.withDefaults()
		if err != nil {
			t.Fatalf("%s: %v", tc.server, err)
		}
		if c.BlockSize != tc.want {
			t.Errorf("%s, block %d: BlockSize %d, want %d", tc.server, tc.block, c.BlockSize, tc.want)
		}
	}
}
