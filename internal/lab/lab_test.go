package lab

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netsplice-lab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := BuildNetsplice(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// echoSizes are the UDP payload sizes the echo tests send: every size up
// to 64, then every 37th up to 1472, and 1472 (the largest datagram in a
// 1500-byte MTU).
func echoSizes() []int {
	var s []int
	for n := 1; n <= 64; n++ {
		s = append(s, n)
	}
	for n := 64 + 37; n < 1472; n += 37 {
		s = append(s, n)
	}
	return append(s, 1472)
}

// ping runs ping -c 3 from ns to dst and fails unless every reply came.
func ping(t *testing.T, l *Lab, ns, dst string) {
	t.Helper()
	out := l.In(ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", dst)
	if !strings.Contains(out, "3 received") {
		t.Fatalf("ping %s:\n%s", dst, out)
	}
	t.Logf("ping from Linux:\n%s", out)
}

// udpEcho sends one datagram of every echo size from ns through socat to
// dst:port and checks each comes back intact. One socat process carries
// them all: each datagram is written to its stdin in one write (pipe
// writes up to 4 KiB are atomic, so socat reads it whole and sends it as
// one datagram), and the echo is read back before the next is sent.
func udpEcho(t *testing.T, l *Lab, ns, dst string, port int, srcPort int) {
	t.Helper()
	addr := fmt.Sprintf("UDP:%s:%d", dst, port)
	if srcPort != 0 {
		addr += fmt.Sprintf(",sourceport=%d", srcPort)
	}
	udpEchoVia(t, ns, addr, uint64(port), uint64(srcPort), 1472)
}

// udpEchoVia is udpEcho through socat address addr (e.g.
// UDP6:[2001:db8:1::1]:7), with the echo sizes up to maxSize (1452 over
// IPv6), and maxSize itself; seed1 and seed2 seed the payloads.
func udpEchoVia(t *testing.T, ns, addr string, seed1, seed2 uint64, maxSize int) {
	t.Helper()
	args := []string{"netns", "exec", ns, "socat", "-b", "65536", "STDIO", addr}
	cmd := exec.Command("ip", args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	defer func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	rng := rand.New(rand.NewPCG(seed1, seed2))
	got := make([]byte, 2048)
	var sizes []int
	for _, n := range echoSizes() {
		if n < maxSize {
			sizes = append(sizes, n)
		}
	}
	sizes = append(sizes, maxSize)
	for _, n := range sizes {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		if _, err := in.Write(msg); err != nil {
			t.Fatalf("size %d: writing to socat: %v (%s)", n, err, stderr.String())
		}
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadFull(out, got[:n])
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("size %d: reading the echo: %v (%s)", n, err, stderr.String())
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: size %d: no echo within 3s", addr, n)
		}
		if !bytes.Equal(got[:n], msg) {
			t.Fatalf("%s: size %d: echo differs from what was sent", addr, n)
		}
	}
	t.Logf("UDP echo via %s: %d datagrams of 1..%d bytes came back intact", addr, len(sizes), maxSize)
}

// TestAFPacket: netsplice serve on the af_packet PMD at one end of a veth
// pair, the Linux kernel at the other: ping and UDP echo.
func TestAFPacket(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "192.0.2.1/24", "--echo", "udp:7", "--discard", "udp:9")
	t.Run("ping", func(t *testing.T) { ping(t, l, nsL, "192.0.2.1") })
	t.Run("udp-echo", func(t *testing.T) { udpEcho(t, l, nsL, "192.0.2.1", 7, 0) })
	out := srv.Stop()
	if !strings.Contains(out, "service echo udp:7: ") || !strings.Contains(out, "icmp_echo_replies_tx") {
		t.Fatalf("serve did not print its counters at exit:\n%s", out)
	}
	checkPortCounters(t, out)
}

// checkPortCounters checks the port section serve prints at exit: the
// port stats under netsplice's names (always printed, zero or not) and
// DPDK's xstats that traffic makes non-zero, under DPDK's names.
func checkPortCounters(t *testing.T, out string) map[string]uint64 {
	t.Helper()
	c := Counters(out)
	port, stack := c["port 0"], c["stack"]
	if port == nil || stack == nil {
		t.Fatalf("serve printed no softnet or port 0 counter section:\n%s", out)
	}
	for _, name := range []string{"rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_missed", "rx_nobuf", "tx_errors"} {
		if _, ok := port[name]; !ok {
			t.Errorf("port counters lack %s", name)
		}
	}
	for _, name := range []string{"rx_good_packets", "tx_good_packets", "rx_good_bytes", "rx_q0_packets", "tx_q0_packets"} {
		if port[name] == 0 {
			t.Errorf("port counters lack DPDK's xstat %s (or it is 0)", name)
		}
	}
	// The port saw at least what the stack received (frames the stack
	// sent are counted once the PMD took them).
	if port["rx_packets"] < stack["rx_packets"] || port["rx_good_packets"] != port["rx_packets"] {
		t.Errorf("port rx_packets %d, rx_good_packets %d, stack rx_packets %d: inconsistent",
			port["rx_packets"], port["rx_good_packets"], stack["rx_packets"])
	}
	if t.Failed() {
		t.Fatalf("serve output:\n%s", out)
	}
	return port
}

// TestAFPacketTwoSoftnets: two softnets over one af_packet queue pair:
// software RSS spreads flows over both softnets (handoffs) and both send
// through the one hardware tx queue under its lock.
func TestAFPacketTwoSoftnets(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "198.51.100.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "198.51.100.1/24", "--lcores", "2", "--echo", "udp:7")
	ping(t, l, nsL, "198.51.100.1")
	for _, sport := range []int{40001, 40002, 40003, 40004} {
		udpEcho(t, l, nsL, "198.51.100.1", 7, sport)
	}
	out := srv.Stop()
	if !strings.Contains(out, "software RSS") {
		t.Fatalf("serve did not report software RSS:\n%s", out)
	}
	checkPortCounters(t, out)
	t.Logf("serve:\n%s", out)
}

// TestTap: netsplice serve on net_tap, which creates a tap interface in
// netsplice's namespace; the Linux peer uses the tap's kernel side, with
// an address, in that same namespace. The tap PMD offers checksum offload
// both ways, so this is the DPDK path where the stack trusts the port's
// receive verdicts (RxL4ChecksumGood) and leaves its own checksums to the
// port: a curl download is verified byte for byte over it. It also offers
// TSO on chained mbufs: the download leaves 64 KiB at a time from the
// stack as mbuf chains the PMD segments (tx_tso_chains); with --no-tso the
// binding cuts the same super-frames in software (GSO).
func TestTap(t *testing.T) {
	needTools(t, "curl")
	for _, tso := range []bool{true, false} {
		name := map[bool]string{true: "tso", false: "no-tso"}[tso]
		t.Run(name, func(t *testing.T) {
			l := New(t)
			ns := l.Netns("t")
			tap := l.Name("tap")
			args := []string{"serve", "--eal", EAL("net_tap0,iface=" + tap + ",mac=fixed"),
				"--ip", "192.0.2.1/24", "--echo", "udp:7", "--http", "80", "--log-level", "info"}
			if !tso {
				args = append(args, "--no-tso")
			}
			srv := l.Start(ns, "netsplice serve net_tap", Binary, args...)
			srv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)
			l.LinuxEnd(ns, tap, "192.0.2.2/24")
			t.Run("ping", func(t *testing.T) { ping(t, l, ns, "192.0.2.1") })
			t.Run("udp-echo", func(t *testing.T) { udpEcho(t, l, ns, "192.0.2.1", 7, 0) })
			t.Run("curl-http", func(t *testing.T) {
				const n = 8 << 20
				if got := sha256Of(t, ns, fmt.Sprintf("curl -sS --fail --max-time 60 http://192.0.2.1/bytes/%d | sha256sum", n)); got != patternSHA256(n) {
					t.Fatalf("curl over net_tap: sha256 %s, want the pattern's", got)
				}
			})
			out := srv.Stop()
			seg := map[bool]string{true: "tcp-seg(hw", false: "tcp-seg(sw)"}[tso]
			if !strings.Contains(out, "rx-l4-cksum") || !strings.Contains(out, "tx-tcp-cksum") || !strings.Contains(out, seg) {
				t.Fatalf("serve did not report net_tap's checksum offloads (rx-l4-cksum, tx-tcp-cksum) and segmentation (%s...): the test no longer covers the verdict and segmentation paths:\n%s", seg, out)
			}
			port := checkPortCounters(t, out)
			st := Counters(out)["stack"]
			if st["tcp_tx_tso_frames"] == 0 || st["tcp_tx_tso_bytes"] < 4<<20 || port["tx_tso_drops"] != 0 || (port["tx_tso_chains"] > 0) != tso {
				t.Fatalf("tcp_tx_tso_frames %d, tcp_tx_tso_bytes %d, port tx_tso_chains %d, tx_tso_drops %d: the 8 MiB download did not go as super-frames through %s:\n%s",
					st["tcp_tx_tso_frames"], st["tcp_tx_tso_bytes"], port["tx_tso_chains"], port["tx_tso_drops"], name, out)
			}
		})
	}
}

