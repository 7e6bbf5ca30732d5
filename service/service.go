// Package service holds the test services a netsplice stack serves to its
// peers: echo and discard over TCP and UDP, and HTTP /bytes/N. `netsplice
// serve` runs them on DPDK ports; the generator's tests and benchmarks run
// them on the in-memory wire.
//
// UDP services answer on the softnet that received the datagram, in its
// handler: no goroutine, no copy. The HTTP service runs on the softnets
// too (softhttp.go: the softnet-side TCP API, pooled connection states).
// The TCP echo and discard services are ordinary Go servers on the
// stack's net.Listener, one goroutine per connection; on the kernel's
// sockets (StartKernel) every TCP service is, HTTP with net/http.
//
// The HTTP service's body is the pattern every netsplice tool checks: byte
// i of a response is i % 251 (Pattern), so a client verifies a payload of
// any length without a copy of it.
package service

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/netsplice/netsplice/driver"
	"github.com/netsplice/netsplice/internal/counter"
	"github.com/netsplice/netsplice/stack"
)

// Kind is what a service does with what it receives.
type Kind string

// The service kinds.
const (
	Echo    Kind = "echo"    // sends every byte or datagram back
	Discard Kind = "discard" // reads and drops
	HTTP    Kind = "http"    // HTTP/1.1 GET /bytes/N, TCP only
)

// Spec names one service: its kind, protocol ("tcp" or "udp") and port.
type Spec struct {
	Kind  Kind
	Proto string
	Port  uint16
}

func (s Spec) String() string { return fmt.Sprintf("%s %s:%d", s.Kind, s.Proto, s.Port) }

// Check reports whether s can be served.
func (s Spec) Check() error {
	switch {
	case s.Proto != "tcp" && s.Proto != "udp":
		return fmt.Errorf("%v: protocol must be tcp or udp", s)
	case s.Kind != Echo && s.Kind != Discard && s.Kind != HTTP:
		return fmt.Errorf("%v: kind must be echo, discard or http", s)
	case s.Kind == HTTP && s.Proto != "tcp":
		return fmt.Errorf("%v: HTTP runs over TCP only", s)
	case s.Port == 0:
		return fmt.Errorf("%v: port must be 1..65535", s)
	}
	return nil
}

// PatternPeriod is the period of the byte pattern the services and the
// generator use: byte i of a stream is i % PatternPeriod.
const PatternPeriod = 251

// Pattern fills b with the pattern as it runs from stream offset off.
func Pattern(b []byte, off int64) {
	k := int(off % PatternPeriod)
	for i := range b {
		b[i] = byte(k)
		if k++; k == PatternPeriod {
			k = 0
		}
	}
}

// PatternMismatch returns the index of the first byte of b that differs
// from the pattern at stream offset off, or -1 when all of b matches.
func PatternMismatch(b []byte, off int64) int {
	k := int(off % PatternPeriod)
	for i, c := range b {
		if c != byte(k) {
			return i
		}
		if k++; k == PatternPeriod {
			k = 0
		}
	}
	return -1
}

// Counters count what a service received. UDP datagrams are counted per
// softnet (one writer each, no shared cache line); TCP services count
// connections (HTTP: requests) and bytes.
type Counters struct {
	spec         Spec
	per          []paddedCounter
	conns, bytes atomic.Uint64
}

type paddedCounter struct {
	c counter.Counter
	_ [56]byte
}

// Conns returns the TCP connections served (HTTP: requests).
func (c *Counters) Conns() uint64 { return c.conns.Load() }

// Bytes returns the TCP bytes served.
func (c *Counters) Bytes() uint64 { return c.bytes.Load() }

// Datagrams returns the UDP datagrams received, summed over softnets.
func (c *Counters) Datagrams() uint64 {
	var n uint64
	for i := range c.per {
		n += c.per[i].c.Load()
	}
	return n
}

func (c *Counters) String() string {
	if c.spec.Proto == "tcp" {
		return fmt.Sprintf("%v: %d connections, %d bytes", c.spec, c.Conns(), c.Bytes())
	}
	return fmt.Sprintf("%v: %d datagrams", c.spec, c.Datagrams())
}

