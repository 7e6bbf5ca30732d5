// Command kernel measures the Linux kernel on the shapes of netsplice's
// benchmark workloads, so that bench/compare.sh can print it beside
// netsplice and gVisor (see ../shared/BENCH-PEERS.md of the project and the
// README's "Benchmarks"). It needs root, ip (iproute2), ethtool and iperf3.
//
//	kernel [--json] [--duration 2s] [--workload tcp-bulk,tcp-relay] [--offload on,off] [--prefix NAME]
//	kernel --check                      (exit 0 if it can run here, else say why on stderr, exit 3)
//	kernel relay --listen ADDR --to ADDR (the relay, run inside the relay namespace)
//
// tcp-bulk: iperf3 -c in one network namespace, iperf3 -s in another, one
// veth pair. tcp-relay: client namespace -> relay namespace -> server
// namespace over two veth pairs; the relay is this binary's relay
// subcommand, a TCP proxy whose copy loop is io.Copy between two
// *net.TCPConn (on Linux, splice(2): the payload never enters userland),
// with CloseWrite at each side's EOF. Each is measured with veth's default
// offloads ("offload") and with `ethtool -K DEV tx off tso off gso off gro
// off` on every veth end ("no-offload").
//
// Cost is whole-machine CPU: the user+nice+system+irq+softirq+steal
// columns of the cpu line of /proc/stat over the client's run, per GiB that
// iperf3 reports received (end.sum_received). On a shared machine that
// includes everyone else's work. Segments are bytes / 1448 (Linux's MSS on
// a 1500-byte MTU with TCP timestamps); relay_ns_per_seg is the relay
// process's own user+system CPU (its splice(2) calls and the TCP work done
// in them; softirq work is accounted elsewhere) per segment.
//
// The namespaces get unique names (--prefix, default nsk<pid>) and are
// deleted on every exit path, Ctrl-C included; the veth pairs live only
// inside them. Addresses come from the documentation ranges
// 198.51.100.0/24 and 203.0.113.0/24.
//
// Standard library only; the JSON shape is that of bench.Result in the main
// module (stack "linux"), with fields that do not apply left out (softnets,
// allocations, hand-offs; drops, which iperf3 does not see: it reports the
// sender's retransmits instead) and a few of its own (bytes, cpu_s,
// retransmits).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Result is one measurement, one JSON line, in the shape of bench.Result.
type Result struct {
	Stack      string  `json:"stack"`
	Workload   string  `json:"workload"`
	Mode       string  `json:"mode"`
	Gbps       float64 `json:"gbps"`
	PPS        float64 `json:"pps"`
	NsPerPkt   float64 `json:"ns_per_pkt"`
	RelayNsSeg float64 `json:"relay_ns_per_seg,omitempty"`
	CPUSPerGiB float64 `json:"cpu_s_per_gib"`
	Packets    uint64  `json:"packets"`
	Seconds    float64 `json:"seconds"`
	// Not in bench.Result.
	Bytes       uint64  `json:"bytes"`
	CPUS        float64 `json:"cpu_s"`
	Retransmits uint64  `json:"retransmits"`
}

// mss is Linux's TCP payload per segment on a 1500-byte MTU with
// timestamps: segments are counted as bytes / mss.
const mss = 1448

// clkTck is USER_HZ, the unit of /proc/stat and /proc/PID/stat.
const clkTck = 100

const port = "5201"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "relay" {
		if err := relayMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kernel relay:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(benchMain(os.Args[1:]))
}

