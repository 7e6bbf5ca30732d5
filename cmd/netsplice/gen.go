package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/gen"
	"github.com/netsplice/netsplice/iperf3"
	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
)

// genMemwireHost is the last byte of the generator's address on the
// in-memory wire when --ip is not given: inside the --to address's /24
// (the next one when --to is that address).
const genMemwireHost = 1

func runGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", stdout,
		"usage: netsplice gen --eal 'EAL ARGS' --ip CIDR --to tcp|udp:IP:PORT [--rate N] [--duration D] [flags]",
		"       netsplice gen --memwire --to tcp|udp:IP:PORT [flags]",
		"Generates stateful TCP connections (echo requests or HTTP GET /bytes/N, verified) or UDP datagrams",
		"(echo round trips) at --rate on an open-loop schedule, with latency percentiles corrected for",
		"coordinated omission. --memwire runs it on the in-memory wire against netsplice serve's services in",
		"this process (no DPDK). Exit status: 0 when the rate was held and nothing failed, 1 otherwise (the",
		"reasons on stderr), 2 for bad input.")
	sf := addStackFlags(fs)
	mf := addMetricsFlag(fs)
	to := fs.String("to", "", "target: `tcp:IP:PORT` or udp:IP:PORT, IPv4 or IPv6 in brackets (tcp:[2001:db8:1::2]:80) (required)")
	duration := fs.Duration("duration", 10*time.Second, "how long to start connections or send datagrams")
	rate := fs.Float64("rate", 0, "new TCP connections/s or UDP datagrams/s on a fixed schedule (0: as fast as possible)")
	conns := fs.Int("conns", 64, "most concurrent TCP connections")
	request := fs.Int64("request", 64, "TCP bytes sent per request (the i % 251 pattern)")
	response := fs.Int64("response", -1, "TCP bytes expected per request (default: --request, an echo; with --http 1024)")
	perConn := fs.Int("requests-per-conn", 1, "requests per TCP connection")
	useHTTP := fs.Bool("http", false, "send HTTP/1.1 GET /bytes/RESPONSE and verify status, Content-Length and the pattern (netsplice serve --http)")
	countOnly := fs.Bool("count-only", false, "check lengths only, not the byte pattern (servers that send other bytes)")
	size := fs.Int("size", 64, fmt.Sprintf("UDP payload bytes per datagram (%d..%d; ..%d over IPv6)", gen.MinUDPSize, gen.MaxUDPSize, gen.MaxUDPSize6))
	flows := fs.Int("flows", 1, "UDP flows (source ports), spread over the softnets by RSS")
	sources := fs.String("sources", "", "source addresses, in turn per connection or flow: `IP-IP` ranges or single IPs, comma separated, each inside an --ip prefix (the port answers for them); default: the port's address")
	noReply := fs.Bool("no-reply", false, "the UDP peer does not echo: count what is sent only")
	timeout := fs.Duration("timeout", 5*time.Second, "limit on a connect, on each request, and on the wait for the last UDP echoes")
	interval := fs.Duration("interval", time.Second, "report every DURATION")
	jsonOut := fs.Bool("json", false, "one JSON object per interval and a final one, instead of text")
	useMemwire := fs.Bool("memwire", false, "run on the in-memory wire against in-process services (echo on the --to port, HTTP with --http, an iperf3 server with --iperf3)")
	var io3 iperfFlags
	fs.BoolVar(&io3.on, "iperf3", false, "run one iperf3 3.x test against the iperf3 server at --to (tcp:IP:5201; udp:IP:PORT for a UDP test) instead of gen's own workload, for --duration")
	fs.IntVar(&io3.parallel, "parallel", 1, "iperf3: parallel streams (-P), 1..128")
	fs.BoolVar(&io3.reverse, "reverse", false, "iperf3: the server sends (-R)")
	fs.BoolVar(&io3.bidir, "bidir", false, "iperf3: both directions at once (--bidir)")
	fs.Float64Var(&io3.bitrate, "bitrate", 0, "iperf3: bits/s per stream (-b; 0: unlimited for TCP, 1 Mbit/s for UDP, as iperf3)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if *to == "" {
		return usageErr("--to is required: tcp:IP:PORT or udp:IP:PORT")
	}
	target, err := gen.ParseTarget(*to)
	if err != nil {
		return usageErr("--to %v", err)
	}
	cfg := gen.Config{
		To: target, Duration: *duration, Rate: *rate, Conns: *conns, Request: *request,
		RequestsPerConn: *perConn, HTTP: *useHTTP, CountOnly: *countOnly, Size: *size, Flows: *flows,
		NoReply: *noReply, Timeout: *timeout, Interval: *interval,
	}
	switch {
	case *response == 0:
		cfg.Response = gen.ResponseNone // a discard server
	case *response > 0:
		cfg.Response = *response
	case *response < -1:
		return usageErr("--response %d: want 0 or more bytes", *response)
	}
	// Zero means "the default" to gen.Config; on the command line it is
	// a mistake.
	for _, f := range []struct {
		name string
		v    int64
	}{{"conns", int64(*conns)}, {"requests-per-conn", int64(*perConn)}, {"flows", int64(*flows)}, {"size", int64(*size)}} {
		if f.v <= 0 {
			return usageErr("--%s %d: want 1 or more", f.name, f.v)
		}
	}
	if *duration <= 0 {
		return usageErr("--duration %v: want more than 0", *duration)
	}
	if target.Proto == "tcp" && !*useHTTP && *request == 0 {
		return usageErr("--request 0: a TCP request needs at least one byte (or --http)")
	}
	if *timeout <= 0 {
		return usageErr("--timeout %v: want more than 0", *timeout)
	}
	if io3.on {
		if err := io3.check(*useHTTP, *rate); err != nil {
			return err
		}
	} else {
		if *sources != "" {
			if cfg.Sources, err = parseSources(*sources, target.Addr.Addr().Is4()); err != nil {
				return usageErr("--sources %v", err)
			}
			sf.secondary = cfg.Sources
		}
		if err := gen.Check(cfg); err != nil {
			return usageErr("%v", strings.TrimPrefix(err.Error(), gen.ErrConfig.Error()+": "))
		}
	}

	if err := mf.listen(); err != nil {
		return err
	}
	defer mf.close()
	var st *stack.Stack
	var log *zap.Logger
	var cleanup func()
	if *useMemwire {
		if sf.eal != "" {
			return usageErr("--memwire runs without DPDK: drop --eal")
		}
		if _, err := sf.checkAs(false); err != nil {
			return err
		}
		if st, log, cleanup, err = memwireGen(sf, target, *useHTTP, io3.on, stderr); err != nil {
			return err
		}
	} else {
		if _, err := sf.check(); err != nil {
			return err
		}
		if err := sf.routable(target.Addr.Addr()); err != nil {
			return usageErr("--to %v", err)
		}
		for _, a := range cfg.Sources {
			if !sf.onLink(a) {
				return usageErr("--sources %v is inside no --ip prefix", a)
			}
		}
		env, err := sf.start(stderr)
		if err != nil {
			return err
		}
		st, log, cleanup = env.st, env.log, env.close
	}
	defer cleanup()
	met := mf.serve(st, nil, log)
	cfg.Live = &gen.Live{}
	met.AddGenerator(cfg.Live)
	met.SetReady()
	defer met.SetDraining()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if io3.on {
		return io3.run(ctx, st, target, *duration, *jsonOut, stdout, log)
	}
	var mu sync.Mutex
	emit := func(r gen.Report) {
		mu.Lock()
		defer mu.Unlock()
		if *jsonOut {
			b, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			fmt.Fprintln(stdout, r.Line())
		}
	}
	cfg.OnInterval = emit
	r, err := gen.Run(ctx, st, cfg)
	if err != nil {
		if errors.Is(err, gen.ErrConfig) {
			return usageErr("%v", err)
		}
		return err
	}
	emit(r)
	if !r.OK {
		return fmt.Errorf("not ok: %s", strings.Join(r.Why, "; "))
	}
	return nil
}