// Start opens s on every interface of st. Close the returned Closer to
// stop it.
func Start(st *stack.Stack, s Spec) (*Counters, io.Closer, error) {
	if err := s.Check(); err != nil {
		return nil, nil, err
	}
	sc := &Counters{spec: s, per: make([]paddedCounter, st.NumSoftnets())}
	wild := netip.AddrPortFrom(netip.IPv6Unspecified(), s.Port) // both families
	switch {
	case s.Proto == "udp" && s.Kind == Echo:
		c, err := st.ListenUDP(wild, &stack.UDPOptions{
			Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
				sc.per[sn.ID()].c.Inc()
				src := stack.UDPSource(pk)
				pk.TrimFront(pk.Len() - len(stack.UDPPayload(pk)))
				c.SendPacket(sn, pk, src)
			}})
		return sc, c, err
	case s.Proto == "udp":
		c, err := st.ListenUDP(wild, &stack.UDPOptions{
			Handler: func(sn *stack.Softnet, c *stack.UDPConn, pk *driver.Packet) {
				sc.per[sn.ID()].c.Inc()
				sn.Free(pk)
			}})
		return sc, c, err
	}
	if s.Kind == HTTP {
		c, err := startSoftHTTP(st, s.Port, sc)
		return sc, c, err
	}
	l, err := st.ListenTCP(wild, 0)
	if err != nil {
		return nil, nil, err
	}
	return sc, serveTCP(l, s, sc), nil
}

// serveTCP runs a TCP service on l, a goroutine per connection as any Go
// server, and returns what stops it.
func serveTCP(l net.Listener, s Spec, sc *Counters) io.Closer {
	if s.Kind == HTTP {
		srv := &http.Server{Handler: BytesHandler(sc), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		return srv
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			sc.conns.Add(1)
			go func() {
				defer c.Close()
				var dst io.Writer = io.Discard
				if s.Kind == Echo {
					dst = c
				}
				n, _ := io.Copy(dst, c)
				sc.bytes.Add(uint64(n))
				if cw, ok := c.(interface{ CloseWrite() error }); ok && s.Kind == Echo {
					cw.CloseWrite()
				}
			}()
		}
	}()
	return l
}

// MaxBytes is the largest N that /bytes/N serves.
const MaxBytes = 1 << 40

// BytesHandler serves GET /bytes/N: N bytes of Pattern from offset 0, with
// a Content-Length. sc, when not nil, counts the requests and bytes.
func BytesHandler(sc *Counters) http.Handler {
	var chunk [PatternPeriod * 256]byte // whole periods: every chunk starts at offset 0
	Pattern(chunk[:], 0)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > MaxBytes {
			http.Error(w, "size must be 0..2^40", http.StatusBadRequest)
			return
		}
		if sc != nil {
			sc.conns.Add(1)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for left := n; left > 0; {
			k := min(left, int64(len(chunk)))
			m, err := w.Write(chunk[:k])
			if sc != nil {
				sc.bytes.Add(uint64(m))
			}
			if err != nil {
				return
			}
			left -= k
		}
	})
	return mux
}

// kernelUDPBuffer is the receive buffer StartKernel asks for on a UDP
// socket: 50 ms of 64-byte datagrams at 200,000 a second, by the kernel's
// accounting of about 1 KiB each.
const kernelUDPBuffer = 16 << 20

// StartKernel opens s on the Linux kernel's sockets at addr instead of a
// netsplice stack: the same service as a reference peer (the kernel's TCP
// and UDP), for the generator's lab and for comparisons. Close the
// returned Closer to stop it.
func StartKernel(addr netip.Addr, s Spec) (*Counters, io.Closer, error) {
	if err := s.Check(); err != nil {
		return nil, nil, err
	}
	sc := &Counters{spec: s, per: make([]paddedCounter, 1)}
	ap := netip.AddrPortFrom(addr, s.Port).String()
	if s.Proto == "udp" {
		c, err := net.ListenPacket("udp", ap)
		if err != nil {
			return nil, nil, err
		}
		// A Go reader descheduled for a few milliseconds would
		// otherwise see a datagram burst overflow the default buffer
		// (about 270 small datagrams) and the generator blamed for the
		// loss; a loaded kernel server is given a large buffer.
		if _, err := growReadBuffer(c.(*net.UDPConn), kernelUDPBuffer); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("service: %s receive buffer: %w", ap, err)
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				sc.per[0].c.Inc()
				if s.Kind == Echo {
					c.WriteTo(buf[:n], from)
				}
			}
		}()
		return sc, c, nil
	}
	l, err := net.Listen("tcp", ap)
	if err != nil {
		return nil, nil, err
	}
	return sc, serveTCP(l, s, sc), nil
}