// missing says why the benchmark cannot run here, or "" if it can.
func missing() string {
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "not root (network namespaces and veth pairs need root)")
	}
	for _, tool := range []string{"ip", "ethtool", "iperf3", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			why = append(why, tool+" not found (make deps installs it)")
		}
	}
	return strings.Join(why, "; ")
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("kernel", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	check := fs.Bool("check", false, "only check that the benchmark can run here")
	duration := fs.Duration("duration", 2*time.Second, "iperf3 run time of each measurement (whole seconds, rounded up)")
	workload := fs.String("workload", "tcp-bulk,tcp-relay", "workloads, comma separated: tcp-bulk, tcp-relay")
	offload := fs.String("offload", "on,off", "veth offloads, comma separated: on, off")
	prefix := fs.String("prefix", fmt.Sprintf("nsk%d", os.Getpid()), "prefix of the network namespaces' names")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if why := missing(); why != "" {
		fmt.Fprintln(os.Stderr, "kernel peer skipped:", why)
		return 3
	}
	if *check {
		return 0
	}
	secs := int(math.Ceil(duration.Seconds()))
	if secs < 1 {
		secs = 1
	}
	var modes []bool
	for _, o := range strings.Split(*offload, ",") {
		switch o {
		case "on":
			modes = append(modes, true)
		case "off":
			modes = append(modes, false)
		default:
			fmt.Fprintf(os.Stderr, "kernel: --offload %q: want on, off\n", o)
			return 2
		}
	}
	workloads := strings.Split(*workload, ",")
	for _, w := range workloads {
		if w != "tcp-bulk" && w != "tcp-relay" {
			fmt.Fprintf(os.Stderr, "kernel: unknown workload %q (tcp-bulk, tcp-relay)\n", w)
			return 2
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernel:", err)
		return 1
	}

	l := &lab{prefix: *prefix, vethPrefix: fmt.Sprintf("k%d", os.Getpid()), self: self}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "kernel: %v: cleaning up\n", s)
		l.cleanup(false)
		os.Exit(130)
	}()
	defer l.cleanup(true)

	status := 0
	for _, w := range workloads {
		for _, on := range modes {
			r, err := l.run(w, on, secs)
			if err != nil {
				fmt.Fprintf(os.Stderr, "kernel: %s (%s): %v\n", w, modeName(on), err)
				status = 1
				continue
			}
			if *asJSON {
				b, _ := json.Marshal(r)
				fmt.Printf("%s\n", b)
			} else {
				fmt.Printf("linux %-9s %-10s %6.2f Gbit/s %6.3f CPU s/GiB %6.0f ns/seg", r.Workload, r.Mode, r.Gbps, r.CPUSPerGiB, r.NsPerPkt)
				if r.RelayNsSeg > 0 {
					fmt.Printf(" relay %5.0f ns/seg", r.RelayNsSeg)
				}
				fmt.Printf(" retr %d\n", r.Retransmits)
			}
		}
	}
	return status
}

func modeName(on bool) string {
	if on {
		return "offload"
	}
	return "no-offload"
}

// lab is the namespaces of one measurement and the processes running in
// them.
type lab struct {
	prefix, vethPrefix, self string

	mu    sync.Mutex
	ns    []string
	procs []*exec.Cmd
	done  bool
}

func (l *lab) cmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (l *lab) addNS(name string) error {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return errors.New("interrupted")
	}
	l.ns = append(l.ns, name)
	l.mu.Unlock()
	if err := l.cmd("ip", "netns", "add", name); err != nil {
		return err
	}
	return l.cmd("ip", "-n", name, "link", "set", "lo", "up")
}

// start starts a command in namespace ns, remembered for cleanup.
func (l *lab) start(ns string, stdout io.Writer, args ...string) (*exec.Cmd, error) {
	c := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	c.Stdout = stdout
	// If this process dies without cleaning up (SIGKILL), so do they.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, errors.New("interrupted")
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	l.procs = append(l.procs, c)
	return c, nil
}

