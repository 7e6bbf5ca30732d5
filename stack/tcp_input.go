package stack

import (
	"syscall"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// Errors a connection can end with.
const (
	errReset    = syscall.ECONNRESET
	errRefused  = syscall.ECONNREFUSED
	errTimedOut = syscall.ETIMEDOUT
)

// segment is a parsed TCP segment. pk's data is the payload only.
type segment struct {
	seq, ack uint32
	flags    uint8
	wnd      uint32 // unscaled
	n        int    // payload length
	opts     tcpOptions
	// segs is how many wire segments a segment the port coalesced stands
	// for (RxTCPCoalesced); 0 for any other: one per packet in its chain.
	segs int
}

func (s *segment) has(f uint8) bool { return s.flags&f != 0 }

// seqLen is the sequence space the segment occupies.
func (s *segment) seqLen() uint32 {
	l := uint32(s.n)
	if s.has(header.TCPFlagSyn) {
		l++
	}
	if s.has(header.TCPFlagFin) {
		l++
	}
	return l
}

// tcpInput demultiplexes a received TCP segment over IPv4. It owns pk.
func (sn *Softnet) tcpInput(ifc *Interface, pk *driver.Packet, ip header.IPv4, bcast bool) {
	src, dst := ip.Src(), ip.Dst()
	t := header.TCP(ip.Payload())
	if sn.shedSyn(pk, t) {
		return
	}
	e, nic := nicVerdict(pk, driver.RxL4ChecksumGood, driver.RxL4ChecksumBad)
	if !nic {
		e = t.Check(src, dst)
	} else if e == header.OK {
		e = t.CheckHeader()
	}
	if !sn.checkL4(pk, e, TCPDropChecksum, TCPDropBad) {
		return
	}
	sn.inc(TCPRx)
	if bcast {
		sn.inc(TCPDropBad)
		sn.free(pk)
		return
	}
	// The IPv4 table is keyed by the 12-byte tuple; the 16-byte key is
	// built only when no connection has the segment.
	var key flowKey
	c := sn.tcp.v4[flow4{laddr: dst, raddr: src, lport: t.DstPort(), rport: t.SrcPort()}]
	if c == nil {
		key = flowKey{laddr: mapped4(dst), raddr: mapped4(src), lport: t.DstPort(), rport: t.SrcPort()}
	}
	sn.tcpSegment(ifc, pk, t, header.EthernetHeaderLen+ip.HeaderLen(), c, key)
}

// tcpInput6 demultiplexes a received TCP segment over IPv6; off is where
// the TCP header starts in ip. It owns pk.
func (sn *Softnet) tcpInput6(ifc *Interface, pk *driver.Packet, ip header.IPv6, off int, mcast bool) {
	src, dst := ip.Src(), ip.Dst()
	t := header.TCP(ip[off:])
	if sn.shedSyn(pk, t) {
		return
	}
	e, nic := nicVerdict(pk, driver.RxL4ChecksumGood, driver.RxL4ChecksumBad)
	if !nic {
		e = t.CheckIPv6(src, dst)
	} else if e == header.OK {
		e = t.CheckHeader()
	}
	if !sn.checkL4(pk, e, TCPDropChecksum, TCPDropBad) {
		return
	}
	sn.inc(TCPRx)
	if mcast {
		sn.inc(TCPDropBad)
		sn.free(pk)
		return
	}
	key := flowKey{laddr: dst, raddr: src, lport: t.DstPort(), rport: t.SrcPort()}
	sn.tcpSegment(ifc, pk, t, header.EthernetHeaderLen+off, sn.tcp.v6[key], key)
}

// checkL4 reports whether a TCP segment's or UDP datagram's check e
// passed; otherwise it counts the drop (csum for a bad checksum, bad for
// anything else) and frees pk.
func (sn *Softnet) checkL4(pk *driver.Packet, e header.Error, csum, bad CounterID) bool {
	switch e {
	case header.OK:
		return true
	case header.ErrChecksum:
		sn.inc(csum)
	default:
		sn.inc(bad)
	}
	sn.free(pk)
	return false
}

// nicVerdict returns the port's verdict on one of pk's checksums, given
// the flags by which its NIC says it found that checksum good or bad, and
// whether it gave one. A checksum the NIC verified spares the softnet a
// sum over the datagram (about 0.15 ns a byte); one it found bad is
// ErrChecksum; without a verdict the caller verifies the checksum itself.
func nicVerdict(pk *driver.Packet, good, bad driver.Flags) (header.Error, bool) {
	switch {
	case pk.Flags&bad != 0:
		return header.ErrChecksum, true
	case pk.Flags&good != 0:
		return header.OK, true
	}
	return header.OK, false
}

// shedSyn drops a pure SYN, unread, while a SYN flood has spent this
// second's cookie budget, and reports whether it did.
func (sn *Softnet) shedSyn(pk *driver.Packet, t header.TCP) bool {
	if sn.cookies >= sn.st.cfg.TCP.SynCookieBudget && len(t) >= header.TCPMinHeaderLen &&
		t[13]&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) == header.TCPFlagSyn &&
		sn.now/int64(time.Second) == sn.cookieSec {
		sn.inc(TCPDropSynFlood)
		sn.free(pk)
		return true
	}
	return false
}

