package lab

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRelayReloadLinuxPeers reloads `netsplice relay --config` with SIGHUP
// while Linux clients download through it, in each splice mode. Before
// the reload three downloads are in flight (read in part, then held): on
// a relay the reload leaves alone, on one it removes and on one whose max
// it changes. An invalid file is refused first without disturbing them.
// Then the valid file adds a TCP and a UDP relay: both carry data, the
// removed relay refuses new clients, the changed one applies its new max
// to new connections, and every download in flight completes intact
// (SHA-256), the changed relay's with its old max.
func TestRelayReloadLinuxPeers(t *testing.T) {
	l := New(t)
	nsC, nsR, nsS := l.Netns("c"), l.Netns("r"), l.Netns("s")
	rc, cif := l.Veth(nsR, nsC, "a")
	rs, sif := l.Veth(nsR, nsS, "b")
	l.LinuxEnd(nsC, cif, "192.0.2.2/24")
	l.LinuxEnd(nsS, sif, "198.51.100.2/24")
	l.NoOffloads(nsR, rc)
	l.NoOffloads(nsR, rs)
	const n = 16 << 20
	dir := t.TempDir()
	file := dir + "/payload"
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(13, 13))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }
	srv := l.Start(nsS, "socat file server", "socat", "-U", "TCP-LISTEN:8000,reuseaddr,fork", "OPEN:"+file)
	defer srv.Stop()
	usrv := l.Start(nsS, "socat udp echo", "socat", "-b", "65536", "UDP4-RECVFROM:5353,fork", "PIPE")
	defer usrv.Stop()

	const oldMax, newMax = 1000000, 2000000
	config := dir + "/relays.yaml"
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(config+".new", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(config+".new", config); err != nil {
			t.Fatal(err)
		}
	}
	before := fmt.Sprintf(`relays:
  - listen: tcp:192.0.2.1:80
    to: tcp:198.51.100.2:8000
  - listen: tcp:192.0.2.1:81
    to: tcp:198.51.100.2:8000
  - listen: tcp:192.0.2.1:83
    to: tcp:198.51.100.2:8000
    max: %d
`, oldMax)
	invalid := `relays:
  - listen: tcp:192.0.2.1:80
    to: tcp:198.51.100.2:8000
  - listen: tcp:192.0.2.1:82
    to: tcp:198.51.100.9:8000
    idle: soon
`
	after := fmt.Sprintf(`relays:
  - listen: tcp:192.0.2.1:82
    to: tcp:198.51.100.2:8000
  - listen: tcp:192.0.2.1:80
    to: tcp:198.51.100.2:8000
  - listen: udp:192.0.2.1:53
    to: udp:198.51.100.2:5353
    idle: 1s # so that the drain at the end ends soon
  - listen: tcp:192.0.2.1:83
    to: tcp:198.51.100.2:8000
    max: %d
`, newMax)
	for _, mode := range []string{"softnet", "dedicated", "copy"} {
		t.Run(mode, func(t *testing.T) {
			write(before)
			relay := l.Start(nsR, "netsplice relay "+mode, Binary, "relay",
				"--eal", strings.Replace(EAL("net_af_packet0,iface="+rc, "net_af_packet1,iface="+rs), "-m 256", "-m 640", 1),
				"--ip", "192.0.2.1/24", "--ip", "198.51.100.1/24", "--lcores", "2", "--mode", mode,
				"--config", config, "--drain-timeout", "5m", "--metrics", "127.0.0.1:9100")
			defer relay.Stop()
			relay.WaitFor(t, "netsplice relay: ready: 3 relays", ReadyTimeout)

			// Downloads in flight: each reads its first 100 kB, then waits.
			kept := startDownload(t, nsC, "192.0.2.1:80", 100000)
			removed := startDownload(t, nsC, "192.0.2.1:81", 100000)
			changed := startDownload(t, nsC, "192.0.2.1:83", 100000)

			write(invalid)
			relay.cmd.Process.Signal(syscall.SIGHUP)
			relay.WaitFor(t, "config reload failed", time.Minute)
			relay.WaitFor(t, config+":6: relay 2: idle", time.Minute)
			metrics := l.In(nsR, "curl", "-sS", "--max-time", "30", "http://127.0.0.1:9100/metrics")
			for _, w := range []string{"netsplice_config_last_reload_successful 0", `netsplice_config_reloads_total{result="failure"} 1`,
				`netsplice_relay_accepted_total{relay="tcp:192.0.2.1:81->198.51.100.2:8000"} 1`} {
				if !strings.Contains(metrics, w) {
					t.Fatalf("/metrics after the invalid reload lacks %q:\n%s", w, grepLines(metrics, "netsplice_config", "netsplice_relay_accepted"))
				}
			}

			write(after)
			relay.cmd.Process.Signal(syscall.SIGHUP)
			relay.WaitFor(t, "config reloaded", time.Minute)
			for _, w := range []string{`"added": 2`, `"removed": 1`, `"changed": 1`, `"unchanged": 1`} {
				relay.WaitFor(t, w, time.Second)
			}

			// The added relays carry data.
			out := l.In(nsC, "sh", "-c", "socat -u TCP:192.0.2.1:82 STDOUT | sha256sum")
			if got := strings.Fields(out)[0]; got != sum(data) {
				t.Fatalf("download through the added relay: sha256 %s, want %s", got, sum(data))
			}
			udpEcho(t, l, nsC, "192.0.2.1", 53, 0)
			// The changed relay applies its new max to new connections.
			out = l.In(nsC, "sh", "-c", "socat -u TCP:192.0.2.1:83 STDOUT | sha256sum")
			if got := strings.Fields(out)[0]; got != sum(data[:newMax]) {
				t.Fatalf("new download through the changed relay: sha256 %s, want that of the first %d bytes (the new max)", got, newMax)
			}
			// The removed relay takes no new clients.
			if err := inNetns(nsC, func() error {
				c, err := net.DialTimeout("tcp4", "192.0.2.1:81", 10*time.Second)
				if err == nil {
					c.Close()
					return fmt.Errorf("connected")
				}
				return nil
			}); err != nil {
				t.Fatalf("the removed relay on :81 took a new client: %v", err)
			}

			// The downloads in flight complete intact.
			for _, d := range []struct {
				name string
				dl   *download
				want []byte
			}{
				{"unchanged relay", kept, data},
				{"removed relay", removed, data},
				{"changed relay (its old max)", changed, data[:oldMax]},
			} {
				got, size := d.dl.finish(t)
				if got != sum(d.want) {
					t.Fatalf("download in flight on the %s: %d bytes, sha256 %s; want %d bytes, sha256 %s", d.name, size, got, len(d.want), sum(d.want))
				}
			}
			relay.WaitFor(t, `"why": "removed"`, time.Minute)
			for _, w := range []string{"tcp:192.0.2.1:81->198.51.100.2:8000", "tcp:192.0.2.1:83->198.51.100.2:8000"} {
				waitLine(t, relay, "relay drained", w)
			}
			metrics = l.In(nsR, "curl", "-sS", "--max-time", "30", "http://127.0.0.1:9100/metrics")
			for _, w := range []string{"netsplice_config_last_reload_successful 1", `netsplice_config_reloads_total{result="success"} 1`,
				// :83's series sums its old relay's two connections and the new one's.
				`netsplice_relay_accepted_total{relay="tcp:192.0.2.1:83->198.51.100.2:8000"} 2`,
				`netsplice_relay_accepted_total{relay="tcp:192.0.2.1:82->198.51.100.2:8000"} 1`,
				`netsplice_relay_sessions_total{relay="udp:192.0.2.1:53->198.51.100.2:5353"} 1`} {
				if !strings.Contains(metrics, w) {
					t.Fatalf("/metrics after the reload lacks %q:\n%s", w, grepLines(metrics, "netsplice_config", "netsplice_relay_accepted", "netsplice_relay_sessions_total"))
				}
			}
			if strings.Contains(metrics, "192.0.2.1:81->") {
				t.Fatalf("/metrics still has the removed relay after it drained:\n%s", grepLines(metrics, "netsplice_relay_accepted"))
			}
			// Health and readiness, through reloads and live traffic: every
			// softnet progresses and the relay stays ready.
			for path, want := range map[string]string{"/healthz": "200 ok: 2 softnets progressing", "/readyz": "200 ready"} {
				got := l.In(nsR, "curl", "-sS", "--max-time", "30", "-w", "%{http_code}", "-o", "/dev/null", "http://127.0.0.1:9100"+path)
				body := l.In(nsR, "curl", "-sS", "--max-time", "30", "http://127.0.0.1:9100"+path)
				if got+" "+strings.TrimSpace(body) != want {
					t.Fatalf("%s: %s %q, want %s", path, got, body, want)
				}
			}
			stats := relay.Stop()
			for _, w := range []string{"relay tcp:192.0.2.1:80 -> tcp:198.51.100.2:8000: accepted 1 relayed 1 ", "relay tcp:192.0.2.1:82 -> tcp:198.51.100.2:8000: accepted 1 relayed 1 "} {
				if !strings.Contains(stats, w) {
					t.Fatalf("relay report lacks %q:\n%s", w, grepLines(stats, "relay "))
				}
			}
		})
	}
}

