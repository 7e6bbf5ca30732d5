package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver/rss"
	"github.com/netsplice/netsplice/stack/header"
)

// linkLocal returns the EUI-64 link-local address of interface ifname in
// ns, from its MAC: the address netsplice derives on a DPDK af_packet
// port (which takes the interface's MAC), and the kernel's own.
func linkLocal(t *testing.T, l *Lab, ns, ifname string) netip.Addr {
	t.Helper()
	out := l.In(ns, "cat", "/sys/class/net/"+ifname+"/address")
	hw, err := net.ParseMAC(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("MAC of %s: %v", ifname, err)
	}
	return netip.AddrFrom16(header.IPv6LinkLocal(header.MAC(hw)))
}

// netspliceEnd readies interface ifname in ns for netsplice's af_packet
// port: offloads off, and the kernel's own IPv6 off on it, so that the
// kernel behind the port does not answer IPv6 itself (its link-local
// address would be netsplice's: the same MAC).
func netspliceEnd(l *Lab, ns, ifname string) {
	l.t.Helper()
	l.In(ns, "sysctl", "-qw", "net.ipv6.conf."+ifname+".disable_ipv6=1")
	l.NoOffloads(ns, ifname)
}

// dualStackLinux makes ifname in ns a Linux peer with IPv4 address cidr4
// and IPv6 address cidr6 (no DAD), and waits until the kernel's own
// link-local address has passed DAD (it solicits neighbours from it).
func dualStackLinux(t *testing.T, l *Lab, ns, ifname, cidr4, cidr6 string) {
	t.Helper()
	l.LinuxEnd(ns, ifname, cidr4)
	l.Cmd("ip", "-n", ns, "addr", "add", cidr6, "dev", ifname, "nodad")
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(l.Cmd("ip", "-n", ns, "-6", "addr", "show", "dev", ifname), "tentative") {
		if time.Now().After(deadline) {
			t.Fatalf("Linux's IPv6 addresses stayed tentative:\n%s", l.Cmd("ip", "-n", ns, "-6", "addr", "show", "dev", ifname))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// needTools fails the test unless every tool is installed.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (make deps installs socat, curl and iperf3): %v", tool, err)
		}
	}
}

// randomFile writes n pseudo-random bytes to dir/name and returns its
// path and SHA-256.
func randomFile(t *testing.T, dir, name string, n int, seed uint64) (string, string) {
	t.Helper()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fmt.Sprintf("%x", sha256.Sum256(data))
}

// sha256Of runs shell pipeline cmd in ns (set -o pipefail) and returns
// the first field of its output: a sha256sum at its end. A failure fails
// t (the subtest, not the lab's test).
func sha256Of(t *testing.T, ns, cmd string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "bash", "-c", "set -o pipefail; "+cmd).CombinedOutput()
	f := strings.Fields(string(out))
	if err != nil || len(f) == 0 {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return f[0]
}

