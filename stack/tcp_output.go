package stack

import (
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/gso"
	"github.com/netsplice/netsplice/stack/header"
)

// tcpHeaderRoom is the headroom a TCP frame needs: Ethernet, IPv6 (the
// larger network header) and a TCP header with the largest options we
// send. It fits driver.DefaultHeadroom.
const tcpHeaderRoom = header.EthernetHeaderLen + header.IPv6HeaderLen + header.TCPMinHeaderLen + 40

// tcpIPHeaderLen returns the network and TCP header bytes, options aside,
// of the segments of connection k: 40 over IPv4, 60 over IPv6. An MSS is
// the MTU less this.
func tcpIPHeaderLen(k flowKey) int {
	if k.v4() {
		return header.IPv4MinHeaderLen + header.TCPMinHeaderLen
	}
	return header.IPv6HeaderLen + header.TCPMinHeaderLen
}

// headerLen is tcpIPHeaderLen of the connection.
func (c *TCPConn) headerLen() int {
	if c.v6 {
		return header.IPv6HeaderLen + header.TCPMinHeaderLen
	}
	return header.IPv4MinHeaderLen + header.TCPMinHeaderLen
}

// advertise computes the window field for an outgoing segment and
// records the right edge. The edge never moves left (RFC 9293 section
// 3.8.6.2.2), and a window smaller than min(MSS, buffer/2) is advertised
// as what was already promised (receiver-side silly window avoidance).
func (c *TCPConn) advertise() uint16 {
	free := c.rcvWindow()
	if free < min(c.mss, c.rcvBuf/2) {
		free = 0
	}
	edge := c.rcvNxt + uint32(free)
	if seqLT(edge, c.rcvAdv) {
		edge = c.rcvAdv
	}
	c.rcvAdv = edge
	wnd := int(edge - c.rcvNxt)
	if wnd < c.rcvBuf/2 {
		c.needWUpd.Store(true)
	}
	if c.state == tcpSynRcvd || c.state == tcpSynSent {
		return uint16(min(wnd, 65535)) // a SYN's window is never scaled
	}
	return uint16(min(wnd>>c.rcvShift, 65535))
}

// sendSegment builds and sends one segment: seq, flags, and n payload
// bytes taken from the send queue at seq (n may be 0). On a port with
// segmentation offload any payload goes by reference, as a super-frame
// (of one segment when n is at most the MSS): the stack copies payload
// into frames only for ports that cannot take it so.
func (c *TCPConn) sendSegment(seq uint32, flags uint8, n int) bool {
	sn := c.sn
	pk := sn.alloc(c.ifc)
	if pk == nil {
		return false
	}
	if n > c.mss || n > 0 && c.ifc.tso {
		return c.sendSuperFrame(pk, seq, flags, n)
	}
	if n > 0 {
		dst := pk.Append(n)
		if dst == nil || !c.copyOut(seq, dst, pk) {
			sn.free(pk)
			return false
		}
		sn.add(TCPTxCopyBytes, uint64(n))
	}
	c.finishSegment(pk, seq, flags)
	return true
}

// sendSuperFrame sends n payload bytes from the send queue at seq as one
// super-frame (tso.go) built in pk: headers only, the payload referenced
// where it lies, cut into MSS segments by the port (one, when n is no
// more than the MSS).
func (c *TCPConn) sendSuperFrame(pk *driver.Packet, seq uint32, flags uint8, n int) bool {
	src, start := c.locate(seq)
	if src == nil {
		c.sn.free(pk)
		return false
	}
	off := int(seq - start)
	if src == c.sndHead {
		off += c.sndHeadOff
	}
	c.curPk, c.curSeq = src, start
	pk.More, pk.MoreOff, pk.MoreLen, pk.SegSize = src, int32(off), int32(n), uint16(c.mss)
	pk.Flags |= driver.TxTCPSeg
	c.sn.inc(TCPTxTSOFrames)
	c.sn.add(TCPTxTSOBytes, uint64(n))
	c.finishSegment(pk, seq, flags)
	return true
}

// tsoPayload returns the payload one super-frame may carry: the IP
// length field's limit less the headers, in whole segments.
func (c *TCPConn) tsoPayload() int {
	n := 65535 - c.headerLen()
	if c.tsOK {
		n -= 12
	}
	return n - n%c.mss
}

