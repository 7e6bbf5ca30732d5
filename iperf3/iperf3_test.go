package iperf3

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// The stack's sockets plug into the package's interfaces as they are.
var (
	_ net.Listener = (*stack.TCPListener)(nil)
	_ net.Conn     = (*stack.TCPConn)(nil)
	_ net.Conn     = (*stack.UDPConn)(nil)
	_ UDPConn      = (*stack.UDPConn)(nil)
)

// iperf3Bin is the stock iperf3 the interoperability tests run. They fail,
// never skip, without it.
func iperf3Bin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("iperf3")
	if err != nil {
		t.Fatalf("these tests need the stock iperf3 3.x binary on PATH (Debian: apt-get install iperf3): %v", err)
	}
	return p
}

// listenTCPUDP returns a loopback TCP listener on an ephemeral port that
// is free for UDP as well.
func listenTCPUDP(t testing.TB) net.Listener {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addrPortOf(ln.Addr())))
		if err == nil {
			_ = u.Close()
			return ln
		}
		_ = ln.Close()
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return nil
}

// harness is a Server on loopback with the tests it finished.
type harness struct {
	s      *Server
	addr   netip.AddrPort
	port   string
	done   chan TestStats
	cancel context.CancelFunc
	served chan error
}

func startServer(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	ln := listenTCPUDP(t)
	h := &harness{
		addr:   addrPortOf(ln.Addr()),
		done:   make(chan TestStats, 64),
		served: make(chan error, 1),
	}
	h.port = strconv.Itoa(int(h.addr.Port()))
	cfg := Config{
		Listener:   ln,
		ListenUDP:  StdListenUDP,
		OnTestDone: func(st TestStats) { h.done <- st },
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	h.s = s
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.served:
			if err != nil {
				t.Errorf("Serve: got %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Serve did not return 30 s after its context ended")
		}
	})
	return h
}

// next returns the next test the server finished.
func (h *harness) next(t *testing.T) TestStats {
	t.Helper()
	select {
	case st := <-h.done:
		return st
	case <-time.After(60 * time.Second):
		t.Fatal("the server finished no test within 60 s")
	}
	return TestStats{}
}

// idle waits until the server has no test and forgets the tests finished
// so far, so that a subtest does not see its predecessor's.
func (h *harness) idle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := h.s.Stats()
		if !ok || st.Phase == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server is still busy with test %d after 30 s", st.Number)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.drain()
}

// drain forgets the tests finished so far.
func (h *harness) drain() {
	for {
		select {
		case <-h.done:
		default:
			return
		}
	}
}

