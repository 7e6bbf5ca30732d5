package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestRSSVectors checks `netsplice rss` against Microsoft's published
// verification vectors for the default key.
func TestRSSVectors(t *testing.T) {
	for _, tc := range []struct {
		src, dst string
		tuple    string
		want     string
	}{
		{"66.9.149.187:2794", "161.142.100.80:1766", "4", "hash 0x51ccc178"},
		{"199.92.111.2:14230", "65.69.140.83:4739", "4", "hash 0xc626b0ea"},
		{"66.9.149.187:2794", "161.142.100.80:1766", "2", "hash 0x323e8fc2"},
		{"38.27.205.30:48228", "209.142.163.6:2217", "2", "hash 0x82989176"},
	} {
		code, out, errOut := runCLI("rss", tc.src, tc.dst, "--tuple", tc.tuple)
		if code != 0 || !strings.HasPrefix(out, tc.want+" queue 0") {
			t.Errorf("rss %s %s --tuple %s: exit %d, out %q, err %q; want %q", tc.src, tc.dst, tc.tuple, code, out, errOut, tc.want)
		}
	}
}

func TestRSSQueueAndSymmetric(t *testing.T) {
	// 0x51ccc178 & 127 = 120; a round-robin 128-entry table over 4 queues maps it to 0.
	if _, out, _ := runCLI("rss", "--queues", "4", "66.9.149.187:2794", "161.142.100.80:1766"); out != "hash 0x51ccc178 queue 0\n" {
		t.Errorf("got %q", out)
	}
	if _, out, _ := runCLI("rss", "--queues", "3", "66.9.149.187:2794", "161.142.100.80:1766"); out != "hash 0x51ccc178 queue 0\n" {
		t.Errorf("3 queues: got %q, want queue (120 %% 3) = 0", out)
	}
	_, a, _ := runCLI("rss", "--symmetric", "192.0.2.1:1000", "192.0.2.2:80")
	_, b, _ := runCLI("rss", "--symmetric", "192.0.2.2:80", "192.0.2.1:1000")
	if a != b || a == "" {
		t.Errorf("symmetric key: %q vs %q, want equal", a, b)
	}
}

