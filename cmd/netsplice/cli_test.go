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