// TestTapTSOLoss: a download over net_tap's TSO with 2% of the
// super-frames lost whole before the NIC (--impair ...,whole=true: the
// fault passes super-frames on uncut, so the NIC still segments the
// rest): TCP's recovery sends the lost bytes again as new chains over the
// same send-queue buffers that earlier chains referenced, and every byte
// arrives right (SHA-256); the retransmissions and the chains are
// counted. (The kernel side cannot drop here: this kernel has no netem or
// tc actions.)
func TestTapTSOLoss(t *testing.T) {
	needTools(t, "curl")
	l := New(t)
	ns := l.Netns("t")
	tap := l.Name("tap")
	srv := l.Start(ns, "netsplice serve net_tap", Binary, "serve", "--eal", EAL("net_tap0,iface="+tap+",mac=fixed"),
		"--ip", "192.0.2.1/24", "--http", "80", "--impair", "drop=2%,dir=tx,whole=true,seed=7", "--log-level", "info")
	srv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)
	l.LinuxEnd(ns, tap, "192.0.2.2/24")
	const n = 32 << 20
	if got := sha256Of(t, ns, fmt.Sprintf("curl -sS --fail --max-time 120 http://192.0.2.1/bytes/%d | sha256sum", n)); got != patternSHA256(n) {
		t.Fatalf("curl over net_tap with loss: sha256 %s, want the pattern's", got)
	}
	out := srv.Stop()
	c := Counters(out)
	st, port := c["stack"], c["port 0"]
	if port["tx_tso_chains"] == 0 || st["tcp_retransmits"] == 0 {
		t.Fatalf("port tx_tso_chains %d, stack tcp_retransmits %d: the download did not retransmit through TSO chains:\n%s",
			port["tx_tso_chains"], st["tcp_retransmits"], out)
	}
	t.Logf("tx_tso_chains %d, tcp_retransmits %d", port["tx_tso_chains"], st["tcp_retransmits"])
}

