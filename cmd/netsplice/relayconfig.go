package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// endpoint is a relay's --listen or --to: tcp:IP:PORT or udp:IP:PORT.
type endpoint struct {
	Proto string // "tcp" or "udp"
	Addr  netip.AddrPort
}

func (e endpoint) String() string { return e.Proto + ":" + e.Addr.String() }

// parseEndpoint parses tcp:IP:PORT or udp:IP:PORT, the IP IPv4 or IPv6
// in brackets (tcp:[2001:db8::1]:80, udp:[::]:53).
func parseEndpoint(v string) (endpoint, error) {
	proto, addr, ok := strings.Cut(v, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return endpoint{}, fmt.Errorf("%q: want tcp:IP:PORT or udp:IP:PORT", v)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 {
		return endpoint{}, fmt.Errorf("%q: want %s:IP:PORT with a port above 0 (IPv6 in brackets: %s:[2001:db8::1]:80)", v, proto, proto)
	}
	switch a := ap.Addr(); {
	case a.Is4In6():
		return endpoint{}, fmt.Errorf("%q: %v is an IPv4-mapped IPv6 address; write the IPv4 address %v", v, a, a.Unmap())
	case a.Zone() != "":
		return endpoint{}, fmt.Errorf("%q: zones are not supported (link-local addresses are on the first port with IPv6)", v)
	case a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return endpoint{}, fmt.Errorf("%q: %v is not a unicast address of an interface", v, a)
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
	// Where names the relay in messages: FILE:LINE: relay N for a
	// --config file, relay N (--listen ...) for the command line.
	Where string
}

// relayDefaults are the command line's values for what a relay leaves out.
type relayDefaults struct {
	Max     int64
	Idle    time.Duration
	IdleSet bool // --idle was given
}

// The --config file: YAML, one document, at most maxConfigSize bytes:
//
//	relays:
//	  - listen: tcp:0.0.0.0:80
//	    to: tcp:198.51.100.2:8080
//	    max: 0           # bytes per direction, a whole number, 0: none
//	    idle: 5m         # 0: never
//	  - listen: udp:0.0.0.0:53
//	    to: udp:198.51.100.2:53
//	    idle: 30s        # UDP default 30s
//	    max_sessions: 4096
//	  - listen: tcp:[::]:443          # IPv6 in brackets; [::] takes both families
//	    to: tcp:[2001:db8:2::10]:443  # either family, whatever the listener's
//
// Every error names FILE:LINE.
const maxConfigSize = 1 << 20

// relayKeys are the keys of one relay in a --config file.
var relayKeys = []string{"listen", "to", "max", "idle", "max_sessions"}

// configError is an error at a line of a config file.
func configError(path string, line int, format string, a ...any) error {
	if line < 1 {
		line = 1
	}
	return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, a...))
}

// readConfigFile reads a regular file of at most maxConfigSize bytes. A
// FIFO, device or directory is refused before it is opened.
func readConfigFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		what := "not a regular file"
		switch {
		case fi.IsDir():
			what = "a directory"
		case fi.Mode()&os.ModeDevice != 0:
			what = "a device"
		case fi.Mode()&os.ModeNamedPipe != 0:
			what = "a named pipe"
		case fi.Mode()&os.ModeSocket != 0:
			what = "a socket"
		}
		return nil, fmt.Errorf("%s is %s; want a regular YAML file", path, what)
	}
	tooBig := fmt.Errorf("%s is larger than %d bytes (1 MiB), the limit of a config file", path, maxConfigSize)
	if fi.Size() > maxConfigSize {
		return nil, tooBig
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigSize {
		return nil, tooBig
	}
	return b, nil
}

// yamlLineRE is the line in a YAML parser message.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML parser error into FILE:LINE: message.
func yamlError(path string, err error) error {
	msg := oneLine(err.Error())
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return configError(path, n, "not valid YAML: %s", m[2])
	}
	return configError(path, 1, "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// checkText refuses what is not UTF-8 text, with the line of the first
// bad byte (YAML's own message has no line for these).
func checkText(path string, b []byte) error {
	line := 1
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return configError(path, line, "not UTF-8 text (byte 0x%02x)", b[i])
		case r == '\n':
			line++
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f:
			return configError(path, line, "control character 0x%02x; want YAML text", r)
		}
		i += n
	}
	return nil
}