// finishSegment prepends the TCP header to the payload in pk and sends it.
func (c *TCPConn) finishSegment(pk *driver.Packet, seq uint32, flags uint8) {
	sn := c.sn
	var opts [40]byte
	olen := 0
	if flags&header.TCPFlagSyn != 0 {
		mss := uint16(min(c.ifc.mtu-c.headerLen(), 65535))
		if c.state == tcpSynSent {
			olen = writeSYNOptions(opts[:], mss, c.rcvShift, true, true, true, c.tsNow(), 0)
		} else {
			olen = writeSYNOptions(opts[:], mss, c.rcvShift, c.wsOK, c.sackOK, c.tsOK, c.tsNow(), c.tsRecent)
		}
	} else if c.tsOK {
		olen = writeTSOption(opts[:], c.tsNow(), c.tsRecent)
	}
	if flags&header.TCPFlagAck != 0 && c.sackOK && len(c.ooo) > 0 && flags&header.TCPFlagSyn == 0 {
		olen += c.writeSACKBlocks(opts[olen:])
	}
	hl := header.TCPMinHeaderLen + olen
	b := pk.Prepend(hl)
	if b == nil {
		sn.free(pk)
		return
	}
	t := header.TCP(b)
	t.SetSrcPort(c.key.lport)
	t.SetDstPort(c.key.rport)
	t.SetSeq(seq)
	var ack uint32
	if flags&header.TCPFlagAck != 0 {
		ack = c.rcvNxt
		c.ackOwed = 0
		c.dackT.Stop()
	}
	t.SetAck(ack)
	t.SetDataOffset(hl)
	t.SetFlags(flags)
	t.SetWindow(c.advertise())
	t.SetUrgentPtr(0)
	copy(b[header.TCPMinHeaderLen:], opts[:olen])
	c.checksumAndSend(pk)
}

func (c *TCPConn) checksumAndSend(pk *driver.Packet) {
	c.sn.tcpSend(c.ifc, pk, c.key, c.nh)
}

// tcpSend completes the checksum of the TCP segment in pk (or sets it up
// for the port's offload) and sends it from key's local to its remote
// address through next hop nh, over IPv4 or IPv6 as the key is. It owns
// pk.
func (sn *Softnet) tcpSend(ifc *Interface, pk *driver.Packet, key flowKey, nh [16]byte) {
	t := header.TCP(pk.Data())
	l := uint16(pk.FrameLen())
	offload := ifc.txCsum&driver.OffloadTxTCPChecksum != 0
	if pk.More == nil {
		sn.inc(TCPTx)
	} else {
		sn.add(TCPTx, uint64(gso.Count(pk)))
	}
	if key.v4() {
		src, dst := as4(key.laddr), as4(key.raddr)
		if offload {
			t.SetChecksumField(header.Fold(header.PseudoHeaderChecksum(header.ProtoTCP, src, dst, l)))
			pk.Flags |= driver.TxTCPChecksum
		} else {
			t.SetChecksum(src, dst, l)
		}
		sn.ipOutput(ifc, pk, header.ProtoTCP, src, dst, as4(nh))
		return
	}
	if offload {
		t.SetChecksumField(header.Fold(header.PseudoHeaderChecksumIPv6(header.ProtoTCP, key.laddr, key.raddr, uint32(l))))
		pk.Flags |= driver.TxTCPChecksum
	} else {
		t.SetChecksumIPv6(key.laddr, key.raddr, l)
	}
	sn.ip6Output(ifc, pk, header.ProtoTCP, key.laddr, key.raddr, nh)
}

// writeSACKBlocks reports up to three out-of-order ranges (RFC 2018),
// the most recent first.
func (c *TCPConn) writeSACKBlocks(b []byte) int {
	var blocks [3][2]uint32
	n := 0
	for i := len(c.ooo) - 1; i >= 0 && n < 3; {
		// Merge contiguous segments going left.
		right := c.ooo[i].seq + uint32(c.ooo[i].pk.Len())
		left := c.ooo[i].seq
		i--
		for i >= 0 && c.ooo[i].seq+uint32(c.ooo[i].pk.Len()) == left {
			left = c.ooo[i].seq
			i--
		}
		blocks[n] = [2]uint32{left, right}
		n++
	}
	if 4+8*n > len(b) {
		n = (len(b) - 4) / 8
	}
	if n <= 0 {
		return 0
	}
	return writeSACKOption(b, blocks[:n])
}

