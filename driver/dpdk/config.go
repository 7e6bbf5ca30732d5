package dpdk

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
)

// ErrNoDPDK is returned by every constructor of a binary built without
// DPDK (build tag nodpdk, or cgo disabled).
var ErrNoDPDK = errors.New("dpdk: built without DPDK (build tag nodpdk or CGO_ENABLED=0); rebuild with cgo and libdpdk-dev")

// PortConfig configures a port. Zero fields take the defaults in brackets.
type PortConfig struct {
	// Name selects the port by DPDK device name, such as
	// "net_af_packet0", "net_ring0" or "0000:3b:00.0". When empty, PortID
	// selects it.
	Name string
	// PortID selects the port by DPDK port id when Name is empty.
	PortID uint16
	// Queues is the number of logical receive/transmit queue pairs, one
	// per softnet [1].
	Queues int
	// BurstSize is the largest burst RxBurst returns and TxBurst takes [32].
	BurstSize int
	// RxDesc and TxDesc are the hardware ring sizes per queue [1024]; the
	// PMD may adjust them.
	RxDesc, TxDesc int
	// PoolSize is the number of mbufs in each queue's mempool [enough for
	// the rings, the software RSS ring and the caches, and at least 16383
	// for the stack's socket buffers, rounded up to 2^k-1].
	PoolSize int
	// PoolCache is the per-lcore cache of each mempool [256, at most
	// PoolSize/1.5].
	PoolCache int
	// LocalCache is how many free packets each queue's driver.Pool keeps
	// in Go before returning a batch to the mempool [128, at least
	// 2*BurstSize].
	LocalCache int
	// SoftRingSize is the size of each logical queue's software RSS ring
	// [1024].
	SoftRingSize int
	// MTU, if set, is programmed into the port; otherwise the port's own
	// MTU is used (clamped to what an mbuf holds).
	MTU int
	// Promiscuous turns promiscuous mode on.
	Promiscuous bool
	// NoOffloads leaves every checksum offload off (and with them
	// segmentation offload).
	NoOffloads bool
	// NoTSO keeps TCP segmentation in software (driver/gso) even where
	// the PMD offers TSO with chained mbufs.
	NoTSO bool
	// NoLRO leaves the NIC's receive coalescing (LRO) off even where the
	// PMD offers it; the stack's own (stack/gro.go) still runs. A stack
	// that coalesces nothing (stack.TCPConfig.NoCoalesce) needs it: LRO
	// is set when the port starts and cannot be turned off later.
	NoLRO bool
	// SoftwareRSS forces software RSS even where the PMD could hash.
	SoftwareRSS bool
	// SYNRing gives pure TCP SYNs a ring of their own (driver.SYNQueuer),
	// so that a SYN flood overflows that ring and not the softnets'
	// queues. On a port with software RSS the poller that dispatches each
	// frame classifies it (driver.PureSYN); a port with hardware RSS does
	// not offer the ring yet (that takes an rte_flow rule on the TCP
	// flags, which this binding does not install) and logs why.
	SYNRing bool
	// Logger receives the port's control-plane logs [nop].
	Logger *zap.Logger

	// hwQueues, when set, caps the hardware queue pairs (tests: several
	// softnets sharing one hardware queue on a PMD that has more).
	hwQueues int
}

// RSSMode says who steers received frames to queues.
type RSSMode int

const (
	// HardwareRSS: the NIC hashes with netsplice's key and the RETA read
	// back from it; each logical queue is a hardware queue.
	HardwareRSS RSSMode = iota
	// SoftwareRSS: the binding hashes (Toeplitz, same key and RETA) and
	// moves each frame to its logical queue's ring.
	SoftwareRSS
)

// String returns "hardware RSS" or "software RSS".
func (m RSSMode) String() string {
	if m == HardwareRSS {
		return "hardware RSS"
	}
	return "software RSS"
}

// SoftStats counts the work of the binding itself on a port, summed over
// queues.
type SoftStats struct {
	// Handoffs counts frames a poller moved to another softnet's ring
	// (software RSS): cross-softnet handoffs.
	Handoffs uint64
	// RingDrops counts frames dropped because a software RSS ring was full.
	RingDrops uint64
	// Unsupported counts received mbufs dropped because a descriptor
	// cannot describe them (chained, external buffer or foreign mempool).
	Unsupported uint64
	// TxShortCalls counts TxBurst calls in which the PMD took fewer frames
	// than offered.
	TxShortCalls uint64
	// CgoCalls counts the calls into C made on the data path (rx and tx
	// bursts, bulk allocations and frees).
	CgoCalls uint64
	// SYNs counts pure SYNs put on the SYN ring, SYNDrops those dropped
	// because it was full (also counted as RxMissed).
	SYNs, SYNDrops uint64
	// TSOChains counts TCP super-frames the NIC took as one mbuf chain to
	// segment (TSO), TSODrops those it refused (dropped, also counted
	// as TxErrors).
	TSOChains, TSODrops uint64
	// LROFrames counts frames received coalesced (LRO) and handed over
	// as driver.RxTCPCoalesced chains.
	LROFrames uint64
}

// Stat is one named counter of a port (Port.Counters).
type Stat struct {
	Name  string
	Value uint64
}

func macString(m driver.MAC) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
