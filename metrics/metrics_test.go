package metrics

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netsplice/netsplice/driver/memwire"
	"github.com/netsplice/netsplice/relay"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// wireStack starts a stack on the in-memory wire.
func wireStack(t *testing.T, w *memwire.Wire, name, addr string, softnets int) *stack.Stack {
	t.Helper()
	p, err := w.AddPort(memwire.Config{Name: name, Queues: softnets})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.New(stack.Config{Softnets: softnets, Poll: stack.PollAdaptive, TCP: stack.TCPConfig{MSL: 100 * time.Millisecond}},
		stack.InterfaceConfig{Port: p, Addr: netip.MustParsePrefix(addr)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, url+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// sum adds the family's samples whose labels include want.
func sum(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, int) {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Errorf("no metric family %s", name)
		return 0, 0
	}
	var v float64
	n := 0
next:
	for _, m := range f.GetMetric() {
		for k, w := range want {
			if label(m, k) != w {
				continue next
			}
		}
		v += value(m)
		n++
	}
	return v, n
}

// TestMetricsRelay runs a TCP relay between three stacks (client, relay
// with two softnets, server echoing), moves data through it, and checks
// the relay stack's /metrics against its counters and stats.
func TestMetricsRelay(t *testing.T) {
	w := memwire.New()
	client := wireStack(t, w, "c", "192.0.2.1/24", 1)
	rst := wireStack(t, w, "r", "192.0.2.2/24", 2)
	server := wireStack(t, w, "s", "192.0.2.3/24", 1)

	ls, err := server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:81"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	go func() {
		for {
			c, err := ls.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.CloseWrite()
				c.Close()
			}()
		}
	}()
	sp := splice.New(splice.ModeSoftnet)
	defer sp.Close()
	listen, to := netip.MustParseAddrPort("192.0.2.2:80"), netip.MustParseAddrPort("192.0.2.3:81")
	r, err := relay.Start(rst, sp, relay.Config{Listen: listen, To: to}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(time.Second)
	// A UDP relay to a port nobody listens on: its session still opens.
	u, err := relay.StartUDP(rst, sp, relay.UDPConfig{Listen: netip.MustParseAddrPort("192.0.2.2:53"), To: netip.MustParseAddrPort("192.0.2.3:53")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close(0)

	m := New(rst, sp, nil)
	name := RelayName("tcp", listen, to)
	m.AddTCPRelay(name, r)
	m.AddUDPRelay(RelayName("udp", netip.MustParseAddrPort("192.0.2.2:53"), netip.MustParseAddrPort("192.0.2.3:53")), u)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	const conns, size = 3, 256 << 10
	for i := 0; i < conns; i++ {
		c, err := client.DialTCP(context.Background(), netip.AddrPort{}, listen)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		data := bytes.Repeat([]byte{byte(i), 1, 2, 3}, size/4)
		go func() {
			c.Write(data)
			c.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("conn %d: %d bytes back (%v), want %d", i, len(got), err, len(data))
		}
		c.Close()
	}
	uc, err := client.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:53"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.Write([]byte("hello"))

	// Wait for the relay to settle: every pair done, the UDP session open.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs, us := r.Stats(), u.Stats()
		if rs.Active == 0 && rs.Relayed == conns && us.Sessions == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay did not settle: %+v %+v", rs, us)
		}
		time.Sleep(5 * time.Millisecond)
	}

	before := rst.Counters()
	fams := scrape(t, srv.URL)
	after := rst.Counters()

	// Every per-softnet counter: the sum over softnets lies between the
	// stack's totals read before and after the scrape, with one sample
	// per softnet.
	for id := stack.CounterID(0); id < stack.NumCounters; id++ {
		n := id.String()
		var got float64
		var samples int
		switch {
		case strings.HasPrefix(n, "port_"):
			continue
		case strings.HasPrefix(n, "drop_"):
			got, samples = sum(t, fams, "netsplice_drops_total", map[string]string{"reason": strings.TrimPrefix(n, "drop_")})
		case id == stack.BusyNanos:
			got, samples = sum(t, fams, "netsplice_stack_busy_seconds_total", nil)
			got = math.Round(got * 1e9)
		default:
			got, samples = sum(t, fams, "netsplice_stack_"+n+"_total", nil)
		}
		if samples != 2 {
			t.Errorf("%s: %d samples, want one per softnet (2)", n, samples)
		}
		if lo, hi := float64(before[id]), float64(after[id]); got < lo-1 || got > hi+1 {
			t.Errorf("%s: scraped %v, stack.Counters %v before and %v after", StackMetricName(id), got, lo, hi)
		}
	}
	for _, id := range []stack.CounterID{stack.TCPEstablished, stack.TCPPassiveOpens, stack.TCPActiveOpens, stack.UDPRx, stack.Loops} {
		if before[id] == 0 {
			t.Errorf("%v is 0 after the traffic", id)
		}
	}
	// The softnet label: both softnets loop.
	for _, sn := range []string{"0", "1"} {
		if v, _ := sum(t, fams, "netsplice_stack_loops_total", map[string]string{"softnet": sn}); v == 0 {
			t.Errorf("softnet %s: loops 0", sn)
		}
	}
	// Port counters: one port, rx and tx, as the stack's port_* totals.
	for _, c := range []struct {
		fam    string
		labels map[string]string
		id     stack.CounterID
	}{
		{"netsplice_port_packets_total", map[string]string{"port": "r", "direction": "rx"}, stack.PortRxPackets},
		{"netsplice_port_packets_total", map[string]string{"port": "r", "direction": "tx"}, stack.PortTxPackets},
		{"netsplice_port_rx_missed_total", map[string]string{"port": "r"}, stack.PortRxMissed},
		{"netsplice_port_rx_nobuf_total", map[string]string{"port": "r"}, stack.PortRxNoBuf},
		{"netsplice_port_tx_errors_total", map[string]string{"port": "r"}, stack.PortTxErrors},
	} {
		got, n := sum(t, fams, c.fam, c.labels)
		if n != 1 || got < float64(before[c.id]) || got > float64(after[c.id]) {
			t.Errorf("%s%v: %v (%d samples), want one between %d and %d", c.fam, c.labels, got, n, before[c.id], after[c.id])
		}
	}
	if v, _ := sum(t, fams, "netsplice_port_bytes_total", map[string]string{"direction": "rx"}); v < conns*size {
		t.Errorf("port rx bytes %v, want at least %d", v, conns*size)
	}

	// Splice and relay stats, settled, match exactly.
	ss := sp.Stats()
	for fam, want := range map[string]uint64{
		"netsplice_splice_moves_total": ss.Moves, "netsplice_splice_bytes_total": ss.Bytes,
		"netsplice_splice_cross_softnet_total": ss.CrossSoftnet, "netsplice_splice_udp_drops_total": ss.UDPDrops,
	} {
		if got, _ := sum(t, fams, fam, nil); got != float64(want) {
			t.Errorf("%s: %v, want %d", fam, got, want)
		}
	}
	if ss.Bytes < 2*conns*size {
		t.Errorf("splice bytes %d, want at least %d", ss.Bytes, 2*conns*size)
	}
	for reason, want := range ss.Ends {
		if got, n := sum(t, fams, "netsplice_splice_ends_total", map[string]string{"reason": reason}); n != 1 || got != float64(want) {
			t.Errorf("splice ends %s: %v (%d samples), want %d", reason, got, n, want)
		}
	}
	rs := r.Stats()
	for fam, want := range map[string]uint64{
		"netsplice_relay_accepted_total": rs.Accepted, "netsplice_relay_relayed_total": rs.Relayed,
		"netsplice_relay_dial_failures_total": rs.DialFailed, "netsplice_relay_resets_total": rs.Resets,
		"netsplice_relay_active_connections": rs.Active,
	} {
		if got, n := sum(t, fams, fam, map[string]string{"relay": name}); n != 1 || got != float64(want) {
			t.Errorf("%s{relay=%q}: %v (%d samples), want %d", fam, name, got, n, want)
		}
	}
	if rs.Accepted != conns {
		t.Errorf("accepted %d, want %d", rs.Accepted, conns)
	}
	for i, dir := range []string{"client_to_server", "server_to_client"} {
		if rs.Bytes[i] < conns*size {
			t.Errorf("relay bytes %s %d, want at least %d", dir, rs.Bytes[i], conns*size)
		}
		if got, n := sum(t, fams, "netsplice_relay_bytes_total", map[string]string{"relay": name, "direction": dir}); n != 1 || got != float64(rs.Bytes[i]) {
			t.Errorf("netsplice_relay_bytes_total{%s}: %v (%d samples), want %d", dir, got, n, rs.Bytes[i])
		}
	}
	us := u.Stats()
	for fam, want := range map[string]uint64{
		"netsplice_relay_sessions_total": us.Sessions, "netsplice_relay_sessions_ended_total": us.Ended,
		"netsplice_relay_active_sessions": us.Active, "netsplice_relay_refused_datagrams_total": us.Refused,
		"netsplice_relay_session_failures_total": us.Failed, "netsplice_relay_backlog_drops_total": us.BacklogDrops,
	} {
		if got, n := sum(t, fams, fam, map[string]string{"relay": "udp:192.0.2.2:53->192.0.2.3:53"}); n != 1 || got != float64(want) {
			t.Errorf("%s: %v (%d samples), want %d", fam, got, n, want)
		}
	}

	// Types, and the build and state gauges.
	for name, typ := range map[string]dto.MetricType{
		"netsplice_stack_tcp_rx_total": dto.MetricType_COUNTER, "netsplice_drops_total": dto.MetricType_COUNTER,
		"netsplice_relay_active_connections": dto.MetricType_GAUGE, "netsplice_build_info": dto.MetricType_GAUGE,
		"netsplice_ready": dto.MetricType_GAUGE, "go_goroutines": dto.MetricType_GAUGE,
		"netsplice_tcp_connections": dto.MetricType_GAUGE,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v, want type %v", name, f.GetType(), typ)
		}
	}
	// Connections by state: one sample per softnet and state but CLOSED.
	if f := fams["netsplice_tcp_connections"]; f == nil || len(f.GetMetric()) != rst.NumSoftnets()*9 {
		t.Errorf("netsplice_tcp_connections: %v samples, want %d", len(f.GetMetric()), rst.NumSoftnets()*9)
	}
	if f := fams["netsplice_build_info"]; f != nil {
		bm := f.GetMetric()[0]
		if value(bm) != 1 || label(bm, "goversion") == "" || label(bm, "version") == "" || label(bm, "revision") == "" {
			t.Errorf("build_info: %v", bm)
		}
	}
	if v, _ := sum(t, fams, "netsplice_ready", nil); v != 0 {
		t.Errorf("netsplice_ready %v before SetReady", v)
	}
	// Names: the prefix, _total on counters, nothing per connection.
	for name, f := range fams {
		if !strings.HasPrefix(name, "netsplice_") {
			continue
		}
		if (f.GetType() == dto.MetricType_COUNTER) != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %v; counters, and only they, end in _total", name, f.GetType())
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "softnet", "reason", "relay", "direction", "port", "state", "version", "revision", "goversion":
				default:
					t.Errorf("%s: unexpected label %s", name, l.GetName())
				}
			}
		}
	}
}

