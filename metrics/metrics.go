// Package metrics is the appliance's management plane: an HTTP handler,
// served on the kernel's network stack (never on the DPDK ports), with
//
//	/metrics  the Prometheus text format
//	/healthz  200 while every softnet loop makes progress, 503 naming a stuck one
//	/readyz   200 while serving, 503 while starting or draining
//
// Everything is read at scrape time from the counters the stack, the
// splicer and the relays keep anyway (stack.Softnet.Counters,
// splice.Splicer.Stats, relay.Relay.Stats, relay.UDPRelay.Stats):
// nothing is added to the data path.
//
// The mapping of the stack's counters (stack/counters.go) is generic, so a
// counter added there is exported without a change here:
//
//	drop_REASON         netsplice_drops_total{softnet, reason="REASON"}
//	busy_ns             netsplice_stack_busy_seconds_total{softnet}
//	port_*              netsplice_port_*{port} (from the ports, see below)
//	every other NAME    netsplice_stack_NAME_total{softnet}
//
// The ports' own counters (driver.PortStats) are per port:
// netsplice_port_packets_total{port, direction="rx"|"tx"},
// netsplice_port_bytes_total{port, direction}, netsplice_port_rx_missed_total,
// netsplice_port_rx_nobuf_total and netsplice_port_tx_errors_total{port}.
//
// Relays come and go with reloads of the configuration file: a relay
// replaced by one of the same name shares its series while it drains
// (ReplaceTCPRelay), and a removed relay's final counters stay in the
// series (RemoveTCPRelay), so counters never go back. The file's loads
// are netsplice_config_last_reload_successful,
// netsplice_config_last_reload_success_timestamp_seconds (as Prometheus'
// own prometheus_config_*) and netsplice_config_reloads_total{result}.
package metrics