// TestIPv6LinuxClients: one dual-stack netsplice serve on af_packet,
// Linux clients over IPv6: curl -6 downloads /bytes/N from the HTTP
// service (the i % 251 pattern's SHA-256), and the same listener answers
// curl over IPv4; UDP echo of 1..1452-byte datagrams through socat UDP6;
// TCP echo of 8 MiB through socat TCP6 (SHA-256 compared); stock iperf3
// -6 (TCP, -R, UDP) against serve --iperf3, both sides' byte counts
// compared and the test's client an IPv6 address.
func TestIPv6LinuxClients(t *testing.T) {
	needTools(t, "curl", "socat", "iperf3")
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	netspliceEnd(l, nsD, dif)
	dualStackLinux(t, l, nsL, lif, "192.0.2.2/24", "2001:db8:1::2/64")
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "192.0.2.1/24,2001:db8:1::1/64",
		"--http", "80", "--echo", "tcp:7", "--echo", "udp:7", "--iperf3", "5201")
	t.Run("curl6-http", func(t *testing.T) {
		const n = 16 << 20
		got := sha256Of(t, nsL, fmt.Sprintf("curl -6 -sS --fail --max-time 60 'http://[2001:db8:1::1]/bytes/%d' | sha256sum", n))
		if want := patternSHA256(n); got != want {
			t.Fatalf("curl -6: sha256 %s, want %s (the i %% 251 pattern)", got, want)
		}
		// The service listens on [::]: IPv4 clients reach the same one.
		const m = 1 << 20
		if got := sha256Of(t, nsL, fmt.Sprintf("curl -4 -sS --fail --max-time 60 http://192.0.2.1/bytes/%d | sha256sum", m)); got != patternSHA256(m) {
			t.Fatalf("curl -4 on the dual-stack service: sha256 %s, want the pattern's", got)
		}
	})
	t.Run("udp6-echo", func(t *testing.T) { udpEchoVia(t, nsL, "UDP6:[2001:db8:1::1]:7", 6, 7, 1452) })
	t.Run("tcp6-echo", func(t *testing.T) {
		const n = 8 << 20
		data := make([]byte, n)
		rng := rand.New(rand.NewPCG(6, 6))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		cmd := exec.Command("ip", "netns", "exec", nsL, "socat", "-t", "30", "-b", "65536", "STDIO", "TCP6:[2001:db8:1::1]:7")
		cmd.Stdin = bytes.NewReader(data)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("socat TCP6 echo: %v: %s", err, errb.String())
		}
		if out.Len() != n || sha256.Sum256(out.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("TCP6 echo returned %d bytes (sha256 match %v), sent %d", out.Len(), sha256.Sum256(out.Bytes()) == sha256.Sum256(data), n)
		}
	})
	t.Run("iperf3-6", func(t *testing.T) {
		line := regexp.MustCompile(`iperf3 test (\d+) from (\S+): (\w+), (\d+) streams, reverse (\w+), bidir (\w+): received (\d+) bytes, sent (\d+) bytes`)
		for i, tc := range []struct {
			name string
			args []string
		}{
			{"tcp", []string{"-t", "2"}},
			{"reverse", []string{"-t", "1", "-R"}},
			{"udp", []string{"-t", "1", "-u", "-b", "20M"}},
		} {
			args := append([]string{"netns", "exec", nsL, "iperf3", "-6", "-c", "2001:db8:1::1", "-p", "5201", "-J"}, tc.args...)
			out, err := exec.Command("ip", args...).Output()
			var r iperf3Sums
			if jerr := json.Unmarshal(out, &r); err != nil || jerr != nil || r.Error != "" {
				t.Fatalf("%s: iperf3 -6 %q: %v %v %s\n%s\nserve:\n%s", tc.name, tc.args, err, jerr, r.Error, out, srv.Output())
			}
			srv.WaitFor(t, fmt.Sprintf("iperf3 test %d from", i+1), time.Minute)
			var m []string
			for _, ln := range strings.Split(srv.Output(), "\n") {
				if mm := line.FindStringSubmatch(ln); mm != nil && mm[1] == strconv.Itoa(i+1) {
					m = mm
				}
			}
			if m == nil {
				t.Fatalf("%s: no line for test %d in:\n%s", tc.name, i+1, srv.Output())
			}
			if !strings.HasPrefix(m[2], "[2001:db8:1::2]:") {
				t.Errorf("%s: the test came from %s, want the client's IPv6 address", tc.name, m[2])
			}
			srvReceived, _ := strconv.ParseUint(m[7], 10, 64)
			srvSent, _ := strconv.ParseUint(m[8], 10, 64)
			switch tc.name {
			case "tcp":
				if srvReceived == 0 || r.End.SumReceived.Bytes != srvReceived {
					t.Errorf("%s: iperf3 reports %d bytes received at the server, netsplice counted %d", tc.name, r.End.SumReceived.Bytes, srvReceived)
				}
			case "reverse":
				if srvSent == 0 || r.End.SumReceived.Bytes == 0 || r.End.SumSent.Bytes != srvSent {
					t.Errorf("%s: client received %d, server says it sent %d, iperf3's server-side sent %d", tc.name, r.End.SumReceived.Bytes, srvSent, r.End.SumSent.Bytes)
				}
			case "udp":
				if srvReceived == 0 || r.End.Sum.Bytes == 0 || r.End.Sum.Packets == 0 {
					t.Errorf("%s: server received %d bytes; iperf3: %+v", tc.name, srvReceived, r.End.Sum)
				}
			}
		}
	})
	stats := srv.Stop()
	c := Counters(stats)["stack"]
	if c["tcp_established"] < 5 || c["ip6_rx"] == 0 || c["nd_adverts_tx"] == 0 {
		t.Fatalf("serve's counters: tcp_established %d, ip6_rx %d, nd_adverts_tx %d:\n%s", c["tcp_established"], c["ip6_rx"], c["nd_adverts_tx"], stats)
	}
	if !strings.Contains(stats, "service echo udp:7: ") {
		t.Fatalf("serve did not report its UDP echo service:\n%s", stats)
	}
}

