package iperf3

import (
	"net/netip"
	"time"
)

// TestStats are the server's figures for one test: what the client asked
// for, and what the server itself sent and received while the test ran
// (the figures it reports to the client in EXCHANGE_RESULTS). Byte counts
// leave out the -O omit period, as iperf3's do.
type TestStats struct {
	Number uint64         // 1 for the first test the server took
	Client netip.AddrPort // the control connection's peer
	Cookie string
	Phase  string // handshake, creating streams, running, exchanging results, done

	Protocol  string // "tcp" or "udp"; empty before the parameters came
	Parallel  int    // -P
	Reverse   bool   // -R: the server sends
	Bidir     bool   // --bidir: both send
	Time      time.Duration
	Bytes     uint64 // -n
	Blocks    uint64 // -k
	Bitrate   uint64 // -b, bits/s per stream; 0 is unlimited
	BlockSize int    // -l
	Omit      time.Duration
	Title     string

	Started time.Time     // TEST_START (or the end of the omit period)
	Elapsed time.Duration // from Started to TEST_END, or to now while running

	BytesReceived uint64
	BytesSent     uint64
	// UDP: datagrams the server sent and received; LostPackets,
	// OutOfOrder and Jitter (the mean over the receiving streams) are the
	// receiver's figures as iperf3 computes them.
	PacketsSent     uint64
	PacketsReceived uint64
	LostPackets     uint64
	OutOfOrder      uint64
	Jitter          time.Duration
	Stray           uint64 // UDP datagrams from no stream of the test

	Streams []StreamStats

	// ClientSent and ClientReceived are the client's own totals, from
	// the results it sent in EXCHANGE_RESULTS (zero before).
	ClientSent     uint64
	ClientReceived uint64

	// Err is why the test failed; nil while it runs and when it completed.
	Err error
}

// StreamStats are the server's figures for one data stream.
type StreamStats struct {
	ID     int
	Sender bool // the server sends on this stream
	Peer   netip.AddrPort
	Bytes  uint64
	// Datagrams sent or received (UDP); Packets is iperf3's "packets":
	// sent, or for a receiver the highest sequence number seen.
	Datagrams  uint64
	Packets    uint64
	Lost       uint64
	OutOfOrder uint64
	Jitter     time.Duration
}

// snapshot returns the test's figures now; err is how it ended.
func (t *srvTest) snapshot(err error) TestStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	ph := t.phase.Load()
	st := TestStats{
		Number: t.num,
		Client: t.client,
		Cookie: t.cookie,
		Phase:  phaseNames[ph],
		Stray:  t.stray.Load(),
		Err:    err,
	}
	if ph >= phaseCreate {
		p := &t.p
		st.Protocol = p.proto()
		st.Parallel = int(p.Parallel)
		st.Reverse, st.Bidir = p.Reverse, p.Bidir
		st.Time = time.Duration(p.Time) * time.Second
		st.Bytes, st.Blocks = p.Bytes, p.Blocks
		st.Bitrate = p.Rate
		st.BlockSize = int(p.BlockSize)
		st.Omit = time.Duration(p.Omit) * time.Second
		st.Title = p.Title
	}
	if !t.begun.IsZero() {
		st.Started = t.begun
		end := t.ended
		if end.IsZero() {
			end = time.Now()
		}
		st.Elapsed = end.Sub(t.begun)
	}
	var jit float64
	var nrecv int
	for _, s := range t.streams {
		ss := StreamStats{
			ID:        s.id,
			Sender:    s.sender,
			Peer:      s.peer,
			Bytes:     s.reported(),
			Datagrams: s.blocks.Load(),
			Packets:   s.packets.Load(),
		}
		if s.sender {
			st.BytesSent += ss.Bytes
			if st.Protocol == "udp" {
				st.PacketsSent += ss.Datagrams
			}
		} else {
			ss.Lost = s.lost.Load()
			ss.OutOfOrder = s.ooo.Load()
			j := s.jitterSeconds()
			ss.Jitter = time.Duration(j * float64(time.Second))
			st.BytesReceived += ss.Bytes
			if st.Protocol == "udp" {
				st.PacketsReceived += ss.Datagrams
				st.LostPackets += ss.Lost
				st.OutOfOrder += ss.OutOfOrder
				jit += j
				nrecv++
			}
		}
		st.Streams = append(st.Streams, ss)
	}
	if nrecv > 0 {
		st.Jitter = time.Duration(jit / float64(nrecv) * float64(time.Second))
	}
	if r := t.clientRes; r != nil {
		byID := make(map[int]bool, len(t.streams))
		for _, s := range t.streams {
			byID[s.id] = s.sender
		}
		for _, cs := range r.Streams {
			serverSends, ok := byID[int(cs.ID)]
			if !ok {
				continue
			}
			if serverSends {
				st.ClientReceived += cs.Bytes
			} else {
				st.ClientSent += cs.Bytes
			}
		}
	}
	return st
}
