package stack

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/driver"
)

// PollMode chooses how an idle softnet waits for work.
type PollMode int

const (
	// PollBusy spins on the queues forever: the lowest latency, one CPU per
	// softnet. The default for appliances.
	PollBusy PollMode = iota
	// PollAdaptive polls for a while after the last work, then sleeps with
	// a growing timeout; tasks and ports that signal received frames wake
	// it early.
	PollAdaptive
)

// String returns "busy" or "adaptive".
func (m PollMode) String() string {
	switch m {
	case PollBusy:
		return "busy"
	case PollAdaptive:
		return "adaptive"
	}
	return fmt.Sprintf("PollMode(%d)", int(m))
}

// ParsePollMode parses "busy" or "adaptive".
func ParsePollMode(s string) (PollMode, error) {
	switch s {
	case "busy":
		return PollBusy, nil
	case "adaptive":
		return PollAdaptive, nil
	}
	return 0, fmt.Errorf("poll mode %q: want busy or adaptive", s)
}

// InterfaceConfig attaches a port to the stack with an IPv4 address and,
// optionally, IPv6 addresses.
type InterfaceConfig struct {
	// Port is the driver port; it must have one queue pair per softnet.
	Port driver.Port
	// Addr is the interface's IPv4 address and prefix, e.g.
	// 192.0.2.1/24. It may be left out when Addr6 is given: the interface
	// is then IPv6-only (it drops IPv4 and ARP frames and sends none).
	Addr netip.Prefix
	// Addr6 are the interface's IPv6 addresses and prefixes, e.g.
	// 2001:db8:1::1/64 (global or unique-local; not link-local, not
	// IPv4-mapped). An interface with at least one also gets the
	// link-local address derived from its MAC (fe80::/64, modified
	// EUI-64) and answers Neighbor Discovery and ICMPv6 echo; one without
	// any receives no IPv6 at all.
	Addr6 []netip.Prefix
	// Gateway, if valid, is the next hop for destinations outside every
	// interface's prefix. It must lie inside Addr's prefix.
	Gateway netip.Addr
	// Secondary are more addresses the interface answers for (ARP,
	// Neighbor Discovery) and that sockets may bind to, each inside Addr's
	// prefix or one of Addr6's: a traffic generator's source range.
	// Sources the stack picks itself are Addr and Addr6's.
	Secondary []netip.Addr
	// Gateway6, if valid, is the IPv6 next hop for destinations outside
	// every interface's IPv6 prefixes: a link-local address (fe80::/10,
	// as routers advertise themselves) or one inside an Addr6 prefix.
	// It needs Addr6.
	Gateway6 netip.Addr
	// Neighbors are static neighbour entries: the MAC to send to for an
	// on-link address (inside Addr's prefix or one of Addr6's, or
	// link-local), without asking ARP or Neighbor Discovery and whatever
	// they later hear. A generator uses them towards a device that does
	// not answer (a sink, an L2 device under test), as TRex's dest_mac.
	Neighbors []Neighbor
}

// Neighbor is a static neighbour entry (InterfaceConfig.Neighbors).
type Neighbor struct {
	// Addr is the neighbour's IPv4 or IPv6 address.
	Addr netip.Addr
	// MAC is its unicast Ethernet address.
	MAC net.HardwareAddr
}

