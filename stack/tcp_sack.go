package stack

// SACK-based loss recovery after RFC 6675.
//
// The scoreboard is the sorted, merged list of sequence ranges the peer
// reported with SACK blocks (RFC 2018) above sndUna. During recovery the
// sender estimates the data still in the network ("pipe") as what was
// sent beyond the highest SACKed byte plus the holes it has retransmitted,
// and while pipe leaves room in cwnd it retransmits the next hole (data
// not SACKed below the highest SACKed byte), then sends new data. A
// retransmission timeout clears the scoreboard and goes back to sndUna.

// maxSACKRanges bounds the scoreboard; further ranges are ignored (the
// recovery then retransmits a little more than needed).
const maxSACKRanges = 64

type seqRange struct{ left, right uint32 }

// updateSACK merges the SACK blocks of an ACK into the scoreboard and
// drops what the cumulative ACK covers.
func (c *TCPConn) updateSACK(o *tcpOptions) {
	for i := 0; i < o.nsack; i++ {
		l, r := o.sack[i][0], o.sack[i][1]
		if !seqLT(l, r) || !seqGT(r, c.sndUna) || seqGT(r, c.sndMax) {
			continue // D-SACK, stale or bogus (RFC 2883, RFC 6675 section 4)
		}
		if seqLT(l, c.sndUna) {
			l = c.sndUna
		}
		c.addSACK(l, r)
	}
	c.trimSACK()
}

func (c *TCPConn) addSACK(l, r uint32) {
	s := c.sacked
	i := 0
	for i < len(s) && seqLT(s[i].right, l) {
		i++
	}
	j := i
	for j < len(s) && seqLEQ(s[j].left, r) {
		if seqLT(s[j].left, l) {
			l = s[j].left
		}
		if seqGT(s[j].right, r) {
			r = s[j].right
		}
		j++
	}
	if i == j && len(s) >= maxSACKRanges {
		return
	}
	// Replace s[i:j] by the merged range.
	merged := seqRange{l, r}
	if i == j {
		s = append(s, seqRange{})
		copy(s[i+1:], s[i:])
		s[i] = merged
	} else {
		s[i] = merged
		s = append(s[:i+1], s[j:]...)
	}
	c.sacked = s
	c.recountSACK()
}

// trimSACK drops ranges below sndUna.
func (c *TCPConn) trimSACK() {
	s := c.sacked
	k := 0
	for _, r := range s {
		if seqLEQ(r.right, c.sndUna) {
			continue
		}
		if seqLT(r.left, c.sndUna) {
			r.left = c.sndUna
		}
		s[k] = r
		k++
	}
	c.sacked = s[:k]
	c.recountSACK()
}

func (c *TCPConn) recountSACK() {
	n := 0
	for _, r := range c.sacked {
		n += int(r.right - r.left)
	}
	c.sackedBytes = n
}

// clearSACK forgets the scoreboard (retransmission timeout).
func (c *TCPConn) clearSACK() {
	c.sacked = c.sacked[:0]
	c.sackedBytes = 0
}

// highSACK returns the end of the highest SACKed range, or sndUna.
func (c *TCPConn) highSACK() uint32 {
	if len(c.sacked) == 0 {
		return c.sndUna
	}
	return c.sacked[len(c.sacked)-1].right
}

// pipe estimates the bytes in the network (RFC 6675 section 4).
func (c *TCPConn) pipe() int {
	if len(c.sacked) == 0 {
		return int(c.sndNxt - c.sndUna)
	}
	beyond := int(int32(c.sndNxt - c.highSACK())) // negative after a go-back
	// Holes below highRxt have been sent again and count as in flight.
	retx := 0
	at := c.sndUna
	for _, r := range c.sacked {
		if !seqLT(at, c.highRxt) {
			break
		}
		end := r.left
		if seqGT(end, c.highRxt) {
			end = c.highRxt
		}
		if seqLT(at, end) {
			retx += int(end - at)
		}
		at = r.right
	}
	return max(beyond, 0) + retx
}

// nextHole returns the next range to retransmit: un-SACKed data at or
// after highRxt and below the highest SACKed byte (RFC 6675 NextSeg rule 1).
func (c *TCPConn) nextHole() (uint32, int, bool) {
	at := c.sndUna
	if seqGT(c.highRxt, at) {
		at = c.highRxt
	}
	for _, r := range c.sacked {
		if seqLT(at, r.left) {
			return at, int(r.left - at), true
		}
		if seqLT(at, r.right) {
			at = r.right
		}
	}
	return 0, 0, false
}

// sackRetransmit resends holes while the pipe leaves room in cwnd.
func (c *TCPConn) sackRetransmit() {
	for {
		seg := c.segPayload()
		if c.pipe()+seg > c.cc.window() {
			return
		}
		at, n, ok := c.nextHole()
		if !ok {
			return
		}
		n = min(n, seg)
		if !c.sendSegment(at, 0x10 /* ACK */, n) {
			return
		}
		c.sn.inc(TCPRetransmits)
		c.sn.inc(TCPSACKRetransmits)
		c.highRxt = at + uint32(n)
	}
}
