package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netsplice/netsplice/bench"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	duration := fs.Duration("duration", 2*time.Second, "run time of each measurement")
	workload := fs.String("workload", "tcp-bulk,tcp-conn,udp-bulk", "workloads to run, comma separated: tcp-bulk, tcp-conn, udp-bulk, tcp-relay, udp-relay")
	softnets := fs.String("softnets", "1,2", "softnet counts to measure, comma separated")
	pollFlag := fs.String("poll", "busy", "poll mode: busy or adaptive (adaptive is used anyway when two stacks' softnets outnumber the CPUs)")
	size := fs.Int("size", 1472, "UDP payload bytes")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to FILE (softnet threads are labelled stack=ADDR, softnet=N)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *cpuProfile != "" {
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
	poll, err := stack.ParsePollMode(*pollFlag)
	if err != nil {
		return usageErr("%v", err)
	}
	if *duration <= 0 {
		return usageErr("--duration must be positive")
	}
	var counts []int
	for _, f := range strings.Split(*softnets, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 || n > 64 {
			return usageErr("--softnets %q: want numbers in 1..64", *softnets)
		}
		counts = append(counts, n)
	}
	var results []bench.Result
	for _, w := range strings.Split(*workload, ",") {
		switch w {
		case "udp-bulk":
			for _, n := range counts {
				p := poll
				if 2*n > numCPU() {
					p = stack.PollAdaptive
				}
				r, err := bench.UDPEcho(bench.UDPConfig{Softnets: n, Size: *size, Poll: p, Duration: *duration})
				if err != nil {
					return err
				}
				r.Mode = p.String()
				results = append(results, r)
				if *asJSON {
					if err := r.WriteJSON(stdout); err != nil {
						return err
					}
				}
			}
		case "tcp-bulk", "tcp-conn":
			for _, n := range counts {
				// The TCP workloads drive the stacks from application
				// goroutines, which need cores of their own.
				p := poll
				if 2*n >= numCPU() {
					p = stack.PollAdaptive
				}
				tc := bench.TCPConfig{Softnets: n, Poll: p, Duration: *duration}
				var r bench.Result
				var err error
				if w == "tcp-bulk" {
					r, err = bench.TCPBulk(tc)
				} else {
					r, err = bench.TCPConnRate(tc)
				}
				if err != nil {
					return err
				}
				r.Mode = p.String()
				results = append(results, r)
				if *asJSON {
					if err := r.WriteJSON(stdout); err != nil {
						return err
					}
				}
			}
		case "tcp-relay", "udp-relay":
			for _, n := range counts {
				for _, mode := range []splice.Mode{splice.ModeSoftnet, splice.ModeDedicated, splice.ModeCopy} {
					p := poll
					if n+2 >= numCPU() {
						p = stack.PollAdaptive // three stacks and the application share the CPUs
					}
					run := bench.TCPRelay
					if w == "udp-relay" {
						run = bench.UDPRelay
					}
					r, err := run(bench.RelayConfig{Softnets: n, Mode: mode, Poll: p, Duration: *duration})
					if err != nil {
						return err
					}
					results = append(results, r)
					if *asJSON {
						if err := r.WriteJSON(stdout); err != nil {
							return err
						}
					}
				}
			}
		default:
			return usageErr("unknown workload %q (this build has: tcp-bulk, tcp-conn, udp-bulk, tcp-relay, udp-relay)", w)
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
