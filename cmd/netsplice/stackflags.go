package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/dpdk"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/stack"
)

// stackFlags are the flags of every subcommand that runs a stack on DPDK
// ports (serve, ping).
type stackFlags struct {
	eal      string
	ips      cidrList
	gateway  string
	lcores   int
	poll     string
	logLevel string
	impair   string
	pcap     string
}

// cidrList is a repeatable --ip flag.
type cidrList []netip.Prefix

func (l *cidrList) String() string {
	var s []string
	for _, p := range *l {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (l *cidrList) Set(v string) error {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("%q is not an IPv4 CIDR such as 192.0.2.1/24", v)
	}
	*l = append(*l, p)
	return nil
}

func addStackFlags(fs *flag.FlagSet) *stackFlags {
	f := &stackFlags{}
	fs.StringVar(&f.eal, "eal", "", "DPDK EAL arguments, split on spaces, e.g. '-l 0 -a 0000:3b:00.0' or '--no-huge -m 256 --no-pci --vdev=net_af_packet0,iface=veth0'")
	fs.Var(&f.ips, "ip", "interface address and prefix, repeatable, one per DPDK port in port order (e.g. 192.0.2.1/24)")
	fs.StringVar(&f.gateway, "gateway", "", "default gateway, inside one interface's prefix")
	fs.IntVar(&f.lcores, "lcores", 1, "softnets (one queue pair per port each)")
	fs.StringVar(&f.poll, "poll", "adaptive", "poll mode: busy (one CPU per softnet, lowest latency) or adaptive")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.impair, "impair", "", "faults on every port's rx and tx, e.g. drop=1%,dup=0.5%,reorder=4,corrupt=0.1%,seed=1")
	fs.StringVar(&f.pcap, "pcap", "", "write every frame sent and received to this pcap file (debugging, not line rate)")
	return f
}

// stackEnv is a running stack on DPDK ports and what to tear down.
type stackEnv struct {
	log    *zap.Logger
	st     *stack.Stack
	dports []*dpdk.Port
	faults []*impair.Port
	pcap   *pcapWriter
}

// check validates the flags that need no DPDK, so bad input fails before
// EAL starts.
func (f *stackFlags) check() (stack.PollMode, impair.Config, netip.Addr, error) {
	var ic impair.Config
	var gw netip.Addr
	poll, err := stack.ParsePollMode(f.poll)
	if err != nil {
		return 0, ic, gw, usageErr("--poll: %v", err)
	}
	if f.lcores < 1 || f.lcores > 127 {
		return 0, ic, gw, usageErr("--lcores %d: want 1..127", f.lcores)
	}
	if len(f.ips) == 0 {
		return 0, ic, gw, usageErr("give at least one --ip CIDR (one per DPDK port)")
	}
	if strings.TrimSpace(f.eal) == "" {
		return 0, ic, gw, usageErr("--eal is required, e.g. --eal '--no-huge -m 256 --no-pci --vdev=net_af_packet0,iface=veth0'")
	}
	if f.impair != "" {
		if ic, err = impair.Parse(f.impair); err != nil {
			return 0, ic, gw, usageErr("--impair: %v", err)
		}
	}
	if f.gateway != "" {
		if gw, err = netip.ParseAddr(f.gateway); err != nil || !gw.Is4() {
			return 0, ic, gw, usageErr("--gateway %q is not an IPv4 address", f.gateway)
		}
		found := false
		for _, p := range f.ips {
			found = found || p.Contains(gw)
		}
		if !found {
			return 0, ic, gw, usageErr("--gateway %v is inside no --ip prefix", gw)
		}
	}
	return poll, ic, gw, nil
}

