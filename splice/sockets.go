package splice

import (
	"net"
	"syscall"

	"github.com/netsplice/netsplice/stack"
)

// Socket is a splice's source or drain: a socket of a netsplice stack.
// Splice takes any two, as SO_SPLICE takes any two descriptors: a TCP
// socket (*stack.TCPConn) splices to a TCP socket and a UDP socket
// (*stack.UDPConn) to a UDP socket. The stack's other sockets are refused
// as OpenBSD refuses them: a listening socket (*stack.TCPListener) with
// EOPNOTSUPP, a socket whose protocol does not splice (*stack.PingConn)
// with EPROTONOSUPPORT; a nil socket, or a value that is no socket of the
// stack, with EINVAL. Close is the one method every socket of the stack
// has: the splicer learns the protocol from the socket itself.
type Socket interface {
	Close() error
}

// hooksOf returns the splice hooks of a TCP or UDP socket, what the
// protocol-independent part of a splice uses of its sockets (close hook,
// end reason); nil for any other socket (protocol refuses those first).
func hooksOf(x Socket) stack.SpliceHooks {
	switch c := x.(type) {
	case *stack.TCPConn:
		return c.SpliceHooks()
	case *stack.UDPConn:
		return c.SpliceHooks()
	}
	return nil
}

// proto is a socket's protocol, as splicing sees it.
type proto int

const (
	protoTCP proto = iota
	protoUDP
	protoListener // a listening TCP socket
	protoOther    // a socket of the stack that does not splice
)

func (p proto) String() string {
	if p == protoUDP {
		return "udp"
	}
	return "tcp"
}

// err wraps a splice error as the net package does: errors.Is matches the
// errno.
func (p proto) err(err error) error { return &net.OpError{Op: "splice", Net: p.String(), Err: err} }

// protoOf classifies a socket; ok is false for nil (typed or not) and for
// values that are no socket of the stack.
func protoOf(x Socket) (p proto, ok bool) {
	switch c := x.(type) {
	case *stack.TCPConn:
		return protoTCP, c != nil
	case *stack.UDPConn:
		return protoUDP, c != nil
	case *stack.TCPListener:
		return protoListener, c != nil
	case *stack.PingConn:
		return protoOther, c != nil
	}
	return 0, false
}

// protocol returns the protocol src and drain splice with (protoTCP or
// protoUDP), or the refusal of a pair that cannot splice, in OpenBSD's
// order: a nil or unknown socket (EINVAL), a listening src (EOPNOTSUPP), a
// src whose protocol does not splice (EPROTONOSUPPORT), a drain of another
// protocol than src's (EPROTONOSUPPORT), a listening drain (EOPNOTSUPP).
func protocol(src, drain Socket) (proto, error) {
	sp, sok := protoOf(src)
	dp, dok := protoOf(drain)
	switch {
	case !sok || !dok:
		return 0, protoTCP.err(syscall.EINVAL)
	case sp == protoListener:
		return 0, protoTCP.err(syscall.EOPNOTSUPP)
	case sp == protoOther:
		return 0, protoTCP.err(syscall.EPROTONOSUPPORT)
	case sp == protoUDP && dp != protoUDP, sp == protoTCP && dp != protoTCP && dp != protoListener:
		return 0, sp.err(syscall.EPROTONOSUPPORT)
	case dp == protoListener:
		return 0, sp.err(syscall.EOPNOTSUPP)
	}
	return sp, nil
}

// noSplice is the error of Wait and Unsplice on no splice (a nil *Splice).
func noSplice() error { return &net.OpError{Op: "splice", Err: syscall.EPROTO} }