// iperfSum is one summary object of iperf3's JSON output.
type iperfSum struct {
	Bytes         uint64  `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	BitsPerSecond float64 `json:"bits_per_second"`
	JitterMs      float64 `json:"jitter_ms"`
	LostPackets   uint64  `json:"lost_packets"`
	Packets       uint64  `json:"packets"`
	Sender        bool    `json:"sender"`
}

// iperfJSON is the part of iperf3 -J output the tests read.
type iperfJSON struct {
	End struct {
		Streams                 []json.RawMessage `json:"streams"`
		SumSent                 *iperfSum         `json:"sum_sent"`
		SumReceived             *iperfSum         `json:"sum_received"`
		SumSentBidirReverse     *iperfSum         `json:"sum_sent_bidir_reverse"`
		SumReceivedBidirReverse *iperfSum         `json:"sum_received_bidir_reverse"`
	} `json:"end"`
	ServerOutputText string `json:"server_output_text"`
	Error            string `json:"error"`
}

func parseIperfJSON(t *testing.T, out []byte) iperfJSON {
	t.Helper()
	var j iperfJSON
	if err := json.Unmarshal(out, &j); err != nil {
		t.Fatalf("iperf3 JSON: %v\n%s", err, out)
	}
	return j
}

// stock runs the stock iperf3 client against h with args.
func (h *harness) stock(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := append([]string{"-c", "127.0.0.1", "-p", h.port}, args...)
	return exec.CommandContext(ctx, iperf3Bin(t), a...).CombinedOutput()
}

// stockJSON runs the stock client with -J and returns its report.
func (h *harness) stockJSON(t *testing.T, args ...string) iperfJSON {
	t.Helper()
	out, err := h.stock(t, append(args, "-J")...)
	j := parseIperfJSON(t, out)
	if err != nil || j.Error != "" {
		t.Fatalf("iperf3 %v: %v %q", args, err, j.Error)
	}
	if j.End.SumSent == nil || j.End.SumReceived == nil {
		t.Fatalf("iperf3 %v: no sum_sent or sum_received:\n%s", args, out)
	}
	return j
}

func sumPackets(ss []StreamStats, sender bool) uint64 {
	var n uint64
	for _, s := range ss {
		if s.Sender == sender {
			n += s.Packets
		}
	}
	return n
}

func checkEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// checkFlow checks one direction: the receiver got something and no
// more than the sender sent.
func checkFlow(t *testing.T, what string, sent, received uint64) {
	t.Helper()
	if received == 0 || sent < received {
		t.Errorf("%s: sent %d, received %d: want 0 < received <= sent", what, sent, received)
	}
}

// TestServerStockClient runs the stock iperf3 client against the Server,
// test after test on one server, and checks the client's report against
// the server's own counts.
func TestServerStockClient(t *testing.T) {
	iperf3Bin(t)
	h := startServer(t, nil)
	last := uint64(0)
	run := func(name string, args []string, check func(t *testing.T, j iperfJSON, st TestStats)) {
		t.Run(name, func(t *testing.T) {
			h.idle(t)
			j := h.stockJSON(t, args...)
			st := h.next(t)
			if st.Err != nil {
				t.Fatalf("server: test %d failed: %v", st.Number, st.Err)
			}
			if st.Number <= last {
				t.Errorf("test number: got %d, want more than %d", st.Number, last)
			}
			last = st.Number
			checkEq(t, "phase", st.Phase, "done")
			check(t, j, st)
		})
	}
	run("tcp", []string{"-t", "2", "--get-server-output"}, func(t *testing.T, j iperfJSON, st TestStats) {
		checkEq(t, "protocol", st.Protocol, "tcp")
		checkEq(t, "time", st.Time, 2*time.Second)
		checkEq(t, "client's receiver bytes (the server's)", j.End.SumReceived.Bytes, st.BytesReceived)
		checkEq(t, "client's sender bytes as the server heard them", j.End.SumSent.Bytes, st.ClientSent)
		checkFlow(t, "client to server", j.End.SumSent.Bytes, j.End.SumReceived.Bytes)
		checkEq(t, "server sent", st.BytesSent, uint64(0))
		if !strings.Contains(j.ServerOutputText, "netsplice iperf3 server") {
			t.Errorf("server_output_text: got %q, want the server's report", j.ServerOutputText)
		}
	})
	run("reverse", []string{"-t", "1", "-R"}, func(t *testing.T, j iperfJSON, st TestStats) {
		if !st.Reverse {
			t.Errorf("reverse: got false")
		}
		checkEq(t, "client's sender bytes (the server's)", j.End.SumSent.Bytes, st.BytesSent)
		checkEq(t, "client's receiver bytes as the server heard them", j.End.SumReceived.Bytes, st.ClientReceived)
		checkFlow(t, "server to client", j.End.SumSent.Bytes, j.End.SumReceived.Bytes)
		checkEq(t, "server received", st.BytesReceived, uint64(0))
	})
	run("parallel", []string{"-t", "1", "-P", "4"}, func(t *testing.T, j iperfJSON, st TestStats) {
		checkEq(t, "client streams", len(j.End.Streams), 4)
		checkEq(t, "server streams", len(st.Streams), 4)
		for i, s := range st.Streams {
			checkEq(t, fmt.Sprintf("stream %d id", i), s.ID, streamID(i))
			if s.Bytes == 0 || s.Sender {
				t.Errorf("stream %d: got %d bytes, sender %v; want bytes received", s.ID, s.Bytes, s.Sender)
			}
		}
		checkEq(t, "receiver bytes", j.End.SumReceived.Bytes, st.BytesReceived)
		checkEq(t, "sender bytes", j.End.SumSent.Bytes, st.ClientSent)
		checkFlow(t, "client to server", j.End.SumSent.Bytes, j.End.SumReceived.Bytes)
	})
	run("bidir", []string{"-t", "1", "-P", "2", "--bidir"}, func(t *testing.T, j iperfJSON, st TestStats) {
		if j.End.SumSentBidirReverse == nil || j.End.SumReceivedBidirReverse == nil {
			t.Fatalf("no bidir_reverse sums")
		}
		checkEq(t, "server streams", len(st.Streams), 4)
		checkEq(t, "client to server, received", j.End.SumReceived.Bytes, st.BytesReceived)
		checkEq(t, "client to server, sent", j.End.SumSent.Bytes, st.ClientSent)
		checkEq(t, "server to client, sent", j.End.SumSentBidirReverse.Bytes, st.BytesSent)
		checkEq(t, "server to client, received", j.End.SumReceivedBidirReverse.Bytes, st.ClientReceived)
		checkFlow(t, "client to server", j.End.SumSent.Bytes, j.End.SumReceived.Bytes)
		checkFlow(t, "server to client", j.End.SumSentBidirReverse.Bytes, j.End.SumReceivedBidirReverse.Bytes)
	})
	run("bytes", []string{"-n", "10M"}, func(t *testing.T, j iperfJSON, st TestStats) {
		checkEq(t, "-n", st.Bytes, uint64(10<<20))
		checkEq(t, "-t", st.Time, time.Duration(0))
		if s := j.End.SumSent.Bytes; s < 10<<20 || s > 10<<20+2*defaultTCPBlockSize {
			t.Errorf("sent: got %d, want 10 MiB and at most two blocks more", s)
		}
		checkEq(t, "receiver bytes", j.End.SumReceived.Bytes, st.BytesReceived)
		checkFlow(t, "client to server", j.End.SumSent.Bytes, j.End.SumReceived.Bytes)
	})
	run("udp", []string{"-u", "-b", "50M", "-t", "2"}, func(t *testing.T, j iperfJSON, st TestStats) {
		checkEq(t, "protocol", st.Protocol, "udp")
		checkEq(t, "bitrate", st.Bitrate, uint64(50e6))
		r := j.End.SumReceived
		checkEq(t, "receiver bytes", r.Bytes, st.BytesReceived)
		checkEq(t, "receiver packets", r.Packets, sumPackets(st.Streams, false))
		checkEq(t, "lost packets", r.LostPackets, st.LostPackets)
		if d := math.Abs(r.JitterMs - float64(st.Jitter)/1e6); d > 1e-3 {
			t.Errorf("jitter: client says %.6f ms, server %v", r.JitterMs, st.Jitter)
		}
		checkEq(t, "sender bytes", j.End.SumSent.Bytes, st.ClientSent)
		checkFlow(t, "client to server", j.End.SumSent.Bytes, r.Bytes)
		if st.PacketsReceived == 0 || st.PacketsReceived > r.Packets {
			t.Errorf("datagrams received: got %d, want 1..%d", st.PacketsReceived, r.Packets)
		}
		if r.Packets != 0 && r.LostPackets > r.Packets {
			t.Errorf("lost %d of %d packets", r.LostPackets, r.Packets)
		}
	})
	run("udp-reverse", []string{"-u", "-b", "10M", "-t", "1", "-R", "-P", "2", "--udp-counters-64bit"}, func(t *testing.T, j iperfJSON, st TestStats) {
		checkEq(t, "sender bytes", j.End.SumSent.Bytes, st.BytesSent)
		checkEq(t, "sender packets", j.End.SumSent.Packets, st.PacketsSent)
		checkEq(t, "receiver bytes", j.End.SumReceived.Bytes, st.ClientReceived)
		checkFlow(t, "server to client", st.BytesSent, j.End.SumReceived.Bytes)
		if j.End.SumReceived.Packets > st.PacketsSent {
			t.Errorf("client saw packet numbers up to %d, server sent %d", j.End.SumReceived.Packets, st.PacketsSent)
		}
	})
	run("udp-bidir", []string{"-u", "-b", "10M", "-t", "1", "--bidir"}, func(t *testing.T, j iperfJSON, st TestStats) {
		if j.End.SumSentBidirReverse == nil {
			t.Fatalf("no bidir_reverse sums")
		}
		checkEq(t, "client to server, received", j.End.SumReceived.Bytes, st.BytesReceived)
		checkEq(t, "server to client, sent", j.End.SumSentBidirReverse.Bytes, st.BytesSent)
		checkFlow(t, "client to server", j.End.SumSent.Bytes, j.End.SumReceived.Bytes)
		checkFlow(t, "server to client", j.End.SumSentBidirReverse.Bytes, j.End.SumReceivedBidirReverse.Bytes)
	})
}

// TestServerRefusesStockClient checks that what the server does not do is
// refused with a reason the stock client prints.
func TestServerRefusesStockClient(t *testing.T) {
	iperf3Bin(t)
	h := startServer(t, nil)
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int32
	}{
		{"sctp", []string{"--sctp", "-t", "1"}, "no SCTP support available", ieNoSCTP},
		{"zerocopy-reverse", []string{"-Z", "-R", "-t", "1"}, "does not support sendfile", ieNoSendfile},
		{"max-streams", []string{"-P", "128", "-t", "1"}, "", 0}, // the limit, accepted
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.idle(t)
			out, err := h.stock(t, tc.args...)
			st := h.next(t)
			if tc.want == "" {
				if err != nil || st.Err != nil {
					t.Fatalf("got client %v, server %v; want success\n%s", err, st.Err, out)
				}
				return
			}
			if err == nil || !bytes.Contains(out, []byte(tc.want)) {
				t.Errorf("client: got %v\n%s\nwant a failure saying %q", err, out, tc.want)
			}
			var te *testError
			if !errors.As(st.Err, &te) || te.code != tc.code {
				t.Errorf("server: got %v, want error code %d", st.Err, tc.code)
			}
		})
	}
}

// TestServerUDPListenError checks that a failure to open the UDP socket
// reaches the stock client as SERVER_ERROR with the errno.
func TestServerUDPListenError(t *testing.T) {
	iperf3Bin(t)
	h := startServer(t, func(c *Config) {
		c.ListenUDP = func(netip.AddrPort) (UDPConn, error) {
			return nil, &net.OpError{Op: "listen", Net: "udp", Err: syscall.EADDRINUSE}
		}
	})
	out, err := h.stock(t, "-u", "-t", "1")
	if err == nil || !bytes.Contains(out, []byte("unable to start stream listener")) || !bytes.Contains(out, []byte("in use")) {
		t.Errorf("client: got %v\n%s\nwant \"unable to start stream listener: Address already in use\"", err, out)
	}
	var te *testError
	if st := h.next(t); !errors.As(st.Err, &te) || te.code != ieStreamListen || te.errno != int32(syscall.EADDRINUSE) {
		t.Errorf("server: got %v, want code %d with EADDRINUSE", st.Err, ieStreamListen)
	}
}

// TestServerBusy checks ACCESS_DENIED: a second client during a test is
// turned away and the running test is not disturbed.
func TestServerBusy(t *testing.T) {
	bin := iperf3Bin(t)
	h := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var outA bytes.Buffer
	a := exec.CommandContext(ctx, bin, "-c", "127.0.0.1", "-p", h.port, "-t", "3", "-J")
	a.Stdout, a.Stderr = &outA, &outA
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, h.s, "running")

	out, err := h.stock(t, "-t", "1")
	if err == nil || !bytes.Contains(out, []byte("the server is busy running a test")) {
		t.Errorf("second stock client: got %v\n%s\nwant \"the server is busy running a test\"", err, out)
	}
	_, err = Run(ctx, ClientConfig{Server: h.addr, Duration: time.Second})
	if !errors.Is(err, ErrAccessDenied) {
		t.Errorf("second Go client: got %v, want ErrAccessDenied", err)
	}
	c, err := net.Dial("tcp4", h.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, b[:]); err != nil || int8(b[0]) != -1 {
		t.Errorf("raw connection: got %d, %v; want ACCESS_DENIED (-1)", int8(b[0]), err)
	}
	_ = c.Close()

	if err := a.Wait(); err != nil {
		t.Fatalf("first client: %v\n%s", err, outA.Bytes())
	}
	j := parseIperfJSON(t, outA.Bytes())
	st := h.next(t)
	if st.Err != nil || j.Error != "" {
		t.Fatalf("first test: server %v, client %q", st.Err, j.Error)
	}
	checkEq(t, "first test's receiver bytes", j.End.SumReceived.Bytes, st.BytesReceived)
	select {
	case st := <-h.done:
		t.Errorf("a refused client made a test: %+v", st)
	default:
	}
}

// waitPhase waits until the server's current test is in phase.
func waitPhase(t *testing.T, s *Server, phase string) TestStats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, ok := s.Stats(); ok && st.Phase == phase {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, _ := s.Stats()
	t.Fatalf("the server's test did not reach %q within 30 s: %+v", phase, st)
	return TestStats{}
}

// TestServerShutdown checks that ending Serve's context during a test
// tells the stock client and returns promptly.
func TestServerShutdown(t *testing.T) {
	bin := iperf3Bin(t)
	h := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	c := exec.CommandContext(ctx, bin, "-c", "127.0.0.1", "-p", h.port, "-t", "30")
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, h.s, "running")
	h.cancel()
	select {
	case err := <-h.served:
		h.served <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return")
	}
	err := c.Wait()
	if err == nil || !strings.Contains(out.String(), "the server has terminated") {
		t.Errorf("client: got %v\n%s\nwant \"the server has terminated\"", err, out.String())
	}
	if st := h.next(t); !errors.Is(st.Err, ErrServerTerminated) {
		t.Errorf("test error: got %v, want ErrServerTerminated", st.Err)
	}
}

// stockServer runs `iperf3 -s -1 -J` on a free loopback port and returns
// its address and a function that waits for its report.
func stockServer(t *testing.T) (netip.AddrPort, func() iperfJSON) {
	t.Helper()
	bin := iperf3Bin(t)
	ln := listenTCPUDP(t)
	ap := addrPortOf(ln.Addr())
	_ = ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-s", "-1", "-J", "-B", "127.0.0.1", "-p", strconv.Itoa(int(ap.Port())))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	waitListening(t, ap.Port())
	var once sync.Once
	var j iperfJSON
	return ap, func() iperfJSON {
		once.Do(func() {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("iperf3 -s: %v\n%s", err, out.Bytes())
			}
			j = parseIperfJSON(t, out.Bytes())
		})
		return j
	}
}

// waitListening waits until a TCP socket listens on port, from
// /proc/net/tcp: connecting would use up a one-off server.
func waitListening(t *testing.T, port uint16) {
	t.Helper()
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			fh, err := os.Open(f)
			if err != nil {
				time.Sleep(time.Second) // no procfs: give the server time
				return
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) > 3 && strings.HasSuffix(fields[1]+" ", want) && fields[3] == "0A" {
					_ = fh.Close()
					return
				}
			}
			_ = fh.Close()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d after 30 s", port)
}

// TestClientStockServer runs the Go client against one-off stock iperf3
// servers and checks its result against the server's report.
func TestClientStockServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
	}{
		{"tcp", ClientConfig{Duration: time.Second}},
		{"parallel", ClientConfig{Duration: time.Second, Parallel: 2}},
		{"reverse", ClientConfig{Duration: time.Second, Reverse: true}},
		{"bidir", ClientConfig{Duration: time.Second, Bidir: true}},
		{"bytes", ClientConfig{Bytes: 8 << 20}},
		{"udp", ClientConfig{Duration: time.Second, UDP: true, Bitrate: 20e6}},
		{"udp-reverse", ClientConfig{Duration: time.Second, UDP: true, Bitrate: 10e6, Reverse: true, Parallel: 2, UDP64BitCounters: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ap, report := stockServer(t)
			cfg := tc.cfg
			cfg.Server = ap
			intervals := 0
			cfg.OnInterval = func(Interval) { intervals++ }
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			j := report()
			if j.Error != "" {
				t.Fatalf("iperf3 -s: %s", j.Error)
			}
			if intervals == 0 {
				t.Errorf("OnInterval was not called")
			}
			checkEq(t, "protocol", res.Protocol, map[bool]string{true: "udp", false: "tcp"}[cfg.UDP])
			up, down := res.Upload, res.Download
			switch {
			case cfg.Reverse:
				if up != nil || down == nil {
					t.Fatalf("reverse: got upload %v, download %v", up, down)
				}
			case cfg.Bidir:
				if up == nil || down == nil {
					t.Fatalf("bidir: got upload %v, download %v", up, down)
				}
			default:
				if up == nil || down != nil {
					t.Fatalf("got upload %v, download %v", up, down)
				}
			}
			if up != nil {
				checkEq(t, "upload streams", len(up.Streams), max(cfg.Parallel, 1))
				checkFlow(t, "upload", up.Sent.Bytes, up.Received.Bytes)
				checkEq(t, "upload received (server's count)", up.Received.Bytes, j.End.SumReceived.Bytes)
				if up.Sent.BitsPerSecond <= 0 || up.Received.Seconds <= 0 {
					t.Errorf("upload: rate %v over %v s", up.Sent.BitsPerSecond, up.Received.Seconds)
				}
				if cfg.UDP {
					checkEq(t, "upload lost packets", up.LostPackets, j.End.SumReceived.LostPackets)
					if d := math.Abs(float64(up.Jitter)/1e6 - j.End.SumReceived.JitterMs); d > 1e-3 {
						t.Errorf("upload jitter: got %v, server says %.6f ms", up.Jitter, j.End.SumReceived.JitterMs)
					}
					if up.Packets == 0 || up.LostPackets > up.Packets {
						t.Errorf("upload: lost %d of %d packets", up.LostPackets, up.Packets)
					}
				}
				if cfg.Bytes > 0 && up.Sent.Bytes < cfg.Bytes {
					t.Errorf("-n %d: sent only %d", cfg.Bytes, up.Sent.Bytes)
				}
			}
			if down != nil {
				checkFlow(t, "download", down.Sent.Bytes, down.Received.Bytes)
				sent := j.End.SumSent
				if cfg.Bidir {
					sent = j.End.SumSentBidirReverse
				}
				if sent == nil {
					t.Fatalf("the server's report has no sender sum")
				}
				checkEq(t, "download sent (server's count)", down.Sent.Bytes, sent.Bytes)
				if cfg.UDP {
					checkEq(t, "download packets (server's count)", down.Packets, sent.Packets)
					checkEq(t, "download streams", len(down.Streams), cfg.Parallel)
				}
			}
		})
	}
}

// TestClientServer runs the Go client against the Go server and checks
// that both agree, for every mode.
func TestClientServer(t *testing.T) {
	h := startServer(t, nil)
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
	}{
		{"tcp", ClientConfig{Duration: 500 * time.Millisecond}},
		{"parallel-reverse", ClientConfig{Duration: 500 * time.Millisecond, Parallel: 3, Reverse: true}},
		{"bidir", ClientConfig{Duration: 500 * time.Millisecond, Bidir: true, Parallel: 2}},
		{"bytes-reverse", ClientConfig{Bytes: 4 << 20, Reverse: true}},
		{"blocks", ClientConfig{Blocks: 200, BlockSize: 10000}},
		{"tcp-paced", ClientConfig{Duration: time.Second, Bitrate: 8e6, RepeatingPayload: true}},
		{"udp", ClientConfig{Duration: 500 * time.Millisecond, UDP: true, Bitrate: 10e6}},
		{"udp-reverse", ClientConfig{Duration: 500 * time.Millisecond, UDP: true, Bitrate: 10e6, Reverse: true, UDP64BitCounters: true, Parallel: 2}},
		{"udp-bidir", ClientConfig{Duration: 500 * time.Millisecond, UDP: true, Bitrate: 5e6, Bidir: true, BlockSize: 1200}},
		{"omit", ClientConfig{Duration: time.Second, Omit: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.idle(t)
			cfg := tc.cfg
			cfg.Server = h.addr
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			st := h.next(t)
			if st.Err != nil {
				t.Fatalf("server: %v", st.Err)
			}
			if up := res.Upload; up != nil {
				checkEq(t, "upload received", up.Received.Bytes, st.BytesReceived)
				checkEq(t, "upload sent", up.Sent.Bytes, st.ClientSent)
				switch {
				case cfg.Omit > 0: // the two sides' omit periods end at different times
				case cfg.Blocks > 0:
					// TEST_END may overtake a short test's data, as with iperf3.
					if up.Received.Bytes > up.Sent.Bytes {
						t.Errorf("upload: sent %d, received %d", up.Sent.Bytes, up.Received.Bytes)
					}
				default:
					checkFlow(t, "upload", up.Sent.Bytes, up.Received.Bytes)
				}
				if cfg.UDP {
					checkEq(t, "upload lost", up.LostPackets, st.LostPackets)
					checkEq(t, "upload jitter", up.Jitter.Round(time.Microsecond), st.Jitter.Round(time.Microsecond))
				}
			}
			if down := res.Download; down != nil {
				checkEq(t, "download sent", down.Sent.Bytes, st.BytesSent)
				checkEq(t, "download received", down.Received.Bytes, st.ClientReceived)
				checkFlow(t, "download", down.Sent.Bytes, down.Received.Bytes)
				if cfg.UDP {
					checkEq(t, "download packets", down.Packets, st.PacketsSent)
				}
			}
			switch {
			case cfg.Blocks > 0:
				if b := res.Upload.Sent.Bytes; b != 200*10000 {
					t.Errorf("-k 200 -l 10000: sent %d bytes, want exactly 200 blocks", b)
				}
			case cfg.Bytes > 0:
				if b := res.Download.Received.Bytes; b < cfg.Bytes {
					t.Errorf("-n %d -R: received %d", cfg.Bytes, b)
				}
			case cfg.Bitrate > 0 && !cfg.UDP:
				// 8 Mbit/s for 1 s is 1 MB: generous bounds for a busy machine.
				if b := res.Upload.Sent.Bytes; b < 500e3 || b > 2e6 {
					t.Errorf("-b 8M -t 1: sent %d bytes", b)
				}
			}
		})
	}
}

// TestClientTerminate checks CLIENT_TERMINATE when Run's context ends.
func TestClientTerminate(t *testing.T) {
	h := startServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Run(ctx, ClientConfig{Server: h.addr, Duration: time.Minute})
		errc <- err
	}()
	waitPhase(t, h.s, "running")
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: got %v, want context.Canceled", err)
	}
	if st := h.next(t); !errors.Is(st.Err, ErrClientTerminated) {
		t.Errorf("server: got %v, want ErrClientTerminated", st.Err)
	}
}

// ctrlScript drives the server's control connection by hand.
type ctrlScript struct {
	t *testing.T
	c net.Conn
}

func dialScript(t *testing.T, h *harness) *ctrlScript {
	t.Helper()
	c, err := net.Dial("tcp4", h.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &ctrlScript{t, c}
}

func (s *ctrlScript) send(b []byte) {
	s.t.Helper()
	if _, err := s.c.Write(b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

func (s *ctrlScript) expect(want state) {
	s.t.Helper()
	var b [1]byte
	if _, err := io.ReadFull(s.c, b[:]); err != nil {
		s.t.Fatalf("waiting for %v: %v", want, err)
	}
	if got := state(int8(b[0])); got != want {
		s.t.Fatalf("got %v, want %v", got, want)
	}
}

// expectError reads SERVER_ERROR with its code.
func (s *ctrlScript) expectError(code int32) {
	s.t.Helper()
	s.expect(stateServerError)
	var b [8]byte
	if _, err := io.ReadFull(s.c, b[:]); err != nil {
		s.t.Fatalf("SERVER_ERROR: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(b[:])); got != code {
		s.t.Errorf("SERVER_ERROR code: got %d, want %d", got, code)
	}
}

func (s *ctrlScript) expectClose() {
	s.t.Helper()
	b, err := io.ReadAll(s.c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		s.t.Errorf("waiting for close: %v", err)
	}
	if len(b) > 0 {
		s.t.Errorf("got %d more bytes, want the server to close", len(b))
	}
}

var cookie37 = append([]byte(strings.Repeat("a", 36)), 0)

func frame(s string) []byte { return jsonFrame([]byte(s)) }

// TestServerBadInput feeds the server's control connection bad input: each
// test ends with an error and the server goes on to the next.
func TestServerBadInput(t *testing.T) {
	h := startServer(t, func(c *Config) { c.ControlTimeout = 500 * time.Millisecond })
	const tcp1 = `{"tcp":true,"omit":0,"time":1,"num":0,"blockcount":0,"parallel":1,"len":131072,"pacing_timer":1000}`
	for _, tc := range []struct {
		name   string
		script func(s *ctrlScript)
		want   error
	}{
		{"json-too-long", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send([]byte{0xff, 0xff, 0xff, 0xff})
			s.expectError(ieRecvParams)
			s.expectClose()
		}, ErrProtocol},
		{"json-empty", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send([]byte{0, 0, 0, 0})
			s.expectError(ieRecvParams)
		}, ErrProtocol},
		{"json-garbage", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(`{"tcp":tru`))
			s.expectError(ieRecvParams)
		}, ErrProtocol},
		{"json-not-object", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(`[1,2,3]`))
			s.expectError(ieRecvParams)
		}, ErrProtocol},
		{"json-truncated", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(tcp1)[:20])
			s.expectClose() // the read times out
		}, ErrTimeout},
		{"streams-too-many", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(`{"tcp":true,"time":1,"parallel":1000}`))
			s.expectError(ieNumStreams)
		}, ErrProtocol},
		{"sctp", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(`{"sctp":true,"time":1,"parallel":1}`))
			s.expectError(ieNoSCTP)
		}, ErrUnsupported},
		{"authentication", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(`{"tcp":true,"time":1,"parallel":1,"authtoken":"x"}`))
			s.expectError(ieAuthTest)
		}, ErrUnsupported},
		{"bad-state", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(tcp1))
			s.expect(stateCreateStreams)
			s.send([]byte{99})
			s.expectError(ieMessage)
		}, ErrProtocol},
		{"client-terminate", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(tcp1))
			s.expect(stateCreateStreams)
			s.send([]byte{byte(stateClientTerminate)})
			s.expectClose()
		}, ErrClientTerminated},
		{"no-streams", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(tcp1))
			s.expect(stateCreateStreams)
			s.expectError(ieStreamAccept)
		}, ErrTimeout},
		{"no-udp-streams", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(`{"udp":true,"time":1,"parallel":2,"len":1460,"bandwidth":1000000}`))
			s.expect(stateCreateStreams)
			s.expectError(ieStreamAccept)
		}, ErrTimeout},
		{"early-close", func(s *ctrlScript) {
			s.send(cookie37[:10])
			_ = s.c.Close()
		}, ErrControlClosed},
		{"early-close-params", func(s *ctrlScript) {
			s.send(cookie37)
			s.expect(stateParamExchange)
			s.send(frame(tcp1)[:30])
			_ = s.c.Close()
		}, ErrControlClosed},
		{"silent", func(s *ctrlScript) { s.expectClose() }, ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.idle(t)
			tc.script(dialScript(t, h))
			st := h.next(t)
			if !errors.Is(st.Err, tc.want) {
				t.Errorf("test error: got %v, want %v", st.Err, tc.want)
			}
		})
	}
	// The server still works.
	res, err := Run(context.Background(), ClientConfig{Server: h.addr, Duration: 200 * time.Millisecond})
	if err != nil || res.Upload.Received.Bytes == 0 {
		t.Fatalf("a good test after the bad ones: %v", err)
	}
}

// TestServerTimeLimit checks that a time-based test that runs far past
// -t is ended by the server.
func TestServerTimeLimit(t *testing.T) {
	h := startServer(t, func(c *Config) { c.Grace = 100 * time.Millisecond; c.ControlTimeout = 5 * time.Second })
	s := dialScript(t, h)
	s.send(cookie37)
	s.expect(stateParamExchange)
	s.send(frame(`{"tcp":true,"time":1,"parallel":1,"len":1000}`))
	s.expect(stateCreateStreams)
	d, err := net.Dial("tcp4", h.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Write(cookie37); err != nil {
		t.Fatal(err)
	}
	s.expect(stateTestStart)
	s.expect(stateTestRunning)
	// Send data now and then, but never TEST_END.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := d.Write(make([]byte, 100)); err != nil {
					return
				}
			}
		}
	}()
	start := time.Now()
	st := h.next(t)
	if !errors.Is(st.Err, ErrTimeout) {
		t.Errorf("got %v, want ErrTimeout", st.Err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("the test ended after %v, want about 1.1 s", el)
	}
	if st.BytesReceived == 0 {
		t.Errorf("no bytes counted")
	}
}

// pipeListener is a net.Listener over net.Pipe, for the fuzz target.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:5201"))
}

func (l *pipeListener) dial() (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// FuzzServerControl sends arbitrary bytes on a control connection: the
// test must end, with or without an error, and never hang or panic.
func FuzzServerControl(f *testing.F) {
	params := func(s string) []byte { return append(append([]byte(nil), cookie37...), frame(s)...) }
	f.Add([]byte{})
	f.Add(cookie37)
	f.Add(params(`{"tcp":true,"time":1,"parallel":1}`))
	f.Add(append(params(`{"tcp":true,"time":1,"parallel":1}`), 4, 13, 16))
	f.Add(append(params(`{"udp":true,"time":1,"parallel":1}`), 12))
	f.Add(append(append([]byte(nil), cookie37...), 0xff, 0xff, 0xff, 0xff))
	f.Add(params(`{"tcp":true,"parallel":-1,"len":-5,"num":1e300,"omit":18446744073709551615}`))
	f.Add(params(`{"tcp":true,"time":0,"num":0,"parallel":128,"bidirectional":true,"reverse":true}`))
	f.Add(append(params(`{"tcp":1,"time":"x","parallel":[1]}`), 99))
	f.Fuzz(func(t *testing.T, in []byte) {
		l := newPipeListener()
		done := make(chan TestStats, 1)
		s, err := NewServer(Config{
			Listener:       l,
			ControlTimeout: 50 * time.Millisecond,
			IdleTimeout:    100 * time.Millisecond,
			Grace:          50 * time.Millisecond,
			OnTestDone:     func(st TestStats) { done <- st },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx) }()
		c, err := l.dial()
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = c.Write(in) }()
		go func() { _, _ = io.Copy(io.Discard, c) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the test did not end within 10 s")
		}
		_ = c.Close()
		cancel()
		if err := <-served; err != nil {
			t.Fatalf("Serve: %v", err)
		}
	})
}

// fakeServer answers a client's control connection with script (then
// keeps it open, or closes it), drains what the client sends on it and on
// its TCP data streams, and refuses UDP.
func fakeServer(script []byte, closeAfter bool) DialFunc {
	var mu sync.Mutex
	first := true
	return func(ctx context.Context, network string, raddr netip.AddrPort) (net.Conn, error) {
		if network != "tcp" {
			return nil, errors.New("no UDP here")
		}
		c, s := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, s) }()
		mu.Lock()
		ctrl := first
		first = false
		mu.Unlock()
		if ctrl {
			go func() {
				_, _ = s.Write(script)
				if closeAfter {
					_ = s.Close()
				}
			}()
		}
		return c, nil
	}
}

func runFake(script []byte, closeAfter bool) (*Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Run(ctx, ClientConfig{
		Server:         netip.MustParseAddrPort("127.0.0.1:5201"),
		Dial:           fakeServer(script, closeAfter),
		Duration:       100 * time.Millisecond,
		ControlTimeout: 100 * time.Millisecond,
		IdleTimeout:    300 * time.Millisecond,
	})
}

// goodResults is a server's results JSON for a one-stream test.
var goodResults = frame(`{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,"sender_has_retransmits":-1,` +
	`"streams":[{"id":1,"bytes":1000,"retransmits":-1,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":0.1}]}`)

// TestClientBadServer feeds the client bad control input.
func TestClientBadServer(t *testing.T) {
	run := []byte{byte(stateParamExchange), byte(stateCreateStreams), byte(stateTestStart), byte(stateTestRunning)}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name   string
		script []byte
		close  bool
		want   error
	}{
		{"access-denied", []byte{0xff}, false, ErrAccessDenied},
		{"server-error", []byte{0xfe, 0, 0, 0, ieNoSCTP, 0, 0, 0, 0}, false, ErrUnsupported},
		{"server-error-short", []byte{0xfe, 0, 0}, true, ErrControlClosed},
		{"server-terminate", cat(run, []byte{byte(stateServerTerminate)}), false, ErrServerTerminated},
		{"unknown-state", []byte{byte(stateParamExchange), 77}, false, ErrProtocol},
		{"running-first", []byte{byte(stateTestRunning)}, false, ErrProtocol},
		{"results-too-long", cat(run, []byte{byte(stateExchangeResults), 0xff, 0xff, 0xff, 0xff}), false, ErrProtocol},
		{"results-empty", cat(run, []byte{byte(stateExchangeResults), 0, 0, 0, 0}), false, ErrProtocol},
		{"results-garbage", cat(run, []byte{byte(stateExchangeResults)}, frame(`{"streams":1}`)), false, ErrProtocol},
		{"display-first", cat(run, []byte{byte(stateDisplayResults)}), false, ErrProtocol},
		{"early-close", []byte{byte(stateParamExchange)}, true, ErrControlClosed},
		{"silent", nil, false, ErrTimeout},
		{"stalls-after-test-end", run, false, ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runFake(tc.script, tc.close)
			if !errors.Is(err, tc.want) || res != nil {
				t.Errorf("got %v, %v; want %v", res, err, tc.want)
			}
		})
	}
	// A whole test against the script works.
	res, err := runFake(cat(run, []byte{byte(stateExchangeResults)}, goodResults, []byte{byte(stateDisplayResults)}), false)
	if err != nil {
		t.Fatalf("good script: %v", err)
	}
	if res.Upload == nil || res.Upload.Received.Bytes != 1000 || len(res.Upload.Streams) != 1 {
		t.Errorf("good script: got upload %+v", res.Upload)
	}
}

// FuzzClientControl feeds the client arbitrary control input: Run must
// return, and never panic.
func FuzzClientControl(f *testing.F) {
	f.Add([]byte{0xff})
	f.Add([]byte{9, 10, 1, 2, 11})
	f.Add([]byte{9, 10, 1, 2, 13, 0, 0, 0, 2, '{', '}', 14})
	f.Add(append([]byte{9, 10, 1, 2, 13}, append(goodResults, 14)...))
	f.Add([]byte{0xfe, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, in []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = runFake(in, false)
		}()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("Run did not return within 15 s")
		}
	})
}

// FuzzParseParams checks that any parameter JSON parses or fails
// cleanly, and that checked parameters are in range.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"tcp":true,"omit":0,"time":10,"num":0,"blockcount":0,"parallel":1,"len":131072,"pacing_timer":1000,"client_version":"3.12"}`))
	f.Add([]byte(`{"udp":true,"time":2,"parallel":4,"bandwidth":50000000,"udp_counters_64bit":1,"reverse":true}`))
	f.Add([]byte(`{"tcp":true,"parallel":1e20,"len":-1,"bandwidth":-3,"num":1.8446744073709552e+19}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"sctp":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseParams(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if te := p.check(MaxStreams, true); te != nil {
			return
		}
		if p.Parallel < 1 || p.Parallel > MaxStreams || p.BlockSize < 1 || p.BlockSize > MaxTCPBlockSize ||
			p.Time < 0 || p.Time > MaxDuration || p.Burst < 0 || p.Burst > MaxBurst || p.Reverse && p.Bidir {
			t.Fatalf("check let through %+v", p)
		}
		if p.UDP && (p.BlockSize < MinUDPBlockSize || p.BlockSize > MaxUDPBlockSize) {
			t.Fatalf("check let through UDP block size %d", p.BlockSize)
		}
		// What the client encodes, the server reads back.
		q, err := parseParams(p.encode())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if q.Parallel != p.Parallel || q.Time != p.Time || q.Bytes != p.Bytes || q.Rate != p.Rate || q.UDP != p.UDP ||
			q.Reverse != p.Reverse || q.Bidir != p.Bidir || q.BlockSize != p.BlockSize || q.UDP64 != p.UDP64 {
			t.Fatalf("round trip: got %+v, want %+v", q, p)
		}
	})
}

// FuzzParseResults checks the results parser, and that it reads back what
// encode writes.
func FuzzParseResults(f *testing.F) {
	f.Add([]byte(`{"cpu_util_total":1.5,"cpu_util_user":0.5,"cpu_util_system":1,"sender_has_retransmits":1,"congestion_used":"bbr","streams":[{"id":1,"bytes":83886080,"retransmits":18446744073709551615,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":1.000106}]}`))
	f.Add([]byte(`{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,"sender_has_retransmits":-1,"streams":[{"id":4,"bytes":177602560,"retransmits":1.8446744073709552e+19,"jitter":0.0001,"errors":3,"packets":191}]}`))
	f.Add([]byte(`{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,"sender_has_retransmits":0,"streams":{}}`))
	f.Add([]byte(`{"streams":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResults(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if len(r.Streams) > maxResultStreams {
			t.Fatalf("%d streams", len(r.Streams))
		}
		r2, err := parseResults(r.encode())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(r2.Streams) != len(r.Streams) {
			t.Fatalf("round trip: %d streams, want %d", len(r2.Streams), len(r.Streams))
		}
		for i := range r.Streams {
			if r2.Streams[i].ID != r.Streams[i].ID || r2.Streams[i].Bytes != r.Streams[i].Bytes || r2.Streams[i].Packets != r.Streams[i].Packets {
				t.Fatalf("round trip stream %d: got %+v, want %+v", i, r2.Streams[i], r.Streams[i])
			}
		}
	})
}

// FuzzReadJSONFrame checks the length-prefixed reader.
func FuzzReadJSONFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0, 0, 9, '{'})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := readJSONFrame(bytes.NewReader(in), 64)
		if err != nil {
			return
		}
		n := binary.BigEndian.Uint32(in)
		if len(b) == 0 || len(b) > 64 || uint32(len(b)) != n || !bytes.Equal(b, in[4:4+n]) {
			t.Fatalf("got %q from %q", b, in)
		}
	})
}

func TestReadJSONFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
		err  error
	}{
		{"ok", []byte{0, 0, 0, 2, '{', '}', 'x'}, "{}", nil},
		{"zero", []byte{0, 0, 0, 0}, "", ErrProtocol},
		{"too-long", []byte{0, 0, 1, 0}, "", ErrProtocol},
		{"huge", []byte{0xff, 0xff, 0xff, 0xff}, "", ErrProtocol},
		{"short-header", []byte{0, 0}, "", io.ErrUnexpectedEOF},
		{"short-body", []byte{0, 0, 0, 5, '{'}, "", io.ErrUnexpectedEOF},
		{"empty", nil, "", io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := readJSONFrame(bytes.NewReader(tc.in), 255)
			if !errors.Is(err, tc.err) || string(b) != tc.want {
				t.Errorf("got %q, %v; want %q, %v", b, err, tc.want, tc.err)
			}
		})
	}
}

func TestParamsCheck(t *testing.T) {
	for _, tc := range []struct {
		json    string
		haveUDP bool
		code    int32 // 0: accepted
	}{
		{`{"tcp":true,"time":10,"parallel":1}`, false, 0},
		{`{"time":10,"parallel":1}`, false, 0}, // TCP by default
		{`{"udp":true,"time":10,"parallel":1}`, false, ieProtocol},
		{`{"udp":true,"time":10,"parallel":1,"len":8}`, true, ieUDPBlockSize},
		{`{"udp":true,"time":10,"parallel":1,"len":65508}`, true, ieUDPBlockSize},
		{`{"tcp":true,"time":10,"parallel":1,"len":1048577}`, false, ieBlockSize},
		{`{"tcp":true,"time":10,"parallel":0}`, false, ieNumStreams},
		{`{"tcp":true,"time":10,"parallel":129}`, false, ieNumStreams},
		{`{"tcp":true,"time":86401,"parallel":1}`, false, ieDuration},
		{`{"tcp":true,"time":-1,"parallel":1}`, false, ieDuration},
		{`{"tcp":true,"time":1,"omit":-1,"parallel":1}`, false, ieOmit},
		{`{"tcp":true,"time":1,"parallel":1,"burst":1001}`, false, ieBurst},
		{`{"tcp":true,"time":1,"parallel":1,"reverse":true,"bidirectional":true}`, false, ieReverseBidir},
		{`{"tcp":true,"time":1,"parallel":1,"reverse":true,"zerocopy":1}`, false, ieNoSendfile},
		{`{"tcp":true,"time":1,"parallel":1,"zerocopy":1}`, false, 0},
		{`{"sctp":true,"time":1,"parallel":1}`, false, ieNoSCTP},
		{`{"tcp":true,"time":1,"parallel":1,"authtoken":"abc"}`, false, ieAuthTest},
		{`{"tcp":true,"udp":true,"time":1,"parallel":1}`, true, ieProtocol},
	} {
		p, err := parseParams([]byte(tc.json))
		if err != nil {
			t.Errorf("%s: %v", tc.json, err)
			continue
		}
		var got int32
		if te := p.check(MaxStreams, tc.haveUDP); te != nil {
			got = te.code
		}
		if got != tc.code {
			t.Errorf("%s: got code %d, want %d", tc.json, got, tc.code)
		}
	}
}

func TestParseParamsFields(t *testing.T) {
	p, err := parseParams([]byte(`{"udp":true,"omit":2,"time":5,"num":0,"blockcount":0,"parallel":4,"reverse":true,"len":1200,` +
		`"bandwidth":50000000,"pacing_timer":1000,"burst":3,"udp_counters_64bit":1,"repeating_payload":1,"title":"t","get_server_output":1,"client_version":"3.12"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := params{UDP: true, Omit: 2, Time: 5, Parallel: 4, Reverse: true, BlockSize: 1200, Rate: 50e6, PacingTimer: 1000, Burst: 3,
		UDP64: true, RepeatingPayload: true, Title: "t", GetServerOutput: true, ClientVersion: "3.12"}
	if p != want {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
}

func TestParseResultsLenient(t *testing.T) {
	r, err := parseResults([]byte(`{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":1,"streams":[` +
		`{"id":1,"bytes":83886080,"retransmits":18446744073709551615,"jitter":0.5,"errors":2,"packets":9,"start_time":0,"end_time":1.5},` +
		`{"id":3,"bytes":1e3,"retransmits":1.8446744073709552e+19,"jitter":0,"errors":0,"packets":0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []streamResult{
		{ID: 1, Bytes: 83886080, Retransmits: -1, Jitter: 0.5, Errors: 2, Packets: 9, EndTime: 1.5},
		{ID: 3, Bytes: 1000, Retransmits: -1},
	}
	if len(r.Streams) != 2 || r.Streams[0] != want[0] || r.Streams[1] != want[1] {
		t.Errorf("got %+v, want %+v", r.Streams, want)
	}
	for _, bad := range []string{
		`{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"streams":[]}`,
		`{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0}`,
		`{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0,"streams":[{"id":1}]}`,
		`{"cpu_util_total":"1","cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0,"streams":[]}`,
	} {
		if _, err := parseResults([]byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: got %v, want ErrProtocol", bad, err)
		}
	}
}

// TestUDPReceive checks loss, reordering and the packet count against
// iperf_udp_recv's rules.
func TestUDPReceive(t *testing.T) {
	for _, tc := range []struct {
		name                string
		seqs                []uint64
		packets, lost, ooo  uint64
		counters64, rolling bool
	}{
		{name: "in-order", seqs: []uint64{1, 2, 3}, packets: 3},
		{name: "gap", seqs: []uint64{1, 2, 5}, packets: 5, lost: 2},
		{name: "late", seqs: []uint64{1, 3, 2}, packets: 3, lost: 0, ooo: 1},
		{name: "first-lost", seqs: []uint64{2, 3}, packets: 3, lost: 1},
		{name: "duplicate", seqs: []uint64{1, 2, 2}, packets: 2, ooo: 1},
		{name: "64-bit", seqs: []uint64{1 << 33, 1<<33 + 1}, packets: 1<<33 + 1, lost: 1<<33 - 1, counters64: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s stream
			b := make([]byte, 100)
			for _, q := range tc.seqs {
				putUDPHeader(b, q, tc.counters64)
				s.udpReceive(b, tc.counters64, 10, 0)
			}
			checkEq(t, "packets", s.packets.Load(), tc.packets)
			checkEq(t, "lost", s.lost.Load(), tc.lost)
			checkEq(t, "out of order", s.ooo.Load(), tc.ooo)
			checkEq(t, "bytes", s.bytes.Load(), uint64(100*len(tc.seqs)))
		})
	}
}

// TestUDPJitter checks the RFC 1889 estimator: constant transit gives no
// jitter; transit alternating by 1 ms converges to 1 ms.
func TestUDPJitter(t *testing.T) {
	var s stream
	b := make([]byte, 16)
	for i := range 400 {
		binary.BigEndian.PutUint32(b[0:], 100)
		binary.BigEndian.PutUint32(b[4:], uint32(i*1000))
		binary.BigEndian.PutUint32(b[8:], uint32(i+1))
		s.udpReceive(b, false, 101, uint32(i*1000))
	}
	if j := s.jitterSeconds(); j > 1e-9 {
		t.Errorf("constant transit: jitter %v, want 0", j)
	}
	var s2 stream
	for i := range 400 {
		binary.BigEndian.PutUint32(b[0:], 100)
		binary.BigEndian.PutUint32(b[4:], 0)
		binary.BigEndian.PutUint32(b[8:], uint32(i+1))
		s2.udpReceive(b, false, 101, uint32(1000*(i%2)))
	}
	if j := s2.jitterSeconds(); math.Abs(j-0.001) > 1e-6 {
		t.Errorf("alternating transit: jitter %v, want 0.001", j)
	}
	// A datagram too short for a header is counted but not parsed.
	var s3 stream
	s3.udpReceive([]byte{1, 2, 3}, false, 0, 0)
	if s3.bytes.Load() != 3 || s3.packets.Load() != 0 {
		t.Errorf("short datagram: %d bytes, %d packets", s3.bytes.Load(), s3.packets.Load())
	}
}

func TestUDPHandshakeBytes(t *testing.T) {
	// The constants as little-endian iperf3 writes them.
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], 0x36373839)
	checkEq(t, "connect message", le, udpConnectMsg)
	binary.LittleEndian.PutUint32(le[:], 0x39383736)
	checkEq(t, "connect reply", le, udpConnectReply)
	binary.LittleEndian.PutUint32(le[:], 987654321)
	checkEq(t, "legacy reply", le, legacyUDPReply)
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{[]byte("6789"), true},
		{[]byte("9876"), true}, // a big-endian pre-3.17 server
		{legacyUDPReply[:], true},
		{[]byte{0x3a, 0xde, 0x68, 0xb1}, true},
		{[]byte("678"), false},
		{[]byte("67890"), false},
		{[]byte("abcd"), false},
	} {
		checkEq(t, fmt.Sprintf("isUDPReply(%q)", tc.in), isUDPReply(tc.in), tc.want)
	}
}

func TestCookieAndIDs(t *testing.T) {
	c := newCookie()
	checkEq(t, "NUL", c[CookieSize-1], byte(0))
	for _, b := range c[:CookieSize-1] {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz234567", rune(b)) {
			t.Fatalf("cookie %q has %q", c[:], b)
		}
	}
	checkEq(t, "cookieString", len(cookieString(c[:])), CookieSize-1)
	checkEq(t, "cookieString with junk after the NUL", cookieString([]byte("ab\x00cd")), "ab")
	for i, want := range []int{1, 3, 4, 5, 6} {
		checkEq(t, fmt.Sprintf("streamID(%d)", i), streamID(i), want)
	}
}

func TestServerErrorText(t *testing.T) {
	e := &ServerError{Code: ieAccessDenied}
	if !errors.Is(e, ErrAccessDenied) || !strings.Contains(e.Error(), "busy") {
		t.Errorf("%v: want ErrAccessDenied with the reason", e)
	}
	e = &ServerError{Code: ieNoSCTP, Errno: 22}
	if !errors.Is(e, ErrUnsupported) || !strings.Contains(e.Error(), "errno 22") {
		t.Errorf("%v: want ErrUnsupported with the errno", e)
	}
}

func TestConfigChecks(t *testing.T) {
	if _, err := NewServer(Config{}); err == nil {
		t.Errorf("NewServer without a listener: got nil error")
	}
	server := netip.MustParseAddrPort("127.0.0.1:5201")
	for _, cfg := range []ClientConfig{
		{},
		{Server: server, Duration: time.Second, Bytes: 1},
		{Server: server, Reverse: true, Bidir: true},
		{Server: server, Parallel: 129},
		{Server: server, UDP: true, BlockSize: 8},
		{Server: server, BlockSize: 2 << 20},
		{Server: server, Omit: 1500 * time.Millisecond},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v): got nil error", cfg)
		}
	}
}

func TestPacer(t *testing.T) {
	start := time.Now()
	p := newPacer(8e6, start) // 1 MB/s
	if d := p.due(1e6).Sub(start); d != time.Second {
		t.Errorf("due after 1 MB at 8 Mbit/s: got %v, want 1s", d)
	}
	stop := make(chan struct{})
	close(stop)
	if p.wait(1e9, stop) {
		t.Errorf("wait with stop closed: got true")
	}
	if !newPacer(0, start).wait(1e12, make(chan struct{})) {
		t.Errorf("unpaced wait: got false")
	}
}