// tcpSegment handles a checked segment t that starts hdr bytes into pk,
// for connection c, or, when c is nil, for the listener of key (a SYN, a
// cookie's ACK) or for nobody (a reset). It owns pk.
func (sn *Softnet) tcpSegment(ifc *Interface, pk *driver.Packet, t header.TCP, hdr int, c *TCPConn, key flowKey) {
	var seg segment
	seg.seq, seg.ack, seg.flags, seg.wnd = t.Seq(), t.Ack(), t.Flags(), uint32(t.Window())
	seg.n = len(t.Payload())
	if !parseTCPOptions(t.Options(), &seg.opts) {
		sn.inc(TCPDropBad)
		sn.free(pk)
		return
	}
	hdr += t.DataOffset()
	if c == nil {
		if l := sn.listenerFor(key); l != nil {
			if seg.flags&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) == header.TCPFlagSyn {
				sn.passiveOpen(l, ifc, key, &seg)
				sn.free(pk)
				return
			}
			if sn.cookieOpen(l, ifc, pk, hdr, key, &seg) {
				return
			}
		}
		sn.inc(TCPNoConn)
		sn.sendResetFor(ifc, key, &seg)
		sn.free(pk)
		return
	}
	// Keep only the payload in pk.
	pk.TrimFront(hdr)
	pk.Truncate(seg.n)
	if more := sn.rxMore; more != nil && pk.Flags&driver.RxTCPCoalesced != 0 {
		sn.lroInput(c, pk, more, &seg)
		return
	}
	if sn.groOn {
		sn.groInput(c, pk, &seg, t.Options())
		return
	}
	c.input(pk, &seg)
}

// listenerFor returns the listener for a segment to k: one bound to its
// address, else one bound to the unspecified address of its family
// (0.0.0.0 takes IPv4 only), else one bound to :: (both families).
func (sn *Softnet) listenerFor(k flowKey) *TCPListener {
	if l := sn.tcpListen[flowKey{laddr: k.laddr, lport: k.lport}]; l != nil {
		return l
	}
	if k.v4() {
		if l := sn.tcpListen[flowKey{laddr: any4, lport: k.lport}]; l != nil {
			return l
		}
	}
	return sn.tcpListen[flowKey{lport: k.lport}]
}