// copyOut copies len(dst) send-queue bytes starting at seq into dst, the
// payload of frame, and gives frame the largest splice hop count
// (driver.Packet.Loops) of the queued packets it copied from.
func (c *TCPConn) copyOut(seq uint32, dst []byte, frame *driver.Packet) bool {
	pk, start := c.locate(seq)
	if pk == nil {
		return false
	}
	off := int(seq - start)
	for len(dst) > 0 && pk != nil {
		d := pk.Data()
		if pk == c.sndHead {
			// start accounts for sndHeadOff already.
			d = d[c.sndHeadOff:]
		}
		n := copy(dst, d[off:])
		dst = dst[n:]
		off = 0
		frame.Loops = max(frame.Loops, pk.Loops)
		if len(dst) > 0 {
			start += uint32(len(d))
			pk = pk.Next
		}
	}
	if pk != nil {
		c.curPk, c.curSeq = pk, start
	}
	return len(dst) == 0
}

// locate returns the queued packet holding seq and the sequence number of
// its first unacknowledged byte, walking from the cursor when it helps.
func (c *TCPConn) locate(seq uint32) (*driver.Packet, uint32) {
	pk, start := c.sndHead, c.sndUna
	if c.curPk != nil && seqLEQ(c.curSeq, seq) && seqGEQ(c.curSeq, c.sndUna) {
		pk, start = c.curPk, c.curSeq
	}
	for pk != nil {
		l := pk.Len()
		if pk == c.sndHead {
			l -= c.sndHeadOff
		}
		if seqLT(seq, start+uint32(l)) {
			return pk, start
		}
		start += uint32(l)
		pk = pk.Next
	}
	return nil, 0
}

// output sends what the windows allow: new data, then the FIN.
func (c *TCPConn) output() {
	if !c.state.synchronized() || c.state == tcpTimeWait {
		return
	}
	sn := c.sn
	sent := false
	if c.inRecovery && c.sackOK && len(c.sacked) > 0 {
		c.sackRetransmit()
	}
	for {
		inflight := c.dataInFlight()
		unsent := c.sndQueued - inflight
		if unsent <= 0 {
			break
		}
		// The peer's window limits sequence space; cwnd limits what is
		// in the network, which SACKed data has left.
		room := min(int(c.sndWnd)-inflight, c.cc.window()-c.pipe())
		if room <= 0 {
			break
		}
		seg := c.segPayload()
		n := min(seg, unsent, room)
		if n < seg && n < unsent && inflight > 0 {
			break // sender-side silly window avoidance: wait for more room
		}
		if n == c.mss && c.ifc.tso && unsent > n && room > n {
			// Segmentation offload: as many whole segments as the
			// windows allow, or all that is left, in one super-frame.
			n = min(unsent, room, c.tsoPayload())
			if n < unsent {
				n -= n % c.mss
			}
		}
		flags := uint8(header.TCPFlagAck)
		if n == unsent {
			flags |= header.TCPFlagPsh
		}
		if !c.sendSegment(c.sndNxt, flags, n) {
			break
		}
		if seqLT(c.sndNxt, c.sndMax) {
			sn.inc(TCPRetransmits)
		} else if !c.rttTiming && !c.tsOK {
			c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt, sn.now
		}
		c.sndNxt += uint32(n)
		if seqGT(c.sndNxt, c.sndMax) {
			c.sndMax = c.sndNxt
		}
		sent = true
	}
	// The FIN follows the last byte: the first time, or again after a
	// timeout went back before it (its sequence number never changes).
	if c.finQueued && (!c.finSent || c.sndNxt == c.finSeq) && int(c.sndNxt-c.sndUna) == c.sndQueued {
		c.sendSegment(c.sndNxt, header.TCPFlagFin|header.TCPFlagAck, 0)
		if !c.finSent {
			c.finSent, c.finSeq = true, c.sndNxt
		}
		c.sndNxt++
		if seqGT(c.sndNxt, c.sndMax) {
			c.sndMax = c.sndNxt
		}
		switch c.state {
		case tcpEstablished:
			c.setState(tcpFinWait1)
		case tcpCloseWait:
			c.setState(tcpLastAck)
		}
		sent = true
	}
	if c.sndMax != c.sndUna {
		if (sent || c.sndNxt != c.sndUna) && !c.rtxT.Armed() {
			sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
		}
	} else if c.sndQueued > 0 && c.sndWnd == 0 && !c.rtxT.Armed() {
		// Zero window with data waiting: the persist timer probes it.
		sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
	}
}

