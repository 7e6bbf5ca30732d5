package bench

import (
	"encoding/json"
	"io"
	"runtime"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// Result is one measurement, printed as one JSON line. Fields that do not
// apply to a workload are omitted.
type Result struct {
	Stack    string `json:"stack"`
	Workload string `json:"workload"`
	Mode     string `json:"mode,omitempty"`
	Softnets int    `json:"softnets"`
	// Offload: the ports offloaded checksums (TCPConfig.Offload).
	Offload  bool    `json:"offload,omitempty"`
	Gbps     float64 `json:"gbps,omitempty"`
	PPS      float64 `json:"pps,omitempty"`
	NsPerPkt float64 `json:"ns_per_pkt,omitempty"`
	// RelayNsSeg is the relay workloads' CPU of the relay alone per
	// forwarded segment (TCP: per MSS of payload; UDP: per datagram).
	RelayNsSeg   float64 `json:"relay_ns_per_seg,omitempty"`
	AllocsPerPkt float64 `json:"allocs_per_pkt"`
	HandoffsPkt  float64 `json:"handoffs_per_pkt"`
	CPUSPerGiB   float64 `json:"cpu_s_per_gib,omitempty"`
	CPS          float64 `json:"cps,omitempty"`
	Packets      uint64  `json:"packets"`
	Seconds      float64 `json:"seconds"`
	Drops        uint64  `json:"drops"`
	// ServerSoftnetRx is the packets each of the receiving stack's
	// softnets took during the measurement: how the flows were placed.
	ServerSoftnetRx []uint64 `json:"server_softnet_rx,omitempty"`
}

// softnetRx returns the received-packet counter of each of st's softnets.
func softnetRx(st *stack.Stack) []uint64 {
	n := make([]uint64, st.NumSoftnets())
	for i := range n {
		n[i] = st.Softnet(i).Counters()[stack.RxPackets]
	}
	return n
}

// since returns after - before, element by element.
func since(before, after []uint64) []uint64 {
	d := make([]uint64, len(after))
	for i := range after {
		d[i] = after[i] - before[i]
	}
	return d
}

// WriteJSON writes r as one line.
func (r Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// meter measures wall time, process CPU time and allocations.
type meter struct {
	start   time.Time
	cpu     time.Duration
	mallocs uint64
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startMeter() meter {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return meter{start: time.Now(), cpu: cpuTime(), mallocs: ms.Mallocs}
}

// stop returns elapsed wall time, CPU time and allocations since start.
func (m meter) stop() (time.Duration, time.Duration, uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return time.Since(m.start), cpuTime() - m.cpu, ms.Mallocs - m.mallocs
}
