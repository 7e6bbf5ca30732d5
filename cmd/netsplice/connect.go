package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/netsplice/netsplice/service"
)

// runConnect opens one TCP connection from a stack on DPDK ports: the
// client side against a Linux server in the lab. It sends --send bytes of
// the /bytes/N pattern (byte i is i % 251), shuts its side down, reads
// until the server closes, and prints the byte counts and the SHA-256 of
// what it received.
func runConnect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("connect", stdout,
		"usage: netsplice connect --eal 'EAL ARGS' --ip CIDR [--send N] [--timeout D] [flags] IP:PORT|[IPv6]:PORT",
		"Opens one TCP connection from the stack, sends --send bytes of the i % 251 pattern, shuts its side down,",
		"reads until the server closes and prints the byte counts and the SHA-256 of what it received.")
	sf := addStackFlags(fs)
	send := fs.Int64("send", 0, "bytes to send (the i % 251 pattern) before reading")
	timeout := fs.Duration("timeout", 60*time.Second, "overall limit: give up on the connection and the whole transfer after this long")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one IP:PORT, got %d arguments %q", len(pos), pos)
	}
	dst, err := netip.ParseAddrPort(pos[0])
	if err != nil {
		return usageErr("destination %q is not an IP:PORT (IPv4 192.0.2.2:80, or IPv6 in brackets [2001:db8:1::2]:80)", pos[0])
	}
	if dst.Port() == 0 {
		return usageErr("destination %v: port 0 cannot be connected to, want 1..65535", dst)
	}
	switch a := dst.Addr(); {
	case a.Is4In6():
		return usageErr("destination %v: an IPv4-mapped IPv6 address; give the IPv4 address %v", dst, a.Unmap())
	case a.Zone() != "":
		return usageErr("destination %v: zones are not supported (a link-local destination is reached from the first port with IPv6)", dst)
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return usageErr("destination %v: want a unicast address", dst)
	}
	if *send < 0 {
		return usageErr("--send %d must not be negative", *send)
	}
	if *timeout <= 0 {
		return usageErr("--timeout %v must be positive", *timeout)
	}
	if _, err := sf.check(); err != nil {
		return err
	}
	if err := sf.routable(dst.Addr()); err != nil {
		return usageErr("destination %v", err)
	}
	env, err := sf.start(stderr)
	if err != nil {
		return err
	}
	defer env.close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := env.st.DialTCP(ctx, netip.AddrPort{}, dst)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(*timeout))
	sent := make(chan error, 1)
	go func() {
		var chunk [service.PatternPeriod * 256]byte
		service.Pattern(chunk[:], 0)
		for left := *send; left > 0; {
			k := min(left, int64(len(chunk)))
			if _, err := c.Write(chunk[:k]); err != nil {
				sent <- err
				return
			}
			left -= k
		}
		sent <- c.CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return fmt.Errorf("receiving: %w", err)
	}
	if err := <-sent; err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	fmt.Fprintf(stdout, "connect %v: sent %d bytes, received %d bytes, sha256 %x\n", dst, *send, n, h.Sum(nil))
	return nil
}
