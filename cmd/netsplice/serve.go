package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/iperf3"
	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
)

// serviceList is a repeatable --echo/--discard/--http flag.
type serviceList struct {
	kind service.Kind
	list *[]service.Spec
}

func (l serviceList) String() string { return "" }

func (l serviceList) Set(v string) error {
	proto, port := "tcp", v
	if l.kind != service.HTTP {
		var ok bool
		if proto, port, ok = strings.Cut(v, ":"); !ok || (proto != "udp" && proto != "tcp") {
			return fmt.Errorf("%q: want udp:PORT or tcp:PORT", v)
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("%q: port must be 1..65535", v)
	}
	*l.list = append(*l.list, service.Spec{Kind: l.kind, Proto: proto, Port: uint16(n)})
	return nil
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stdout,
		"usage: netsplice serve --eal 'EAL ARGS' --ip CIDR [--ip CIDR...] [--echo udp|tcp:PORT] [--discard udp|tcp:PORT] [--http PORT] [flags]",
		"       netsplice serve --kernel --ip CIDR [services]",
		"Runs the stack on DPDK ports with test services on every interface; SIGINT or SIGTERM stops it and prints the counters.",
		"--kernel runs the same services on the Linux kernel's sockets at the --ip addresses instead (a reference peer).")
	sf := addStackFlags(fs)
	mf := addMetricsFlag(fs)
	var svcs []service.Spec
	fs.Var(serviceList{service.Echo, &svcs}, "echo", "echo service, repeatable: `PROTO:PORT`, udp:PORT or tcp:PORT")
	fs.Var(serviceList{service.Discard, &svcs}, "discard", "discard service, repeatable: `PROTO:PORT`, udp:PORT or tcp:PORT")
	fs.Var(serviceList{service.HTTP, &svcs}, "http", "HTTP service on TCP `PORT` serving /bytes/N (byte i is i % 251), repeatable")
	stats := fs.Duration("stats", 0, "print counters every DURATION (0: only at exit)")
	iperfPort := fs.Int("iperf3", 0, "iperf3 server on TCP and UDP `PORT` (stock iperf3 3.x clients: -R, -P, --bidir, -u; one test at a time)")
	kernel := fs.Bool("kernel", false, "serve on the Linux kernel's sockets at the --ip addresses (configured on this host or namespace), not on DPDK: the same services with the kernel's TCP and UDP, a reference peer")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if *stats < 0 {
		return usageErr("--stats %v must not be negative", *stats)
	}
	if *iperfPort < 0 || *iperfPort > 65535 {
		return usageErr("--iperf3 %d: port must be 1..65535", *iperfPort)
	}
	if err := checkServices(svcs, uint16(*iperfPort)); err != nil {
		return err
	}
	if *kernel {
		return serveKernel(sf, svcs, uint16(*iperfPort), stdout)
	}
	if _, err := sf.check(); err != nil {
		return err
	}
	if err := mf.listen(); err != nil {
		return err
	}
	defer mf.close()
	// Catch signals before starting, so an early SIGTERM still cleans up.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)

	env, err := sf.start(stderr)
	if err != nil {
		return err
	}
	defer env.close()
	met := mf.serve(env.st, nil, env.log)
	var counters []*service.Counters
	for _, s := range svcs {
		sc, c, err := service.Start(env.st, s)
		if err != nil {
			return fmt.Errorf("%v: %w", s, err)
		}
		defer c.Close()
		counters = append(counters, sc)
	}
	stopIperf := func() {}
	if *iperfPort != 0 {
		st := env.st
		l, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(*iperfPort)), 0)
		if err != nil {
			return fmt.Errorf("--iperf3 %d: %w", *iperfPort, err)
		}
		stop, err := startIperf3(l, func(laddr netip.AddrPort) (iperf3.UDPConn, error) { return st.ListenUDP(laddr, nil) }, env.log, stdout)
		if err != nil {
			return err
		}
		stopIperf = sync.OnceFunc(stop)
		defer stopIperf()
	}
	var addrs []string
	for _, ifc := range env.st.Interfaces() {
		var ps []string
		if ifc.Addr().IsValid() {
			ps = append(ps, ifc.Addr().String())
		}
		for _, p := range ifc.Addr6() {
			ps = append(ps, p.String())
		}
		addrs = append(addrs, fmt.Sprintf("%s on %s (%s)", strings.Join(ps, ","), ifc.Port().Name(), macString(ifc.MAC())))
	}
	met.SetReady()
	fmt.Fprintf(stdout, "netsplice serve: ready: %s; %d softnets; services: %v\n", strings.Join(addrs, ", "), env.st.NumSoftnets(), svcs)
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	var tick <-chan time.Time
	if *stats > 0 {
		t := time.NewTicker(*stats)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case s := <-sig:
			met.SetDraining()
			fmt.Fprintf(stdout, "netsplice serve: %v, stopping\n", s)
			// The iperf3 server first: on a stopped stack its accept
			// loop would log failures into the counters below.
			stopIperf()
			env.st.Stop()
			for _, sc := range counters {
				fmt.Fprintf(stdout, "service %v\n", sc)
			}
			env.writeCounters(stdout)
			return nil
		case <-tick:
			c := env.st.Counters()
			fmt.Fprintf(stdout, "stats: rx %d tx %d drops %d port_drops %d", c[stack.RxPackets], c[stack.TxPackets], c.Drops(), env.portDrops())
			for _, sc := range counters {
				fmt.Fprintf(stdout, ", %v", sc)
			}
			fmt.Fprintln(stdout)
		}
	}
}

