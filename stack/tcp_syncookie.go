package stack

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/stack/header"
)

// SYN cookies (RFC 4987 section 3.6): when a listener's backlog is full,
// the SYN-ACK carries the connection's state in its initial sequence
// number, and a valid ACK rebuilds the connection with nothing kept in
// between.
//
// The cookie is t(5 bits) | mss index(3 bits) | hash(24 bits), where t
// counts 64-second periods and the hash covers the 4-tuple, the peer's
// initial sequence number and t under the stack's secret seed. A cookie
// is valid for the current and the previous period. When the peer sent
// timestamps, the low 6 bits of our TSval carry SACK-permitted, window
// scale present and the window scale, which the peer echoes back.

const cookiePeriod = 64 * time.Second

// cookieMSS are the MSS values a cookie can carry.
var cookieMSS = [8]uint16{536, 1220, 1400, 1440, 1448, 1460, 4312, 8960}

func (s *Stack) cookieHash(k flowKey, peerISN uint32, t uint32) uint32 {
	var b [44]byte
	copy(b[0:16], k.laddr[:])
	copy(b[16:32], k.raddr[:])
	binary.BigEndian.PutUint16(b[32:], k.lport)
	binary.BigEndian.PutUint16(b[34:], k.rport)
	binary.BigEndian.PutUint32(b[36:], peerISN)
	binary.BigEndian.PutUint32(b[40:], t)
	return uint32(maphash.Bytes(s.isnSeed, b[:])>>8) & 0xffffff
}

func (s *Stack) cookieTime() uint32 { return uint32(s.now()/int64(cookiePeriod)) & 31 }

// makeCookie returns the ISN for a SYN from the peer.
func (s *Stack) makeCookie(k flowKey, peerISN uint32, mss uint16) uint32 {
	idx := 0
	for i, m := range cookieMSS {
		if m <= mss {
			idx = i
		}
	}
	t := s.cookieTime()
	return t<<27 | uint32(idx)<<24 | s.cookieHash(k, peerISN, t)
}

// checkCookie validates the acknowledged cookie and returns its MSS.
func (s *Stack) checkCookie(k flowKey, peerISN, cookie uint32) (uint16, bool) {
	t := cookie >> 27
	now := s.cookieTime()
	if t != now && t != (now-1)&31 {
		return 0, false
	}
	if s.cookieHash(k, peerISN, t) != cookie&0xffffff {
		return 0, false
	}
	return cookieMSS[(cookie>>24)&7], true
}

// sendSynCookie answers a SYN with a stateless SYN-ACK.
func (sn *Softnet) sendSynCookie(ifc *Interface, key flowKey, seg *segment) {
	o := &seg.opts
	peerMSS := o.mss
	if peerMSS == 0 {
		peerMSS = 536
	}
	ourMSS := uint16(min(ifc.mtu-tcpIPHeaderLen(key), 65535))
	mss := min(peerMSS, ourMSS)
	iss := sn.st.makeCookie(key, seg.seq, mss)
	pk := sn.alloc(ifc)
	if pk == nil {
		return
	}
	var rcvShift uint8
	for rcvShift < maxWindowShift && (65535<<rcvShift) < sn.st.cfg.TCP.RecvBuffer {
		rcvShift++
	}
	var opts [synOptionsLen]byte
	now := sn.st.ts.at(sn.now, sn.st.ts.offset(key)) // the connection's clock, as tsNow
	tsval := now &^ 0x3f
	if o.sackPerm {
		tsval |= 1 << 5
	}
	if o.hasWS {
		tsval |= 1<<4 | uint32(rcvShift)
	}
	if int32(tsval-now) > 0 {
		// The option bits put it ahead of our clock: the connection's
		// next segments would carry older timestamps and fail the peer's
		// PAWS check. A period earlier keeps the bits (as Linux does).
		tsval -= 64
	}
	olen := writeSYNOptions(opts[:], ourMSS, rcvShift, o.hasWS, o.sackPerm && o.hasTS, o.hasTS, tsval, o.tsVal)
	hl := header.TCPMinHeaderLen + olen
	b := pk.Prepend(hl)
	t := header.TCP(b)
	t.SetSrcPort(key.lport)
	t.SetDstPort(key.rport)
	t.SetSeq(iss)
	t.SetAck(seg.seq + 1)
	t.SetDataOffset(hl)
	t.SetFlags(header.TCPFlagSyn | header.TCPFlagAck)
	t.SetWindow(uint16(min(sn.st.cfg.TCP.RecvBuffer, 65535)))
	t.SetUrgentPtr(0)
	copy(b[header.TCPMinHeaderLen:], opts[:olen])
	sn.inc(TCPSynCookiesSent)
	sn.tcpSend(ifc, pk, key, sn.st.nexthopFor(ifc, key.raddr))
}

// cookieOpen rebuilds a connection from a valid cookie in the ACK that
// completes a stateless handshake. It reports whether it took pk.
// hdr is where the payload starts in pk.
func (sn *Softnet) cookieOpen(l *TCPListener, ifc *Interface, pk *driver.Packet, hdr int, key flowKey, seg *segment) bool {
	if sn.st.cfg.TCP.NoSynCookies || seg.flags&(header.TCPFlagSyn|header.TCPFlagRst|header.TCPFlagAck) != header.TCPFlagAck {
		return false
	}
	iss := seg.ack - 1
	mss, ok := sn.st.checkCookie(key, seg.seq-1, iss)
	if !ok {
		sn.inc(TCPSynCookiesInvalid)
		return false
	}
	if l.closed.Load() {
		return false
	}
	c := newTCPConn(sn.st, sn, ifc, sn.st.nexthopFor(ifc, key.raddr), key)
	c.irs = seg.seq - 1
	c.rcvNxt = seg.seq
	c.rcvAdv = c.rcvNxt + uint32(min(c.rcvBuf, 65535))
	c.iss = iss
	c.sndUna, c.sndNxt, c.sndMax = iss+1, iss+1, iss+1
	c.mss = min(c.mss, int(mss))
	if o := &seg.opts; o.hasTS {
		c.tsOK = true
		c.tsRecent = o.tsVal
		c.mss -= 12
		bits := o.tsEcr & 0x3f
		c.sackOK = bits&(1<<5) != 0
		c.wsOK = bits&(1<<4) != 0
	}
	if c.wsOK {
		// The peer's own shift is not in the cookie: assume none, which
		// only underestimates its window.
		c.sndShift = 0
	} else {
		c.rcvShift = 0
	}
	c.cc = newCongestion(c)
	c.sndWnd = seg.wnd << c.sndShift
	c.sndWl1, c.sndWl2 = seg.seq, seg.ack
	sn.tcp.put(key, c)
	sn.inc(TCPSynCookiesValid)
	sn.inc(TCPPassiveOpens)
	c.established()
	l.pending.Add(1)
	if !l.enqueue(c) {
		sn.free(pk)
		c.sendReset(c.sndMax)
		c.remove()
		return true
	}
	pk.TrimFront(hdr)
	pk.Truncate(seg.n)
	c.input(pk, seg)
	return true
}
