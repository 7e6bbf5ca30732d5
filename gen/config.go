package gen

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Target is where the generator sends: a protocol and an address.
type Target struct {
	Proto string // "tcp" or "udp"
	Addr  netip.AddrPort
}

func (t Target) String() string { return t.Proto + ":" + t.Addr.String() }

// ParseTarget parses "tcp:IP:PORT" or "udp:IP:PORT", the IP IPv4 or
// IPv6 in brackets ("tcp:[2001:db8::2]:80").
func ParseTarget(s string) (Target, error) {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return Target{}, fmt.Errorf("%q: want tcp:IP:PORT or udp:IP:PORT", s)
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return Target{}, fmt.Errorf("%q: want %s:IP:PORT (IPv6 in brackets: %s:[2001:db8::2]:80): %v", s, proto, proto, err)
	}
	t := Target{Proto: proto, Addr: ap}
	return t, t.check()
}

func (t Target) check() error {
	a := t.Addr.Addr()
	switch {
	case t.Proto != "tcp" && t.Proto != "udp":
		return fmt.Errorf("target protocol %q: want tcp or udp", t.Proto)
	case !a.IsValid():
		return fmt.Errorf("target %v: want an IPv4 or IPv6 address", t.Addr)
	case a.Is4In6():
		return fmt.Errorf("target %v: an IPv4-mapped IPv6 address; give the IPv4 address %v", t.Addr, a.Unmap())
	case a.Zone() != "":
		return fmt.Errorf("target %v: zones are not supported", t.Addr)
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("target %v: want a unicast address", t.Addr)
	case t.Addr.Port() == 0:
		return fmt.Errorf("target %v: port must be 1..65535", t.Addr)
	}
	return nil
}

// Config configures a generator run. The zero values of the optional
// fields take the defaults in brackets.
type Config struct {
	// To is the target. Required.
	To Target
	// Duration is how long the generator starts connections or sends
	// datagrams; connections in flight then finish. Required.
	Duration time.Duration
	// Rate is new TCP connections per second, or UDP datagrams per second
	// over all flows, on an open-loop schedule; 0 is as fast as possible.
	Rate float64
	// Conns caps concurrent TCP connections [64].
	Conns int
	// Request is the bytes a TCP request sends [64]; HTTP sends a GET.
	Request int64
	// Response is the bytes expected back per TCP request: [Request] (an
	// echo server) or, with HTTP, the N of GET /bytes/N [1024];
	// ResponseNone expects nothing (a discard server, /bytes/0).
	Response int64
	// RequestsPerConn is requests per TCP connection [1].
	RequestsPerConn int
	// HTTP sends HTTP/1.1 GET /bytes/Response requests.
	HTTP bool
	// CountOnly checks lengths but not the byte pattern, for servers that
	// send other bytes.
	CountOnly bool
	// Size is the UDP payload per datagram [64], at least MinUDPSize.
	Size int
	// Flows is the number of UDP flows (source ports) [1].
	Flows int
	// NoReply: the UDP peer does not echo; only what is sent is counted.
	NoReply bool
	// Sources, when set, are the local addresses connections and flows
	// come from, in turn (the stack's interfaces must have them: primary
	// or InterfaceConfig.Secondary), all of the target's family; else
	// the stack picks the route's address.
	Sources []netip.Addr
	// Timeout bounds a connect, each request, and the wait for a UDP
	// echo after the last send [5s].
	Timeout time.Duration
	// Interval is the reporting interval [1s].
	Interval time.Duration
	// OnInterval, when set, is called with each interval's report from
	// the reporting goroutine.
	OnInterval func(Report)
	// Live, when set, receives the run's totals so far every Interval,
	// and the final report at the end: for a metrics scrape.
	Live *Live
}

// ResponseNone is Config.Response for a server that sends nothing back.
const ResponseNone = -1

// MinUDPSize is the smallest UDP payload the generator sends: its header
// (flow, sequence, intended and actual send time).
const MinUDPSize = udpHeaderLen

