package lab

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

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

// TestAFPacketIPv6: netsplice serve with an IPv4 and an IPv6 address on
// the af_packet PMD, the Linux kernel at the other end of the veth: Linux
// resolves netsplice (neighbour discovery) and pings its global and its
// link-local address; then netsplice ping resolves Linux and pings its
// global and link-local addresses.
func TestAFPacketIPv6(t *testing.T) {
	l := New(t)
	nsD, nsL := l.Netns("d"), l.Netns("l")
	dif, lif := l.Veth(nsD, nsL, "v")
	// The kernel behind netsplice's port must not answer IPv6 itself: its
	// link-local address would be netsplice's (same MAC).
	l.In(nsD, "sysctl", "-qw", "net.ipv6.conf."+dif+".disable_ipv6=1")
	l.LinuxEnd(nsL, lif, "192.0.2.2/24")
	l.Cmd("ip", "-n", nsL, "addr", "add", "2001:db8:1::2/64", "dev", lif, "nodad")
	l.NoOffloads(nsD, dif)
	llD, llL := linkLocal(t, l, nsD, dif), linkLocal(t, l, nsL, lif)
	// Linux's own link-local address goes through DAD first.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(l.Cmd("ip", "-n", nsL, "-6", "addr", "show", "dev", lif), "tentative") {
		if time.Now().After(deadline) {
			t.Fatalf("Linux's IPv6 addresses stayed tentative:\n%s", l.Cmd("ip", "-n", nsL, "-6", "addr", "show", "dev", lif))
		}
		time.Sleep(50 * time.Millisecond)
	}
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