// memwireGen starts the generator's stack and a server stack on an
// in-memory wire: the server has the --to address (its /24, or its /64
// for an IPv6 --to) and serves echo on the --to port (TCP or UDP), or
// HTTP /bytes/N with --http.
func memwireGen(sf *stackFlags, to gen.Target, useHTTP, iperfServer bool, stderr io.Writer) (*stack.Stack, *zap.Logger, func(), error) {
	c, _ := sf.checkAs(false)
	if len(sf.ips) > 1 {
		return nil, nil, nil, usageErr("--memwire takes at most one --ip (the generator's address)")
	}
	gen4, gen6, srv4, srv6, err := memwireAddrs(sf, to.Addr.Addr())
	if err != nil {
		return nil, nil, nil, err
	}
	for _, a := range sf.secondary {
		if a == srv4.Addr() || slices.ContainsFunc(srv6, func(p netip.Prefix) bool { return p.Addr() == a }) {
			return nil, nil, nil, usageErr("--sources %v is the in-memory server's address", a)
		}
		if !inPrefixes(a, gen4, gen6) {
			return nil, nil, nil, usageErr("--sources %v is inside none of the generator's prefixes (%v)", a, prefixList(gen4, gen6))
		}
	}
	log, err := sf.log.logger(stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	w := memwire.New()
	var stacks []*stack.Stack
	cleanup := func() {
		for _, st := range stacks {
			st.Stop()
		}
		log.Sync()
	}
	mk := func(name string, addr netip.Prefix, addr6 []netip.Prefix) (*stack.Stack, error) {
		p, err := w.AddPort(memwire.Config{Name: name, Queues: sf.lcores, PoolSize: 16384, RingSize: 1024})
		if err != nil {
			return nil, err
		}
		var port driver.Port = p
		if name == "gen" && c.impair.Enabled() {
			if port, err = impair.Wrap(port, c.impair); err != nil {
				return nil, usageErr("--impair: %v", err)
			}
		}
		ifc := stack.InterfaceConfig{Port: port, Addr: addr, Addr6: addr6}
		if name == "gen" {
			ifc.Secondary = sf.secondaryFor(addr, addr6)
		}
		st, err := stack.New(stack.Config{Softnets: sf.lcores, Poll: c.poll, Logger: log, LockThreads: true, TCP: stack.TCPConfig{NoCoalesce: sf.noGRO, SendBuffer: sf.tcpBuffer, RecvBuffer: sf.tcpBuffer}}, ifc)
		if err != nil {
			return nil, err
		}
		stacks = append(stacks, st)
		return st, st.Start()
	}
	srv, err := mk("server", srv4, srv6)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	if iperfServer {
		l, err := srv.ListenTCP(netip.AddrPortFrom(netip.IPv6Unspecified(), to.Addr.Port()), 0)
		if err != nil {
			cleanup()
			return nil, nil, nil, fmt.Errorf("in-memory iperf3 server: %w", err)
		}
		stop, err := startIperf3(l, func(laddr netip.AddrPort) (iperf3.UDPConn, error) { return srv.ListenUDP(laddr, nil) }, log, io.Discard)
		if err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		prev := cleanup
		cleanup = func() { stop(); prev() }
		st, err := mk("gen", gen4, gen6)
		if err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		return st, log, cleanup, nil
	}
	spec := service.Spec{Kind: service.Echo, Proto: to.Proto, Port: to.Addr.Port()}
	if useHTTP {
		spec.Kind = service.HTTP
	}
	if _, closer, err := service.Start(srv, spec); err != nil {
		cleanup()
		return nil, nil, nil, fmt.Errorf("in-memory %v: %w", spec, err)
	} else {
		prev := cleanup
		cleanup = func() { closer.Close(); prev() }
	}
	st, err := mk("gen", gen4, gen6)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return st, log, cleanup, nil
}

// memwireAddrs picks the addresses of gen --memwire's two stacks. For an
// IPv4 --to the server has it in a /24 and the generator host
// genMemwireHost of that /24 (the next address when --to is that one),
// or its one --ip, which must hold --to. For an IPv6 --to the server has
// it in a /64 and the generator host genMemwireHost of that /64, or its
// --ip's IPv6 prefixes, one of which must hold --to; the generator's IPv4
// address is 198.51.100.1/24 or its --ip's, the server's the next one
// (none when the --ip is IPv6-only).
func memwireAddrs(sf *stackFlags, dst netip.Addr) (gen4 netip.Prefix, gen6 []netip.Prefix, srv4 netip.Prefix, srv6 []netip.Prefix, err error) {
	if dst.Is4() {
		srv4 = netip.PrefixFrom(dst, 24)
		a := srv4.Masked().Addr().As4()
		a[3] = genMemwireHost
		gen4 = netip.PrefixFrom(netip.AddrFrom4(a), 24)
		if gen4.Addr() == dst {
			gen4 = netip.PrefixFrom(gen4.Addr().Next(), 24)
		}
		if len(sf.ips) == 1 {
			gen4, gen6 = sf.ips[0], sf.ips6[0]
			if gen4.Addr() == dst {
				return gen4, gen6, srv4, srv6, usageErr("--ip %v is the --to address: the in-memory server takes that one", gen4)
			}
			if !gen4.Contains(dst) {
				return gen4, gen6, srv4, srv6, usageErr("--ip %v does not contain the --to address %v (the in-memory wire has no gateway)", sf.portString(0), dst)
			}
		}
		return gen4, gen6, srv4, srv6, nil
	}
	if dst.IsLinkLocalUnicast() {
		return gen4, gen6, srv4, srv6, usageErr("--memwire --to %v: a link-local address cannot be the in-memory server's (give a global one, e.g. 2001:db8::2)", dst)
	}
	srv6 = []netip.Prefix{netip.PrefixFrom(dst, 64)}
	a := srv6[0].Masked().Addr().As16()
	a[15] = genMemwireHost
	g := netip.AddrFrom16(a)
	if g == dst {
		g = g.Next()
	}
	gen4, gen6 = netip.MustParsePrefix("198.51.100.1/24"), []netip.Prefix{netip.PrefixFrom(g, 64)}
	if len(sf.ips) == 1 {
		gen4, gen6 = sf.ips[0], sf.ips6[0]
		if sf.local(dst) {
			return gen4, gen6, srv4, srv6, usageErr("--ip %v is the --to address: the in-memory server takes that one", dst)
		}
		if sf.port6(dst) < 0 {
			return gen4, gen6, srv4, srv6, usageErr("--ip %v has no IPv6 prefix holding the --to address %v (the in-memory wire has no gateway)", (ipFlag{sf}).String(), dst)
		}
	}
	if !gen4.IsValid() {
		return gen4, gen6, srv4, srv6, nil // an IPv6-only --ip: both stacks IPv6-only
	}
	srv4 = netip.PrefixFrom(gen4.Addr().Next(), gen4.Bits())
	if !gen4.Contains(srv4.Addr()) || srv4.Addr() == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		srv4 = netip.PrefixFrom(gen4.Addr().Prev(), gen4.Bits())
	}
	return gen4, gen6, srv4, srv6, nil
}