import (
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netsplice/netsplice/relay"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// Namespace prefixes every metric of the appliance.
const Namespace = "netsplice"

// State is the appliance's readiness, answered by /readyz.
type State int32

const (
	Starting State = iota // not serving yet: /readyz 503
	Ready                 // serving: /readyz 200
	Draining              // stopping, finishing what is open: /readyz 503
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case Draining:
		return "draining"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// TCPRelay is what metrics reads of a TCP relay (*relay.Relay).
type TCPRelay interface{ Stats() relay.Stats }

// UDPRelay is what metrics reads of a UDP relay (*relay.UDPRelay).
type UDPRelay interface{ Stats() relay.UDPStats }

// Options tune a Metrics; the zero value (or nil) is the default.
type Options struct {
	// StallAfter is how long a softnet's loop counter may stand still
	// before /healthz calls the softnet stuck [1s]. An idle adaptive
	// softnet still loops at least every MaxSleep (1 ms by default).
	StallAfter time.Duration
	// NoRuntime leaves out the Go runtime (go_*) and process (process_*)
	// collectors.
	NoRuntime bool
}

// Metrics exports one stack (and optionally its splicer and relays).
type Metrics struct {
	st    *stack.Stack
	sp    *splice.Splicer
	opts  Options
	state atomic.Int32
	reg   *prometheus.Registry
	h     health

	mu   sync.Mutex
	tcp  []*tcpSeries
	udp  []*udpSeries
	name map[string]bool
	cfg  configState
}

// tcpSeries is the relay label of one or more TCP relays: the relays
// that share it now (a relay and the one that replaced it, while the old
// one drains) and the final counters of those removed from it, so that
// its counters never go back.
type tcpSeries struct {
	name string
	live []TCPRelay
	done relay.Stats
}

// udpSeries is tcpSeries for UDP relays.
type udpSeries struct {
	name string
	live []UDPRelay
	done relay.UDPStats
}

// configState is what ConfigLoaded and ConfigReloaded recorded.
type configState struct {
	on          bool // a configuration file was loaded: export the config_* metrics
	ok          bool
	lastSuccess time.Time
	reloads     [2]uint64 // failed, successful
}

// New returns the metrics of st and, when sp is not nil, of its splicer.
// It starts in state Starting. opts may be nil.
func New(st *stack.Stack, sp *splice.Splicer, opts *Options) *Metrics {
	m := &Metrics{st: st, sp: sp, reg: prometheus.NewRegistry(), name: map[string]bool{}}
	if opts != nil {
		m.opts = *opts
	}
	if m.opts.StallAfter <= 0 {
		m.opts.StallAfter = time.Second
	}
	m.h.init(st.NumSoftnets())
	m.reg.MustRegister(&collector{m: m}, &tcpStateCollector{st: st})
	if !m.opts.NoRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry /metrics serves, for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetReady marks the appliance as serving: /readyz answers 200.
func (m *Metrics) SetReady() { m.state.Store(int32(Ready)) }

// SetDraining marks the appliance as draining: /readyz answers 503, so
// that a load balancer sends no more clients while open ones finish.
func (m *Metrics) SetDraining() { m.state.Store(int32(Draining)) }

// State returns the current readiness.
func (m *Metrics) State() State { return State(m.state.Load()) }

// RelayName is the relay label of a relay: "tcp:LISTEN->TO".
func RelayName(proto string, listen, to netip.AddrPort) string {
	return proto + ":" + listen.String() + "->" + to.String()
}

// unique returns name, or name#N when it is taken (two series with one
// label set would fail the scrape). Called with mu held.
func (m *Metrics) unique(name string) string {
	n := name
	for i := 2; m.name[n]; i++ {
		n = name + "#" + strconv.Itoa(i)
	}
	m.name[n] = true
	return n
}

// AddTCPRelay exports a TCP relay's counters with relay=name (see
// RelayName).
func (m *Metrics) AddTCPRelay(name string, r TCPRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tcp = append(m.tcp, &tcpSeries{name: m.unique(name), live: []TCPRelay{r}})
}

// AddUDPRelay exports a UDP relay's counters with relay=name.
func (m *Metrics) AddUDPRelay(name string, r UDPRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.udp = append(m.udp, &udpSeries{name: m.unique(name), live: []UDPRelay{r}})
}

// ReplaceTCPRelay exports r in the series of old (a relay r replaced,
// with the same name, that still drains): the series' counters are the
// sum of both, and stay monotonic when old is removed (RemoveTCPRelay).
// An old that is not exported is AddTCPRelay(name, r).
func (m *Metrics) ReplaceTCPRelay(name string, old, r TCPRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.tcp {
		if slices.Contains(s.live, old) {
			s.live = append(s.live, r)
			return
		}
	}
	m.tcp = append(m.tcp, &tcpSeries{name: m.unique(name), live: []TCPRelay{r}})
}

// ReplaceUDPRelay is ReplaceTCPRelay for UDP relays.
func (m *Metrics) ReplaceUDPRelay(name string, old, r UDPRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.udp {
		if slices.Contains(s.live, old) {
			s.live = append(s.live, r)
			return
		}
	}
	m.udp = append(m.udp, &udpSeries{name: m.unique(name), live: []UDPRelay{r}})
}

// RemoveTCPRelay stops reading r, a relay that ended (its Close
// returned): while another relay shares its series, r's final counters
// stay in the series' sums; a series left without relays is no longer
// exported and its name is free again.
func (m *Metrics) RemoveTCPRelay(r TCPRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.tcp {
		j := slices.Index(s.live, r)
		if j < 0 {
			continue
		}
		if len(s.live) == 1 {
			m.tcp = slices.Delete(m.tcp, i, i+1)
			delete(m.name, s.name)
			return
		}
		st := r.Stats()
		s.done.Accepted += st.Accepted
		s.done.Relayed += st.Relayed
		s.done.DialFailed += st.DialFailed
		s.done.Resets += st.Resets
		s.done.Bytes[0] += st.Bytes[0]
		s.done.Bytes[1] += st.Bytes[1]
		s.live = slices.Delete(s.live, j, j+1)
		return
	}
}

// RemoveUDPRelay is RemoveTCPRelay for UDP relays.
func (m *Metrics) RemoveUDPRelay(r UDPRelay) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.udp {
		j := slices.Index(s.live, r)
		if j < 0 {
			continue
		}
		if len(s.live) == 1 {
			m.udp = slices.Delete(m.udp, i, i+1)
			delete(m.name, s.name)
			return
		}
		st := r.Stats()
		s.done.Sessions += st.Sessions
		s.done.Ended += st.Ended
		s.done.Refused += st.Refused
		s.done.Failed += st.Failed
		s.done.BacklogDrops += st.BacklogDrops
		s.live = slices.Delete(s.live, j, j+1)
		return
	}
}

// ConfigLoaded records that the configuration file was loaded at t, at
// start: from then on /metrics has the config_* metrics, successful
// until a reload fails (as Prometheus' own prometheus_config_*).
func (m *Metrics) ConfigLoaded(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.on, m.cfg.ok, m.cfg.lastSuccess = true, true, t
}

// ConfigReloaded records a reload of the configuration file at t: ok
// when the new configuration was applied, false when it was refused (the
// old one kept running).
func (m *Metrics) ConfigReloaded(ok bool, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.on, m.cfg.ok = true, ok
	if ok {
		m.cfg.lastSuccess = t
		m.cfg.reloads[1]++
	} else {
		m.cfg.reloads[0]++
	}
}

// Handler serves /metrics, /healthz and /readyz (and an index at /).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", m.serveHealth)
	mux.HandleFunc("/readyz", m.serveReady)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "netsplice management: /metrics (Prometheus), /healthz (softnets progressing), /readyz (serving)")
	})
	return mux
}

