package stack

// Local TCP ports are tracked per local address, so that an interface
// with several addresses (InterfaceConfig.Secondary: a generator's source
// range) has a port range per address for its active opens. The table is
// control-plane state under Stack.mu.

// portKey is a local TCP port on one address: a source address for an
// active open; for a listener its bound address, any4 (0.0.0.0) or the
// zero address (::, both families).
type portKey struct {
	addr [16]byte
	port uint16
}

// tcpPortTable holds the local TCP ports in use.
type tcpPortTable struct {
	use     map[portKey]int // binds per address and port
	perPort map[uint16]int  // binds per port over every address
	// tw holds the active opens in TIME-WAIT by source address and port:
	// when no port is free on an address, a dial takes over one of theirs
	// (pickTCPPort).
	tw map[portKey]*TCPConn
}

func (t *tcpPortTable) init() {
	t.use = make(map[portKey]int)
	t.perPort = make(map[uint16]int)
	t.tw = make(map[portKey]*TCPConn)
}

// busy reports whether port is taken on addr, a concrete address: by a
// bind there, or by a listener covering it (::, or 0.0.0.0 for IPv4).
func (t *tcpPortTable) busy(addr [16]byte, port uint16) bool {
	if t.use[portKey{addr, port}] > 0 || t.use[portKey{port: port}] > 0 {
		return true
	}
	return is4(addr) && t.use[portKey{any4, port}] > 0
}

// listenable reports whether a listener may bind port on addr: a
// wildcard one only on a port nothing uses, any other where the port is
// not busy.
func (t *tcpPortTable) listenable(addr [16]byte, port uint16) bool {
	if addr == ([16]byte{}) || addr == any4 {
		return t.perPort[port] == 0
	}
	return !t.busy(addr, port)
}

func (t *tcpPortTable) add(addr [16]byte, port uint16) {
	t.use[portKey{addr, port}]++
	t.perPort[port]++
}

func (t *tcpPortTable) remove(addr [16]byte, port uint16) {
	k := portKey{addr, port}
	if t.use[k]--; t.use[k] <= 0 {
		delete(t.use, k)
	}
	if t.perPort[port]--; t.perPort[port] <= 0 {
		delete(t.perPort, port)
	}
}
