package main

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/stack"
)

func numCPU() int { return runtime.NumCPU() }

// runDemo runs two stacks on the in-memory wire: A pings B, and A's
// clients send UDP datagrams to B's echo service through the blocking
// socket API; then it prints both stacks' counters.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stdout,
		"usage: netsplice demo [flags]",
		"Runs two stacks on the in-memory wire: A pings B, A's clients send UDP datagrams to B's echo service; then prints both stacks' counters.")
	lcores := fs.Int("lcores", 2, lcoresHelp)
	duration := fs.Duration("duration", 3*time.Second, "how long the UDP traffic runs")
	clients := fs.Int("clients", 4, "UDP client sockets on stack A (1..1024)")
	pollFlag := fs.String("poll", "adaptive", "poll mode: busy or adaptive")
	impairSpec := fs.String("impair", "", "faults on A's port, e.g. drop=1%,dup=0.5%,reorder=4,corrupt=0.1%,seed=1")
	logf := addLogFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	poll, err := stack.ParsePollMode(*pollFlag)
	if err != nil {
		return usageErr("--poll %q: want busy or adaptive", *pollFlag)
	}
	if err := checkLcores(*lcores); err != nil {
		return err
	}
	if *clients < 1 || *clients > 1024 {
		return usageErr("--clients %d: want 1..1024", *clients)
	}
	if *duration <= 0 {
		return usageErr("--duration %v must be positive", *duration)
	}
	var ic impair.Config
	if *impairSpec != "" {
		if ic, err = impair.Parse(*impairSpec); err != nil {
			return usageErr("--impair: %v", err)
		}
	}
	log, err := logf.logger(stderr)
	if err != nil {
		return err
	}
	defer log.Sync()

	w := memwire.New()
	pa, err := w.AddPort(memwire.Config{Name: "wireA", Queues: *lcores})
	if err != nil {
		return err
	}
	pb, err := w.AddPort(memwire.Config{Name: "wireB", Queues: *lcores})
	if err != nil {
		return err
	}
	var portA driver.Port = pa
	var faults *impair.Port
	if *impairSpec != "" {
		if faults, err = impair.Wrap(pa, ic); err != nil {
			return usageErr("--impair: %v", err)
		}
		portA = faults
	}
	addrA, addrB := netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("192.0.2.2/24")
	cfg := stack.Config{Softnets: *lcores, Poll: poll, Logger: log}
	a, err := stack.New(cfg, stack.InterfaceConfig{Port: portA, Addr: addrA})
	if err != nil {
		return err
	}
	cfgB := cfg
	cfgB.Logger = log.Named("B")
	b, err := stack.New(cfgB, stack.InterfaceConfig{Port: pb, Addr: addrB})
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	defer a.Stop()
	if err := b.Start(); err != nil {
		return err
	}
	defer b.Stop()

	echoAddr := netip.AddrPortFrom(addrB.Addr(), 7)
	srv, err := b.ListenUDP(echoAddr, nil)
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	fmt.Fprintf(stdout, "netsplice demo: stack A %v <-> stack B %v on the in-memory wire, %d softnets each, %s polling\n",
		addrA, addrB, *lcores, poll)
	for i := 0; i < 3; i++ {
		rtt, err := a.Ping(addrB.Addr(), 56, time.Second)
		if err != nil {
			fmt.Fprintf(stdout, "ping %v: %v\n", addrB.Addr(), err)
			continue
		}
		fmt.Fprintf(stdout, "ping %v: 56 bytes, seq %d, rtt %v\n", addrB.Addr(), i+1, rtt.Round(time.Microsecond))
	}

	var sent, echoed, mismatched, lost atomic.Uint64
	var wg sync.WaitGroup
	stop := time.Now().Add(*duration)
	for i := 0; i < *clients; i++ {
		c, err := a.DialUDP(netip.AddrPort{}, echoAddr, nil)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func(i int, c *stack.UDPConn) {
			defer wg.Done()
			defer c.Close()
			msg := make([]byte, 1472)
			got := make([]byte, 2048)
			// Datagram seq has a size and content derived from seq, so a
			// late echo of an earlier one is recognised, not counted as
			// altered.
			size := func(seq int) int { return 1 + (seq*97+i*13)%1472 }
			fill := func(b []byte, seq int) []byte {
				b = b[:size(seq)]
				for j := range b {
					b[j] = byte(seq + j)
				}
				return b
			}
			late := func(b []byte, seq int) bool {
				for old := max(seq-256, 0); old < seq; old++ {
					if len(b) == size(old) && bytes.Equal(b, fill(msg, old)) {
						return true
					}
				}
				return false
			}
			for seq := 0; time.Now().Before(stop); seq++ {
				want := fill(msg, seq)
				if _, err := c.Write(want); err != nil {
					log.Warn("write", zap.Error(err))
					return
				}
				sent.Add(1)
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				for {
					n, err := c.Read(got)
					if err != nil {
						lost.Add(1) // dropped by the impaired link
						break
					}
					if bytes.Equal(got[:n], fill(msg, seq)) {
						echoed.Add(1)
						break
					}
					if !late(got[:n], seq) {
						mismatched.Add(1)
						break
					}
					// A late echo of an earlier datagram: read on.
				}
			}
		}(i, c)
	}
	wg.Wait()
	srv.Close()
	fmt.Fprintf(stdout, "UDP echo: %d datagrams sent, %d echoed intact, %d timed out, %d mismatched\n",
		sent.Load(), echoed.Load(), lost.Load(), mismatched.Load())
	a.Stop()
	b.Stop()
	for _, s := range []struct {
		name string
		st   *stack.Stack
	}{{"A", a}, {"B", b}} {
		c := s.st.Counters()
		fmt.Fprintf(stdout, "\n== stack %s counters (summed over %d softnets; drop_* are drops by reason)\n", s.name, s.st.NumSoftnets())
		c.WriteTo(stdout)
		ps := s.st.Interfaces()[0].Port().Stats()
		fmt.Fprintf(stdout, "port %s: rx %d pkts %d bytes, tx %d pkts %d bytes, rx_missed %d, tx_errors %d\n",
			s.st.Interfaces()[0].Port().Name(), ps.RxPackets, ps.RxBytes, ps.TxPackets, ps.TxBytes, ps.RxMissed, ps.TxErrors)
	}
	if faults != nil {
		f := faults.Faults()
		fmt.Fprintf(stdout, "faults injected on A's port: dropped %d, duplicated %d, corrupted %d, reordered %d\n",
			f.Dropped, f.Duplicated, f.Corrupted, f.Reordered)
	}
	if mismatched.Load() != 0 {
		return fmt.Errorf("%d datagrams came back altered", mismatched.Load())
	}
	if echoed.Load() == 0 {
		return fmt.Errorf("no datagram was echoed")
	}
	return nil
}