func (m *Metrics) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s := m.State()
	if s != Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, s)
}

func (m *Metrics) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	stuck, err := m.Stuck(r.Context())
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err)
		return
	}
	if len(stuck) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, s := range stuck {
			fmt.Fprintln(w, s)
		}
		return
	}
	fmt.Fprintf(w, "ok: %d softnets progressing\n", m.st.NumSoftnets())
}

// metric names and descriptions

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

var (
	drops       = desc("drops_total", "Packets the stack dropped, per softnet, by reason (the stack's drop_REASON counters).", "softnet", "reason")
	busySeconds = desc("stack_busy_seconds_total", "Wall time of softnet loop iterations that did work (CPU use without the polling).", "softnet")

	portPackets  = desc("port_packets_total", "Frames the port received (rx) or sent (tx).", "port", "direction")
	portBytes    = desc("port_bytes_total", "Bytes the port received (rx) or sent (tx).", "port", "direction")
	portRxMissed = desc("port_rx_missed_total", "Frames the port dropped because its receive ring was full.", "port")
	portRxNoBuf  = desc("port_rx_nobuf_total", "Receive buffers the port could not allocate.", "port")
	portTxErrors = desc("port_tx_errors_total", "Frames the port could not send (or that nothing received).", "port")

	spliceMoves = desc("splice_moves_total", "Packet chains the splicer moved from one connection to another.")
	spliceBytes = desc("splice_bytes_total", "Bytes the splicer moved.")
	spliceCross = desc("splice_cross_softnet_total", "Softnet-mode splices whose connections live on different softnets (they copy through the sockets).")
	spliceUDP   = desc("splice_udp_drops_total", "Datagrams a dedicated-mode UDP splice dropped because its queue was full.")
	spliceEnds  = desc("splice_ends_total", "Splices that ended, by reason (eof, max, idle, drain, error, unsplice, loop).", "reason")

	relayAccepted = desc("relay_accepted_total", "Connections a TCP relay accepted.", "relay")
	relayRelayed  = desc("relay_relayed_total", "Connections a TCP relay connected to its backend and spliced.", "relay")
	relayDialFail = desc("relay_dial_failures_total", "Backend connections a TCP relay could not open.", "relay")
	relayResets   = desc("relay_resets_total", "Relayed connections that ended in a reset.", "relay")
	relayActive   = desc("relay_active_connections", "Connections a TCP relay holds now.", "relay")
	relayBytes    = desc("relay_bytes_total", "Bytes a TCP relay moved, by direction (client_to_server, server_to_client), its live connections included.", "relay", "direction")

	udpSessions = desc("relay_sessions_total", "Sessions a UDP relay opened.", "relay")
	udpEnded    = desc("relay_sessions_ended_total", "Sessions of a UDP relay that ended.", "relay")
	udpActive   = desc("relay_active_sessions", "Sessions a UDP relay holds now.", "relay")
	udpRefused  = desc("relay_refused_datagrams_total", "Datagrams of new clients a UDP relay dropped because max_sessions sessions were live.", "relay")
	udpFailed   = desc("relay_session_failures_total", "Sessions of a UDP relay whose sockets could not be opened.", "relay")
	udpBacklog  = desc("relay_backlog_drops_total", "Datagrams a UDP relay dropped while a session was set up (its backlog was full).", "relay")

	cfgSuccess   = desc("config_last_reload_successful", "1 when the last load of the configuration file (at start or on SIGHUP) was applied, 0 when it was refused.")
	cfgSuccessAt = desc("config_last_reload_success_timestamp_seconds", "When the configuration file was last loaded and applied (at start or on SIGHUP), in seconds since the Unix epoch.")
	cfgReloads   = desc("config_reloads_total", "Reloads of the configuration file on SIGHUP, by result (success, failure).", "result")

	buildInfo = desc("build_info", "The netsplice build: always 1.", "version", "revision", "goversion")
	readyDesc = desc("ready", "1 while the appliance serves (/readyz 200), else 0.")
	drainDesc = desc("draining", "1 while the appliance drains, else 0.")
	softnets  = desc("softnets", "Softnets (polling threads) of the stack.")
)

