package gen

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/service"
	"github.com/netsplice/netsplice/stack"
)

var (
	genAddr    = netip.MustParsePrefix("198.51.100.1/24")
	serverAddr = netip.MustParsePrefix("198.51.100.2/24")
	server     = serverAddr.Addr()
)

// rig is a generator stack and a server stack on one in-memory wire.
type rig struct {
	gen, srv *stack.Stack
}

func newRig(t *testing.T, softnets int, svcs ...service.Spec) *rig {
	t.Helper()
	w := memwire.New()
	mk := func(name string, addr netip.Prefix) *stack.Stack {
		p, err := w.AddPort(memwire.Config{Name: name, Queues: softnets, PoolSize: 16384, RingSize: 1024})
		if err != nil {
			t.Fatal(err)
		}
		st, err := stack.New(stack.Config{Softnets: softnets, Poll: stack.PollAdaptive, LockThreads: true, TCP: stack.TCPConfig{MSL: 100 * time.Millisecond}},
			stack.InterfaceConfig{Port: p, Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Stop)
		return st
	}
	r := &rig{gen: mk("gen", genAddr), srv: mk("server", serverAddr)}
	for _, s := range svcs {
		_, c, err := service.Start(r.srv, s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	return r
}

// serveEach listens on TCP port of st and runs handle for each connection
// in a goroutine of its own, closing the connection after it.
func serveEach(t *testing.T, st *stack.Stack, port uint16, handle func(c *stack.TCPConn)) {
	t.Helper()
	l, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

func target(proto string, port uint16) Target {
	return Target{Proto: proto, Addr: netip.AddrPortFrom(server, port)}
}

// checkCounts asserts the invariants every TCP report holds.
func checkCounts(t *testing.T, r Report) {
	t.Helper()
	if r.Attempted != r.Completed+r.Failed {
		t.Errorf("attempted %d != completed %d + failed %d", r.Attempted, r.Completed, r.Failed)
	}
	if r.Established > r.Attempted || r.Completed > r.Established {
		t.Errorf("attempted %d, established %d, completed %d: not ordered", r.Attempted, r.Established, r.Completed)
	}
	if r.Failed != r.Errors.Total() {
		t.Errorf("failed %d != sum of errors %+v", r.Failed, r.Errors)
	}
}

func TestTCPEchoAtRate(t *testing.T) {
	rg := newRig(t, 1, service.Spec{Kind: service.Echo, Proto: "tcp", Port: 7})
	var mu sync.Mutex
	var intervals []Report
	r, err := Run(context.Background(), rg.gen, Config{
		To: target("tcp", 7), Duration: time.Second, Rate: 100, Conns: 100,
		Request: 1000, RequestsPerConn: 3, Interval: 250 * time.Millisecond,
		OnInterval: func(r Report) { mu.Lock(); intervals = append(intervals, r); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Line())
	checkCounts(t, r)
	if !r.OK {
		t.Fatalf("run not ok: %v", r.Why)
	}
	if r.Attempted != 100 || r.Completed != 100 {
		t.Errorf("attempted %d, completed %d: want 100 at 100/s for 1s", r.Attempted, r.Completed)
	}
	if r.Requests != 300 {
		t.Errorf("requests %d, want 300", r.Requests)
	}
	if r.Sent != 300*1000 || r.Received != 300*1000 {
		t.Errorf("sent %d received %d bytes, want 300000 each", r.Sent, r.Received)
	}
	if r.Latency.Connect == nil || r.Latency.Response == nil || r.Latency.ResponseUncorrected == nil {
		t.Errorf("latencies missing: %+v", r.Latency)
	}
	if c, u := r.Latency.Connect, r.Latency.ConnectUncorrected; c == nil || u == nil || c.Max < u.Max || c.P50 <= 0 {
		t.Errorf("connect latency %+v, uncorrected %+v: corrected must be at least the uncorrected", c, u)
	}
	if r.CPUSeconds <= 0 || r.SoftnetCPUSeconds <= 0 || r.CPUPerConnUs <= 0 || r.SoftnetCPUSeconds > r.CPUSeconds {
		t.Errorf("CPU %vs (softnets %vs, %vus per connection): want positive, softnets within the process", r.CPUSeconds, r.SoftnetCPUSeconds, r.CPUPerConnUs)
	}
	if r.Latency.RTT != nil {
		t.Errorf("a TCP run reported a UDP round trip %+v", r.Latency.RTT)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(intervals) < 2 {
		t.Fatalf("%d interval reports, want at least 2", len(intervals))
	}
	var sum uint64
	for _, iv := range intervals {
		if iv.Type != "interval" {
			t.Errorf("interval report of type %q", iv.Type)
		}
		sum += iv.Attempted
	}
	if sum > r.Attempted {
		t.Errorf("intervals add up to %d attempts, more than the total %d", sum, r.Attempted)
	}
}

func TestHTTPClosedLoop(t *testing.T) {
	rg := newRig(t, 2, service.Spec{Kind: service.HTTP, Proto: "tcp", Port: 80})
	r, err := Run(context.Background(), rg.gen, Config{
		To: target("tcp", 80), Duration: 500 * time.Millisecond, Conns: 8,
		HTTP: true, Response: 5000, RequestsPerConn: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Line())
	checkCounts(t, r)
	if !r.OK || r.Completed == 0 {
		t.Fatalf("run not ok (%d completed): %v", r.Completed, r.Why)
	}
	if r.Requests != 2*r.Completed || r.Received != 5000*r.Requests {
		t.Errorf("%d requests, %d bytes for %d connections", r.Requests, r.Received, r.Completed)
	}
	if r.Rate != 0 || r.Missed != 0 {
		t.Errorf("closed loop reported rate %v, missed %d", r.Rate, r.Missed)
	}
}

func TestRefusedCounted(t *testing.T) {
	rg := newRig(t, 1) // no service: every SYN is answered with a reset
	r, err := Run(context.Background(), rg.gen, Config{To: target("tcp", 81), Duration: 300 * time.Millisecond, Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r)
	if r.OK || r.Errors.Refused != r.Attempted || r.Attempted == 0 || r.Established != 0 {
		t.Fatalf("against a closed port: %s", r.Line())
	}
	if !strings.Contains(strings.Join(r.Why, "\n"), "refused") {
		t.Errorf("why %q does not name the refusals", r.Why)
	}
}

// A server that does not send the pattern is counted as verify failures;
// CountOnly accepts it.
func TestVerifyFailureAndCountOnly(t *testing.T) {
	rg := newRig(t, 1)
	serveEach(t, rg.srv, 7, func(c *stack.TCPConn) {
		// An "echo" that upper-cases: the right length, wrong bytes.
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			for i := range buf[:n] {
				buf[i] ^= 0x20
			}
			c.Write(buf[:n])
			if err != nil {
				c.CloseWrite()
				return
			}
		}
	})
	cfg := Config{To: target("tcp", 7), Duration: 200 * time.Millisecond, Rate: 20, Request: 300}
	r, err := Run(context.Background(), rg.gen, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r)
	if r.OK || r.Errors.Verify != r.Attempted || r.Attempted == 0 {
		t.Fatalf("a wrong echo: %s", r.Line())
	}
	cfg.CountOnly = true
	if r, err = Run(context.Background(), rg.gen, cfg); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r)
	if !r.OK || r.Completed != r.Attempted {
		t.Fatalf("count-only: %s", r.Line())
	}
}

// A server that stalls shows in the corrected latency, not in the
// uncorrected one (coordinated omission), and a rate the concurrency cap
// cannot hold is reported as missed.
func TestStalledServerRateNotHeld(t *testing.T) {
	rg := newRig(t, 1)
	serveEach(t, rg.srv, 7, func(c *stack.TCPConn) {
		time.Sleep(100 * time.Millisecond) // every answer late
		io.Copy(c, c)
		c.CloseWrite()
	})
	r, err := Run(context.Background(), rg.gen, Config{To: target("tcp", 7), Duration: time.Second, Rate: 100, Conns: 2, Request: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Line())
	checkCounts(t, r)
	if r.OK || r.Missed == 0 || !strings.Contains(strings.Join(r.Why, "\n"), "rate not held") {
		t.Fatalf("100 conn/s through 2 connections of 100 ms each: %s", r.Line())
	}
	if r.Failed != 0 {
		t.Errorf("slow is not failed: %+v", r.Errors)
	}
	c, u := r.Latency.Response, r.Latency.ResponseUncorrected
	if c == nil || u == nil || u.P50 < 90_000 || c.Max <= u.Max {
		t.Errorf("response latency corrected %+v, uncorrected %+v: want both over 90ms and the corrected higher", c, u)
	}
}

func TestUDPEcho(t *testing.T) {
	rg := newRig(t, 2, service.Spec{Kind: service.Echo, Proto: "udp", Port: 7})
	r, err := Run(context.Background(), rg.gen, Config{To: target("udp", 7), Duration: 500 * time.Millisecond, Rate: 2000, Flows: 8, Size: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Line())
	if !r.OK || r.Attempted != 1000 || r.Completed != 1000 || r.Lost != 0 {
		t.Fatalf("2000/s for 0.5s: %s", r.Line())
	}
	if r.Sent != 1000*200 || r.Received != 1000*200 {
		t.Errorf("sent %d received %d bytes, want 200000 each", r.Sent, r.Received)
	}
	if l := r.Latency.RTT; l == nil || l.P50 <= 0 || r.Latency.RTTUncorrected == nil {
		t.Errorf("no round-trip latency: %+v", r.Latency)
	}
}

func TestUDPNoEchoIsLoss(t *testing.T) {
	rg := newRig(t, 1, service.Spec{Kind: service.Discard, Proto: "udp", Port: 9})
	cfg := Config{To: target("udp", 9), Duration: 200 * time.Millisecond, Rate: 500, Timeout: 200 * time.Millisecond}
	r, err := Run(context.Background(), rg.gen, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Lost != r.Attempted || r.Attempted != 100 {
		t.Fatalf("a discard server, echo expected: %s", r.Line())
	}
	cfg.NoReply = true
	if r, err = Run(context.Background(), rg.gen, cfg); err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Attempted != 100 || r.Lost != 0 {
		t.Fatalf("a discard server, no reply expected: %s", r.Line())
	}
}

func TestBadConfig(t *testing.T) {
	rg := newRig(t, 1)
	for _, c := range []Config{
		{Duration: time.Second},
		{To: target("tcp", 7)},
		{To: target("tcp", 7), Duration: time.Second, Rate: -1},
		{To: target("tcp", 7), Duration: time.Second, Conns: -3},
		{To: target("udp", 7), Duration: time.Second, Size: 8},
		{To: target("udp", 7), Duration: time.Second, HTTP: true},
		{To: Target{"tcp", netip.MustParseAddrPort("0.0.0.0:7")}, Duration: time.Second},
		{To: target("tcp", 7), Duration: time.Second, RequestsPerConn: -1},
	} {
		if _, err := Run(context.Background(), rg.gen, c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v, want ErrConfig", c, err)
		}
	}
	for _, s := range []string{"tcp:1.2.3.4", "sctp:1.2.3.4:5", "udp:[::1]:5", "tcp:1.2.3.4:0", "tcp:nohost:80"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) accepted", s)
		}
	}
	if tg, err := ParseTarget("udp:198.51.100.2:7"); err != nil || tg != target("udp", 7) {
		t.Errorf("ParseTarget: %v, %v", tg, err)
	}
}

func TestScheduledBy(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rate float64
		want uint64
	}{{time.Second, 100, 100}, {time.Second, 3, 3}, {1500 * time.Millisecond, 1, 2}, {time.Second, 0, 0}, {10 * time.Millisecond, 1e6, 10000}} {
		if got := scheduledBy(c.d, c.rate); got != c.want {
			t.Errorf("scheduledBy(%v, %v) = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
}

// TestSources: with Config.Sources, TCP connections and UDP flows come
// from the sources in turn (the generator's port holds them as secondary
// addresses), and the server sees every one of them.
func TestSources(t *testing.T) {
	srcs := []netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("198.51.100.12")}
	w := memwire.New()
	mk := func(name string, ic stack.InterfaceConfig) *stack.Stack {
		p, err := w.AddPort(memwire.Config{Name: name, Queues: 2, PoolSize: 16384, RingSize: 1024})
		if err != nil {
			t.Fatal(err)
		}
		ic.Port = p
		st, err := stack.New(stack.Config{Softnets: 2, Poll: stack.PollAdaptive}, ic)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Stop)
		return st
	}
	g := mk("gen", stack.InterfaceConfig{Addr: genAddr, Secondary: srcs})
	srv := mk("server", stack.InterfaceConfig{Addr: serverAddr})
	var mu sync.Mutex
	seen := map[string]map[netip.Addr]int{"tcp": {}, "udp": {}}
	serveEach(t, srv, 7, func(c *stack.TCPConn) {
		mu.Lock()
		seen["tcp"][c.RemoteAddrPort().Addr()]++
		mu.Unlock()
		io.Copy(c, c)
	})
	u, err := srv.ListenUDP(netip.AddrPortFrom(server, 7), &stack.UDPOptions{Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
		from := stack.UDPSource(pk)
		mu.Lock()
		seen["udp"][from.Addr()]++
		mu.Unlock()
		pk.TrimFront(pk.Len() - len(stack.UDPPayload(pk)))
		c.SendPacket(sn, pk, from)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, cfg := range []Config{
		{To: target("tcp", 7), Duration: 300 * time.Millisecond, Rate: 200, Conns: 8, Request: 10, Sources: srcs},
		{To: target("udp", 7), Duration: 300 * time.Millisecond, Rate: 200, Flows: 6, Size: 64, Sources: srcs},
	} {
		r, err := Run(context.Background(), g, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Under the race detector on a busy machine the rate may not
		// hold; what is made must not fail.
		if r.Completed == 0 || r.Failed != 0 || r.Lost != 0 {
			t.Fatalf("%s: %s", cfg.To, r.Line())
		}
		mu.Lock()
		got := seen[cfg.To.Proto]
		mu.Unlock()
		if len(got) != len(srcs) {
			t.Fatalf("%s: the server saw sources %v, want all of %v", cfg.To, got, srcs)
		}
		for _, a := range srcs {
			if got[a] == 0 {
				t.Fatalf("%s: nothing from %v (saw %v)", cfg.To, a, got)
			}
		}
	}
	if err := Check(Config{To: target("tcp", 7), Duration: time.Second, Sources: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}); err == nil {
		t.Error("an IPv6 source for an IPv4 target was accepted")
	}
}