// Config configures a Stack. Zero fields take the defaults in brackets.
type Config struct {
	// Softnets is the number of softnets (lcores) [1].
	Softnets int
	// Poll is how idle softnets wait [PollBusy].
	Poll PollMode
	// CPUs, if set, pins softnet i to CPU CPUs[i].
	CPUs []int
	// Logger receives control-plane logs, never per-packet ones [nop].
	Logger *zap.Logger
	// ThreadInit, if set, runs on each softnet's OS thread after it is
	// locked and pinned, before the first poll: a driver registers the
	// thread there (DPDK: rte_thread_register, for per-lcore mempool
	// caches). An error stops that softnet and is logged.
	ThreadInit func(softnet int) error
	// ThreadExit, if set, runs on the softnet's thread when it stops.
	ThreadExit func(softnet int)
	// LockThreads makes every softnet hold an OS thread of its own
	// (runtime.LockOSThread) from Start to Stop. Busy polling, CPUs and
	// ThreadInit lock the softnets anyway; an adaptive softnet without
	// them otherwise runs as an ordinary goroutine (see Softnet.run:
	// Go wakes a locked goroutine through two OS threads, an ordinary
	// one on the P that readies it). Stack.ThreadCPU needs locked
	// softnets: a benchmark that charges thread CPU to a stack sets it.
	LockThreads bool
	// ReserveProcs raises GOMAXPROCS by the number of softnets from Start
	// to Stop (see the function ReserveProcs), so that the softnets' held
	// Ps leave the application's goroutines theirs. For the program that
	// owns the process, not for a library embedding a stack.
	ReserveProcs bool

	// EphemeralPorts is the first and last local port that active opens
	// and unbound UDP sockets pick from [49152, 65535], as Linux's
	// ip_local_port_range.
	EphemeralPorts [2]uint16

	// TimerTick is the timing wheel's resolution [1ms].
	TimerTick time.Duration
	// SpinPolls is how many empty polls an adaptive softnet makes before
	// it sleeps [2000].
	SpinPolls int
	// MaxSleep bounds an adaptive softnet's sleep [1ms].
	MaxSleep time.Duration
	// SYNFloor is the rate, SYNs a second, at which softnet 0 takes SYNs
	// from a port's SYN ring (driver.SYNQueuer) in iterations that found
	// established traffic waiting; in idle iterations it takes what the
	// ring holds, up to a burst [20,000].
	SYNFloor int

	// The ARP* settings hold for IPv6's neighbour cache (Neighbor
	// Discovery) as well: its size, timeout, solicitations and queue.

	// ARPCacheSize bounds each softnet's ARP cache [1024 entries].
	ARPCacheSize int
	// ARPTimeout is how long a learned entry is used [60s].
	ARPTimeout time.Duration
	// ARPRetries is how many requests are sent before waiting packets are
	// dropped [3].
	ARPRetries int
	// ARPRetryInterval is the time between requests [1s].
	ARPRetryInterval time.Duration
	// ARPPending bounds the packets each softnet holds waiting for
	// resolution [256].
	ARPPending int

	// UDPQueueSize is each socket's receive ring, in datagrams [1024].
	UDPQueueSize int
	// ICMPRateLimit bounds the ICMP errors each softnet sends per second
	// [1000].
	ICMPRateLimit int

	// TCP holds the TCP settings.
	TCP TCPConfig
}

