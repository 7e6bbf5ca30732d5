// Command netsplice is the netsplice appliance: a userspace TCP/UDP stack
// with in-stack socket splicing. Subcommands:
//
//	netsplice demo     two stacks on the in-memory wire exchanging UDP and ICMP
//	netsplice rss      Toeplitz hash and queue of a flow
//	netsplice bench    in-process benchmarks, one JSON object per line with --json
//	netsplice serve    the stack on DPDK ports with test services (echo, discard, http)
//	netsplice ping     the stack on DPDK ports pinging a host
//	netsplice connect  one TCP connection from the stack (lab client)
//	netsplice gen      stateful TCP and UDP traffic at a set rate, with latency
//	netsplice relay    TCP and UDP relays spliced in the stack (--check: validate only)
//	netsplice help [COMMAND], netsplice --version
//
// Bad input is refused with one line on stderr and exit status 2, before
// DPDK starts wherever the check needs no port; help goes to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/netsplice/netsplice/driver/dpdk"
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
		{"rss", "print the Toeplitz RSS hash and queue of a flow: rss SRC_IP:PORT DST_IP:PORT [--key HEX|--symmetric] [--queues N] [--reta N]", runRSS},
		{"bench", "run the in-process benchmarks: bench [--workload W,...] [--lcores N,...] (--json for one JSON object per line)", runBench},
		{"serve", "run the stack on DPDK ports with test services: serve --eal 'ARGS' --ip CIDR --echo udp:7", runServe},
		{"ping", "run the stack on DPDK ports and ping a host: ping --eal 'ARGS' --ip CIDR DST", runPing},
		{"connect", "open one TCP connection from a DPDK stack, send and receive, print the SHA-256 (lab client)", runConnect},
		{"gen", "generate TCP connections or UDP datagrams at a rate, with verified bytes and latency percentiles: gen --to tcp:IP:PORT --rate N (--memwire: no DPDK)", runGen},
		{"relay", "relay TCP connections and UDP sessions with in-stack splicing: relay --eal 'ARGS' --ip CIDR --listen tcp:IP:PORT --to tcp:IP:PORT (or --config FILE; --check validates and exits)", runRelay},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run runs a command line. Help goes to stdout with exit status 0; a
// refusal of bad input is one line on stderr with exit status 2, before
// DPDK starts wherever the check needs no port.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if args[0] != "help" || len(args) == 1 {
			if len(args) > 1 {
				fmt.Fprintf(stderr, "netsplice %s: unexpected arguments %q (try netsplice help COMMAND)\n", args[0], args[1:])
				return 2
			}
			usage(stdout)
			return 0
		}
		if len(args) > 2 {
			fmt.Fprintf(stderr, "netsplice help: want one command name, got %q\n", args[1:])
			return 2
		}
		switch args[1] {
		case "help":
			usage(stdout)
			return 0
		case "version":
			fmt.Fprintln(stdout, "usage: netsplice version (or netsplice --version): print the netsplice, Go and DPDK versions")
			return 0
		}
		c, ok := findCommand(args[1])
		if !ok {
			fmt.Fprintf(stderr, "netsplice help: unknown command %q (commands: %s)\n", args[1], commandNames())
			return 2
		}
		return finish(c.name, c.run([]string{"-h"}, stdout, stderr), stderr)
	case "-version", "--version", "version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "netsplice %s: unexpected arguments %q\n", args[0], args[1:])
			return 2
		}
		writeVersion(stdout)
		return 0
	}
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "netsplice: unknown command %q (commands: %s; netsplice help COMMAND for its flags)\n", args[0], commandNames())
		return 2
	}
	return finish(c.name, c.run(args[1:], stdout, stderr), stderr)
}

// finish maps a command's error to its exit status and prints it as one
// line.
func finish(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "netsplice %s: %s\n", name, oneLine(err.Error()))
		return 2
	default:
		fmt.Fprintf(stderr, "netsplice %s: %s\n", name, oneLine(err.Error()))
		return 1
	}
}