// passiveOpen answers a SYN for a listener with a SYN-ACK from a new
// connection in SYN-RECEIVED.
func (sn *Softnet) passiveOpen(l *TCPListener, ifc *Interface, key flowKey, seg *segment) {
	if l.closed.Load() {
		return
	}
	if int(l.pending.Load()) >= l.backlog {
		if sn.st.cfg.TCP.NoSynCookies {
			sn.inc(TCPDropBacklog)
			return
		}
		if sec := sn.now / int64(time.Second); sec != sn.cookieSec {
			sn.cookieSec, sn.cookies = sec, 0
		}
		if sn.cookies >= sn.st.cfg.TCP.SynCookieBudget {
			sn.inc(TCPDropSynFlood) // tcpInput sheds the next ones unread
			return
		}
		sn.cookies++
		sn.sendSynCookie(ifc, key, seg)
		return
	}
	c := newTCPConn(sn.st, sn, ifc, sn.st.nexthopFor(ifc, key.raddr), key)
	c.l = l
	l.pending.Add(1)
	c.setState(tcpSynRcvd)
	c.irs = seg.seq
	c.rcvNxt = seg.seq + 1
	c.rcvAdv = c.rcvNxt
	c.iss = sn.st.isn(key)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.negotiate(seg)
	c.sndWnd = seg.wnd // a SYN's window is not scaled
	c.sndWl1, c.sndWl2 = seg.seq, c.iss
	sn.tcp.put(key, c)
	sn.inc(TCPPassiveOpens)
	c.sendSegment(c.iss, header.TCPFlagSyn|header.TCPFlagAck, 0)
	c.sndNxt = c.iss + 1
	c.sndMax = c.sndNxt
	sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
}

// negotiate applies the options of the peer's SYN (RFC 7323, RFC 2018).
func (c *TCPConn) negotiate(seg *segment) {
	o := &seg.opts
	if o.mss != 0 {
		c.mss = min(c.mss, int(o.mss))
	} else {
		c.mss = min(c.mss, 536) // RFC 9293 section 3.7.1 default
	}
	c.mss = max(c.mss, 64)
	c.wsOK = o.hasWS
	if c.wsOK {
		c.sndShift = o.ws
	} else {
		c.rcvShift = 0
	}
	c.tsOK = o.hasTS
	if c.tsOK {
		c.tsRecent = o.tsVal
		c.mss -= 12 // every segment carries the timestamp option
	}
	c.sackOK = o.sackPerm
	c.cc = newCongestion(c)
}

