package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netsplice/netsplice/bench"
	"github.com/netsplice/netsplice/driver/dpdk"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// benchWorkloads are the workloads of netsplice bench.
var benchWorkloads = []string{"tcp-bulk", "tcp-conn", "tcp-conn-softnet", "udp-bulk", "tcp-relay", "udp-relay", "syn-flood", "gen-cps", "gen-udp",
	"tcp-bulk-v6", "udp-bulk-v6", "gen-cps-held", "gen-udp-held", "syn-flood-ring", "gen-udp-sink"}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stdout,
		"usage: netsplice bench [--workload W,...] [--lcores N,...] [--duration D] [--json] [flags]",
		"Runs the in-process benchmarks (stacks on the in-memory wire) and prints a table, or one JSON object per line with --json.")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	duration := fs.Duration("duration", 2*time.Second, "run time of each measurement")
	workload := fs.String("workload", "tcp-bulk,tcp-conn,udp-bulk", "workloads to run, comma separated: "+strings.Join(benchWorkloads, ", "))
	lcores := fs.String("lcores", "1,2", "softnets per stack to measure, comma separated, each 1..127 (--lcores of the other commands, one run per value)")
	alias(fs, "softnets", "lcores")
	pollFlag := fs.String("poll", "busy", "poll mode: busy or adaptive (adaptive is used anyway when two stacks' softnets outnumber the CPUs)")
	size := fs.Int("size", 0, "UDP payload bytes: 1..1472 (1..1452 for udp-bulk-v6); 0 fills a 1500-byte packet")
	offload := fs.Bool("offload", false, "offloads on the in-memory ports as veth's defaults (the kernel peer's) and NICs have them: checksums both ways, TCP segmentation (TSO) and receive coalescing (GRO)")
	sinkEAL := fs.String("sink-eal", "", "gen-udp-sink's DPDK EAL `ARGS`: port i takes the i-th --lcores value's run (default: one net_null port per --lcores value, in memory, no NIC)")
	spliceModes := fs.String("splice", "softnet,dedicated,copy", "splice modes the relay workloads measure, comma separated: softnet, dedicated, copy")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` (softnet threads are labelled stack=ADDR, softnet=N)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if wasSet(fs, "lcores") && wasSet(fs, "softnets") {
		return usageErr("--softnets is the old name of --lcores: give one of them")
	}
	lcoresName := "--lcores"
	if wasSet(fs, "softnets") {
		lcoresName = "--softnets"
	}
	// Every flag is checked before the profile file is created and before
	// the first workload runs.
	poll, err := stack.ParsePollMode(*pollFlag)
	if err != nil {
		return usageErr("--poll %q: want busy or adaptive", *pollFlag)
	}
	if *duration <= 0 {
		return usageErr("--duration %v must be positive", *duration)
	}
	if *size < 0 || *size > 1472 {
		return usageErr("--size %d: want 1..1472 UDP payload bytes (0: a full packet)", *size)
	}
	var counts []int
	for _, f := range strings.Split(*lcores, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxLcores {
			return usageErr("%s %q: want comma-separated numbers, each 1..%d (softnets per stack)", lcoresName, *lcores, maxLcores)
		}
		counts = append(counts, n)
	}
	var modes []splice.Mode
	for _, f := range strings.Split(*spliceModes, ",") {
		m, err := splice.ParseMode(strings.TrimSpace(f))
		if err != nil {
			return usageErr("--splice %q: want comma-separated modes: softnet, dedicated, copy", *spliceModes)
		}
		modes = append(modes, m)
	}
	workloads := strings.Split(*workload, ",")
	for _, w := range workloads {
		if !slices.Contains(benchWorkloads, w) {
			return usageErr("--workload: unknown workload %q (this build has: %s)", w, strings.Join(benchWorkloads, ", "))
		}
	}
	if *cpuProfile != "" {
		if err := checkNewFile(*cpuProfile); err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	var results []bench.Result
	// record keeps a result for the table, or prints it as JSON at once.
	record := func(r bench.Result) error {
		results = append(results, r)
		if *asJSON {
			return r.WriteJSON(stdout)
		}
		return nil
	}
	sinks := sinkPorts{eal: *sinkEAL, counts: counts, log: stderr}
	defer sinks.close()
	for _, w := range workloads {
		switch w {
		case "gen-udp-sink":
			// The generator alone, on a DPDK port that receives nothing
			// and frees what it is given (net_null), to a static
			// neighbour: its own cost, with no receiver on the CPUs.
			for i, n := range counts {
				port, err := sinks.open(i, n)
				if err != nil {
					return err
				}
				r, err := bench.GenUDPSink(bench.GenConfig{Softnets: n, Poll: poll, Duration: *duration}, bench.Sink{Port: port, ThreadInit: dpdk.ThreadInit, ThreadExit: dpdk.ThreadExit})
				if err != nil {
					return err
				}
				r.Mode = poll.String()
				if err := record(r); err != nil {
					return err
				}
			}
		case "udp-bulk", "udp-bulk-v6":
			for _, n := range counts {
				p := poll
				if 2*n > numCPU() {
					p = stack.PollAdaptive
				}
				r, err := bench.UDPEcho(bench.UDPConfig{Softnets: n, Size: *size, Poll: p, Duration: *duration, IPv6: w == "udp-bulk-v6", Offload: *offload})
				if err != nil {
					return err
				}
				r.Mode = p.String()
				if err := record(r); err != nil {
					return err
				}
			}
		case "tcp-bulk", "tcp-conn", "tcp-conn-softnet", "tcp-bulk-v6":
			for _, n := range counts {
				// The TCP workloads drive the stacks from application
				// goroutines, which need cores of their own;
				// tcp-conn-softnet has none, and two stacks that fit the
				// CPUs poll as asked.
				p := poll
				if 2*n >= numCPU() && w != "tcp-conn-softnet" || 2*n > numCPU() {
					p = stack.PollAdaptive
				}
				tc := bench.TCPConfig{Softnets: n, Poll: p, Duration: *duration, IPv6: w == "tcp-bulk-v6", Offload: *offload}
				var r bench.Result
				var err error
				switch w {
				case "tcp-conn":
					r, err = bench.TCPConnRate(tc)
				case "tcp-conn-softnet":
					r, err = bench.TCPConnSoftnet(tc)
				default:
					r, err = bench.TCPBulk(tc)
				}
				if err != nil {
					return err
				}
				r.Mode = p.String()
				if err := record(r); err != nil {
					return err
				}
			}
		case "tcp-relay", "udp-relay":
			for _, n := range counts {
				for _, mode := range modes {
					p := poll
					if n+2 >= numCPU() {
						p = stack.PollAdaptive // three stacks and the application share the CPUs
					}
					run := bench.TCPRelay
					if w == "udp-relay" {
						run = bench.UDPRelay
					}
					r, err := run(bench.RelayConfig{Softnets: n, Mode: mode, Poll: p, Duration: *duration, Offload: *offload})
					if err != nil {
						return err
					}
					if err := record(r); err != nil {
						return err
					}
				}
			}
		case "gen-cps", "gen-udp", "gen-cps-held", "gen-udp-held":
			// The generator against the HTTP (gen-cps) or the UDP discard
			// service (gen-udp), one stack each on the in-memory wire.
			for _, n := range counts {
				p := poll
				if 2*n >= numCPU() {
					p = stack.PollAdaptive
				}
				run := bench.GenCPS
				switch w {
				case "gen-udp":
					run = bench.GenUDP
				case "gen-cps-held":
					run = func(c bench.GenConfig) (bench.Result, error) { return bench.GenHeld(c, "tcp") }
				case "gen-udp-held":
					run = func(c bench.GenConfig) (bench.Result, error) { return bench.GenHeld(c, "udp") }
				}
				r, err := run(bench.GenConfig{Softnets: n, Poll: p, Duration: *duration, Offload: *offload})
				if err != nil {
					return err
				}
				r.Mode = p.String()
				if err := record(r); err != nil {
					return err
				}
			}
		case "syn-flood", "syn-flood-ring":
			// The relayed bulk transfer unflooded, then under a SYN flood
			// at the wire's full rate, in one run: the table's row is the
			// flooded phase (Mpkt/s: the flood's SYNs); the line before
			// the table, or the JSON object, has both.
			for _, n := range counts {
				p := poll
				if n+3 >= numCPU() {
					p = stack.PollAdaptive // three stacks, the flooder and the application share the CPUs
				}
				r, err := bench.SynFlood(bench.FloodConfig{RelayConfig: bench.RelayConfig{Softnets: n, Poll: p, Duration: *duration, SYNRing: w == "syn-flood-ring", Offload: *offload}})
				if err != nil {
					return err
				}
				results = append(results, r.Result)
				if *asJSON {
					if err := r.WriteJSON(stdout); err != nil {
						return err
					}
				} else {
					fmt.Fprintln(stdout, r.Summary())
				}
			}
		default:
			return usageErr("unknown workload %q (this build has: %s)", w, strings.Join(benchWorkloads, ", "))
		}
	}
	if !*asJSON {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "stack\tworkload\tmode\tsoftnets\tGbit/s\tMpkt/s\tns/pkt\trelay ns/seg\tallocs/pkt\thandoffs/pkt\tCPU s/GiB\tconn/s")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%.3f\t%.1f\t%.1f\t%.5f\t%.5f\t%.3f\t%.0f\n", r.Stack, r.Workload, r.Mode, r.Softnets,
				r.Gbps, r.PPS/1e6, r.NsPerPkt, r.RelayNsSeg, r.AllocsPerPkt, r.HandoffsPkt, r.CPUSPerGiB, r.CPS)
		}
		tw.Flush()
	}
	return nil
}

// sinkPorts opens gen-udp-sink's DPDK ports: EAL on first use, with
// eal's arguments or, by default, one net_null port per --lcores value
// (no-rx: it receives nothing; its transmit frees each mbuf, as a NIC's
// completion does), in memory, without hugepages or a NIC.
type sinkPorts struct {
	eal    string
	counts []int
	log    io.Writer
	up     bool
	ports  []*dpdk.Port
}

func (s *sinkPorts) open(i, queues int) (*dpdk.Port, error) {
	if !s.up {
		args := strings.Fields(s.eal)
		if len(args) == 0 {
			args = []string{"--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level=.*:warning"}
			for k := range s.counts {
				args = append(args, fmt.Sprintf("--vdev=net_null%d,no-rx=1", k))
			}
		}
		if err := dpdk.InitEAL(args); err != nil {
			return nil, fmt.Errorf("gen-udp-sink: DPDK EAL %q: %w", strings.Join(args, " "), err)
		}
		s.up = true
	}
	p, err := dpdk.OpenPort(dpdk.PortConfig{PortID: uint16(i), Queues: queues})
	if err != nil {
		return nil, fmt.Errorf("gen-udp-sink: DPDK port %d (--lcores value %d): %w", i, queues, err)
	}
	s.ports = append(s.ports, p)
	return p, nil
}

func (s *sinkPorts) close() {
	for _, p := range s.ports {
		p.Close()
	}
}
