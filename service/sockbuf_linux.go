package service

import (
	"net"
	"syscall"
)

// growReadBuffer gives a kernel UDP socket an n-byte receive buffer: past
// net.core.rmem_max where the process may (SO_RCVBUFFORCE, CAP_NET_ADMIN),
// else as far as rmem_max lets SetReadBuffer go. It reports the buffer
// the kernel granted (twice what was asked, its bookkeeping included).
func growReadBuffer(c *net.UDPConn, n int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n) != nil {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n); serr != nil {
				return
			}
		}
		got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if err == nil {
		err = serr
	}
	return got, err
}
