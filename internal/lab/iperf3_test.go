package lab

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// iperf3Sums is the part of stock iperf3's -J output the lab checks.
type iperf3Sums struct {
	End struct {
		SumSent     struct{ Bytes uint64 } `json:"sum_sent"`
		SumReceived struct{ Bytes uint64 } `json:"sum_received"`
		Sum         struct {
			Bytes       uint64
			LostPackets uint64 `json:"lost_packets"`
			Packets     uint64
		} `json:"sum"`
		SumSentBidir     struct{ Bytes uint64 } `json:"sum_sent_bidir_reverse"`
		SumReceivedBidir struct{ Bytes uint64 } `json:"sum_received_bidir_reverse"`
	} `json:"end"`
	Error string `json:"error"`
}

// TestIperf3StockClients: stock iperf3 clients on the Linux kernel's TCP
// and UDP against `netsplice serve --iperf3` over af_packet: plain, -R,
// -P 4, --bidir and UDP. Each test completes, and the bytes netsplice
// received (its own count, printed per test) are the bytes iperf3 reports
// as received at the server.
func TestIperf3StockClients(t *testing.T) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Fatalf("iperf3 is needed (make deps installs it): %v", err)
	}
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsD, dif)
	srv := l.Serve(nsD, "net_af_packet0,iface="+dif, "192.0.2.1/24", "--iperf3", "5201")
	testLine := regexp.MustCompile(`iperf3 test (\d+) from [^:]+:\d+: (\w+), (\d+) streams, reverse (\w+), bidir (\w+): received (\d+) bytes, sent (\d+) bytes`)
	for i, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"reverse", []string{"-R"}},
		{"parallel", []string{"-P", "4"}},
		{"bidir", []string{"--bidir"}},
		{"udp", []string{"-u", "-b", "50M"}},
	} {
		args := append([]string{"netns", "exec", nsL, "iperf3", "-c", "192.0.2.1", "-p", "5201", "-t", "2", "-J"}, tc.args...)
		out, err := exec.Command("ip", args...).Output()
		var r iperf3Sums
		if jerr := json.Unmarshal(out, &r); err != nil || jerr != nil || r.Error != "" {
			t.Fatalf("%s: iperf3 %q: %v %v %s\n%s\nserve:\n%s", tc.name, tc.args, err, jerr, r.Error, out, srv.Output())
		}
		// The server's line for this test.
		srv.WaitFor(t, fmt.Sprintf("iperf3 test %d from", i+1), time.Minute)
		var m []string
		for _, line := range strings.Split(srv.Output(), "\n") {
			if mm := testLine.FindStringSubmatch(line); mm != nil && mm[1] == strconv.Itoa(i+1) {
				m = mm
			}
		}
		if m == nil {
			t.Fatalf("%s: no line for test %d in:\n%s", tc.name, i+1, srv.Output())
		}
		srvReceived, _ := strconv.ParseUint(m[6], 10, 64)
		srvSent, _ := strconv.ParseUint(m[7], 10, 64)
		switch tc.name {
		case "reverse":
			if srvSent == 0 || r.End.SumReceived.Bytes == 0 || r.End.SumSent.Bytes != srvSent {
				t.Errorf("%s: client received %d, server says it sent %d, iperf3's server-side sent %d", tc.name, r.End.SumReceived.Bytes, srvSent, r.End.SumSent.Bytes)
			}
		case "udp":
			if srvReceived == 0 || r.End.Sum.Bytes == 0 || r.End.Sum.Packets == 0 {
				t.Errorf("%s: server received %d bytes; iperf3: %+v", tc.name, srvReceived, r.End.Sum)
			}
		default:
			if srvReceived == 0 || r.End.SumReceived.Bytes != srvReceived {
				t.Errorf("%s: iperf3 reports %d bytes received at the server, netsplice counted %d", tc.name, r.End.SumReceived.Bytes, srvReceived)
			}
			if tc.name == "bidir" && (srvSent == 0 || r.End.SumReceivedBidir.Bytes == 0) {
				t.Errorf("%s: the reverse direction: server sent %d, client received %d", tc.name, srvSent, r.End.SumReceivedBidir.Bytes)
			}
			if tc.name == "parallel" && m[3] != "4" {
				t.Errorf("%s: the server saw %s streams", tc.name, m[3])
			}
		}
	}
}

// TestGenIperf3StockServer: netsplice gen --iperf3 over af_packet against
// a stock `iperf3 -s` on the Linux kernel: TCP, -P 2 -R, and UDP; the
// byte counts of both sides, exchanged by iperf3's protocol, agree.
func TestGenIperf3StockServer(t *testing.T) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Fatalf("iperf3 is needed (make deps installs it): %v", err)
	}
	l := New(t)
	nsG, nsL := l.Netns("g"), l.Netns("l")
	gif, lif := l.Veth(nsG, nsL, "v")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.NoOffloads(nsG, gif)
	l.Start(nsL, "iperf3 -s", "iperf3", "-s", "-B", "192.0.2.2", "-p", "5201")
	time.Sleep(300 * time.Millisecond)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tcp", []string{"--to", "tcp:192.0.2.2:5201"}},
		{"parallel reverse", []string{"--to", "tcp:192.0.2.2:5201", "--parallel", "2", "--reverse"}},
		{"udp", []string{"--to", "udp:192.0.2.2:5201", "--bitrate", "20e6"}},
	} {
		args := append([]string{"gen", "--eal", EAL("net_af_packet0,iface=" + gif), "--ip", "192.0.2.1/24", "--json", "--log-level", "warn",
			"--iperf3", "--duration", "2s"}, tc.args...)
		out, err := l.Netsplice(t, nsG, time.Minute, args...)
		var r struct {
			Sent, Received, ServerReceived, ServerSent uint64
			OK                                         bool
		}
		var final string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "{") {
				final = line
			}
		}
		if jerr := json.Unmarshal([]byte(strings.NewReplacer("server_received", "ServerReceived", "server_sent", "ServerSent").Replace(final)), &r); err != nil || jerr != nil || !r.OK {
			t.Fatalf("%s: gen --iperf3: %v %v\n%s", tc.name, err, jerr, out)
		}
		switch tc.name {
		case "parallel reverse":
			if r.Received == 0 || r.ServerSent == 0 || r.Received > r.ServerSent {
				t.Errorf("%s: received %d, the server sent %d", tc.name, r.Received, r.ServerSent)
			}
		case "udp":
			if r.Sent == 0 || r.ServerReceived == 0 || r.ServerReceived > r.Sent {
				t.Errorf("%s: sent %d, the server received %d", tc.name, r.Sent, r.ServerReceived)
			}
		default:
			// What was in flight when the test ended may be uncounted at
			// the server: at most the buffers' worth.
			if r.Sent == 0 || r.ServerReceived > r.Sent || r.Sent-r.ServerReceived > max(r.Sent/100, 1<<20) {
				t.Errorf("%s: sent %d, the server received %d", tc.name, r.Sent, r.ServerReceived)
			}
		}
	}
}
