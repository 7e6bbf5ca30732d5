//go:build cgo && !nodpdk

package dpdk

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
)

// inChildNetns is inChild in a network namespace of the test's own, for
// tests whose vdev makes a kernel interface (net_tap). The parent needs
// root and ip(8).
func inChildNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s needs root: it makes a network namespace for the tap interface", t.Name())
	}
	ns := fmt.Sprintf("nsdpdk%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s (is iproute2 installed?): %v\n%s", ns, err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	runChild(t, "ip", "netns", "exec", ns)
	return false
}

// TestHardwareTSO: on net_tap, which offers TSO on chained mbufs, a TCP
// super-frame handed to TxBurst leaves as one mbuf chain that references
// the sender's payload packets (no copy): the kernel side of the tap
// receives the segments, captured here with an AF_PACKET socket, with
// their payload, sequence numbers, lengths and both checksums right. The
// payload packets stay the sender's, intact and lent; freed, they go back
// to the mempool, which is whole again: the chain's references all went.
func TestHardwareTSO(t *testing.T) {
	if !inChildNetns(t) {
		return
	}
	const ifname = "tsotap0"
	mustInitEAL(t, "--vdev=net_tap0,iface="+ifname+",mac=fixed")
	p := mustOpen(t, PortConfig{Name: "net_tap0", PoolSize: 4095})
	if !p.tso {
		t.Fatalf("net_tap did not get TSO (offloads %s): the test covers nothing", offloadString(p.offl, p.tso, p.tso6, p.lro))
	}
	for _, args := range [][]string{{"ip", "link", "set", ifname, "up"}, {"ethtool", "-K", ifname, "gro", "off"}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ifi, err := ifIndex(ifname)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_IP)))
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_IP), Ifindex: ifi}); err != nil {
		t.Fatal(err)
	}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 2})

	pool := p.Pool(0)
	src, dst := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
	const mss, total, seq0 = 1000, 4500, 1000
	super, payload := superFrame(pool, src, dst, driver.TxTCPSeg|driver.TxIPChecksum|driver.TxTCPChecksum, seq0, mss, total)
	if n := p.TxBurst(0, []*driver.Packet{super}); n != 1 {
		t.Fatalf("TxBurst took %d of 1", n)
	}
	if s := p.SoftStats(); s.TSOChains != 1 || s.TSODrops != 0 {
		t.Fatalf("TSO chains %d, drops %d: want 1 and 0", s.TSOChains, s.TSODrops)
	}
	buf := make([]byte, 2048)
	var frames [][]byte
	for deadline := time.Now().Add(3 * time.Second); len(frames) < 5 && time.Now().Before(deadline); {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		f := append([]byte(nil), buf[:n]...)
		if len(f) >= 34 && f[14+9] == 6 && binary.BigEndian.Uint16(f[34:]) == 40000 {
			frames = append(frames, f)
		}
	}
	if len(frames) != 5 {
		t.Fatalf("the tap's kernel side received %d of the super-frame's segments, want 5", len(frames))
	}
	checkSegments(t, frames, seq0, mss, total)
	// The payload packets are still the sender's, intact, and lent: freed,
	// they go to the mempool by its reference count, not to reuse.
	for i, pk := range payload {
		if pk.Len() != 1500 || pk.Data()[0] != byte(i*1500%251) {
			t.Fatalf("payload packet %d changed", i)
		}
		if !pk.Lent() {
			t.Fatalf("payload packet %d not marked lent", i)
		}
		pool.Put(pk)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close frees a mempool only when every mbuf is back in it.
	if m := p.mps[0]; m.mp != nil {
		t.Fatalf("mempool kept after Close with %d of its %d mbufs back: references leaked", m.avail(), len(m.desc))
	}
	if err := Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ifIndex returns the index of interface name, from sysfs.
func ifIndex(name string) (int, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	if err != nil {
		return 0, err
	}
	var i int
	_, err = fmt.Sscan(strings.TrimSpace(string(b)), &i)
	return i, err
}