// TestIPv6LinuxServers: netsplice as the client over IPv6 of servers on
// the Linux kernel. netsplice connect downloads a file from socat
// TCP6-LISTEN, from a dual-stack port and from an IPv6-only one, and
// uploads the pattern to another (SHA-256 compared on both sides); netsplice gen runs TCP echo, HTTP /bytes/N and UDP echo
// against netsplice serve --kernel on the kernel's IPv6 address, at fixed
// rates, and the kernel's counts agree with gen's.
func TestIPv6LinuxServers(t *testing.T) {
	needTools(t, "socat")
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	netspliceEnd(l, nsD, dif)
	dualStackLinux(t, l, nsL, lif, "192.0.2.2/24", "2001:db8:1::2/64")
	const ip = "192.0.2.1/24,2001:db8:1::1/64"
	dir := t.TempDir()
	const n = 8 << 20
	file, want := randomFile(t, dir, "payload", n, 12)
	// A dual-stack port, then an IPv6-only one (--ip with no IPv4 CIDR).
	for _, tc := range []struct{ name, ip string }{{"dual-stack", ip}, {"ipv6-only", "2001:db8:1::1/64"}} {
		ip := tc.ip
		t.Run("connect6-download-"+tc.name, func(t *testing.T) {
			srv := l.Start(nsL, "socat TCP6 download server", "socat", "-u", "OPEN:"+file, "TCP6-LISTEN:8000,bind=[2001:db8:1::2],reuseaddr")
			defer srv.Stop()
			time.Sleep(300 * time.Millisecond)
			out, err := l.Netsplice(t, nsD, time.Minute, "connect", "--eal", EAL("net_af_packet0,iface="+dif), "--ip", ip, "[2001:db8:1::2]:8000")
			if w := fmt.Sprintf("received %d bytes, sha256 %s", n, want); err != nil || !strings.Contains(out, w) {
				t.Fatalf("connect over IPv6 (%v): want %q in:\n%s\nsocat:\n%s", err, w, out, srv.Stop())
			}
		})
	}
	t.Run("connect6-upload", func(t *testing.T) {
		upload := filepath.Join(dir, "upload")
		srv := l.Start(nsL, "socat TCP6 upload server", "socat", "-u", "TCP6-LISTEN:8001,bind=[2001:db8:1::2],reuseaddr", "CREATE:"+upload)
		defer srv.Stop()
		time.Sleep(300 * time.Millisecond)
		out, err := l.Netsplice(t, nsD, time.Minute, "connect", "--eal", EAL("net_af_packet0,iface="+dif), "--ip", ip,
			"--send", strconv.Itoa(n), "[2001:db8:1::2]:8001")
		if err != nil {
			t.Fatalf("connect --send over IPv6: %v\n%s", err, out)
		}
		if ok, _ := srv.Wait(10 * time.Second); !ok {
			t.Fatalf("socat did not finish the upload:\n%s", srv.Stop())
		}
		got, err := os.ReadFile(upload)
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(got); len(got) != n || hex.EncodeToString(s[:]) != patternSHA256(n) {
			t.Fatalf("Linux stored %d bytes, want %d of the pattern", len(got), n)
		}
	})
	t.Run("gen6", func(t *testing.T) {
		ksrv := l.Start(nsL, "netsplice serve --kernel", Binary, "serve", "--kernel", "--ip", "192.0.2.2/24,2001:db8:1::2/64",
			"--http", "80", "--echo", "tcp:7", "--echo", "udp:7")
		ksrv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)
		echo := runGenIP(t, l, nsD, dif, ip, "--to", "tcp:[2001:db8:1::2]:7", "--rate", "100", "--duration", "1s", "--request", "3000", "--requests-per-conn", "2")
		if echo.Attempted != 100 || echo.Completed != 100 || echo.Requests != 200 || echo.Received != 200*3000 {
			t.Errorf("tcp echo over IPv6: %+v", echo)
		}
		web := runGenIP(t, l, nsD, dif, ip, "--to", "tcp:[2001:db8:1::2]:80", "--http", "--response", "20000", "--rate", "50", "--duration", "1s")
		if web.Attempted != 50 || web.Completed != 50 || web.Received != 50*20000 {
			t.Errorf("http over IPv6: %+v", web)
		}
		udp := runGenIP(t, l, nsD, dif, ip, "--to", "udp:[2001:db8:1::2]:7", "--rate", "1000", "--duration", "1s", "--flows", "4", "--size", "1452")
		if udp.Attempted != 1000 || udp.Completed != 1000 || udp.Received != 1000*1452 {
			t.Errorf("udp echo over IPv6: %+v", udp)
		}
		k := serviceCounts(t, ksrv.Stop())
		for name, n := range map[string][2]uint64{"http tcp:80": {50, 50 * 20000}, "echo tcp:7": {100, 200 * 3000}, "echo udp:7": {1000, 0}} {
			if k[name] != n {
				t.Errorf("the kernel's %s served %v, gen counted %v", name, k[name], n)
			}
		}
	})
}

