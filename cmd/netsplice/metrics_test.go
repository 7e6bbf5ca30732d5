package main

import (
	"net"
	"strings"
	"testing"
)

// TestMetricsFlagBinary: a bad or taken --metrics address is refused with
// exit status 2 and one line naming --metrics, before DPDK starts; relay
// --check validates it without binding.
func TestMetricsFlagBinary(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	relayArgs := func(args ...string) []string {
		return stackArgs("relay", append([]string{"--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"}, args...)...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no port", stackArgs("serve", "--metrics", "9100"), []string{"ADDR:PORT"}},
		{"port 0", stackArgs("serve", "--metrics", ":0"), []string{"1..65535"}},
		{"port too big", stackArgs("serve", "--metrics", "127.0.0.1:99999"), []string{"1..65535"}},
		{"port name", stackArgs("serve", "--metrics", "127.0.0.1:http"), []string{"1..65535"}},
		{"bad host", stackArgs("serve", "--metrics", "no host!:9100"), []string{"host name"}},
		{"not local", stackArgs("serve", "--metrics", "192.0.2.99:9100"), []string{"192.0.2.99:9100"}},
		{"taken", stackArgs("serve", "--metrics", taken.Addr().String()), []string{taken.Addr().String(), "in use"}},
		{"relay taken", relayArgs("--metrics", taken.Addr().String()), []string{"in use"}},
		{"relay bad", relayArgs("--metrics", "localhost"), []string{"ADDR:PORT"}},
		{"relay check bad", []string{"relay", "--check", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.2:80", "--metrics", ":x"}, []string{"1..65535"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runBinary(t, t.TempDir(), tc.args...)
			line := strings.TrimSuffix(errOut, "\n")
			switch {
			case code != 2:
				t.Errorf("exit status %d, want 2", code)
			case line == "" || strings.Contains(line, "\n"):
				t.Errorf("stderr is not exactly one line")
			case strings.Contains(out+errOut, "EAL:"):
				t.Errorf("DPDK started")
			}
			for _, w := range append(tc.want, "--metrics") {
				if !strings.Contains(line, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("netsplice %q: exit %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, out, errOut)
			}
		})
	}
	// --check validates the syntax only: a taken port is fine there (the
	// running appliance holds it while a new configuration is checked).
	code, out, errOut := runBinary(t, t.TempDir(), "relay", "--check", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.2:80", "--metrics", taken.Addr().String())
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("relay --check --metrics %v: exit %d, %q %q; want 0", taken.Addr(), code, out, errOut)
	}
}

func TestMetricsFlagCheck(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, ":9100": true, "127.0.0.1:9100": true, "[::1]:9100": true, "localhost:9100": true, "mgmt.example.com:9100": true,
		"9100": false, ":0": false, ":65536": false, "a b:1": false, "[::1]9100": false, "..:1": false, ".:1": false,
	} {
		f := &metricsFlag{addr: addr}
		if err := f.check(); (err == nil) != ok {
			t.Errorf("--metrics %q: %v, want ok %v", addr, err, ok)
		}
	}
}
