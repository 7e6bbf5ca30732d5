package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// runPing runs a stack on DPDK ports and pings a host from it: the client
// side of two netsplice processes talking to each other.
func runPing(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStackFlags(fs)
	count := fs.Int("count", 3, "echo requests to send")
	size := fs.Int("size", 56, "payload bytes")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between requests")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for each reply")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netsplice ping --eal 'EAL ARGS' --ip CIDR [flags] DST_IP")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one destination address, got %d arguments", len(pos))
	}
	dst, err := netip.ParseAddr(pos[0])
	if err != nil || !dst.Is4() {
		return usageErr("destination %q is not an IPv4 address", pos[0])
	}
	if *count < 1 || *size < 0 || *size > 1472 || *interval < 0 || *timeout <= 0 {
		return usageErr("--count must be positive, --size 0..1472, --timeout positive")
	}
	env, err := sf.start(stderr)
	if err != nil {
		return err
	}
	defer env.close()
	got := 0
	for i := 0; i < *count; i++ {
		if i > 0 {
			time.Sleep(*interval)
		}
		rtt, err := env.st.Ping(dst, *size, *timeout)
		if err != nil {
			fmt.Fprintf(stdout, "ping %v: seq %d: %v\n", dst, i+1, err)
			continue
		}
		got++
		fmt.Fprintf(stdout, "ping %v: %d bytes, seq %d, rtt %v\n", dst, *size, i+1, rtt.Round(time.Microsecond))
	}
	fmt.Fprintf(stdout, "%d sent, %d received\n", *count, got)
	if got == 0 {
		return fmt.Errorf("no reply from %v", dst)
	}
	return nil
}
