package lab

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRelayLinuxPeers: a Linux client, netsplice relay on two af_packet
// ports, Linux servers, relays from a --config file, in each splice mode:
// TCP downloads with socat and curl (SHA-256 compared), UDP echo of 1..1472-byte datagrams
// through a UDP relay session, --max (exactly that many bytes, then EOF),
// --idle (a quiet pair is closed after its idle time) and a client reset
// that reaches the server as a reset.
func TestRelayLinuxPeers(t *testing.T) {
	l := New(t)
	nsC, nsR, nsS := l.Netns("c"), l.Netns("r"), l.Netns("s")
	rc, cif := l.Veth(nsR, nsC, "a")
	rs, sif := l.Veth(nsR, nsS, "b")
	l.LinuxEnd(nsC, cif, "192.0.2.2/24")
	l.LinuxEnd(nsS, sif, "198.51.100.2/24")
	l.NoOffloads(nsR, rc)
	l.NoOffloads(nsR, rs)
	const n = 32 << 20
	dir := t.TempDir()
	file := dir + "/payload"
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x", sha256.Sum256(data))
	// -U: data flows from the file (opened per connection) to the client.
	srv := l.Start(nsS, "socat file server", "socat", "-U", "TCP-LISTEN:8000,reuseaddr,fork", "OPEN:"+file)
	defer srv.Stop()
	// A UDP echo server: each datagram is answered from port 5353.
	usrv := l.Start(nsS, "socat udp echo", "socat", "-b", "65536", "UDP4-RECVFROM:5353,fork", "PIPE")
	defer usrv.Stop()
	// A minimal HTTP/1.0 server for curl: the payload after a header.
	httpd := dir + "/httpd.sh"
	if err := os.WriteFile(httpd, []byte(fmt.Sprintf("#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n'\nexec cat %s\n", n, file)), 0o755); err != nil {
		t.Fatal(err)
	}
	hsrv := l.Start(nsS, "socat http server", "socat", "TCP-LISTEN:8080,reuseaddr,fork", "EXEC:"+httpd)
	defer hsrv.Stop()
	// A server that never sends: the idle relay's backend.
	quiet := l.Start(nsS, "socat quiet server", "socat", "-u", "TCP-LISTEN:8001,reuseaddr,fork", "OPEN:/dev/null")
	defer quiet.Stop()
	config := dir + "/relays.yaml"
	const maxBytes = 1000000
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`relays:
  - listen: tcp:192.0.2.1:80
    to: tcp:198.51.100.2:8000
  - listen: tcp:192.0.2.1:81
    to: tcp:198.51.100.2:8000
    max: %d
  - listen: tcp:192.0.2.1:82
    to: tcp:198.51.100.2:8001
    idle: 1s
  - listen: tcp:192.0.2.1:83
    to: tcp:198.51.100.2:8002
  - listen: udp:192.0.2.1:53
    to: udp:198.51.100.2:5353
  - listen: tcp:192.0.2.1:84
    to: tcp:198.51.100.2:8080
`, maxBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"softnet", "dedicated", "copy"} {
		t.Run(mode, func(t *testing.T) {
			relay := l.Start(nsR, "netsplice relay "+mode, Binary, "relay",
				// Two ports of two queues: more mempool memory than one port needs.
				"--eal", strings.Replace(EAL("net_af_packet0,iface="+rc, "net_af_packet1,iface="+rs), "-m 256", "-m 640", 1),
				"--ip", "192.0.2.1/24", "--ip", "198.51.100.1/24", "--lcores", "2", "--mode", mode,
				"--config", config, "--drain-timeout", "1s")
			defer relay.Stop() // also when a check fails: the next mode needs the ports
			relay.WaitFor(t, "netsplice relay: ready", ReadyTimeout)
			out := l.In(nsC, "sh", "-c", "socat -u TCP:192.0.2.1:80 STDOUT | sha256sum")
			if got := strings.Fields(out)[0]; got != want {
				t.Fatalf("download through the relay: sha256 %s, want %s\nrelay:\n%s", got, want, relay.Stop())
			}
			out = l.In(nsC, "sh", "-c", "curl -sS --fail --max-time 60 http://192.0.2.1:84/ | sha256sum")
			if got := strings.Fields(out)[0]; got != want {
				t.Fatalf("curl through the relay: sha256 %s, want %s (%s)", got, want, out)
			}
			udpEcho(t, l, nsC, "192.0.2.1", 53, 0)
			out = l.In(nsC, "sh", "-c", "socat -u TCP:192.0.2.1:81 STDOUT | sha256sum")
			if got, w := strings.Fields(out)[0], fmt.Sprintf("%x", sha256.Sum256(data[:maxBytes])); got != w {
				t.Fatalf("download through the max %d relay: sha256 %s, want that of the first %d bytes", maxBytes, got, maxBytes)
			}
			start := time.Now()
			out = l.In(nsC, "sh", "-c", "socat -T 20 -u TCP:192.0.2.1:82 STDOUT | wc -c")
			if d := time.Since(start); strings.TrimSpace(out) != "0" || d < time.Second || d > 10*time.Second {
				t.Fatalf("idle relay: the client got %s bytes and EOF after %v, want 0 bytes after the 1s idle time", strings.TrimSpace(out), d)
			}
			clientResetReachesServer(t, nsC, nsS)
			stats := relay.Stop()
			for _, w := range []string{"relayed 1 ", "sessions 1 ", "resets 1", "8080: accepted 1 relayed 1"} {
				if !strings.Contains(stats, w) {
					t.Fatalf("relay report lacks %q:\n%s", w, stats)
				}
			}
			t.Logf("relay %s:\n%s", mode, grepLines(stats, "relay ", "splice:"))
		})
	}
	time.Sleep(10 * time.Millisecond)
}

