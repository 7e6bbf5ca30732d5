package lab

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVhostVirtioTCP: two netsplice processes joined by vhost-user, the
// way a DPDK guest and its host meet (no hugepages: EAL's memory is
// memfd-backed and shared over the socket): `serve --echo tcp:7` on a
// net_vhost port, `connect` on a virtio_user port sending 32 MiB through
// the echo, over IPv4 and IPv6. The virtio port offers TSO (IPv4 and
// IPv6) and LRO: the client's super-frames leave as TSO chains and reach
// the server whole, as coalesced chains (rx_lro_frames); every byte comes
// back (SHA-256 of the pattern).
func TestVhostVirtioTCP(t *testing.T) {
	if Binary == "" {
		t.Fatal("lab: no netsplice binary; call lab.BuildNetsplice in TestMain")
	}
	l := New(t)
	ns := l.Netns("vh")
	sock := filepath.Join(t.TempDir(), "vhost.sock")
	const n = 32 << 20
	srv := l.Start(ns, "netsplice serve on net_vhost", Binary, "serve",
		"--eal", EAL("net_vhost0,iface="+sock+",tso=1")+" --file-prefix=nsvh",
		"--ip", "198.51.100.1/24,2001:db8:100::1/64", "--echo", "tcp:7")
	srv.WaitFor(t, "netsplice serve: ready", ReadyTimeout)
	for _, dst := range []string{"198.51.100.1:7", "[2001:db8:100::1]:7"} {
		out, err := l.Netsplice(t, ns, 120*time.Second, "connect",
			"--eal", EAL("virtio_user0,path="+sock)+" --file-prefix=nsvu",
			"--ip", "198.51.100.2/24,2001:db8:100::2/64", "--send", strconv.Itoa(n), dst)
		want := fmt.Sprintf("received %d bytes, sha256 %s", n, patternSHA256(n))
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("connect %s (%v): want %q in:\n%s\nserver:\n%s", dst, err, want, out, srv.Output())
		}
		t.Logf("connect %s: %d bytes echoed intact", dst, n)
	}
	// The vhost library logs from its own thread as the guest goes: leave
	// its lines out of the counter sections.
	var lines []string
	for _, line := range strings.Split(srv.Stop(), "\n") {
		if !strings.Contains(line, "VHOST_CONFIG") {
			lines = append(lines, line)
		}
	}
	out := strings.Join(lines, "\n")
	// Only TSO super-frames from the virtio end arrive coalesced: the
	// client segmented on the device, the server took them whole.
	port, stack := Counters(out)["port 0"], Counters(out)["stack"]
	if port["rx_lro_frames"] == 0 || port["rx_unsupported"] != 0 || stack["tcp_rx_lro"] == 0 {
		t.Fatalf("the vhost port received %d coalesced frames and %d undescribable ones, TCP took %d: want some, none and some\n%s",
			port["rx_lro_frames"], port["rx_unsupported"], stack["tcp_rx_lro"], out)
	}
	t.Logf("server: %d coalesced frames received (tcp_rx_lro %d), port %v", port["rx_lro_frames"], stack["tcp_rx_lro"], port)
}