// input processes a segment for this connection (RFC 9293 section
// 3.10.7). It owns pk, which holds the payload.
func (c *TCPConn) input(pk *driver.Packet, seg *segment) {
	sn := c.sn
	c.lastRx = sn.now
	c.kaProbes = 0
	if c.state == tcpSynSent {
		c.inputSynSent(pk, seg)
		return
	}
	// PAWS (RFC 7323 section 5.3).
	if c.tsOK && seg.opts.hasTS && !seg.has(header.TCPFlagRst) && int32(seg.opts.tsVal-c.tsRecent) < 0 {
		sn.inc(TCPDropPAWS)
		sn.freeSeg(pk)
		c.sendAck()
		return
	}
	if c.state == tcpTimeWait && seg.has(header.TCPFlagSyn) && !seg.has(header.TCPFlagAck) && !seg.has(header.TCPFlagRst) {
		// RFC 6191 / RFC 9293 3.10.7.4: a new SYN with a higher sequence
		// number (or newer timestamp) may reuse a TIME-WAIT connection.
		newer := seqGT(seg.seq, c.rcvNxt) || (c.tsOK && seg.opts.hasTS && seqGT(seg.opts.tsVal, c.tsRecent))
		if newer {
			if l := sn.listenerFor(c.key); l != nil {
				c.remove()
				sn.passiveOpen(l, c.ifc, c.key, seg)
				sn.freeSeg(pk)
				return
			}
		}
	}
	// Simultaneous open (RFC 9293 figure 8): in SYN-RECEIVED the peer's
	// SYN-ACK repeats its SYN and acknowledges ours; it completes the
	// handshake.
	if c.state == tcpSynRcvd && c.l == nil && seg.flags&(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst) == header.TCPFlagSyn|header.TCPFlagAck &&
		seg.seq == c.irs && seg.ack == c.iss+1 {
		sn.freeSeg(pk)
		c.established()
		c.sndUna = seg.ack
		c.sndWnd = seg.wnd << c.sndShift
		c.sndWl1, c.sndWl2 = seg.seq, seg.ack
		c.sendAck()
		c.output()
		return
	}
	// 1. Sequence number check.
	wnd := c.rcvAdv - c.rcvNxt
	if !c.acceptable(seg, wnd) {
		sn.inc(TCPDropWindow)
		sn.freeSeg(pk)
		if seg.has(header.TCPFlagRst) {
			return
		}
		if wnd == 0 && seg.seq == c.rcvNxt && seg.has(header.TCPFlagAck) && !seg.has(header.TCPFlagSyn) {
			// RFC 9293 3.10.7.4: with the receive window closed no data is
			// acceptable, "but special allowance should be made to accept
			// valid ACKs". A peer's zero-window probe at RCV.NXT carries
			// its own window: dropping that too deadlocks two stacks whose
			// windows are both closed (each probes, neither learns).
			sn.inc(TCPZeroWindowAcks)
			if !c.processAck(seg) || c.removed {
				return
			}
		}
		c.sendAck()
		return
	}
	// 2. RST (RFC 5961 section 3).
	if seg.has(header.TCPFlagRst) {
		sn.freeSeg(pk)
		sn.inc(TCPRstRx)
		if seg.seq != c.rcvNxt {
			c.challengeAck()
			return
		}
		if c.state == tcpSynRcvd && c.l != nil {
			c.remove() // back to LISTEN: the listener never saw it
			return
		}
		if c.state == tcpTimeWait {
			return // RFC 1337: no TIME-WAIT assassination
		}
		if c.state != tcpTimeWait {
			c.setErr(errReset)
		}
		c.remove()
		return
	}
	// 3. SYN in a synchronized state: challenge ACK (RFC 5961 section 4).
	if seg.has(header.TCPFlagSyn) {
		sn.freeSeg(pk)
		if c.state == tcpSynRcvd && seg.seq == c.irs {
			// Our SYN-ACK was lost: the peer sent its SYN again.
			c.sendSegment(c.iss, header.TCPFlagSyn|header.TCPFlagAck, 0)
			return
		}
		c.challengeAck()
		return
	}
	if !seg.has(header.TCPFlagAck) {
		sn.freeSeg(pk)
		return
	}
	// Timestamp to echo (RFC 7323 section 4.3).
	if c.tsOK && seg.opts.hasTS && seqLEQ(seg.seq, c.rcvNxt) {
		c.tsRecent = seg.opts.tsVal
	}
	// 4. ACK.
	if c.state == tcpSynRcvd {
		if !seqGT(seg.ack, c.sndUna) || seqGT(seg.ack, c.sndNxt) {
			sn.freeSeg(pk)
			c.sendReset(seg.ack)
			return
		}
		c.established()
		c.sndUna = c.iss + 1
		c.sndWnd = seg.wnd << c.sndShift
		c.sndWl1, c.sndWl2 = seg.seq, seg.ack
		if l := c.l; l != nil {
			c.l = nil
			if !l.enqueue(c) {
				sn.freeSeg(pk)
				c.sendReset(c.sndMax)
				c.remove()
				return
			}
		}
	}
	if !c.processAck(seg) {
		sn.freeSeg(pk)
		return
	}
	if c.state == tcpClosed {
		sn.freeSeg(pk)
		return
	}
	// 5. Data and FIN.
	fin := seg.has(header.TCPFlagFin)
	switch c.state {
	case tcpEstablished, tcpFinWait1, tcpFinWait2:
	default:
		// CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent
		// its FIN; anything new is a retransmission.
		sn.freeSeg(pk)
		if fin || seg.n > 0 {
			if c.state == tcpTimeWait {
				sn.wheel.Reset(&c.twT, sn.now, 2*c.st.cfg.TCP.MSL)
			}
			c.sendAck()
		}
		return
	}
	if seg.n == 0 && !fin {
		sn.freeSeg(pk)
		return
	}
	if pk.Next != nil {
		c.receiveChain(pk, seg.seq, fin, seg.segs)
		return
	}
	c.receive(pk, seg.seq, fin)
}