func TestBadInputExitStatus2(t *testing.T) {
	for _, args := range [][]string{
		{"rss", "1.2.3.4:1"},
		{"rss", "bogus", "1.2.3.4:5"},
		{"rss", "1.2.3.4:1", "1.2.3.4:2", "--key", "abcd"},
		{"rss", "1.2.3.4:1", "1.2.3.4:2", "--queues", "0"},
		{"rss", "1.2.3.4:1", "[2001:db8::1]:2"},
		{"rss", "1.2.3.4:1", "1.2.3.4:2", "--no-such-flag"},
		{"demo", "--lcores", "0"},
		{"demo", "--impair", "drop=2"},
		{"demo", "--poll", "sometimes"},
		{"bench", "--workload", "nope"},
		{"connect"},
		{"relay"},
		{"relay", "--listen", "tcp:192.0.2.1:80"},
		{"relay", "--listen", "udp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"},
		{"relay", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:0.0.0.0:80"},
		{"relay", "--listen", "sctp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"},
		{"relay", "--config", "/nonexistent/relays.yaml"},
		{"relay", "--config", "x.yaml", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"},
		{"relay", "--listen", "udp:192.0.2.1:80", "--to", "udp:192.0.2.2:80", "--max-sessions", "0"},
		{"relay", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80", "--mode", "fast"},
		{"connect", "not-an-addr"},
		{"connect", "192.0.2.1:80", "--send", "-1"},
		{"no-such-command"},
		{},
	} {
		code, _, errOut := runCLI(args...)
		if code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
		// A refusal is one line; only netsplice without arguments prints
		// the usage.
		if len(args) > 0 && strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line", args, errOut)
		}
	}
}

// TestDemo runs the embedded default briefly: datagrams echo intact and
// the counters print.
func TestDemo(t *testing.T) {
	code, out, errOut := runCLI("demo", "--duration", "300ms", "--lcores", "2", "--impair", "drop=1%,seed=3")
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"rtt", "echoed intact, ", " 0 mismatched", "udp_delivered", "faults injected on A's port: dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// TestRelayConfigFile checks the --config parser: defaults from the
// command line, per-relay overrides, and clear errors for bad files.
func TestRelayConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `relays:
  - listen: tcp:0.0.0.0:80
    to: tcp:198.51.100.2:8080
  - listen: udp:192.0.2.1:53
    to: udp:198.51.100.2:53
    max: 1000
    idle: 5s
    max_sessions: 10
`)
	specs, err := loadRelayConfig(good, relayDefaults{Max: 7})
	if err != nil {
		t.Fatal(err)
	}
	if specs[1].Where != good+":4: relay 2" {
		t.Errorf("relay 2 is at %q, want %s:4: relay 2", specs[1].Where, good)
	}
	for i := range specs {
		specs[i].Where = ""
	}
	want := []relaySpec{
		{Listen: endpoint{"tcp", netip.MustParseAddrPort("0.0.0.0:80")}, To: endpoint{"tcp", netip.MustParseAddrPort("198.51.100.2:8080")}, Max: 7, Idle: 0},
		{Listen: endpoint{"udp", netip.MustParseAddrPort("192.0.2.1:53")}, To: endpoint{"udp", netip.MustParseAddrPort("198.51.100.2:53")}, Max: 1000, Idle: 5 * time.Second, MaxSessions: 10},
	}
	if len(specs) != len(want) || specs[0] != want[0] || specs[1] != want[1] {
		t.Fatalf("specs %+v, want %+v", specs, want)
	}
	for name, body := range map[string]string{
		"empty":     "",
		"norelays":  "relays: []\n",
		"unknown":   "relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:198.51.100.2:80\n    colour: red\n",
		"mixed":     "relays:\n  - listen: tcp:0.0.0.0:80\n    to: udp:198.51.100.2:80\n",
		"badidle":   "relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:198.51.100.2:80\n    idle: soon\n",
		"negmax":    "relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:198.51.100.2:80\n    max: -5\n",
		"tcpsess":   "relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:198.51.100.2:80\n    max_sessions: 5\n",
		"noport":    "relays:\n  - listen: tcp:0.0.0.0\n    to: tcp:198.51.100.2:80\n",
		"notyaml":   "relays: [\n",
		"wrongtype": "relays: yes\n",
		"seconddoc": "relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:198.51.100.2:80\n---\nrelays: []\n",
		"float":     "relays:\n  - listen: tcp:0.0.0.0:80\n    to: tcp:198.51.100.2:80\n    max: 1.5\n",
		"dupkey":    "relays:\n  - listen: tcp:0.0.0.0:80\n    listen: tcp:0.0.0.0:81\n    to: tcp:198.51.100.2:80\n",
		"self":      "relays:\n  - listen: udp:192.0.2.1:53\n    to: udp:192.0.2.1:53\n",
	} {
		_, err := loadRelayConfig(write(name+".yaml", body), relayDefaults{})
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, filepath.Join(dir, name+".yaml")+":") || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one line starting FILE:LINE:", name, msg)
		}
	}
	// Through the command: a bad file is exit status 2 with the reason.
	code, _, errOut := runCLI("relay", "--config", filepath.Join(dir, "mixed.yaml"))
	if code != 2 || !strings.Contains(errOut, "different protocols") {
		t.Fatalf("relay --config mixed.yaml: exit %d, stderr %q", code, errOut)
	}
}

