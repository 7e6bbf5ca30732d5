package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/relay"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// endpointList is a repeatable --listen or --to flag: tcp:IP:PORT.
type endpointList []netip.AddrPort

func (l *endpointList) String() string { return fmt.Sprint(*l) }

func (l *endpointList) Set(v string) error {
	proto, addr, ok := strings.Cut(v, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return fmt.Errorf("%q: want tcp:IP:PORT", v)
	}
	if proto == "udp" {
		return fmt.Errorf("%q: the UDP relay is not in this build yet (TCP only)", v)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return fmt.Errorf("%q: want tcp:IPv4:PORT", v)
	}
	*l = append(*l, ap)
	return nil
}

// runRelay runs the TCP relay appliance: every --listen is relayed to the
// --to at the same position, with both directions spliced in the stack.
func runRelay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStackFlags(fs)
	var listens, tos endpointList
	fs.Var(&listens, "listen", "accept here, repeatable: tcp:IP:PORT (the IP may be 0.0.0.0)")
	fs.Var(&tos, "to", "relay the --listen at the same position to this backend, repeatable: tcp:IP:PORT")
	maxBytes := fs.Int64("max", 0, "bytes per direction before the receiver gets EOF (0: no limit)")
	idle := fs.Duration("idle", 0, "end a direction idle this long, as relayd (0: never)")
	modeFlag := fs.String("mode", "softnet", "splice mode: softnet (on the flow's softnet), dedicated (one splice thread) or copy (goroutine per connection)")
	drain := fs.Duration("drain-timeout", 5*time.Second, "on SIGINT/SIGTERM, how long relayed connections may finish")
	stats := fs.Duration("stats", 0, "print counters every DURATION (0: only at exit)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netsplice relay --eal 'EAL ARGS' --ip CIDR --listen tcp:IP:PORT --to tcp:IP:PORT [flags]")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	if len(listens) == 0 || len(listens) != len(tos) {
		return usageErr("give --listen and --to in pairs (%d --listen, %d --to)", len(listens), len(tos))
	}
	mode, err := splice.ParseMode(*modeFlag)
	if err != nil {
		return usageErr("--mode: %v", err)
	}
	if *maxBytes < 0 || *idle < 0 || *drain < 0 || *stats < 0 {
		return usageErr("--max, --idle, --drain-timeout and --stats must not be negative")
	}
	if _, _, _, err := sf.check(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	env, err := sf.start(stderr)
	if err != nil {
		return err
	}
	defer env.close()
	sp := splice.New(mode)
	defer sp.Close()
	var relays []*relay.Relay
	for i := range listens {
		r, err := relay.Start(env.st, sp, relay.Config{Listen: listens[i], To: tos[i], Max: *maxBytes, Idle: *idle}, env.log)
		if err != nil {
			return usageErr("--listen %v: %v", listens[i], err)
		}
		relays = append(relays, r)
	}
	fmt.Fprintf(stdout, "netsplice relay: ready: %d relays, mode %v, %d softnets\n", len(relays), mode, env.st.NumSoftnets())
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	var tick <-chan time.Time
	if *stats > 0 {
		t := time.NewTicker(*stats)
		defer t.Stop()
		tick = t.C
	}
	report := func() {
		for i, r := range relays {
			s := r.Stats()
			fmt.Fprintf(stdout, "relay %v -> %v: accepted %d relayed %d active %d dial_failed %d resets %d\n",
				listens[i], tos[i], s.Accepted, s.Relayed, s.Active, s.DialFailed, s.Resets)
		}
		ss := sp.Stats()
		c := env.st.Counters()
		fmt.Fprintf(stdout, "splice: mode %v moves %d bytes %d cross_softnet %d handoffs %d ends %v\n",
			mode, ss.Moves, ss.Bytes, ss.CrossSoftnet, c[stack.TasksCrossed]+sp.DedicatedStats().Crossed, ss.Ends)
	}
	for {
		select {
		case s := <-sig:
			fmt.Fprintf(stdout, "netsplice relay: %v, draining for up to %v\n", s, *drain)
			for _, r := range relays {
				r.Close(*drain)
			}
			report()
			env.st.Stop()
			env.writeCounters(stdout)
			return nil
		case <-tick:
			report()
		}
	}
}
