package lab

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// genReport is the part of gen's final JSON report the lab checks.
type genReport struct {
	Type        string   `json:"type"`
	Attempted   uint64   `json:"attempted"`
	Established uint64   `json:"established"`
	Completed   uint64   `json:"completed"`
	Failed      uint64   `json:"failed"`
	Requests    uint64   `json:"requests"`
	Sent        uint64   `json:"sent"`
	Received    uint64   `json:"received"`
	Missed      uint64   `json:"missed"`
	Retransmits uint64   `json:"retransmits"`
	OK          bool     `json:"ok"`
	Why         []string `json:"why"`
	Latency     map[string]struct {
		P50, P99, Max float64
	} `json:"latency_us"`
}

// runGen runs netsplice gen in ns on af_packet interface ifname with
// --json and returns its final report.
func runGen(t *testing.T, l *Lab, ns, ifname string, args ...string) genReport {
	t.Helper()
	return runGenIP(t, l, ns, ifname, "192.0.2.1/24", args...)
}

// runGenIP is runGen with the generator's --ip.
func runGenIP(t *testing.T, l *Lab, ns, ifname, ip string, args ...string) genReport {
	t.Helper()
	all := append([]string{"gen", "--eal", EAL("net_af_packet0,iface=" + ifname), "--ip", ip, "--json", "--log-level", "warn"}, args...)
	out, err := l.Netsplice(t, ns, 90*time.Second, all...)
	var final *genReport
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r genReport
		if jerr := json.Unmarshal([]byte(line), &r); jerr != nil {
			t.Fatalf("gen %q: bad JSON line %q: %v", args, line, jerr)
		}
		if r.Type == "final" {
			final = &r
		}
	}
	if final == nil || err != nil || !final.OK {
		t.Fatalf("gen %q: err %v, output:\n%s", args, err, out)
	}
	return *final
}

// serviceCounts parses the service lines `netsplice serve` prints when it
// stops: "service echo tcp:7: N connections, M bytes" and "service echo
// udp:7: N datagrams".
func serviceCounts(t *testing.T, out string) map[string][2]uint64 {
	t.Helper()
	c := map[string][2]uint64{}
	for _, m := range regexp.MustCompile(`service (\w+ \w+:\d+): (\d+) (?:connections, (\d+) bytes|datagrams)`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		b, _ := strconv.ParseUint(m[3], 10, 64)
		c[m[1]] = [2]uint64{n, b}
	}
	if len(c) == 0 {
		t.Fatalf("no service counts from netsplice serve --kernel:\n%s", out)
	}
	return c
}

// TestGenLinuxPeers: netsplice gen on af_packet against servers on the
// Linux kernel's sockets (netsplice serve --kernel): TCP echo, HTTP
// /bytes/N and UDP echo at fixed rates. Every rate is held, nothing fails, every byte is verified by
// gen, and the kernel's own counts agree with gen's. Meanwhile the
// kernel pings the generator, which answers.
func TestGenLinuxPeers(t *testing.T) {
	l := New(t)
	nsG, nsL := l.Netns("g"), l.Netns("l")
	gif, lif := l.Veth(nsG, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsG, gif)
	srv := l.Start(nsL, "netsplice serve --kernel", Binary, "serve", "--kernel", "--ip", "192.0.2.2/24", "--http", "80", "--echo", "tcp:7", "--echo", "udp:7")
	srv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)

	pinged := make(chan string, 1)
	go func() {
		time.Sleep(3 * time.Second) // gen's EAL and ARP are up by then
		out, _ := exec.Command("ip", "netns", "exec", nsL, "ping", "-c", "5", "-i", "0.2", "-W", "2", "192.0.2.1").CombinedOutput()
		pinged <- string(out)
	}()
	echo := runGen(t, l, nsG, gif, "--to", "tcp:192.0.2.2:7", "--rate", "100", "--duration", "4s", "--request", "3000", "--requests-per-conn", "2")
	if echo.Attempted != 400 || echo.Completed != 400 || echo.Requests != 800 || echo.Received != 800*3000 {
		t.Errorf("tcp echo: %+v", echo)
	}
	if out := <-pinged; !strings.Contains(out, " 0% packet loss") {
		t.Errorf("the kernel's ping of the generating stack:\n%s", out)
	}
	web := runGen(t, l, nsG, gif, "--to", "tcp:192.0.2.2:80", "--http", "--response", "20000", "--rate", "50", "--duration", "2s")
	if web.Attempted != 100 || web.Completed != 100 || web.Received != 100*20000 {
		t.Errorf("http: %+v", web)
	}
	// A second process reuses the first one's 4-tuples while the kernel
	// holds them in TIME-WAIT: its SYNs must carry newer timestamps than
	// the old connections' (the timestamp clock runs on across processes),
	// or the kernel rejects them and every connect waits out a 1 s SYN
	// retransmission. At twice the rate, a clock that started with the
	// process would make each tuple's new SYN older than its old one.
	web2 := runGen(t, l, nsG, gif, "--to", "tcp:192.0.2.2:80", "--http", "--response", "20000", "--rate", "100", "--duration", "1s")
	if web2.Attempted != 100 || web2.Completed != 100 || web2.Retransmits != 0 || web2.Latency["connect"].Max > 500e3 {
		t.Errorf("http again, over the kernel's TIME-WAIT: %d attempted, %d completed, %d retransmits, connect max %.0f us",
			web2.Attempted, web2.Completed, web2.Retransmits, web2.Latency["connect"].Max)
	}
	t.Logf("http again: %d completed, %d retransmits, connect p50 %.0f us, max %.0f us", web2.Completed, web2.Retransmits, web2.Latency["connect"].P50, web2.Latency["connect"].Max)
	udp := runGen(t, l, nsG, gif, "--to", "udp:192.0.2.2:7", "--rate", "2000", "--duration", "2s", "--flows", "8", "--size", "500")
	if udp.Attempted != 4000 || udp.Completed != 4000 || udp.Received != 4000*500 {
		t.Errorf("udp echo: %+v", udp)
	}
	for _, r := range []genReport{echo, web, udp} {
		if r.Latency["response"].P50 <= 0 && r.Latency["rtt"].P50 <= 0 {
			t.Errorf("no latency in %+v", r)
		}
	}
	// The kernel's side agrees: requests and bytes (HTTP), connections and
	// bytes (TCP echo), datagrams (UDP echo).
	k := serviceCounts(t, srv.Stop())
	want := map[string][2]uint64{"http tcp:80": {200, 200 * 20000}, "echo tcp:7": {400, 800 * 3000}, "echo udp:7": {4000, 0}}
	for name, n := range want {
		if k[name] != n {
			t.Errorf("kernel's %s served %v, gen counted %v", name, k[name], n)
		}
	}
}

