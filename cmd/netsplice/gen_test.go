package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestGenBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"gen", "--memwire"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2"},
		{"gen", "--memwire", "--to", "icmp:198.51.100.2:7"},
		{"gen", "--memwire", "--to", "tcp:0.0.0.0:7"},
		{"gen", "--memwire", "--to", "tcp:[::1]:7"},
		{"gen", "--memwire", "--to", "tcp:[::]:7"},
		{"gen", "--memwire", "--to", "tcp:[fe80::1]:7"},
		{"gen", "--memwire", "--to", "tcp:[fe80::1%eth0]:7"},
		{"gen", "--memwire", "--to", "tcp:[::ffff:198.51.100.2]:7"},
		{"gen", "--memwire", "--to", "tcp:2001:db8::2:7"},
		{"gen", "--memwire", "--to", "udp:[2001:db8::2]:7", "--size", "1460"},
		{"gen", "--memwire", "--to", "tcp:[2001:db8::2]:7", "--ip", "198.51.100.1/24"},
		{"gen", "--memwire", "--to", "tcp:[2001:db8::2]:7", "--ip", "198.51.100.1/24,2001:db8:1::1/64"},
		{"gen", "--memwire", "--to", "tcp:[2001:db8::2]:7", "--ip", "198.51.100.1/24,2001:db8::2/64"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--ip", "2001:db8::7/64"},
		{"gen", "--to", "tcp:[2001:db8::2]:7", "--eal", "--no-pci", "--ip", "192.0.2.1/24"},
		{"gen", "--to", "tcp:[2001:db8::2]:7", "--eal", "--no-pci", "--ip", "192.0.2.1/24,2001:db8:1::1/64"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--rate", "-5"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--rate", "NaN"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--conns", "0"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--duration", "0s"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--request", "0"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--response", "-7"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--requests-per-conn", "0"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--timeout", "0s"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--interval", "1us"},
		{"gen", "--memwire", "--to", "udp:198.51.100.2:7", "--size", "8"},
		{"gen", "--memwire", "--to", "udp:198.51.100.2:7", "--size", "9000"},
		{"gen", "--memwire", "--to", "udp:198.51.100.2:7", "--flows", "0"},
		{"gen", "--memwire", "--to", "udp:198.51.100.2:7", "--http"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--eal", "--no-pci"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--ip", "203.0.113.1/24"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--ip", "198.51.100.2/24"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--lcores", "0"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--poll", "sometimes"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "extra"},
		{"gen", "--memwire", "--iperf3", "--to", "tcp:198.51.100.2:5201", "--parallel", "0"},
		{"gen", "--memwire", "--iperf3", "--to", "tcp:198.51.100.2:5201", "--parallel", "129"},
		{"gen", "--memwire", "--iperf3", "--to", "tcp:198.51.100.2:5201", "--reverse", "--bidir"},
		{"gen", "--memwire", "--iperf3", "--to", "tcp:198.51.100.2:5201", "--http"},
		{"gen", "--memwire", "--iperf3", "--to", "tcp:198.51.100.2:5201", "--rate", "100"},
		{"gen", "--memwire", "--iperf3", "--to", "tcp:198.51.100.2:5201", "--bitrate", "-1"},
		{"gen", "--to", "tcp:198.51.100.2:7"},
		{"gen", "--to", "tcp:198.51.100.2:7", "--eal", "--no-pci", "--ip", "203.0.113.1/24"},
		// --sources
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "198.51.100.20-198.51.100.10"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "2001:db8::10"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "198.51.100.10,198.51.100.10"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "198.51.100.x"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "10.0.0.0-10.1.0.0"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "203.0.113.5"},
		{"gen", "--memwire", "--to", "tcp:198.51.100.2:7", "--sources", "198.51.100.2"},
		{"gen", "--to", "tcp:198.51.100.2:7", "--eal", "--no-pci", "--ip", "198.51.100.1/24", "--sources", "203.0.113.5"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "netsplice gen: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", args, code, out, errOut)
		}
	}
}

// runGenJSON runs gen with --json and returns its exit status and its
// final report.
func runGenJSON(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	code, out, errOut := runCLI(append([]string{"gen", "--memwire", "--json", "--log-level", "warn"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var final map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: output line %q is not JSON: %v", args, l, err)
		}
		if m["type"] == "final" {
			final = m
		}
	}
	if final == nil {
		t.Fatalf("%q: no final report in %q (stderr %q)", args, out, errOut)
	}
	return code, final, errOut
}

func TestGenMemwire(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		attempted float64
	}{
		{[]string{"--to", "tcp:198.51.100.2:7", "--rate", "50", "--duration", "1s", "--request", "2000", "--requests-per-conn", "2"}, 50},
		{[]string{"--to", "tcp:198.51.100.2:80", "--http", "--response", "3000", "--rate", "50", "--duration", "1s"}, 50},
		{[]string{"--to", "udp:198.51.100.2:7", "--rate", "1000", "--flows", "4", "--lcores", "2", "--duration", "1s", "--size", "100"}, 1000},
		// IPv6: the in-process server takes the --to address, the
		// generator ::1 of its /64, or its --ip.
		{[]string{"--to", "tcp:[2001:db8::2]:7", "--rate", "50", "--duration", "1s", "--request", "2000", "--requests-per-conn", "2"}, 50},
		{[]string{"--to", "tcp:[2001:db8::1]:80", "--http", "--response", "3000", "--rate", "50", "--duration", "1s", "--ip", "192.0.2.1/24,2001:db8::5/64"}, 50},
		{[]string{"--to", "udp:[2001:db8::2]:7", "--rate", "1000", "--flows", "4", "--lcores", "2", "--duration", "1s", "--size", "1452"}, 1000},
		// An IPv6-only --ip: both stacks IPv6-only.
		{[]string{"--to", "tcp:[2001:db8::2]:80", "--http", "--rate", "50", "--duration", "1s", "--ip", "2001:db8::7/64"}, 50},
		// Source ranges: connections and flows from secondary addresses.
		{[]string{"--to", "tcp:198.51.100.2:7", "--rate", "50", "--duration", "1s", "--sources", "198.51.100.1,198.51.100.10-198.51.100.13"}, 50},
		{[]string{"--to", "udp:[2001:db8::2]:7", "--rate", "1000", "--flows", "8", "--duration", "1s", "--sources", "2001:db8::100-2001:db8::107"}, 1000},
	} {
		code, r, errOut := runGenJSON(t, tc.args...)
		if code != 0 || r["ok"] != true || r["attempted"] != tc.attempted || r["completed"] != tc.attempted || r["failed"] != 0.0 {
			t.Errorf("%q: exit %d, final %v, stderr %q", tc.args, code, r, errOut)
			continue
		}
		lat, _ := r["latency_us"].(map[string]any)
		for _, k := range []string{"connect", "response", "rtt"} {
			if s, ok := lat[k].(map[string]any); ok {
				for _, q := range []string{"p50", "p90", "p99", "p999", "max"} {
					if v, _ := s[q].(float64); v <= 0 {
						t.Errorf("%q: latency_us.%s.%s = %v", tc.args, k, q, s[q])
					}
				}
			}
		}
		if len(lat) < 2 {
			t.Errorf("%q: latencies %v", tc.args, lat)
		}
	}
}