// segPayload is the payload that fits one segment now: the MSS less the
// room SACK blocks take while data waits out of order, so that no frame
// exceeds the MTU.
func (c *TCPConn) segPayload() int {
	if c.sackOK && len(c.ooo) > 0 {
		return c.mss - (4 + 8*3)
	}
	return c.mss
}

// dataInFlight returns the payload bytes between sndUna and sndNxt: the
// sequence space less our FIN when it lies in that range.
func (c *TCPConn) dataInFlight() int {
	n := int(c.sndNxt - c.sndUna)
	if c.finSent && seqGT(c.sndNxt, c.finSeq) {
		n--
	}
	return n
}

// finAcked reports whether the peer acknowledged our FIN.
func (c *TCPConn) finAcked() bool { return c.finSent && seqGT(c.sndUna, c.finSeq) }

// sendAck sends an ACK now. Its sequence number is the highest sent, not
// sndNxt, which a retransmission timeout rewinds: the peer may have
// received more, and an ACK below its window would be dropped unread.
func (c *TCPConn) sendAck() {
	c.sendSegment(c.sndMax, header.TCPFlagAck, 0)
}

// ackLater acknowledges every second full segment (RFC 5681 section
// 4.2) at the end of the receive burst that brought it: one ACK per flow
// per burst, however many segments of the flow the burst held (what
// Linux's GRO achieves), sent before the burst's transmissions leave.
// Otherwise the delayed-ACK timeout sends it.
func (c *TCPConn) ackLater() {
	c.ackOwed++
	if c.ackOwed >= 2 {
		if !c.ackQueued {
			c.ackQueued = true
			c.sn.ackq = append(c.sn.ackq, c)
		}
		return
	}
	if !c.dackT.Armed() {
		c.sn.wheel.Reset(&c.dackT, c.sn.now, c.st.cfg.TCP.DelayedAck)
	}
}

// flushAcks sends the ACKs that ackLater queued during the receive burst:
// one per connection that still owes one (a segment it sent meanwhile
// carried it).
func (sn *Softnet) flushAcks() {
	for i, c := range sn.ackq {
		sn.ackq[i] = nil
		c.ackQueued = false
		if c.ackOwed > 0 && !c.removed {
			c.sendAck()
		}
	}
	sn.ackq = sn.ackq[:0]
}

func (c *TCPConn) onDelayedAck() {
	if c.ackOwed > 0 && c.state != tcpClosed {
		c.sendAck()
	}
}

// onRetransmitTimer handles RTO expiry (RFC 6298 section 5), SYN
// retransmission and zero-window probes.
func (c *TCPConn) onRetransmitTimer() {
	sn := c.sn
	cfg := &c.st.cfg.TCP
	switch c.state {
	case tcpClosed, tcpTimeWait:
		return
	case tcpSynSent, tcpSynRcvd:
		c.retries++
		if c.retries > cfg.SynRetries {
			c.setErr(errTimedOut)
			c.remove()
			return
		}
		sn.inc(TCPTimeouts)
		sn.inc(TCPRetransmits)
		c.rto = min(c.rto*2, cfg.RTOMax)
		flags := uint8(header.TCPFlagSyn)
		if c.state == tcpSynRcvd {
			flags |= header.TCPFlagAck
		}
		c.sendSegment(c.iss, flags, 0)
		sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
		return
	}
	if c.sndMax == c.sndUna {
		if c.sndQueued > 0 && c.sndWnd == 0 {
			// Zero-window probe: an old sequence number makes the peer
			// answer with its current window.
			c.sendSegment(c.sndUna-1, header.TCPFlagAck, 0)
			c.rto = min(c.rto*2, cfg.RTOMax)
			sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
		}
		return
	}
	// A peer that closed its window rejects retransmissions without being
	// dead: they are window probes then, not failures (as Linux does).
	if c.sndWnd != 0 {
		c.retries++
	}
	if c.retries > cfg.MaxRetries {
		c.setErr(errTimedOut)
		c.sendReset(c.sndMax)
		c.remove()
		return
	}
	sn.inc(TCPTimeouts)
	flight := int(c.sndNxt - c.sndUna)
	c.cc.onTimeout(flight)
	c.inRecovery = false
	c.dupAcks = 0
	c.clearSACK()
	c.rttTiming = false
	c.rto = min(c.rto*2, cfg.RTOMax)
	// Go back to the first unacknowledged byte (RFC 6298 5.4; the
	// receiver keeps what arrived out of order). The SACK scoreboard went
	// with clearSACK, and so does the last recovery's retransmission mark
	// (RFC 6675 HighRxt): left above sndUna, it made later SACK recovery
	// count holes below it as in flight and skip them, one segment per
	// timeout.
	c.sndNxt = c.sndUna
	c.highRxt = c.sndUna
	c.output()
	if c.sndNxt == c.sndUna && c.sndWnd == 0 {
		// The window closed with data outstanding (shrunk, or scaled down
		// to zero): output sent nothing, so probe as the persist timer
		// does, or a lost window update leaves both sides waiting forever.
		c.sendSegment(c.sndUna-1, header.TCPFlagAck, 0)
	}
	sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
}

