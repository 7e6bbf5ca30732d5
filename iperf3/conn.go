package iperf3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// DialFunc opens the client's connections to raddr. network is "tcp" for
// the control connection and TCP data streams, and "udp" for a UDP data
// stream: a connected UDP socket whose Write sends one datagram and whose
// Read returns one. The connection must honour SetReadDeadline and
// SetWriteDeadline, and Close must unblock a pending Read or Write.
//
// StdDial uses the Go standard library. With a netsplice stack:
//
//	func(ctx context.Context, network string, raddr netip.AddrPort) (net.Conn, error) {
//		if network == "udp" {
//			c, err := st.DialUDP(netip.AddrPort{}, raddr, nil)
//			if err != nil {
//				return nil, err // not a typed nil in the interface
//			}
//			return c, nil
//		}
//		c, err := st.DialTCP(ctx, netip.AddrPort{}, raddr)
//		if err != nil {
//			return nil, err
//		}
//		return c, nil
//	}
type DialFunc func(ctx context.Context, network string, raddr netip.AddrPort) (net.Conn, error)

// UDPConn is the server's UDP socket for one UDP test, bound to the
// server's port. Every stream of the test shares it; the server tells
// streams apart by the client's address. One goroutine reads it; one
// goroutine at a time writes it. *net.UDPConn and the netsplice stack's
// *stack.UDPConn satisfy it. Close must unblock a pending read.
type UDPConn interface {
	ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	SetReadDeadline(t time.Time) error
	Close() error
}

// ListenUDPFunc opens the server's UDP socket on laddr, the address and
// port of the server's TCP listener (or Config.UDPAddr). The server opens
// one per UDP test, at PARAM_EXCHANGE, and closes it when the test ends.
//
// StdListenUDP uses the Go standard library. With a netsplice stack:
//
//	func(laddr netip.AddrPort) (iperf3.UDPConn, error) {
//		c, err := st.ListenUDP(laddr, nil)
//		if err != nil {
//			return nil, err
//		}
//		return c, nil
//	}
type ListenUDPFunc func(laddr netip.AddrPort) (UDPConn, error)

// StdDial is a DialFunc over the Go standard library. It asks for 4 MiB
// buffers on UDP sockets, as far as the kernel allows.
func StdDial(ctx context.Context, network string, raddr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, raddr.String())
	if err != nil {
		return nil, err
	}
	if u, ok := c.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(4 << 20)
		_ = u.SetWriteBuffer(4 << 20)
	}
	return c, nil
}

// StdListenUDP is a ListenUDPFunc over the Go standard library. It asks
// for 4 MiB socket buffers, as far as the kernel allows.
func StdListenUDP(laddr netip.AddrPort) (UDPConn, error) {
	network := "udp"
	if laddr.Addr().Is4() {
		network = "udp4"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(laddr))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return c, nil
}

// setSocketOptions applies the test's socket-buffer and no-delay requests
// to a data connection, when the connection supports them.
func setSocketOptions(c any, window int64, noDelay bool) {
	if window > 0 {
		if x, ok := c.(interface{ SetReadBuffer(int) error }); ok {
			_ = x.SetReadBuffer(int(window))
		}
		if x, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
			_ = x.SetWriteBuffer(int(window))
		}
	}
	if noDelay {
		if x, ok := c.(interface{ SetNoDelay(bool) error }); ok {
			_ = x.SetNoDelay(true)
		}
	}
}

// ctrlConn is a control connection with deadlines: every read and write
// outside the running test is bounded by timeout, and ctx's end unblocks a
// pending read (the owner may still write SERVER_TERMINATE or
// CLIENT_TERMINATE afterwards).
type ctrlConn struct {
	c       net.Conn
	ctx     context.Context
	timeout time.Duration
	stop    func() bool
}

// aLongTimeAgo is a deadline in the past, to unblock a read at once.
var aLongTimeAgo = time.Unix(1, 0)

func newCtrlConn(ctx context.Context, c net.Conn, timeout time.Duration) *ctrlConn {
	k := &ctrlConn{c: c, ctx: ctx, timeout: timeout}
	k.stop = context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(aLongTimeAgo) })
	return k
}

// armRead sets the read deadline to t (zero: none) unless ctx is done.
func (k *ctrlConn) armRead(t time.Time) {
	_ = k.c.SetReadDeadline(t)
	if k.ctx.Err() != nil {
		_ = k.c.SetReadDeadline(aLongTimeAgo)
	}
}

// wrap turns a control I/O error into this package's errors.
func (k *ctrlConn) wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	if k.ctx.Err() != nil {
		return context.Cause(k.ctx)
	}
	return wrapIOErr(err, what)
}

func (k *ctrlConn) readFull(b []byte, what string) error {
	k.armRead(time.Now().Add(k.timeout))
	_, err := readFull(k.c, b)
	return k.wrap(err, what)
}

func (k *ctrlConn) readState(what string) (state, error) {
	var b [1]byte
	if err := k.readFull(b[:], what); err != nil {
		return 0, err
	}
	return state(int8(b[0])), nil
}

func (k *ctrlConn) readJSON(max int, what string) ([]byte, error) {
	k.armRead(time.Now().Add(k.timeout))
	b, err := readJSONFrame(k.c, max)
	return b, k.wrap(err, what)
}

func (k *ctrlConn) write(b []byte, what string) error {
	_ = k.c.SetWriteDeadline(time.Now().Add(k.timeout))
	_, err := k.c.Write(b)
	if err != nil {
		return wrapIOErr(err, what)
	}
	return nil
}

func (k *ctrlConn) writeState(s state) error {
	return k.write([]byte{byte(s)}, "sending "+s.String())
}

// ctrlMsg is one message the background reader got, or its error.
type ctrlMsg struct {
	s   state
	err error
}

// readAsync reads one state byte in a goroutine and delivers it on the
// returned channel, which never blocks the goroutine. The read has no
// deadline until the owner arms one; closing the connection ends it.
func (k *ctrlConn) readAsync(what string) <-chan ctrlMsg {
	ch := make(chan ctrlMsg, 1)
	k.armRead(time.Time{})
	go func() {
		var b [1]byte
		_, err := readFull(k.c, b[:])
		ch <- ctrlMsg{state(int8(b[0])), k.wrap(err, what)}
	}()
	return ch
}

func (k *ctrlConn) close() {
	k.stop()
	_ = k.c.Close()
}

// readFull is io.ReadFull.
func readFull(r io.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }

// wrapIOErr names what failed and maps the peer's close or reset and
// deadlines onto ErrControlClosed and ErrTimeout.
func wrapIOErr(err error, what string) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%s: %w", what, ErrControlClosed)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: %w", what, ErrTimeout)
	}
	return fmt.Errorf("%s: %w", what, err)
}
