package stack

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack/header"
)

// PingConn is an ICMP echo socket: it sends echo requests with its own
// identifier and receives the matching replies. Its methods are safe for
// concurrent use.
type PingConn struct {
	ep    endpoint
	ident uint16

	reqDst     [4]byte
	reqSeq     uint16
	reqPayload []byte
}

// ListenPing opens an ICMP echo socket with a fresh identifier.
func (s *Stack) ListenPing() (*PingConn, error) {
	if s.stopped.Load() {
		return nil, ErrStopped
	}
	c := &PingConn{}
	s.mu.Lock()
	for i := 0; i < 65536; i++ {
		id := s.nextID
		s.nextID++
		if _, used := s.pings[id]; !used && id != 0 {
			c.ident = id
			break
		}
	}
	if c.ident == 0 {
		s.mu.Unlock()
		return nil, syscall.EADDRINUSE
	}
	s.pings[c.ident] = c
	home := s.sn[s.homeRR%len(s.sn)]
	s.homeRR++
	s.mu.Unlock()
	if err := c.ep.init(s, home, s.cfg.UDPQueueSize, c.sendEcho); err != nil {
		return nil, err
	}
	id := c.ident
	if err := s.callAll(func(sn *Softnet) { sn.ping[id] = c }); err != nil {
		return nil, err
	}
	return c, nil
}

// Ident returns the socket's ICMP identifier.
func (c *PingConn) Ident() uint16 { return c.ident }

func (c *PingConn) sendEcho(sn *Softnet) error {
	ifc, nh, ok := sn.st.route(c.reqDst)
	if !ok {
		sn.inc(IPDropNoRoute)
		return syscall.ENETUNREACH
	}
	if len(c.reqPayload) > ifc.mtu-header.IPv4MinHeaderLen-header.ICMPv4MinLen {
		return syscall.EMSGSIZE
	}
	pk := sn.alloc(ifc)
	if pk == nil {
		return syscall.ENOBUFS
	}
	msg := pk.Append(header.ICMPv4MinLen + len(c.reqPayload))
	icmp := header.ICMPv4(msg)
	icmp.SetType(header.ICMPEcho)
	icmp.SetCode(0)
	icmp.SetIdent(c.ident)
	icmp.SetSeq(c.reqSeq)
	copy(msg[header.ICMPv4MinLen:], c.reqPayload)
	icmp.SetChecksum()
	sn.inc(ICMPTx)
	sn.inc(ICMPEchoRequestsTx)
	sn.ipOutput(ifc, pk, header.ProtoICMP, ifc.ip, c.reqDst, nh)
	return nil
}

// SendEcho sends an echo request with sequence number seq and payload.
func (c *PingConn) SendEcho(dst netip.Addr, seq uint16, payload []byte) error {
	if !dst.Is4() {
		return &net.OpError{Op: "write", Net: "ip4:icmp", Err: syscall.EAFNOSUPPORT}
	}
	c.ep.wmu.Lock()
	c.reqDst, c.reqSeq, c.reqPayload = dst.As4(), seq, payload
	err := c.ep.send()
	c.reqPayload = nil
	c.ep.wmu.Unlock()
	if err != nil {
		return &net.OpError{Op: "write", Net: "ip4:icmp", Addr: &net.IPAddr{IP: dst.AsSlice()}, Err: err}
	}
	return nil
}

// ReadReply waits for an echo reply, copies its payload into b and
// returns the payload length, the replying address and the sequence
// number.
func (c *PingConn) ReadReply(b []byte) (int, netip.Addr, uint16, error) {
	c.ep.rmu.Lock()
	pk, err := c.ep.recv()
	c.ep.rmu.Unlock()
	if err != nil {
		return 0, netip.Addr{}, 0, &net.OpError{Op: "read", Net: "ip4:icmp", Err: err}
	}
	ip := header.IPv4(pk.Data())
	icmp := header.ICMPv4(ip[ip.HeaderLen():])
	n := copy(b, icmp.Payload())
	src, seq := ip.SrcAddr(), icmp.Seq()
	pk.Free()
	return n, src, seq, nil
}

// SetReadDeadline bounds ReadReply.
func (c *PingConn) SetReadDeadline(t time.Time) error {
	c.ep.setDeadline(&c.ep.rdl, t)
	return nil
}

// Close closes the socket.
func (c *PingConn) Close() error {
	s := c.ep.st
	id := c.ident
	err := c.ep.close(func() error {
		s.mu.Lock()
		delete(s.pings, id)
		s.mu.Unlock()
		return s.callAll(func(sn *Softnet) {
			if sn.ping[id] == c {
				delete(sn.ping, id)
			}
		})
	})
	if errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}

// Ping sends one echo request of size payload bytes to dst and waits up to
// timeout for the reply, returning the round-trip time.
func (s *Stack) Ping(dst netip.Addr, size int, timeout time.Duration) (time.Duration, error) {
	c, err := s.ListenPing()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	start := time.Now()
	if err := c.SendEcho(dst, 1, payload); err != nil {
		return 0, err
	}
	c.SetReadDeadline(start.Add(timeout))
	buf := make([]byte, size+1)
	for {
		n, src, seq, err := c.ReadReply(buf)
		if err != nil {
			return 0, err
		}
		if src == dst && seq == 1 && n == size && string(buf[:n]) == string(payload) {
			return time.Since(start), nil
		}
	}
}
