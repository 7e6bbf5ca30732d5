package stack

import (
	"crypto/rand"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The TCP timestamp clock (RFC 7323 section 5.4): milliseconds of the
// system's monotonic clock (time since boot), plus an offset per pair of
// addresses hashed with a key drawn once per boot, as Linux does. So the
// timestamps toward one peer keep rising across the processes of one boot:
// a generator run after another reuses the same 4-tuples, and the peer's
// TIME-WAIT for such a tuple takes the new SYN by its newer timestamp (RFC
// 6191; Linux's tcp_timewait_state_process). A clock that starts with the
// process made such a SYN look older than the old connection: the peer
// rejected it (PAWS) and the connect waited out a 1 s SYN retransmission.
// The offset keeps the uptime from peers.

// tsClock is a stack's timestamp clock: set up once in New, read-only.
type tsClock struct {
	base uint32   // the monotonic clock at Stack.base, in ms
	key  [16]byte // the boot's key (the kernel's boot_id), else random
}

// init reads the monotonic clock at the stack's base and the boot's key.
func (t *tsClock) init() {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		t.base = uint32(ts.Nano() / int64(time.Millisecond))
	}
	// boot_id is random per boot and the same for every process of it.
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && len(b) >= 32 {
		k := 0
		for _, c := range b {
			if v, ok := hexNibble(c); ok && k < 32 {
				t.key[k/2] |= v << (4 * (1 - k%2))
				k++
			}
		}
		if k == 32 {
			return
		}
	}
	rand.Read(t.key[:]) // no boot_id: rising within this process only
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// offset returns the timestamp offset of the address pair of k: a
// keyed FNV-1a over the key and both addresses (ports left out, so that
// every connection between two hosts shares the clock).
func (t *tsClock) offset(k flowKey) uint32 {
	h := uint32(2166136261)
	mix := func(b []byte) {
		for _, c := range b {
			h = (h ^ uint32(c)) * 16777619
		}
	}
	mix(t.key[:])
	mix(k.laddr[:])
	mix(k.raddr[:])
	mix(t.key[:])
	return h
}

// at returns the timestamp at stack time now (ns since Stack.base) for a
// connection whose offset is off.
func (t *tsClock) at(now int64, off uint32) uint32 {
	return t.base + uint32(now/int64(time.Millisecond)) + off
}

// echoRTT returns the round trip the timestamp seg echoes measures, and
// false when it echoes none or one that cannot be ours: ahead of our
// clock, or older than the connection (with a second's grace for the
// SYN-ACK of a SYN cookie, stamped before the connection was made). A
// peer's bogus echo would otherwise stretch the RTO toward its maximum.
func (c *TCPConn) echoRTT(seg *segment) (time.Duration, bool) {
	if !c.tsOK || !seg.opts.hasTS || seg.opts.tsEcr == 0 {
		return 0, false
	}
	now := c.tsNow()
	d := int32(now - seg.opts.tsEcr)
	if d < 0 || d > int32(now-c.tsBorn)+1000 {
		return 0, false
	}
	return time.Duration(d) * time.Millisecond, true
}
