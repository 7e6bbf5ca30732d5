package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/dpdk"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/stack"
)

// stackFlags are the flags of every subcommand that runs a stack on DPDK
// ports (serve, ping, connect, relay).
type stackFlags struct {
	eal     string
	ips     cidrList         // the IPv4 address of each port, in port order
	ips6    [][]netip.Prefix // the IPv6 addresses of each port (ipFlag)
	gateway string
	lcores  int
	poll    string
	log     *logFlags
	impair  string
	pcap    string
}

// logFlags are --log-level and --log-format, of every command that logs.
type logFlags struct {
	level, format string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.StringVar(&f.level, "log-level", "info", "`LEVEL`: debug, info, warn, error")
	fs.StringVar(&f.format, "log-format", "console", "`FORMAT` of the log on stderr: console (human-readable lines) or json (one JSON object a line)")
	return f
}

// check validates both flags: bad values are usage errors.
func (f *logFlags) check() error {
	if _, err := parseLogLevel(f.level); err != nil {
		return err
	}
	return parseLogFormat(f.format)
}

func parseLogFormat(format string) error {
	if format != "console" && format != "json" {
		return usageErr("--log-format %q: want console or json", format)
	}
	return nil
}

// logger returns the logger the flags ask for, writing to w: newLogger's
// console lines, or JSON objects with ISO 8601 times.
func (f *logFlags) logger(w io.Writer) (*zap.Logger, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.format == "console" {
		return newLogger(f.level, w)
	}
	lvl, _ := parseLogLevel(f.level)
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)), nil
}

// maxLcores is the most softnets of a stack, --lcores of every command:
// DPDK registers each softnet thread as an lcore (RTE_MAX_LCORE is 128,
// one is EAL's main lcore).
const maxLcores = 127

// lcoresHelp is --lcores's meaning, the same in every command.
const lcoresHelp = "softnets per stack: threads that each poll one queue pair of every port (1..127)"

func checkLcores(n int) error {
	if n < 1 || n > maxLcores {
		return usageErr("--lcores %d: want 1..%d (softnets per stack)", n, maxLcores)
	}
	return nil
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
	a := p.Addr()
	switch {
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%q: %v cannot be an interface address (unspecified, loopback, multicast or broadcast)", v, a)
	case p.Bits() < 1:
		return fmt.Errorf("%q: the prefix length must be 1..32", v)
	}
	for _, o := range *l {
		if o.Addr() == a {
			return fmt.Errorf("%q: address %v is given twice (one --ip per port)", v, a)
		}
	}
	*l = append(*l, p)
	return nil
}

// ipFlag is --ip: one value per port, in port order, a comma-separated
// list of CIDRs with exactly one IPv4 address (IPv6-only ports are not
// supported yet) and any number of IPv6 ones, e.g.
// 192.0.2.1/24,2001:db8:1::1/64. The IPv4 CIDRs go to stackFlags.ips,
// checked as ever (cidrList.Set), the IPv6 ones to stackFlags.ips6.
type ipFlag struct{ f *stackFlags }

func (v ipFlag) String() string {
	if v.f == nil {
		return ""
	}
	var ports []string
	for i, p := range v.f.ips {
		s := []string{p.String()}
		for _, q := range v.f.ips6[i] {
			s = append(s, q.String())
		}
		ports = append(ports, strings.Join(s, ","))
	}
	return strings.Join(ports, " ")
}

func (v ipFlag) Set(val string) error {
	f := v.f
	var v4 string
	var v6 []netip.Prefix
	for _, part := range strings.Split(val, ",") {
		if !strings.Contains(part, ":") {
			if v4 != "" {
				return fmt.Errorf("%q: two IPv4 CIDRs for one port (one IPv4 address per --ip)", val)
			}
			v4 = part
			continue
		}
		p, err := netip.ParsePrefix(part)
		a := p.Addr()
		switch {
		case err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "":
			return fmt.Errorf("%q is not an IPv6 CIDR such as 2001:db8:1::1/64", part)
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast():
			return fmt.Errorf("%q: %v cannot be an interface address (unspecified, loopback, multicast or link-local: the link-local address comes from the MAC)", part, a)
		case p.Bits() < 1:
			return fmt.Errorf("%q: the prefix length must be 1..128", part)
		}
		for _, port := range append(f.ips6, v6) {
			for _, o := range port {
				if o.Addr() == a {
					return fmt.Errorf("%q: address %v is given twice", part, a)
				}
			}
		}
		v6 = append(v6, p)
	}
	if v4 == "" {
		return fmt.Errorf("%q: each --ip needs one IPv4 CIDR such as 192.0.2.1/24 (IPv6-only ports are not supported yet)", val)
	}
	if err := f.ips.Set(v4); err != nil {
		return err
	}
	f.ips6 = append(f.ips6, v6)
	return nil
}