// TestIPv6RelayLinuxPeers: a Linux client, netsplice relay on two
// dual-stack af_packet ports, Linux servers, in each splice mode; every
// pair of families: TCP downloads (SHA-256 compared) and UDP echo of
// 1..1452-byte datagrams relayed v6->v6, v6->v4 and v4->v6, and through
// [::] listeners that take clients of both families.
func TestIPv6RelayLinuxPeers(t *testing.T) {
	needTools(t, "socat")
	l := New(t)
	nsC, nsR, nsS := l.Netns("c"), l.Netns("r"), l.Netns("s")
	rc, cif := l.Veth(nsR, nsC, "a")
	rs, sif := l.Veth(nsR, nsS, "b")
	netspliceEnd(l, nsR, rc)
	netspliceEnd(l, nsR, rs)
	dualStackLinux(t, l, nsC, cif, "192.0.2.2/24", "2001:db8:1::2/64")
	dualStackLinux(t, l, nsS, sif, "198.51.100.2/24", "2001:db8:2::2/64")
	file, want := randomFile(t, t.TempDir(), "payload", 4<<20, 21)
	// One server per family, each bound to its address only: a relay
	// that dialled the wrong family would find nothing there.
	for _, s := range [][]string{
		{"-U", "TCP4-LISTEN:8004,bind=198.51.100.2,reuseaddr,fork", "OPEN:" + file},
		{"-U", "TCP6-LISTEN:8006,bind=[2001:db8:2::2],reuseaddr,fork", "OPEN:" + file},
	} {
		l.Start(nsS, "socat "+s[1], "socat", s...)
	}
	// The UDP echoes are one kernel socket each (serve --kernel binds
	// its --ip address only): socat's UDP-RECVFROM with fork forks a child
	// per datagram, and under a loaded CI machine one went silent.
	for _, e := range []struct{ ip, echo string }{{"198.51.100.2/24", "udp:5354"}, {"2001:db8:2::2/64", "udp:5356"}} {
		srv := l.Start(nsS, "netsplice serve --kernel "+e.echo, Binary, "serve", "--kernel", "--ip", e.ip, "--echo", e.echo)
		srv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)
	}
	relays := []struct{ listen, to string }{
		{"tcp:[2001:db8:1::1]:80", "tcp:[2001:db8:2::2]:8006"}, // v6 -> v6
		{"tcp:[2001:db8:1::1]:81", "tcp:198.51.100.2:8004"},    // v6 -> v4
		{"tcp:192.0.2.1:82", "tcp:[2001:db8:2::2]:8006"},       // v4 -> v6
		{"tcp:[::]:83", "tcp:[2001:db8:2::2]:8006"},            // both -> v6
		{"udp:[2001:db8:1::1]:53", "udp:[2001:db8:2::2]:5356"}, // v6 -> v6
		{"udp:[2001:db8:1::1]:54", "udp:198.51.100.2:5354"},    // v6 -> v4
		{"udp:192.0.2.1:55", "udp:[2001:db8:2::2]:5356"},       // v4 -> v6
		{"udp:[::]:56", "udp:198.51.100.2:5354"},               // both -> v4
	}
	// The UDP v4->v6 relay's clients come from source ports whose IPv4
	// hash picks softnet 1: the session's backend socket must get its
	// IPv6 replies on the client's softnet, which the af_packet port's
	// software RSS does only when it hashes IPv6 too (it once put every
	// IPv6 frame on the queue of hash 0, and these sessions failed).
	const v4to6 = "UDP4:192.0.2.1:55"
	ports := portsOnQueue(t, [4]byte{192, 0, 2, 2}, [4]byte{192, 0, 2, 1}, 55, 2, 1, 2)
	time.Sleep(200 * time.Millisecond) // the servers listen
	for _, mode := range []string{"softnet", "dedicated", "copy"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"relay",
				"--eal", strings.Replace(EAL("net_af_packet0,iface="+rc, "net_af_packet1,iface="+rs), "-m 256", "-m 640", 1),
				"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--ip", "198.51.100.1/24,2001:db8:2::1/64",
				"--lcores", "2", "--mode", mode, "--drain-timeout", "300ms"}
			for _, r := range relays {
				args = append(args, "--listen", r.listen, "--to", r.to)
			}
			relay := l.Start(nsR, "netsplice relay "+mode, Binary, args...)
			defer relay.Stop() // also when a check fails: the next mode needs the ports
			relay.WaitFor(t, "netsplice relay: ready", ReadyTimeout)
			for _, c := range []string{"TCP6:[2001:db8:1::1]:80", "TCP6:[2001:db8:1::1]:81", "TCP4:192.0.2.1:82", "TCP4:192.0.2.1:83", "TCP6:[2001:db8:1::1]:83"} {
				if got := sha256Of(t, nsC, "socat -u "+c+" STDOUT | sha256sum"); got != want {
					t.Fatalf("download through the relay from %s: sha256 %s, want %s\nrelay:\n%s", c, got, want, relay.Stop())
				}
			}
			for i, c := range []string{"UDP6:[2001:db8:1::1]:53", "UDP6:[2001:db8:1::1]:54", v4to6 + ",sourceport=" + strconv.Itoa(int(ports[0])), "UDP4:192.0.2.1:56", "UDP6:[2001:db8:1::1]:56"} {
				udpEchoVia(t, nsC, c, 53, uint64(i), 1452)
			}
			oversizeDropped(t, nsC, ports[1], "192.0.2.1:55")
			stats := relay.Stop()
			for _, w := range []string{
				"relay tcp:[2001:db8:1::1]:80 -> tcp:[2001:db8:2::2]:8006: accepted 1 relayed 1 ",
				"relay tcp:[2001:db8:1::1]:81 -> tcp:198.51.100.2:8004: accepted 1 relayed 1 ",
				"relay tcp:192.0.2.1:82 -> tcp:[2001:db8:2::2]:8006: accepted 1 relayed 1 ",
				"relay tcp:[::]:83 -> tcp:[2001:db8:2::2]:8006: accepted 2 relayed 2 ",
				"relay udp:[2001:db8:1::1]:53 -> udp:[2001:db8:2::2]:5356: sessions 1 ",
				"relay udp:[2001:db8:1::1]:54 -> udp:198.51.100.2:5354: sessions 1 ",
				"relay udp:192.0.2.1:55 -> udp:[2001:db8:2::2]:5356: sessions 2 ",
				"relay udp:[::]:56 -> udp:198.51.100.2:5354: sessions 2 ",
			} {
				if !strings.Contains(stats, w) {
					t.Fatalf("relay report lacks %q:\n%s", w, stats)
				}
			}
			if !regexp.MustCompile(`relay udp:192.0.2.1:55 -> .* oversize 1\n`).MatchString(stats) {
				t.Fatalf("the v4->v6 UDP relay did not count the 1472-byte datagram as oversize:\n%s", grepLines(stats, "relay "))
			}
			t.Logf("relay %s:\n%s", mode, grepLines(stats, "relay ", "splice:"))
		})
	}
}