// retransmitFirst resends the first unacknowledged segment (fast
// retransmit and NewReno partial ACKs).
func (c *TCPConn) retransmitFirst() {
	// Only what was sent before: the send queue runs on past sndMax with
	// data never sent (and maybe beyond the peer's window). Sending that
	// here without moving sndMax let the peer acknowledge bytes we did
	// not count as sent; we then dropped every ACK it sent, window
	// updates included, and both sides waited for good.
	sent := int(c.sndMax - c.sndUna)
	if c.finSent && seqGT(c.sndMax, c.finSeq) {
		sent-- // the FIN's sequence number
	}
	n := min(c.segPayload(), c.sndQueued, max(sent, 0))
	if n > 0 {
		if c.sendSegment(c.sndUna, header.TCPFlagAck, n) {
			c.sn.inc(TCPRetransmits)
		}
	} else if c.finSent {
		c.sendSegment(c.sndUna, header.TCPFlagFin|header.TCPFlagAck, 0)
		c.sn.inc(TCPRetransmits)
	}
	c.rttTiming = false
}

// sendReset sends RST with sequence number seq on a connection.
func (c *TCPConn) sendReset(seq uint32) {
	pk := c.sn.alloc(c.ifc)
	if pk == nil {
		return
	}
	b := pk.Prepend(header.TCPMinHeaderLen)
	t := header.TCP(b)
	t.SetSrcPort(c.key.lport)
	t.SetDstPort(c.key.rport)
	t.SetSeq(seq)
	t.SetAck(c.rcvNxt)
	t.SetDataOffset(header.TCPMinHeaderLen)
	t.SetFlags(header.TCPFlagRst | header.TCPFlagAck)
	t.SetWindow(0)
	t.SetUrgentPtr(0)
	c.sn.inc(TCPRstTx)
	c.checksumAndSend(pk)
}

// sendResetFor answers a segment that has no connection (RFC 9293
// section 3.10.7.1): an RST that the sender will accept.
func (sn *Softnet) sendResetFor(ifc *Interface, key flowKey, seg *segment) {
	if seg.has(header.TCPFlagRst) {
		return
	}
	pk := sn.alloc(ifc)
	if pk == nil {
		return
	}
	b := pk.Prepend(header.TCPMinHeaderLen)
	r := header.TCP(b)
	r.SetSrcPort(key.lport)
	r.SetDstPort(key.rport)
	if seg.has(header.TCPFlagAck) {
		r.SetSeq(seg.ack)
		r.SetAck(0)
		r.SetFlags(header.TCPFlagRst)
	} else {
		r.SetSeq(0)
		r.SetAck(seg.seq + seg.seqLen())
		r.SetFlags(header.TCPFlagRst | header.TCPFlagAck)
	}
	r.SetDataOffset(header.TCPMinHeaderLen)
	r.SetWindow(0)
	r.SetUrgentPtr(0)
	sn.inc(TCPRstTx)
	sn.tcpSend(ifc, pk, key, sn.st.nexthopFor(ifc, key.raddr))
}

// updateRTT folds an RTT sample into SRTT and RTTVAR (RFC 6298 section 2).
func (c *TCPConn) updateRTT(r time.Duration) {
	cfg := &c.st.cfg.TCP
	if r <= 0 {
		r = time.Microsecond
	}
	if c.srtt == 0 {
		c.srtt = r
		c.rttvar = r / 2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+max(4*c.rttvar, c.st.cfg.TimerTick), cfg.RTOMin), cfg.RTOMax)
}