// A run that fails exits 1 and says why on stderr: the in-memory server
// echoes on the --to port, HTTP asks it for a response it never sends.
func TestGenFailureExit1(t *testing.T) {
	code, r, errOut := runGenJSON(t, "--to", "udp:198.51.100.2:7", "--rate", "100", "--duration", "200ms", "--size", "50", "--timeout", "100ms", "--impair", "drop=100%")
	if code != 1 || r["ok"] != false || !strings.Contains(errOut, "never answered") {
		t.Errorf("all datagrams dropped: exit %d, final %v, stderr %q", code, r, errOut)
	}
}

// TestGenMetrics: gen --metrics serves the run's totals and latency
// quantiles while it runs.
func TestGenMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCLI("gen", "--memwire", "--log-level", "warn", "--metrics", addr, "--to", "tcp:198.51.100.2:7",
			"--rate", "100", "--duration", "3s", "--interval", "200ms")
		done <- code
	}()
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if body = string(b); strings.Contains(body, `netsplice_gen_latency_seconds{corrected="true",kind="response",proto="tcp",quantile="0.99"}`) {
			break
		}
	}
	for _, want := range []string{
		`netsplice_gen_attempted_total{proto="tcp"}`,
		`netsplice_gen_failed_total{proto="tcp",reason="verify"} 0`,
		`netsplice_gen_rate_target{proto="tcp"} 100`,
		`netsplice_gen_latency_seconds{corrected="true",kind="response",proto="tcp",quantile="0.99"}`,
		`netsplice_gen_latency_seconds{corrected="false",kind="connect",proto="tcp",quantile="0.5"}`,
		`netsplice_stack_tcp_active_opens_total{softnet="0"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := <-done; code != 0 {
		t.Errorf("gen exited %d", code)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestGenIperf3Memwire: gen --iperf3 against the iperf3 server on the
// in-memory wire: both sides' byte counts agree.
func TestGenIperf3Memwire(t *testing.T) {
	for _, args := range [][]string{
		{"--to", "tcp:198.51.100.2:5201"},
		{"--to", "tcp:198.51.100.2:5201", "--parallel", "3", "--reverse"},
		{"--to", "udp:198.51.100.2:5201", "--bitrate", "10e6", "--bidir"},
		{"--to", "tcp:[2001:db8::2]:5201", "--parallel", "2"},
		{"--to", "udp:[2001:db8::2]:5201", "--bitrate", "10e6", "--reverse"},
	} {
		code, out, errOut := runCLI(append([]string{"gen", "--memwire", "--iperf3", "--json", "--log-level", "warn", "--duration", "1s"}, args...)...)
		var r map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil || code != 0 || r["ok"] != true {
			t.Fatalf("%q: exit %d, %v, out %q, err %q", args, code, err, out, errOut)
		}
		sent, srvRecv := r["sent"].(float64), r["server_received"].(float64)
		recv, srvSent := r["received"].(float64), r["server_sent"].(float64)
		if sent+recv == 0 || sent < srvRecv || recv > srvSent {
			t.Errorf("%q: sent %v (server received %v), received %v (server sent %v)", args, sent, srvRecv, recv, srvSent)
		}
		// What was in flight when the client ended the test is not counted
		// at the server (as iperf3): at most the buffers' worth.
		if r["proto"] == "tcp" && sent-srvRecv > max(sent/100, 1<<20) {
			t.Errorf("%q: TCP: sent %v, server received %v", args, sent, srvRecv)
		}
	}
}

func TestServeIperf3BadInput(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--kernel", "--ip", "127.0.0.1/8", "--iperf3", "70000"},
		{"serve", "--kernel", "--ip", "127.0.0.1/8", "--iperf3", "-1"},
		{"serve", "--kernel", "--ip", "127.0.0.1/8", "--iperf3", "80", "--http", "80"},
		{"serve", "--kernel", "--ip", "127.0.0.1/8", "--iperf3", "5201", "--echo", "udp:5201"},
		{"serve", "--kernel", "--ip", "127.0.0.1/8", "--eal", "--no-pci"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "netsplice serve: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", args, code, out, errOut)
		}
	}
}