// acceptable is RFC 9293's segment acceptability test.
func (c *TCPConn) acceptable(seg *segment, wnd uint32) bool {
	l := seg.seqLen()
	if seg.has(header.TCPFlagSyn) {
		l-- // judge a SYN by its sequence number alone
	}
	switch {
	case l == 0:
		// An empty segment may sit at the window's right edge, as BSD and
		// Linux accept: a pure ACK sent after data the receiver dropped
		// (or a probe that filled the window) carries SND.MAX there, and
		// refusing it loses the window update it carries.
		return seqLEQ(c.rcvNxt, seg.seq) && seqLEQ(seg.seq, c.rcvNxt+wnd)
	case wnd == 0:
		return false
	}
	return (seqLEQ(c.rcvNxt, seg.seq) && seqLT(seg.seq, c.rcvNxt+wnd)) ||
		(seqLEQ(c.rcvNxt, seg.seq+l-1) && seqLT(seg.seq+l-1, c.rcvNxt+wnd))
}

// challengeAck answers a suspicious RST or SYN with an ACK, at most
// ChallengeAckLimit per second per softnet (RFC 5961 section 7).
func (c *TCPConn) challengeAck() {
	sn := c.sn
	limit := c.st.cfg.TCP.ChallengeAckLimit
	if sec := sn.now / int64(time.Second); sec != sn.challengeSec {
		sn.challengeSec, sn.challengeCount = sec, 0
	}
	if sn.challengeCount >= limit {
		sn.inc(TCPChallengeAckLimited)
		return
	}
	sn.challengeCount++
	sn.inc(TCPChallengeAcks)
	c.sendAck()
}

// established moves a connection into ESTABLISHED.
func (c *TCPConn) established() {
	c.setState(tcpEstablished)
	c.retries = 0
	c.rtxT.Stop()
	c.sn.inc(TCPEstablished)
	if ka := c.st.cfg.TCP.KeepAlive; ka > 0 {
		c.lastRx = c.sn.now
		c.sn.wheel.Reset(&c.kaT, c.sn.now, ka)
	}
	c.synced.Store(true)
	c.handshakeDone()
	c.wakeWriter()
}

// inputSynSent handles a segment in SYN-SENT (RFC 9293 section 3.10.7.3).
func (c *TCPConn) inputSynSent(pk *driver.Packet, seg *segment) {
	sn := c.sn
	sn.freeSeg(pk) // a coalesced frame's chain too: no data is taken here
	if seg.has(header.TCPFlagAck) && (seqLEQ(seg.ack, c.iss) || seqGT(seg.ack, c.sndNxt)) {
		if !seg.has(header.TCPFlagRst) {
			c.sendReset(seg.ack)
		}
		return
	}
	if seg.has(header.TCPFlagRst) {
		if seg.has(header.TCPFlagAck) {
			sn.inc(TCPRstRx)
			c.setErr(errRefused)
			c.remove()
		}
		return
	}
	if !seg.has(header.TCPFlagSyn) {
		return
	}
	c.irs = seg.seq
	c.rcvNxt = seg.seq + 1
	c.rcvAdv = c.rcvNxt
	c.negotiate(seg)
	if rtt, ok := c.echoRTT(seg); ok {
		c.updateRTT(rtt)
	}
	if seg.has(header.TCPFlagAck) {
		c.sndUna = seg.ack
		c.sndWnd = seg.wnd << c.sndShift
		c.sndWl1, c.sndWl2 = seg.seq, seg.ack
		c.established()
		c.sendAck()
		c.output()
		return
	}
	// Simultaneous open.
	c.setState(tcpSynRcvd)
	c.sndWnd = seg.wnd
	c.sendSegment(c.iss, header.TCPFlagSyn|header.TCPFlagAck, 0)
	sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
}

