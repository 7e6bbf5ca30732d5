//go:build cgo && !nodpdk

package dpdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
)

// vhostRoleEnv tells a child of TestVirtioTSOAndLRO which end it is, and
// vhostSockEnv where the vhost-user socket is.
const (
	vhostRoleEnv = "NETSPLICE_DPDK_VHOST_ROLE"
	vhostSockEnv = "NETSPLICE_DPDK_VHOST_SOCK"
)

// Destination ports that tell the two super-frames apart.
const (
	lroPort4, lroPort6 = 80, 81
	lroMSS, lroTotal   = 1000, 4500
	lroSeq0            = 7000
)

// TestVirtioTSOAndLRO runs two processes joined by vhost-user, a virtio
// NIC and its host as DPDK has them (no hugepages: EAL's memory is
// memfd-backed and shared over the socket): a virtio_user port, which
// offers TSO for IPv4 and IPv6 and LRO, and a net_vhost port. The virtio
// end sends an IPv4 and an IPv6 TCP super-frame as mbuf chains that
// reference the sender's payload (hardware TSO, IPv6 included); the
// device hands each to its host unsegmented, so the vhost end receives
// them as coalesced frames (RTE_MBUF_F_RX_LRO, a chain of mbufs), which
// the binding describes as driver.RxTCPCoalesced chains: the first
// segment's headers with its own length, the rest of the payload on
// Next, SegSize the sender's segment size, checksums verified.
func TestVirtioTSOAndLRO(t *testing.T) {
	if os.Getenv(childEnv) == t.Name() {
		switch os.Getenv(vhostRoleEnv) {
		case "vhost":
			vhostEnd(t, os.Getenv(vhostSockEnv))
		case "virtio":
			virtioEnd(t, os.Getenv(vhostSockEnv))
		default:
			t.Fatalf("no role in %s", vhostRoleEnv)
		}
		return
	}
	if !Available {
		t.Fatalf("%s needs DPDK, and this test binary was built without it (tag nodpdk or CGO_ENABLED=0)", t.Name())
	}
	sock := filepath.Join(t.TempDir(), "vhost.sock")
	start := func(role string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=60s")
		cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), vhostRoleEnv+"="+role, vhostSockEnv+"="+sock)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting the %s end: %v", role, err)
		}
		return cmd, &out
	}
	host, hostOut := start("vhost")
	defer host.Process.Kill()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			host.Process.Kill()
			host.Wait()
			t.Fatalf("the vhost end made no socket at %s:\n%s", sock, hostOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	guest, guestOut := start("virtio")
	defer guest.Process.Kill()
	herr := host.Wait()
	gerr := guest.Wait()
	pass := "--- PASS: " + t.Name()
	if herr != nil || !bytes.Contains(hostOut.Bytes(), []byte(pass)) || gerr != nil || !bytes.Contains(guestOut.Bytes(), []byte(pass)) {
		t.Fatalf("vhost end (%v):\n%s\nvirtio end (%v):\n%s", herr, hostOut, gerr, guestOut)
	}
	t.Logf("vhost end:\n%s\nvirtio end:\n%s", hostOut, guestOut)
}

// virtioEnd sends the two super-frames, again every 100 ms (the device's
// link comes up when the host has it), until the vhost end says it has
// both (sock.done) or 30 s pass.
func virtioEnd(t *testing.T, sock string) {
	mustInitEAL(t, fmt.Sprintf("--file-prefix=nsvu%d", os.Getpid()), "--vdev=virtio_user0,path="+sock)
	p := mustOpen(t, PortConfig{Name: "virtio_user0", PoolSize: 4095})
	if !p.tso || !p.tso6 || !p.lro {
		t.Fatalf("virtio_user did not get TSO for both families and LRO (offloads %s): the test covers nothing", offloadString(p.offl, p.tso, p.tso6, p.lro))
	}
	pool := p.Pool(0)
	src, dst := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
	var sent int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock + ".done"); err == nil {
			break
		}
		super4, pay4 := superFrame(pool, src, dst, driver.TxTCPSeg|driver.TxIPChecksum|driver.TxTCPChecksum, lroSeq0, lroMSS, lroTotal)
		binary.BigEndian.PutUint16(super4.Data()[34+2:], lroPort4)
		super6, pay6 := superFrame6(pool, lroSeq0, lroMSS, lroTotal)
		before := p.SoftStats().TSOChains
		if n := p.TxBurst(0, []*driver.Packet{super4, super6}); n != 2 {
			t.Fatalf("TxBurst took %d of 2", n)
		}
		// Both left as chains for the device to segment, none cut in
		// software: the sender's payload is referenced (lent), not
		// copied.
		if got := p.SoftStats().TSOChains - before; got != 2 {
			t.Fatalf("%d of the 2 super-frames left as TSO chains (IPv6 too?)", got)
		}
		for _, pk := range append(pay4, pay6...) {
			if !pk.Lent() {
				t.Fatal("a payload packet of a TSO chain is not lent")
			}
			pool.Put(pk)
		}
		sent++
	}
	if _, err := os.Stat(sock + ".done"); err != nil {
		t.Fatalf("the vhost end did not get both super-frames in 30 s (%d pairs sent)", sent)
	}
	t.Logf("sent %d pairs of super-frames", sent)
	p.Close()
}