// waitLine waits until the process printed a line containing all of want.
func waitLine(t *testing.T, p *Proc, want ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, ln := range strings.Split(p.Output(), "\n") {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(ln, w)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no line with %q within a minute", p.Name, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// download is a TCP download from a Linux client, hashed as it arrives.
type download struct {
	c net.Conn
	h hash.Hash
	n int64
}

// startDownload connects from namespace ns to addr and reads the first
// bytes; the rest waits in the network until finish.
func startDownload(t *testing.T, ns, addr string, first int64) *download {
	t.Helper()
	d := &download{h: sha256.New()}
	if err := inNetns(ns, func() (err error) {
		d.c, err = net.DialTimeout("tcp4", addr, 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	t.Cleanup(func() { d.c.Close() })
	d.c.SetDeadline(time.Now().Add(2 * time.Minute))
	n, err := io.CopyN(d.h, d.c, first)
	d.n = n
	if err != nil {
		t.Fatalf("download from %s: the first %d bytes: %d, %v", addr, first, n, err)
	}
	return d
}

// finish reads the rest of the download to EOF, closes the connection
// (so that the relayed pair ends both ways) and returns the download's
// SHA-256 and size.
func (d *download) finish(t *testing.T) (string, int64) {
	t.Helper()
	d.c.SetDeadline(time.Now().Add(2 * time.Minute))
	n, err := io.Copy(d.h, d.c)
	d.c.Close()
	d.n += n
	if err != nil {
		t.Fatalf("download from %v: after %d bytes: %v", d.c.RemoteAddr(), d.n, err)
	}
	return fmt.Sprintf("%x", d.h.Sum(nil)), d.n
}