// processAck handles the acknowledgment field; it reports false when the
// segment is to be dropped.
func (c *TCPConn) processAck(seg *segment) bool {
	sn := c.sn
	ack := seg.ack
	if seqGT(ack, c.sndMax) {
		c.sendAck() // acknowledges something not sent yet
		return false
	}
	wnd := seg.wnd << c.sndShift
	if c.sackOK && seg.opts.nsack > 0 {
		c.updateSACK(&seg.opts)
	}
	if seqLEQ(ack, c.sndUna) {
		// Duplicate ACK (RFC 5681 section 2 definition).
		if ack == c.sndUna && seg.n == 0 && !seg.has(header.TCPFlagFin) && wnd == c.sndWnd && c.sndNxt != c.sndUna {
			c.dupAck()
		} else if !c.inRecovery && c.sackedBytes > 2*c.mss {
			c.enterRecovery() // SACKs show loss before three duplicates
		}
	} else {
		if seqGT(ack, c.sndNxt) {
			c.sndNxt = ack // an ACK for data sent before a go-back
		}
		c.newAck(ack, seg)
	}
	// Window update (RFC 9293 section 3.10.7.4).
	if seqLT(c.sndWl1, seg.seq) || (c.sndWl1 == seg.seq && seqLEQ(c.sndWl2, ack)) {
		grew := wnd > c.sndWnd
		c.sndWnd = wnd
		c.sndWl1, c.sndWl2 = seg.seq, ack
		if grew && c.sndWnd > 0 && c.sndMax == c.sndUna && c.rtxT.Armed() && c.sndQueued > 0 {
			c.rtxT.Stop() // the persist timer is no longer needed
		}
	}
	// Our FIN acknowledged?
	finAcked := c.finAcked()
	switch c.state {
	case tcpFinWait1:
		if finAcked {
			c.setState(tcpFinWait2)
			if c.appClosed.Load() {
				sn.wheel.Reset(&c.twT, sn.now, c.st.cfg.TCP.FinWait2Timeout)
			}
		}
	case tcpClosing:
		if finAcked {
			c.enterTimeWait()
			return false
		}
	case tcpLastAck:
		if finAcked {
			c.remove()
			return false
		}
	}
	c.output()
	return true
}

// newAck handles an ACK that acknowledges new data.
func (c *TCPConn) newAck(ack uint32, seg *segment) {
	sn := c.sn
	acked := int(ack - c.sndUna)
	dataAcked := acked
	if c.finSent && seqGT(ack, c.finSeq) {
		dataAcked-- // the FIN's sequence number
	}
	dataAcked = min(dataAcked, c.sndQueued)
	c.dropAcked(dataAcked)
	c.sndUna = ack
	c.retries = 0
	if len(c.sacked) > 0 {
		c.trimSACK()
	}
	// RTT sample.
	if rtt, ok := c.echoRTT(seg); ok {
		c.updateRTT(rtt)
	} else if c.rttTiming && seqGT(ack, c.rttSeq) {
		c.rttTiming = false
		c.updateRTT(time.Duration(sn.now - c.rttStart))
	}
	// Congestion control.
	if c.inRecovery {
		if seqGEQ(ack, c.recover) {
			c.inRecovery = false
			c.cc.onExitRecovery(int(c.sndNxt - c.sndUna))
		} else if !c.sackOK {
			c.cc.onPartialAck(acked)
			c.retransmitFirst()
		}
		// With SACK, output retransmits the holes the pipe allows.
	} else {
		c.cc.onAck(acked)
		if c.sackedBytes > 2*c.mss {
			c.enterRecovery()
		}
	}
	c.dupAcks = 0
	// Restart the retransmission timer (RFC 6298 section 5.3).
	if c.sndUna == c.sndMax {
		c.rtxT.Stop()
		c.backoff = 0
	} else {
		sn.wheel.Reset(&c.rtxT, sn.now, c.rto)
	}
	if dataAcked > 0 && c.sndQueued < c.sndBuf {
		c.wakeWriter()
	}
}

// dropAcked frees n acknowledged bytes from the head of the send queue.
func (c *TCPConn) dropAcked(n int) {
	c.sndQueued -= n
	for n > 0 && c.sndHead != nil {
		pk := c.sndHead
		left := pk.Len() - c.sndHeadOff
		if n < left {
			c.sndHeadOff += n
			return
		}
		n -= left
		c.sndHead = pk.Next
		pk.Next = nil
		if c.curPk == pk {
			c.curPk = nil
		}
		c.sn.free(pk)
		c.sndHeadOff = 0
	}
	if c.sndHead == nil {
		c.sndTail = nil
		c.curPk = nil
	}
}