// vhostEnd receives until it has seen each super-frame once as a
// coalesced chain, checks both, and says so with sock.done.
func vhostEnd(t *testing.T, sock string) {
	mustInitEAL(t, fmt.Sprintf("--file-prefix=nsvh%d", os.Getpid()), "--vdev=net_vhost0,iface="+sock+",tso=1")
	p := mustOpen(t, PortConfig{Name: "net_vhost0", PoolSize: 4095})
	if err := p.SetRxCoalesce(true); err != nil {
		t.Fatal(err)
	}
	got := map[uint16]bool{}
	pkts := make([]*driver.Packet, 32)
	for deadline := time.Now().Add(40 * time.Second); len(got) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("received %v of the two super-frames in 40 s (rx stats %+v)", got, p.SoftStats())
		}
		n := p.RxBurst(0, pkts)
		if n == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		for _, pk := range pkts[:n] {
			if port, ok := checkCoalesced(t, pk); ok {
				got[port] = true
			}
			for x := pk; x != nil; {
				next := x.Next
				x.Next = nil
				p.Pool(0).Put(x)
				x = next
			}
		}
	}
	if s := p.SoftStats(); s.LROFrames < 2 || s.Unsupported != 0 {
		t.Fatalf("port counts %d coalesced frames and %d undescribable ones: want at least 2 and 0", s.LROFrames, s.Unsupported)
	}
	if err := os.WriteFile(sock+".done", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the virtio end sees it and stops sending
	p.Close()
}

// checkCoalesced checks a frame the vhost end received: one of the two
// super-frames, whole, as an RxTCPCoalesced chain. It returns the
// frame's destination port, and false for other frames.
func checkCoalesced(t *testing.T, pk *driver.Packet) (uint16, bool) {
	t.Helper()
	d := pk.Data()
	if len(d) < 14+40+20 {
		return 0, false
	}
	var l3 int
	switch binary.BigEndian.Uint16(d[12:]) {
	case 0x0800:
		l3 = 20
		if d[14+9] != 6 {
			return 0, false
		}
		if got := int(binary.BigEndian.Uint16(d[14+2:])); got != len(d)-14 {
			t.Fatalf("IPv4 head: total length %d, want its own %d bytes", got, len(d)-14)
		}
	case 0x86dd:
		l3 = 40
		if d[14+6] != 6 {
			return 0, false
		}
		if got := int(binary.BigEndian.Uint16(d[14+4:])); got != len(d)-14-40 {
			t.Fatalf("IPv6 head: payload length %d, want its own %d bytes", got, len(d)-14-40)
		}
	default:
		return 0, false
	}
	tcp := d[14+l3:]
	port := binary.BigEndian.Uint16(tcp[2:])
	if port != lroPort4 && port != lroPort6 || (port == lroPort6) != (l3 == 40) {
		return 0, false
	}
	want := driver.RxTCPCoalesced | driver.RxL4ChecksumGood
	if pk.Flags&want != want || pk.Next == nil {
		t.Fatalf("port %d: flags %#x, chained %v: want RxTCPCoalesced and RxL4ChecksumGood on a chain", port, pk.Flags, pk.Next != nil)
	}
	if pk.SegSize != lroMSS {
		t.Fatalf("port %d: SegSize %d, want %d", port, pk.SegSize, lroMSS)
	}
	if seq := binary.BigEndian.Uint32(tcp[4:]); seq != lroSeq0 {
		t.Fatalf("port %d: seq %d, want %d", port, seq, lroSeq0)
	}
	if tcp[13]&0x08 == 0 {
		t.Fatalf("port %d: no PSH on the coalesced frame (the last segment's)", port)
	}
	payload := append([]byte(nil), tcp[20:]...)
	segs := 1
	for x := pk.Next; x != nil; x = x.Next {
		payload = append(payload, x.Data()...)
		segs++
	}
	if len(payload) != lroTotal {
		t.Fatalf("port %d: %d payload bytes in %d packets, want %d", port, len(payload), segs, lroTotal)
	}
	for i, c := range payload {
		if c != byte(i%251) {
			t.Fatalf("port %d: payload byte %d is %d, want %d", port, i, c, i%251)
		}
	}
	t.Logf("port %d (IPv%d): %d payload bytes in a chain of %d packets, segment size %d", port, map[int]int{20: 4, 40: 6}[l3], len(payload), segs, pk.SegSize)
	return port, true
}

// superFrame6 is superFrame over IPv6 (2001:db8::1 to 2001:db8::2), to
// lroPort6.
func superFrame6(pool *driver.Pool, seq0 uint32, mss, total int) (*driver.Packet, []*driver.Packet) {
	super := pool.Get()
	b := super.Append(14 + 40 + 20)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	b[12], b[13] = 0x86, 0xdd
	ip := b[14:54]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 20)
	ip[6], ip[7] = 6, 64
	copy(ip[8:24], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	copy(ip[24:40], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	tcp := b[54:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], lroPort6)
	binary.BigEndian.PutUint32(tcp[4:], seq0)
	tcp[12] = 5 << 4
	tcp[13] = 0x18
	super.Flags, super.L2Len, super.L3Len, super.SegSize = driver.TxTCPSeg|driver.TxTCPChecksum|driver.TxIPv6, 14, 40, uint16(mss)
	payload := patternPayload(pool)
	super.More, super.MoreLen = payload[0], int32(total)
	return super, payload
}
