package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// endpoint is a relay's --listen or --to: tcp:IP:PORT or udp:IP:PORT.
type endpoint struct {
	Proto string // "tcp" or "udp"
	Addr  netip.AddrPort
}

func (e endpoint) String() string { return e.Proto + ":" + e.Addr.String() }

// parseEndpoint parses tcp:IP:PORT or udp:IP:PORT (IPv4).
func parseEndpoint(v string) (endpoint, error) {
	proto, addr, ok := strings.Cut(v, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return endpoint{}, fmt.Errorf("%q: want tcp:IP:PORT or udp:IP:PORT", v)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		return endpoint{}, fmt.Errorf("%q: want %s:IPv4:PORT with a port above 0", v, proto)
	}
	return endpoint{proto, ap}, nil
}

// endpointList is a repeatable --listen or --to flag.
type endpointList []endpoint

func (l *endpointList) String() string { return fmt.Sprint(*l) }

func (l *endpointList) Set(v string) error {
	e, err := parseEndpoint(v)
	if err != nil {
		return err
	}
	*l = append(*l, e)
	return nil
}

// relaySpec is one relay to run.
type relaySpec struct {
	Listen, To  endpoint
	Max         int64
	Idle        time.Duration
	MaxSessions int // UDP only
}

// relayFile is the --config file: many relays, each with its own limits.
//
//	relays:
//	  - listen: tcp:0.0.0.0:80
//	    to: tcp:198.51.100.2:8080
//	    max: 0           # bytes per direction, 0: none
//	    idle: 5m         # 0: never
//	  - listen: udp:0.0.0.0:53
//	    to: udp:198.51.100.2:53
//	    idle: 30s        # UDP default 30s
//	    max_sessions: 4096
type relayFile struct {
	Relays []struct {
		Listen      string `yaml:"listen"`
		To          string `yaml:"to"`
		Max         *int64 `yaml:"max"`
		Idle        string `yaml:"idle"`
		MaxSessions int    `yaml:"max_sessions"`
	} `yaml:"relays"`
}

// loadRelayConfig reads the relays of a --config file. Fields a relay
// leaves out take the command line's --max and --idle (see defaultIdle).
func loadRelayConfig(path string, defMax int64, defIdle time.Duration) ([]relaySpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f relayFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file, want a relays: list", path)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(f.Relays) == 0 {
		return nil, fmt.Errorf("%s: no relays", path)
	}
	var specs []relaySpec
	for i, r := range f.Relays {
		where := fmt.Sprintf("%s: relay %d", path, i+1)
		s := relaySpec{Max: defMax, MaxSessions: r.MaxSessions}
		if s.Listen, err = parseEndpoint(r.Listen); err != nil {
			return nil, fmt.Errorf("%s: listen: %v", where, err)
		}
		s.Idle = defaultIdle(s.Listen.Proto, defIdle)
		if s.To, err = parseEndpoint(r.To); err != nil {
			return nil, fmt.Errorf("%s: to: %v", where, err)
		}
		if r.Max != nil {
			s.Max = *r.Max
		}
		if r.Idle != "" {
			if s.Idle, err = time.ParseDuration(r.Idle); err != nil {
				return nil, fmt.Errorf("%s: idle: %v", where, err)
			}
		}
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// defaultIdle is the idle time of a relay that gives none: the --idle
// flag when given (>= 0), else never for TCP (relayd's default) and 30s
// for UDP sessions.
func defaultIdle(proto string, flagIdle time.Duration) time.Duration {
	switch {
	case flagIdle >= 0:
		return flagIdle
	case proto == "udp":
		return 30 * time.Second
	}
	return 0
}

// check validates a relay on its own.
func (s relaySpec) check() error {
	switch {
	case s.Listen.Proto != s.To.Proto:
		return fmt.Errorf("listen %v and to %v are different protocols", s.Listen, s.To)
	case s.To.Addr.Addr().IsUnspecified():
		return fmt.Errorf("to %v: the backend needs an address", s.To)
	case s.Max < 0:
		return fmt.Errorf("max %d is negative", s.Max)
	case s.Idle < 0:
		return fmt.Errorf("idle %v is negative", s.Idle)
	case s.MaxSessions < 0:
		return fmt.Errorf("max_sessions %d is negative", s.MaxSessions)
	case s.MaxSessions > 0 && s.Listen.Proto != "udp":
		return fmt.Errorf("max_sessions is for UDP relays")
	}
	return nil
}
