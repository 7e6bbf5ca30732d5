package main

import (
	"fmt"
	"io"
	"net/netip"
	"time"
)

// runPing runs a stack on DPDK ports and pings a host from it: the client
// side of two netsplice processes talking to each other.
func runPing(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ping", stdout,
		"usage: netsplice ping --eal 'EAL ARGS' --ip CIDR[,CIDR6] [flags] DST_IP",
		"Runs the stack on DPDK ports and sends --count ICMP echo requests to DST_IP, IPv4 or IPv6 (ICMPv6: give the port an IPv6 --ip).")
	sf := addStackFlags(fs)
	count := fs.Int("count", 3, "echo requests to send")
	size := fs.Int("size", 56, "payload bytes (0..1472)")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between requests")
	timeout := fs.Duration("reply-timeout", 2*time.Second, "how long to wait for each reply (per request, as ping -W)")
	alias(fs, "timeout", "reply-timeout")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one destination address, got %d arguments %q", len(pos), pos)
	}
	dst, err := netip.ParseAddr(pos[0])
	if err != nil || dst.Is4In6() {
		return usageErr("destination %q is not an IPv4 address or an IPv6 address", pos[0])
	}
	if dst.IsUnspecified() || dst.IsMulticast() {
		return usageErr("destination %v: want a unicast address", dst)
	}
	switch {
	case *count < 1:
		return usageErr("--count %d: want at least 1", *count)
	case *size < 0 || *size > 1472 || dst.Is6() && *size > 1452:
		return usageErr("--size %d: want 0..1472 payload bytes (0..1452 over IPv6)", *size)
	case *interval < 0:
		return usageErr("--interval %v must not be negative", *interval)
	case *timeout <= 0:
		return usageErr("--reply-timeout %v must be positive", *timeout)
	}
	if _, err := sf.check(); err != nil {
		return err
	}
	if err := sf.routable(dst); err != nil {
		return usageErr("destination %v", err)
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
