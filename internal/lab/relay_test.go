package lab

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRelayLinuxPeers: a Linux client, netsplice relay on two af_packet
// ports, a Linux server: a download through the relay in each splice
// mode, SHA-256 compared.
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
	file := t.TempDir() + "/payload"
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
	for _, mode := range []string{"softnet", "dedicated", "copy"} {
		t.Run(mode, func(t *testing.T) {
			relay := l.Start(nsR, "netsplice relay "+mode, Binary, "relay",
				// Two ports of two queues: more mempool memory than one port needs.
				"--eal", strings.Replace(EAL("net_af_packet0,iface="+rc, "net_af_packet1,iface="+rs), "-m 256", "-m 640", 1),
				"--ip", "192.0.2.1/24", "--ip", "198.51.100.1/24", "--lcores", "2", "--mode", mode,
				"--listen", "tcp:192.0.2.1:80", "--to", "tcp:198.51.100.2:8000")
			relay.WaitFor(t, "netsplice relay: ready", ReadyTimeout)
			out := l.In(nsC, "sh", "-c", "socat -u TCP:192.0.2.1:80 STDOUT | sha256sum")
			stats := relay.Stop()
			if got := strings.Fields(out)[0]; got != want {
				t.Fatalf("download through the relay: sha256 %s, want %s\nrelay:\n%s", got, want, stats)
			}
			if !strings.Contains(stats, "relayed 1") {
				t.Fatalf("relay did not report the relayed connection:\n%s", stats)
			}
			t.Logf("relay %s:\n%s", mode, grepLines(stats, "relay ", "splice:"))
		})
	}
	time.Sleep(10 * time.Millisecond)
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
