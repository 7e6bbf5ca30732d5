package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// runConnect opens one TCP connection from a stack on DPDK ports: the
// client side against a Linux server in the lab. It sends --send bytes of
// the /bytes/N pattern (byte i is i % 251), shuts its side down, reads
// until the server closes, and prints the byte counts and the SHA-256 of
// what it received.
func runConnect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStackFlags(fs)
	send := fs.Int64("send", 0, "bytes to send (the i % 251 pattern) before reading")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netsplice connect --eal 'EAL ARGS' --ip CIDR [--send N] [flags] IP:PORT")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one IP:PORT, got %d arguments", len(pos))
	}
	dst, err := netip.ParseAddrPort(pos[0])
	if err != nil || !dst.Addr().Is4() {
		return usageErr("destination %q is not an IPv4 IP:PORT", pos[0])
	}
	if *send < 0 || *timeout <= 0 {
		return usageErr("--send must not be negative and --timeout must be positive")
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
		var chunk [251 * 256]byte
		for i := range chunk {
			chunk[i] = byte(i % 251)
		}
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