// macOf returns the MAC of ifname in ns.
func macOf(t *testing.T, l *Lab, ns, ifname string) string {
	t.Helper()
	b, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+ifname+"/address").Output()
	if err != nil {
		t.Fatalf("MAC of %s in %s: %v", ifname, ns, err)
	}
	return strings.TrimSpace(string(b))
}

// TestGenStaticNeighbor: a device under test that answers no ARP (the
// Linux end with arp off, a permanent entry for the generator) is
// reachable with --neighbor: gen's UDP datagrams at a fixed rate all come
// back from the kernel's echo. Without --neighbor nothing resolves the
// target and the run fails, which the test also shows.
func TestGenStaticNeighbor(t *testing.T) {
	l := New(t)
	nsG, nsL := l.Netns("g"), l.Netns("l")
	gif, lif := l.Veth(nsG, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsG, gif)
	l.Cmd("ip", "-n", nsL, "link", "set", lif, "arp", "off")
	l.Cmd("ip", "-n", nsL, "neigh", "replace", "192.0.2.1", "lladdr", macOf(t, l, nsG, gif), "dev", lif, "nud", "permanent")
	srv := l.Start(nsL, "netsplice serve --kernel", Binary, "serve", "--kernel", "--ip", "192.0.2.2/24", "--echo", "udp:7")
	srv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)

	udp := runGen(t, l, nsG, gif, "--to", "udp:192.0.2.2:7", "--rate", "1000", "--duration", "1s", "--flows", "4",
		"--neighbor", "192.0.2.2="+macOf(t, l, nsL, lif))
	if udp.Attempted != 1000 || udp.Completed != 1000 {
		t.Errorf("udp echo through a static neighbour: %+v", udp)
	}
	all := []string{"gen", "--eal", EAL("net_af_packet0,iface=" + gif), "--ip", "192.0.2.1/24", "--json", "--log-level", "warn",
		"--to", "udp:192.0.2.2:7", "--rate", "1000", "--duration", "500ms", "--timeout", "1s"}
	out, err := l.Netsplice(t, nsG, 60*time.Second, all...)
	if err == nil || !strings.Contains(out, `"ok":false`) {
		t.Errorf("without --neighbor, a target that answers no ARP: err %v, want a failed run; output:\n%s", err, out)
	}
	if k := serviceCounts(t, srv.Stop()); k["echo udp:7"] != [2]uint64{1000, 0} {
		t.Errorf("kernel's echo served %v datagrams, gen counted 1000", k["echo udp:7"])
	}
}

// TestBenchGenUDPSink: bench's gen-udp-sink runs the generator on DPDK
// net_null ports it makes itself (no NIC, no namespace), one per --lcores
// value, and reports a rate and its cost per datagram.
func TestBenchGenUDPSink(t *testing.T) {
	out, err := exec.Command(Binary, "bench", "--workload", "gen-udp-sink", "--lcores", "1,2", "--duration", "300ms", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("bench gen-udp-sink: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r struct {
			Workload string  `json:"workload"`
			Softnets int     `json:"softnets"`
			PPS      float64 `json:"pps"`
			NsPerPkt float64 `json:"ns_per_pkt"`
			Packets  uint64  `json:"packets"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		n++
		if r.Workload != "gen-udp-sink" || r.Softnets != n || r.PPS <= 0 || r.NsPerPkt <= 0 || r.Packets == 0 {
			t.Errorf("implausible result %+v", r)
		}
	}
	if n != 2 {
		t.Fatalf("%d results, want one per --lcores value:\n%s", n, out)
	}
}
