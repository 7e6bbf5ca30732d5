package rss

import (
	"fmt"
	"strings"
)

// HashTypes is a bit mask of the packet kinds whose tuples are hashed.
type HashTypes uint32

// Hash types. The IP types hash the source and destination addresses; the
// TCP and UDP types also hash the ports, for unfragmented packets.
const (
	IPv4  HashTypes = 1 << iota // IPv4 2-tuple
	TCPv4                       // IPv4 TCP 4-tuple
	UDPv4                       // IPv4 UDP 4-tuple
	IPv6                        // IPv6 2-tuple
	TCPv6                       // IPv6 TCP 4-tuple
	UDPv6                       // IPv6 UDP 4-tuple

	// AllIPv4 is every IPv4 hash type.
	AllIPv4 = IPv4 | TCPv4 | UDPv4
	// AllIPv6 is every IPv6 hash type.
	AllIPv6 = IPv6 | TCPv6 | UDPv6
	// AllTypes is every hash type.
	AllTypes = AllIPv4 | AllIPv6
)

// numHashTypes is the number of defined hash type bits.
const numHashTypes = 6

// name returns the name of the single hash type bit t, or "" if t is not
// one.
func (t HashTypes) name() string {
	switch t {
	case IPv4:
		return "ipv4"
	case TCPv4:
		return "tcpv4"
	case UDPv4:
		return "udpv4"
	case IPv6:
		return "ipv6"
	case TCPv6:
		return "tcpv6"
	case UDPv6:
		return "udpv6"
	}
	return ""
}

// String returns the set types as a comma-separated list, such as
// "ipv4,tcpv4,udpv4", or "none" if t is zero. Unknown bits are printed in
// hexadecimal.
func (t HashTypes) String() string {
	if t == 0 {
		return "none"
	}
	var b strings.Builder
	for i := range numHashTypes {
		bit := HashTypes(1) << i
		if t&bit == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(bit.name())
	}
	if rest := t &^ AllTypes; rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%#x", uint32(rest))
	}
	return b.String()
}

// ParseHashTypes parses a comma-separated list of type names as printed by
// HashTypes.String. The names "none" and "all" are also accepted; names
// are case-insensitive and surrounding spaces are ignored. An empty string
// means no types.
func ParseHashTypes(s string) (HashTypes, error) {
	var t HashTypes
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch f {
		case "none":
			continue
		case "all":
			t |= AllTypes
			continue
		}
		found := false
		for i := range numHashTypes {
			if bit := HashTypes(1) << i; f == bit.name() {
				t |= bit
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("rss: unknown hash type %q", f)
		}
	}
	return t, nil
}

// Config describes the RSS configuration of a port.
type Config struct {
	Key   Key       // Toeplitz key
	RETA  RETA      // redirection table
	Types HashTypes // hashed packet kinds
}

// DefaultRETASize is the number of entries in the RETA of DefaultConfig.
const DefaultRETASize = 128

// DefaultConfig returns the configuration for a port with the given number
// of queues: the DefaultKey, a round-robin RETA of DefaultRETASize entries
// and all hash types.
func DefaultConfig(queues int) (Config, error) {
	r, err := NewRETA(DefaultRETASize, queues)
	if err != nil {
		return Config{}, err
	}
	return Config{Key: DefaultKey(), RETA: r, Types: AllTypes}, nil
}