// start initialises EAL, opens one DPDK port per --ip, wraps them (pcap,
// impair), starts the stack and waits for the gratuitous ARP to leave.
// Errors from bad flags or from EAL are usage errors (exit status 2).
func (f *stackFlags) start(stderr io.Writer) (*stackEnv, error) {
	poll, ic, gw, err := f.check()
	if err != nil {
		return nil, err
	}
	log, err := newLogger(f.logLevel, stderr)
	if err != nil {
		return nil, err
	}
	env := &stackEnv{log: log}
	if err := dpdk.InitEAL(strings.Fields(f.eal)); err != nil {
		return nil, usageErr("%v", err)
	}
	ok := false
	defer func() {
		if !ok {
			env.close()
		}
	}()
	if f.pcap != "" {
		if env.pcap, err = newPcapWriter(f.pcap); err != nil {
			return nil, usageErr("--pcap: %v", err)
		}
	}
	var ifcs []stack.InterfaceConfig
	for i, addr := range f.ips {
		p, err := dpdk.OpenPort(dpdk.PortConfig{PortID: uint16(i), Queues: f.lcores, Logger: log})
		if err != nil {
			return nil, usageErr("port %d for --ip %v: %v", i, addr, err)
		}
		env.dports = append(env.dports, p)
		var port driver.Port = p
		if env.pcap != nil {
			port = env.pcap.wrap(port)
		}
		if ic.Enabled() {
			fp, err := impair.Wrap(port, ic)
			if err != nil {
				return nil, usageErr("--impair: %v", err)
			}
			env.faults = append(env.faults, fp)
			port = fp
		}
		ifc := stack.InterfaceConfig{Port: port, Addr: addr}
		if gw.IsValid() && addr.Contains(gw) {
			ifc.Gateway = gw
			gw = netip.Addr{}
		}
		ifcs = append(ifcs, ifc)
	}
	cfg := stack.Config{Softnets: f.lcores, Poll: poll, Logger: log, ThreadInit: dpdk.ThreadInit, ThreadExit: dpdk.ThreadExit}
	if env.st, err = stack.New(cfg, ifcs...); err != nil {
		return nil, usageErr("%v", err)
	}
	if err := env.st.Start(); err != nil {
		return nil, err
	}
	// The stack announces every interface with a gratuitous ARP on its
	// first poll; once those left, it answers ARP and ping.
	deadline := time.Now().Add(5 * time.Second)
	for env.st.Counters()[stack.ARPTx] < uint64(len(ifcs)) {
		if time.Now().After(deadline) {
			return nil, errors.New("the stack did not send its gratuitous ARP within 5s (did a softnet fail to start? see the log)")
		}
		time.Sleep(time.Millisecond)
	}
	ok = true
	return env, nil
}

// close stops the stack, closes the ports and the pcap file and cleans up
// EAL. It is safe on a partly started environment.
func (e *stackEnv) close() {
	if e.st != nil {
		e.st.Stop()
	}
	for _, p := range e.dports {
		if err := p.Close(); err != nil {
			e.log.Warn("closing port", zap.Error(err))
		}
	}
	if e.pcap != nil {
		if err := e.pcap.close(); err != nil {
			e.log.Warn("closing pcap file", zap.Error(err))
		}
	}
	if err := dpdk.Cleanup(); err != nil {
		e.log.Warn("EAL cleanup", zap.Error(err))
	}
	e.log.Sync()
}

// writeCounters prints the stack's non-zero counters, then a section per
// DPDK port with its counters in the same "name value" form
// (dpdk.Port.Counters: the port stats always, the binding's counters and
// DPDK's xstats when not zero), then faults and pcap.
func (e *stackEnv) writeCounters(w io.Writer) {
	c := e.st.Counters()
	fmt.Fprintf(w, "== counters (summed over %d softnets; drop_* are drops by reason)\n", e.st.NumSoftnets())
	c.WriteTo(w)
	for i, p := range e.dports {
		mode, reason := p.RSSMode()
		if mode == dpdk.SoftwareRSS {
			fmt.Fprintf(w, "== port %d %s (%s, %v: %s)\n", i, p.Name(), p.Driver(), mode, reason)
		} else {
			fmt.Fprintf(w, "== port %d %s (%s, %v)\n", i, p.Name(), p.Driver(), mode)
		}
		stats, err := p.Counters()
		for _, s := range stats {
			fmt.Fprintf(w, "%-24s %d\n", s.Name, s.Value)
		}
		if err != nil {
			fmt.Fprintf(w, "(no xstats: %v)\n", err)
		}
	}
	for i, f := range e.faults {
		s := f.Faults()
		fmt.Fprintf(w, "faults on port %d: dropped %d, duplicated %d, corrupted %d, reordered %d\n", i, s.Dropped, s.Duplicated, s.Corrupted, s.Reordered)
	}
	if e.pcap != nil {
		fmt.Fprintf(w, "pcap: %d frames written\n", e.pcap.frames())
	}
}

// portDrops sums what the ports dropped before the stack saw it or after
// it let go: rx_missed, rx_nobuf and tx_errors of every port.
func (e *stackEnv) portDrops() uint64 {
	var n uint64
	for _, p := range e.dports {
		s := p.Stats()
		n += s.RxMissed + s.RxNoBuf + s.TxErrors
	}
	return n
}