// iperfFlags are gen's iperf3 client flags.
type iperfFlags struct {
	on             bool
	parallel       int
	reverse, bidir bool
	bitrate        float64
}

func (f *iperfFlags) check(useHTTP bool, rate float64) error {
	switch {
	case useHTTP:
		return usageErr("--iperf3 runs iperf3's test, not HTTP: drop --http")
	case rate != 0:
		return usageErr("--iperf3 takes --bitrate (bits/s per stream), not --rate")
	case f.parallel < 1 || f.parallel > iperf3.MaxStreams:
		return usageErr("--parallel %d: want 1..%d", f.parallel, iperf3.MaxStreams)
	case f.reverse && f.bidir:
		return usageErr("--reverse and --bidir together: pick one (as iperf3)")
	case f.bitrate < 0 || f.bitrate != f.bitrate || f.bitrate > 1e15:
		return usageErr("--bitrate %v: want 0 (unlimited) or bits/s", f.bitrate)
	}
	return nil
}

// iperfReport is gen --iperf3's final report, in gen's JSON shape where
// the fields mean the same: bytes this client sent and received, and
// the server's own figures from iperf3's results exchange.
type iperfReport struct {
	Type           string   `json:"type"`
	Proto          string   `json:"proto"`
	Workload       string   `json:"workload"`
	Seconds        float64  `json:"seconds"`
	Parallel       int      `json:"parallel"`
	Reverse        bool     `json:"reverse"`
	Bidir          bool     `json:"bidir"`
	Sent           uint64   `json:"sent"`
	Received       uint64   `json:"received"`
	ServerReceived uint64   `json:"server_received"`
	ServerSent     uint64   `json:"server_sent"`
	Gbps           float64  `json:"gbps"`
	Lost           uint64   `json:"lost"`
	LostPercent    float64  `json:"lost_percent"`
	JitterUs       float64  `json:"jitter_us"`
	OK             bool     `json:"ok"`
	Why            []string `json:"why,omitempty"`
}