// checkServices refuses two services on one protocol and port: every
// service listens on all interfaces, so the second could not start. The
// iperf3 server, when iperfPort is not 0, takes its port over TCP and UDP.
func checkServices(svcs []service.Spec, iperfPort uint16) error {
	flagOf := func(s service.Spec) string {
		switch s.Kind {
		case service.HTTP:
			return fmt.Sprintf("--http %d", s.Port)
		case "iperf3":
			return fmt.Sprintf("--iperf3 %d", s.Port)
		}
		return fmt.Sprintf("--%s %s:%d", s.Kind, s.Proto, s.Port)
	}
	if iperfPort != 0 {
		svcs = append(svcs[:len(svcs):len(svcs)], service.Spec{Kind: "iperf3", Proto: "tcp", Port: iperfPort}, service.Spec{Kind: "iperf3", Proto: "udp", Port: iperfPort})
	}
	for i, s := range svcs {
		for _, o := range svcs[:i] {
			if o.Proto == s.Proto && o.Port == s.Port {
				return usageErr("%s: %s port %d is already taken by %s (one service per protocol and port)", flagOf(s), s.Proto, s.Port, flagOf(o))
			}
		}
	}
	return nil
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// serveKernel runs the services on the Linux kernel's sockets at every
// --ip address, IPv4 and IPv6, until SIGINT or SIGTERM, then prints each
// service's counts, summed over the addresses.
func serveKernel(sf *stackFlags, svcs []service.Spec, iperfPort uint16, stdout io.Writer) error {
	switch {
	case sf.eal != "":
		return usageErr("--kernel serves on the kernel's sockets: drop --eal")
	case len(sf.ips) == 0:
		return usageErr("--kernel needs at least one --ip (an address configured on this host)")
	case sf.impair != "" || sf.pcap != "":
		return usageErr("--kernel: --impair and --pcap apply to DPDK ports only")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	// Every --ip address, IPv4 and IPv6; a service's counts are summed
	// over them.
	var addrs []netip.Addr
	for i, p := range sf.ips {
		if p.IsValid() {
			addrs = append(addrs, p.Addr())
		}
		for _, q := range sf.ips6[i] {
			addrs = append(addrs, q.Addr())
		}
	}
	counters := make([][]*service.Counters, len(svcs))
	for _, ip := range addrs {
		for i, s := range svcs {
			sc, c, err := service.StartKernel(ip, s)
			if err != nil {
				return fmt.Errorf("%v on %v: %w", s, ip, err)
			}
			defer c.Close()
			counters[i] = append(counters[i], sc)
		}
		if iperfPort != 0 {
			l, err := net.Listen("tcp", netip.AddrPortFrom(ip, iperfPort).String())
			if err != nil {
				return fmt.Errorf("--iperf3 %d on %v: %w", iperfPort, ip, err)
			}
			log, err := sf.log.logger(os.Stderr)
			if err != nil {
				return err
			}
			stop, err := startIperf3(l, iperf3.StdListenUDP, log, stdout)
			if err != nil {
				return err
			}
			defer stop()
		}
	}
	fmt.Fprintf(stdout, "netsplice serve: ready: %s on the Linux kernel's sockets; services: %v\n", (ipFlag{sf}).String(), svcs)
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	s := <-sig
	fmt.Fprintf(stdout, "netsplice serve: %v, stopping\n", s)
	for i, spec := range svcs {
		var conns, bytes, datagrams uint64
		for _, sc := range counters[i] {
			conns, bytes, datagrams = conns+sc.Conns(), bytes+sc.Bytes(), datagrams+sc.Datagrams()
		}
		if spec.Proto == "tcp" {
			fmt.Fprintf(stdout, "service %v: %d connections, %d bytes\n", spec, conns, bytes)
		} else {
			fmt.Fprintf(stdout, "service %v: %d datagrams\n", spec, datagrams)
		}
	}
	return nil
}

// startIperf3 runs an iperf3 server on l (TCP control and data) and UDP
// sockets from listenUDP, printing a line per test, until the returned
// stop is called.
func startIperf3(l net.Listener, listenUDP iperf3.ListenUDPFunc, log *zap.Logger, stdout io.Writer) (stop func(), err error) {
	srv, err := iperf3.NewServer(iperf3.Config{
		Listener: l, ListenUDP: listenUDP, Logger: log.Named("iperf3"),
		OnTestDone: func(t iperf3.TestStats) {
			secs := t.Elapsed.Seconds()
			gbps := 0.0
			if secs > 0 {
				gbps = float64(t.BytesReceived+t.BytesSent) * 8 / secs / 1e9
			}
			line := fmt.Sprintf("iperf3 test %d from %v: %s, %d streams, reverse %v, bidir %v: received %d bytes, sent %d bytes in %.2fs (%.3f Gbit/s)",
				t.Number, t.Client, t.Protocol, t.Parallel, t.Reverse, t.Bidir, t.BytesReceived, t.BytesSent, secs, gbps)
			if t.Protocol == "udp" {
				line += fmt.Sprintf("; datagrams received %d, lost %d", t.PacketsReceived, t.LostPackets)
			}
			if t.Err != nil {
				line += fmt.Sprintf("; error: %v", t.Err)
			}
			fmt.Fprintln(stdout, line)
		},
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx); err != nil {
			log.Error("iperf3 server", zap.Error(err))
		}
	}()
	return func() { cancel(); <-done }, nil
}
