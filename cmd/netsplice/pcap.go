package main

import (
	"bufio"
	"os"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/netsplice/netsplice/driver"
)

// pcapWriter records frames of one or more ports into a pcap file. It is a
// debugging aid, not a line-rate capture: every frame takes a mutex shared
// by all softnets and a write into a buffered file.
type pcapWriter struct {
	mu  sync.Mutex
	f   *os.File
	bw  *bufio.Writer
	w   *pcapgo.Writer
	n   uint64
	err error
}

func newPcapWriter(path string) (*pcapWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return nil, err
	}
	return &pcapWriter{f: f, bw: bw, w: w}, nil
}

func (p *pcapWriter) write(pkts []*driver.Packet) {
	if len(pkts) == 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || p.w == nil {
		return
	}
	for _, pk := range pkts {
		d := pk.Data()
		ci := gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(d), Length: len(d)}
		if p.err = p.w.WritePacket(ci, d); p.err != nil {
			return
		}
		p.n++
	}
}

func (p *pcapWriter) frames() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *pcapWriter) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		return nil
	}
	p.w = nil
	err := p.bw.Flush()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = p.err
	}
	return err
}

// wrap returns port with every frame it receives and every frame offered
// to it for transmission written to the file. Frames are recorded before
// TxBurst, since the driver owns them after; the rare frame the port then
// refuses is recorded too.
func (p *pcapWriter) wrap(port driver.Port) driver.Port { return &pcapPort{Port: port, w: p} }

type pcapPort struct {
	driver.Port
	w *pcapWriter
}

// RxBurst implements driver.Port.
func (p *pcapPort) RxBurst(q int, pkts []*driver.Packet) int {
	n := p.Port.RxBurst(q, pkts)
	p.w.write(pkts[:n])
	return n
}

// Offloads implements driver.Port: the wrapped port's, less TCP
// segmentation, so that the capture holds the frames the wire carries.
func (p *pcapPort) Offloads() driver.Offloads {
	return p.Port.Offloads() &^ driver.OffloadTxTCPSeg
}

// TxBurst implements driver.Port.
func (p *pcapPort) TxBurst(q int, pkts []*driver.Packet) int {
	p.w.write(pkts)
	return p.Port.TxBurst(q, pkts)
}

// SetRxNotify passes the registration on (driver.RxNotifier).
func (p *pcapPort) SetRxNotify(q int, fn func()) {
	if n, ok := p.Port.(driver.RxNotifier); ok {
		n.SetRxNotify(q, fn)
	}
}

// Idle passes idle polls on (driver.Idler).
func (p *pcapPort) Idle(q int) {
	if i, ok := p.Port.(driver.Idler); ok {
		i.Idle(q)
	}
}
