package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/impair"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/gen"
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
	to := fs.String("to", "", "target: `tcp:IP:PORT` or udp:IP:PORT (required)")
	duration := fs.Duration("duration", 10*time.Second, "how long to start connections or send datagrams")
	rate := fs.Float64("rate", 0, "new TCP connections/s or UDP datagrams/s on a fixed schedule (0: as fast as possible)")
	conns := fs.Int("conns", 64, "most concurrent TCP connections")
	request := fs.Int64("request", 64, "TCP bytes sent per request (the i % 251 pattern)")
	response := fs.Int64("response", -1, "TCP bytes expected per request (default: --request, an echo; with --http 1024)")
	perConn := fs.Int("requests-per-conn", 1, "requests per TCP connection")
	useHTTP := fs.Bool("http", false, "send HTTP/1.1 GET /bytes/RESPONSE and verify status, Content-Length and the pattern (netsplice serve --http)")
	countOnly := fs.Bool("count-only", false, "check lengths only, not the byte pattern (servers that send other bytes)")
	size := fs.Int("size", 64, fmt.Sprintf("UDP payload bytes per datagram (%d..%d)", gen.MinUDPSize, gen.MaxUDPSize))
	flows := fs.Int("flows", 1, "UDP flows (source ports), spread over the softnets by RSS")
	noReply := fs.Bool("no-reply", false, "the UDP peer does not echo: count what is sent only")
	timeout := fs.Duration("timeout", 5*time.Second, "limit on a connect, on each request, and on the wait for the last UDP echoes")
	interval := fs.Duration("interval", time.Second, "report every DURATION")
	jsonOut := fs.Bool("json", false, "one JSON object per interval and a final one, instead of text")
	useMemwire := fs.Bool("memwire", false, "run on the in-memory wire against in-process services (echo on the --to port, or HTTP with --http)")
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
	if err := gen.Check(cfg); err != nil {
		return usageErr("%v", strings.TrimPrefix(err.Error(), gen.ErrConfig.Error()+": "))
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
		if st, log, cleanup, err = memwireGen(sf, target, *useHTTP, stderr); err != nil {
			return err
		}
	} else {
		if _, err := sf.check(); err != nil {
			return err
		}
		if err := sf.routable(target.Addr.Addr()); err != nil {
			return usageErr("--to %v", err)
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
// in-memory wire: the server has the --to address (its /24) and serves
// echo on the --to port (TCP or UDP), or HTTP /bytes/N with --http.
func memwireGen(sf *stackFlags, to gen.Target, useHTTP bool, stderr io.Writer) (*stack.Stack, *zap.Logger, func(), error) {
	c, _ := sf.checkAs(false)
	srvAddr := netip.PrefixFrom(to.Addr.Addr(), 24)
	a := srvAddr.Masked().Addr().As4()
	a[3] = genMemwireHost
	genAddr := netip.PrefixFrom(netip.AddrFrom4(a), 24)
	if genAddr.Addr() == to.Addr.Addr() {
		genAddr = netip.PrefixFrom(genAddr.Addr().Next(), 24)
	}
	if len(sf.ips) > 1 {
		return nil, nil, nil, usageErr("--memwire takes at most one --ip (the generator's address)")
	}
	if len(sf.ips) == 1 {
		genAddr = sf.ips[0]
		if genAddr.Addr() == to.Addr.Addr() {
			return nil, nil, nil, usageErr("--ip %v is the --to address: the in-memory server takes that one", genAddr)
		}
		if !genAddr.Contains(to.Addr.Addr()) {
			return nil, nil, nil, usageErr("--ip %v does not contain the --to address %v (the in-memory wire has no gateway)", genAddr, to.Addr.Addr())
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
	mk := func(name string, addr netip.Prefix) (*stack.Stack, error) {
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
		st, err := stack.New(stack.Config{Softnets: sf.lcores, Poll: c.poll, Logger: log}, stack.InterfaceConfig{Port: port, Addr: addr})
		if err != nil {
			return nil, err
		}
		stacks = append(stacks, st)
		return st, st.Start()
	}
	srv, err := mk("server", srvAddr)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
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
	st, err := mk("gen", genAddr)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return st, log, cleanup, nil
}
