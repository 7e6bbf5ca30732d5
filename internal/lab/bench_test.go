package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// uploadSize is what one bulk upload sends: 512 MiB.
const uploadSize = 512 << 20

// uploadBlock is the size of each write of the upload client, that of
// iperf3's TCP client (128 KiB).
const uploadBlock = 128 << 10

// BenchmarkTCPUploadVsIperf3 measures a bulk TCP upload of 512 MiB from
// the Linux kernel in one namespace to `netsplice serve --discard tcp:9`
// (af_packet PMD, one softnet, busy polling) across a veth pair, and, as
// the reference in the same run, the Linux kernel receiving the same
// amount from iperf3 over a veth pair of its own with the same settings:
// MTU 1500 and, as in every lab, checksum and segmentation offloads off
// on the Linux ends. netsplice runs alone (stopped before the kernel
// runs), so neither measurement competes with the other for the CPUs.
//
// Metrics: netsplice-Gbit/s (data bytes, from connect until the discard
// service has read the last byte and closed), linux-Gbit/s (iperf3's
// receiver figure, offloads off), ratio (netsplice/linux),
// linux-offloads-Gbit/s (the kernel with veth's default offloads on: TSO,
// GSO, GRO and checksum offload, 64 KiB segments across the pair; labelled
// apart, since af_packet cannot take such frames) and linux-goclient-Gbit/s
// (the kernel, offloads off, receiving from the very client that uploads
// to netsplice: it shows that the client is no different from iperf3's).
//
// The upload client is a Go program in the benchmark process whose socket
// lives in the Linux namespace (setns on a locked thread); it writes
// 128 KiB blocks, as iperf3's client does. `make bench-lab` runs it once.
func BenchmarkTCPUploadVsIperf3(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Fatalf("iperf3 is needed for the kernel's reference figure (make deps installs it): %v", err)
	}
	l := New(b)

	// netsplice: Linux at 192.0.2.2 uploads to netsplice at 192.0.2.1.
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "192.0.2.1/24", "--poll", "busy", "--discard", "tcp:9")
	upload(b, nsL, "192.0.2.1:9", 1<<20) // warm up: ARP, first connection
	b.SetBytes(uploadSize)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		upload(b, nsL, "192.0.2.1:9", uploadSize)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	out := srv.Stop()
	m := regexp.MustCompile(`discard tcp:9: (\d+) connections, (\d+) bytes`).FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("serve did not report the discard service:\n%s", out)
	}
	if got, _ := strconv.ParseInt(m[2], 10, 64); got != int64(b.N)*uploadSize+1<<20 {
		b.Fatalf("the discard service read %d bytes, want %d:\n%s", got, int64(b.N)*uploadSize+1<<20, out)
	}
	c := Counters(out)
	st, port := c["stack"], c["port 0"]
	b.Logf("netsplice: %d x %d MiB in %v; tcp_ooo_queued %d drop_tcp_window %d; port rx_missed %d rx_nobuf %d",
		b.N, uploadSize>>20, elapsed.Round(time.Millisecond), st["tcp_ooo_queued"], st["drop_tcp_window"],
		port["rx_missed"], port["rx_nobuf"])
	nsplice := gbits(int64(b.N)*uploadSize, elapsed)

	// The kernel: iperf3 from 198.51.100.2 to a server at 198.51.100.1.
	nsA, nsB := l.Netns("a"), l.Netns("b")
	ifA, ifB := l.Veth(nsA, nsB, "k")
	l.LinuxEnd(nsA, ifA, "198.51.100.1/24")
	l.LinuxEnd(nsB, ifB, "198.51.100.2/24")
	l.Start(nsA, "iperf3 server", "iperf3", "-s", "-B", "198.51.100.1", "-p", "5201")
	linux := iperf3(b, l, nsB, "198.51.100.1")
	goClient := linuxGoClient(b, nsA, nsB, "198.51.100.1:5009")
	for _, p := range [][2]string{{nsA, ifA}, {nsB, ifB}} {
		l.In(p[0], "ethtool", "-K", p[1], "tx", "on", "tso", "on", "gso", "on", "gro", "on", "rx", "on")
	}
	linuxOffloads := iperf3(b, l, nsB, "198.51.100.1")

	b.ReportMetric(nsplice, "netsplice-Gbit/s")
	b.ReportMetric(linux, "linux-Gbit/s")
	b.ReportMetric(nsplice/linux, "ratio")
	b.ReportMetric(linuxOffloads, "linux-offloads-Gbit/s")
	b.ReportMetric(goClient, "linux-goclient-Gbit/s")
}

