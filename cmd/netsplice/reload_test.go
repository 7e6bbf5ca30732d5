package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/metrics"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

func spec(listen, to string, max int64, idle time.Duration, sessions int, where string) relaySpec {
	l, err := parseEndpoint(listen)
	if err != nil {
		panic(err)
	}
	t, err := parseEndpoint(to)
	if err != nil {
		panic(err)
	}
	return relaySpec{Listen: l, To: t, Max: max, Idle: idle, MaxSessions: sessions, Where: where}
}

// TestDiffRelays: relays are matched by listen endpoint; a relay is
// changed when anything but where it was written differs.
func TestDiffRelays(t *testing.T) {
	a := spec("tcp:0.0.0.0:80", "tcp:198.51.100.2:8080", 0, 0, 0, "f:2: relay 1")
	b := spec("udp:192.0.2.1:53", "udp:198.51.100.2:53", 0, 30*time.Second, 4096, "f:4: relay 2")
	c := spec("tcp:0.0.0.0:81", "tcp:198.51.100.2:8081", 0, 0, 0, "f:6: relay 3")
	moved := func(s relaySpec, where string) relaySpec { s.Where = where; return s }
	with := func(s relaySpec, f func(*relaySpec)) relaySpec { f(&s); return s }
	names := func(specs []relaySpec) []string {
		var n []string
		for _, s := range specs {
			n = append(n, s.Listen.String())
		}
		return n
	}
	changes := func(cs []specChange) []string {
		var n []string
		for _, c := range cs {
			if c.old.Listen != c.new.Listen {
				t.Errorf("change pairs %v with %v", c.old.Listen, c.new.Listen)
			}
			n = append(n, c.new.Listen.String())
		}
		return n
	}
	for _, tc := range []struct {
		name                               string
		old, cur                           []relaySpec
		added, removed, changed, unchanged []string
	}{
		{name: "same", old: []relaySpec{a, b}, cur: []relaySpec{a, b}, unchanged: []string{"tcp:0.0.0.0:80", "udp:192.0.2.1:53"}},
		{name: "only moved in the file", old: []relaySpec{a, b}, cur: []relaySpec{moved(b, "f:2: relay 1"), moved(a, "f:9: relay 2")},
			unchanged: []string{"udp:192.0.2.1:53", "tcp:0.0.0.0:80"}},
		{name: "added", old: []relaySpec{a}, cur: []relaySpec{a, c}, added: []string{"tcp:0.0.0.0:81"}, unchanged: []string{"tcp:0.0.0.0:80"}},
		{name: "removed", old: []relaySpec{a, b, c}, cur: []relaySpec{b}, removed: []string{"tcp:0.0.0.0:80", "tcp:0.0.0.0:81"}, unchanged: []string{"udp:192.0.2.1:53"}},
		{name: "backend", old: []relaySpec{a}, cur: []relaySpec{with(a, func(s *relaySpec) { s.To.Addr = netip.MustParseAddrPort("198.51.100.3:8080") })},
			changed: []string{"tcp:0.0.0.0:80"}},
		{name: "max", old: []relaySpec{a}, cur: []relaySpec{with(a, func(s *relaySpec) { s.Max = 1 })}, changed: []string{"tcp:0.0.0.0:80"}},
		{name: "idle", old: []relaySpec{b}, cur: []relaySpec{with(b, func(s *relaySpec) { s.Idle = time.Minute })}, changed: []string{"udp:192.0.2.1:53"}},
		{name: "max_sessions", old: []relaySpec{b}, cur: []relaySpec{with(b, func(s *relaySpec) { s.MaxSessions = 1 })}, changed: []string{"udp:192.0.2.1:53"}},
		{name: "listen address is another relay", old: []relaySpec{a}, cur: []relaySpec{with(a, func(s *relaySpec) { s.Listen.Addr = netip.MustParseAddrPort("192.0.2.1:80") })},
			added: []string{"tcp:192.0.2.1:80"}, removed: []string{"tcp:0.0.0.0:80"}},
		{name: "protocol is another relay", old: []relaySpec{spec("tcp:0.0.0.0:53", "tcp:198.51.100.2:53", 0, 0, 0, "")}, cur: []relaySpec{spec("udp:0.0.0.0:53", "udp:198.51.100.2:53", 0, 0, 0, "")},
			added: []string{"udp:0.0.0.0:53"}, removed: []string{"tcp:0.0.0.0:53"}},
		{name: "all at once", old: []relaySpec{a, b, c}, cur: []relaySpec{with(b, func(s *relaySpec) { s.Max = 100 }), spec("tcp:0.0.0.0:82", "tcp:198.51.100.2:1", 0, 0, 0, ""), c},
			added: []string{"tcp:0.0.0.0:82"}, removed: []string{"tcp:0.0.0.0:80"}, changed: []string{"udp:192.0.2.1:53"}, unchanged: []string{"tcp:0.0.0.0:81"}},
		{name: "from nothing", cur: []relaySpec{a}, added: []string{"tcp:0.0.0.0:80"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diffRelays(tc.old, tc.cur)
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"added", names(d.added), tc.added},
				{"removed", names(d.removed), tc.removed},
				{"changed", changes(d.changed), tc.changed},
				{"unchanged", names(d.unchanged), tc.unchanged},
			} {
				if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
					t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestLogFormat: --log-format is on every command that takes
// --log-level; a bad value is a usage error naming it, before DPDK
// starts; json writes one JSON object a line.
func TestLogFormat(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--log-format", "xml"},
		stackArgs("serve", "--log-format", "xml", "--echo", "udp:7"),
		stackArgs("ping", "--log-format", "text", "192.0.2.2"),
		stackArgs("connect", "--log-format", "", "192.0.2.2:80"),
		stackArgs("relay", "--log-format", "JSON", "--listen", "tcp:192.0.2.1:80", "--to", "tcp:192.0.2.2:80"),
		{"relay", "--check", "--log-format", "yaml", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.2:80"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--log-format") || !strings.Contains(errOut, "console or json") {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and one line naming --log-format", args, code, errOut, out)
		}
	}
	for _, cmd := range []string{"demo", "serve", "ping", "connect", "relay"} {
		if _, out, _ := runCLI("help", cmd); !strings.Contains(out, "--log-format") {
			t.Errorf("netsplice help %s lacks --log-format", cmd)
		}
	}
	code, out, errOut := runCLI("demo", "--duration", "100ms", "--lcores", "1", "--log-format", "json")
	if code != 0 {
		t.Fatalf("demo --log-format json: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	for _, ln := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(ln), &obj); err != nil || obj["msg"] == nil || obj["level"] == nil || obj["ts"] == nil {
			t.Errorf("demo --log-format json: line %q is not a JSON log object with ts, level and msg (%v)", ln, err)
		}
	}
	if len(lines) == 0 || lines[0] == "" {
		t.Errorf("demo --log-format json logged nothing")
	}
}

// proc is the netsplice binary running in the background.
type proc struct {
	cmd      *exec.Cmd
	mu       sync.Mutex
	out, err bytes.Buffer
	done     chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startBinary starts netsplice in dir; it is killed when the test ends.
func startBinary(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.err}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			stdout, stderr := p.output()
			t.Logf("netsplice %q\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		}
	})
	return p
}

func (p *proc) output() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String(), p.err.String()
}

