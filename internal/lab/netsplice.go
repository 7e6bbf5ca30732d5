package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Binary is the netsplice binary the lab starts; BuildNetsplice sets it.
var Binary string

// BuildNetsplice builds cmd/netsplice into dir and sets Binary. Call it
// once, from TestMain.
func BuildNetsplice(dir string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			return fmt.Errorf("lab: no go command to build netsplice: %v", err)
		}
	}
	out := filepath.Join(dir, "netsplice")
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/netsplice/netsplice/cmd/netsplice")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: building netsplice: %v\n%s", err, b)
	}
	Binary = out
	return nil
}

// ReadyTimeout bounds how long netsplice may take to print ready.
const ReadyTimeout = 20 * time.Second

// Serve starts `netsplice serve` inside namespace ns on the DPDK virtual
// device vdev with address cidr and extra flags, and waits for its ready
// line.
func (l *Lab) Serve(ns, vdev, cidr string, extra ...string) *Proc {
	l.t.Helper()
	if Binary == "" {
		l.t.Fatal("lab: no netsplice binary; call lab.BuildNetsplice in TestMain")
	}
	args := append([]string{"serve", "--eal", EAL(vdev), "--ip", cidr}, extra...)
	p := l.Start(ns, "netsplice serve "+vdev, Binary, args...)
	p.WaitFor(l.t, "netsplice serve: ready", ReadyTimeout)
	return p
}

// Netsplice runs netsplice with args inside ns to completion and returns
// its output and error.
func (l *Lab) Netsplice(t testing.TB, ns string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	p := l.Start(ns, "netsplice "+args[0], Binary, args...)
	done, err := p.Wait(timeout)
	if !done {
		out := p.Stop()
		return out, fmt.Errorf("netsplice %s did not finish within %v", args[0], timeout)
	}
	return p.Output(), err
}

// Counters parses the counter sections netsplice prints at exit: "== ..."
// header lines, each followed by "name value" lines. It returns the
// softnet counters (the section "== counters ...") under key "stack" and
// each port's (the section "== port N ...") under "port N".
func Counters(out string) map[string]map[string]uint64 {
	all := map[string]map[string]uint64{}
	var cur map[string]uint64
	for _, line := range strings.Split(out, "\n") {
		if h, ok := strings.CutPrefix(line, "== "); ok {
			cur = nil
			f := strings.Fields(h)
			switch {
			case len(f) > 0 && f[0] == "counters":
				cur = map[string]uint64{}
				all["stack"] = cur
			case len(f) > 1 && f[0] == "port":
				cur = map[string]uint64{}
				all["port "+f[1]] = cur
			}
			continue
		}
		f := strings.Fields(line)
		if cur == nil || len(f) != 2 {
			cur = nil // a section ends at the first line of another form
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			cur = nil
			continue
		}
		cur[f[0]] = v
	}
	return all
}