func gbits(n int64, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e9 }

// inNetns runs fn on an OS thread that joined network namespace ns, so
// the sockets fn makes live in ns (and stay there, whichever thread uses
// them later). The thread is never unlocked: it exits with the goroutine
// instead of returning to the runtime's pool in ns.
func inNetns(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %v", ns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// upload sends size bytes to addr from namespace ns, 128 KiB per write,
// then half-closes and waits for the peer's close: a discard service
// closes once it has read the last byte, so the upload has arrived when
// upload returns.
func upload(b *testing.B, ns, addr string, size int64) {
	b.Helper()
	var c *net.TCPConn
	if err := inNetns(ns, func() error {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c = conn.(*net.TCPConn)
		}
		return err
	}); err != nil {
		b.Fatalf("connecting to %s from %s: %v", addr, ns, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	buf := make([]byte, uploadBlock)
	for left := size; left > 0; {
		n, err := c.Write(buf[:min(left, int64(len(buf)))])
		if err != nil {
			b.Fatalf("upload to %s: %v after %d bytes", addr, err, size-left)
		}
		left -= int64(n)
	}
	if err := c.CloseWrite(); err != nil {
		b.Fatalf("upload to %s: close: %v", addr, err)
	}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		b.Fatalf("upload to %s: waiting for the peer to close: %d bytes back, %v", addr, n, err)
	}
}

// iperf3 runs an iperf3 client in ns against the server at addr, sending
// uploadSize bytes, and returns the receiver's throughput in Gbit/s. It
// retries while the server is not yet listening.
func iperf3(b *testing.B, l *Lab, ns, addr string) float64 {
	b.Helper()
	type result struct {
		End struct {
			SumReceived struct {
				Bytes         int64   `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	var r result
	for try := 0; ; try++ {
		out, err := exec.Command("ip", "netns", "exec", ns, "iperf3", "-c", addr, "-p", "5201",
			"-n", strconv.Itoa(uploadSize), "-l", strconv.Itoa(uploadBlock), "-J").Output()
		r = result{}
		jerr := json.Unmarshal(out, &r)
		if try < 50 && strings.Contains(r.Error, "Connection refused") {
			time.Sleep(100 * time.Millisecond) // the server is not listening yet
			continue
		}
		if err != nil || jerr != nil || r.Error != "" || r.End.SumReceived.Bytes < uploadSize/2 {
			b.Fatalf("iperf3 -c %s in %s: %v %v %s:\n%s", addr, ns, err, jerr, r.Error, out)
		}
		break
	}
	return r.End.SumReceived.BitsPerSecond / 1e9
}

// linuxGoClient measures the upload client against the kernel: a
// receiver in nsA reads 128 KiB at a time, as iperf3's server does, and
// closes at EOF; the client uploads from nsB.
func linuxGoClient(b *testing.B, nsA, nsB, addr string) float64 {
	b.Helper()
	var ln net.Listener
	if err := inNetns(nsA, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		b.Fatalf("listening on %s in %s: %v", addr, nsA, err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		buf := make([]byte, uploadBlock)
		var n int64
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		got <- n
	}()
	start := time.Now()
	upload(b, nsB, addr, uploadSize)
	d := time.Since(start)
	if n := <-got; n != uploadSize {
		b.Fatalf("the kernel receiver read %d bytes, want %d", n, uploadSize)
	}
	return gbits(uploadSize, d)
}