func TestHealthz(t *testing.T) {
	w := memwire.New()
	st := wireStack(t, w, "a", "192.0.2.1/24", 2)
	m := New(st, nil, &Options{StallAfter: 300 * time.Millisecond, NoRuntime: true})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	for i := 0; i < 3; i++ {
		start := time.Now()
		code, body := get(t, srv.URL+"/healthz")
		if code != 200 || !strings.Contains(body, "ok") {
			t.Fatalf("running stack: /healthz %d %q, want 200", code, body)
		}
		t.Logf("/healthz 200 in %v", time.Since(start))
	}
	// A probe long after the last one still finds an idle stack healthy.
	time.Sleep(400 * time.Millisecond)
	if code, body := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("idle stack after a pause: /healthz %d %q, want 200", code, body)
	}
	// Scrapes feed the same watch.
	scrape(t, srv.URL)

	st.Stop() // every softnet loop ends: stuck
	// The loops moved up to Stop, since the scrape's read: recent
	// progress until StallAfter has passed.
	time.Sleep(300 * time.Millisecond)
	code, body := get(t, srv.URL+"/healthz")
	if code != 503 || !strings.Contains(body, "softnet 0 stuck") || !strings.Contains(body, "softnet 1 stuck") {
		t.Fatalf("stopped stack: /healthz %d %q, want 503 naming softnets 0 and 1", code, body)
	}
	// A second probe, StallAfter later, answers at once.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if code, _ := get(t, srv.URL+"/healthz"); code != 503 {
		t.Fatalf("stopped stack, second probe: %d, want 503", code)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("second probe of a stuck softnet took %v; want an answer without waiting", d)
	}
	stuck, err := m.Stuck(context.Background())
	if err != nil || len(stuck) != 2 || stuck[0].Softnet != 0 || stuck[1].Softnet != 1 {
		t.Errorf("Stuck: %v, %v", stuck, err)
	}
}