// TestRelayEndpointIPv6 checks --listen/--to (and a config file's listen:
// and to:) over IPv6: tcp:[IPv6]:PORT and udp:[::]:PORT are accepted;
// unbracketed, loopback, multicast, zoned and IPv4-mapped addresses are
// refused with a one-line reason.
func TestRelayEndpointIPv6(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want string // the error's text; "" accepts
	}{
		{"tcp:[2001:db8::1]:80", ""},
		{"udp:[::]:53", ""},
		{"tcp:[::]:80", ""},
		{"tcp:[fe80::1]:80", ""},
		{"tcp:192.0.2.1:80", ""},
		{"tcp:2001:db8::1:80", "IPv6 in brackets"},
		{"tcp:[2001:db8::1]", "IPv6 in brackets"},
		{"tcp:[2001:db8::1]:0", "port above 0"},
		{"tcp:[::1]:80", "not a unicast address"},
		{"udp:[ff02::1]:53", "not a unicast address"},
		{"tcp:[fe80::1%eth0]:80", "zones"},
		{"tcp:[::ffff:192.0.2.1]:80", "IPv4-mapped"},
	} {
		e, err := parseEndpoint(tc.v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.v, err)
		case tc.want == "" && e.String() != tc.v:
			t.Errorf("%s: parsed as %v", tc.v, e)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: error %v, want one line with %q", tc.v, err, tc.want)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "relays6.yaml")
	if err := os.WriteFile(cfg, []byte(`relays:
  - listen: tcp:[2001:db8:1::1]:80
    to: tcp:198.51.100.2:8080
  - listen: udp:[::]:53
    to: udp:[2001:db8:2::2]:53
`), 0o644); err != nil {
		t.Fatal(err)
	}
	specs, err := loadRelayConfig(cfg, relayDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Listen.Addr != netip.MustParseAddrPort("[2001:db8:1::1]:80") || specs[1].To.Addr != netip.MustParseAddrPort("[2001:db8:2::2]:53") {
		t.Fatalf("specs %+v", specs)
	}
	bad := filepath.Join(dir, "bad6.yaml")
	if err := os.WriteFile(bad, []byte("relays:\n  - listen: tcp:[::1]:80\n    to: tcp:198.51.100.2:80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRelayConfig(bad, relayDefaults{}); err == nil || !strings.HasPrefix(err.Error(), bad+":2:") {
		t.Errorf("listen tcp:[::1]:80: %v, want FILE:2: and the reason", err)
	}
}

// TestRelayCheckIPv6 runs relay --check against dual-stack --ip
// interfaces: v6->v6, v6->v4, v4->v6, [::] listeners, link-local and
// --gateway backends pass; listen addresses not on an --ip, backends
// outside every prefix of their family, overlapping UDP binds and loops
// through IPv6 addresses are refused with exit status 2 and one line.
func TestRelayCheckIPv6(t *testing.T) {
	ips := []string{"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--ip", "198.51.100.1/24,2001:db8:2::1/64"}
	relays := func(pairs ...string) []string {
		args := append([]string{"relay", "--check"}, ips...)
		for i := 0; i+1 < len(pairs); i += 2 {
			args = append(args, "--listen", pairs[i], "--to", pairs[i+1])
		}
		return args
	}
	code, out, errOut := runCLI(relays(
		"tcp:[2001:db8:1::1]:80", "tcp:[2001:db8:2::2]:8080", // v6 -> v6
		"tcp:[2001:db8:1::1]:81", "tcp:198.51.100.2:8080", // v6 -> v4
		"tcp:192.0.2.1:82", "tcp:[2001:db8:2::2]:8080", // v4 -> v6
		"tcp:[::]:83", "tcp:[fe80::2]:8080", // link-local backend
		"udp:[::]:53", "udp:[2001:db8:2::2]:53",
		"udp:0.0.0.0:54", "udp:[2001:db8:2::2]:54", // 0.0.0.0 and an IPv6 address
		"udp:[2001:db8:1::1]:54", "udp:198.51.100.2:54", // on one port do not overlap
	)...)
	if code != 0 || !strings.Contains(out, "configuration OK: 7 relays") {
		t.Fatalf("relay --check: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, args := range [][]string{
		append(relays("tcp:[::]:80", "tcp:[2001:db8:99::2]:80"), "--gateway", "2001:db8:2::fe"),
		// An IPv6-only port.
		{"relay", "--check", "--ip", "2001:db8:1::1/64", "--listen", "tcp:[::]:80", "--to", "tcp:[2001:db8:1::2]:80"},
	} {
		if code, out, errOut := runCLI(args...); code != 0 || !strings.Contains(out, "configuration OK: 1 relays") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{relays("tcp:[2001:db8:1::9]:80", "tcp:198.51.100.2:80"), "is not an --ip address (give 0.0.0.0, [::] or one of"},
		{relays("tcp:[::]:80", "tcp:[2001:db8:99::2]:80"), "inside no IPv6 --ip prefix and no IPv6 --gateway"},
		{append(relays("tcp:[::]:80", "tcp:[2001:db8:99::2]:80"), "--gateway", "192.0.2.254"), "no IPv6 --gateway"},
		{append(relays("tcp:[::]:80", "tcp:203.0.113.2:80"), "--gateway", "2001:db8:1::fe"), "no --gateway"},
		{[]string{"relay", "--check", "--ip", "192.0.2.1/24", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:[2001:db8:1::2]:80"}, "no --ip has an IPv6 address"},
		{[]string{"relay", "--check", "--ip", "2001:db8:1::1/64", "--listen", "tcp:[::]:80", "--to", "tcp:192.0.2.2:80"}, "no --ip has an IPv4 address"},
		{[]string{"relay", "--check", "--ip", "2001:db8:1::1/64", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:[2001:db8:1::2]:80"}, "is not an --ip address"},
		{relays("udp:[::]:53", "udp:198.51.100.2:53", "udp:0.0.0.0:53", "udp:198.51.100.3:53"), "already listens"},
		{relays("udp:[::]:53", "udp:198.51.100.2:53", "udp:[2001:db8:1::1]:53", "udp:198.51.100.3:53"), "already listens"},
		{relays("tcp:[2001:db8:1::1]:80", "tcp:198.51.100.2:80", "tcp:192.0.2.1:80", "tcp:198.51.100.3:80"), "already listens"},
		{relays("tcp:[::]:80", "tcp:[2001:db8:2::1]:80"), "itself"},
		{relays("udp:[::]:53", "udp:192.0.2.1:53"), "itself"},
		{relays("tcp:[::]:80", "tcp:192.0.2.1:81", "tcp:0.0.0.0:81", "tcp:[2001:db8:1::1]:82", "tcp:[2001:db8:1::1]:82", "tcp:198.51.100.1:80"), "loop"},
		{relays("tcp:[::1]:80", "tcp:198.51.100.2:80"), "--listen"},
		{relays("tcp:192.0.2.1:80", "tcp:[::ffff:198.51.100.2]:80"), "--to"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestConnectIPv6Refusals: connect takes IPv6 destinations; the ones it
// cannot reach or that are not unicast are refused before DPDK starts.
func TestConnectIPv6Refusals(t *testing.T) {
	eal := "--no-huge -m 256 --no-pci -l 0 --no-telemetry --no-shconf --vdev=net_ring0"
	for _, tc := range []struct {
		ip, dst, want string
	}{
		{"192.0.2.1/24", "[2001:db8:1::2]:80", "no --ip has an IPv6 address"},
		{"192.0.2.1/24,2001:db8:1::1/64", "[2001:db8:2::2]:80", "inside no IPv6 --ip prefix"},
		{"192.0.2.1/24,2001:db8:1::1/64", "[::]:80", "unicast"},
		{"192.0.2.1/24,2001:db8:1::1/64", "[ff02::1]:80", "unicast"},
		{"192.0.2.1/24,2001:db8:1::1/64", "[fe80::1%eth0]:80", "zones"},
		{"192.0.2.1/24,2001:db8:1::1/64", "[::ffff:192.0.2.2]:80", "IPv4-mapped"},
		{"192.0.2.1/24,2001:db8:1::1/64", "2001:db8:1::2:80", "brackets"},
		{"192.0.2.1/24,2001:db8:1::1/64", "[2001:db8:1::2]:0", "port 0"},
	} {
		code, _, errOut := runCLI("connect", "--eal", eal, "--ip", tc.ip, tc.dst)
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "destination") {
			t.Errorf("connect --ip %s %s: exit %d, stderr %q; want 2 and one line with %q", tc.ip, tc.dst, code, errOut, tc.want)
		}
	}
}
