// Package lab builds throwaway network labs for tests: network namespaces
// joined by veth pairs, a Linux kernel peer on one end and netsplice on the
// other (DPDK's af_packet PMD on a veth, or net_tap), and removes all of it
// when the test ends, also after a failure.
//
// It needs root (ip netns, ethtool). A test that cannot build its lab fails
// with a message saying why; it does not skip. Names carry the test
// process's PID and a counter, so labs of parallel test processes do not
// collide, and only documentation prefixes are used for addresses:
// 192.0.2.0/24 and 198.51.100.0/24, and 2001:db8::/32 for IPv6.
package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var seq atomic.Int64

// Lab is one test's set of namespaces, links and processes.
type Lab struct {
	t     testing.TB
	id    string
	mu    sync.Mutex
	netns []string
	procs []*Proc
}

// New checks that labs can be built here (root, ip netns) and returns an
// empty lab whose contents are removed when the test ends.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("lab: this test builds network namespaces and needs root (euid %d); run it as root, as CI does", os.Geteuid())
	}
	for _, tool := range []string{"ip", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("lab: %s not found (make deps installs iproute2 and ethtool): %v", tool, err)
		}
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Fatalf("lab: ip netns does not work here: %v: %s", err, out)
	}
	l := &Lab{t: t, id: fmt.Sprintf("%d%c%d", os.Getpid()%100000, 'n', seq.Add(1))}
	t.Cleanup(l.cleanup)
	return l
}

// Name returns a name unique to this lab with the given suffix (at most
// 15 bytes in all, for interface names).
func (l *Lab) Name(suffix string) string {
	n := "ns" + l.id + suffix
	if len(n) > 15 {
		l.t.Fatalf("lab: name %q longer than an interface name may be", n)
	}
	return n
}

// Cmd runs a command and fails the test when it fails.
func (l *Lab) Cmd(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("lab: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In runs a command inside namespace ns and fails the test when it fails.
func (l *Lab) In(ns string, name string, args ...string) string {
	l.t.Helper()
	return l.Cmd("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Netns creates a namespace with its loopback up and returns its name.
func (l *Lab) Netns(suffix string) string {
	l.t.Helper()
	ns := l.Name(suffix)
	l.Cmd("ip", "netns", "add", ns)
	l.mu.Lock()
	l.netns = append(l.netns, ns)
	l.mu.Unlock()
	l.Cmd("ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// Veth joins namespaces nsA and nsB with a veth pair and brings both ends
// up; it returns the interface names (in nsA, in nsB).
func (l *Lab) Veth(nsA, nsB, suffix string) (string, string) {
	l.t.Helper()
	a, b := l.Name(suffix+"a"), l.Name(suffix+"b")
	l.Cmd("ip", "link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB)
	l.Cmd("ip", "-n", nsA, "link", "set", a, "up")
	l.Cmd("ip", "-n", nsB, "link", "set", b, "up")
	return a, b
}

// NoOffloads turns checksum and segmentation offloads off on interface
// ifname in ns: with them on, a veth hands AF_PACKET 64 KiB frames with
// partial checksums.
func (l *Lab) NoOffloads(ns, ifname string) {
	l.t.Helper()
	l.In(ns, "ethtool", "-K", ifname, "tx", "off", "tso", "off", "gso", "off", "gro", "off", "rx", "off")
}

// LinuxEnd makes ifname in ns the Linux kernel peer: address cidr,
// offloads off.
func (l *Lab) LinuxEnd(ns, ifname, cidr string) {
	l.t.Helper()
	l.NoOffloads(ns, ifname)
	l.Cmd("ip", "-n", ns, "addr", "add", cidr, "dev", ifname)
	l.Cmd("ip", "-n", ns, "link", "set", ifname, "up")
}

// EAL returns EAL arguments for a lab process: no hugepages, no PCI, one
// lcore, no shared config (several processes run at once), plus vdevs.
func EAL(vdevs ...string) string {
	s := "--no-huge -m 256 --no-pci -l 0 --no-telemetry --no-shconf --log-level=lib.eal:error"
	for _, v := range vdevs {
		s += " --vdev=" + v
	}
	return s
}

// Proc is a process started in a namespace, in its own process group.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer // stdout and stderr
	cond *sync.Cond
	done chan struct{}
	err  error
}

// Start runs bin with args inside namespace ns. Its output is collected;
// it is killed (its whole process group) when the test ends.
func (l *Lab) Start(ns, name, bin string, args ...string) *Proc {
	l.t.Helper()
	p := &Proc{Name: name, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		l.t.Fatalf("lab: starting %s: %v", name, err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			p.cond.Broadcast()
			p.mu.Unlock()
		}
	}()
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	return p
}

// Output returns what the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// exited reports whether the process ended, and how.
func (p *Proc) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// WaitFor waits until the process printed a line containing s. It fails
// the test when the process exits or the timeout passes first.
func (p *Proc) WaitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	for {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, s) {
				p.mu.Unlock()
				return
			}
		}
		select {
		case <-p.done:
			out := p.out.String()
			p.mu.Unlock()
			t.Fatalf("lab: %s exited (%v) before printing %q:\n%s", p.Name, p.err, s, out)
		default:
		}
		if time.Now().After(deadline) {
			out := p.out.String()
			p.mu.Unlock()
			t.Fatalf("lab: %s did not print %q within %v:\n%s", p.Name, s, timeout, out)
		}
		p.cond.Wait()
	}
}

// Wait waits up to timeout for the process to exit and reports whether
// it did, and with what error.
func (p *Proc) Wait(timeout time.Duration) (bool, error) {
	select {
	case <-p.done:
		return p.exited()
	case <-time.After(timeout):
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, waits up to 5 s, then kills
// it, and returns its output.
func (p *Proc) Stop() string {
	if done, _ := p.exited(); !done {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		if ok, _ := p.Wait(5 * time.Second); !ok {
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			p.Wait(5 * time.Second)
		}
	}
	return p.Output()
}

// cleanup stops every process, then deletes the namespaces (which takes
// their veth ends and taps with them).
func (l *Lab) cleanup() {
	l.mu.Lock()
	procs, netns := l.procs, l.netns
	l.procs, l.netns = nil, nil
	l.mu.Unlock()
	for _, p := range procs {
		out := p.Stop()
		if l.t.Failed() {
			l.t.Logf("lab: output of %s:\n%s", p.Name, out)
		}
	}
	for i := len(netns) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", netns[i]).CombinedOutput(); err != nil {
			l.t.Errorf("lab: removing namespace %s: %v: %s", netns[i], err, out)
		}
	}
}