// waitFor waits until the output holds n lines that contain every one of
// want, and returns the last such line. The process exiting, or a minute
// passing, fails the test.
func (p *proc) waitFor(t *testing.T, n int, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		stdout, stderr := p.output()
		var found []string
		for _, ln := range strings.Split(stdout+stderr, "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(ln, w)
			}
			if ok {
				found = append(found, ln)
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		select {
		case <-p.done:
			t.Fatalf("netsplice exited (%v) before %d lines with %q", p.cmd.ProcessState, n, want)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d lines with %q within a minute", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the exit status.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatal("netsplice did not exit within a minute of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrapeMetrics returns /metrics as sample name{labels} -> value lines.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		ln := sc.Text()
		if strings.HasPrefix(ln, "#") || ln == "" {
			continue
		}
		i := strings.LastIndexByte(ln, ' ')
		v, err := strconv.ParseFloat(ln[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", ln, err)
		}
		samples[ln[:i]] = v
	}
	return samples
}

func readyz(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

// jsonLine parses a --log-format json line.
func jsonLine(t *testing.T, ln string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(ln), &obj); err != nil {
		t.Fatalf("log line %q is not JSON: %v", ln, err)
	}
	return obj
}

// TestRelayReloadBinary runs `netsplice relay --config` (net_ring0, no
// traffic) and reloads it with SIGHUP: an invalid file is logged with
// FILE:LINE and counted while the old relays keep running; a valid one
// adds, removes and changes relays, visible in the log and on /metrics.
func TestRelayReloadBinary(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "relays.yaml")
	write := func(body string) {
		t.Helper()
		// Written aside and renamed, as editors and config management do,
		// so that the relay never reads half a file.
		if err := os.WriteFile(config+".new", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(config+".new", config); err != nil {
			t.Fatal(err)
		}
	}
	write(`relays:
  - listen: tcp:0.0.0.0:80
    to: tcp:192.0.2.2:8080
  - listen: tcp:0.0.0.0:81
    to: tcp:192.0.2.2:8081
  - listen: udp:192.0.2.1:53
    to: udp:192.0.2.3:53
`)
	metricsAddr := freePort(t)
	p := startBinary(t, dir, append(stackArgs("relay", "--config", config, "--metrics", metricsAddr, "--log-format", "json"), "--drain-timeout", "1s")...)
	p.waitFor(t, 1, "netsplice relay: ready: 3 relays")
	m := scrapeMetrics(t, metricsAddr)
	for _, s := range []string{
		`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:80->192.0.2.2:8080"}`,
		`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:81->192.0.2.2:8081"}`,
		`netsplice_relay_sessions_total{relay="udp:192.0.2.1:53->192.0.2.3:53"}`,
	} {
		if _, ok := m[s]; !ok {
			t.Errorf("/metrics at start lacks %s", s)
		}
	}
	if m["netsplice_config_last_reload_successful"] != 1 || m["netsplice_config_last_reload_success_timestamp_seconds"] < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("/metrics at start: last_reload_successful %v, success timestamp %v; want 1 and about now",
			m["netsplice_config_last_reload_successful"], m["netsplice_config_last_reload_success_timestamp_seconds"])
	}
	started := m["netsplice_config_last_reload_success_timestamp_seconds"]
	if n := strings.Count(p.waitFor(t, 3, `"msg":"relay listening"`), "\n"); n != 0 {
		t.Fatal("a log line spans lines")
	}

	// An invalid file: line 5 has a max that is no whole number.
	write(`relays:
  - listen: tcp:0.0.0.0:80
    to: tcp:192.0.2.2:8080
  - listen: tcp:0.0.0.0:82
    max: 1.5
    to: tcp:192.0.2.2:8082
`)
	p.cmd.Process.Signal(syscall.SIGHUP)
	ln := jsonLine(t, p.waitFor(t, 1, `"msg":"config reload failed`))
	if e, _ := ln["error"].(string); !strings.HasPrefix(e, config+":5: ") || ln["result"] != "failure" || ln["level"] != "error" || ln["file"] != config {
		t.Errorf("log of the invalid reload: %v; want level error, result failure, file %s and an error starting %s:5:", ln, config, config)
	}
	m = scrapeMetrics(t, metricsAddr)
	if m["netsplice_config_last_reload_successful"] != 0 || m[`netsplice_config_reloads_total{result="failure"}`] != 1 ||
		m[`netsplice_config_reloads_total{result="success"}`] != 0 || m["netsplice_config_last_reload_success_timestamp_seconds"] != started {
		t.Errorf("/metrics after the invalid reload: successful %v, failures %v, successes %v, success timestamp %v (was %v); want 0, 1, 0 and unchanged",
			m["netsplice_config_last_reload_successful"], m[`netsplice_config_reloads_total{result="failure"}`],
			m[`netsplice_config_reloads_total{result="success"}`], m["netsplice_config_last_reload_success_timestamp_seconds"], started)
	}
	if _, ok := m[`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:81->192.0.2.2:8081"}`]; !ok {
		t.Errorf("after the invalid reload the old relay on :81 is gone from /metrics")
	}
	if _, ok := m[`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:82->192.0.2.2:8082"}`]; ok {
		t.Errorf("the invalid file's relay on :82 was started")
	}
	if got := readyz(t, metricsAddr); got != "200 ready" {
		t.Errorf("/readyz after the invalid reload: %s, want 200 ready", got)
	}

	// A valid file: :80 unchanged, :81 removed, :82 added, the UDP relay
	// changed (max_sessions).
	write(`relays:
  - listen: tcp:0.0.0.0:82
    to: tcp:192.0.2.2:8082
  - listen: tcp:0.0.0.0:80
    to: tcp:192.0.2.2:8080
  - listen: udp:192.0.2.1:53
    to: udp:192.0.2.3:53
    max_sessions: 10
`)
	p.cmd.Process.Signal(syscall.SIGHUP)
	ln = jsonLine(t, p.waitFor(t, 1, `"msg":"config reloaded"`))
	for k, want := range map[string]any{"result": "success", "added": 1.0, "removed": 1.0, "changed": 1.0, "unchanged": 1.0, "relays": 3.0, "file": config} {
		if ln[k] != want {
			t.Errorf("reload log %s: %v, want %v (%v)", k, ln[k], want, ln)
		}
	}
	p.waitFor(t, 1, `"msg":"relay drained"`, `tcp:0.0.0.0:81->192.0.2.2:8081`, `"why":"removed"`)
	p.waitFor(t, 1, `"msg":"relay drained"`, `udp:192.0.2.1:53->192.0.2.3:53`, `"why":"replaced"`)
	p.waitFor(t, 1, `"msg":"relay listening"`, `tcp:0.0.0.0:82->192.0.2.2:8082`)
	p.waitFor(t, 1, `"msg":"relay listening"`, `udp:192.0.2.1:53->192.0.2.3:53`, `"max_sessions":10`, `"replaces"`)
	m = scrapeMetrics(t, metricsAddr)
	if m["netsplice_config_last_reload_successful"] != 1 || m[`netsplice_config_reloads_total{result="success"}`] != 1 ||
		m[`netsplice_config_reloads_total{result="failure"}`] != 1 || m["netsplice_config_last_reload_success_timestamp_seconds"] < started {
		t.Errorf("/metrics after the valid reload: successful %v, successes %v, failures %v, success timestamp %v (start %v)",
			m["netsplice_config_last_reload_successful"], m[`netsplice_config_reloads_total{result="success"}`],
			m[`netsplice_config_reloads_total{result="failure"}`], m["netsplice_config_last_reload_success_timestamp_seconds"], started)
	}
	for s, want := range map[string]bool{
		`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:80->192.0.2.2:8080"}`: true,
		`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:81->192.0.2.2:8081"}`: false,
		`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:82->192.0.2.2:8082"}`: true,
		`netsplice_relay_sessions_total{relay="udp:192.0.2.1:53->192.0.2.3:53"}`: true,
	} {
		if _, ok := m[s]; ok != want {
			t.Errorf("/metrics after the valid reload: %s present %v, want %v", s, ok, want)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	stdout, stderr := p.output()
	if !strings.Contains(stdout, "relay tcp:0.0.0.0:82 -> tcp:192.0.2.2:8082: accepted 0") || strings.Contains(stdout, "relay tcp:0.0.0.0:81 ") {
		t.Errorf("the exit report is not of the reloaded relays:\n%s", stdout)
	}
	// Every line on stderr is JSON, DPDK's own (EAL's) included.
	eal := 0
	for _, ln := range strings.Split(strings.TrimSpace(stderr), "\n") {
		obj := jsonLine(t, ln)
		if msg, _ := obj["msg"].(string); obj["logger"] == "dpdk" && strings.HasPrefix(msg, "EAL: ") {
			eal++
		}
	}
	if eal == 0 {
		t.Errorf("no EAL line in the log (logger dpdk):\n%s", stderr)
	}
}

// TestRelaySIGHUPWithoutConfig: without --config, SIGHUP is logged and
// ignored; the relay keeps running.
func TestRelaySIGHUPWithoutConfig(t *testing.T) {
	metricsAddr := freePort(t)
	p := startBinary(t, t.TempDir(), stackArgs("relay", "--listen", "tcp:0.0.0.0:80", "--to", "tcp:192.0.2.2:8080", "--metrics", metricsAddr)...)
	p.waitFor(t, 1, "netsplice relay: ready: 1 relays")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, 1, "SIGHUP ignored")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, 2, "SIGHUP ignored")
	if got := readyz(t, metricsAddr); got != "200 ready" {
		t.Errorf("/readyz after SIGHUP: %s, want 200 ready", got)
	}
	m := scrapeMetrics(t, metricsAddr)
	if _, ok := m["netsplice_config_last_reload_successful"]; ok {
		t.Errorf("config metrics without --config")
	}
	if _, ok := m[`netsplice_relay_accepted_total{relay="tcp:0.0.0.0:80->192.0.2.2:8080"}`]; !ok {
		t.Errorf("the relay is gone from /metrics after SIGHUP")
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
}

// memStack starts a stack on the in-memory wire.
func memStack(t *testing.T, w *memwire.Wire, name, addr string) *stack.Stack {
	t.Helper()
	p, err := w.AddPort(memwire.Config{Name: name, Queues: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.New(stack.Config{Softnets: 1, Poll: stack.PollAdaptive}, stack.InterfaceConfig{Port: p, Addr: netip.MustParsePrefix(addr)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st
}

// TestRelaySetApply applies configurations to relays on the in-memory
// wire: a relay removed while a connection holds it drains, and added
// again before that ended it continues its /metrics series (one series
// per name); a changed relay's series continues too; the relays listen
// as the configuration says.
func TestRelaySetApply(t *testing.T) {
	w := memwire.New()
	client, rst, server := memStack(t, w, "c", "192.0.2.1/24"), memStack(t, w, "r", "192.0.2.2/24"), memStack(t, w, "s", "192.0.2.3/24")
	ls, err := server.ListenTCP(netip.MustParseAddrPort("192.0.2.3:81"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	go func() { // the server holds its connections until the client closes
		for {
			c, err := ls.AcceptTCP()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	sp := splice.New(splice.ModeSoftnet)
	defer sp.Close()
	m := metrics.New(rst, sp, &metrics.Options{NoRuntime: true})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	rs := &relaySet{st: rst, sp: sp, met: m, log: zap.NewNop(), drain: time.Minute}
	defer rs.close()
	a := spec("tcp:192.0.2.2:80", "tcp:192.0.2.3:81", 0, 0, 0, "")
	b := spec("tcp:192.0.2.2:82", "tcp:192.0.2.3:81", 0, 0, 0, "")
	series := func() map[string]float64 {
		t.Helper()
		got := map[string]float64{}
		for k, v := range scrapeMetrics(t, strings.TrimPrefix(srv.URL, "http://")) {
			if name, ok := strings.CutPrefix(k, `netsplice_relay_accepted_total{relay="`); ok {
				got[strings.TrimSuffix(name, `"}`)] = v
			}
		}
		return got
	}
	apply := func(specs ...relaySpec) relayDiff {
		t.Helper()
		d, err := rs.apply(specs)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		return d
	}
	listens := func(port uint16) bool {
		l, err := rst.ListenTCP(netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), port), 0)
		if err == nil {
			l.Close()
		}
		return err != nil
	}
	apply(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialTCP(ctx, netip.AddrPort{}, a.Listen.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("held"))
	// Removing a resets what its listener has not accepted yet: wait
	// until the relay holds the pair.
	for deadline := time.Now().Add(time.Minute); rs.relays[0].active() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the relay did not take the connection within a minute")
		}
	}

	if d := apply(b); len(d.removed) != 1 || len(d.added) != 1 {
		t.Fatalf("diff %+v, want a removed and b added", d)
	}
	if listens(80) || !listens(82) {
		t.Fatalf("after removing a and adding b: :80 listening %v, :82 %v; want false, true", listens(80), listens(82))
	}
	// a drains (its connection is open) and is added again meanwhile.
	apply(a, b)
	aName := "tcp:192.0.2.2:80->192.0.2.3:81"
	if got := series(); len(got) != 2 || got[aName] != 1 {
		t.Fatalf("series %v: want one for a (accepted 1, of the draining relay) and one for b", got)
	}
	// a changes its max: the series continues.
	if d := apply(withMax(a, 5), b); len(d.changed) != 1 {
		t.Fatalf("diff %+v, want a changed", d)
	}
	if got := series(); len(got) != 2 || got[aName] != 1 {
		t.Fatalf("series after the change %v: want still one for a, accepted 1", got)
	}
	c.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		rs.mu.Lock()
		n := len(rs.retiring)
		rs.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retired relays did not drain within a minute of the connection's close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := series(); len(got) != 2 || got[aName] != 1 {
		t.Fatalf("series after the drain %v: want one for a with accepted 1", got)
	}
	if !listens(80) || !listens(82) {
		t.Fatal("a or b stopped listening")
	}
}

// withMax returns s with max n.
func withMax(s relaySpec, n int64) relaySpec { s.Max = n; return s }
