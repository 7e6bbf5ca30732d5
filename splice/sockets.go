package splice

import (
	"syscall"
	"time"

	"github.com/netsplice/netsplice/stack"
)

// SpliceSockets splices any two sockets of the stack, as SO_SPLICE takes
// any two descriptors: a *stack.TCPConn pair goes to Splice and a
// *stack.UDPConn pair to SpliceUDP, with their refusals. It refuses, in
// OpenBSD's order, a nil or unknown value (EINVAL), a listening socket
// (*stack.TCPListener) as src (EOPNOTSUPP), a src whose protocol does not
// splice (*stack.PingConn) or a drain of another protocol than src's
// (EPROTONOSUPPORT), and a listening drain (EOPNOTSUPP). Errors match
// their errno with errors.Is.
func (s *Splicer) SpliceSockets(src, drain any, max int64, idle time.Duration) error {
	sp, sok := sockProto(src)
	dp, dok := sockProto(drain)
	switch {
	case !sok || !dok:
		return opErr(syscall.EINVAL)
	case sp == protoListener:
		return opErr(syscall.EOPNOTSUPP)
	case sp == protoOther:
		return opErr(syscall.EPROTONOSUPPORT)
	}
	wrap := func(err error) error {
		if sp == protoUDP {
			return udpErr(err)
		}
		return opErr(err)
	}
	switch {
	case sp == protoUDP && dp != protoUDP, sp == protoTCP && dp != protoTCP && dp != protoListener:
		return wrap(syscall.EPROTONOSUPPORT)
	case dp == protoListener:
		return wrap(syscall.EOPNOTSUPP)
	case sp == protoTCP:
		return s.Splice(src.(*stack.TCPConn), drain.(*stack.TCPConn), max, idle)
	default:
		return s.SpliceUDP(src.(*stack.UDPConn), drain.(*stack.UDPConn), max, idle)
	}
}

const (
	protoTCP = iota
	protoUDP
	protoListener // a listening TCP socket
	protoOther    // a socket of the stack that does not splice
)

// sockProto classifies a socket; ok is false for nil (typed or not) and
// for values that are no socket of the stack.
func sockProto(x any) (proto int, ok bool) {
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