// portsOnQueue returns n UDP source ports from 20000 up whose flows (src
// to dst:dport) the default Toeplitz key and RETA over queues put on
// queue q.
func portsOnQueue(t *testing.T, src, dst [4]byte, dport uint16, queues, q, n int) []uint16 {
	t.Helper()
	h := rss.NewHasher(rss.DefaultKey())
	reta, err := rss.NewRETA(rss.DefaultRETASize, queues)
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for p := uint16(20000); len(ports) < n && p < 30000; p++ {
		if reta.Queue(h.HashIPv4Ports(src, dst, p, dport)) == q {
			ports = append(ports, p)
		}
	}
	if len(ports) != n {
		t.Fatalf("found only %d source ports for queue %d", len(ports), q)
	}
	return ports
}

// oversizeDropped opens a session of a v4->v6 UDP relay at addr from a
// UDP socket in ns on source port sport (one echoed datagram), then sends
// a 1472-byte datagram (too big for IPv6 on a 1500-byte MTU: the relay
// drops it and counts it) and a 100-byte one, and checks that only the
// second is echoed: the session goes on.
func oversizeDropped(t *testing.T, ns string, sport uint16, addr string) {
	t.Helper()
	var c net.Conn
	if err := inNetns(ns, func() (err error) {
		d := net.Dialer{LocalAddr: &net.UDPAddr{Port: int(sport)}}
		c, err = d.Dial("udp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	echo := func(b []byte) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], b) {
			t.Fatalf("%s: read %d bytes (%v), want the %d-byte echo", addr, n, err, len(b))
		}
	}
	first, big, small := bytes.Repeat([]byte{0x11}, 50), bytes.Repeat([]byte{0xb1}, 1472), bytes.Repeat([]byte{0x5a}, 100)
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	echo(first)
	for _, b := range [][]byte{big, small} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	echo(small)
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("a %d-byte datagram came back; the 1472-byte one should have been dropped", n)
	}
}