// dupAck counts duplicate ACKs: the third starts fast retransmit and
// NewReno recovery (RFC 5681 section 3.2, RFC 6582).
func (c *TCPConn) dupAck() {
	c.dupAcks++
	switch {
	case c.inRecovery:
		if !c.sackOK {
			c.cc.onDupAckInRecovery()
		}
	case c.dupAcks == 3:
		c.enterRecovery()
	}
}

// enterRecovery starts fast retransmit and recovery, once per window of
// data (RFC 6582 section 3.2 step 1: not again before recover is acked).
func (c *TCPConn) enterRecovery() {
	if c.recover != 0 && seqLT(c.sndUna, c.recover) {
		return
	}
	c.inRecovery = true
	c.recover = c.sndNxt
	c.cc.onEnterRecovery(c.pipe())
	c.sn.inc(TCPFastRetransmits)
	if c.sackOK && len(c.sacked) > 0 {
		c.highRxt = c.sndUna
		c.sackRetransmit()
		if c.highRxt == c.sndUna {
			c.retransmitFirst() // the pipe had no room: send the first hole anyway
			c.highRxt = c.sndUna + uint32(min(c.segPayload(), c.sndQueued))
		}
	} else {
		c.retransmitFirst()
	}
	c.sn.wheel.Reset(&c.rtxT, c.sn.now, c.rto)
}

// receive queues payload (and a FIN) that passed the window check.
func (c *TCPConn) receive(pk *driver.Packet, seq uint32, fin bool) {
	sn := c.sn
	// Trim what we have already and what lies beyond the window.
	if seqLT(seq, c.rcvNxt) {
		d := int(c.rcvNxt - seq)
		if d >= pk.Len() {
			if !(fin && d == pk.Len()) {
				sn.free(pk)
				c.sendAck()
				return
			}
			d = pk.Len()
		}
		pk.TrimFront(d)
		seq = c.rcvNxt
	}
	if c.appClosed.Load() && pk.Len() > 0 {
		// New data for a socket nobody reads: reset (RFC 9293 3.10.7.4,
		// as Linux does for orphaned sockets). Only new data: a
		// retransmission of what the application already read (its ACK
		// was late) is acknowledged above, not answered with a reset.
		sn.free(pk)
		sn.inc(TCPDropAfterClose)
		c.setErr(errReset)
		c.sendReset(c.sndMax)
		c.remove()
		return
	}
	if edge := c.rcvAdv; seqGT(seq+uint32(pk.Len()), edge) {
		pk.Truncate(int(edge - seq))
		fin = false
	}
	if seq != c.rcvNxt {
		c.queueOOO(pk, seq, fin)
		c.sendAck() // immediate duplicate ACK, with SACK blocks
		return
	}
	c.deliver(pk, fin)
	// Pull in what was waiting out of order.
	for len(c.ooo) > 0 && seqLEQ(c.ooo[0].seq, c.rcvNxt) {
		o := c.ooo[0]
		copy(c.ooo, c.ooo[1:])
		c.ooo[len(c.ooo)-1] = oooSeg{}
		c.ooo = c.ooo[:len(c.ooo)-1]
		c.oooBytes -= o.pk.Len()
		if d := int(c.rcvNxt - o.seq); d > 0 {
			if d >= o.pk.Len() && !o.fin {
				sn.free(o.pk)
				continue
			}
			o.pk.TrimFront(min(d, o.pk.Len()))
		}
		if c.state == tcpClosed || c.finRcvd.Load() {
			sn.free(o.pk)
			continue
		}
		c.deliver(o.pk, o.fin)
	}
	if c.state == tcpClosed {
		return
	}
	if fin || c.finRcvd.Load() || len(c.ooo) > 0 || c.state == tcpTimeWait {
		c.sendAck()
	} else {
		c.ackLater()
	}
}

// deliver hands in-order payload to the reader and processes a FIN.
func (c *TCPConn) deliver(pk *driver.Packet, fin bool) {
	if n := pk.Len(); n == 0 {
		c.sn.free(pk)
	} else if c.queueData(pk) {
		if c.wakeReader() && n < c.mss {
			c.sn.handOff()
		}
	} else {
		return
	}
	if fin {
		c.receiveFin()
	}
}

