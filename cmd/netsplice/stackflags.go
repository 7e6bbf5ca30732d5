package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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
	ips     cidrList         // the IPv4 address of each port, in port order (zero: IPv6-only)
	ips6    [][]netip.Prefix // the IPv6 addresses of each port (ipFlag)
	gateway string
	lcores  int
	poll    string
	log     *logFlags
	impair  string
	pcap    string
	synRing bool
	noGRO   bool
	noTSO   bool
	// tcpBuffer is each TCP connection's send and receive buffer (0: the
	// stack's default).
	tcpBuffer int
	// secondary are more addresses the ports answer for (gen --sources),
	// each given to the port whose prefix holds it (secondaryFor).
	secondary []netip.Addr
	neighbors neighborList
}

// neighborList is --neighbor, repeatable: static neighbour entries.
type neighborList []stack.Neighbor

func (l *neighborList) String() string {
	var s []string
	for _, n := range *l {
		s = append(s, n.Addr.String()+"="+n.MAC.String())
	}
	return strings.Join(s, ",")
}

func (l *neighborList) Set(v string) error {
	ip, mac, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("%q: want IP=MAC, e.g. 192.0.2.2=02:00:00:00:00:02", v)
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%q: %q is not an IP address", v, ip)
	}
	a = a.Unmap()
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || hw[0]&1 != 0 || [6]byte(hw) == [6]byte{} {
		return fmt.Errorf("%q: %q is not a unicast Ethernet address such as 02:00:00:00:00:02", v, mac)
	}
	for _, o := range *l {
		if o.Addr == a {
			return fmt.Errorf("%q: neighbour %v is given twice", v, a)
		}
	}
	*l = append(*l, stack.Neighbor{Addr: a, MAC: hw})
	return nil
}

// neighborsFor returns the --neighbor entries that belong on the port
// with IPv4 prefix p4 (may be zero) and IPv6 prefixes p6, port i: inside
// one of them, or link-local on the first port with IPv6 (port6).
func (f *stackFlags) neighborsFor(i int, p4 netip.Prefix, p6 []netip.Prefix) []stack.Neighbor {
	var out []stack.Neighbor
	for _, n := range f.neighbors {
		if inPrefixes(n.Addr, p4, p6) || n.Addr.IsLinkLocalUnicast() && f.port6(n.Addr) == i {
			out = append(out, n)
		}
	}
	return out
}

// onLink reports whether a is inside an --ip prefix of its family.
func (f *stackFlags) onLink(a netip.Addr) bool {
	if a.Is4() {
		return f.ips.onLink(a)
	}
	return f.port6(a) >= 0
}