// run runs one iperf3 test from st against the server at to.
func (f *iperfFlags) run(ctx context.Context, st *stack.Stack, to gen.Target, d time.Duration, asJSON bool, stdout io.Writer, log *zap.Logger) error {
	dial := func(ctx context.Context, network string, raddr netip.AddrPort) (net.Conn, error) {
		if network == "udp" {
			c, err := st.DialUDP(netip.AddrPort{}, raddr, nil)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		c, err := st.DialTCP(ctx, netip.AddrPort{}, raddr)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	cfg := iperf3.ClientConfig{
		Server: to.Addr, Dial: dial, UDP: to.Proto == "udp", Duration: d,
		Parallel: f.parallel, Reverse: f.reverse, Bidir: f.bidir, Bitrate: uint64(f.bitrate),
		Logger: log.Named("iperf3"),
	}
	res, err := iperf3.Run(ctx, cfg)
	r := iperfReport{Type: "final", Proto: to.Proto, Workload: "iperf3", Parallel: f.parallel, Reverse: f.reverse, Bidir: f.bidir, OK: err == nil}
	if err != nil {
		r.Why = []string{err.Error()}
	} else {
		r.Seconds = res.Duration.Seconds()
		var jitter []time.Duration
		if u := res.Upload; u != nil {
			r.Sent, r.ServerReceived = u.Sent.Bytes, u.Received.Bytes
			r.Lost += u.LostPackets
			jitter = append(jitter, u.Jitter)
		}
		if dl := res.Download; dl != nil {
			r.Received, r.ServerSent = dl.Received.Bytes, dl.Sent.Bytes
			r.Lost += dl.LostPackets
			jitter = append(jitter, dl.Jitter)
		}
		var packets uint64
		for _, t := range []*iperf3.Transfer{res.Upload, res.Download} {
			if t != nil {
				packets += t.Packets
			}
		}
		if packets > 0 {
			r.LostPercent = 100 * float64(r.Lost) / float64(packets)
		}
		for _, j := range jitter {
			r.JitterUs = max(r.JitterUs, float64(j)/float64(time.Microsecond))
		}
		if r.Seconds > 0 {
			r.Gbps = float64(max(r.ServerReceived, r.Sent)+max(r.Received, r.ServerSent)) * 8 / r.Seconds / 1e9
		}
		if r.Sent+r.Received+r.ServerReceived+r.ServerSent == 0 {
			// Every write failed (the iperf3 client retries after
			// errors, as iperf3 does): a test that moved nothing.
			err = errors.New("the test moved no data")
			r.OK, r.Why = false, []string{err.Error()}
		}
	}
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "iperf3 %s %.1fs, %d streams, reverse %v, bidir %v: sent %d bytes (server received %d), received %d bytes (server sent %d); %.3f Gbit/s",
			r.Proto, r.Seconds, r.Parallel, r.Reverse, r.Bidir, r.Sent, r.ServerReceived, r.Received, r.ServerSent, r.Gbps)
		if r.Proto == "udp" {
			fmt.Fprintf(stdout, "; lost %d (%.2f%%), jitter %.0fus", r.Lost, r.LostPercent, r.JitterUs)
		}
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return fmt.Errorf("iperf3: %w", err)
	}
	return nil
}