// Limits on Config.
const (
	MaxConns           = 1 << 16
	MaxRequestBytes    = 1 << 40
	MaxRequestsPerConn = 1 << 20
	MaxFlows           = 1 << 16
	MaxSources         = 1 << 16
	MaxUDPSize         = 1472 // one unfragmented datagram on a 1500-byte MTU
	MaxRate            = 1e9
)

// MaxUDPSize6 is MaxUDPSize over IPv6, whose header is 20 bytes longer:
// the stack sends no fragments.
const MaxUDPSize6 = 1452

// withDefaults fills the defaults and checks c.
func (c Config) withDefaults() (Config, error) {
	if c.Conns == 0 {
		c.Conns = 64
	}
	if c.Request == 0 && !c.HTTP {
		c.Request = 64
	}
	switch {
	case c.Response == ResponseNone:
		c.Response = 0
	case c.Response == 0 && c.To.Proto == "tcp" && c.HTTP:
		c.Response = 1024
	case c.Response == 0 && c.To.Proto == "tcp":
		c.Response = c.Request
	}
	if c.RequestsPerConn == 0 {
		c.RequestsPerConn = 1
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Flows == 0 {
		c.Flows = 1
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	return c, c.check()
}

// Check reports whether Run would refuse c, with the error Run returns.
func Check(c Config) error {
	_, err := c.withDefaults()
	return err
}

// ErrConfig marks every error Run returns for a bad Config.
var ErrConfig = errors.New("bad generator configuration")

func (c Config) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if err := c.To.check(); err != nil {
		return bad("%v", err)
	}
	switch {
	case c.Duration <= 0:
		return bad("duration %v: want more than 0", c.Duration)
	case c.Rate < 0 || c.Rate > MaxRate || c.Rate != c.Rate:
		return bad("rate %v: want 0 (as fast as possible) to %g", c.Rate, float64(MaxRate))
	case c.Conns < 1 || c.Conns > MaxConns:
		return bad("conns %d: want 1..%d", c.Conns, MaxConns)
	case c.Request < 0 || c.Request > MaxRequestBytes:
		return bad("request %d bytes: want 0..%d", c.Request, int64(MaxRequestBytes))
	case c.Response < 0 || c.Response > MaxRequestBytes:
		return bad("response %d bytes: want 0..%d", c.Response, int64(MaxRequestBytes))
	case c.RequestsPerConn < 1 || c.RequestsPerConn > MaxRequestsPerConn:
		return bad("requests per connection %d: want 1..%d", c.RequestsPerConn, MaxRequestsPerConn)
	case c.Size < MinUDPSize || c.Size > MaxUDPSize:
		return bad("size %d bytes: want %d..%d (the generator's header is %d bytes)", c.Size, MinUDPSize, MaxUDPSize, MinUDPSize)
	case c.To.Proto == "udp" && c.To.Addr.Addr().Is6() && c.Size > MaxUDPSize6:
		return bad("size %d bytes: want %d..%d over IPv6 (one unfragmented datagram on a 1500-byte MTU)", c.Size, MinUDPSize, MaxUDPSize6)
	case c.Flows < 1 || c.Flows > MaxFlows:
		return bad("flows %d: want 1..%d", c.Flows, MaxFlows)
	case len(c.Sources) > MaxSources:
		return bad("%d sources: want at most %d", len(c.Sources), MaxSources)
	case c.Timeout < 0:
		return bad("timeout %v: want more than 0", c.Timeout)
	case c.Interval < time.Millisecond:
		return bad("interval %v: want 1ms or more", c.Interval)
	case c.HTTP && c.To.Proto != "tcp":
		return bad("HTTP needs a tcp: target")
	case c.To.Proto == "tcp" && !c.HTTP && c.Request == 0 && c.Response > 0:
		return bad("a request of 0 bytes cannot ask for a %d-byte response (an echo server answers what it is sent)", c.Response)
	}
	for _, a := range c.Sources {
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Is4() != c.To.Addr.Addr().Is4() {
			return bad("source %v: want a unicast address of the target's family", a)
		}
	}
	return nil
}