// inPrefixes reports whether a is inside p4 (if valid) or one of p6.
func inPrefixes(a netip.Addr, p4 netip.Prefix, p6 []netip.Prefix) bool {
	if p4.IsValid() && p4.Contains(a) {
		return true
	}
	for _, p := range p6 {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secondaryFor returns the secondary addresses that belong on a port with
// IPv4 prefix p4 (may be zero) and IPv6 prefixes p6: inside one of them,
// and not the port's own address.
func (f *stackFlags) secondaryFor(p4 netip.Prefix, p6 []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, a := range f.secondary {
		own := a == p4.Addr()
		for _, p := range p6 {
			own = own || a == p.Addr()
		}
		if !own && inPrefixes(a, p4, p6) {
			out = append(out, a)
		}
	}
	return out
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

// cidrList is the IPv4 address of each --ip port, in port order; an
// IPv6-only port's entry is the zero Prefix.
type cidrList []netip.Prefix

func (l *cidrList) String() string {
	var s []string
	for _, p := range *l {
		if p.IsValid() {
			s = append(s, p.String())
		}
	}
	return strings.Join(s, ",")
}

// has4 reports whether some port has an IPv4 address.
func (l cidrList) has4() bool {
	for _, p := range l {
		if p.IsValid() {
			return true
		}
	}
	return false
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
// list of CIDRs with at most one IPv4 address and any number of IPv6
// ones, at least one in all, e.g. 192.0.2.1/24,2001:db8:1::1/64 or, for
// an IPv6-only port, 2001:db8:1::1/64. The IPv4 CIDRs go to
// stackFlags.ips, checked as ever (cidrList.Set; the zero Prefix for an
// IPv6-only port), the IPv6 ones to stackFlags.ips6.
type ipFlag struct{ f *stackFlags }

func (v ipFlag) String() string {
	if v.f == nil {
		return ""
	}
	var ports []string
	for i, p := range v.f.ips {
		var s []string
		if p.IsValid() {
			s = append(s, p.String())
		}
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
	has4 := false
	var v6 []netip.Prefix
	for _, part := range strings.Split(val, ",") {
		if !strings.Contains(part, ":") {
			if has4 {
				return fmt.Errorf("%q: two IPv4 CIDRs for one port (one IPv4 address per --ip)", val)
			}
			v4, has4 = part, true
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
	if has4 {
		if err := f.ips.Set(v4); err != nil {
			return err
		}
	} else {
		f.ips = append(f.ips, netip.Prefix{}) // an IPv6-only port
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

// local reports whether a is the address of one of the --ip interfaces,
// IPv4 or IPv6 (the link-local addresses, which come from the MACs, are
// not known here).
func (f *stackFlags) local(a netip.Addr) bool {
	if a.Is4() {
		return f.ips.local(a)
	}
	for _, port := range f.ips6 {
		for _, p := range port {
			if p.Addr() == a {
				return true
			}
		}
	}
	return false
}

// port6 returns the index of the port an IPv6 address a is on: the first
// whose IPv6 prefixes hold it; for a link-local address, the first port
// with IPv6 addresses. It returns -1 when none is.
func (f *stackFlags) port6(a netip.Addr) int {
	for i, port := range f.ips6 {
		if len(port) > 0 && a.IsLinkLocalUnicast() {
			return i
		}
		for _, p := range port {
			if p.Contains(a) {
				return i
			}
		}
	}
	return -1
}

// has6 reports whether some --ip port has IPv6 addresses.
func (f *stackFlags) has6() bool {
	for _, port := range f.ips6 {
		if len(port) > 0 {
			return true
		}
	}
	return false
}

// portString is port i's --ip value (its CIDRs, comma-separated).
func (f *stackFlags) portString(i int) string {
	var s []string
	if i < len(f.ips) && f.ips[i].IsValid() {
		s = append(s, f.ips[i].String())
	}
	if i < len(f.ips6) {
		for _, q := range f.ips6[i] {
			s = append(s, q.String())
		}
	}
	return strings.Join(s, ",")
}

// addrList lists the --ip addresses, IPv4 and IPv6, for messages.
func (f *stackFlags) addrList() string {
	var s []string
	for i, p := range f.ips {
		if p.IsValid() {
			s = append(s, p.Addr().String())
		}
		if i < len(f.ips6) {
			for _, q := range f.ips6[i] {
				s = append(s, q.Addr().String())
			}
		}
	}
	return strings.Join(s, ", ")
}

// parseGateway parses --gateway: at most one IPv4 and one IPv6 unicast
// address, comma-separated, in either order. It checks them on their own;
// checkAs checks them against the --ip interfaces.
func (f *stackFlags) parseGateway() (gw4, gw6 netip.Addr, err error) {
	if f.gateway == "" {
		return gw4, gw6, nil
	}
	for _, part := range strings.Split(f.gateway, ",") {
		a, perr := netip.ParseAddr(strings.TrimSpace(part))
		switch {
		case perr != nil || a.Is4In6():
			return gw4, gw6, usageErr("--gateway %q: %q is not an IPv4 or IPv6 address (give one per family, e.g. 192.0.2.254,2001:db8:1::fe)", f.gateway, part)
		case a.Zone() != "":
			return gw4, gw6, usageErr("--gateway %v: zones are not supported (a link-local gateway is on the first port with IPv6)", a)
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return gw4, gw6, usageErr("--gateway %v: want a unicast address (not unspecified, loopback, multicast or broadcast)", a)
		case a.Is4() && gw4.IsValid():
			return gw4, gw6, usageErr("--gateway %q: two IPv4 gateways (%v and %v); give at most one per family", f.gateway, gw4, a)
		case a.Is6() && gw6.IsValid():
			return gw4, gw6, usageErr("--gateway %q: two IPv6 gateways (%v and %v); give at most one per family", f.gateway, gw6, a)
		case a.Is4():
			gw4 = a
		default:
			gw6 = a
		}
	}
	return gw4, gw6, nil
}

func addStackFlags(fs *flag.FlagSet) *stackFlags {
	f := &stackFlags{}
	fs.StringVar(&f.eal, "eal", "", "DPDK EAL `ARGS`, split on spaces, e.g. '-l 0 -a 0000:3b:00.0' or '--no-huge -m 256 --no-pci --vdev=net_af_packet0,iface=veth0'")
	fs.Var(ipFlag{f}, "ip", "interface addresses and prefixes (`CIDR[,CIDR...]`), repeatable, one per DPDK port in port order: at most one IPv4 CIDR and any IPv6 ones (e.g. 192.0.2.1/24,2001:db8:1::1/64; 2001:db8:1::1/64 alone for an IPv6-only port)")
	fs.StringVar(&f.gateway, "gateway", "", "default gateways `IP[,IP]`, at most one per family: IPv4 inside an --ip prefix, IPv6 inside an --ip IPv6 prefix or link-local (fe80::/10, on the first port with IPv6), e.g. 192.0.2.254,2001:db8:1::fe")
	fs.IntVar(&f.lcores, "lcores", 1, lcoresHelp)
	fs.StringVar(&f.poll, "poll", "adaptive", "poll mode: busy (one CPU per softnet, lowest latency) or adaptive")
	f.log = addLogFlags(fs)
	fs.StringVar(&f.impair, "impair", "", "faults on every port's rx and tx, e.g. drop=1%,dup=0.5%,reorder=4,corrupt=0.1%,seed=1")
	fs.StringVar(&f.pcap, "pcap", "", "write every frame sent and received to this pcap `FILE` (debugging, not line rate)")
	fs.BoolVar(&f.noGRO, "no-gro", false, "turn off receive coalescing (software GRO: in-order segments of one TCP connection in a receive burst go through TCP input as one; tcp_rx_coalesced counts them; and the NIC's LRO where the PMD offers it), as ethtool -K DEV gro off does for the kernel")
	fs.IntVar(&f.tcpBuffer, "tcp-buffer", 0, "each TCP connection's send and receive buffer in `BYTES`, 4096 to 1073741824 (default 262144): the window a connection keeps in flight; raise it for fast long flows (a softnet descheduled for a millisecond idles a small window), at that much memory per busy connection")
	fs.BoolVar(&f.noTSO, "no-tso", false, "segment TCP in software even where the NIC offers TSO on chained mbufs (the port's log line says tcp-seg(hw...) or tcp-seg(sw)), as ethtool -K DEV tso off")
	fs.Var(&f.neighbors, "neighbor", "a static neighbour `IP=MAC`, repeatable: frames to IP (on an --ip prefix, or IPv6 link-local) go to MAC without ARP or Neighbor Discovery, and nothing heard changes it (a sink or a device under test that does not answer ARP), e.g. 192.0.2.2=02:00:00:00:00:02")
	fs.BoolVar(&f.synRing, "syn-ring", false, "give pure TCP SYNs a ring of their own, taken below established traffic, so that a SYN flood overflows that ring and not the softnets' queues (ports with software RSS: af_packet, tap, ring; a port with hardware RSS logs why it has none)")
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
	gw     netip.Addr // the IPv4 --gateway
	gw6    netip.Addr // the IPv6 --gateway
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
	if f.tcpBuffer != 0 && (f.tcpBuffer < 4096 || f.tcpBuffer > 1<<30) {
		return c, usageErr("--tcp-buffer %d: want 4096 to 1073741824 bytes", f.tcpBuffer)
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
	if f.synRing && (f.impair != "" || f.pcap != "") {
		return c, usageErr("--syn-ring cannot be combined with --impair or --pcap: the wrapped port has no SYN ring")
	}
	if c.gw, c.gw6, err = f.parseGateway(); err != nil {
		return c, err
	}
	if c.gw.IsValid() {
		if len(f.ips) > 0 && !f.ips.has4() {
			return c, usageErr("--gateway %v: an IPv4 gateway needs an IPv4 address on some --ip", c.gw)
		}
		if f.ips.local(c.gw) {
			return c, usageErr("--gateway %v is the address of an --ip interface", c.gw)
		}
		if len(f.ips) > 0 && !f.ips.onLink(c.gw) {
			return c, usageErr("--gateway %v is inside no --ip prefix", c.gw)
		}
	}
	if g := c.gw6; g.IsValid() && len(f.ips) > 0 {
		switch {
		case !f.has6():
			return c, usageErr("--gateway %v: an IPv6 gateway needs an IPv6 address on some --ip (e.g. --ip 192.0.2.1/24,2001:db8:1::1/64)", g)
		case f.local(g):
			return c, usageErr("--gateway %v is the address of an --ip interface", g)
		case f.port6(g) < 0:
			return c, usageErr("--gateway %v is inside no IPv6 --ip prefix and not link-local (fe80::/10)", g)
		}
	}
	for _, n := range f.neighbors {
		if len(f.ips) > 0 && (f.local(n.Addr) || !f.onLink(n.Addr)) {
			return c, usageErr("--neighbor %v: not another address inside an --ip prefix (or IPv6 link-local on a port with IPv6)", n.Addr)
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

// portGateways returns the gateways of each --ip port, in port order:
// the IPv4 --gateway goes to the first port whose prefix holds it, the
// IPv6 one to the first whose IPv6 prefixes hold it or, link-local, to
// the first port with IPv6 addresses.
func (f *stackFlags) portGateways(c checked) (gw4, gw6 []netip.Addr) {
	gw4, gw6 = make([]netip.Addr, len(f.ips)), make([]netip.Addr, len(f.ips))
	for i, p := range f.ips {
		if c.gw.IsValid() && p.Contains(c.gw) {
			gw4[i] = c.gw
			break
		}
	}
	if c.gw6.IsValid() {
		if i := f.port6(c.gw6); i >= 0 && i < len(gw6) {
			gw6[i] = c.gw6
		}
	}
	return gw4, gw6
}

// routable reports why dst cannot be reached from the --ip interfaces:
// it is inside no prefix of its family and there is no --gateway of its
// family (link-local IPv6 destinations are on the first IPv6 port).
// Without --ip (relay --check) every destination passes.
func (f *stackFlags) routable(dst netip.Addr) error {
	if len(f.ips) == 0 {
		return nil
	}
	gw4, gw6, _ := f.parseGateway()
	if dst.Is6() && !dst.Is4In6() {
		switch {
		case !f.has6():
			return fmt.Errorf("%v is IPv6 and no --ip has an IPv6 address (e.g. --ip 192.0.2.1/24,2001:db8:1::1/64)", dst)
		case gw6.IsValid() || f.port6(dst.WithZone("")) >= 0:
			return nil
		}
		return fmt.Errorf("%v is inside no IPv6 --ip prefix and no IPv6 --gateway is given", dst)
	}
	switch {
	case !f.ips.has4():
		return fmt.Errorf("%v is IPv4 and no --ip has an IPv4 address", dst)
	case gw4.IsValid() || f.ips.onLink(dst.Unmap()):
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
	for i := range f.ips {
		p, err := dpdk.OpenPort(dpdk.PortConfig{PortID: uint16(i), Queues: f.lcores, Logger: log, SYNRing: f.synRing, NoTSO: f.noTSO, NoLRO: f.noGRO})
		if err != nil {
			return nil, usageErr("--ip %v: port %d: %v%s", f.portString(i), i, err, portHint(err))
		}
		env.dports = append(env.dports, p)
	}
	if f.pcap != "" {
		if env.pcap, err = newPcapWriter(f.pcap); err != nil {
			return nil, usageErr("--pcap: %v", err)
		}
	}
	gw4, gw6 := f.portGateways(c)
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
		ifc.Secondary = f.secondaryFor(addr, ifc.Addr6)
		ifc.Neighbors = f.neighborsFor(i, addr, ifc.Addr6)
		ifc.Gateway, ifc.Gateway6 = gw4[i], gw6[i]
		ifcs = append(ifcs, ifc)
	}
	cfg := stack.Config{Softnets: f.lcores, Poll: c.poll, Logger: log, ThreadInit: dpdk.ThreadInit, ThreadExit: dpdk.ThreadExit,
		TCP: stack.TCPConfig{NoCoalesce: f.noGRO, SendBuffer: f.tcpBuffer, RecvBuffer: f.tcpBuffer}}
	if env.st, err = stack.New(cfg, ifcs...); err != nil {
		return nil, usageErr("%v", err)
	}
	if err := env.st.Start(); err != nil {
		return nil, err
	}
	// The stack announces every interface with an IPv4 address with a
	// gratuitous ARP on its first poll; once those left, it answers ARP
	// and ping. IPv6-only interfaces announce nothing: then every softnet
	// has polled once.
	var n4 uint64
	for _, ifc := range ifcs {
		if ifc.Addr.IsValid() {
			n4++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := env.st.Counters()
		if n4 > 0 && c[stack.ARPTx] >= n4 || n4 == 0 && c[stack.Loops] >= uint64(env.st.NumSoftnets()) {
			break
		}
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
