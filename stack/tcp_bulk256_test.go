//go:build !race

package stack

import (
	"os"
	"strconv"
	"testing"
)

// TestTCPBulk256 is issue 3's acceptance run: 256 MiB each way and both
// ways at once under every fault configuration, SHA-256 compared, every
// frame checked by gopacket; and issue 12's, the same both ways at once
// over IPv6. It is built without the race detector (make
// test runs it in a separate plain pass); make soak repeats it over many
// seeds (NETSPLICE_SOAK=1, NETSPLICE_SEEDS=N).
func TestTCPBulk256(t *testing.T) {
	seeds := 1
	if os.Getenv("NETSPLICE_SOAK") != "" {
		seeds = 5
		if n, err := strconv.Atoi(os.Getenv("NETSPLICE_SEEDS")); err == nil && n > 0 {
			seeds = n
		}
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		for _, tc := range bulkCases(seed * 10) {
			for _, dir := range []bulkDir{aToB, bToA, bothWays} {
				t.Run(tc.name+"/"+dir.String()+"/seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
					runBulkCase(t, tc, 256<<20, dir, seed)
				})
			}
			t.Run(tc.name+"/ipv6/"+bothWays.String()+"/seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
				runBulkCase6(t, tc, 256<<20, bothWays, seed)
			})
		}
	}
}
