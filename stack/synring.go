package stack

import (
	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/ring"
)

// SYN rings (driver.SYNQueuer).
//
// A port whose NIC steers pure SYNs to a ring of their own keeps a SYN
// flood out of the rings that carry established connections' segments:
// the flood overflows the SYN ring, and the bulk transfer beside it loses
// nothing on the wire. Softnet 0, the owner of queue 0, polls each such
// ring after its own queue, at most synBurst SYNs an iteration, and with
// lower priority than established traffic: in an iteration whose queues
// had segments waiting it takes SYNs only at the floor rate
// (Config.SYNFloor a second), and in an iteration that found its queues empty as many as the
// burst allows. A softnet saturated by established traffic so gives new
// connections the floor rate, and one with time to spare gives them that
// time. SYNs it does
// not take stay in the ring, where the NIC drops what overflows for free;
// a SYN taken costs a checksum, lookups and perhaps a cookie (about 0.75
// us), so taking them only with spare cycles is what keeps a flood from
// eating the softnet's time. A new connection's SYN has to win its place
// in a flooded ring, as behind any NIC's SYN filter.
//
// A SYN is processed by the softnet that owns its flow, the one the
// port's RSS puts the connection's later segments on (a half-open
// connection lives in that softnet's table); softnet 0 computes it with
// the port's RSS key and table and hands the SYN over on that softnet's
// hand-off ring, one per interface, which the owner drains with the same
// bound. A full hand-off ring drops the SYN (drop_syn_ring_full), as a
// full NIC ring would.

const (
	// synBurst is the most SYNs a softnet takes from a SYN ring, or from
	// its hand-off ring, per loop iteration.
	synBurst = 16
	// synHandoffSize is the capacity of a softnet's hand-off ring.
	synHandoffSize = 1024
)

// synRing is a softnet's view of one interface's SYN ring.
type synRing struct {
	ifc  *Interface
	port driver.SYNQueuer // polled by softnet 0 only
	// in holds SYNs handed over by softnet 0 for flows this softnet
	// owns (multi-producer: softnet 0 only, but the ring is shared).
	in *ring.MPSC[driver.Packet]
	// floorTokens and floorAt: softnet 0's bucket of SYNs it may take
	// while busy, refilled at Config.SYNFloor a second up to synBurst.
	floorTokens float64
	floorAt     int64
}

// synFloorTokens refills SYN ring i's floor bucket and returns how many
// whole SYNs it allows.
func (sn *Softnet) synFloorTokens(i int) int {
	r := &sn.syn[i]
	if dt := sn.now - r.floorAt; dt > 0 {
		r.floorTokens = min(r.floorTokens+float64(dt)*float64(sn.st.cfg.SYNFloor)/1e9, synBurst)
		r.floorAt = sn.now
	}
	return int(r.floorTokens)
}

// initSYNRings sets up the softnet's SYN rings for the interfaces whose
// port has one.
func (sn *Softnet) initSYNRings() error {
	for _, ifc := range sn.ifs {
		q, ok := ifc.port.(driver.SYNQueuer)
		if !ok || !q.SYNQueue() {
			continue
		}
		in, err := ring.New[driver.Packet](synHandoffSize)
		if err != nil {
			return err
		}
		sn.syn = append(sn.syn, synRing{ifc: ifc, port: q, in: in})
	}
	return nil
}

// pollSYN takes SYNs from the SYN rings (softnet 0) and from the softnet's
// hand-off rings, and returns how many it took. busy says the softnet's
// queues had segments waiting this iteration.
func (sn *Softnet) pollSYN(busy bool) int {
	work := 0
	for i := range sn.syn {
		r := &sn.syn[i]
		if sn.id == 0 {
			take := min(synBurst, len(sn.rx))
			if busy {
				take = min(take, sn.synFloorTokens(i))
			}
			rx := sn.rx[:take]
			n := 0
			if take > 0 {
				n = r.port.RxSYNBurst(rx)
			}
			if busy {
				r.floorTokens -= float64(n)
			}
			if n > 0 {
				sn.freshen()
			}
			for j := 0; j < n; j++ {
				pk := rx[j]
				rx[j] = nil
				pk.Loops = 0
				sn.inc(RxPackets)
				sn.add(RxBytes, uint64(pk.Len()))
				sn.inc(SYNRingRx)
				sn.synDispatch(i, r.ifc, pk)
			}
			work += n
		}
		for j := 0; j < synBurst; j++ {
			pk := r.in.Pop()
			if pk == nil {
				break
			}
			sn.freshen()
			sn.input(r.ifc, pk)
			work++
		}
	}
	return work
}

// synDispatch processes a SYN from SYN ring i here when this softnet owns
// its flow, else hands it to the owner.
func (sn *Softnet) synDispatch(i int, ifc *Interface, pk *driver.Packet) {
	owner := sn.st.sn[ifc.frameQueue(pk.Data())]
	if owner == sn {
		sn.input(ifc, pk)
		return
	}
	if !owner.syn[i].in.Push(pk) {
		sn.inc(SYNRingDropFull)
		sn.free(pk)
		return
	}
	sn.inc(SYNRingCrossed)
	owner.wakeup()
}

// frameQueue returns the queue the port's RSS gives the Ethernet frame, and
// so the softnet that owns its flow.
func (i *Interface) frameQueue(frame []byte) int {
	if i.port.NumQueues() == 1 {
		return 0
	}
	return int(i.rss.RETA.Queue(i.hasher.HashFrame(frame, i.rss.Types)))
}