// stackDescs are the per-softnet counters' descriptions, indexed by
// CounterID; nil for those exported otherwise (drop_*, busy_ns, port_*).
var stackDescs [stack.NumCounters]*prometheus.Desc

// dropReason is the reason label of a drop_* counter, "" for others.
var dropReason [stack.NumCounters]string

func init() {
	for id := stack.CounterID(0); id < stack.NumCounters; id++ {
		n := id.String()
		switch {
		case strings.HasPrefix(n, "drop_"):
			dropReason[id] = strings.TrimPrefix(n, "drop_")
		case id == stack.BusyNanos, strings.HasPrefix(n, "port_"):
		default:
			stackDescs[id] = desc("stack_"+n+"_total", "The stack's "+n+" counter, per softnet (stack/counters.go).", "softnet")
		}
	}
}

// StackMetricName returns the metric the stack counter id is exported as
// (with its reason label for drops).
func StackMetricName(id stack.CounterID) string {
	switch {
	case dropReason[id] != "":
		return Namespace + `_drops_total{reason="` + dropReason[id] + `"}`
	case id == stack.BusyNanos:
		return Namespace + "_stack_busy_seconds_total"
	case stackDescs[id] == nil:
		return Namespace + "_port_" + strings.TrimPrefix(id.String(), "port_")
	}
	return Namespace + "_stack_" + id.String() + "_total"
}

// build is the running binary's version, revision and Go version.
var build = sync.OnceValues(func() ([3]string, error) { return readBuild(), nil })

func readBuild() [3]string {
	version, revision, goVersion := "unknown", "unknown", runtime.Version()
	version, revision, goVersion = "unknown", "unknown", runtime.Version()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return [3]string{version, revision, goVersion}
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && revision != "unknown" {
		revision += "-modified"
	}
	return [3]string{version, revision, goVersion}
}