// TCPConfig tunes TCP. Zero fields take the defaults in brackets.
type TCPConfig struct {
	// SendBuffer and RecvBuffer bound each connection's buffers, in bytes
	// [256 KiB each]. The receive window follows the free receive space.
	SendBuffer, RecvBuffer int
	// MSL is the maximum segment lifetime; TIME_WAIT lasts 2*MSL [30s].
	MSL time.Duration
	// TimeWaitReuse lets an active open, when no ephemeral port is free,
	// take over the port of an active open that has been in TIME-WAIT at
	// least this long with timestamps on, as Linux's tcp_tw_reuse [1s];
	// negative: never. A generator closing first would otherwise run out
	// of ports at 16,384 connections per 2*MSL.
	TimeWaitReuse time.Duration
	// FinWait2Timeout bounds how long a connection the application closed
	// waits in FIN-WAIT-2 for the peer's FIN, as Linux's tcp_fin_timeout
	// [60s].
	FinWait2Timeout time.Duration
	// RTOMin, RTOMax and RTOInitial bound the retransmission timeout
	// (RFC 6298; the minimum is Linux's 200ms rather than the RFC's 1s,
	// for data-centre paths) [200ms, 60s, 1s].
	RTOMin, RTOMax, RTOInitial time.Duration
	// DelayedAck is the longest an ACK waits for a second segment [20ms].
	DelayedAck time.Duration
	// Backlog is the default listen backlog [1024].
	Backlog int
	// OutOfOrder bounds the segments each connection keeps out of order
	// [256].
	OutOfOrder int
	// MaxRetries is how many retransmissions of one segment are tried
	// before the connection is reset and reports ETIMEDOUT [15].
	MaxRetries int
	// SynRetries bounds SYN and SYN-ACK retransmissions [6].
	SynRetries int
	// Congestion chooses the congestion control: "cubic" (RFC 9438) or
	// "newreno" (RFC 5681 with RFC 6582 recovery) ["cubic"].
	Congestion string
	// KeepAlive, when positive, probes a connection idle this long [0:
	// off]; KeepAliveInterval and KeepAliveProbes then set the probe
	// spacing and how many unanswered probes reset it [75s, 9].
	KeepAlive, KeepAliveInterval time.Duration
	KeepAliveProbes              int
	// ChallengeAckLimit bounds the RFC 5961 challenge ACKs each softnet
	// sends per second [1000].
	ChallengeAckLimit int
	// NoSynCookies turns off SYN cookies, which answer SYNs without
	// keeping state when a listen backlog is full (RFC 4987).
	NoSynCookies bool
	// SynCookieBudget bounds the SYN cookies each softnet sends per
	// second [200000]. Past it, for the rest of that second, SYNs are
	// dropped as they arrive, before their checksum is even checked
	// (counted as drop_tcp_syn_flood): a flood then costs a few
	// nanoseconds a SYN, and established connections keep the softnet.
	// Legitimate clients whose SYN is dropped send it again.
	SynCookieBudget int
	// NoCoalesce turns off receive coalescing (software GRO, gro.go):
	// in-order segments of one connection that follow each other in a
	// receive burst are otherwise chained into one before TCP input, as
	// Linux's GRO does (`ethtool -K gro off` is this switch).
	NoCoalesce bool
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Softnets, 1)
	if c.EphemeralPorts == [2]uint16{} {
		c.EphemeralPorts = [2]uint16{ephemeralLow, ephemeralHigh}
	}
	defDur(&c.TimerTick, time.Millisecond)
	def(&c.SpinPolls, 2000)
	defDur(&c.MaxSleep, time.Millisecond)
	def(&c.SYNFloor, 20_000)
	def(&c.ARPCacheSize, 1024)
	defDur(&c.ARPTimeout, 60*time.Second)
	def(&c.ARPRetries, 3)
	defDur(&c.ARPRetryInterval, time.Second)
	def(&c.ARPPending, 256)
	def(&c.UDPQueueSize, 1024)
	def(&c.ICMPRateLimit, 1000)
	def(&c.TCP.SendBuffer, 256<<10)
	def(&c.TCP.RecvBuffer, 256<<10)
	defDur(&c.TCP.MSL, 30*time.Second)
	defDur(&c.TCP.TimeWaitReuse, time.Second)
	defDur(&c.TCP.FinWait2Timeout, 60*time.Second)
	defDur(&c.TCP.RTOMin, 200*time.Millisecond)
	defDur(&c.TCP.RTOMax, 60*time.Second)
	defDur(&c.TCP.RTOInitial, time.Second)
	defDur(&c.TCP.DelayedAck, 20*time.Millisecond)
	def(&c.TCP.Backlog, 1024)
	def(&c.TCP.OutOfOrder, 256)
	def(&c.TCP.MaxRetries, 15)
	def(&c.TCP.SynRetries, 6)
	if c.TCP.Congestion == "" {
		c.TCP.Congestion = "cubic"
	}
	defDur(&c.TCP.KeepAliveInterval, 75*time.Second)
	def(&c.TCP.KeepAliveProbes, 9)
	def(&c.TCP.ChallengeAckLimit, 1000)
	def(&c.TCP.SynCookieBudget, 200000)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Softnets < 1 || c.Softnets > 1024:
		return fmt.Errorf("stack: %d softnets, want 1..1024", c.Softnets)
	case c.Poll != PollBusy && c.Poll != PollAdaptive:
		return fmt.Errorf("stack: unknown poll mode %d", int(c.Poll))
	case len(c.CPUs) != 0 && len(c.CPUs) != c.Softnets:
		return fmt.Errorf("stack: %d CPUs given for %d softnets", len(c.CPUs), c.Softnets)
	case c.EphemeralPorts[0] == 0 || c.EphemeralPorts[0] > c.EphemeralPorts[1]:
		return fmt.Errorf("stack: ephemeral ports %d..%d: want a range within 1..65535", c.EphemeralPorts[0], c.EphemeralPorts[1])
	case c.TimerTick <= 0 || c.SpinPolls < 0 || c.MaxSleep <= 0:
		return fmt.Errorf("stack: timer tick and max sleep must be positive, spin polls not negative")
	case c.SYNFloor < 1:
		return fmt.Errorf("stack: SYN floor %d SYNs/s: want at least 1", c.SYNFloor)
	case c.ARPCacheSize < 1 || c.ARPTimeout <= 0 || c.ARPRetries < 1 || c.ARPRetryInterval <= 0 || c.ARPPending < 0:
		return fmt.Errorf("stack: ARP settings must be positive")
	case c.UDPQueueSize < 1 || c.ICMPRateLimit < 0:
		return fmt.Errorf("stack: UDP queue size must be positive and the ICMP rate limit not negative")
	case c.TCP.SendBuffer < 4096 || c.TCP.RecvBuffer < 4096 || c.TCP.RecvBuffer > 1<<30 || c.TCP.SendBuffer > 1<<30:
		return fmt.Errorf("stack: TCP buffers must be 4 KiB..1 GiB")
	case c.TCP.MSL <= 0 || c.TCP.FinWait2Timeout <= 0 || c.TCP.RTOMin <= 0 || c.TCP.RTOMax < c.TCP.RTOMin || c.TCP.RTOInitial <= 0 || c.TCP.DelayedAck <= 0:
		return fmt.Errorf("stack: TCP timers must be positive and RTOMax >= RTOMin")
	case c.TCP.Backlog < 1 || c.TCP.OutOfOrder < 0 || c.TCP.MaxRetries < 1 || c.TCP.SynRetries < 1:
		return fmt.Errorf("stack: TCP backlog and retries must be positive")
	case c.TCP.Congestion != "cubic" && c.TCP.Congestion != "newreno":
		return fmt.Errorf("stack: TCP congestion control %q: want cubic or newreno", c.TCP.Congestion)
	case c.TCP.KeepAlive < 0 || c.TCP.KeepAliveInterval <= 0 || c.TCP.KeepAliveProbes < 1:
		return fmt.Errorf("stack: TCP keepalive settings must be positive")
	}
	return nil
}
