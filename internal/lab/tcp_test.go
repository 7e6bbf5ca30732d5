package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/rss"
)

// patternSHA256 is the SHA-256 of /bytes/N: byte i is i % 251.
func patternSHA256(n int) string {
	h := sha256.New()
	var chunk [251 * 64]byte
	for i := range chunk {
		chunk[i] = byte(i % 251)
	}
	for left := n; left > 0; {
		k := min(left, len(chunk))
		h.Write(chunk[:k])
		left -= k
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tcpLab starts netsplice serve with the TCP services on af_packet, with
// the Linux kernel's TCP as the peer.
func tcpLab(t *testing.T, lcores string) (*Lab, string, *Proc) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "192.0.2.1/24", "--lcores", lcores,
		"--http", "80", "--echo", "tcp:7", "--discard", "tcp:9")
	return l, nsL, srv
}

// TestLinuxCurlDownload: curl, over the Linux kernel's TCP, downloads
// 100 MiB from netsplice's HTTP service; the SHA-256 is known.
func TestLinuxCurlDownload(t *testing.T) {
	l, ns, srv := tcpLab(t, "1")
	const n = 100 << 20
	out := l.In(ns, "sh", "-c", fmt.Sprintf("curl -sS --fail --max-time 120 http://192.0.2.1/bytes/%d | sha256sum", n))
	if got, want := strings.Fields(out)[0], patternSHA256(n); got != want {
		t.Fatalf("sha256 of the download %s, want %s (serve: %s)", got, want, srv.Output())
	}
	stats := srv.Stop()
	if !strings.Contains(stats, "tcp_established") {
		t.Fatalf("serve counters lack TCP:\n%s", stats)
	}
}

// TestLinuxCurlParallel: 200 concurrent curl downloads all complete.
func TestLinuxCurlParallel(t *testing.T) {
	_, ns, srv := tcpLab(t, "2")
	const n = 200
	const size = 256 << 10
	var args []string
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("http://192.0.2.1/bytes/%d", size), "-o", "/dev/null")
	}
	cmd := append([]string{"netns", "exec", ns, "curl", "-sS", "--no-progress-meter", "--fail", "--max-time", "60",
		"--parallel", "--parallel-max", "200", "--parallel-immediate", "-w", "%{http_code} %{size_download}\\n"}, args...)
	c := exec.Command("ip", cmd...)
	var errb bytes.Buffer
	c.Stderr = &errb
	out, err := c.Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s%s\nserve:\n%s", err, out, errb.String(), srv.Stop())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("%d transfers reported, want %d:\n%s", len(lines), n, out)
	}
	for _, ln := range lines {
		if ln != fmt.Sprintf("200 %d", size) {
			t.Fatalf("transfer reported %q, want \"200 %d\"", ln, size)
		}
	}
	srv.Stop()
}

// TestLinuxSocatEchoAndDiscard: socat streams random data through the
// echo service (SHA-256 compared) and into the discard service, which
// the stack receives coalesced (software GRO on the DPDK path).
func TestLinuxSocatEchoAndDiscard(t *testing.T) {
	_, ns, srv := tcpLab(t, "1")
	const n = 32 << 20
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// Echo: socat copies stdin to the connection and the connection to
	// stdout; -t waits for the echo to finish after stdin's EOF.
	cmd := exec.Command("ip", "netns", "exec", ns, "socat", "-t", "30", "-b", "65536", "STDIO", "TCP:192.0.2.1:7")
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("socat echo: %v: %s", err, errb.String())
	}
	if out.Len() != n || sha256.Sum256(out.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("echo returned %d bytes (sha256 match %v), sent %d", out.Len(), sha256.Sum256(out.Bytes()) == sha256.Sum256(data), n)
	}
	t.Logf("echo: %d MiB each way in %v", n>>20, time.Since(start).Round(time.Millisecond))
	// Discard: the service counts what it swallowed.
	cmd = exec.Command("ip", "netns", "exec", ns, "socat", "-u", "-b", "65536", "STDIN", "TCP:192.0.2.1:9")
	cmd.Stdin = io.LimitReader(bytes.NewReader(data), n)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("socat discard: %v: %s", err, out)
	}
	time.Sleep(200 * time.Millisecond)
	stats := srv.Stop()
	m := regexp.MustCompile(`discard tcp:9: (\d+) connections, (\d+) bytes`).FindStringSubmatch(stats)
	if m == nil {
		t.Fatalf("serve did not report the discard service:\n%s", stats)
	}
	if got, _ := strconv.Atoi(m[2]); got != n {
		t.Fatalf("discard service swallowed %d bytes, want %d", got, n)
	}
	// The kernel's segments arrive from af_packet in bursts: the stack
	// coalesced runs of them before TCP input (software GRO), and the
	// checksums above say it delivered them intact.
	if c := Counters(stats)["stack"]["tcp_rx_coalesced"]; c == 0 {
		t.Fatalf("tcp_rx_coalesced 0 after %d MiB in each direction: receive coalescing never happened on the DPDK path:\n%s", 2*n>>20, stats)
	} else {
		t.Logf("tcp_rx_coalesced %d", c)
	}
}