// queueData puts in-order payload (pk not empty) on the receive ring and
// reports whether it fit; what did not is freed, not acknowledged.
func (c *TCPConn) queueData(pk *driver.Packet) bool {
	n := pk.Len()
	if !c.rx.Push(pk) {
		c.sn.inc(TCPDropRxRing)
		c.sn.free(pk)
		return false // not acknowledged: the peer sends it again
	}
	c.rcvNxt += uint32(n)
	c.delivered += uint64(n)
	return true
}

// receiveFin processes the peer's FIN, all data before it delivered.
func (c *TCPConn) receiveFin() {
	c.rcvNxt++
	c.finRcvd.Store(true)
	if c.wakeReader() {
		c.sn.handOff()
	}
	switch c.state {
	case tcpEstablished:
		c.setState(tcpCloseWait)
	case tcpFinWait1:
		if c.finAcked() {
			c.enterTimeWait()
			return
		}
		c.setState(tcpClosing)
	case tcpFinWait2:
		c.enterTimeWait()
	}
}

// queueOOO keeps a segment that arrived ahead of rcvNxt, sorted by
// sequence number, within the configured bound.
func (c *TCPConn) queueOOO(pk *driver.Packet, seq uint32, fin bool) {
	sn := c.sn
	if len(c.ooo) >= c.st.cfg.TCP.OutOfOrder || pk.Len() == 0 && !fin {
		sn.inc(TCPDropOOOFull)
		sn.free(pk)
		return
	}
	i := len(c.ooo)
	for i > 0 && seqGT(c.ooo[i-1].seq, seq) {
		i--
	}
	if i > 0 && c.ooo[i-1].seq == seq {
		sn.free(pk) // duplicate
		return
	}
	if c.ooo == nil {
		c.ooo = make([]oooSeg, 0, 16)
	}
	c.ooo = append(c.ooo, oooSeg{})
	copy(c.ooo[i+1:], c.ooo[i:])
	c.ooo[i] = oooSeg{seq: seq, pk: pk, fin: fin}
	c.oooBytes += pk.Len()
	sn.inc(TCPOOOQueued)
}

// enterTimeWait starts the 2*MSL wait (RFC 9293 section 3.10.7.4).
func (c *TCPConn) enterTimeWait() {
	c.setState(tcpTimeWait)
	c.rtxT.Stop()
	c.dackT.Stop()
	c.sn.wheel.Reset(&c.twT, c.sn.now, 2*c.st.cfg.TCP.MSL)
	if c.active {
		c.st.enterTimeWaitPort(c)
	}
	c.wakeReader()
	c.wakeWriter()
}

// onKeepAlive probes an idle connection (RFC 9293 section 3.8.4): an
// ACK with an old sequence number makes a live peer answer; after
// KeepAliveProbes unanswered probes the connection is reset.
func (c *TCPConn) onKeepAlive() {
	cfg := &c.st.cfg.TCP
	sn := c.sn
	if c.state != tcpEstablished && c.state != tcpCloseWait && c.state != tcpFinWait2 {
		return
	}
	if idle := time.Duration(sn.now - c.lastRx); idle < cfg.KeepAlive && c.kaProbes == 0 {
		sn.wheel.Reset(&c.kaT, sn.now, cfg.KeepAlive-idle)
		return
	}
	if c.kaProbes >= cfg.KeepAliveProbes {
		sn.inc(TCPKeepAliveDrops)
		c.setErr(errTimedOut)
		c.sendReset(c.sndMax)
		c.remove()
		return
	}
	c.kaProbes++
	sn.inc(TCPKeepAliveProbes)
	c.sendSegment(c.sndUna-1, header.TCPFlagAck, 0)
	sn.wheel.Reset(&c.kaT, sn.now, cfg.KeepAliveInterval)
}

// onTimeWaitTimer ends TIME-WAIT, or gives up on a FIN-WAIT-2 peer that
// never closed after the application did.
func (c *TCPConn) onTimeWaitTimer() {
	if c.state == tcpFinWait2 {
		c.sendReset(c.sndMax)
	}
	c.remove()
}