// collector reads everything at scrape time.
type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stackDescs {
		if d != nil {
			ch <- d
		}
	}
	for _, d := range []*prometheus.Desc{drops, busySeconds, portPackets, portBytes, portRxMissed, portRxNoBuf, portTxErrors,
		spliceMoves, spliceBytes, spliceCross, spliceUDP, spliceEnds,
		relayAccepted, relayRelayed, relayDialFail, relayResets, relayActive, relayBytes,
		udpSessions, udpEnded, udpActive, udpRefused, udpFailed, udpBacklog,
		cfgSuccess, cfgSuccessAt, cfgReloads,
		buildInfo, readyDesc, drainDesc, softnets} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	st := m.st
	b, _ := build()
	gauge(ch, buildInfo, 1, b[0], b[1], b[2])
	s := m.State()
	gauge(ch, readyDesc, b2f(s == Ready))
	gauge(ch, drainDesc, b2f(s == Draining))
	gauge(ch, softnets, float64(st.NumSoftnets()))

	now := time.Now()
	for i := 0; i < st.NumSoftnets(); i++ {
		ctr := st.Softnet(i).Counters()
		m.h.observe(i, ctr[stack.Loops], now, m.opts.StallAfter)
		sn := strconv.Itoa(i)
		for id, val := range ctr {
			switch {
			case stackDescs[id] != nil:
				counter(ch, stackDescs[id], val, sn)
			case dropReason[id] != "":
				counter(ch, drops, val, sn, dropReason[id])
			case stack.CounterID(id) == stack.BusyNanos:
				ch <- prometheus.MustNewConstMetric(busySeconds, prometheus.CounterValue, float64(val)/1e9, sn)
			}
		}
	}

	seen := map[string]bool{}
	for i, ifc := range st.Interfaces() {
		name := ifc.Port().Name()
		if name == "" || seen[name] {
			name = fmt.Sprintf("%s#%d", name, i)
		}
		seen[name] = true
		ps := ifc.Port().Stats()
		counter(ch, portPackets, ps.RxPackets, name, "rx")
		counter(ch, portPackets, ps.TxPackets, name, "tx")
		counter(ch, portBytes, ps.RxBytes, name, "rx")
		counter(ch, portBytes, ps.TxBytes, name, "tx")
		counter(ch, portRxMissed, ps.RxMissed, name)
		counter(ch, portRxNoBuf, ps.RxNoBuf, name)
		counter(ch, portTxErrors, ps.TxErrors, name)
	}

	if m.sp != nil {
		ss := m.sp.Stats()
		counter(ch, spliceMoves, ss.Moves)
		counter(ch, spliceBytes, ss.Bytes)
		counter(ch, spliceCross, ss.CrossSoftnet)
		counter(ch, spliceUDP, ss.UDPDrops)
		for reason, n := range ss.Ends {
			counter(ch, spliceEnds, n, reason)
		}
	}

	// The relays are read under mu, so that a relay removed meanwhile is
	// counted once: in its series' done or live, never in both or neither.
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tcp {
		rs := t.done
		for _, r := range t.live {
			s := r.Stats()
			rs.Accepted += s.Accepted
			rs.Relayed += s.Relayed
			rs.DialFailed += s.DialFailed
			rs.Resets += s.Resets
			rs.Active += s.Active
			rs.Bytes[0] += s.Bytes[0]
			rs.Bytes[1] += s.Bytes[1]
		}
		counter(ch, relayBytes, rs.Bytes[0], t.name, "client_to_server")
		counter(ch, relayBytes, rs.Bytes[1], t.name, "server_to_client")
		counter(ch, relayAccepted, rs.Accepted, t.name)
		counter(ch, relayRelayed, rs.Relayed, t.name)
		counter(ch, relayDialFail, rs.DialFailed, t.name)
		counter(ch, relayResets, rs.Resets, t.name)
		gauge(ch, relayActive, float64(rs.Active), t.name)
	}
	for _, u := range m.udp {
		us := u.done
		for _, r := range u.live {
			s := r.Stats()
			us.Sessions += s.Sessions
			us.Ended += s.Ended
			us.Active += s.Active
			us.Refused += s.Refused
			us.Failed += s.Failed
			us.BacklogDrops += s.BacklogDrops
		}
		counter(ch, udpSessions, us.Sessions, u.name)
		counter(ch, udpEnded, us.Ended, u.name)
		gauge(ch, udpActive, float64(us.Active), u.name)
		counter(ch, udpRefused, us.Refused, u.name)
		counter(ch, udpFailed, us.Failed, u.name)
		counter(ch, udpBacklog, us.BacklogDrops, u.name)
	}
	if c := m.cfg; c.on {
		gauge(ch, cfgSuccess, b2f(c.ok))
		gauge(ch, cfgSuccessAt, float64(c.lastSuccess.UnixNano())/1e9)
		counter(ch, cfgReloads, c.reloads[1], "success")
		counter(ch, cfgReloads, c.reloads[0], "failure")
	}
}