// parseSources parses gen's --sources: comma-separated IPs and IP-IP
// ranges, all IPv4 (v4) or all IPv6, at most gen.MaxSources addresses,
// none twice.
func parseSources(s string, v4 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := make(map[netip.Addr]bool)
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: want IP or IP-IP ranges, comma separated", part)
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, fmt.Errorf("%q: want IP or IP-IP ranges, comma separated", part)
			}
		}
		switch {
		case a.Is4() != v4 || b.Is4() != v4 || a.Is4In6() || b.Is4In6():
			return nil, fmt.Errorf("%q: the sources must be of the --to address's family", part)
		case a.Zone() != "" || b.Zone() != "":
			return nil, fmt.Errorf("%q: zones are not supported", part)
		case b.Less(a):
			return nil, fmt.Errorf("%q: the range ends before it starts", part)
		}
		for x := a; ; x = x.Next() {
			if len(out) >= gen.MaxSources {
				return nil, fmt.Errorf("%q: more than %d addresses", s, gen.MaxSources)
			}
			if x.IsUnspecified() || x.IsMulticast() || x.IsLoopback() {
				return nil, fmt.Errorf("%v: not a unicast address", x)
			}
			if seen[x] {
				return nil, fmt.Errorf("%v given twice", x)
			}
			seen[x] = true
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// prefixList prints an IPv4 prefix (if valid) and IPv6 ones, comma
// separated.
func prefixList(p4 netip.Prefix, p6 []netip.Prefix) string {
	var s []string
	if p4.IsValid() {
		s = append(s, p4.String())
	}
	for _, p := range p6 {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}
