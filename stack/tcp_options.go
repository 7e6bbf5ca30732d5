package stack

import "encoding/binary"

// TCP option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018).
const (
	tcpOptEnd       = 0
	tcpOptNop       = 1
	tcpOptMSS       = 2
	tcpOptWS        = 3
	tcpOptSACKPerm  = 4
	tcpOptSACK      = 5
	tcpOptTimestamp = 8
)

// maxWindowShift is RFC 7323 section 2.3's limit on the window scale.
const maxWindowShift = 14

// tcpOptions holds the options parsed from one segment. Zero values mean
// absent; has* flags record presence where zero is a valid value.
type tcpOptions struct {
	mss      uint16
	ws       uint8
	hasWS    bool
	sackPerm bool
	hasTS    bool
	tsVal    uint32
	tsEcr    uint32
	nsack    int
	sack     [4][2]uint32 // left, right edges
}

// parseTCPOptions parses the options area. It never panics; a malformed
// option ends parsing (what was parsed so far is kept, as Linux does) and
// is reported.
func parseTCPOptions(b []byte, o *tcpOptions) bool {
	*o = tcpOptions{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case tcpOptEnd:
			return true
		case tcpOptNop:
			i++
			continue
		}
		if i+1 >= len(b) {
			return false
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return false
		}
		v := b[i+2 : i+l]
		switch kind {
		case tcpOptMSS:
			if l == 4 {
				o.mss = binary.BigEndian.Uint16(v)
			}
		case tcpOptWS:
			if l == 3 {
				o.hasWS = true
				o.ws = min(v[0], maxWindowShift)
			}
		case tcpOptSACKPerm:
			if l == 2 {
				o.sackPerm = true
			}
		case tcpOptTimestamp:
			if l == 10 {
				o.hasTS = true
				o.tsVal = binary.BigEndian.Uint32(v[0:4])
				o.tsEcr = binary.BigEndian.Uint32(v[4:8])
			}
		case tcpOptSACK:
			if (l-2)%8 == 0 {
				for j := 0; j+8 <= len(v) && o.nsack < len(o.sack); j += 8 {
					o.sack[o.nsack] = [2]uint32{binary.BigEndian.Uint32(v[j:]), binary.BigEndian.Uint32(v[j+4:])}
					o.nsack++
				}
			}
		}
		i += l
	}
	return true
}

// synOptionsLen is the space the options of a SYN take: MSS (4), SACK
// permitted + timestamps (2 + 10), NOP + window scale (4).
const synOptionsLen = 20

// writeSYNOptions writes MSS, SACK-permitted, timestamps and window scale
// (the latter three only when enabled) and returns the length, a multiple
// of 4.
func writeSYNOptions(b []byte, mss uint16, ws uint8, withWS, sackPerm, withTS bool, tsVal, tsEcr uint32) int {
	n := 0
	b[0], b[1] = tcpOptMSS, 4
	binary.BigEndian.PutUint16(b[2:], mss)
	n = 4
	switch {
	case sackPerm && withTS:
		b[n], b[n+1] = tcpOptSACKPerm, 2
		n += 2
		n += putTS(b[n:], tsVal, tsEcr)
	case withTS:
		b[n], b[n+1] = tcpOptNop, tcpOptNop
		n += 2
		n += putTS(b[n:], tsVal, tsEcr)
	case sackPerm:
		b[n], b[n+1], b[n+2], b[n+3] = tcpOptNop, tcpOptNop, tcpOptSACKPerm, 2
		n += 4
	}
	if withWS {
		b[n], b[n+1], b[n+2], b[n+3] = tcpOptNop, tcpOptWS, 3, ws
		n += 4
	}
	return n
}

func putTS(b []byte, val, ecr uint32) int {
	b[0], b[1] = tcpOptTimestamp, 10
	binary.BigEndian.PutUint32(b[2:], val)
	binary.BigEndian.PutUint32(b[6:], ecr)
	return 10
}

// writeTSOption writes NOP, NOP, timestamps: 12 bytes.
func writeTSOption(b []byte, val, ecr uint32) int {
	b[0], b[1] = tcpOptNop, tcpOptNop
	return 2 + putTS(b[2:], val, ecr)
}

// writeSACKOption writes NOP, NOP, SACK with up to len(blocks) blocks and
// returns the length.
func writeSACKOption(b []byte, blocks [][2]uint32) int {
	b[0], b[1], b[2], b[3] = tcpOptNop, tcpOptNop, tcpOptSACK, byte(2+8*len(blocks))
	n := 4
	for _, blk := range blocks {
		binary.BigEndian.PutUint32(b[n:], blk[0])
		binary.BigEndian.PutUint32(b[n+4:], blk[1])
		n += 8
	}
	return n
}

// Sequence number comparisons modulo 2^32 (RFC 9293 section 3.4).
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }
