// Command netsplice is the netsplice appliance: a userspace TCP/UDP stack
// with in-stack socket splicing. Subcommands:
//
//	netsplice demo    two stacks on the in-memory wire exchanging UDP and ICMP
//	netsplice rss     Toeplitz hash and queue of a flow
//	netsplice bench   in-process benchmarks, one JSON object per line with --json
//	netsplice serve   the stack on DPDK ports with test services (echo, discard)
//	netsplice ping    the stack on DPDK ports pinging a host
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// errUsage marks errors caused by bad input: exit status 2.
var errUsage = errors.New("usage")

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run two stacks on the in-memory wire exchanging UDP and ICMP, then print their counters", runDemo},
		{"rss", "print the Toeplitz RSS hash and queue of a flow: rss SRC_IP:PORT DST_IP:PORT [--key HEX|--symmetric] [--queues N]", runRSS},
		{"bench", "run the in-process benchmarks (--json for one JSON object per line)", runBench},
		{"serve", "run the stack on DPDK ports with test services: serve --eal 'ARGS' --ip CIDR --echo udp:7", runServe},
		{"ping", "run the stack on DPDK ports and ping a host: ping --eal 'ARGS' --ip CIDR DST", runPing},
		{"connect", "open one TCP connection from a DPDK stack, send and receive, print the SHA-256 (lab client)", runConnect},
		{"relay", "relay TCP connections and UDP sessions with in-stack splicing: relay --eal 'ARGS' --ip CIDR --listen tcp:IP:PORT --to tcp:IP:PORT (or --config FILE)", runRelay},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(stderr, "netsplice %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(stderr, "netsplice %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "netsplice: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: netsplice COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

// usageErr wraps a message as a bad-input error.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// parseInterleaved parses flags that may come before, between or after
// positional arguments and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // let Parse report it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return pos, nil
}

// newLogger returns a console logger at the given level.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usageErr("log level %q: want debug, info, warn or error", level)
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