// TestHealthVerdicts drives the watch's rules with a made-up clock.
func TestHealthVerdicts(t *testing.T) {
	var h health
	h.init(1)
	const stall = time.Second
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, s := range []struct {
		when time.Duration
		v    uint64
		want verdict
	}{
		{0, 5, unknown},                           // first read
		{time.Millisecond, 6, progressing},        // moved since a recent read
		{500 * time.Millisecond, 6, unknown},      // still, not long enough
		{1001 * time.Millisecond, 6, stuck},       // still for StallAfter
		{1002 * time.Millisecond, 7, progressing}, // moving again
		{time.Hour, 8, unknown},                   // moved, but perhaps long ago
		{time.Hour + time.Millisecond, 9, progressing},
		{2 * time.Hour, 9, stuck}, // still since the last read an hour ago
	} {
		if got := h.observe(0, s.v, at(s.when), stall); got != s.want {
			t.Errorf("at %v, loops %d: verdict %d, want %d", s.when, s.v, got, s.want)
		}
	}
}

func TestReadyz(t *testing.T) {
	w := memwire.New()
	st := wireStack(t, w, "a", "192.0.2.1/24", 1)
	m := New(st, nil, &Options{NoRuntime: true})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	ready := func() float64 {
		v, _ := sum(t, scrape(t, srv.URL), "netsplice_ready", nil)
		return v
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || body != "starting\n" {
		t.Errorf("before SetReady: %d %q, want 503 starting", code, body)
	}
	m.SetReady()
	if code, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ready\n" || ready() != 1 {
		t.Errorf("ready: %d %q, want 200 ready", code, body)
	}
	m.SetDraining()
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || body != "draining\n" || ready() != 0 {
		t.Errorf("draining: %d %q, want 503 draining", code, body)
	}
	if v, _ := sum(t, scrape(t, srv.URL), "netsplice_draining", nil); v != 1 {
		t.Errorf("netsplice_draining %v, want 1", v)
	}
	if code, _ := get(t, srv.URL+"/nosuch"); code != 404 {
		t.Errorf("/nosuch: %d, want 404", code)
	}
}

func TestRelayNameUnique(t *testing.T) {
	st := wireStack(t, memwire.New(), "a", "192.0.2.1/24", 1)
	m := New(st, nil, &Options{NoRuntime: true})
	m.AddTCPRelay("x", fakeTCP{})
	m.AddTCPRelay("x", fakeTCP{})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	if _, n := sum(t, scrape(t, srv.URL), "netsplice_relay_accepted_total", nil); n != 2 {
		t.Errorf("%d series for two relays of one name, want 2", n)
	}
}

type fakeTCP struct{}

func (fakeTCP) Stats() relay.Stats { return relay.Stats{Accepted: 1} }