// clientResetReachesServer connects from nsC through the relay's port 83
// to a server in nsS on 8002, sends data, resets the client connection
// (SO_LINGER 0) and checks that the server's read fails with ECONNRESET.
func clientResetReachesServer(t *testing.T, nsC, nsS string) {
	t.Helper()
	var ln net.Listener
	if err := inNetns(nsS, func() (err error) {
		ln, err = net.Listen("tcp4", "198.51.100.2:8002")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		n, err := io.Copy(io.Discard, c)
		got <- int(n)
		serverErr <- err
	}()
	var c *net.TCPConn
	if err := inNetns(nsC, func() error {
		conn, err := net.DialTimeout("tcp4", "192.0.2.1:83", 5*time.Second)
		if err == nil {
			c = conn.(*net.TCPConn)
		}
		return err
	}); err != nil {
		t.Fatalf("connecting through the relay: %v", err)
	}
	if _, err := c.Write([]byte("hello before the reset")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the data through first
	c.SetLinger(0)
	c.Close() // RST, no FIN
	select {
	case err := <-serverErr:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("server after the client's reset: %v (read %d bytes), want ECONNRESET", err, <-got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server never saw the client's reset")
	}
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(ln, p) {
				out = append(out, ln)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestRelayLabScript runs `make run`'s lab (scripts/relay-lab.sh) briefly:
// it must build its namespaces, relay in every mode, print its table and
// clean up.
func TestRelayLabScript(t *testing.T) {
	New(t) // checks root and ip netns
	out, err := exec.Command("bash", "../../scripts/relay-lab.sh", Binary, "1").CombinedOutput()
	if err != nil {
		t.Fatalf("relay-lab.sh: %v\n%s", err, out)
	}
	rows := 0
	for _, mode := range []string{"softnet", "dedicated", "copy"} {
		for _, w := range []string{"iperf3", "download"} {
			for _, ln := range strings.Split(string(out), "\n") {
				if f := strings.Fields(ln); len(f) >= 3 && f[0] == mode && f[1] == w && f[2] != "0.00" {
					rows++
				}
			}
		}
	}
	if rows != 6 {
		t.Fatalf("want 6 table rows with throughput, got %d:\n%s", rows, out)
	}
	if leftovers, _ := exec.Command("sh", "-c", "ip netns list | grep -c '^nsr' || true").Output(); strings.TrimSpace(string(leftovers)) != "0" {
		t.Fatalf("the lab left namespaces behind: %s", leftovers)
	}
	t.Logf("relay lab:\n%s", out)
}

// TestTapRelayTSO: the relay on two net_tap ports, whose PMD takes TSO
// chains: a 32 MiB download from a Linux server reaches the Linux client
// through the softnet splice as chains whose payload is the packets the
// relay received (referenced, not copied: tx_tso_chains on the client's
// port), every byte right (SHA-256). Both Linux ends are the taps' kernel
// sides in the relay's namespace; their addresses are on the taps only, so
// every byte crosses netsplice.
func TestTapRelayTSO(t *testing.T) {
	needTools(t, "socat")
	l := New(t)
	ns := l.Netns("r")
	tc, ts := l.Name("tc"), l.Name("ts")
	dir := t.TempDir()
	file, want := randomFile(t, dir, "payload", 32<<20, 11)
	config := dir + "/relays.yaml"
	if err := os.WriteFile(config, []byte("relays:\n  - listen: tcp:192.0.2.1:80\n    to: tcp:198.51.100.2:8000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	relay := l.Start(ns, "netsplice relay net_tap", Binary, "relay",
		"--eal", strings.Replace(EAL("net_tap0,iface="+tc+",mac=fixed", "net_tap1,iface="+ts+",mac=fixed"), "-m 256", "-m 640", 1),
		"--ip", "192.0.2.1/24", "--ip", "198.51.100.1/24", "--mode", "softnet", "--config", config, "--drain-timeout", "1s", "--log-level", "info")
	defer relay.Stop()
	relay.WaitFor(t, "netsplice relay: ready", ReadyTimeout)
	l.LinuxEnd(ns, tc, "192.0.2.2/24")
	l.LinuxEnd(ns, ts, "198.51.100.2/24")
	srv := l.Start(ns, "socat file server", "socat", "-U", "TCP-LISTEN:8000,bind=198.51.100.2,reuseaddr,fork", "OPEN:"+file)
	defer srv.Stop()
	time.Sleep(200 * time.Millisecond) // the listener
	out := l.In(ns, "sh", "-c", "socat -u TCP:192.0.2.1:80,bind=192.0.2.2 STDOUT | sha256sum")
	if got := strings.Fields(out)[0]; got != want {
		t.Fatalf("download through the relay on net_tap: sha256 %s, want %s\nrelay:\n%s", got, want, relay.Stop())
	}
	stats := relay.Stop()
	c := Counters(stats)
	if p := c["port 0"]; p["tx_tso_chains"] == 0 || p["tx_tso_drops"] != 0 {
		t.Fatalf("client-side port: tx_tso_chains %d, tx_tso_drops %d: the relay did not send the download as TSO chains:\n%s",
			p["tx_tso_chains"], p["tx_tso_drops"], stats)
	}
	t.Logf("tx_tso_chains %d, tcp_tx_tso_bytes %d, tcp_tx_copy_bytes %d", c["port 0"]["tx_tso_chains"], c["stack"]["tcp_tx_tso_bytes"], c["stack"]["tcp_tx_copy_bytes"])
	// Spliced data is never copied by the stack: single segments and
	// retransmissions leave as chains of one segment too.
	if n := c["stack"]["tcp_tx_copy_bytes"]; n != 0 || c["stack"]["tcp_tx_tso_bytes"] < 32<<20 {
		t.Fatalf("relay: tcp_tx_copy_bytes %d, tcp_tx_tso_bytes %d: want 0 copied, the 32 MiB by reference:\n%s", n, c["stack"]["tcp_tx_tso_bytes"], stats)
	}
}
