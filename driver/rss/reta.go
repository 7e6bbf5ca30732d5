package rss

import (
	"errors"
	"fmt"
)

// MaxQueues is the largest number of queues a RETA can address.
const MaxQueues = 65535

// A RETA is a redirection table: entry i is the receive queue for packets
// whose hash selects index i. NIC tables typically have 128 or 512
// entries.
type RETA []uint16

// NewRETA returns a redirection table of size entries spreading queues
// queues round-robin: entry i is i % queues. It returns an error if size
// or queues is not positive or queues exceeds MaxQueues.
func NewRETA(size, queues int) (RETA, error) {
	if size <= 0 {
		return nil, fmt.Errorf("rss: invalid RETA size %d", size)
	}
	if queues <= 0 || queues > MaxQueues {
		return nil, fmt.Errorf("rss: invalid queue count %d, want 1..%d", queues, MaxQueues)
	}
	r := make(RETA, size)
	q := 0
	for i := range r {
		r[i] = uint16(q)
		if q++; q == queues {
			q = 0
		}
	}
	return r, nil
}

// Queue returns the queue for a packet with the given hash. Like a NIC it
// indexes the table with the low bits of the hash: hash & (len(r)-1) when
// len(r) is a power of two, as it usually is, and hash % len(r) otherwise.
// Queue returns 0 for an empty table.
func (r RETA) Queue(hash uint32) int {
	n := uint64(len(r))
	if n == 0 {
		return 0
	}
	if n&(n-1) == 0 {
		return int(r[uint64(hash)&(n-1)])
	}
	return int(r[uint64(hash)%n])
}

// Validate reports whether every entry of r names a queue below queues.
func (r RETA) Validate(queues int) error {
	if len(r) == 0 {
		return errors.New("rss: empty RETA")
	}
	for i, q := range r {
		if int(q) >= queues {
			return fmt.Errorf("rss: RETA entry %d is queue %d, port has %d queues", i, q, queues)
		}
	}
	return nil
}