// TestLinuxCurlTwoSoftnets: netsplice serve with --lcores 2 on one
// af_packet queue pair (software RSS): 8 parallel 16 MiB downloads, their
// source ports chosen so that the Toeplitz hash puts 4 on each softnet,
// all arrive intact, and the port reports the frames one softnet handed
// to the other (rx_handoffs).
func TestLinuxCurlTwoSoftnets(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "198.51.100.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "198.51.100.1/24", "--lcores", "2", "--http", "80")
	const n, size = 8, 16 << 20
	ports := steeredPorts(t, [4]byte{198, 51, 100, 2}, [4]byte{198, 51, 100, 1}, 80, 2, n)
	want := patternSHA256(size)
	errs := make(chan error, n)
	for _, sport := range ports {
		go func() {
			script := fmt.Sprintf("set -o pipefail; curl -sS --fail --max-time 120 --local-port %d http://198.51.100.1/bytes/%d | sha256sum", sport, size)
			out, err := exec.Command("ip", "netns", "exec", nsL, "bash", "-c", script).CombinedOutput()
			switch {
			case err != nil:
				errs <- fmt.Errorf("download from port %d: %v: %s", sport, err, out)
			case strings.Fields(string(out))[0] != want:
				errs <- fmt.Errorf("download from port %d: sha256 %s, want %s", sport, strings.Fields(string(out))[0], want)
			default:
				errs <- nil
			}
		}()
	}
	for range ports {
		if err := <-errs; err != nil {
			t.Errorf("%v", err)
		}
	}
	out := srv.Stop()
	if t.Failed() {
		t.Fatalf("serve:\n%s", out)
	}
	port := checkPortCounters(t, out)
	if port["rx_handoffs"] == 0 {
		t.Fatalf("two softnets on one af_packet queue, 8 flows, and no software RSS handoff reported:\n%s", out)
	}
	if st := Counters(out)["stack"]; st["tcp_established"] < n {
		t.Fatalf("tcp_established %d, want at least %d:\n%s", st["tcp_established"], n, out)
	}
	t.Logf("8 x 16 MiB intact over 2 softnets; rx_handoffs %d of rx_packets %d", port["rx_handoffs"], port["rx_packets"])
}

// steeredPorts returns n source ports from 20000 up whose flows (src:port
// to dst:dport, TCP) netsplice's software RSS (default key, default RETA
// over queues softnets) spreads evenly over the softnets.
func steeredPorts(t *testing.T, src, dst [4]byte, dport uint16, queues, n int) []uint16 {
	t.Helper()
	h := rss.NewHasher(rss.DefaultKey())
	reta, err := rss.NewRETA(rss.DefaultRETASize, queues)
	if err != nil {
		t.Fatal(err)
	}
	per := make([]int, queues)
	var ports []uint16
	for p := uint16(20000); len(ports) < n && p < 30000; p++ {
		q := reta.Queue(h.HashIPv4Ports(src, dst, p, dport))
		if per[q] < n/queues {
			per[q]++
			ports = append(ports, p)
		}
	}
	if len(ports) != n {
		t.Fatalf("found only %d source ports for %d queues", len(ports), queues)
	}
	return ports
}

