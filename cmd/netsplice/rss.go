package main

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/netsplice/netsplice/driver/rss"
)

// maxRETA bounds --reta: the largest redirection tables of NICs have 512
// entries.
const maxRETA = 512

func runRSS(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rss", stdout,
		"usage: netsplice rss SRC_IP:PORT DST_IP:PORT [--key HEX | --symmetric] [--queues N] [--reta N] [--tuple 2|4]",
		"Prints the Toeplitz hash of the flow and the queue the redirection table gives it.")
	keyHex := fs.String("key", "", "Toeplitz key, 40 bytes in hex (default: the Microsoft verification key most NICs ship)")
	symmetric := fs.Bool("symmetric", false, "use the symmetric key (0x6d5a repeated), which hashes both directions of a flow alike")
	queues := fs.Int("queues", 1, fmt.Sprintf("number of queues behind the redirection table (1..%d)", rss.MaxQueues))
	retaSize := fs.Int("reta", rss.DefaultRETASize, fmt.Sprintf("redirection table entries (1..%d)", maxRETA))
	tuple := fs.Int("tuple", 4, "hash input: 4 for addresses and ports, 2 for addresses only")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("want SRC_IP:PORT and DST_IP:PORT, got %d arguments %q", len(pos), pos)
	}
	src, err := netip.ParseAddrPort(pos[0])
	if err != nil {
		return usageErr("source %q: %v", pos[0], err)
	}
	dst, err := netip.ParseAddrPort(pos[1])
	if err != nil {
		return usageErr("destination %q: %v", pos[1], err)
	}
	if src.Addr().Is4() != dst.Addr().Is4() {
		return usageErr("source and destination must both be IPv4 or both IPv6")
	}
	key := rss.DefaultKey()
	switch {
	case *symmetric && *keyHex != "":
		return usageErr("--key and --symmetric exclude each other")
	case *symmetric:
		key = rss.SymmetricKey()
	case *keyHex != "":
		if key, err = rss.ParseKey(*keyHex); err != nil {
			return usageErr("--key: %v", err)
		}
	}
	if *tuple != 2 && *tuple != 4 {
		return usageErr("--tuple %d: want 2 or 4", *tuple)
	}
	if *retaSize < 1 || *retaSize > maxRETA {
		return usageErr("--reta %d: want 1..%d entries (NICs have 64..512)", *retaSize, maxRETA)
	}
	if *queues < 1 || *queues > rss.MaxQueues {
		return usageErr("--queues %d: want 1..%d", *queues, rss.MaxQueues)
	}
	reta, err := rss.NewRETA(*retaSize, *queues)
	if err != nil {
		return usageErr("--reta %d --queues %d: %v", *retaSize, *queues, err)
	}
	h := rss.NewHasher(key)
	var hash uint32
	if *tuple == 4 {
		hash = h.HashAddrPort(src, dst)
	} else {
		hash = h.HashAddr(src.Addr(), dst.Addr())
	}
	fmt.Fprintf(stdout, "hash 0x%08x queue %d\n", hash, reta.Queue(hash))
	return nil
}