// TestAFPacketIPv6: netsplice serve with an IPv4 and an IPv6 address on
// the af_packet PMD, the Linux kernel at the other end of the veth: Linux
// resolves netsplice (neighbour discovery) and pings its global and its
// link-local address; then netsplice ping resolves Linux and pings its
// global and link-local addresses.
func TestAFPacketIPv6(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	netspliceEnd(l, nsD, dif)
	dualStackLinux(t, l, nsL, lif, "192.0.2.2/24", "2001:db8:1::2/64")
	llD, llL := linkLocal(t, l, nsD, dif), linkLocal(t, l, nsL, lif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "192.0.2.1/24,2001:db8:1::1/64", "--echo", "udp:7")
	t.Run("linux-ping6-global", func(t *testing.T) {
		out := l.In(nsL, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "2001:db8:1::1")
		if !strings.Contains(out, "3 received") || strings.Contains(out, "DUP") {
			t.Fatalf("ping -6 2001:db8:1::1:\n%s", out)
		}
		t.Logf("ping -6 from Linux:\n%s", out)
	})
	t.Run("linux-ping6-link-local", func(t *testing.T) {
		dst := llD.String() + "%" + lif
		out := l.In(nsL, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", dst)
		if !strings.Contains(out, "3 received") || strings.Contains(out, "DUP") {
			t.Fatalf("ping -6 %s:\n%s", dst, out)
		}
	})
	t.Run("linux-ping4-still", func(t *testing.T) { ping(t, l, nsL, "192.0.2.1") })
	neigh := l.Cmd("ip", "-n", nsL, "-6", "neigh", "show", "dev", lif)
	stats := srv.Stop()
	c := Counters(stats)["stack"]
	if c["nd_adverts_tx"] == 0 || c["icmp6_echo_replies_tx"] < 6 || c["ip6_rx"] == 0 {
		t.Fatalf("serve's counters: nd_adverts_tx %d, icmp6_echo_replies_tx %d (want >= 6); Linux's neighbours:\n%s\n%s",
			c["nd_adverts_tx"], c["icmp6_echo_replies_tx"], neigh, stats)
	}
	if !strings.Contains(neigh, "2001:db8:1::1") {
		t.Errorf("Linux did not learn netsplice's address by neighbour discovery:\n%s", neigh)
	}
	// netsplice resolves Linux: the serve process is gone, the port free.
	for _, dst := range []string{"2001:db8:1::2", llL.String()} {
		out, err := l.Netsplice(t, nsD, 30*time.Second, "ping", "--eal", EAL("net_af_packet0,iface="+dif),
			"--ip", "192.0.2.1/24,2001:db8:1::1/64", "--count", "3", "--interval", "100ms", dst)
		if err != nil || !strings.Contains(out, "3 sent, 3 received") {
			t.Fatalf("netsplice ping %s (%v):\n%s", dst, err, out)
		}
		// A fresh stack knows no neighbour: every reply means it
		// resolved Linux with a solicitation first.
		t.Logf("netsplice ping %s:\n%s", dst, out)
	}
}
