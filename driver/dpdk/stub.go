//go:build !cgo || nodpdk

package dpdk

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/rss"
)

// Available reports whether this binary was built with DPDK.
const Available = false

// InitEAL returns ErrNoDPDK: this binary was built without DPDK.
func InitEAL(args []string) error { return ErrNoDPDK }

// Version returns "": this binary was built without DPDK.
func Version() string { return "" }

// Initialized reports false: this binary was built without DPDK.
func Initialized() bool { return false }

// Cleanup does nothing without DPDK.
func Cleanup() error { return nil }

// ThreadInit returns ErrNoDPDK.
func ThreadInit(softnet int) error { return ErrNoDPDK }

// ThreadExit does nothing without DPDK.
func ThreadExit(softnet int) {}

// LcoreID returns -1 without DPDK.
func LcoreID() int { return -1 }

// OpenPort returns ErrNoDPDK.
func OpenPort(cfg PortConfig) (*Port, error) { return nil, ErrNoDPDK }

// Port is a DPDK port; without DPDK none can be opened.
type Port struct{}

// JoinMulticast returns ErrNoDPDK.
func (p *Port) JoinMulticast(macs []driver.MAC) error { return ErrNoDPDK }

// Name implements driver.Port.
func (p *Port) Name() string { return "" }

// ID returns the DPDK port id.
func (p *Port) ID() uint16 { return 0 }

// Driver returns the PMD's name.
func (p *Port) Driver() string { return "" }

// MAC implements driver.Port.
func (p *Port) MAC() driver.MAC { return driver.MAC{} }

// MTU implements driver.Port.
func (p *Port) MTU() int { return 0 }

// NumQueues implements driver.Port.
func (p *Port) NumQueues() int { return 0 }

// HardwareQueues returns the hardware queues.
func (p *Port) HardwareQueues() (rx, tx int) { return 0, 0 }

// BurstSize implements driver.Port.
func (p *Port) BurstSize() int { return 0 }

// RSS implements driver.Port.
func (p *Port) RSS() rss.Config { return rss.Config{} }

// RSSMode returns who steers frames.
func (p *Port) RSSMode() (RSSMode, string) { return SoftwareRSS, "built without DPDK" }

// Offloads implements driver.Port.
func (p *Port) Offloads() driver.Offloads { return 0 }

// Link implements driver.Port.
func (p *Port) Link() driver.Link { return driver.Link{} }

// Pool implements driver.Port.
func (p *Port) Pool(q int) *driver.Pool { return nil }

// SetRxNotify implements driver.RxNotifier.
func (p *Port) SetRxNotify(q int, fn func()) {}

// RxBurst implements driver.Port.
func (p *Port) RxBurst(q int, pkts []*driver.Packet) int { return 0 }

// TxBurst implements driver.Port.
func (p *Port) TxBurst(q int, pkts []*driver.Packet) int { return 0 }

// Stats implements driver.Port.
func (p *Port) Stats() driver.PortStats { return driver.PortStats{} }

// SoftStats returns the binding's own counters.
func (p *Port) SoftStats() SoftStats { return SoftStats{} }

// XStats returns ErrNoDPDK.
func (p *Port) XStats() (map[string]uint64, error) { return nil, ErrNoDPDK }

// Counters returns ErrNoDPDK.
func (p *Port) Counters() ([]Stat, error) { return nil, ErrNoDPDK }

// Close implements driver.Port.
func (p *Port) Close() error { return ErrNoDPDK }

func cFlags() [10]uint32 {
	return [10]uint32{uint32(driver.RxHashValid), uint32(driver.RxIPChecksumGood), uint32(driver.RxIPChecksumBad),
		uint32(driver.RxL4ChecksumGood), uint32(driver.RxL4ChecksumBad), uint32(driver.TxIPChecksum),
		uint32(driver.TxUDPChecksum), uint32(driver.TxTCPChecksum), uint32(driver.TxIPv6), uint32(driver.RxTCPCoalesced)}
}
