package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/splice"
)

// runRelay runs the relay appliance: every --listen is relayed to the
// --to at the same position (or the relays of a --config file), TCP
// connections and UDP sessions with both directions spliced in the stack.
func runRelay(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("relay", stdout,
		"usage: netsplice relay --eal 'EAL ARGS' --ip CIDR (--listen PROTO:IP:PORT --to PROTO:IP:PORT)... [flags]",
		"       netsplice relay --eal 'EAL ARGS' --ip CIDR --config relays.yaml [flags]",
		"       netsplice relay --check [flags] (--config relays.yaml | --listen ... --to ...)",
		"Relays TCP connections and UDP sessions with both directions spliced in the stack; SIGINT or SIGTERM drains and stops it.",
		"SIGHUP reloads the --config file: checked in full first (a bad file is logged and the running relays stay), then new",
		"relays listen, removed ones stop accepting and drain (--drain-timeout), changed ones apply to new connections only.",
		"--check validates the flags and the relays and exits (0: configuration OK, 2: the reason on stderr) without starting",
		"DPDK; --eal and --ip are then optional, and when --ip is given the relays are checked against it too (listen addresses,",
		"backends inside an --ip prefix or behind --gateway, no relay to itself).",
		"The --config file is one YAML document of at most 1 MiB: relays: [{listen, to, max, idle, max_sessions}], max and",
		"max_sessions whole numbers, idle a duration; a relay's missing fields take --max and --idle.")
	sf := addStackFlags(fs)
	mf := addMetricsFlag(fs)
	var listens, tos endpointList
	fs.Var(&listens, "listen", "accept here, repeatable: `PROTO:IP:PORT`, tcp:IP:PORT or udp:IP:PORT, IPv6 in brackets (tcp:[2001:db8:1::1]:80); the IP may be 0.0.0.0 (IPv4) or [::] (both families)")
	fs.Var(&tos, "to", "relay the --listen at the same position to this backend, repeatable: `PROTO:IP:PORT`, tcp:IP:PORT or udp:IP:PORT, IPv4 or IPv6 in brackets, either family whatever the --listen's")
	config := fs.String("config", "", "YAML `FILE` of relays (relays: [{listen, to, max, idle, max_sessions}]), instead of --listen/--to")
	check := fs.Bool("check", false, "validate the flags and relays, print \"configuration OK\" and exit without starting DPDK (as relayd -n)")
	maxBytes := fs.Int64("max", 0, "bytes per direction (TCP: then the receiver gets EOF; UDP: per session, whole datagrams) (0: no limit)")
	idle := fs.Duration("idle", 0, "end a direction idle this long, as relayd (0: never; not given: never for TCP, 30s for UDP sessions)")
	maxSessions := fs.Int("max-sessions", 4096, "UDP: live sessions per relay; datagrams of further new clients are dropped and counted")
	modeFlag := fs.String("mode", "softnet", "splice mode: softnet (on the flow's softnet), dedicated (one splice thread) or copy (goroutine per connection)")
	drain := fs.Duration("drain-timeout", 5*time.Second, "on SIGINT/SIGTERM, how long relayed connections may finish")
	stats := fs.Duration("stats", 0, "print counters every DURATION (0: only at exit)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	mode, err := splice.ParseMode(*modeFlag)
	if err != nil {
		return usageErr("--mode %q: want softnet, dedicated or copy", *modeFlag)
	}
	switch {
	case *maxBytes < 0:
		return usageErr("--max %d must not be negative", *maxBytes)
	case *idle < 0:
		return usageErr("--idle %v must not be negative (0: never)", *idle)
	case *drain < 0:
		return usageErr("--drain-timeout %v must not be negative", *drain)
	case *stats < 0:
		return usageErr("--stats %v must not be negative", *stats)
	case *maxSessions < 1:
		return usageErr("--max-sessions %d: want at least 1", *maxSessions)
	}
	def := relayDefaults{Max: *maxBytes, Idle: *idle, IdleSet: wasSet(fs, "idle")}
	// loadConfig reads and checks the --config file, at start and on
	// SIGHUP alike.
	loadConfig := func() ([]relaySpec, error) {
		specs, err := loadRelayConfig(*config, def)
		if err != nil {
			return nil, err
		}
		for i := range specs {
			if specs[i].MaxSessions == 0 {
				specs[i].MaxSessions = *maxSessions
			}
		}
		if err := checkRelays(specs, sf); err != nil {
			return nil, err
		}
		return specs, nil
	}
	var specs []relaySpec
	switch {
	case *config != "" && len(listens)+len(tos) > 0:
		return usageErr("give either --config or --listen/--to pairs, not both")
	case *config != "":
		if specs, err = loadRelayConfig(*config, def); err != nil {
			return usageErr("--config: %v", err)
		}
	case len(listens) == 0 || len(listens) != len(tos):
		return usageErr("give --listen and --to in pairs (%d --listen, %d --to), or --config", len(listens), len(tos))
	default:
		for i := range listens {
			s := relaySpec{Listen: listens[i], To: tos[i], Max: *maxBytes, Idle: defaultIdle(listens[i].Proto, def),
				Where: fmt.Sprintf("relay %d (--listen %v --to %v)", i+1, listens[i], tos[i])}
			if err := s.check(); err != nil {
				return usageErr("%s: %v", s.Where, err)
			}
			specs = append(specs, s)
		}
	}
	for i := range specs {
		if specs[i].MaxSessions == 0 {
			specs[i].MaxSessions = *maxSessions
		}
	}
	if _, err := sf.checkAs(!*check); err != nil {
		return err
	}
	if err := checkRelays(specs, sf); err != nil {
		return usageErr("%v", err)
	}
	if err := mf.check(); err != nil {
		return err
	}
	if *check {
		what := "without --ip: listen addresses and backends not checked against interfaces"
		if len(sf.ips) > 0 {
			what = fmt.Sprintf("checked against %d --ip interfaces", len(sf.ips))
		}
		fmt.Fprintf(stdout, "configuration OK: %d relays (%s)\n", len(specs), what)
		return nil
	}
	if err := mf.listen(); err != nil {
		return err
	}
	defer mf.close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	// SIGHUP reloads --config; it neither stops nor kills the relay.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	env, err := sf.start(stderr)
	if err != nil {
		return err
	}
	defer env.close()
	sp := splice.New(mode)
	defer sp.Close()
	met := mf.serve(env.st, sp, env.log)
	if *config != "" {
		met.ConfigLoaded(time.Now())
	}
	rs := &relaySet{st: env.st, sp: sp, met: met, log: env.log, drain: *drain}
	for _, spec := range specs {
		r, err := rs.start(spec)
		if err != nil {
			rs.closeNow()
			return usageErr("%s: listen %v: %v", spec.Where, spec.Listen, err)
		}
		rs.relays = append(rs.relays, r)
	}
	met.SetReady()
	fmt.Fprintf(stdout, "netsplice relay: ready: %d relays, mode %v, %d softnets\n", len(rs.relays), mode, env.st.NumSoftnets())
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
		for _, r := range rs.relays {
			if r.tcp != nil {
				s := r.tcp.Stats()
				fmt.Fprintf(stdout, "relay %v -> %v: accepted %d relayed %d active %d dial_failed %d resets %d\n",
					r.spec.Listen, r.spec.To, s.Accepted, s.Relayed, s.Active, s.DialFailed, s.Resets)
				continue
			}
			s := r.udp.Stats()
			fmt.Fprintf(stdout, "relay %v -> %v: sessions %d ended %d active %d refused %d failed %d backlog_drops %d oversize %d\n",
				r.spec.Listen, r.spec.To, s.Sessions, s.Ended, s.Active, s.Refused, s.Failed, s.BacklogDrops, s.Oversize)
		}
		ss := sp.Stats()
		c := env.st.Counters()
		fmt.Fprintf(stdout, "splice: mode %v moves %d bytes %d cross_softnet %d handoffs %d ends %s\n",
			mode, ss.Moves, ss.Bytes, ss.CrossSoftnet, c.Handoffs()+sp.DedicatedStats().Crossed, formatEnds(ss.Ends))
	}
	for {
		select {
		case s := <-sig:
			met.SetDraining() // /readyz 503 first: the load balancer stops sending clients
			fmt.Fprintf(stdout, "netsplice relay: %v, draining for up to %v\n", s, *drain)
			rs.close() // the relays drain together, in one --drain-timeout
			report()
			env.st.Stop()
			env.writeCounters(stdout)
			return nil
		case <-hup:
			if *config == "" {
				env.log.Warn("SIGHUP ignored: the relays come from --listen/--to, there is no --config file to reload")
				continue
			}
			rs.reload(*config, loadConfig)
		case <-tick:
			report()
		}
	}
}

// endReasons are splice.Stats.Ends' keys in the order the report prints
// them.
var endReasons = []string{"eof", "max", "idle", "drain", "error", "unsplice", "loop"}

// formatEnds prints why splices ended as eof=N max=N ... in a fixed
// order (a reason splice adds later follows, sorted).
func formatEnds(ends map[string]uint64) string {
	var b strings.Builder
	for _, r := range endReasons {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", r, ends[r])
	}
	var more []string
	for r := range ends {
		if !slices.Contains(endReasons, r) {
			more = append(more, r)
		}
	}
	sort.Strings(more)
	for _, r := range more {
		fmt.Fprintf(&b, " %s=%d", r, ends[r])
	}
	return b.String()
}