// cleanup kills every process started (and, with wait, reaps those not
// reaped yet) and deletes every namespace; with the namespaces go the veth
// pairs in them. On a signal it runs without wait, while run may be
// waiting for the client, and no further process starts.
func (l *lab) cleanup(wait bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !wait {
		l.done = true
	}
	for _, c := range l.procs {
		c.Process.Kill() // ErrProcessDone if reaped already
	}
	if wait {
		for _, c := range l.procs {
			if c.ProcessState == nil {
				c.Wait()
			}
		}
	}
	l.procs = nil
	for _, ns := range l.ns {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	l.ns = nil
}

// veth links namespace a (device a+"-"+an, address aAddr/24) with b.
func (l *lab) veth(a, an, aAddr, b, bn, bAddr string, offload bool) error {
	da, db := l.vethPrefix+an, l.vethPrefix+bn
	if err := l.cmd("ip", "link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b); err != nil {
		return err
	}
	for _, e := range []struct{ ns, dev, addr string }{{a, da, aAddr}, {b, db, bAddr}} {
		if !offload {
			if err := l.cmd("ip", "netns", "exec", e.ns, "ethtool", "-K", e.dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"); err != nil {
				return err
			}
		}
		if err := l.cmd("ip", "-n", e.ns, "addr", "add", e.addr+"/24", "dev", e.dev); err != nil {
			return err
		}
		if err := l.cmd("ip", "-n", e.ns, "link", "set", e.dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// waitListen waits until something listens on TCP port in namespace ns.
func (l *lab) waitListen(ns string, c *exec.Cmd) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :"+port).Output()
		if err == nil && len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Process.Kill()
	c.Wait()
	return fmt.Errorf("nothing listens on port %s in %s after 5 s: %s", port, ns, bytes.TrimSpace(c.Stderr.(*bytes.Buffer).Bytes()))
}

// run sets up the namespaces of one workload, measures, and tears them
// down.
func (l *lab) run(w string, offload bool, secs int) (Result, error) {
	defer l.cleanup(true)
	cns, sns, rns := l.prefix+"c", l.prefix+"s", l.prefix+"r"
	for _, ns := range []string{cns, sns} {
		if err := l.addNS(ns); err != nil {
			return Result{}, err
		}
	}
	serverAddr, dialAddr := "198.51.100.2", "198.51.100.2"
	if w == "tcp-bulk" {
		if err := l.veth(cns, "c", "198.51.100.1", sns, "s", "198.51.100.2", offload); err != nil {
			return Result{}, err
		}
	} else {
		if err := l.addNS(rns); err != nil {
			return Result{}, err
		}
		if err := l.veth(cns, "c", "198.51.100.1", rns, "r0", "198.51.100.2", offload); err != nil {
			return Result{}, err
		}
		if err := l.veth(rns, "r1", "203.0.113.1", sns, "s", "203.0.113.2", offload); err != nil {
			return Result{}, err
		}
		serverAddr = "203.0.113.2"
	}

	server, err := l.start(sns, io.Discard, "iperf3", "-s", "-1", "-B", serverAddr, "-p", port)
	if err != nil {
		return Result{}, err
	}
	if err := l.waitListen(sns, server); err != nil {
		return Result{}, err
	}
	relayPID := 0
	if w == "tcp-relay" {
		relay, err := l.start(rns, io.Discard, l.self, "relay", "--listen", dialAddr+":"+port, "--to", serverAddr+":"+port)
		if err != nil {
			return Result{}, err
		}
		if err := l.waitListen(rns, relay); err != nil {
			return Result{}, err
		}
		relayPID = relay.Process.Pid // ip netns exec execs the command: same process
	}

	var out bytes.Buffer
	relay0, relayOK := procCPU(relayPID, l.self)
	cpu0, err := machineCPU()
	if err != nil {
		return Result{}, err
	}
	client, err := l.start(cns, &out, "iperf3", "-c", dialAddr, "-p", port, "-t", strconv.Itoa(secs), "-J")
	if err != nil {
		return Result{}, err
	}
	cerr := client.Wait()
	cpu1, err := machineCPU()
	if err != nil {
		return Result{}, err
	}
	relay1, ok := procCPU(relayPID, l.self)
	relayOK = relayOK && ok
	if cerr != nil {
		return Result{}, fmt.Errorf("iperf3 client: %v: %s %s", cerr, client.Stderr.(*bytes.Buffer), iperfError(out.Bytes()))
	}
	var rep struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits uint64 `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes   uint64  `json:"bytes"`
				Seconds float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return Result{}, fmt.Errorf("iperf3 -J output: %v", err)
	}
	if rep.Error != "" {
		return Result{}, fmt.Errorf("iperf3: %s", rep.Error)
	}
	n, s := rep.End.SumReceived.Bytes, rep.End.SumReceived.Seconds
	if n == 0 || s <= 0 {
		return Result{}, errors.New("iperf3 received nothing")
	}
	server.Wait()
	cpu := cpu1 - cpu0
	segs := float64(n) / mss
	r := Result{
		Stack:       "linux",
		Workload:    w,
		Mode:        modeName(offload),
		Gbps:        float64(n) * 8 / s / 1e9,
		PPS:         segs / s,
		CPUSPerGiB:  cpu / (float64(n) / (1 << 30)),
		Packets:     uint64(segs),
		Seconds:     s,
		Bytes:       n,
		CPUS:        cpu,
		Retransmits: rep.End.SumSent.Retransmits,
	}
	if w == "tcp-bulk" {
		r.NsPerPkt = s * 1e9 / segs // wall time per segment, as netsplice's tcp-bulk
	} else {
		r.NsPerPkt = cpu * 1e9 / segs // CPU per forwarded segment, as netsplice's tcp-relay
		if relayOK {
			r.RelayNsSeg = (relay1 - relay0) * 1e9 / segs
		}
	}
	return r, nil
}

func iperfError(out []byte) string {
	var rep struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(out, &rep) == nil {
		return rep.Error
	}
	return ""
}

// machineCPU returns the busy CPU seconds of the whole machine so far:
// user+nice+system+irq+softirq+steal of the cpu line of /proc/stat.
func machineCPU() (float64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, err
	}
	return parseStatCPU(line)
}

// parseStatCPU parses the first line of /proc/stat: "cpu user nice system
// idle iowait irq softirq steal ...".
func parseStatCPU(line string) (float64, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %v", err)
		}
		busy += v
	}
	return float64(busy) / clkTck, nil
}

// procCPU returns process pid's user+system CPU seconds, false if there is
// no such process or it is not the relay (this binary).
func procCPU(pid int, self string) (float64, bool) {
	if pid == 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	comm := filepath.Base(self)
	if len(comm) > 15 {
		comm = comm[:15] // TASK_COMM_LEN - 1
	}
	return parseProcStat(string(b), comm)
}

// parseProcStat parses /proc/PID/stat: utime and stime are fields 14 and
// 15, counted after the command name in parentheses (which may hold
// spaces). It returns false unless the command name is comm, so a relay
// PID that is still ip's is not measured.
func parseProcStat(s, comm string) (float64, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, false
	}
	if s[open+1:end] != comm {
		return 0, false
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(u+st) / clkTck, true
}

// relayMain is the relay: for each connection accepted on --listen it dials
// --to and copies both ways with io.Copy between the two *net.TCPConn (on
// Linux, TCPConn.ReadFrom splices), half-closing each side at EOF.
func relayMain(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on, host:port")
	to := fs.String("to", "", "address to relay to, host:port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" || *to == "" {
		return errors.New("--listen and --to are required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func(down *net.TCPConn) {
			defer down.Close()
			c, err := net.Dial("tcp", *to)
			if err != nil {
				fmt.Fprintln(os.Stderr, "kernel relay:", err)
				return
			}
			up := c.(*net.TCPConn)
			defer up.Close()
			done := make(chan struct{})
			go func() {
				pipe(up, down)
				close(done)
			}()
			pipe(down, up)
			<-done
		}(c.(*net.TCPConn))
	}
}

// pipe copies src to dst until src's EOF, then half-closes dst. On an
// error (a reset) it closes both, which ends the other direction too.
func pipe(dst, src *net.TCPConn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	dst.CloseWrite()
}
