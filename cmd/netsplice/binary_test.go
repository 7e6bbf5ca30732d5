package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this file run the real binary, built once, as a user
// would: exit status, stdout and stderr as the shell sees them.

var built struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// binary builds netsplice once for the tests of this file and returns its
// path; a failed build fails the test with the compiler's output.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		if built.dir, err = os.MkdirTemp("", "netsplice-cli-test"); err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(built.dir, "netsplice")
		cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", built.path, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = errors.New(string(out) + err.Error())
		}
	})
	if built.err != nil {
		t.Fatalf("building the netsplice binary (go build -o %s .) failed:\n%v", built.path, built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// runBinary runs netsplice with args in dir and returns its exit status,
// stdout and stderr.
func runBinary(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("netsplice %q did not finish within 30s (did it start DPDK?)\nstdout:\n%s\nstderr:\n%s", args, out.String(), errOut.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("netsplice %q: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// Plausible DPDK arguments: with them the tested input is the only bad
// thing on the command line.
const (
	testEAL = "--no-huge -m 256 --no-pci -l 0 --no-telemetry --no-shconf --vdev=net_ring0"
	testIP  = "192.0.2.1/24"
)

func stackArgs(cmd string, args ...string) []string {
	return append([]string{cmd, "--eal", testEAL, "--ip", testIP}, args...)
}

const goodRelays = `relays:
  - listen: tcp:0.0.0.0:80
    to: tcp:192.0.2.2:8080
  - listen: udp:192.0.2.1:53
    to: udp:192.0.2.3:53
    idle: 5s
    max_sessions: 100
`

// TestBadInputBinary runs bad command lines through the binary: each is
// refused with exit status 2 and exactly one line on stderr naming the
// flag (or FILE:LINE of a config file), before DPDK starts, without a
// panic and without creating a file.
func TestBadInputBinary(t *testing.T) {
	relayCfg := func(body string) map[string]string { return map[string]string{"relays.yaml": body} }
	cfgArgs := stackArgs("relay", "--config", "relays.yaml")
	for _, tc := range []struct {
		name  string
		args  []string
		files map[string]string // written into the working directory first
		want  []string          // in the stderr line
		none  []string          // paths that must not exist afterwards
	}{
		// netsplice itself
		{name: "unknown command", args: []string{"nosuch"}, want: []string{`"nosuch"`}},
		{name: "help unknown", args: []string{"help", "nosuch"}, want: []string{`"nosuch"`}},
		{name: "version extra", args: []string{"version", "x"}, want: []string{"unexpected"}},
		// rss
		{name: "rss huge reta", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--reta", "200000000000000"}, want: []string{"--reta", "1..512"}},
		{name: "rss reta 0", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--reta=0"}, want: []string{"--reta"}},
		{name: "rss reta not a number", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--reta", "x"}, want: []string{"--reta"}},
		{name: "rss queues 0", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--queues", "0"}, want: []string{"--queues"}},
		{name: "rss tuple", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--tuple", "3"}, want: []string{"--tuple"}},
		{name: "rss short key", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--key", "abcd"}, want: []string{"--key"}},
		{name: "rss unknown flag", args: []string{"rss", "1.2.3.4:1", "1.2.3.4:2", "--no-such-flag"}, want: []string{"--no-such-flag"}},
		{name: "rss one address", args: []string{"rss", "1.2.3.4:1"}, want: []string{"SRC_IP:PORT"}},
		// demo
		{name: "demo positional", args: []string{"demo", "extra"}, want: []string{"unexpected arguments", "extra"}},
		{name: "demo lcores 0", args: []string{"demo", "--lcores", "0"}, want: []string{"--lcores", "1..127"}},
		{name: "demo lcores 500", args: []string{"demo", "--lcores", "500"}, want: []string{"--lcores"}},
		{name: "demo impair", args: []string{"demo", "--impair", "drop=2"}, want: []string{"--impair"}},
		{name: "demo poll", args: []string{"demo", "--poll", "sometimes"}, want: []string{"--poll"}},
		{name: "demo log level", args: []string{"demo", "--log-level", "loud"}, want: []string{"--log-level"}},
		// bench
		{name: "bench positional", args: []string{"bench", "extra"}, want: []string{"unexpected arguments"}},
		{name: "bench cpuprofile bad poll", args: []string{"bench", "--cpuprofile", "cpu.prof", "--poll", "bogus"}, want: []string{"--poll"}, none: []string{"cpu.prof"}},
		{name: "bench cpuprofile bad workload", args: []string{"bench", "--workload", "tcp-bulk,nope", "--cpuprofile", "cpu.prof"}, want: []string{"--workload", "nope"}, none: []string{"cpu.prof"}},
		{name: "bench cpuprofile no dir", args: []string{"bench", "--cpuprofile", "nodir/cpu.prof"}, want: []string{"--cpuprofile"}},
		{name: "bench lcores 0", args: []string{"bench", "--lcores", "1,0"}, want: []string{"--lcores"}},
		{name: "bench softnets alias bad", args: []string{"bench", "--softnets", "x"}, want: []string{"--softnets"}},
		{name: "bench both names", args: []string{"bench", "--softnets", "1", "--lcores", "2"}, want: []string{"--softnets", "--lcores"}},
		{name: "bench size", args: []string{"bench", "--size", "-1"}, want: []string{"--size"}},
		{name: "bench duration", args: []string{"bench", "--duration", "0s"}, want: []string{"--duration"}},
		{name: "bench splice mode", args: []string{"bench", "--workload", "tcp-relay", "--splice", "softnet,zero"}, want: []string{"--splice", "softnet, dedicated, copy"}},
		// serve and the stack flags
		{name: "serve duplicate echo", args: stackArgs("serve", "--echo", "udp:7", "--echo", "udp:7"), want: []string{"--echo udp:7"}},
		{name: "serve echo and http", args: stackArgs("serve", "--echo", "tcp:80", "--http", "80"), want: []string{"--http 80", "--echo tcp:80"}},
		{name: "serve pcap bad second ip", args: stackArgs("serve", "--pcap", "out.pcap", "--ip", "bogus"), want: []string{"--ip"}, none: []string{"out.pcap"}},
		{name: "serve pcap same ip twice", args: stackArgs("serve", "--pcap", "out.pcap", "--ip", "192.0.2.1/16"), want: []string{"--ip", "twice"}, none: []string{"out.pcap"}},
		{name: "serve pcap loopback ip", args: stackArgs("serve", "--pcap", "out.pcap", "--ip", "127.0.0.1/8"), want: []string{"--ip"}, none: []string{"out.pcap"}},
		{name: "serve pcap no dir", args: stackArgs("serve", "--pcap", "nodir/out.pcap"), want: []string{"--pcap"}},
		{name: "serve pcap bad poll", args: stackArgs("serve", "--pcap", "out.pcap", "--poll", "lazy"), want: []string{"--poll"}, none: []string{"out.pcap"}},
		{name: "serve positional", args: stackArgs("serve", "extra"), want: []string{"unexpected arguments"}},
		{name: "serve no eal", args: []string{"serve", "--ip", testIP}, want: []string{"--eal"}},
		{name: "serve no ip", args: []string{"serve", "--eal", testEAL}, want: []string{"--ip"}},
		{name: "serve lcores", args: stackArgs("serve", "--lcores", "0"), want: []string{"--lcores", "1..127"}},
		{name: "serve gateway", args: stackArgs("serve", "--gateway", "198.51.100.1"), want: []string{"--gateway"}},
		{name: "serve gateway two IPv4", args: stackArgs("serve", "--gateway", "192.0.2.254,192.0.2.253"), want: []string{"--gateway", "two IPv4 gateways"}},
		{name: "serve gateway IPv6 without IPv6 ip", args: stackArgs("serve", "--gateway", "2001:db8:1::fe"), want: []string{"--gateway", "IPv6 address on some --ip"}},
		{name: "serve gateway IPv6 off prefix", args: stackArgs("serve", "--ip", "198.51.100.1/24,2001:db8:1::1/64", "--gateway", "2001:db8:2::fe"), want: []string{"--gateway", "inside no IPv6 --ip prefix"}},
		{name: "serve gateway two IPv6", args: stackArgs("serve", "--ip", "198.51.100.1/24,2001:db8:1::1/64", "--gateway", "fe80::1,2001:db8:1::fe"), want: []string{"--gateway", "two IPv6 gateways"}},
		{name: "serve stats", args: stackArgs("serve", "--stats", "-1s"), want: []string{"--stats"}},
		{name: "serve sctp", args: stackArgs("serve", "--echo", "sctp:7"), want: []string{"--echo"}},
		{name: "serve port 0", args: stackArgs("serve", "--discard", "udp:0"), want: []string{"--discard"}},
		{name: "serve log level", args: stackArgs("serve", "--log-level", "loud"), want: []string{"--log-level"}},
		{name: "serve impair", args: stackArgs("serve", "--impair", "drop=7"), want: []string{"--impair"}},
		{name: "serve syn-ring with impair", args: stackArgs("serve", "--syn-ring", "--impair", "drop=1%"), want: []string{"--syn-ring", "--impair"}},
		// connect and ping
		{name: "connect port 0", args: stackArgs("connect", "192.0.2.2:0"), want: []string{"destination", "port 0"}},
		{name: "connect unspecified", args: stackArgs("connect", "0.0.0.0:80"), want: []string{"destination"}},
		{name: "connect unroutable", args: stackArgs("connect", "203.0.113.5:80"), want: []string{"destination", "--gateway"}},
		{name: "connect no destination", args: stackArgs("connect"), want: []string{"IP:PORT"}},
		{name: "connect IPv6 without IPv6 ip", args: stackArgs("connect", "[2001:db8:1::2]:80"), want: []string{"destination", "IPv6"}},
		{name: "connect timeout", args: stackArgs("connect", "--timeout", "0s", "192.0.2.2:80"), want: []string{"--timeout"}},
		{name: "connect send", args: stackArgs("connect", "--send", "-1", "192.0.2.2:80"), want: []string{"--send"}},
		{name: "ping reply timeout", args: stackArgs("ping", "--reply-timeout", "0s", "192.0.2.2"), want: []string{"--reply-timeout"}},
		{name: "ping size", args: stackArgs("ping", "--size", "2000", "192.0.2.2"), want: []string{"--size"}},
		{name: "ping count", args: stackArgs("ping", "--count", "0", "192.0.2.2"), want: []string{"--count"}},
		{name: "ping not an address", args: stackArgs("ping", "nohost"), want: []string{"destination"}},
		// relay: flags
		{name: "relay idle -1ns", args: stackArgs("relay", "--idle=-1ns", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"), want: []string{"--idle"}},
		{name: "relay max", args: stackArgs("relay", "--max", "-1", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"), want: []string{"--max"}},
		{name: "relay mode", args: stackArgs("relay", "--mode", "fast", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"), want: []string{"--mode"}},
		{name: "relay positional", args: stackArgs("relay", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80", "extra"), want: []string{"unexpected arguments"}},
		{name: "relay unpaired", args: stackArgs("relay", "--listen", "tcp:192.0.2.1:80"), want: []string{"--listen", "--to"}},
		{name: "relay self tcp", args: stackArgs("relay", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.1:80"), want: []string{"--listen tcp:192.0.2.1:80", "itself"}},
		{name: "relay self tcp wildcard", args: stackArgs("relay", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.1:80"), want: []string{"--listen tcp:0.0.0.0:80", "itself"}},
		{name: "relay self udp", args: stackArgs("relay", "--listen", "udp:0.0.0.0:53", "--to", "udp:192.0.2.1:53"), want: []string{"--listen udp:0.0.0.0:53", "itself"}},
		{name: "relay loop", args: stackArgs("relay", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.1:81", "--listen", "tcp:0.0.0.0:81", "--to", "tcp:192.0.2.1:80"), want: []string{"loop"}},
		{name: "relay same port", args: stackArgs("relay", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.3:80"), want: []string{"relay 2", "--listen tcp:0.0.0.0:80"}},
		{name: "relay listen not local", args: stackArgs("relay", "--listen", "tcp:192.0.2.9:80", "--to", "tcp:192.0.2.2:80"), want: []string{"--ip"}},
		{name: "relay backend unroutable", args: stackArgs("relay", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:203.0.113.1:80"), want: []string{"--gateway"}},
		{name: "relay IPv6 listen not local", args: stackArgs("relay", "--ip", "198.51.100.1/24,2001:db8:1::1/64", "--listen", "tcp:[2001:db8:1::9]:80", "--to", "tcp:192.0.2.2:80"), want: []string{"--ip", "[::]"}},
		{name: "relay IPv6 backend unroutable", args: stackArgs("relay", "--ip", "198.51.100.1/24,2001:db8:1::1/64", "--listen", "tcp:[::]:80", "--to", "tcp:[2001:db8:2::2]:80"), want: []string{"--gateway", "IPv6"}},
		{name: "relay IPv6 unbracketed", args: stackArgs("relay", "--listen", "tcp:2001:db8:1::1:80", "--to", "tcp:192.0.2.2:80"), want: []string{"--listen", "brackets"}},
		{name: "relay IPv6 self", args: stackArgs("relay", "--ip", "198.51.100.1/24,2001:db8:1::1/64", "--listen", "udp:[::]:53", "--to", "udp:[2001:db8:1::1]:53"), want: []string{"itself"}},
		{name: "relay pcap", args: stackArgs("relay", "--pcap", "out.pcap", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.1:80"), want: []string{"itself"}, none: []string{"out.pcap"}},
		// relay: config files
		{name: "config /dev/zero", args: stackArgs("relay", "--config", "/dev/zero"), want: []string{"--config", "/dev/zero", "regular"}},
		{name: "config directory", args: stackArgs("relay", "--config", "."), want: []string{"--config", "directory"}},
		{name: "config missing", args: stackArgs("relay", "--config", "nosuch.yaml"), want: []string{"--config", "nosuch.yaml"}},
		{name: "config too big", args: cfgArgs, files: relayCfg(goodRelays + "#" + strings.Repeat("x", maxConfigSize) + "\n"), want: []string{"--config", "relays.yaml", "1 MiB"}},
		{name: "config second document", args: cfgArgs, files: relayCfg(goodRelays + "---\nrelays: []\n"), want: []string{"relays.yaml:8:", "second YAML document"}},
		{name: "config max 1.5", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:192.0.2.2:80\n    max: 1.5\n"), want: []string{"relays.yaml:4:", "max 1.5", "whole number"}},
		{name: "config max_sessions 2.5", args: cfgArgs, files: relayCfg("relays:\n  - listen: udp:0.0.0.0:53\n    to: udp:192.0.2.2:53\n    max_sessions: 2.5\n"), want: []string{"relays.yaml:4:", "max_sessions"}},
		{name: "config relays not a list", args: cfgArgs, files: relayCfg("relays: yes\n"), want: []string{"relays.yaml:1:", "list"}},
		{name: "config relay not a mapping", args: cfgArgs, files: relayCfg("relays:\n  - tcp:0.0.0.0:80\n"), want: []string{"relays.yaml:2:", "relay 1"}},
		{name: "config listen a list", args: cfgArgs, files: relayCfg("relays:\n  - listen: [tcp:0.0.0.0:80]\n    to: tcp:192.0.2.2:80\n"), want: []string{"relays.yaml:2:", "listen"}},
		{name: "config unknown key", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:192.0.2.2:80\n    colour: red\n"), want: []string{"relays.yaml:4:", `"colour"`}},
		{name: "config top-level key", args: cfgArgs, files: relayCfg("relay:\n  - listen: tcp:0.0.0.0:80\n"), want: []string{"relays.yaml:1:", `"relay"`}},
		{name: "config duplicate key", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:192.0.2.2:80\n    to: tcp:192.0.2.3:80\n"), want: []string{"relays.yaml:4:", "twice"}},
		{name: "config syntax", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: [\n"), want: []string{"relays.yaml:", "YAML"}},
		{name: "config binary", args: cfgArgs, files: relayCfg("relays:\n\x00\n"), want: []string{"relays.yaml:2:", "control character"}},
		{name: "config empty", args: cfgArgs, files: relayCfg(""), want: []string{"relays.yaml:1:", "empty"}},
		{name: "config missing to", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n"), want: []string{"relays.yaml:2:", "to"}},
		{name: "config bad idle", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:192.0.2.2:80\n    idle: 30\n"), want: []string{"relays.yaml:4:", "idle"}},
		{name: "config self udp", args: cfgArgs, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:192.0.2.2:80\n  - listen: udp:0.0.0.0:53\n    to: udp:192.0.2.1:53\n"), want: []string{"relays.yaml:4:", "relay 2", "itself"}},
		{name: "config and flags", args: stackArgs("relay", "--config", "relays.yaml", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"), files: relayCfg(goodRelays), want: []string{"--config", "--listen"}},
		{name: "check bad config", args: []string{"relay", "--check", "--config", "relays.yaml"}, files: relayCfg("relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:192.0.2.2:80\n    max: 1.5\n"), want: []string{"relays.yaml:4:"}},
		{name: "check bad ip", args: []string{"relay", "--check", "--config", "relays.yaml", "--ip", "10.0.0.1/8"}, files: relayCfg(goodRelays), want: []string{"--ip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := listDir(t, dir)
			code, out, errOut := runBinary(t, dir, tc.args...)
			all := out + errOut
			line := strings.TrimSuffix(errOut, "\n")
			switch {
			case code != 2:
				t.Errorf("exit status %d, want 2", code)
			case line == "" || strings.Contains(line, "\n"):
				t.Errorf("stderr is not exactly one line")
			case strings.Contains(all, "panic") || strings.Contains(all, "goroutine"):
				t.Errorf("a panic")
			case strings.Contains(all, "EAL:"):
				t.Errorf("DPDK started")
			case strings.Contains(all, "struct {") || strings.Contains(all, "main.") || strings.Contains(all, "symbolic links"):
				t.Errorf("a message in Go's words, not the user's")
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if after := listDir(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the command created files: before %q, after %q", before, after)
			}
			for _, p := range tc.none {
				if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
					t.Errorf("%s exists", p)
				}
			}
			if t.Failed() {
				t.Logf("netsplice %q: exit %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, out, errOut)
			}
		})
	}
}

// TestVersionHelpCheckBinary checks the answers that exit 0: --version,
// help and relay --check, none of them starting DPDK.
func TestVersionHelpCheckBinary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "relays.yaml"), []byte(goodRelays), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string // in stdout
	}{
		{[]string{"--version"}, []string{"go1", "github.com/netsplice/netsplice", "dpdk:"}},
		{[]string{"version"}, []string{"go1", "netsplice"}},
		{[]string{"help"}, []string{"usage: netsplice", "relay", "help COMMAND"}},
		{[]string{"--help"}, []string{"usage: netsplice", "commands:"}},
		{[]string{"help", "relay"}, []string{"usage: netsplice relay", "--config", "--check", "--listen", "--lcores"}},
		{[]string{"help", "bench"}, []string{"--lcores", "--softnets"}},
		{[]string{"help", "ping"}, []string{"--reply-timeout"}},
		{[]string{"relay", "--help"}, []string{"usage: netsplice relay", "--check"}},
		{[]string{"serve", "-h"}, []string{"usage: netsplice serve", "--echo"}},
		{[]string{"rss", "--help"}, []string{"--reta"}},
		{[]string{"relay", "--check", "--config", "relays.yaml"}, []string{"configuration OK: 2 relays"}},
		{stackArgs("relay", "--check", "--config", "relays.yaml"), []string{"configuration OK: 2 relays", "1 --ip"}},
		{[]string{"relay", "--check", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.2:80", "--idle", "5m"}, []string{"configuration OK: 1 relays"}},
		{[]string{"relay", "--check", "--ip", "192.0.2.1/24,2001:db8:1::1/64", "--gateway", "192.0.2.254,fe80::1",
			"--listen", "tcp:[2001:db8:1::1]:80", "--to", "tcp:192.0.2.10:80", "--listen", "udp:[::]:53", "--to", "udp:[2001:db8:5::53]:53",
			"--listen", "tcp:0.0.0.0:443", "--to", "tcp:[2001:db8:1::10]:443"}, []string{"configuration OK: 3 relays", "1 --ip"}},
	} {
		code, out, errOut := runBinary(t, dir, tc.args...)
		if code != 0 || errOut != "" || strings.Contains(out, "EAL:") {
			t.Errorf("netsplice %q: exit %d, stderr %q; want 0 and nothing on stderr\nstdout:\n%s", tc.args, code, errOut, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("netsplice %q: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	// No arguments: the usage on stderr, exit status 2.
	if code, out, errOut := runBinary(t, dir); code != 2 || out != "" || !strings.Contains(errOut, "usage: netsplice") {
		t.Errorf("netsplice: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, out, errOut)
	}
	if got := listDir(t, dir); len(got) != 1 {
		t.Errorf("files in the working directory: %q, want only relays.yaml", got)
	}
}

func TestFormatEnds(t *testing.T) {
	got := formatEnds(map[string]uint64{"drain": 2, "eof": 7, "loop": 1, "new": 3})
	want := "eof=7 max=0 idle=0 drain=2 error=0 unsplice=0 loop=1 new=3"
	if got != want {
		t.Errorf("formatEnds: %q, want %q", got, want)
	}
}