// local reports whether a is the address of one of the --ip interfaces.
func (l cidrList) local(a netip.Addr) bool {
	for _, p := range l {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// onLink reports whether a is inside one of the --ip prefixes.
func (l cidrList) onLink(a netip.Addr) bool {
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addStackFlags(fs *flag.FlagSet) *stackFlags {
	f := &stackFlags{}
	fs.StringVar(&f.eal, "eal", "", "DPDK EAL `ARGS`, split on spaces, e.g. '-l 0 -a 0000:3b:00.0' or '--no-huge -m 256 --no-pci --vdev=net_af_packet0,iface=veth0'")
	fs.Var(ipFlag{f}, "ip", "interface addresses and prefixes (`CIDR[,CIDR...]`), repeatable, one per DPDK port in port order: one IPv4 CIDR and any IPv6 ones (e.g. 192.0.2.1/24,2001:db8:1::1/64)")
	fs.StringVar(&f.gateway, "gateway", "", "default IPv4 gateway `IP`, inside one interface's prefix (no IPv6 gateway yet)")
	fs.IntVar(&f.lcores, "lcores", 1, lcoresHelp)
	fs.StringVar(&f.poll, "poll", "adaptive", "poll mode: busy (one CPU per softnet, lowest latency) or adaptive")
	f.log = addLogFlags(fs)
	fs.StringVar(&f.impair, "impair", "", "faults on every port's rx and tx, e.g. drop=1%,dup=0.5%,reorder=4,corrupt=0.1%,seed=1")
	fs.StringVar(&f.pcap, "pcap", "", "write every frame sent and received to this pcap `FILE` (debugging, not line rate)")
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

// checked is what check parsed.
type checked struct {
	poll   stack.PollMode
	impair impair.Config
	gw     netip.Addr
}

// check validates the flags that need no DPDK, so bad input fails before
// EAL starts: --eal and --ip are required.
func (f *stackFlags) check() (checked, error) { return f.checkAs(true) }

// checkAs validates the stack flags; without required, --eal and --ip may
// be missing (relay --check), and what is given is validated.
func (f *stackFlags) checkAs(required bool) (checked, error) {
	var c checked
	var err error
	if c.poll, err = stack.ParsePollMode(f.poll); err != nil {
		return c, usageErr("--poll %q: want busy or adaptive", f.poll)
	}
	if err := checkLcores(f.lcores); err != nil {
		return c, err
	}
	if err := f.log.check(); err != nil {
		return c, err
	}
	if required && len(f.ips) == 0 {
		return c, usageErr("give at least one --ip CIDR (one per DPDK port)")
	}
	if required && strings.TrimSpace(f.eal) == "" {
		return c, usageErr("--eal is required, e.g. --eal '--no-huge -m 256 --no-pci --vdev=net_af_packet0,iface=veth0'")
	}
	if f.impair != "" {
		if c.impair, err = impair.Parse(f.impair); err != nil {
			return c, usageErr("--impair: %v", err)
		}
	}
	if f.gateway != "" {
		if c.gw, err = netip.ParseAddr(f.gateway); err != nil || !c.gw.Is4() {
			return c, usageErr("--gateway %q is not an IPv4 address", f.gateway)
		}
		if f.ips.local(c.gw) {
			return c, usageErr("--gateway %v is the address of an --ip interface", c.gw)
		}
		if len(f.ips) > 0 && !f.ips.onLink(c.gw) {
			return c, usageErr("--gateway %v is inside no --ip prefix", c.gw)
		}
	}
	if f.pcap != "" {
		if err := checkNewFile(f.pcap); err != nil {
			return c, usageErr("--pcap: %v", err)
		}
	}
	return c, nil
}

// checkNewFile checks, without creating it, that path can be created or
// overwritten as a file: it is not a directory and its directory exists
// and is writable.
func checkNewFile(path string) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: directory %s: %v", path, dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return fmt.Errorf("%s: directory %s is not writable", path, dir)
	}
	return nil
}

// routable reports why dst cannot be reached from the --ip interfaces:
// it is inside no prefix and there is no --gateway (IPv4 only: IPv6 has
// no gateway yet, and link-local destinations are on every IPv6 port).
func (f *stackFlags) routable(dst netip.Addr) error {
	if dst.Is6() {
		for _, port := range f.ips6 {
			for _, p := range port {
				if p.Contains(dst.WithZone("")) || dst.IsLinkLocalUnicast() {
					return nil
				}
			}
		}
		return fmt.Errorf("%v is inside no IPv6 --ip prefix (IPv6 has no gateway yet)", dst)
	}
	if len(f.ips) == 0 || f.gateway != "" || f.ips.onLink(dst) {
		return nil
	}
	return fmt.Errorf("%v is inside no --ip prefix (%v) and no --gateway is given", dst, f.ips.String())
}

// start initialises EAL, opens one DPDK port per --ip, wraps them (pcap,
// impair), starts the stack and waits for the gratuitous ARP to leave.
// Errors from bad flags or from EAL are usage errors (exit status 2). The
// --pcap file is created only once every port is open, and removed again
// when the start fails.
func (f *stackFlags) start(stderr io.Writer) (*stackEnv, error) {
	c, err := f.check()
	if err != nil {
		return nil, err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return nil, err
	}
	env := &stackEnv{log: log}
	// DPDK's own lines (EAL, PMDs) go through the same logger, so that
	// --log-format json is JSON throughout.
	if err := dpdk.RouteLog(log.Named("dpdk")); err != nil {
		log.Warn("DPDK's log stays on stderr", zap.Error(err))
	}
	if err := dpdk.InitEAL(strings.Fields(f.eal)); err != nil {
		return nil, usageErr("--eal: %v", err)
	}
	ok := false
	defer func() {
		if !ok {
			created := env.pcap != nil
			env.close()
			if created {
				os.Remove(f.pcap)
			}
		}
	}()
	for i, addr := range f.ips {
		p, err := dpdk.OpenPort(dpdk.PortConfig{PortID: uint16(i), Queues: f.lcores, Logger: log})
		if err != nil {
			return nil, usageErr("--ip %v: port %d: %v%s", addr, i, err, portHint(err))
		}
		env.dports = append(env.dports, p)
	}
	if f.pcap != "" {
		if env.pcap, err = newPcapWriter(f.pcap); err != nil {
			return nil, usageErr("--pcap: %v", err)
		}
	}
	gw := c.gw
	var ifcs []stack.InterfaceConfig
	for i, addr := range f.ips {
		var port driver.Port = env.dports[i]
		if env.pcap != nil {
			port = env.pcap.wrap(port)
		}
		if c.impair.Enabled() {
			fp, err := impair.Wrap(port, c.impair)
			if err != nil {
				return nil, usageErr("--impair: %v", err)
			}
			env.faults = append(env.faults, fp)
			port = fp
		}
		ifc := stack.InterfaceConfig{Port: port, Addr: addr}
		if i < len(f.ips6) {
			ifc.Addr6 = f.ips6[i]
		}
		if gw.IsValid() && addr.Contains(gw) {
			ifc.Gateway = gw
			gw = netip.Addr{}
		}
		ifcs = append(ifcs, ifc)
	}
	cfg := stack.Config{Softnets: f.lcores, Poll: c.poll, Logger: log, ThreadInit: dpdk.ThreadInit, ThreadExit: dpdk.ThreadExit}
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

// portHint names the likely fix of a port that DPDK could not set up for
// lack of memory: its buffer pools grow with --lcores.
func portHint(err error) string {
	if strings.Contains(err.Error(), "Cannot allocate memory") || strings.Contains(err.Error(), "errno 12)") {
		return "; DPDK ran out of memory for the port's buffer pools (raise -m in --eal, add --no-huge -m 512, or lower --lcores)"
	}
	return ""
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