// TestTwoNetsplices: two netsplice processes, each on the af_packet PMD at
// one end of a veth pair: one serves, the other pings it.
func TestTwoNetsplices(t *testing.T) {
	l := New(t)
	nsA, nsB := l.Netns("a"), l.Netns("b")
	ifA, ifB := l.Veth(nsA, nsB, "v")
	l.NoOffloads(nsA, ifA)
	l.NoOffloads(nsB, ifB)
	l.Serve(nsA, "net_af_packet0,iface="+ifA, "198.51.100.1/24", "--echo", "udp:7")
	out, err := l.Netsplice(t, nsB, 30*time.Second, "ping", "--eal", EAL("net_af_packet0,iface="+ifB),
		"--ip", "198.51.100.2/24", "--count", "3", "198.51.100.1")
	if err != nil || !strings.Contains(out, "3 sent, 3 received") {
		t.Fatalf("netsplice ping (%v):\n%s", err, out)
	}
	t.Logf("netsplice ping:\n%s", out)
}

// TestServeBadInput: bad flags and EAL failures exit with status 2 and a
// message, without a panic, quickly.
func TestServeBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--ip"},
		{[]string{"serve", "--ip", "192.0.2.1/24", "--eal", "--no-such-eal-option"}, "EAL refused"},
		{[]string{"serve", "--ip", "192.0.2.1/24", "--eal", EAL(), "--echo", "sctp:7"}, "udp:PORT"},
		{[]string{"serve", "--ip", "not-an-ip", "--eal", EAL()}, "CIDR"},
		{[]string{"serve", "--ip", "192.0.2.1/24", "--eal", EAL(), "--impair", "drop=7"}, "probability"},
		{[]string{"serve", "--ip", "192.0.2.1/24", "--eal", EAL(), "--poll", "lazy"}, "busy or adaptive"},
		{[]string{"serve", "--ip", "192.0.2.1/24", "--eal", EAL(), "--gateway", "198.51.100.1"}, "inside no --ip"},
		{[]string{"serve", "--ip", "192.0.2.1/24", "--eal", EAL()}, "no port 0"},
		{[]string{"ping", "--ip", "192.0.2.1/24", "--eal", EAL("net_ring0"), "nohost"}, "not an IPv4 address"},
	} {
		cmd := exec.Command(Binary, tc.args...)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("netsplice %q hung", tc.args)
		}
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 2 || !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "panic") {
			t.Errorf("netsplice %q: exit %d (%v), want 2 and a message with %q:\n%s", tc.args, code, err, tc.want, out)
		}
	}
}