// kindName names a YAML node's kind in user words.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value lines)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// resolve follows YAML aliases (*name) to their anchors.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 16 && n != nil && n.Kind == yaml.AliasNode; i++ {
		n = n.Alias
	}
	return n
}

// loadRelayConfig reads the relays of a --config file. Fields a relay
// leaves out take the command line's --max and --idle (see defaultIdle).
// The file must be one YAML document of known keys; max and max_sessions
// must be whole numbers.
func loadRelayConfig(path string, def relayDefaults) ([]relaySpec, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkText(path, b); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, configError(path, 1, "empty file, want a relays: list")
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(path, err)
	default:
		return nil, configError(path, extra.Line, "a second YAML document (after ---); put every relay in the first")
	}
	if len(doc.Content) != 1 {
		return nil, configError(path, doc.Line, "empty file, want a relays: list")
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, configError(path, root.Line, "want a mapping with a relays: list, found %s", kindName(root))
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if k.Value != "relays" {
			return nil, configError(path, k.Line, "unknown key %q (the file has one key, relays)", k.Value)
		}
		if list != nil {
			return nil, configError(path, k.Line, "relays is given twice")
		}
		list = v
	}
	switch {
	case list == nil:
		return nil, configError(path, root.Line, "no relays: list")
	case list.Kind == yaml.ScalarNode && list.ShortTag() == "!!null":
		return nil, configError(path, list.Line, "relays: is empty, want a list of relays")
	case list.Kind != yaml.SequenceNode:
		return nil, configError(path, list.Line, "relays: want a list of relays (- listen: ...), found %s", kindName(list))
	case len(list.Content) == 0:
		return nil, configError(path, list.Line, "no relays")
	}
	var specs []relaySpec
	for i, item := range list.Content {
		s, err := parseRelayNode(path, i+1, resolve(item), def)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// parseRelayNode parses one relay of a --config file.
func parseRelayNode(path string, num int, n *yaml.Node, def relayDefaults) (relaySpec, error) {
	where := fmt.Sprintf("relay %d", num)
	s := relaySpec{Max: def.Max, Where: fmt.Sprintf("%s:%d: %s", path, n.Line, where)}
	if n.Kind != yaml.MappingNode {
		return s, configError(path, n.Line, "%s: want listen: and to: lines, found %s", where, kindName(n))
	}
	fields := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if !contains(relayKeys, k.Value) {
			return s, configError(path, k.Line, "%s: unknown key %q (want %s)", where, k.Value, strings.Join(relayKeys, ", "))
		}
		if fields[k.Value] != nil {
			return s, configError(path, k.Line, "%s: %s is given twice", where, k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return s, configError(path, v.Line, "%s: %s: want a single value, found %s", where, k.Value, kindName(v))
		}
		fields[k.Value] = v
	}
	endpointOf := func(key string) (endpoint, error) {
		v := fields[key]
		if v == nil || v.ShortTag() == "!!null" {
			return endpoint{}, configError(path, n.Line, "%s: %s: is missing (want tcp:IP:PORT or udp:IP:PORT)", where, key)
		}
		e, err := parseEndpoint(v.Value)
		if err != nil {
			return e, configError(path, v.Line, "%s: %s %v", where, key, err)
		}
		return e, nil
	}
	var err error
	if s.Listen, err = endpointOf("listen"); err != nil {
		return s, err
	}
	if s.To, err = endpointOf("to"); err != nil {
		return s, err
	}
	s.Idle = defaultIdle(s.Listen.Proto, def)
	if v := fields["max"]; v != nil {
		if v.ShortTag() != "!!int" || v.Decode(&s.Max) != nil {
			return s, configError(path, v.Line, "%s: max %s: want a whole number of bytes (0: no limit)", where, v.Value)
		}
	}
	if v := fields["max_sessions"]; v != nil {
		if v.ShortTag() != "!!int" || v.Decode(&s.MaxSessions) != nil {
			return s, configError(path, v.Line, "%s: max_sessions %s: want a whole number of sessions", where, v.Value)
		}
	}
	if v := fields["idle"]; v != nil {
		if s.Idle, err = time.ParseDuration(v.Value); err != nil {
			return s, configError(path, v.Line, "%s: idle %q: want a duration such as 30s or 5m (0: never)", where, v.Value)
		}
	}
	if err := s.check(); err != nil {
		return s, configError(path, n.Line, "%s: %v", where, err)
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// defaultIdle is the idle time of a relay that gives none: the --idle
// flag when given, else never for TCP (relayd's default) and 30s for UDP
// sessions.
func defaultIdle(proto string, def relayDefaults) time.Duration {
	switch {
	case def.IdleSet:
		return def.Idle
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
	case s.Listen == s.To:
		return fmt.Errorf("to %v is the relay's own listen address: it would relay to itself", s.To)
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

// wildcardTakes reports whether a listener on the unspecified address w
// takes what is sent to a: :: takes both families, 0.0.0.0 IPv4 only
// (the stack's rule).
func wildcardTakes(w, a netip.Addr) bool {
	return w.IsUnspecified() && (w.Is6() || a.Is4())
}

// accepts reports whether a relay listening on l takes what is sent to
// dst: same protocol and port, and l's address is dst's or a wildcard
// of dst's family (:: takes both) on a stack whose interfaces have dst
// (local).
func accepts(l, dst endpoint, local func(netip.Addr) bool) bool {
	if l.Proto != dst.Proto || l.Addr.Port() != dst.Addr.Port() {
		return false
	}
	la, da := l.Addr.Addr(), dst.Addr.Addr()
	return la == da || (wildcardTakes(la, da) && local(da))
}

// bindsOverlap reports whether two UDP listen addresses take some
// datagrams in common: equal, either is ::, or one is 0.0.0.0 and the
// other IPv4 (the stack's rule for unconnected binds).
func bindsOverlap(a, b netip.Addr) bool {
	return a == b || wildcardTakes(a, b) || wildcardTakes(b, a)
}

// checkRelays validates the relays together and against the --ip
// interfaces of sf (when given, else what needs them is skipped): no two
// listen on one port (TCP: one listener per port; UDP: unless on
// addresses that take nothing in common), each listens on a wildcard
// (0.0.0.0, or :: for both families) or an --ip address, each backend is
// reachable (inside an --ip prefix of its family, link-local, or behind
// the --gateway of its family), and no relay relays to itself, directly
// or through others.
func checkRelays(specs []relaySpec, sf *stackFlags) error {
	for i, s := range specs {
		for _, o := range specs[:i] {
			if s.Listen.Proto != o.Listen.Proto || s.Listen.Addr.Port() != o.Listen.Addr.Port() {
				continue
			}
			if s.Listen.Proto == "tcp" || bindsOverlap(s.Listen.Addr.Addr(), o.Listen.Addr.Addr()) {
				return fmt.Errorf("%s: listen %v: %s already listens on %v (one listener per %s port)", s.Where, s.Listen, o.Where, o.Listen, s.Listen.Proto)
			}
		}
		if len(sf.ips) == 0 {
			continue
		}
		if a := s.Listen.Addr.Addr(); !a.IsUnspecified() && !sf.local(a) {
			return fmt.Errorf("%s: listen %v: %v is not an --ip address (give 0.0.0.0, [::] or one of %v)", s.Where, s.Listen, a, sf.addrList())
		}
		if err := sf.routable(s.To.Addr.Addr()); err != nil {
			return fmt.Errorf("%s: to %v: %v", s.Where, s.To, err)
		}
	}
	local := sf.local
	// Relay i sends to relay j when j's listener takes i's backend
	// address; a cycle relays connections to themselves forever.
	next := func(i int) []int {
		var js []int
		for j, o := range specs {
			if accepts(o.Listen, specs[i].To, local) {
				js = append(js, j)
			}
		}
		return js
	}
	for i, s := range specs {
		// Depth-first from i: does a path lead back to i?
		seen := make([]bool, len(specs))
		var path []int
		var walk func(k int) bool
		walk = func(k int) bool {
			for _, j := range next(k) {
				if j == i {
					path = append(path, k)
					return true
				}
				if !seen[j] {
					seen[j] = true
					if walk(j) {
						path = append(path, k)
						return true
					}
				}
			}
			return false
		}
		if !walk(i) {
			continue
		}
		if len(path) == 1 {
			return fmt.Errorf("%s: to %v is the relay's own listen address %v: it would relay to itself", s.Where, s.To, s.Listen)
		}
		var names []string
		for k := len(path) - 1; k >= 0; k-- {
			names = append(names, fmt.Sprintf("relay %d", path[k]+1))
		}
		return fmt.Errorf("%s: to %v: the relays form a loop (%s -> relay %d)", s.Where, s.To, strings.Join(names, " -> "), i+1)
	}
	return nil
}