// TestLinuxServer: netsplice as the TCP client, the Linux kernel as the
// server (socat in its namespace): a download and an upload, SHA-256
// compared on both sides.
func TestLinuxServer(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "198.51.100.2/24")
	l.NoOffloads(nsD, dif)
	const n = 16 << 20
	dir := t.TempDir()
	file := dir + "/payload"
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Download: the Linux server sends the file and closes.
	srv := l.Start(nsL, "socat download server", "socat", "-u", "OPEN:"+file, "TCP-LISTEN:8000,reuseaddr")
	time.Sleep(300 * time.Millisecond)
	out, err := l.Netsplice(t, nsD, 90*time.Second, "connect", "--eal", EAL("net_af_packet0,iface="+dif),
		"--ip", "198.51.100.1/24", "198.51.100.2:8000")
	want := fmt.Sprintf("received %d bytes, sha256 %x", n, sha256.Sum256(data))
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("download from Linux (%v): want %q in:\n%s\nsocat:\n%s", err, want, out, srv.Stop())
	}
	srv.Stop()
	// Upload: netsplice sends the pattern, the Linux server stores it.
	upload := dir + "/upload"
	srv = l.Start(nsL, "socat upload server", "socat", "-u", "TCP-LISTEN:8001,reuseaddr", "CREATE:"+upload)
	time.Sleep(300 * time.Millisecond)
	out, err = l.Netsplice(t, nsD, 90*time.Second, "connect", "--eal", EAL("net_af_packet0,iface="+dif),
		"--ip", "198.51.100.1/24", "--send", strconv.Itoa(n), "198.51.100.2:8001")
	if err != nil {
		t.Fatalf("upload to Linux: %v\n%s", err, out)
	}
	if ok, _ := srv.Wait(10 * time.Second); !ok {
		t.Fatalf("socat did not finish the upload:\n%s", srv.Stop())
	}
	got, err := os.ReadFile(upload)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || hex.EncodeToString(func() []byte { s := sha256.Sum256(got); return s[:] }()) != patternSHA256(n) {
		t.Fatalf("Linux stored %d bytes, want %d of the pattern", len(got), n)
	}
}

// TestLinuxCurlSYNRing: `serve --syn-ring` on af_packet with two softnets:
// the port's pollers put each SYN from the Linux client on the SYN ring,
// softnet 0 takes it and hands those of flows softnet 1 owns over, and
// every download completes intact.
func TestLinuxCurlSYNRing(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "198.51.100.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "198.51.100.1/24", "--lcores", "2", "--syn-ring", "--http", "80")
	const n, size = 8, 1 << 20
	ports := steeredPorts(t, [4]byte{198, 51, 100, 2}, [4]byte{198, 51, 100, 1}, 80, 2, n)
	want := patternSHA256(size)
	for _, sport := range ports {
		script := fmt.Sprintf("set -o pipefail; curl -sS --fail --max-time 60 --local-port %d http://198.51.100.1/bytes/%d | sha256sum", sport, size)
		out, err := exec.Command("ip", "netns", "exec", nsL, "bash", "-c", script).CombinedOutput()
		if err != nil || strings.Fields(string(out))[0] != want {
			t.Errorf("download from port %d: %v: %s", sport, err, out)
		}
	}
	out := srv.Stop()
	if t.Failed() {
		t.Fatalf("serve:\n%s", out)
	}
	port := checkPortCounters(t, out)
	st := Counters(out)["stack"]
	if st["syn_ring_rx"] < n || st["syn_ring_crossed"] == 0 || port["rx_syn_ring"] < n {
		t.Fatalf("syn_ring_rx %d, syn_ring_crossed %d, port rx_syn_ring %d: want >= %d, > 0, >= %d:\n%s",
			st["syn_ring_rx"], st["syn_ring_crossed"], port["rx_syn_ring"], n, n, out)
	}
	if st["tcp_established"] < n {
		t.Fatalf("tcp_established %d, want at least %d:\n%s", st["tcp_established"], n, out)
	}
	t.Logf("%d downloads through the SYN ring: syn_ring_rx %d, crossed %d", n, st["syn_ring_rx"], st["syn_ring_crossed"])
}