// oneLine folds a multi-line message (a library's, say) into one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: netsplice COMMAND [flags]")
	fmt.Fprintln(w, "       netsplice help COMMAND    the flags of COMMAND (or netsplice COMMAND --help)")
	fmt.Fprintln(w, "       netsplice --version       the netsplice, Go and DPDK versions")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nBad input is refused with one line on stderr and exit status 2, before DPDK starts where no port is needed.")
}

// writeVersion prints the module version and VCS stamp of this build, the
// Go version and the DPDK version the binary runs with.
func writeVersion(w io.Writer) {
	path, version := "github.com/netsplice/netsplice", "(unknown)"
	var vcs []string
	goVersion := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path != "" {
			path = bi.Main.Path
		}
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if r := settings["vcs.revision"]; r != "" {
			vcs = append(vcs, settings["vcs"]+" "+r)
			if t := settings["vcs.time"]; t != "" {
				vcs = append(vcs, t)
			}
			if settings["vcs.modified"] == "true" {
				vcs = append(vcs, "modified")
			}
		}
	}
	fmt.Fprintf(w, "netsplice %s %s\n", path, version)
	if len(vcs) > 0 {
		fmt.Fprintf(w, "vcs: %s\n", strings.Join(vcs, " "))
	} else {
		fmt.Fprintln(w, "vcs: unknown (built without VCS information)")
	}
	fmt.Fprintf(w, "go: %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	if v := dpdk.Version(); v != "" {
		fmt.Fprintf(w, "dpdk: %s\n", v)
	} else {
		fmt.Fprintln(w, "dpdk: unknown (built without DPDK)")
	}
}

// usageError is bad input: errors.Is(err, errUsage) holds, and the
// message is the reason alone.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// usageErr wraps a message as a bad-input error.
func usageErr(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// newFlagSet returns a command's flag set. Its help (-h, --help, netsplice
// help NAME) is the usage lines and the flags, on stdout; parse errors
// are returned, not printed (parseInterleaved).
func newFlagSet(name string, stdout io.Writer, usageLines ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		for _, l := range usageLines {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprintln(stdout, "\nflags (--flag and -flag are the same; --flag=VALUE or --flag VALUE):")
		printFlags(stdout, fs)
	}
	return fs
}

// printFlags is flag.PrintDefaults with --name, the spelling of the
// usage lines and of the error messages.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + strings.ToUpper(name)
		}
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			if _, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok && strings.HasSuffix(fmt.Sprintf("%T", f.Value), "stringValue") {
				help += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				help += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(help, "\n", "\n    \t"))
	})
}

// parseInterleaved parses flags that may come before, between or after
// positional arguments and returns the positionals. -h and --help print
// the flag set's usage and return flag.ErrHelp; a bad flag is a usage
// error naming it as --name, with nothing printed.
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
	// The flag package prints the error and the usage on a parse error;
	// print nothing here and return the error as one line instead.
	help, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(flags)
	fs.Usage = help
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			help()
			return nil, err
		}
		return nil, usageErr("%s", dashDash(err.Error()))
	}
	return pos, nil
}

// flagNameRE finds the flag package's "-name" in its error messages.
var flagNameRE = regexp.MustCompile(`(flag|for|argument:|defined:) -([A-Za-z0-9])`)

// dashDash rewrites the flag package's -name as --name, the spelling of
// the usage lines.
func dashDash(msg string) string {
	return flagNameRE.ReplaceAllString(msg, "$1 --$2")
}

// wasSet reports whether the command line gave the flag (fs.Visit), so a
// flag's "not given" needs no magic default value.
func wasSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// alias makes old a second name of the flag name (a renamed flag that
// scripts may still use).
func alias(fs *flag.FlagSet, old, name string) {
	fs.Var(fs.Lookup(name).Value, old, "deprecated: the old name of --"+name)
}

// noPositionals refuses arguments a command does not take.
func noPositionals(pos []string) error {
	if len(pos) > 0 {
		return usageErr("unexpected arguments %q (this command takes flags only; flags are -name or --name)", pos)
	}
	return nil
}

// newLogger returns a console logger at the given level.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := parseLogLevel(level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}

func parseLogLevel(level string) (zapcore.Level, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil || level == "" {
		return lvl, usageErr("--log-level %q: want debug, info, warn or error", level)
	}
	return lvl, nil
}
